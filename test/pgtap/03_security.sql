-- pgTAP: security of every extension version (issue 11, item 5).
--
--  1. every function (pg_depend/pg_proc, not a hand list) of every available
--     extension version, freshly installed and updated to the default
--     version, called with NULL arguments by a role without pgbackups_admin:
--     42501 (pgtap_nobody: no USAGE on the schema; pgtap_usage: USAGE on the
--     schema, so that each function's own ACL is what refuses it); no table,
--     view or sequence of the schema is readable by them (42501)
--  2. SET of every pgbackups.* setting (the C sources' DefineCustom*Variable
--     calls, loaded into pgtap_guc_source by test/run-pgtap.sh, since the
--     hidden ones are in no view) by a plain role and by an operator, in
--     every form: 55P02 (sighup/postmaster), 42501 (superuser), allowed only
--     for the reviewed allow-list of user-settable ones; the superuser-only
--     settings are unreadable (42501)
--  3. functions and operators planted in public and pg_temp (by the owner of
--     a database whose search_path puts public first) are never executed by
--     pgbackups: not by the functions an operator calls, not by SECURITY
--     DEFINER functions or C functions that switch to the bootstrap
--     superuser, not by pgbackups' background workers
--
-- test/run-pgtap.sh creates the roles (pgtap_nobody, pgtap_operator,
-- pgtap_usage, pgtap_dbowner), one database per available version
-- (pgtap_sec_v_X) and per older version updated to the default one
-- (pgtap_sec_u_X), pgtap_sec_nobody_db and pgtap_sec_operator_db (owned by
-- pgtap_nobody and pgtap_operator) and pgtap_sec_shadow (owned by
-- pgtap_dbowner, search_path = public, pg_catalog).  Other databases are
-- reached with dblink, which passes the remote SQLSTATE on.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
SET statement_timeout = '300s';

BEGIN;

\o /dev/null
-- libpq parameters of this server (unix socket)
CREATE TEMP TABLE sec_server AS
SELECT format('host=%s port=%s',
			  quote_literal(trim(split_part(current_setting('unix_socket_directories'), ',', 1))),
			  current_setting('port')) AS base;

------------------------------------------------------------------------------
-- 1. every function of every version
------------------------------------------------------------------------------
CREATE TEMP TABLE sec_versions AS
SELECT v.version, v.version = e.default_version AS is_default
  FROM pg_available_extension_versions v
  JOIN pg_available_extensions e ON e.name = v.name
 WHERE v.name = 'pgbackups';

CREATE TEMP TABLE sec_dbs AS
SELECT 'pgtap_sec_v_' || replace(version, '.', '_') AS db, version AS installed,
	   version AS expected, 'version ' || version AS what
  FROM sec_versions
UNION ALL
SELECT 'pgtap_sec_u_' || replace(version, '.', '_'), version,
	   (SELECT version FROM sec_versions WHERE is_default),
	   'version ' || version || ' updated to ' || (SELECT version FROM sec_versions WHERE is_default)
  FROM sec_versions WHERE NOT is_default;
-- only those that exist are connected to (a missing one fails the first test)
DELETE FROM sec_dbs WHERE db NOT IN (SELECT datname FROM pg_database);

SELECT dblink_connect('nobody:' || db, format('%s dbname=%s user=pgtap_nobody', (SELECT base FROM sec_server), db)),
	   dblink_connect('usage:' || db, format('%s dbname=%s user=pgtap_usage', (SELECT base FROM sec_server), db)),
	   dblink_connect('su:' || db, format('%s dbname=%s user=postgres', (SELECT base FROM sec_server), db))
  FROM sec_dbs;

-- the extension's state in each database (as superuser)
CREATE TEMP TABLE sec_ext AS
SELECT d.db, x.*
  FROM sec_dbs d,
	   dblink('su:' || d.db, $r$
		SELECT e.extversion,
			   has_schema_privilege('pgtap_usage', 'pgbackups', 'USAGE'),
			   (SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '')
				  FROM pg_proc p JOIN pg_depend dep ON dep.objid = p.oid
				 WHERE dep.classid = 'pg_proc'::regclass AND dep.refclassid = 'pg_extension'::regclass
				   AND dep.refobjid = e.oid AND dep.deptype = 'e'
				   AND has_function_privilege('public', p.oid, 'EXECUTE')),
			   (SELECT coalesce(string_agg(p.oid::regprocedure::text || ' ' || coalesce(p.proconfig::text, 'no SET'), ', '), '')
				  FROM pg_proc p JOIN pg_depend dep ON dep.objid = p.oid
				 WHERE dep.classid = 'pg_proc'::regclass AND dep.refclassid = 'pg_extension'::regclass
				   AND dep.refobjid = e.oid AND dep.deptype = 'e' AND p.prosecdef
				   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
								    WHERE c ~ '^search_path="?pg_catalog"?(,.*)?, *"?pg_temp"?$')),
			   (SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '')
				  FROM pg_proc p JOIN pg_depend dep ON dep.objid = p.oid JOIN pg_language l ON l.oid = p.prolang
				 WHERE dep.classid = 'pg_proc'::regclass AND dep.refclassid = 'pg_extension'::regclass
				   AND dep.refobjid = e.oid AND dep.deptype = 'e' AND l.lanname <> 'c'
				   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
								    WHERE c ~ '^search_path="?pg_catalog"?(,.*)?, *"?pg_temp"?$'))
		  FROM pg_extension e WHERE e.extname = 'pgbackups'$r$)
	   AS x(extversion text, usage_granted boolean, public_exec text, secdef_unpinned text, sql_unpinned text);

-- every member function (and anything else in schema pgbackups), with a call
-- of NULL arguments of its own argument types.  The NULLs are sub-selects:
-- the planner folds a STRICT function of constant NULLs into a NULL before
-- the executor checks EXECUTE, so f(NULL::text) would prove nothing.
CREATE TEMP TABLE sec_calls AS
SELECT d.db, d.what, x.*
  FROM sec_dbs d,
	   dblink('su:' || d.db, $r$
		SELECT p.oid::regprocedure::text, p.proname::text,
			   CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
			   format('%s %I.%I(%s)', CASE p.prokind WHEN 'p' THEN 'CALL' ELSE 'SELECT' END,
					  n.nspname, p.proname,
					  (SELECT coalesce(string_agg(
								CASE WHEN p.provariadic <> 0 AND a.o = p.pronargs THEN 'VARIADIC ' ELSE '' END ||
								'(SELECT NULL::' ||
								CASE format_type(a.t, NULL)
									WHEN 'anyelement' THEN 'text' WHEN 'anynonarray' THEN 'text'
									WHEN 'anycompatible' THEN 'text' WHEN '"any"' THEN 'text'
									WHEN 'anyarray' THEN 'text[]' WHEN 'anycompatiblearray' THEN 'text[]'
									ELSE format_type(a.t, NULL) END || ')',
								', ' ORDER BY a.o), '')
						 FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, o)))
		  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = 'pgbackups'
			OR p.oid IN (SELECT dep.objid FROM pg_depend dep JOIN pg_extension e ON e.oid = dep.refobjid
						  WHERE dep.classid = 'pg_proc'::regclass AND dep.refclassid = 'pg_extension'::regclass
							AND dep.deptype = 'e' AND e.extname = 'pgbackups')$r$)
	   AS x(fn text, proname text, kind text, call text);

-- every table, view, sequence... of the schema (and of the extension)
CREATE TEMP TABLE sec_rels AS
SELECT d.db, d.what, x.*
  FROM sec_dbs d,
	   dblink('su:' || d.db, $r$
		SELECT c.oid::regclass::text, c.relname::text,
			   CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
							  WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'table' END
		  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
		   AND (n.nspname = 'pgbackups'
				OR c.oid IN (SELECT dep.objid FROM pg_depend dep JOIN pg_extension e ON e.oid = dep.refobjid
							  WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_extension'::regclass
								AND dep.deptype = 'e' AND e.extname = 'pgbackups'))$r$)
	   AS x(rel text, relname text, kind text);

------------------------------------------------------------------------------
-- 2. settings
------------------------------------------------------------------------------
-- The reviewed allow-list of pgbackups.* settings an ordinary role may SET.
-- Empty: compression and default_parallel are PGC_SUSET (an operator passes
-- compression => / parallel => to capture() instead).  A new user-settable
-- setting fails "user-settable settings equal the allow-list" until it is
-- reviewed and added here.
CREATE TEMP TABLE sec_user_settable (name text);
-- INSERT INTO sec_user_settable VALUES ('pgbackups.xxx');

-- hidden (GUC_NO_SHOW_ALL) credentials: superuser-only and hidden
CREATE TEMP TABLE sec_credentials (name text);
INSERT INTO sec_credentials VALUES
	('pgbackups.s3_access_key_id'), ('pgbackups.s3_secret_access_key'),
	('pgbackups.s3_session_token'), ('pgbackups.conninfo'), ('pgbackups.webhook_url');

CREATE TEMP TABLE sec_gucs AS
SELECT s.name,
	   CASE s.context WHEN 'PGC_USERSET' THEN 'user' WHEN 'PGC_SUSET' THEN 'superuser'
					  WHEN 'PGC_SIGHUP' THEN 'sighup' WHEN 'PGC_POSTMASTER' THEN 'postmaster'
					  WHEN 'PGC_BACKEND' THEN 'backend' WHEN 'PGC_SU_BACKEND' THEN 'superuser-backend'
					  WHEN 'PGC_INTERNAL' THEN 'internal' ELSE s.context END AS context,
	   s.superuser_only, s.no_show_all,
	   current_setting(s.name, true) AS value
  FROM pgtap_guc_source s;

-- forms of changing a setting, run by each role; %1$s = name, %2$L = value,
-- %3$I = a database the role owns, %4$I = this database
CREATE TEMP TABLE sec_set_forms (form text, ord int);
INSERT INTO sec_set_forms VALUES
	('SET %1$s = %2$L', 1),
	('SET LOCAL %1$s = %2$L', 2),
	('RESET %1$s', 3),
	('SELECT pg_catalog.set_config(%1$L, %2$L, false)', 4),
	('SELECT pg_catalog.set_config(%1$L, %2$L, true)', 5),
	('ALTER ROLE CURRENT_USER SET %1$s = %2$L', 6),
	('ALTER ROLE CURRENT_USER IN DATABASE %4$I SET %1$s = %2$L', 7),
	('ALTER DATABASE %3$I SET %1$s = %2$L', 8);

CREATE TEMP TABLE sec_roles (role name, owned_db name, ord int);
INSERT INTO sec_roles VALUES ('pgtap_nobody', 'pgtap_sec_nobody_db', 1),
							 ('pgtap_operator', 'pgtap_sec_operator_db', 2);

CREATE TEMP TABLE sec_set_cases AS
SELECT r.role, g.name, r.ord AS rord, f.ord AS ford,
	   format(f.form, g.name, coalesce(g.value, ''), r.owned_db, current_database()) AS sql,
	   CASE WHEN g.context = 'user' THEN NULL
			WHEN g.context = 'superuser' THEN '42501'
			ELSE '55P02' END AS want,
	   format('%s: %s (%s) %s', r.role, format(f.form, g.name, CASE WHEN g.superuser_only THEN '...' ELSE coalesce(g.value, '') END, r.owned_db, current_database()),
			  g.context,
			  CASE WHEN g.context = 'user' THEN 'is allowed'
				   WHEN g.context = 'superuser' THEN 'is 42501' ELSE 'is 55P02' END) AS descr
  FROM sec_gucs g, sec_roles r, sec_set_forms f;

CREATE TEMP TABLE sec_read_forms (form text, ord int);
INSERT INTO sec_read_forms VALUES
	('SELECT pg_catalog.current_setting(%1$L)', 1),
	('SELECT pg_catalog.current_setting(%1$L, true)', 2),
	('SHOW %1$s', 3);

CREATE TEMP TABLE sec_read_cases AS
SELECT r.role, g.name, r.ord AS rord, f.ord AS ford, format(f.form, g.name) AS sql,
	   CASE WHEN g.superuser_only THEN '42501' END AS want,
	   format('%s: %s %s', r.role, format(f.form, g.name),
			  CASE WHEN g.superuser_only THEN 'is 42501 (superuser-only)' ELSE 'works' END) AS descr
  FROM sec_gucs g, sec_roles r, sec_read_forms f;

GRANT SELECT ON sec_set_cases, sec_read_cases, sec_gucs TO PUBLIC;

-- ALTER SYSTEM cannot run inside a transaction or function: over dblink, as each role
SELECT dblink_connect('sys:' || role, format('%s dbname=pgtap_db user=%s', (SELECT base FROM sec_server), role))
  FROM sec_roles;

------------------------------------------------------------------------------
-- 3. shadowing: set up in pgtap_sec_shadow, as its owner pgtap_dbowner
--    (an operator; it may CREATE in public, and the database's search_path
--    puts public before pg_catalog for every session, pgbackups' background
--    workers included)
------------------------------------------------------------------------------
SELECT dblink_connect('shadow', format('%s dbname=pgtap_sec_shadow user=pgtap_dbowner', (SELECT base FROM sec_server)));
-- (the superuser's own queries there must not run the plants: pg_catalog first)
SELECT dblink_connect('shadow_su', format('%s dbname=pgtap_sec_shadow user=postgres options=''-c search_path=pg_catalog,pg_temp''',
										  (SELECT base FROM sec_server)));

-- the log every plant writes into (committed: plants run in other sessions too)
SELECT dblink_exec('shadow', $s$
	CREATE TABLE IF NOT EXISTS public.pgtap_shadow_log (
		plant text, by_user name, by_session_user name, backend_type text, phase text,
		at timestamptz DEFAULT pg_catalog.clock_timestamp());
	GRANT ALL ON public.pgtap_shadow_log TO PUBLIC;
	TRUNCATE public.pgtap_shadow_log;
$s$);

-- the plants: every pg_catalog function named in the source of the
-- extension's SQL and plpgsql functions or in the SQL of src/*/*.c (the list
-- below), with the same argument types, in public; each logs its call and
-- then does what the real one does.  Operators: the comparison, pattern,
-- concatenation and json operators of the common types.
SELECT dblink_exec('shadow', $s$
SET search_path = pg_catalog, pg_temp;
DO $plant$
DECLARE
	f record;
	n int := 0;
	body text;
	args text;
	callargs text;
	logsql text;
BEGIN
	logsql := 'BEGIN INSERT INTO public.pgtap_shadow_log (plant, by_user, by_session_user, backend_type, phase) '
		'VALUES (%L, current_user, session_user, (SELECT a.backend_type FROM pg_catalog.pg_stat_activity a '
		'WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()), '
		'pg_catalog.current_setting(''pgtap.phase'', true)); '
		'EXCEPTION WHEN OTHERS THEN NULL; END; ';
	FOR f IN
		WITH names AS (
			SELECT DISTINCT m[1] AS name
			  FROM pg_catalog.pg_proc p
			  JOIN pg_catalog.pg_namespace ns ON ns.oid OPERATOR(pg_catalog.=) p.pronamespace
			  JOIN pg_catalog.pg_language l ON l.oid OPERATOR(pg_catalog.=) p.prolang,
				   LATERAL pg_catalog.regexp_matches(pg_catalog.lower(p.prosrc), '([a-z_][a-z0-9_]*)\s*\(', 'g') AS m
			 WHERE ns.nspname OPERATOR(pg_catalog.=) 'pgbackups' AND l.lanname OPERATOR(pg_catalog.<>) 'c'
			UNION
			SELECT pg_catalog.unnest(ARRAY[
				'lower', 'upper', 'now', 'current_database', 'format', 'nextval', 'currval', 'setval',
				'clock_timestamp', 'current_setting', 'set_config', 'pg_notify', 'to_char', 'left',
				'initcap', 'rpad', 'round', 'to_jsonb', 'jsonb_build_object', 'json_build_object',
				'make_interval', 'split_part', 'length', 'octet_length', 'quote_ident', 'quote_literal',
				'pg_backend_pid', 'pg_blocking_pids', 'pg_stat_clear_snapshot', 'lo_put', 'lo_create',
				'string_agg', 'array_agg', 'regexp_replace', 'starts_with', 'strpos', 'substr',
				'replace', 'concat', 'concat_ws', 'date_trunc', 'timezone', 'to_timestamp',
				'pg_size_pretty', 'pg_database_size', 'has_database_privilege', 'pg_has_role',
				'pg_terminate_backend', 'pg_cancel_backend', 'txid_current', 'pg_current_xact_id',
				'version', 'inet_server_port', 'pg_postmaster_start_time', 'random', 'gen_random_uuid',
				'md5', 'sha256', 'encode', 'decode', 'convert_to', 'convert_from', 'row_to_json',
				'jsonb_agg', 'jsonb_object_agg', 'pg_extension_config_dump'])
		)
		SELECT p.proname::text AS name, p.oid, p.pronargs,
			   pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity,
			   pg_catalog.pg_get_function_arguments(p.oid) AS signature,
			   pg_catalog.format_type(p.prorettype, NULL) AS rettype
		  FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::regnamespace
		   AND p.proname IN (SELECT name FROM names)
		   AND p.prokind OPERATOR(pg_catalog.=) 'f' AND NOT p.proretset
		   AND p.provariadic OPERATOR(pg_catalog.=) 0
		   AND (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) p.prorettype) OPERATOR(pg_catalog.<>) 'p'
		   AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proargtypes::oid[]) a(t)
							 JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.t
							WHERE t.typtype OPERATOR(pg_catalog.=) 'p')
	LOOP
		SELECT pg_catalog.string_agg(pg_catalog.format_type(a.t, NULL), ', ' ORDER BY a.o),
			   pg_catalog.string_agg('$' OPERATOR(pg_catalog.||) a.o::text, ', ' ORDER BY a.o)
		  INTO args, callargs
		  FROM pg_catalog.unnest((SELECT p.proargtypes::oid[] FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) f.oid))
			   WITH ORDINALITY AS a(t, o);
		body := pg_catalog.format(logsql, 'public.' OPERATOR(pg_catalog.||) f.name OPERATOR(pg_catalog.||) '(' OPERATOR(pg_catalog.||) f.identity OPERATOR(pg_catalog.||) ')')
			OPERATOR(pg_catalog.||) pg_catalog.format('RETURN pg_catalog.%I(%s);', f.name, coalesce(callargs, ''));
		EXECUTE pg_catalog.format('CREATE OR REPLACE FUNCTION public.%I(%s) RETURNS %s LANGUAGE plpgsql '
								  'SET search_path = pg_catalog, pg_temp AS %L',
								  f.name, f.signature, f.rettype, 'BEGIN ' OPERATOR(pg_catalog.||) body OPERATOR(pg_catalog.||) ' END');
		n := n OPERATOR(pg_catalog.+) 1;
	END LOOP;
	-- VARIADIC "any" functions with the argument types the SQL of src/*/*.c
	-- uses: an exact match beats them even when pg_catalog comes first
	FOR f IN
		SELECT v.name, v.args, v.callargs, v.rettype
		  FROM (VALUES ('format', 'text, integer, integer, integer', '$1, $2, $3, $4', 'text'),
					   ('format', 'text, text', '$1, $2', 'text'),
					   ('format', 'text, text, text', '$1, $2, $3', 'text'),
					   ('jsonb_build_object', 'text, text', '$1, $2', 'jsonb'),
					   ('jsonb_build_object', 'text, text, text, text', '$1, $2, $3, $4', 'jsonb'),
					   ('json_build_object', 'text, text', '$1, $2', 'json'),
					   ('concat', 'text, text', '$1, $2', 'text')) AS v(name, args, callargs, rettype)
	LOOP
		EXECUTE pg_catalog.format('CREATE OR REPLACE FUNCTION public.%I(%s) RETURNS %s LANGUAGE plpgsql '
								  'SET search_path = pg_catalog, pg_temp AS %L',
								  f.name, f.args, f.rettype,
								  'BEGIN ' OPERATOR(pg_catalog.||)
								  pg_catalog.format(logsql, pg_catalog.format('public.%s(%s)', f.name, f.args))
								  OPERATOR(pg_catalog.||) pg_catalog.format(' RETURN pg_catalog.%I(%s); END', f.name, f.callargs));
		n := n OPERATOR(pg_catalog.+) 1;
	END LOOP;
	-- operators
	FOR f IN
		SELECT o.oprname::text AS op, o.oid,
			   pg_catalog.format_type(o.oprleft, NULL) AS l, pg_catalog.format_type(o.oprright, NULL) AS r,
			   pg_catalog.format_type(o.oprresult, NULL) AS res
		  FROM pg_catalog.pg_operator o
		 WHERE o.oprnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::regnamespace
		   AND o.oprname IN ('=', '<>', '<', '>', '<=', '>=', '||', '~', '!~', '~~', '~*', '->>', '->', '+', '-', '@>')
		   AND o.oprleft IN ('text'::regtype, 'name'::regtype, 'integer'::regtype, 'bigint'::regtype,
							 'boolean'::regtype, 'timestamptz'::regtype, 'jsonb'::regtype, 'interval'::regtype,
							 'oid'::regtype, '"char"'::regtype, 'numeric'::regtype, 'json'::regtype, 'date'::regtype,
							 'timestamp'::regtype)
		   AND o.oprright IN ('text'::regtype, 'name'::regtype, 'integer'::regtype, 'bigint'::regtype,
							  'boolean'::regtype, 'timestamptz'::regtype, 'jsonb'::regtype, 'interval'::regtype,
							  'oid'::regtype, '"char"'::regtype, 'numeric'::regtype, 'json'::regtype, 'date'::regtype,
							  'timestamp'::regtype, 'text[]'::regtype)
	LOOP
		EXECUTE pg_catalog.format('CREATE OR REPLACE FUNCTION public.pgtap_plant_op_%s(%s, %s) RETURNS %s LANGUAGE plpgsql '
								  'SET search_path = pg_catalog, pg_temp AS %L',
								  f.oid, f.l, f.r, f.res,
								  'BEGIN ' OPERATOR(pg_catalog.||)
								  pg_catalog.format(logsql, pg_catalog.format('public.%s(%s, %s)', f.op, f.l, f.r))
								  OPERATOR(pg_catalog.||) pg_catalog.format(' RETURN $1 OPERATOR(pg_catalog.%s) $2; END', f.op));
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o
						WHERE o.oprnamespace OPERATOR(pg_catalog.=) 'public'::regnamespace
						  AND o.oprname OPERATOR(pg_catalog.=) f.op
						  AND o.oprleft OPERATOR(pg_catalog.=) f.l::regtype
						  AND o.oprright OPERATOR(pg_catalog.=) f.r::regtype) THEN
			EXECUTE pg_catalog.format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.pgtap_plant_op_%s)',
									  f.op, f.l, f.r, f.oid);
		END IF;
		n := n OPERATOR(pg_catalog.+) 1;
	END LOOP;
	RAISE NOTICE 'planted %', n;
END
$plant$;
RESET search_path;
$s$);

-- the extension's state seen by the shadowing test
CREATE TEMP TABLE sec_shadow_ext AS
SELECT * FROM dblink('shadow_su', $r$
	SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pgbackups'),
		   (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) 'public'::regnamespace)::int,
		   (SELECT pg_catalog.count(*) FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) 'public'::regnamespace)::int,
		   (SELECT pg_catalog.array_to_string(s.setconfig, ' ') FROM pg_catalog.pg_db_role_setting s
			 WHERE s.setrole OPERATOR(pg_catalog.=) 0
			   AND s.setdatabase OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
															WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())),
		   (SELECT d.datdba::regrole::text FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
$r$) AS x(extversion text, plant_functions int, plant_operators int, search_path text, owner text);

-- the calls an operator makes, each in its own phase (the plants log it)
CREATE TEMP TABLE sec_shadow_calls (ord int, phase text, sql text, must_work boolean);
INSERT INTO sec_shadow_calls VALUES
	(1, 'capture', $q$SELECT pg_catalog.set_config('pgtap.sec_id', pgbackups.capture(wait => true), false)$q$, true),
	(2, 'info', $q$SELECT pg_catalog.count(*) FROM pgbackups.info(pg_catalog.current_setting('pgtap.sec_id'))$q$, true),
	(3, 'logs', $q$SELECT pg_catalog.count(*) FROM pgbackups.logs(pg_catalog.current_setting('pgtap.sec_id'))$q$, true),
	(4, 'list', $q$SELECT pg_catalog.count(*) FROM pgbackups.list()$q$, true),
	(5, 'wait', $q$SELECT pgbackups.wait(pg_catalog.current_setting('pgtap.sec_id'))$q$, true),
	(6, 'pin', $q$SELECT pgbackups.pin(pg_catalog.current_setting('pgtap.sec_id'))$q$, true),
	(7, 'unpin', $q$SELECT pgbackups.unpin(pg_catalog.current_setting('pgtap.sec_id'))$q$, true),
	(8, 'url', $q$SELECT pgbackups.url(pg_catalog.current_setting('pgtap.sec_id'))$q$, false),
	(9, 'url(NULL)', $q$SELECT pgbackups.url()$q$, false),
	(10, 'next_runs', $q$SELECT pg_catalog.count(*) FROM pgbackups.next_runs('0 2 * * *', 'Europe/Berlin')$q$, true),
	(11, 'schedule', $q$SELECT pgbackups.schedule(at => '02:00 Europe/Berlin')$q$, true),
	(12, 'schedule (replace)', $q$SELECT pgbackups.schedule(cron => '0 3 * * *', timezone => 'UTC', keep_daily => 3)$q$, true),
	(13, 'schedules view', $q$SELECT pg_catalog.count(*) FROM pgbackups.schedules$q$, true),
	(14, 'health view', $q$SELECT pg_catalog.count(*) FROM pgbackups.health$q$, true),
	(15, 'unschedule', $q$SELECT pgbackups.unschedule()$q$, true),
	(16, 'now', $q$SELECT pgbackups.now()$q$, true),
	(17, 'pretty_size', $q$SELECT pgbackups.pretty_size(123456789)$q$, true),
	(18, 'cancel', $q$SELECT pgbackups.cancel(pg_catalog.current_setting('pgtap.sec_id'))$q$, false),
	(19, 'delete', $q$SELECT pgbackups.delete(pg_catalog.current_setting('pgtap.sec_id'))$q$, true);
\o

SELECT plan(
	  1 + (SELECT count(*)::int FROM sec_dbs) * 5
	+ (SELECT count(*)::int * 2 FROM sec_calls)
	+ (SELECT count(*)::int * 2 FROM sec_rels)
	+ (SELECT count(*)::int * 2 FROM sec_rels WHERE kind = 'sequence')
	+ 9
	+ (SELECT count(*)::int FROM sec_set_cases)
	+ (SELECT count(*)::int FROM sec_read_cases)
	+ (SELECT count(*)::int FROM sec_roles)
	+ (SELECT count(*)::int * 2 FROM sec_gucs)
	+ (SELECT count(*)::int FROM sec_gucs)
	+ 7
	+ (SELECT count(*)::int FROM sec_shadow_calls) * 2
	+ 4
);

------------------------------------------------------------------------------
-- 1.
------------------------------------------------------------------------------
SELECT set_eq(
	$$SELECT datname::text FROM pg_database WHERE datname ~ '^pgtap_sec_[vu]_'$$,
	$$SELECT 'pgtap_sec_v_' || replace(version, '.', '_') FROM sec_versions
	  UNION ALL
	  SELECT 'pgtap_sec_u_' || replace(version, '.', '_') FROM sec_versions WHERE NOT is_default$$,
	'a database for every available version, and for every older version updated to the default one');

SELECT is(e.extversion, d.expected, d.what || ': the database ' || d.db || ' has pgbackups ' || d.expected)
  FROM sec_dbs d JOIN sec_ext e USING (db) ORDER BY d.db;
SELECT ok(e.usage_granted, d.what || ': pgtap_usage has USAGE on schema pgbackups (so the functions'' own ACLs are tested)')
  FROM sec_dbs d JOIN sec_ext e USING (db) ORDER BY d.db;
SELECT is(e.public_exec, '', d.what || ': no member function is executable by PUBLIC')
  FROM sec_dbs d JOIN sec_ext e USING (db) ORDER BY d.db;
SELECT is(e.secdef_unpinned, '', d.what || ': every SECURITY DEFINER member function sets search_path = pg_catalog, ..., pg_temp')
  FROM sec_dbs d JOIN sec_ext e USING (db) ORDER BY d.db;
SELECT is(e.sql_unpinned, '', d.what || ': every SQL/plpgsql member function sets search_path = pg_catalog, ..., pg_temp')
  FROM sec_dbs d JOIN sec_ext e USING (db) ORDER BY d.db;

-- a role without USAGE on the schema
SELECT throws_ok(format('SELECT dblink_exec(%L, %L)', 'nobody:' || db, call), '42501',
				 'permission denied for schema pgbackups',
				 what || ': pgtap_nobody: ' || call || ' is 42501')
  FROM sec_calls ORDER BY db, fn;
-- a role with USAGE on the schema, without pgbackups_admin: the function's own ACL
SELECT throws_ok(format('SELECT dblink_exec(%L, %L)', 'usage:' || db, call), '42501',
				 format('permission denied for %s %s', kind, proname),
				 what || ': pgtap_usage: ' || call || ' is 42501')
  FROM sec_calls ORDER BY db, fn;

SELECT throws_ok(format('SELECT dblink_exec(%L, %L)', 'nobody:' || db, 'SELECT * FROM ' || rel || ' LIMIT 1'), '42501',
				 'permission denied for schema pgbackups',
				 what || ': pgtap_nobody: SELECT from ' || kind || ' ' || rel || ' is 42501')
  FROM sec_rels ORDER BY db, rel;
SELECT throws_ok(format('SELECT dblink_exec(%L, %L)', 'usage:' || db, 'SELECT * FROM ' || rel || ' LIMIT 1'), '42501',
				 format('permission denied for %s %s', kind, relname),
				 what || ': pgtap_usage: SELECT from ' || kind || ' ' || rel || ' is 42501')
  FROM sec_rels ORDER BY db, rel;
SELECT throws_ok(format('SELECT dblink_exec(%L, %L)', 'nobody:' || db, format('SELECT pg_catalog.nextval(%L)', rel)), '42501',
				 'permission denied for schema pgbackups',
				 what || ': pgtap_nobody: nextval(' || rel || ') is 42501')
  FROM sec_rels WHERE kind = 'sequence' ORDER BY db, rel;
SELECT throws_ok(format('SELECT dblink_exec(%L, %L)', 'usage:' || db, format('SELECT pg_catalog.nextval(%L)', rel)), '42501',
				 format('permission denied for sequence %s', relname),
				 what || ': pgtap_usage: nextval(' || rel || ') is 42501')
  FROM sec_rels WHERE kind = 'sequence' ORDER BY db, rel;

------------------------------------------------------------------------------
-- 2.
------------------------------------------------------------------------------
SELECT cmp_ok((SELECT count(*)::int FROM sec_gucs), '>=', 20,
			  'test/run-pgtap.sh found the pgbackups.* settings of src/*/*.c');
SELECT is_empty($$SELECT name FROM sec_gucs WHERE value IS NULL OR context NOT IN
					('user', 'superuser', 'sighup', 'postmaster', 'backend', 'superuser-backend', 'internal')$$,
				'every setting of the sources exists in the server, with a known context');
SELECT set_eq($$SELECT name FROM pg_settings WHERE name LIKE 'pgbackups.%'$$,
			  $$SELECT name FROM sec_gucs WHERE NOT no_show_all$$,
			  'pg_settings (superuser) shows exactly the settings of the sources that are not hidden');
SELECT is_empty($$SELECT s.name || ': ' || s.context || ' <> ' || g.context
					FROM pg_settings s JOIN sec_gucs g USING (name) WHERE s.context <> g.context$$,
				'the contexts read from the sources are those of pg_settings');
SELECT set_eq($$SELECT name FROM pg_settings WHERE name LIKE 'pgbackups.%' AND context = 'user'
				UNION SELECT name FROM sec_gucs WHERE context = 'user'$$,
			  $$SELECT name FROM sec_user_settable$$,
			  'the user-settable pgbackups.* settings equal the reviewed allow-list');
SELECT set_eq($$SELECT name FROM sec_gucs WHERE no_show_all AND name <> 'pgbackups.restore_extensions'$$,
			  $$SELECT name FROM sec_credentials$$,
			  'the hidden (GUC_NO_SHOW_ALL) settings are exactly the credentials, conninfo and webhook_url');
SELECT is_empty($$SELECT c.name FROM sec_credentials c LEFT JOIN sec_gucs g USING (name)
				   WHERE g.superuser_only IS NOT TRUE
				  UNION ALL
				  SELECT name FROM sec_gucs WHERE name = 'pgbackups.restore_extensions' AND NOT superuser_only$$,
				'the credentials, conninfo, webhook_url and restore_extensions are superuser-only');
SELECT is_empty($$SELECT name FROM sec_gucs WHERE name = 'pgbackups.restore_extensions' AND context IN ('user', 'superuser')$$,
				'restore_extensions (when present) is server-wide: no session can widen it');
SELECT is_empty($$SELECT parname FROM pg_parameter_acl WHERE parname LIKE 'pgbackups.%'$$,
				'no role was granted SET or ALTER SYSTEM on a pgbackups.* setting');

SET ROLE pgtap_nobody;
SELECT CASE WHEN want IS NULL THEN lives_ok(sql, descr) ELSE throws_ok(sql, want, NULL, descr) END
  FROM sec_set_cases WHERE role = 'pgtap_nobody' ORDER BY name, ford;
SELECT CASE WHEN want IS NULL THEN lives_ok(sql, descr) ELSE throws_ok(sql, want, NULL, descr) END
  FROM sec_read_cases WHERE role = 'pgtap_nobody' ORDER BY name, ford;
SELECT is_empty($$SELECT name FROM pg_settings WHERE name IN (SELECT name FROM sec_gucs WHERE superuser_only)$$,
				'pgtap_nobody: pg_settings shows no superuser-only setting');
RESET ROLE;

SET ROLE pgtap_operator;
SELECT CASE WHEN want IS NULL THEN lives_ok(sql, descr) ELSE throws_ok(sql, want, NULL, descr) END
  FROM sec_set_cases WHERE role = 'pgtap_operator' ORDER BY name, ford;
SELECT CASE WHEN want IS NULL THEN lives_ok(sql, descr) ELSE throws_ok(sql, want, NULL, descr) END
  FROM sec_read_cases WHERE role = 'pgtap_operator' ORDER BY name, ford;
SELECT is_empty($$SELECT name FROM pg_settings WHERE name IN (SELECT name FROM sec_gucs WHERE superuser_only)$$,
				'pgtap_operator: pg_settings shows no superuser-only setting');
RESET ROLE;

SELECT throws_ok(format('SELECT dblink_exec(%L, %L)', 'sys:' || r.role,
						format('ALTER SYSTEM SET %s = %L', g.name, coalesce(g.value, ''))),
				 '42501', NULL, r.role || ': ALTER SYSTEM SET ' || g.name || ' is 42501')
  FROM sec_gucs g, sec_roles r ORDER BY g.name, r.ord;

-- the superuser: SET works exactly for the session-settable ones
SELECT CASE WHEN context IN ('user', 'superuser')
			THEN lives_ok(format('SET %s = %L', name, coalesce(value, '')), 'superuser: SET ' || name || ' works (' || context || ')')
			ELSE throws_ok(format('SET %s = %L', name, coalesce(value, '')), '55P02', NULL,
						   'superuser: SET ' || name || ' is 55P02 (' || context || ')') END
  FROM sec_gucs ORDER BY name;

------------------------------------------------------------------------------
-- 3.
------------------------------------------------------------------------------
SELECT is((SELECT extversion FROM sec_shadow_ext), (SELECT version FROM sec_versions WHERE is_default),
		  'shadow database: pgbackups is at the default version');
SELECT is((SELECT owner FROM sec_shadow_ext), 'pgtap_dbowner', 'shadow database: owned by pgtap_dbowner');
SELECT ok(pg_has_role('pgtap_dbowner', 'pgbackups_admin', 'MEMBER') AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'pgtap_dbowner'),
		  'shadow database: its owner is an operator, not a superuser');
SELECT matches((SELECT search_path FROM sec_shadow_ext), '^search_path=public, pg_catalog',
			   'shadow database: every session starts with search_path = public, pg_catalog (ALTER DATABASE ... SET)');
SELECT cmp_ok((SELECT plant_functions FROM sec_shadow_ext), '>=', 50, 'shadow database: functions planted in public');
SELECT cmp_ok((SELECT plant_operators FROM sec_shadow_ext), '>=', 50, 'shadow database: operators planted in public');
-- pg_temp plants in the caller's own session (never searched for functions
-- and operators, but a pg_temp relation or type comes before pg_catalog)
SELECT lives_ok($$SELECT dblink_exec('shadow', $s$
	SET search_path = pg_catalog, pg_temp;
	CREATE FUNCTION pg_temp.pgtap_log(plant text) RETURNS boolean LANGUAGE plpgsql AS $f$
	BEGIN
		BEGIN
			INSERT INTO public.pgtap_shadow_log (plant, by_user, by_session_user, phase)
				VALUES (plant, current_user, session_user, pg_catalog.current_setting('pgtap.phase', true));
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		RETURN true;
	END $f$;
	CREATE FUNCTION pg_temp.lower(text) RETURNS text LANGUAGE sql
		AS 'SELECT CASE WHEN pg_temp.pgtap_log(''pg_temp.lower(text)'') THEN pg_catalog.lower($1) END';
	CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE sql
		AS 'SELECT CASE WHEN pg_temp.pgtap_log(''pg_temp.now()'') THEN pg_catalog.now() END';
	CREATE FUNCTION pg_temp.current_database() RETURNS name LANGUAGE sql
		AS 'SELECT CASE WHEN pg_temp.pgtap_log(''pg_temp.current_database()'') THEN pg_catalog.current_database() END';
	CREATE FUNCTION pg_temp.pgtap_eq(text, text) RETURNS boolean LANGUAGE sql
		AS 'SELECT CASE WHEN pg_temp.pgtap_log(''pg_temp.=(text, text)'') THEN $1 OPERATOR(pg_catalog.=) $2 END';
	CREATE OPERATOR pg_temp.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_temp.pgtap_eq);
	-- relations and a type: pg_temp comes before pg_catalog for these
	CREATE VIEW pg_temp.backups AS SELECT NULL::text AS id, NULL::text AS status, NULL::text AS location,
		NULL::name AS database WHERE pg_temp.pgtap_log('pg_temp.backups');
	CREATE VIEW pg_temp.schedule_defs AS SELECT NULL::text AS name, NULL::name AS database
		WHERE pg_temp.pgtap_log('pg_temp.schedule_defs');
	CREATE VIEW pg_temp.schedules AS SELECT NULL::text AS rule, NULL::text AS name
		WHERE pg_temp.pgtap_log('pg_temp.schedules');
	CREATE VIEW pg_temp.pg_stat_activity AS SELECT NULL::int AS pid, NULL::text AS application_name
		WHERE pg_temp.pgtap_log('pg_temp.pg_stat_activity');
	CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (pg_temp.pgtap_log('pg_temp.timestamptz'));
	CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (pg_temp.pgtap_log('pg_temp.jsonb'));
	RESET search_path;
$s$)$$, 'shadow database: functions, an operator, views and domains planted in pg_temp');

SELECT CASE WHEN must_work
			THEN lives_ok(format('SELECT * FROM dblink(%L, %L) AS t(x text)', 'shadow',
								 format('SELECT pg_catalog.set_config(''pgtap.phase'', %L, false); %s', phase, sql)),
						  'shadow: pgtap_dbowner: ' || phase || ' works')
			ELSE pass(format('shadow: pgtap_dbowner: %s called (%s rows; it may fail)', phase,
							 (SELECT count(*) FROM dblink('shadow', format('SELECT pg_catalog.set_config(''pgtap.phase'', %L, false); %s', phase, sql), false)
												AS t(x text)))) END
  FROM sec_shadow_calls ORDER BY ord;
\o /dev/null
SELECT * FROM dblink('shadow', $$SELECT pg_catalog.set_config('pgtap.phase', '', false)$$) AS t(x text);
\o
SELECT is_empty(format('SELECT * FROM dblink(%L, %L) AS t(x text)', 'shadow_su',
					   format('SELECT plant || '' as '' || by_user || coalesce('' in '' || backend_type, '''') FROM public.pgtap_shadow_log WHERE phase = %L', phase)),
				'shadow: ' || phase || ' ran no function or operator planted in public or pg_temp')
  FROM sec_shadow_calls ORDER BY ord;

-- the background workers (the capture's job worker connected with the
-- database's search_path, the scheduler that answered the calls): every
-- call above was synchronous, so once no pgbackups process of the database
-- is left, none can still run a plant (an event, not a fixed sleep; the
-- scheduler lingers up to 2 s after its last request)
\o /dev/null
DO $w$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
	LOOP
		PERFORM pg_catalog.pg_stat_clear_snapshot();
		EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity
							   WHERE datname = 'pgtap_sec_shadow' AND backend_type LIKE 'pgbackups%')
			OR clock_timestamp() > deadline;
		PERFORM pg_catalog.pg_sleep(0.1);
	END LOOP;
END
$w$;
SELECT pg_catalog.pg_stat_clear_snapshot();
\o
SELECT is_empty($$SELECT backend_type FROM pg_catalog.pg_stat_activity
				   WHERE datname = 'pgtap_sec_shadow' AND backend_type LIKE 'pgbackups%'$$,
				'shadow: every pgbackups process of the database has exited (within 60 s)');
SELECT is_empty($$SELECT * FROM dblink('shadow_su', 'SELECT DISTINCT plant || '' as '' || by_user || '' in '' || coalesce(backend_type, ''?'')
						FROM public.pgtap_shadow_log WHERE backend_type IS DISTINCT FROM ''client backend''') AS t(x text)$$,
				'shadow: no planted function or operator ran in a pgbackups background worker');
SELECT is_empty($$SELECT * FROM dblink('shadow_su', 'SELECT DISTINCT plant || '' as '' || by_user || '' in '' || coalesce(backend_type, ''?'')
						FROM public.pgtap_shadow_log WHERE by_user <> ''pgtap_dbowner''') AS t(x text)$$,
				'shadow: no planted function or operator ran with another role''s rights (no escalation)');
SELECT is_empty($$SELECT * FROM dblink('shadow_su', 'SELECT DISTINCT plant || '' as '' || by_user || coalesce('' in '' || backend_type, '''') || '' ('' || coalesce(phase, ''worker'') || '')''
						FROM public.pgtap_shadow_log') AS t(x text)$$,
				'shadow: the plants'' log is empty');

\o /dev/null
SELECT dblink_disconnect(c) FROM unnest(dblink_get_connections()) c;
\o
SELECT * FROM finish();
ROLLBACK;
