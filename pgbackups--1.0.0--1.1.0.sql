/* pgbackups--1.0.0--1.1.0.sql: restores (r###) and copies (c###) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pgbackups UPDATE TO '1.1.0'" to load this file. \quit

CREATE TABLE @extschema@.restores (
	id				text PRIMARY KEY,
	num				integer NOT NULL UNIQUE,
	status			text NOT NULL DEFAULT 'pending'
					CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled')),
	backup			text NOT NULL,
	location		text,
	target			name NOT NULL,
	requested_by	name NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	started_at		timestamptz,
	finished_at		timestamptz,
	parallel		integer NOT NULL,
	keep_owner		boolean NOT NULL DEFAULT false,
	keep_acl		boolean NOT NULL DEFAULT false,
	expected_rows	jsonb,
	tables			integer,
	rows			bigint,
	bytes			bigint,
	worker_pid		integer,
	error			text,
	error_code		text
);
CREATE SEQUENCE @extschema@.restore_num_seq;
COMMENT ON TABLE @extschema@.restores IS 'pgbackups: one row per restore (r###)';

CREATE TABLE @extschema@.copies (
	id				text PRIMARY KEY,
	num				integer NOT NULL UNIQUE,
	status			text NOT NULL DEFAULT 'pending'
					CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled')),
	source			text NOT NULL,
	target			name NOT NULL,
	requested_by	name NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	started_at		timestamptz,
	finished_at		timestamptz,
	parallel		integer NOT NULL,
	tables			integer,
	rows			bigint,
	bytes			bigint,
	worker_pid		integer,
	error			text,
	error_code		text
);
CREATE SEQUENCE @extschema@.copy_num_seq;
COMMENT ON TABLE @extschema@.copies IS 'pgbackups: one row per copy (c###)';

CREATE FUNCTION @extschema@._notify_transfer()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
		PERFORM pg_notify('pgbackups_events',
			json_build_object('id', NEW.id, 'database', NEW.target,
							  'kind', CASE TG_TABLE_NAME WHEN 'restores' THEN 'restore' ELSE 'copy' END,
							  'status', NEW.status, 'error', NEW.error)::text);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER restores_notify AFTER INSERT OR UPDATE ON @extschema@.restores
	FOR EACH ROW EXECUTE FUNCTION @extschema@._notify_transfer();
CREATE TRIGGER copies_notify AFTER INSERT OR UPDATE ON @extschema@.copies
	FOR EACH ROW EXECUTE FUNCTION @extschema@._notify_transfer();

SELECT pg_catalog.pg_extension_config_dump('@extschema@.restores', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.copies', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.restore_num_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.copy_num_seq', '');

/* ---- C entry points (src/api.c) ---- */

CREATE FUNCTION @extschema@.restore(backup text DEFAULT NULL,
									target text DEFAULT pg_catalog.current_database(),
									confirm text DEFAULT NULL,
									parallel integer DEFAULT NULL,
									keep_owner boolean DEFAULT false,
									keep_acl boolean DEFAULT false,
									wait boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_restore'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.restore(text, text, text, integer, boolean, boolean, boolean)
	IS 'heroku pg:backups:restore: replace a database with a backup, atomically, in a background worker';

CREATE FUNCTION @extschema@.restore_from_url(url text,
											 target text DEFAULT pg_catalog.current_database(),
											 confirm text DEFAULT NULL,
											 parallel integer DEFAULT NULL,
											 keep_owner boolean DEFAULT false,
											 keep_acl boolean DEFAULT false,
											 wait boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_restore_from_url'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.restore_from_url(text, text, text, integer, boolean, boolean, boolean)
	IS 'heroku pg:backups:restore URL: replace a database with a pg_dump custom-format archive';

CREATE FUNCTION @extschema@.copy(source text, target text, confirm text,
								 parallel integer DEFAULT NULL,
								 wait boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_copy'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.copy(text, text, text, integer, boolean)
	IS 'heroku pg:copy: replace the target database with a copy of the source, atomically';

/* ---- reports: ids of every kind ---- */

CREATE OR REPLACE FUNCTION @extschema@._resolve_id(id text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result text;
	want text := lower($1);
BEGIN
	IF id IS NULL THEN
		SELECT b.id INTO result FROM @extschema@.backups b
		 ORDER BY b.created_at DESC, b.num DESC LIMIT 1;
		IF result IS NULL THEN
			RAISE EXCEPTION 'no backups'
				USING ERRCODE = 'undefined_object',
					  HINT = 'Capture one with SELECT pgbackups.capture().';
		END IF;
		RETURN result;
	END IF;
	IF want !~ '^[abrc][0-9]+$' THEN
		RAISE EXCEPTION 'invalid backup id "%"', id
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Ids look like b001 (manual backup), a001 (scheduled backup), r001 (restore) or c001 (copy).';
	END IF;
	IF left(want, 1) IN ('a', 'b') THEN
		SELECT b.id INTO result FROM @extschema@.backups b WHERE b.id = want;
	ELSIF left(want, 1) = 'r' THEN
		SELECT r.id INTO result FROM @extschema@.restores r WHERE r.id = want;
	ELSE
		SELECT c.id INTO result FROM @extschema@.copies c WHERE c.id = want;
	END IF;
	IF result IS NULL THEN
		RAISE EXCEPTION '% "%" does not exist',
			CASE left(want, 1) WHEN 'r' THEN 'restore' WHEN 'c' THEN 'copy' ELSE 'backup' END, id
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT * FROM pgbackups.list() shows the jobs of this database.';
	END IF;
	RETURN result;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.info(id text DEFAULT NULL)
RETURNS TABLE (field text, value text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b @extschema@.backups;
	r @extschema@.restores;
	c @extschema@.copies;
	bid text := @extschema@._resolve_id(id);
	fmt CONSTANT text := 'YYYY-MM-DD HH24:MI:SS TZH:TZM';
BEGIN
	IF left(bid, 1) = 'r' THEN
		SELECT * INTO r FROM @extschema@.restores x WHERE x.id = bid;
		RETURN QUERY VALUES
			('ID', r.id),
			('Backup', r.backup),
			('Target', r.target::text),
			('Created at', coalesce(to_char(r.created_at, fmt), '')),
			('Started at', coalesce(to_char(r.started_at, fmt), '')),
			('Finished at', coalesce(to_char(r.finished_at, fmt), '')),
			('Status', initcap(r.status)),
			('Type', 'Restore'),
			('Parallel streams', r.parallel::text),
			('Keep owner', r.keep_owner::text),
			('Keep ACL', r.keep_acl::text),
			('Tables', coalesce(r.tables::text, '')),
			('Rows', coalesce(r.rows::text, '')),
			('Data size', @extschema@.pretty_size(r.bytes)),
			('Error', coalesce(r.error, ''));
		RETURN;
	END IF;
	IF left(bid, 1) = 'c' THEN
		SELECT * INTO c FROM @extschema@.copies x WHERE x.id = bid;
		RETURN QUERY VALUES
			('ID', c.id),
			('Source', c.source),
			('Target', c.target::text),
			('Created at', coalesce(to_char(c.created_at, fmt), '')),
			('Started at', coalesce(to_char(c.started_at, fmt), '')),
			('Finished at', coalesce(to_char(c.finished_at, fmt), '')),
			('Status', initcap(c.status)),
			('Type', 'Copy'),
			('Parallel streams', c.parallel::text),
			('Tables', coalesce(c.tables::text, '')),
			('Rows', coalesce(c.rows::text, '')),
			('Data size', @extschema@.pretty_size(c.bytes)),
			('Error', coalesce(c.error, ''));
		RETURN;
	END IF;
	SELECT * INTO b FROM @extschema@.backups x WHERE x.id = bid;
	RETURN QUERY VALUES
		('ID', b.id),
		('Database', b.database::text),
		('Label', coalesce(b.label, '')),
		('Created at', coalesce(to_char(b.created_at, fmt), '')),
		('Started at', coalesce(to_char(b.started_at, fmt), '')),
		('Finished at', coalesce(to_char(b.finished_at, fmt), '')),
		('Status', initcap(b.status)),
		('Type', CASE b.kind WHEN 'manual' THEN 'Manual' ELSE 'Scheduled' END),
		('Original DB Size', @extschema@.pretty_size(b.source_size)),
		('Backup Size', CASE WHEN b.archive_size IS NULL THEN ''
			ELSE @extschema@.pretty_size(b.archive_size) ||
				CASE WHEN coalesce(b.raw_size, 0) > 0 THEN
					' (' || round(100 - 100.0 * b.archive_size / b.raw_size)::text || '% compression)'
				ELSE '' END END),
		('Compression', b.compression || coalesce(':' || b.compression_level::text, '')),
		('Parallel streams', b.parallel::text),
		('Tables', coalesce(b.tables::text, '')),
		('Rows', coalesce(b.rows::text, '')),
		('SHA-256', coalesce(b.sha256, '')),
		('Archive version', coalesce(b.archive_version, '')),
		('pg_dump version', coalesce(b.pg_dump_version, '')),
		('Server version', coalesce(b.server_version, '')),
		('Location', coalesce(b.location, '')),
		('Error', coalesce(b.error, ''));
END
$$;

CREATE OR REPLACE FUNCTION @extschema@.list()
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	n integer := 0;
	fmt CONSTANT text := 'YYYY-MM-DD HH24:MI:SS TZH:TZM';
BEGIN
	RETURN NEXT '=== Backups';
	FOR r IN
		SELECT b.*, to_char(b.created_at, fmt) AS created
		  FROM @extschema@.backups b
		 ORDER BY b.created_at DESC, b.num DESC
	LOOP
		IF n = 0 THEN
			RETURN NEXT rpad('ID', 7) || rpad('Created at', 28) ||
				rpad('Status', 44) || rpad('Size', 11) || 'Database';
			RETURN NEXT rpad('', 7, '─') || rpad('', 28, '─') ||
				rpad('', 44, '─') || rpad('', 11, '─') || rpad('', 8, '─');
		END IF;
		n := n + 1;
		RETURN NEXT rpad(r.id, 7) || rpad(r.created, 28) ||
			rpad(CASE r.status
					WHEN 'completed' THEN 'Completed ' || to_char(r.finished_at, fmt)
					WHEN 'failed' THEN 'Failed ' || coalesce(to_char(r.finished_at, fmt), '')
					WHEN 'canceled' THEN 'Canceled ' || coalesce(to_char(r.finished_at, fmt), '')
					WHEN 'running' THEN 'Running'
					ELSE 'Pending' END, 44) ||
			rpad(@extschema@.pretty_size(r.archive_size), 11) || r.database;
	END LOOP;
	IF n = 0 THEN
		RETURN NEXT 'No backups. Capture one with SELECT pgbackups.capture().';
	END IF;

	n := 0;
	FOR r IN
		SELECT x.id, x.created_at, x.num, x.status, x.finished_at, x.source, x.target::text AS target
		  FROM (SELECT id, created_at, num, status, finished_at, backup AS source, target FROM @extschema@.restores
				UNION ALL
				SELECT id, created_at, num, status, finished_at, source, target FROM @extschema@.copies) x
		 ORDER BY x.created_at DESC, x.id DESC
	LOOP
		IF n = 0 THEN
			RETURN NEXT '';
			RETURN NEXT '=== Restores and copies';
			RETURN NEXT rpad('ID', 7) || rpad('Started at', 28) ||
				rpad('Status', 44) || rpad('From', 24) || 'To';
			RETURN NEXT rpad('', 7, '─') || rpad('', 28, '─') ||
				rpad('', 44, '─') || rpad('', 24, '─') || rpad('', 8, '─');
		END IF;
		n := n + 1;
		RETURN NEXT rpad(r.id, 7) || rpad(to_char(r.created_at, fmt), 28) ||
			rpad(CASE r.status
					WHEN 'completed' THEN 'Completed ' || to_char(r.finished_at, fmt)
					WHEN 'failed' THEN 'Failed ' || coalesce(to_char(r.finished_at, fmt), '')
					WHEN 'canceled' THEN 'Canceled ' || coalesce(to_char(r.finished_at, fmt), '')
					WHEN 'running' THEN 'Running'
					ELSE 'Pending' END, 44) ||
			rpad(r.source, 24) || r.target;
	END LOOP;
END
$$;

/* ---- privileges ---- */

REVOKE ALL ON @extschema@.restores, @extschema@.copies FROM PUBLIC;
REVOKE ALL ON SEQUENCE @extschema@.restore_num_seq, @extschema@.copy_num_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@.restore(text, text, text, integer, boolean, boolean, boolean),
	@extschema@.restore_from_url(text, text, text, integer, boolean, boolean, boolean),
	@extschema@.copy(text, text, text, integer, boolean),
	@extschema@._notify_transfer()
	FROM PUBLIC;
GRANT SELECT ON @extschema@.restores, @extschema@.copies TO pgbackups_admin;
GRANT EXECUTE ON FUNCTION
	@extschema@.restore(text, text, text, integer, boolean, boolean, boolean),
	@extschema@.restore_from_url(text, text, text, integer, boolean, boolean, boolean),
	@extschema@.copy(text, text, text, integer, boolean)
	TO pgbackups_admin;
