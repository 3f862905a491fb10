/*-------------------------------------------------------------------------
 *
 * stored.c
 *	  Backups as storage knows them, seen from anywhere in the cluster:
 *	  the manifests under <root>/<system identifier>/<catalog database>/,
 *	  whether or not that database (or its catalog) still exists.
 *
 * pgb_stored_list() reads the manifests of one catalog database or of
 * every database of this cluster, or of another cluster sharing the
 * storage (by system identifier; 'all': every cluster) (pgbackups.stored_backups(), which is also
 * how a restore of 'app::b003' finds its backup when "app" was dropped or
 * has no extension: bgw/transfer_job.c).  A manifest is trusted only if it is a pgbackups manifest of
 * a format version this code reads and of this cluster; the rest is left
 * to the storage check.  Parsing uses SPI (jsonb) in a subtransaction per
 * manifest, so the caller must be in a transaction.
 *
 * src/catalog/stored.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "catalog_spi.h"
#include "manifest.h"
#include "storage.h"
#include "stored.h"

#define MANIFEST_MAX_BYTES (1024 * 1024)
#define MANIFEST_TAIL ".dump" PGB_MANIFEST_SUFFIX

static const char *const fields_sql =
"SELECT j->>'format', j->>'version', j->>'system_identifier', j->'catalog_database'->>'name', "
"  j->>'id', j->>'kind', j->>'database', j->>'created_at', j->>'finished_at', "
"  j->>'archive_size', j->>'sha256', j->'table_rows', coalesce(j->>'pinned', 'false'), j->>'label' "
"FROM (SELECT $1::jsonb AS j) m";

static char *
copy_value(int col, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

/* parse and check one manifest; NULL with *why set when it is not usable */
static PgbStoredBackup *
parse(const char *json, const char *archive_url, const char *cluster, MemoryContext cxt,
	  char **why)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(json)};
	PgbStoredBackup *b;
	char	   *v[3];
	int			i;

	if (SPI_execute_with_args(fields_sql, 1, types, values, NULL, true, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
	{
		*why = "it could not be read";
		return NULL;
	}
	for (i = 0; i < 3; i++)
		v[i] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1);
	if (v[0] == NULL || strcmp(v[0], "pgbackups-manifest") != 0 || v[1] == NULL ||
		strcmp(v[1], "1") != 0)
	{
		*why = "it is not a pgbackups manifest of format version 1";
		return NULL;
	}
	if (v[2] == NULL || (strcmp(cluster, "all") != 0 && strcmp(v[2], cluster) != 0))
	{
		*why = "it belongs to another cluster";
		return NULL;
	}
	b = MemoryContextAllocZero(cxt, sizeof(PgbStoredBackup));
	b->cluster = MemoryContextStrdup(cxt, v[2]);
	b->catalog_database = copy_value(4, cxt);
	b->id = copy_value(5, cxt);
	b->kind = copy_value(6, cxt);
	b->database = copy_value(7, cxt);
	b->created_at = copy_value(8, cxt);
	b->finished_at = copy_value(9, cxt);
	b->archive_size = copy_value(10, cxt);
	b->sha256 = copy_value(11, cxt);
	b->table_rows = copy_value(12, cxt);
	b->pinned = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 13), "true") == 0;
	b->label = copy_value(14, cxt);
	b->archive_url = MemoryContextStrdup(cxt, archive_url);
	if (b->id == NULL || b->database == NULL || b->catalog_database == NULL)
	{
		*why = "it lacks its id or its databases";
		return NULL;
	}
	return b;
}

typedef struct ReadArgs
{
	const char *json;
	const char *archive_url;
	const char *cluster;
	MemoryContext cxt;
	PgbStoredBackup *result;
} ReadArgs;

static void
parse_in_subxact(void *arg)
{
	ReadArgs   *a = arg;
	char	   *why = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	a->result = parse(a->json, a->archive_url, a->cluster, a->cxt, &why);
	SPI_finish();
}

/* read and parse the manifest at url; NULL if unusable (the storage check reports it) */
static PgbStoredBackup *
read_one(const char *url, const char *cluster)
{
	ReadArgs	a;
	size_t		len;
	char	   *errmsg;

	a.json = pgb_storage_get_small(url, MANIFEST_MAX_BYTES, &len);
	if (a.json == NULL || strlen(a.json) != len)
		return NULL;
	a.archive_url = pnstrdup(url, strlen(url) - strlen(PGB_MANIFEST_SUFFIX));
	a.cluster = cluster;
	a.cxt = CurrentMemoryContext;
	a.result = NULL;
	if (!pgb_cat_try(parse_in_subxact, &a, &errmsg))
		return NULL;
	return a.result;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		n = strlen(s),
				m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

List *
pgb_stored_list(const char *catalog_db, const char *cluster)
{
	char	   *own = psprintf(UINT64_FORMAT, GetSystemIdentifier());
	char	   *prefix;
	List	   *out = NIL;
	ListCell   *lc;

	if (cluster == NULL)
		cluster = own;
	if (strcmp(cluster, "all") == 0)
		prefix = pgb_storage_url_for("");	/* every cluster sharing the storage */
	else if (strspn(cluster, "0123456789") != strlen(cluster) || cluster[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cluster \"%s\"", cluster),
				 errhint("Give a system identifier (pg_control_system()), or 'all'.")));
	else if (catalog_db && strcmp(cluster, own) == 0)
		prefix = pgb_catalog_storage_prefix_for(catalog_db);
	else
		prefix = pgb_storage_url_for(psprintf("%s/", cluster));
	foreach(lc, pgb_storage_list(prefix))
	{
		PgbStorageEntry *e = lfirst(lc);
		PgbStoredBackup *b;

		CHECK_FOR_INTERRUPTS();
		if (!ends_with(e->url, MANIFEST_TAIL))
			continue;
		b = read_one(e->url, cluster);
		if (b != NULL)
			out = lappend(out, b);
	}
	return out;
}
