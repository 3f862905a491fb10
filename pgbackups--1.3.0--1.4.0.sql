/* pgbackups 1.3.0 -> 1.4.0: one read rule for every backup (issue 11) */

\echo Use "ALTER EXTENSION pgbackups UPDATE TO '1.4.0'" to load this file. \quit

/*
 * The read rule (src/access.c): a role may reach a backup's contents or
 * metadata only if it may read the backup's source database: its owner, a
 * member of pg_read_all_data, or a superuser (for a database that no longer
 * exists, only the last two).  A restore's or copy's source is its source
 * database; a URL source counts as its target.
 */
ALTER TABLE @extschema@.restores
	ADD COLUMN source_database name,
	ADD COLUMN sha256 text;
ALTER TABLE @extschema@.copies
	ADD COLUMN source_database name;
COMMENT ON COLUMN @extschema@.restores.source_database IS 'whose data the restore carries (NULL: a URL)';
COMMENT ON COLUMN @extschema@.restores.sha256 IS 'SHA-256 the archive must have (a pgbackups backup), checked before anything is created';
COMMENT ON COLUMN @extschema@.copies.source_database IS 'the copied database of this server (NULL: a URL)';

/* rows recorded before 1.4.0: what can be known of their source */
UPDATE @extschema@.restores r SET source_database = b.database, sha256 = b.sha256
  FROM @extschema@.backups b WHERE b.id = r.backup;
UPDATE @extschema@.copies c SET source_database = c.source::name WHERE c.source !~ '://';

CREATE FUNCTION @extschema@._may_read_database(database name)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbackups_may_read_database'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@._may_read_database(name)
	IS 'the read rule: whether the current role may read the database (owner, pg_read_all_data, superuser)';

CREATE FUNCTION @extschema@._check_access(id text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_check_access'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._check_access(text)
	IS 'the job id if the current role may read it, NULL if it does not exist; raises 42501 otherwise';

/* ---- listings: row security, so every query of the catalog applies the rule ---- */

ALTER TABLE @extschema@.backups ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.restores ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.copies ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.schedule_defs ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.schedule_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.alerts ENABLE ROW LEVEL SECURITY;

CREATE POLICY readable ON @extschema@.backups FOR SELECT
	USING (@extschema@._may_read_database(database));
CREATE POLICY readable ON @extschema@.restores FOR SELECT
	USING (@extschema@._may_read_database(coalesce(source_database, target)));
CREATE POLICY readable ON @extschema@.copies FOR SELECT
	USING (@extschema@._may_read_database(coalesce(source_database, target)));
/* a job's log lines: visible with the job (the subqueries apply those tables' policies) */
CREATE POLICY readable ON @extschema@.logs FOR SELECT
	USING (EXISTS (SELECT 1 FROM @extschema@.backups b WHERE b.id = job_id)
		   OR EXISTS (SELECT 1 FROM @extschema@.restores r WHERE r.id = job_id)
		   OR EXISTS (SELECT 1 FROM @extschema@.copies c WHERE c.id = job_id));
CREATE POLICY readable ON @extschema@.schedule_defs FOR SELECT
	USING (@extschema@._may_read_database(database));
/* a schedule is named after its database */
CREATE POLICY readable ON @extschema@.schedule_runs FOR SELECT
	USING (@extschema@._may_read_database(schedule::name));
CREATE POLICY readable ON @extschema@.alerts FOR SELECT
	USING (@extschema@._may_read_database((payload->>'database')::name));

/* the views read the catalog with the caller's rights, so the policies apply */
ALTER VIEW @extschema@.schedules SET (security_invoker = true);
ALTER VIEW @extschema@.health SET (security_invoker = true);

/* ---- functions that name a job: exists (42704), readable (42501) ---- */

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
		/* the newest backup the caller may read (row security) */
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
	result := @extschema@._check_access(want);
	IF result IS NULL THEN
		RAISE EXCEPTION '% "%" does not exist',
			CASE left(want, 1) WHEN 'r' THEN 'restore' WHEN 'c' THEN 'copy' ELSE 'backup' END, id
			USING ERRCODE = 'undefined_object',
				  HINT = 'SELECT * FROM pgbackups.list() shows the jobs of this database.';
	END IF;
	RETURN result;
END
$$;

/* pins and schedules are written as the bootstrap superuser after the caller's check (C) */
DROP FUNCTION @extschema@.pin(text);
DROP FUNCTION @extschema@.unpin(text);
DROP FUNCTION @extschema@._set_pinned(text, boolean, name);

CREATE FUNCTION @extschema@.pin(id text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_pin'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.pin(text)
	IS 'keep a backup forever: retention never expires it and delete() refuses it until unpin()';

CREATE FUNCTION @extschema@.unpin(id text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_unpin'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.unpin(text) IS 'let retention expire a pinned backup again';

DROP FUNCTION @extschema@.unschedule(text);
CREATE FUNCTION @extschema@.unschedule(name_or_database text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_unschedule'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.unschedule(text)
	IS 'heroku pg:backups:unschedule: remove a schedule (by name or database; none given: the only one)';

/* ---- privileges ---- */

REVOKE ALL ON FUNCTION
	@extschema@._may_read_database(name),
	@extschema@._check_access(text),
	@extschema@.pin(text),
	@extschema@.unpin(text),
	@extschema@.unschedule(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	@extschema@._may_read_database(name),
	@extschema@._check_access(text),
	@extschema@.pin(text),
	@extschema@.unpin(text),
	@extschema@.unschedule(text)
	TO pgbackups_admin;
