/*-------------------------------------------------------------------------
 *
 * storage_check.c
 *	  The health of this cluster's storage: what storage holds under
 *	  <root>/<system identifier>/ (every catalog database's prefix, dropped
 *	  databases included) against the manifests and this catalog
 *	  (pgb_storage_check), and the removal of the orphans a crash leaves
 *	  (pgb_storage_cleanup).
 *
 * The findings, one per object (or per catalog database for a summary):
 *
 *	archive without manifest	a *.dump with no manifest beside it: a capture
 *								that died between its archive and its manifest
 *								(crash leftover), with its age
 *	manifest without archive	a manifest whose archive is not in storage
 *	invalid manifest			a manifest that does not parse, is of another
 *								format or version, cluster or catalog database,
 *								or names a size its archive does not have
 *	catalog row without archive	(this catalog) a completed or missing backup
 *								whose archive is not in storage
 *	catalog row without manifest (this catalog) a completed backup whose
 *								archive has no manifest (older than 1.5.0:
 *								rescan() writes it)
 *	database					per catalog database prefix (NULL: objects
 *								outside any): objects and total size
 *
 * An object's age comes from the UTC time in its name
 * (<id>-YYYYMMDDTHHMMSSZ.dump, the time the backup was requested), not
 * from storage (an S3 listing's times are the upload's).  The classification
 * and the checks of a manifest are rescan's (rescan.c).
 *
 * The cleanup removes archives without manifest and manifests without
 * archive at least older_than old, and never: an object of this catalog's
 * backups that are pending, running, completed or missing (their archive
 * or its manifest); anything under the prefix of a database where a
 * pgbackups job worker runs now (other databases' catalogs cannot be read
 * from here: for their prefixes the manifest rule and the age are all it
 * goes by, plus that); an object whose age is unknown; an invalid manifest
 * (someone should look at it).  Storage is listed before the catalog is
 * read: a backup row exists before its archive does.
 *
 * Runs inside a transaction with SPI, each manifest checked in a
 * subtransaction so that a bad one is reported and the others go on.
 *
 * src/catalog/storage_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "catalog_spi.h"
#include "manifest.h"
#include "rescan.h"
#include "storage.h"
#include "storage_check.h"

#define MANIFEST_MAX_BYTES (1024 * 1024)

typedef struct CatalogRow
{
	char	   *id;
	char	   *status;
	char	   *location;
} CatalogRow;

typedef struct CheckState
{
	MemoryContext cxt;			/* where findings live (outlives SPI) */
	char	   *cluster_prefix; /* <root>/<system identifier>/ */
	char	   *own_prefix;		/* this catalog's prefix */
	TimestampTz now;
	List	   *entries;		/* the listing, PgbStorageEntry * */
	List	   *rows;			/* this catalog's backups, CatalogRow * */
	List	   *busy;			/* prefixes where a job worker runs, char * */
	List	   *findings;		/* PgbStorageFinding * */
} CheckState;

/* a catalog database's name from its prefix component (percent-decoded) */
static char *
decode_name(const char *component)
{
	StringInfoData b;
	const char *p;

	initStringInfo(&b);
	for (p = component; *p; p++)
	{
		unsigned int c;

		if (p[0] == '%' && isxdigit((unsigned char) p[1]) && isxdigit((unsigned char) p[2]) &&
			sscanf(p + 1, "%2x", &c) == 1 && c != 0)
		{
			appendStringInfoChar(&b, (char) c);
			p += 2;
		}
		else
			appendStringInfoChar(&b, *p);
	}
	if (!pg_verify_mbstr(GetDatabaseEncoding(), b.data, b.len, true))
		return pstrdup(component);
	return b.data;
}

/* the object's name: what follows the last slash */
static const char *
base_name(const char *url)
{
	const char *slash = strrchr(url, '/');

	return slash ? slash + 1 : url;
}

/* the backup id at the start of an object's name (b001-...), or NULL */
static char *
name_id(const char *url)
{
	const char *name = base_name(url);
	size_t		n = strspn(name + 1, "0123456789");

	if ((name[0] != 'a' && name[0] != 'b') || n == 0 || name[n + 1] != '-')
		return NULL;
	return pnstrdup(name, n + 1);
}

/* the object's age from the UTC time in its name, or NULL */
static Interval *
name_age(const char *url, TimestampTz now)
{
	const char *dash = strchr(base_name(url), '-');
	struct pg_tm tm;
	Timestamp	t;
	char		z;

	memset(&tm, 0, sizeof(tm));
	if (dash == NULL ||
		sscanf(dash + 1, "%4d%2d%2dT%2d%2d%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 || z != 'Z' ||
		tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
		tm2timestamp(&tm, 0, NULL, &t) != 0)
		return NULL;
	return DatumGetIntervalP(DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(now),
												 TimestampGetDatum(t)));
}

static PgbStorageFinding *
add(CheckState *st, const char *finding, const char *database, const char *id,
	const char *url, int64 size, const char *detail)
{
	MemoryContext old = MemoryContextSwitchTo(st->cxt);
	PgbStorageFinding *f = palloc0(sizeof(PgbStorageFinding));

	f->finding = finding;
	f->database = database ? pstrdup(database) : NULL;
	f->id = id ? pstrdup(id) : NULL;
	f->url = url ? pstrdup(url) : NULL;
	f->size = size;
	f->objects = -1;
	f->age = url ? name_age(url, st->now) : NULL;
	f->detail = detail ? pstrdup(detail) : NULL;
	st->findings = lappend(st->findings, f);
	MemoryContextSwitchTo(old);
	return f;
}

/* this catalog's row whose archive is at url (or whose manifest, if manifest) */
static CatalogRow *
row_of(CheckState *st, const char *url, bool manifest)
{
	ListCell   *lc;

	foreach(lc, st->rows)
	{
		CatalogRow *r = lfirst(lc);

		if (strcmp(manifest ? pgb_manifest_url(r->location) : r->location, url) == 0)
			return r;
	}
	return NULL;
}

static bool
protected_status(const char *status)
{
	return strcmp(status, "pending") == 0 || strcmp(status, "running") == 0 ||
		strcmp(status, "completed") == 0 || strcmp(status, "missing") == 0;
}

/* this catalog's backups, and the prefixes of databases with a job worker now */
static void
load_catalog(CheckState *st)
{
	uint64		i;

	if (SPI_execute("SELECT id, status, location FROM pgbackups.backups "
					"WHERE location IS NOT NULL ORDER BY id", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the backups");
	for (i = 0; i < SPI_processed; i++)
	{
		CatalogRow *r = palloc(sizeof(CatalogRow));

		r->id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		r->status = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		r->location = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		st->rows = lappend(st->rows, r);
	}
	if (SPI_execute("SELECT DISTINCT datname::text FROM pg_catalog.pg_stat_activity "
					"WHERE backend_type = 'pgbackups job' AND datname IS NOT NULL",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the job workers");
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *datname = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		st->busy = lappend(st->busy, pgb_catalog_storage_prefix_for(datname));
	}
}

typedef struct ProblemArgs
{
	const char *json;
	const char *database;
	PgbStorageEntry *archive;
	char	  **id;
	char	  **status;
	char	   *why;
} ProblemArgs;

static void
problem_step(void *arg)
{
	ProblemArgs *a = arg;
	char	   *mid;
	char	   *mstatus;
	const char *w = pgb_rescan_check_manifest(a->json, a->database, a->archive, &mid, &mstatus);

	a->why = w ? pstrdup(w) : NULL;
	if (*a->id == NULL && strcmp(mid, "?") != 0)
		*a->id = pstrdup(mid);	/* the object's name goes first */
	*a->status = mstatus ? pstrdup(mstatus) : NULL;
}

/* why the manifest at m is invalid (in a subtransaction), or NULL; sets *id, *status */
static char *
manifest_problem(const PgbStorageEntry *m, const char *database, List *archives,
				 char **id, char **status)
{
	char	   *archive_url = pnstrdup(m->url, strlen(m->url) - strlen(PGB_MANIFEST_SUFFIX));
	ProblemArgs a;
	size_t		len;
	char	   *errmsg;

	*id = name_id(m->url);
	*status = NULL;
	if (m->size > MANIFEST_MAX_BYTES)
		return "it is larger than 1 MB";
	a.json = pgb_storage_get_small(m->url, MANIFEST_MAX_BYTES, &len);
	if (a.json == NULL)
		return NULL;			/* deleted meanwhile */
	if (strlen(a.json) != len)
		return "it is not text";
	a.database = database;
	a.archive = pgb_rescan_find_entry(archives, archive_url);
	a.id = id;
	a.status = status;
	a.why = NULL;
	if (!pgb_cat_try(problem_step, &a, &errmsg))
		return errmsg;
	return a.why;
}

/* the manifests under one catalog database's prefix */
static void
check_manifests(CheckState *st, const char *database, bool own, bool busy,
				PgbStorageListing *l)
{
	ListCell   *lc;

	foreach(lc, l->manifests)
	{
		PgbStorageEntry *m = lfirst(lc);
		char	   *id;
		char	   *status;
		char	   *why;
		CatalogRow *r;
		PgbStorageFinding *f;

		CHECK_FOR_INTERRUPTS();
		why = manifest_problem(m, database, l->archives, &id, &status);
		if (why == NULL)
			continue;
		if (strcmp(why, pgb_rescan_no_archive) != 0)
		{
			add(st, "invalid manifest", database, id, m->url, m->size, why);
			continue;
		}
		r = own ? row_of(st, m->url, true) : NULL;
		f = add(st, "manifest without archive", database, id, m->url, m->size,
				r && protected_status(r->status) ?
				psprintf("backup %s of this catalog is %s: its manifest is kept", r->id, r->status) :
				busy ? "a job worker of this database runs now: kept" :
				"its archive is not in storage");
		f->removable = !(r && protected_status(r->status)) && !busy;
	}
}

/* the archives under one catalog database's prefix that have no manifest */
static void
check_archives(CheckState *st, const char *database, bool own, bool busy,
			   PgbStorageListing *l)
{
	ListCell   *lc;

	foreach(lc, l->archives)
	{
		PgbStorageEntry *a = lfirst(lc);
		CatalogRow *r;
		PgbStorageFinding *f;
		char	   *detail;

		if (pgb_rescan_find_entry(l->manifests, pgb_manifest_url(a->url)) != NULL)
			continue;
		r = own ? row_of(st, a->url, false) : NULL;
		if (r && (strcmp(r->status, "pending") == 0 || strcmp(r->status, "running") == 0))
			continue;			/* a capture in progress */
		if (r && strcmp(r->status, "completed") == 0)
		{
			add(st, "catalog row without manifest", database, r->id, a->url, a->size,
				"a completed backup without its manifest (taken before 1.5.0): rescan() writes it");
			continue;
		}
		if (r && strcmp(r->status, "missing") == 0)
			detail = psprintf("backup %s of this catalog is missing: kept", r->id);
		else if (r)
			detail = psprintf("backup %s of this catalog is %s: a crash leftover", r->id, r->status);
		else if (busy)
			detail = "a job worker of this database runs now: kept";
		else
			detail = own ? "no backup of this catalog: a crash leftover" :
				"a capture that never completed (crash leftover)";
		f = add(st, "archive without manifest", database, r ? r->id : name_id(a->url),
				a->url, a->size, detail);
		f->removable = !(r && protected_status(r->status)) && !busy;
	}
}

/* this catalog's completed or missing backups whose archive is gone */
static void
check_rows(CheckState *st)
{
	ListCell   *lc;
	size_t		plen = strlen(st->cluster_prefix);

	foreach(lc, st->rows)
	{
		CatalogRow *r = lfirst(lc);

		if ((strcmp(r->status, "completed") != 0 && strcmp(r->status, "missing") != 0) ||
			strncmp(r->location, st->cluster_prefix, plen) != 0 ||
			pgb_rescan_find_entry(st->entries, r->location) != NULL)
			continue;
		add(st, "catalog row without archive", get_database_name(MyDatabaseId), r->id,
			r->location, -1,
			strcmp(r->status, "missing") == 0 ? "rescan() marked it missing" :
			"completed, but its archive is gone: rescan() marks it missing");
	}
}

/* one catalog database's prefix: manifests, archives and a summary */
static void
check_database(CheckState *st, const char *component)
{
	char	   *prefix = psprintf("%s%s/", st->cluster_prefix, component);
	char	   *database = decode_name(component);
	bool		own = strcmp(prefix, st->own_prefix) == 0;
	bool		busy = false;
	PgbStorageListing l;
	PgbStorageFinding *sum;
	ListCell   *lc;

	foreach(lc, st->busy)
		busy |= strcmp((char *) lfirst(lc), prefix) == 0;
	pgb_rescan_classify(prefix, st->entries, &l);
	check_manifests(st, database, own, busy, &l);
	check_archives(st, database, own, busy, &l);
	sum = add(st, "database", database, NULL, NULL, 0, NULL);
	sum->objects = 0;
	foreach(lc, st->entries)
	{
		PgbStorageEntry *e = lfirst(lc);

		if (strncmp(e->url, prefix, strlen(prefix)) == 0)
		{
			sum->objects++;
			sum->size += e->size;
		}
	}
	sum->detail = MemoryContextStrdup(st->cxt, psprintf("prefix %s", prefix));
}

/* objects directly under the cluster's prefix, outside any database's */
static void
check_loose(CheckState *st)
{
	ListCell   *lc;
	PgbStorageFinding *sum = NULL;
	size_t		plen = strlen(st->cluster_prefix);

	foreach(lc, st->entries)
	{
		PgbStorageEntry *e = lfirst(lc);

		if (strchr(e->url + plen, '/') != NULL)
			continue;
		if (sum == NULL)
		{
			sum = add(st, "database", NULL, NULL, NULL, 0,
					  "objects outside any catalog database's prefix");
			sum->objects = 0;
		}
		sum->objects++;
		sum->size += e->size;
	}
}

static int
cmp_component(const ListCell *a, const ListCell *b)
{
	return strcmp(strVal(lfirst(a)), strVal(lfirst(b)));
}

/* the distinct first components below the cluster's prefix, sorted */
static List *
components(CheckState *st)
{
	List	   *out = NIL;
	ListCell   *lc;
	size_t		plen = strlen(st->cluster_prefix);

	foreach(lc, st->entries)
	{
		PgbStorageEntry *e = lfirst(lc);
		const char *rest = e->url + plen;
		const char *slash = strchr(rest, '/');
		char	   *c;

		if (slash == NULL)
			continue;
		c = pnstrdup(rest, slash - rest);
		if (list_member(out, makeString(c)))
			continue;
		out = lappend(out, makeString(c));
	}
	list_sort(out, cmp_component);
	return out;
}

static void
run_check(CheckState *st)
{
	ListCell   *lc;
	List	   *dbs;

	memset(st, 0, sizeof(*st));
	st->cxt = CurrentMemoryContext;
	st->cluster_prefix = pgb_storage_url_for(psprintf(UINT64_FORMAT "/", GetSystemIdentifier()));
	st->own_prefix = pgb_catalog_storage_prefix();
	st->now = GetCurrentTimestamp();
	st->entries = pgb_storage_list(st->cluster_prefix);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	load_catalog(st);
	dbs = components(st);
	foreach(lc, dbs)
		check_database(st, strVal(lfirst(lc)));
	check_loose(st);
	check_rows(st);
	SPI_finish();
}

List *
pgb_storage_check(void)
{
	CheckState	st;

	run_check(&st);
	return st.findings;
}

List *
pgb_storage_cleanup(const Interval *older_than, bool dry_run)
{
	CheckState	st;
	List	   *out = NIL;
	ListCell   *lc;

	run_check(&st);
	foreach(lc, st.findings)
	{
		PgbStorageFinding *f = lfirst(lc);

		if (!f->removable || f->age == NULL ||
			DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(f->age),
											  IntervalPGetDatum(older_than))) < 0)
			continue;
		CHECK_FOR_INTERRUPTS();
		if (!dry_run)
		{
			(void) pgb_storage_delete(f->url);
			f->removed = true;
			ereport(LOG,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg("pgbackups: storage cleanup removed %s (%s)", f->url, f->finding)));
		}
		out = lappend(out, f);
	}
	return out;
}
