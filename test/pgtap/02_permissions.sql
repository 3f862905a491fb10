-- pgTAP: permission behaviour with SET ROLE.  test/run-pgtap.sh creates the
-- LOGIN roles pgtap_operator (granted pgbackups_admin) and pgtap_nobody
-- (granted nothing) before pg_prove runs.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;

BEGIN;
SELECT plan(49);

SELECT is_member_of('pgbackups_admin', 'pgtap_operator');
SELECT isnt_member_of('pgbackups_admin', 'pgtap_nobody');

CREATE TEMP TABLE before AS SELECT count(*) AS n FROM pgbackups.backups;
GRANT SELECT ON before TO PUBLIC;

-- a role without pgbackups_admin: 42501 everywhere, nothing recorded
SET ROLE pgtap_nobody;
SELECT throws_ok($$SELECT pgbackups.capture()$$, '42501', NULL, 'nobody: capture() is refused');
SELECT throws_ok($$SELECT pgbackups.capture(wait => true)$$, '42501', NULL, 'nobody: capture(wait => true) is refused');
SELECT throws_ok($$SELECT pgbackups.capture(database => 'pgtap_other')$$, '42501', NULL, 'nobody: capture of another database is refused');
SELECT throws_ok($$SELECT pgbackups.cancel()$$, '42501', NULL, 'nobody: cancel() is refused');
SELECT throws_ok($$SELECT pgbackups.cancel('b001')$$, '42501', NULL, 'nobody: cancel(id) is refused');
SELECT throws_ok($$SELECT pgbackups.delete('b001')$$, '42501', NULL, 'nobody: delete() is refused');
SELECT throws_ok($$SELECT pgbackups.wait('b001')$$, '42501', NULL, 'nobody: wait() is refused');
SELECT throws_ok($$SELECT * FROM pgbackups.info('b001')$$, '42501', NULL, 'nobody: info() is refused');
SELECT throws_ok($$SELECT * FROM pgbackups.logs('b001')$$, '42501', NULL, 'nobody: logs() is refused');
SELECT throws_ok($$SELECT * FROM pgbackups.list()$$, '42501', NULL, 'nobody: list() is refused');
SELECT throws_ok($$SELECT pgbackups.pretty_size(1)$$, '42501', NULL, 'nobody: pretty_size() is refused');
SELECT throws_ok($$SELECT pgbackups._launcher_wakeup()$$, '42501', NULL, 'nobody: _launcher_wakeup() is refused');
SELECT throws_ok($$SELECT * FROM pgbackups.counters()$$, '42501', NULL, 'nobody: counters() is refused');
SELECT throws_ok($$SELECT * FROM pgbackups.backups$$, '42501', NULL, 'nobody: cannot read pgbackups.backups');
SELECT throws_ok($$SELECT * FROM pgbackups.logs$$, '42501', NULL, 'nobody: cannot read pgbackups.logs');
RESET ROLE;
SELECT is((SELECT count(*) FROM pgbackups.backups), (SELECT n FROM before), 'nobody: the catalog is unchanged');

-- the operator: reads the catalog, calls the API, cannot write the tables
SET ROLE pgtap_operator;
SELECT lives_ok($$SELECT * FROM pgbackups.list()$$, 'operator: list() works');
SELECT is(pgbackups.pretty_size(2048), '2.0kB', 'operator: pretty_size() works');
SELECT lives_ok($$SELECT count(*) FROM pgbackups.backups$$, 'operator: can read pgbackups.backups');
SELECT lives_ok($$SELECT count(*) FROM pgbackups.logs$$, 'operator: can read pgbackups.logs');
SELECT throws_ok($$INSERT INTO pgbackups.backups (id, num, kind, database, requested_by, compression, parallel)
                   VALUES ('b990', 990, 'manual', 'x', 'x', 'none', 1)$$, '42501', NULL, 'operator: cannot INSERT into backups');
SELECT throws_ok($$UPDATE pgbackups.backups SET status = 'completed'$$, '42501', NULL, 'operator: cannot UPDATE backups');
SELECT throws_ok($$DELETE FROM pgbackups.backups$$, '42501', NULL, 'operator: cannot DELETE from backups');
SELECT throws_ok($$INSERT INTO pgbackups.logs (job_id, message) VALUES ('b001', 'forged')$$, '42501', NULL, 'operator: cannot INSERT into logs');
SELECT throws_ok($$SELECT pgbackups._launcher_wakeup()$$, '42501', NULL, 'operator: cannot call _launcher_wakeup()');
SELECT throws_ok($$SELECT * FROM pgbackups.counters()$$, '42501', NULL, 'operator: cannot read the counters');
-- settings: superuser-only ones can be neither set nor read by the operator
SELECT throws_ok($$SET pgbackups.compression = 'none'$$, '42501', NULL, 'operator: cannot SET pgbackups.compression');
SELECT throws_ok($$SET pgbackups.default_parallel = 4$$, '42501', NULL, 'operator: cannot SET pgbackups.default_parallel');
SELECT throws_ok($$SET pgbackups.storage_url = 'file:///tmp/elsewhere'$$, '55P02', NULL, 'operator: cannot SET pgbackups.storage_url');
SELECT throws_ok($$SET pgbackups.manual_retention = 1$$, '55P02', NULL, 'operator: cannot SET pgbackups.manual_retention');
SELECT throws_ok($$SHOW pgbackups.conninfo$$, '42501', NULL, 'operator: cannot read pgbackups.conninfo');
SELECT throws_ok($$SHOW pgbackups.connect_user$$, '42501', NULL, 'operator: cannot read pgbackups.connect_user');
SELECT throws_ok($$SHOW pgbackups.pg_dump_path$$, '42501', NULL, 'operator: cannot read pgbackups.pg_dump_path');
SELECT is_empty($$SELECT name FROM pg_settings WHERE name IN ('pgbackups.conninfo', 'pgbackups.connect_user', 'pgbackups.pg_dump_path')$$,
                'operator: pg_settings hides the superuser-only settings');
SELECT throws_ok($$SELECT pgbackups.capture(database => 'no_such_database')$$, '3D000', NULL, 'operator: unknown database is 3D000');
SELECT throws_ok($$SELECT pgbackups.capture(parallel => 0)$$, '22023', NULL, 'operator: parallel 0 is 22023');
SELECT throws_ok($$SELECT * FROM pgbackups.info('b999')$$, '42704', NULL, 'operator: unknown id is 42704');
SELECT throws_ok($$SELECT * FROM pgbackups.info('bogus')$$, '22023', NULL, 'operator: malformed id is 22023');

-- the read rule: pgbackups_admin alone reads no data; the operator neither owns
-- this database nor is a member of pg_read_all_data
SELECT throws_ok($$SELECT pgbackups.capture()$$, '42501', NULL,
                 'operator: capture() of a database it may not read is refused');
SELECT throws_ok($$SELECT pgbackups.schedule(at => '02:00')$$, '42501', NULL,
                 'operator: schedule() of a database it may not read is refused');
RESET ROLE;
GRANT pg_read_all_data TO pgtap_operator;  -- rolled back with the rest
SET ROLE pgtap_operator;

-- the operator captures its own database, inside this (to be rolled back)
-- transaction: the record is made by the scheduler and survives
SELECT lives_ok($$SELECT set_config('pgtap.id', pgbackups.capture(wait => true), true)$$,
                'operator in pg_read_all_data: capture(wait => true) of its own database works inside a transaction');
SELECT is((SELECT count(*)::int FROM pgbackups.backups WHERE id = current_setting('pgtap.id')), 1,
          'operator in pg_read_all_data: sees its backup');
RESET ROLE;
SELECT matches(current_setting('pgtap.id'), '^b[0-9]{3,}$', 'capture returned an id like b001');
SELECT is((SELECT status FROM pgbackups.backups WHERE id = current_setting('pgtap.id')), 'completed',
          'the operator''s backup completed');
SELECT is((SELECT kind FROM pgbackups.backups WHERE id = current_setting('pgtap.id')), 'manual',
          'the operator''s backup is manual');
SELECT is((SELECT database::text FROM pgbackups.backups WHERE id = current_setting('pgtap.id')), current_database()::text,
          'the operator''s backup is of its own database');
SELECT is((SELECT count(*) FROM pgbackups.backups), (SELECT n + 1 FROM before), 'exactly one row was added');

SELECT * FROM finish();
ROLLBACK;
