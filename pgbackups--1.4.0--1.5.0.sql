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
CREATE FUNCTION @extschema@.stored_backups(database name DEFAULT NULL)
RETURNS TABLE (catalog_database text, id text, kind text, source_database text,
			   created_at timestamptz, finished_at timestamptz, archive_size bigint,
			   sha256 text, pinned boolean, label text, location text, table_rows jsonb)
AS 'MODULE_PATHNAME', 'pgbackups_stored_backups'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.stored_backups(name)
	IS 'the backups in storage of one catalog database (NULL: all of this cluster, dropped ones included) that the caller may read';
REVOKE ALL ON FUNCTION @extschema@.stored_backups(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.stored_backups(name) TO pgbackups_admin;

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
