/*-------------------------------------------------------------------------
 *
 * rescan.c
 *	  Rebuilding a catalog's index of backups from storage: storage holds
 *	  the truth, the catalog is its index.
 *
 * Under this catalog's prefix (<root>/<system identifier>/<database>/) every
 * manifest (manifest.c) is read and checked: its format and version, that
 * it belongs to this cluster and this catalog database, and that its
 * archive is there with the size it names.  A valid manifest whose backup
 * the catalog does not know is imported as a completed backup (without
 * firing the catalog's event triggers: it is not a new event); a row that
 * was 'missing' or 'failed' becomes completed again.  Completed rows
 * (finished before the listing began, so concurrent captures are left
 * alone) whose archive is gone become 'missing' (visible, never deleted);
 * completed rows with their archive but no manifest (taken before 1.5.0)
 * get their manifest written.  The id sequences move past the highest id
 * found in storage, archives without a manifest included, so ids never
 * repeat.  Idempotent: a second rescan reports nothing.
 *
 * Runs inside a transaction, with SPI; each manifest in a subtransaction so
 * that a bad one (invalid JSON, a wrong field type) is reported and the
 * others go on.
 *
 * src/catalog/rescan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "catalog_spi.h"
#include "manifest.h"
#include "rescan.h"
#include "storage.h"

#define MANIFEST_MAX_BYTES (1024 * 1024)
#define ARCHIVE_SUFFIX ".dump"

static const char *const import_sql =
"INSERT INTO pgbackups.backups AS b (id, num, kind, database, status, label, requested_by, "
"  created_at, started_at, finished_at, compression, compression_level, parallel, source_size, "
"  raw_size, archive_size, sha256, tables, rows, table_rows, archive_version, pg_dump_version, "
"  server_version, location, schedule, scheduled_for, pinned) "
"SELECT j->>'id', substr(j->>'id', 2)::int, j->>'kind', j->>'database', 'completed', j->>'label', "
"  coalesce(j->>'requested_by', 'unknown'), (j->>'created_at')::timestamptz, "
"  (j->>'started_at')::timestamptz, (j->>'finished_at')::timestamptz, j->>'compression', "
"  (j->>'compression_level')::int, coalesce((j->>'parallel')::int, 1), (j->>'source_size')::bigint, "
"  (j->>'raw_size')::bigint, (j->>'archive_size')::bigint, j->>'sha256', (j->>'tables')::int, "
"  (j->>'rows')::bigint, j->'table_rows', j->>'archive_version', j->>'pg_dump_version', "
"  j->>'server_version', $2, j->>'schedule', (j->>'scheduled_for')::timestamptz, "
"  coalesce((j->>'pinned')::boolean, false) "
"FROM (SELECT $1::jsonb AS j) m "
"ON CONFLICT (id) DO UPDATE SET status = 'completed', error = NULL, error_code = NULL, "
"  location = EXCLUDED.location, archive_size = EXCLUDED.archive_size, sha256 = EXCLUDED.sha256, "
"  finished_at = EXCLUDED.finished_at, table_rows = EXCLUDED.table_rows, pinned = EXCLUDED.pinned "
"WHERE b.status IN ('missing', 'failed') "
"RETURNING CASE WHEN xmax = 0 THEN 'imported' ELSE 'found again' END";

static const char *const check_sql =
"SELECT j->>'format', j->>'version', j->>'id', j->>'system_identifier', "
"  j->'catalog_database'->>'name', j->>'archive_size', j->>'kind', "
"  (SELECT status FROM pgbackups.backups WHERE id = j->>'id') "
"FROM (SELECT $1::jsonb AS j) m";

/* pgb_rescan_check_manifest's answer when only the archive is absent */
const char *const pgb_rescan_no_archive = "its archive is not in storage";

/* where report() allocates: the caller's context, which outlives SPI's */
static MemoryContext report_cxt = NULL;

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		n = strlen(s),
				m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * pgb_rescan_find_entry
 *		The entry of entries whose URL is url, or NULL.
 */
PgbStorageEntry *
pgb_rescan_find_entry(List *entries, const char *url)
{
	ListCell   *lc;

	foreach(lc, entries)
	{
		PgbStorageEntry *e = lfirst(lc);

		if (strcmp(e->url, url) == 0)
			return e;
	}
	return NULL;
}

/*
 * pgb_rescan_classify
 *		Sort a listing: the archives and manifests directly under prefix (a
 *		catalog's prefix), and the highest id of each kind in their names.
 */
void
pgb_rescan_classify(const char *prefix, List *entries, PgbStorageListing *f)
{
	ListCell   *lc;
	size_t		plen = strlen(prefix);

	memset(f, 0, sizeof(*f));
	foreach(lc, entries)
	{
		PgbStorageEntry *e = lfirst(lc);
		const char *name = e->url + plen;
		int			num;
		char		kind;

		if (strncmp(e->url, prefix, plen) != 0 || strchr(name, '/') != NULL)
			continue;
		if (ends_with(name, ARCHIVE_SUFFIX PGB_MANIFEST_SUFFIX))
			f->manifests = lappend(f->manifests, e);
		else if (ends_with(name, ARCHIVE_SUFFIX))
			f->archives = lappend(f->archives, e);
		else
			continue;
		if (sscanf(name, "%c%d-", &kind, &num) == 2 && (kind == 'b' || kind == 'a'))
			f->max_num[kind == 'a'] = Max(f->max_num[kind == 'a'], num);
	}
}

static void
report(List **out, const char *id, const char *outcome)
{
	MemoryContext old = MemoryContextSwitchTo(report_cxt);
	PgbRescanItem *it = palloc(sizeof(PgbRescanItem));

	it->id = pstrdup(id);
	it->outcome = pstrdup(outcome);
	*out = lappend(*out, it);
	MemoryContextSwitchTo(old);
}

/*
 * pgb_rescan_check_manifest
 *		Why the manifest json of the archive at archive (NULL: absent) is not
 *		a valid manifest of a backup of this cluster recorded by the catalog
 *		of database catalog_db, or NULL if it is.  The checks, in order:
 *		format, version, id and kind, cluster, catalog database, archive
 *		present (pgb_rescan_no_archive), its size.  *id receives its id ("?"
 *		if none), *status this catalog's row of that id (NULL: none).  Uses
 *		SPI; invalid JSON raises an ERROR.
 */
const char *
pgb_rescan_check_manifest(const char *json, const char *catalog_db,
						  const PgbStorageEntry *archive, char **id, char **status)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(json)};
	char	   *v[8];
	int			i;

	*id = "?";
	*status = NULL;
	if (SPI_execute_with_args(check_sql, 1, types, values, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		return "it could not be read";
	for (i = 0; i < 8; i++)
		v[i] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);
	*id = v[2] ? v[2] : "?";
	*status = v[7];
	if (v[0] == NULL || strcmp(v[0], "pgbackups-manifest") != 0)
		return "it is not a pgbackups manifest";
	if (v[1] == NULL || strcmp(v[1], "1") != 0)
		return psprintf("its format version %s is not one this pgbackups reads (1)", v[1] ? v[1] : "(none)");
	if (v[2] == NULL || strspn(v[2] + 1, "0123456789") != strlen(v[2] + 1) || strlen(v[2]) < 2 ||
		!((v[2][0] == 'b' && v[6] && strcmp(v[6], "manual") == 0) ||
		  (v[2][0] == 'a' && v[6] && strcmp(v[6], "scheduled") == 0)))
		return "its id or kind is invalid";
	if (v[3] == NULL || strcmp(v[3], psprintf(UINT64_FORMAT, GetSystemIdentifier())) != 0)
		return psprintf("it belongs to another cluster (system identifier %s)", v[3] ? v[3] : "(none)");
	if (v[4] == NULL || strcmp(v[4], catalog_db) != 0)
		return psprintf("it belongs to the catalog of database \"%s\"", v[4] ? v[4] : "(none)");
	if (archive == NULL)
		return pgb_rescan_no_archive;
	if (v[5] == NULL || strtoi64(v[5], NULL, 10) != archive->size)
		return psprintf("its archive has " INT64_FORMAT " bytes, the manifest says %s",
						archive->size, v[5] ? v[5] : "(none)");
	return NULL;
}

/* why the manifest cannot be imported, "" if there is nothing to say, or NULL; sets *id */
static const char *
check_manifest(const char *json, const char *archive_url, List *archives, char **id)
{
	char	   *status;
	const char *why = pgb_rescan_check_manifest(json, get_database_name(MyDatabaseId),
												pgb_rescan_find_entry(archives, archive_url),
												id, &status);

	if (why == pgb_rescan_no_archive)
		return status != NULL ? "" : why;	/* known: check_rows */
	if (why != NULL)
		return why;
	if (status != NULL && strcmp(status, "missing") != 0 && strcmp(status, "failed") != 0)
		return "";				/* known and not to be changed: nothing to say */
	return NULL;
}

typedef struct ImportArgs
{
	const char *json;
	const char *archive_url;
	List	   *archives;
	List	  **out;
	char	   *id;				/* the manifest's id once read */
} ImportArgs;

static void
import_step(void *arg)
{
	ImportArgs *a = arg;
	char	   *checked_id = "?";
	const char *why = check_manifest(a->json, a->archive_url, a->archives, &checked_id);
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(a->json), CStringGetTextDatum(a->archive_url)};

	a->id = pstrdup(checked_id);
	if (why == NULL)
	{
		/* an import is not an event: no NOTIFY, no webhook */
		SPI_execute("SET LOCAL session_replication_role = replica", false, 0);
		if (SPI_execute_with_args(import_sql, 2, types, values, NULL, false, 0) ==
			SPI_OK_INSERT_RETURNING && SPI_processed == 1)
			report(a->out, a->id, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		SPI_execute("SET LOCAL session_replication_role = origin", false, 0);
	}
	else if (why[0] != '\0')
		report(a->out, a->id, psprintf("rejected: %s", why));
}

/* check and import one manifest, in a subtransaction (a bad one is reported) */
static void
import_one(const char *json, const char *archive_url, List *archives, List **out)
{
	ImportArgs	a = {json, archive_url, archives, out, "?"};
	char	   *errmsg;

	if (!pgb_cat_try(import_step, &a, &errmsg))
		report(out, a.id, psprintf("rejected: %s", errmsg));
}

/* completed rows whose archive is gone: missing; without a manifest: write it */
static void
check_rows(const char *prefix, PgbStorageListing *f, TimestampTz listed_at, List **out)
{
	Oid			types[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2] = {CStringGetTextDatum(prefix), TimestampTzGetDatum(listed_at)};
	uint64		i,
				n;
	char	  **ids;
	char	  **locs;

	if (SPI_execute_with_args("SELECT id, location FROM pgbackups.backups WHERE status = 'completed' "
							  "AND finished_at < $2 AND starts_with(location, $1) ORDER BY id",
							  2, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the completed backups");
	n = SPI_processed;
	ids = palloc(sizeof(char *) * (n + 1));
	locs = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
	{
		ids[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		locs[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	for (i = 0; i < n; i++)
	{
		if (pgb_rescan_find_entry(f->archives, locs[i]) == NULL)
		{
			Datum		v[1] = {CStringGetTextDatum(ids[i])};
			Oid			t[1] = {TEXTOID};

			SPI_execute_with_args("UPDATE pgbackups.backups SET status = 'missing', "
								  "error = 'its archive was not found in storage by rescan', "
								  "error_code = NULL WHERE id = $1", 1, t, v, NULL, false, 0);
			report(out, ids[i], "missing");
		}
		else if (pgb_rescan_find_entry(f->manifests, pgb_manifest_url(locs[i])) == NULL)
		{
			pgb_manifest_write(ids[i]);
			report(out, ids[i], "manifest written");
		}
	}
}

/* ids never repeat: the sequences move past the highest id in storage */
static void
advance_sequences(const PgbStorageListing *f)
{
	int			k;

	for (k = 0; k < 2; k++)
	{
		char	   *sql;

		if (f->max_num[k] == 0)
			continue;
		sql = psprintf("SELECT pg_catalog.setval('pgbackups.%s', %d) FROM pgbackups.%s "
					   "WHERE NOT is_called OR last_value < %d",
					   k == 0 ? "manual_num_seq" : "scheduled_num_seq", f->max_num[k],
					   k == 0 ? "manual_num_seq" : "scheduled_num_seq", f->max_num[k]);
		if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not advance the id sequences");
	}
}

List *
pgb_rescan(void)
{
	char	   *prefix = pgb_catalog_storage_prefix();
	TimestampTz listed_at = GetCurrentTimestamp();
	List	   *entries = pgb_storage_list(prefix);
	List	   *out = NIL;
	PgbStorageListing f;
	ListCell   *lc;

	report_cxt = CurrentMemoryContext;

	pgb_rescan_classify(prefix, entries, &f);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, f.manifests)
	{
		PgbStorageEntry *m = lfirst(lc);
		size_t		len;
		char	   *archive_url = pnstrdup(m->url, strlen(m->url) - strlen(PGB_MANIFEST_SUFFIX));
		char	   *json;

		CHECK_FOR_INTERRUPTS();
		json = pgb_storage_get_small(m->url, MANIFEST_MAX_BYTES, &len);
		if (json == NULL)
			continue;			/* deleted meanwhile */
		if (strlen(json) != len)
		{
			report(&out, "?", psprintf("rejected: %s is not text", m->url));
			continue;
		}
		import_one(json, archive_url, f.archives, &out);
	}
	check_rows(prefix, &f, listed_at, &out);
	advance_sequences(&f);
	SPI_finish();
	return out;
}
