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
