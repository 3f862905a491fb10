/* pgbackups 1.4.0 -> 1.5.0: storage holds the truth, the catalog is its index (issue 13) */

\echo Use "ALTER EXTENSION pgbackups UPDATE TO '1.5.0'" to load this file. \quit

/*
 * What storage holds, read directly (src/api/storage_api.c): the ground
 * truth that manifests, rescans and storage checks build on.  Superuser
 * only: storage may hold any database's backups, of any cluster sharing
 * it.  Both reach nothing outside pgbackups.storage_url (42501).
 */
CREATE FUNCTION @extschema@._storage_list(prefix text DEFAULT '')
RETURNS TABLE (url text, size bigint)
AS 'MODULE_PATHNAME', 'pgbackups_storage_list'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@._storage_list(text)
	IS 'every object under <storage root>/<prefix> with its size, all pages of an S3 listing (superuser only)';

CREATE FUNCTION @extschema@._storage_read(url text)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_storage_read'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@._storage_read(text)
	IS 'a small object (at most 1 MB) under the storage root as text, NULL if absent (superuser only)';

/* ---- privileges: superusers only (no GRANT, not even to pgbackups_admin) ---- */

REVOKE ALL ON FUNCTION
	@extschema@._storage_list(text),
	@extschema@._storage_read(text)
	FROM PUBLIC;

/*
 * Rescan (src/catalog/rescan.c): the catalog is an index of storage.  A
 * completed backup whose archive is gone is 'missing' (visible, never
 * deleted); rescan() imports the manifests of this catalog (this cluster,
 * this database), writes the manifests of older backups, and moves the id
 * sequences past every id in storage.  The maintenance worker runs it
 * after CREATE EXTENSION and at the first scheduler start after a server
 * start.
 */
ALTER TABLE @extschema@.backups DROP CONSTRAINT backups_status_check;
ALTER TABLE @extschema@.backups ADD CONSTRAINT backups_status_check
	CHECK (status IN ('pending', 'running', 'completed', 'failed', 'canceled', 'missing'));

CREATE FUNCTION @extschema@.rescan()
RETURNS TABLE (id text, outcome text)
AS 'MODULE_PATHNAME', 'pgbackups_rescan'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.rescan()
	IS 'rebuild this catalog from the manifests in storage: import, mark missing, write old manifests; returns what changed';
REVOKE ALL ON FUNCTION @extschema@.rescan() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.rescan() TO pgbackups_admin;

/*
 * Backups as storage knows them (src/catalog/stored.c), for every database
 * of this cluster, including dropped ones and databases without the
 * extension, filtered by the read rule.  restore('app::b003') finds a
 * backup here when "app" is gone or has no catalog.
 */
CREATE FUNCTION @extschema@.stored_backups(database name DEFAULT NULL, cluster text DEFAULT NULL)
RETURNS TABLE (catalog_database text, id text, kind text, source_database text,
			   created_at timestamptz, finished_at timestamptz, archive_size bigint,
			   sha256 text, pinned boolean, label text, location text, table_rows jsonb,
			   cluster text)
AS 'MODULE_PATHNAME', 'pgbackups_stored_backups'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.stored_backups(name, text)
	IS 'the backups in storage of one catalog database (NULL: all, dropped ones included) of this cluster, of another sharing the storage (its system identifier) or of all (''all''), that the caller may read';
REVOKE ALL ON FUNCTION @extschema@.stored_backups(name, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.stored_backups(name, text) TO pgbackups_admin;

/*
 * Storage health (src/catalog/storage_check.c): under this cluster's prefix
 * (<root>/<system identifier>/), archives without a manifest (crash
 * leftovers, with their age), manifests without an archive, invalid
 * manifests, this catalog's rows whose objects are gone, and per catalog
 * database prefix the objects and their size; the cleanup removes the
 * orphans at least older_than old (dry run by default), never an object of
 * this catalog's pending, running, completed or missing backups.  Superuser
 * only (no GRANT, not even to pgbackups_admin): the report covers every
 * database of the cluster and the cleanup deletes objects.
 */
CREATE FUNCTION @extschema@.storage_check()
RETURNS TABLE (finding text, database text, id text, url text, size bigint, objects bigint,
			   age interval, detail text)
AS 'MODULE_PATHNAME', 'pgbackups_storage_check'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.storage_check()
	IS 'this cluster''s storage against manifests and this catalog: orphans, invalid manifests, lost objects, sizes per database (superuser only)';

CREATE FUNCTION @extschema@.storage_cleanup(older_than interval DEFAULT '1 day',
											 dry_run boolean DEFAULT true)
RETURNS TABLE (action text, finding text, database text, id text, url text, size bigint,
			   age interval)
AS 'MODULE_PATHNAME', 'pgbackups_storage_cleanup'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.storage_cleanup(interval, boolean)
	IS 'remove (dry_run: list) archives without manifest and manifests without archive at least older_than old (superuser only)';

REVOKE ALL ON FUNCTION
	@extschema@.storage_check(),
	@extschema@.storage_cleanup(interval, boolean)
	FROM PUBLIC;

/*
 * verify(id) (src/api/verify_api.c, src/restore/verify.c): a completed
 * backup's archive read end to end without a restore, in the caller's
 * session: SHA-256 against the catalog and the manifest, the TOC, every
 * data block decompressed within pgbackups.max_decompressed_size, each
 * table's COPY rows against table_rows.  The outcome is recorded in the
 * row (committed on a connection of its own, so a raised failure stays
 * recorded) and shown by info() and list().  strict (the default) raises
 * a failure with its SQLSTATE (XX001 for a mismatch); strict => false
 * returns it as the row.
 */
ALTER TABLE @extschema@.backups
	ADD COLUMN verified_at timestamptz,
	ADD COLUMN verify_result text,
	ADD COLUMN verify_error_code text;
COMMENT ON COLUMN @extschema@.backups.verified_at IS 'when verify() last read the archive';
COMMENT ON COLUMN @extschema@.backups.verify_result IS 'ok, or failed: <message>';
COMMENT ON COLUMN @extschema@.backups.verify_error_code IS 'the SQLSTATE of a failed verify()';

CREATE FUNCTION @extschema@.verify(id text, strict boolean DEFAULT true)
RETURNS TABLE (backup text, result text, sqlstate text, message text, verified_at timestamptz,
			   sha256 text, archive_size bigint, tables integer, rows bigint)
AS 'MODULE_PATHNAME', 'pgbackups_verify'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.verify(text, boolean)
	IS 'read a backup''s stored archive end to end (SHA-256, blocks, row counts) without restoring it; records and returns the outcome';
REVOKE ALL ON FUNCTION @extschema@.verify(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.verify(text, boolean) TO pgbackups_admin;

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
	IF b.verified_at IS NOT NULL THEN
		RETURN QUERY VALUES ('Verified', to_char(b.verified_at, fmt) || ' ' || b.verify_result);
	END IF;
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
					WHEN 'missing' THEN 'Missing (archive gone from storage)'
					WHEN 'running' THEN 'Running'
					ELSE 'Pending' END, 44) ||
			rpad(@extschema@.pretty_size(r.archive_size), 11) || r.database;
		IF r.verified_at IS NOT NULL THEN
			RETURN NEXT rpad('', 7) || 'Verified: ' || to_char(r.verified_at, fmt) || ' ' || r.verify_result;
		END IF;
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


/*
 * A schedule can verify each new backup (schedule(verify => true)): its job
 * worker reads the archive end to end right after the backup completed
 * (and after retention) and records the outcome like verify() does
 * (src/bgw/job_worker.c).  A failed verification leaves the backup
 * completed and queues a webhook alert of kind 'verify'.
 */
ALTER TABLE @extschema@.schedule_defs ADD COLUMN verify boolean NOT NULL DEFAULT false;

DROP FUNCTION @extschema@.schedule(text, text, text, text, integer, integer, integer);
CREATE FUNCTION @extschema@.schedule(database text DEFAULT pg_catalog.current_database(),
									 at text DEFAULT NULL,
									 cron text DEFAULT NULL,
									 timezone text DEFAULT NULL,
									 keep_daily integer DEFAULT 7,
									 keep_weekly integer DEFAULT 4,
									 keep_monthly integer DEFAULT 12,
									 verify boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_schedule'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.schedule(text, text, text, text, integer, integer, integer, boolean)
	IS 'heroku pg:backups:schedule: daily at ''HH:MM Zone'' or a cron expression (verify: check each new backup); returns the schedule name';

REVOKE ALL ON FUNCTION
	@extschema@.schedule(text, text, text, text, integer, integer, integer, boolean)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	@extschema@.schedule(text, text, text, text, integer, integer, integer, boolean)
	TO pgbackups_admin;

/* the same view and one more column (the replacement keeps its grants; its options are given again) */
CREATE OR REPLACE VIEW @extschema@.schedules WITH (security_invoker = true) AS
SELECT s.name,
	   s.database,
	   CASE WHEN s.at IS NOT NULL THEN 'daily at ' || s.at || ' ' || s.timezone ELSE s.cron END AS rule,
	   s.cron,
	   s.timezone,
	   s.next_run,
	   s.last_run,
	   CASE s.last_outcome WHEN 'started' THEN coalesce(b.status, 'deleted') ELSE s.last_outcome END
		   AS last_status,
	   s.last_id,
	   s.keep_daily,
	   s.keep_weekly,
	   s.keep_monthly,
	   s.verify
  FROM @extschema@.schedule_defs s
  LEFT JOIN @extschema@.backups b ON b.id = s.last_id;

/*
 * Wake this database's scheduler when the update commits.  While the
 * catalog was older than the library its scheduler only refused requests
 * and may have left idle with no wake-up time; without this, jobs left
 * pending or running by the old library, and schedule slots that fell due
 * meanwhile, waited for an unrelated request after the update.
 */
SELECT @extschema@._launcher_wakeup();
