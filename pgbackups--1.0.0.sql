/* pgbackups--1.0.0.sql: catalog, views and SQL API of pgbackups 1.0.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pgbackups" to load this file. \quit

/*
 * The operator role.  Roles are cluster-wide, so a second database that
 * installs the extension reuses the role created by the first.
 */
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbackups_admin') THEN
		CREATE ROLE pgbackups_admin NOLOGIN;
	END IF;
END
$$;

/*
 * Catalog.  Only the pgbackups background workers write these tables; the
 * SQL API asks the database's scheduler to do so, so that a record survives
 * a rollback of the caller's transaction.
 */
CREATE TABLE @extschema@.backups (
	id				text PRIMARY KEY,
	num				integer NOT NULL,
	kind			text NOT NULL CHECK (kind IN ('manual', 'scheduled')),
	database		name NOT NULL,
	status			text NOT NULL DEFAULT 'pending'
					CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled')),
	label			text,
	requested_by	name NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	started_at		timestamptz,
	finished_at		timestamptz,
	compression		text NOT NULL,
	compression_level integer,
	parallel		integer NOT NULL,
	source_size		bigint,
	raw_size		bigint,
	archive_size	bigint,
	sha256			text,
	tables			integer,
	rows			bigint,
	table_rows		jsonb,
	archive_version text,
	pg_dump_version text,
	server_version	text,
	location		text,
	worker_pid		integer,
	error			text,
	error_code		text,
	UNIQUE (kind, num)
);
/* ids are never reused, even after pgbackups.delete() */
CREATE SEQUENCE @extschema@.manual_num_seq;
CREATE SEQUENCE @extschema@.scheduled_num_seq;

COMMENT ON TABLE @extschema@.backups IS 'pgbackups: one row per backup (b### manual, a### scheduled)';

CREATE TABLE @extschema@.logs (
	job_id			text NOT NULL,
	logged_at		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	message			text NOT NULL
);
CREATE INDEX logs_job_id_idx ON @extschema@.logs (job_id, logged_at);
COMMENT ON TABLE @extschema@.logs IS 'pgbackups: timestamped log lines of every job';

/* every job state change is announced on channel pgbackups_events */
CREATE FUNCTION @extschema@._notify_event()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
		PERFORM pg_notify('pgbackups_events',
			json_build_object('id', NEW.id, 'database', NEW.database, 'kind', NEW.kind,
							  'status', NEW.status, 'error', NEW.error)::text);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER backups_notify AFTER INSERT OR UPDATE ON @extschema@.backups
	FOR EACH ROW EXECUTE FUNCTION @extschema@._notify_event();

SELECT pg_catalog.pg_extension_config_dump('@extschema@.backups', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.logs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.manual_num_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.scheduled_num_seq', '');

/* ---- C entry points (src/api.c) ---- */

CREATE FUNCTION @extschema@.capture(database text DEFAULT pg_catalog.current_database(),
									wait boolean DEFAULT false,
									compression text DEFAULT NULL,
									parallel integer DEFAULT NULL,
									label text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_capture'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.capture(text, boolean, text, integer, text)
	IS 'heroku pg:backups:capture: start a backup in a background worker and return its id';

CREATE FUNCTION @extschema@.cancel(id text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_cancel'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.cancel(text)
	IS 'heroku pg:backups:cancel: cancel a job (default: the newest unfinished one)';

CREATE FUNCTION @extschema@.delete(id text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_delete'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.delete(text)
	IS 'heroku pg:backups:delete: remove a finished backup and its stored archive';

CREATE FUNCTION @extschema@.wait(id text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_wait'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.wait(text)
	IS 'wait for a job to finish, reporting progress; returns its final status or raises its error';

CREATE FUNCTION @extschema@._launcher_wakeup()
RETURNS void
AS 'MODULE_PATHNAME', 'pgbackups_launcher_wakeup'
LANGUAGE C VOLATILE;

/* ---- reports (plain SQL over the catalog) ---- */

CREATE FUNCTION @extschema@.pretty_size(bytes bigint)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN bytes IS NULL THEN ''
		WHEN bytes < 1024 THEN bytes::text || 'B'
		WHEN bytes < 1024 * 1024 THEN round(bytes / 1024.0, 1)::text || 'kB'
		WHEN bytes < 1024 * 1024 * 1024 THEN round(bytes / 1048576.0, 2)::text || 'MB'
		ELSE round(bytes / 1073741824.0, 2)::text || 'GB'
	END
$$;

CREATE FUNCTION @extschema@._resolve_id(id text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	result text;
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
	IF id !~ '^[ab][0-9]+$' THEN
		RAISE EXCEPTION 'invalid backup id "%"', id
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Backup ids look like b001 (manual) or a001 (scheduled).';
	END IF;
	SELECT b.id INTO result FROM @extschema@.backups b WHERE b.id = lower($1);
	IF result IS NULL THEN
		RAISE EXCEPTION 'backup "%" does not exist', id
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT * FROM pgbackups.list() shows the backups of this database.';
	END IF;
	RETURN result;
END
$$;

CREATE FUNCTION @extschema@.info(id text DEFAULT NULL)
RETURNS TABLE (field text, value text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b @extschema@.backups;
	bid text := @extschema@._resolve_id(id);
BEGIN
	SELECT * INTO b FROM @extschema@.backups x WHERE x.id = bid;
	RETURN QUERY VALUES
		('ID', b.id),
		('Database', b.database::text),
		('Label', coalesce(b.label, '')),
		('Created at', coalesce(to_char(b.created_at, 'YYYY-MM-DD HH24:MI:SS TZH:TZM'), '')),
		('Started at', coalesce(to_char(b.started_at, 'YYYY-MM-DD HH24:MI:SS TZH:TZM'), '')),
		('Finished at', coalesce(to_char(b.finished_at, 'YYYY-MM-DD HH24:MI:SS TZH:TZM'), '')),
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
COMMENT ON FUNCTION @extschema@.info(text) IS 'heroku pg:backups:info: details of one backup';

CREATE FUNCTION @extschema@.logs(id text DEFAULT NULL)
RETURNS TABLE (logged_at timestamptz, message text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT l.logged_at, l.message FROM @extschema@.logs l
	 WHERE l.job_id = @extschema@._resolve_id($1)
	 ORDER BY l.logged_at, l.ctid
$$;
COMMENT ON FUNCTION @extschema@.logs(text) IS 'heroku pg:backups:info logs: the log lines of one job';

CREATE FUNCTION @extschema@.list()
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
END
$$;
COMMENT ON FUNCTION @extschema@.list() IS 'heroku pg:backups: the backups of this database, newest first';

/* ---- privileges: nothing for PUBLIC, everything for the operator role ---- */

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
GRANT USAGE ON SCHEMA @extschema@ TO pgbackups_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA @extschema@ TO pgbackups_admin;
GRANT EXECUTE ON FUNCTION
	@extschema@.capture(text, boolean, text, integer, text),
	@extschema@.cancel(text),
	@extschema@.delete(text),
	@extschema@.wait(text),
	@extschema@.info(text),
	@extschema@.logs(text),
	@extschema@.list(),
	@extschema@.pretty_size(bigint),
	@extschema@._resolve_id(text)
	TO pgbackups_admin;

/* tell the launcher that this database now has a catalog */
SELECT @extschema@._launcher_wakeup();
