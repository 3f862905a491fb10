-- pgTAP: catalog invariants of pgbackups (tables, columns, constraints,
-- configuration dump, functions, privileges).
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;

BEGIN;
SELECT plan(102);

SELECT has_extension('pgbackups', 'extension pgbackups is installed');
SELECT has_schema('pgbackups');
SELECT has_role('pgbackups_admin');
SELECT isnt_superuser('pgbackups_admin');
SELECT ok(NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'pgbackups_admin'), 'pgbackups_admin cannot log in');

-- tables and columns
SELECT has_table('pgbackups', 'backups', 'table pgbackups.backups');
SELECT has_table('pgbackups', 'logs', 'table pgbackups.logs');
SELECT columns_are('pgbackups', 'backups', ARRAY[
	'id', 'num', 'kind', 'database', 'status', 'label', 'requested_by', 'created_at',
	'started_at', 'finished_at', 'compression', 'compression_level', 'parallel',
	'source_size', 'raw_size', 'archive_size', 'sha256', 'tables', 'rows', 'table_rows',
	'archive_version', 'pg_dump_version', 'server_version', 'location', 'worker_pid',
	'error', 'error_code', 'schedule', 'scheduled_for', 'pinned',
	'verified_at', 'verify_result', 'verify_error_code']);
SELECT columns_are('pgbackups', 'logs', ARRAY['job_id', 'logged_at', 'message']);
SELECT col_type_is('pgbackups'::name, 'backups'::name, 'id'::name, 'text');
SELECT col_type_is('pgbackups'::name, 'backups'::name, 'num'::name, 'integer');
SELECT col_type_is('pgbackups'::name, 'backups'::name, 'database'::name, 'name');
SELECT col_type_is('pgbackups'::name, 'backups'::name, 'created_at'::name, 'timestamp with time zone');
SELECT col_type_is('pgbackups'::name, 'backups'::name, 'archive_size'::name, 'bigint');
SELECT col_type_is('pgbackups'::name, 'backups'::name, 'rows'::name, 'bigint');
SELECT col_type_is('pgbackups'::name, 'backups'::name, 'table_rows'::name, 'jsonb');
SELECT col_type_is('pgbackups'::name, 'backups'::name, 'worker_pid'::name, 'integer');
SELECT col_is_pk('pgbackups'::name, 'backups'::name, 'id'::name, 'backups.id is the primary key');
SELECT col_is_unique('pgbackups', 'backups', ARRAY['kind', 'num']);
SELECT col_not_null('pgbackups', 'backups', c, 'backups.' || c || ' is NOT NULL')
  FROM unnest(ARRAY['num', 'kind', 'database', 'status', 'requested_by', 'created_at',
                    'compression', 'parallel']) AS c;
SELECT col_is_null('pgbackups', 'backups', c, 'backups.' || c || ' allows NULL')
  FROM unnest(ARRAY['label', 'started_at', 'finished_at', 'location', 'worker_pid', 'error']) AS c;
SELECT col_default_is('pgbackups'::name, 'backups'::name, 'status'::name, 'pending'::text, 'backups.status defaults to pending');
SELECT col_has_default('pgbackups'::name, 'backups'::name, 'created_at'::name, 'backups.created_at has a default');
SELECT col_not_null('pgbackups'::name, 'logs'::name, 'job_id'::name, 'logs.job_id is NOT NULL');
SELECT col_not_null('pgbackups'::name, 'logs'::name, 'message'::name, 'logs.message is NOT NULL');
SELECT has_index('pgbackups', 'logs', 'logs_job_id_idx', ARRAY['job_id', 'logged_at']);

-- check constraints really refuse bad values (as superuser, rolled back)
SELECT throws_ok(
	$$INSERT INTO pgbackups.backups (id, num, kind, database, status, requested_by, compression, parallel)
	  VALUES ('b990', 990, 'manual', 'x', 'exploded', 'x', 'none', 1)$$,
	'23514', NULL, 'status outside the five statuses is refused');
SELECT throws_ok(
	$$INSERT INTO pgbackups.backups (id, num, kind, database, requested_by, compression, parallel)
	  VALUES ('b991', 991, 'weekly', 'x', 'x', 'none', 1)$$,
	'23514', NULL, 'kind outside manual/scheduled is refused');
SELECT ok((SELECT count(*) FROM pg_constraint
            WHERE conrelid = 'pgbackups.backups'::regclass AND contype = 'c') >= 2,
          'backups has check constraints on kind and status');

-- configuration tables are dumped with the extension
SELECT set_eq(
	$$SELECT unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'pgbackups'$$,
	ARRAY['pgbackups.backups', 'pgbackups.logs', 'pgbackups.manual_num_seq', 'pgbackups.scheduled_num_seq',
	      'pgbackups.restores', 'pgbackups.copies', 'pgbackups.restore_num_seq', 'pgbackups.copy_num_seq',
	      'pgbackups.schedule_defs', 'pgbackups.schedule_runs', 'pgbackups.alerts', 'pgbackups.alerts_alert_id_seq'],
	'backups, restores, copies, logs, schedules, schedule runs, alerts and the id sequences are extension configuration');

-- every table and sequence of the catalog holds user state: all are configuration
SELECT is(
	(SELECT pg_catalog.array_agg(c.oid::regclass::text ORDER BY c.oid::regclass::text)
	   FROM pg_catalog.pg_class c
	  WHERE c.relnamespace = 'pgbackups'::regnamespace AND c.relkind IN ('r', 'p', 'S')
	    AND c.oid <> ALL ((SELECT extconfig FROM pg_catalog.pg_extension WHERE extname = 'pgbackups')::oid[])),
	NULL,
	'no table or sequence of schema pgbackups is left out of the extension configuration (pg_dump keeps them all)');

-- functions
SELECT has_function('pgbackups', 'capture', ARRAY['text', 'boolean', 'text', 'integer', 'text']);
SELECT function_returns('pgbackups', 'capture', ARRAY['text', 'boolean', 'text', 'integer', 'text'], 'text');
SELECT has_function('pgbackups', 'cancel', ARRAY['text']);
SELECT has_function('pgbackups', 'delete', ARRAY['text']);
SELECT has_function('pgbackups', 'wait', ARRAY['text']);
SELECT has_function('pgbackups', 'info', ARRAY['text']);
SELECT has_function('pgbackups', 'logs', ARRAY['text']);
SELECT has_function('pgbackups', 'list', ARRAY[]::text[]);
SELECT has_function('pgbackups', 'pretty_size', ARRAY['bigint']);
SELECT is_strict('pgbackups', 'delete', ARRAY['text']);
SELECT is_strict('pgbackups', 'wait', ARRAY['text']);
SELECT volatility_is('pgbackups', 'capture', ARRAY['text', 'boolean', 'text', 'integer', 'text'], 'volatile');
SELECT volatility_is('pgbackups', 'pretty_size', ARRAY['bigint'], 'immutable');

-- privileges: nothing for PUBLIC
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   WHERE p.pronamespace = 'pgbackups'::regnamespace
	     AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))$$,
	'no function in pgbackups is executable by PUBLIC (and none has the default ACL)');
SELECT is_empty(
	$$SELECT c.oid::regclass::text FROM pg_class c
	   WHERE c.relnamespace = 'pgbackups'::regnamespace
	     AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0)$$,
	'no table, view or sequence in pgbackups grants anything to PUBLIC');
SELECT ok(NOT has_schema_privilege('public', 'pgbackups', 'USAGE'), 'PUBLIC has no USAGE on schema pgbackups');
SELECT ok(NOT has_schema_privilege('public', 'pgbackups', 'CREATE'), 'PUBLIC has no CREATE on schema pgbackups');

-- the operator role
SELECT schema_privs_are('pgbackups', 'pgbackups_admin', ARRAY['USAGE']);
SELECT table_privs_are('pgbackups', 'backups', 'pgbackups_admin', ARRAY['SELECT']);
SELECT table_privs_are('pgbackups', 'logs', 'pgbackups_admin', ARRAY['SELECT']);
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   WHERE p.pronamespace = 'pgbackups'::regnamespace
	     AND p.proname IN ('capture', 'cancel', 'delete', 'wait', 'info', 'logs', 'list', 'pretty_size')
	     AND NOT has_function_privilege('pgbackups_admin', p.oid, 'EXECUTE')$$,
	'pgbackups_admin may execute every API function');
SELECT ok(NOT has_function_privilege('pgbackups_admin', 'pgbackups._launcher_wakeup()', 'EXECUTE'),
          'pgbackups_admin may not execute _launcher_wakeup()');

-- functions that run SQL pin search_path; SECURITY DEFINER ones too
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	   WHERE p.pronamespace = 'pgbackups'::regnamespace
	     AND (l.lanname <> 'c' OR p.prosecdef)
	     AND NOT coalesce(p.proconfig::text LIKE '%search_path=%', false)$$,
	'every SQL/plpgsql or SECURITY DEFINER function pins search_path');

-- schedules (1.3.0)
SELECT has_table('pgbackups', 'schedule_defs', 'table pgbackups.schedule_defs');
SELECT has_table('pgbackups', 'schedule_runs', 'table pgbackups.schedule_runs');
SELECT has_table('pgbackups', 'alerts', 'table pgbackups.alerts');
SELECT has_view('pgbackups', 'schedules', 'view pgbackups.schedules');
SELECT has_view('pgbackups', 'health', 'view pgbackups.health');
SELECT col_is_pk('pgbackups', 'schedule_defs', 'name', 'schedules are named');
SELECT col_is_unique('pgbackups', 'schedule_defs', 'database', 'one schedule per database');
SELECT col_default_is('pgbackups', 'backups', 'pinned', 'false', 'backups are not pinned by default');
SELECT col_not_null('pgbackups', 'schedule_defs', 'verify', 'schedule_defs.verify is not null (1.5.0)');
SELECT col_default_is('pgbackups', 'schedule_defs', 'verify', 'false', 'schedules do not verify by default');
SELECT has_column('pgbackups', 'schedules', 'verify', 'the schedules view shows verify');
SELECT throws_ok(
	$$INSERT INTO pgbackups.schedule_runs (schedule, slot, outcome) VALUES ('x', now(), 'ran')$$,
	'23514', NULL, 'a schedule run outcome outside started/skipped/missed is refused');
SELECT throws_ok(
	$$INSERT INTO pgbackups.schedule_defs (name, database, cron, timezone, keep_daily, keep_weekly,
	    keep_monthly, created_at, created_by, next_run) VALUES ('x', 'x', '* * * * *', 'UTC', -1, 0, 0, now(), 'x', now())$$,
	'23514', NULL, 'a negative keep count is refused by the table too');
SELECT table_privs_are('pgbackups', 'schedule_defs', 'pgbackups_admin', ARRAY['SELECT']);
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   WHERE p.pronamespace = 'pgbackups'::regnamespace
	     AND p.proname IN ('schedule', 'unschedule', 'pin', 'unpin', 'next_runs', 'now')
	     AND NOT has_function_privilege('pgbackups_admin', p.oid, 'EXECUTE')$$,
	'pgbackups_admin may execute the schedule functions');
SELECT ok(NOT has_function_privilege('pgbackups_admin', 'pgbackups.set_clock(timestamptz)', 'EXECUTE'),
          'pgbackups_admin may not set the clock');
SELECT ok(NOT has_function_privilege('pgbackups_admin', 'pgbackups._enqueue_alert(text, jsonb)', 'EXECUTE'),
          'pgbackups_admin may not queue alerts');

-- the read rule (1.4.0): row security with one SELECT policy on every table
-- that names a database, views read with the caller's rights, no SECURITY
-- DEFINER function an operator can call (it could not check its caller)
SELECT is_empty(
	$$SELECT c.relname FROM pg_class c
	   WHERE c.relnamespace = 'pgbackups'::regnamespace AND c.relkind = 'r'
	     AND NOT (c.relrowsecurity AND EXISTS (SELECT 1 FROM pg_policy p
	                                           WHERE p.polrelid = c.oid AND p.polcmd = 'r'))$$,
	'every catalog table has row security and a SELECT policy');
SELECT is_empty(
	$$SELECT c.relname FROM pg_class c
	   WHERE c.relnamespace = 'pgbackups'::regnamespace AND c.relkind = 'v'
	     AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)$$,
	'every view reads with the caller''s rights (security_invoker)');
SELECT is_empty(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   WHERE p.pronamespace = 'pgbackups'::regnamespace AND p.prosecdef
	     AND has_function_privilege('pgbackups_admin', p.oid, 'EXECUTE')$$,
	'pgbackups_admin may execute no SECURITY DEFINER function');
SELECT has_column('pgbackups', 'restores', 'source_database', 'restores record their source database');
SELECT has_column('pgbackups', 'restores', 'sha256', 'restores record the SHA-256 to check');
SELECT has_column('pgbackups', 'copies', 'source_database', 'copies record their source database');

-- the launcher runs; this database's scheduler is started on demand (issue 12)
SELECT ok(EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'pgbackups launcher'),
          'the pgbackups launcher is running');

-- exact counters (1.7.0): superusers only, (name text, value bigint)
SELECT has_function('pgbackups', 'counters', ARRAY['boolean'], 'function pgbackups.counters(boolean)');
SELECT function_returns('pgbackups', 'counters', ARRAY['boolean'], 'setof record', 'counters() returns a set of rows');
SELECT is((SELECT string_agg(coalesce(p.proargnames[i], '') || ':' || format_type(p.proallargtypes[i], NULL) || ':' || p.proargmodes[i]::text, ', ' ORDER BY i)
             FROM pg_proc p, generate_subscripts(p.proallargtypes, 1) i
            WHERE p.oid = 'pgbackups.counters(boolean)'::regprocedure),
          'reset:boolean:i, name:text:t, value:bigint:t', 'counters(reset boolean) returns table (name text, value bigint)');
SELECT is((SELECT pg_get_expr(p.proargdefaults, 0) FROM pg_proc p WHERE p.oid = 'pgbackups.counters(boolean)'::regprocedure),
          'false', 'counters(): reset defaults to false');
SELECT ok(NOT has_function_privilege('pgbackups_admin', 'pgbackups.counters(boolean)', 'EXECUTE'),
          'pgbackups_admin may not read the counters');
SELECT ok(NOT has_function_privilege('public', 'pgbackups.counters(boolean)', 'EXECUTE'),
          'PUBLIC may not read the counters');
SELECT set_eq($$SELECT name FROM pgbackups.counters()$$,
	ARRAY['schedulers', 'schedulers_max', 'schedulers_started',
	      'maintenance_workers', 'maintenance_workers_max', 'maintenance_workers_started',
	      'job_workers', 'job_workers_max', 'job_workers_started',
	      'stream_workers', 'stream_workers_max', 'stream_workers_started',
	      'restore_workers', 'restore_workers_max', 'restore_workers_started',
	      'other_workers', 'other_workers_max', 'other_workers_started',
	      'capture_processes', 'capture_processes_max', 'max_workers_used_max',
	      'launcher_rounds', 'clock_sets', 'scheduler_turns', 'schedules_decided',
	      'launcher_config_loaded_at', 'config_loaded_at'],
	'counters(): one row per documented counter');
SELECT is_empty($$SELECT name FROM pgbackups.counters() WHERE value IS NULL OR value < 0$$,
                'counters(): every value is a non-negative number');
SELECT ok((SELECT bool_and(m.value >= r.value) FROM pgbackups.counters() r JOIN pgbackups.counters() m ON m.name = r.name || '_max'),
          'counters(): every high-water mark is at least the current value');
SELECT ok((SELECT value FROM pgbackups.counters() WHERE name = 'launcher_config_loaded_at')
            BETWEEN (extract(epoch FROM pg_conf_load_time()) * 1000000)::bigint AND (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
          'counters(): launcher_config_loaded_at is the launcher''s configuration load, in microseconds since 1970, not before the postmaster''s');
SELECT lives_ok($$SELECT * FROM pgbackups.counters(reset => true)$$, 'counters(reset => true) works for a superuser');
SELECT ok((SELECT bool_and(m.value = r.value) FROM pgbackups.counters() r
             JOIN pgbackups.counters() m ON m.name = r.name || '_max'
            WHERE r.name IN ('stream_workers', 'restore_workers')),
          'after the reset the high-water marks of idle kinds equal their current values (e2e 50 shows a reset lowering one)');

SELECT * FROM finish();
ROLLBACK;
