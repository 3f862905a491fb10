/*-------------------------------------------------------------------------
 *
 * manifest.c
 *	  The manifest of a backup: a small versioned JSON document stored
 *	  beside its archive, at the archive's URL + ".manifest.json".  Storage
 *	  holds the truth, the catalog is its index: a manifest exists only for
 *	  a completed backup and holds everything needed to rebuild its
 *	  pgbackups.backups row.
 *
 * When it is written: by the capture's job worker once the archive is
 * durable (the storage writer's commit returned: link + directory fsync,
 * or CompleteMultipartUpload), in the same catalog transaction that marks
 * the row completed, so the row commits only after the manifest is stored
 * (pgb_manifest_complete); pin() and unpin() rewrite it when their
 * transaction commits (pgb_manifest_write_at_commit: built after the
 * catalog change, stored in the pre-commit callback, so a failed store
 * aborts the change and a rolled-back pin stores nothing).  delete() and
 * retention remove it before the archive (pgb_manifest_remove).
 *
 * The document, one JSON object with its keys in this order (built by
 * json_build_object, which keeps the order; times are ISO 8601 UTC with
 * microseconds, "2026-12-03T09:00:00.123456Z"; absent values are null):
 *
 *	format				"pgbackups-manifest"
 *	version				1 (this layout; a reader refuses a version it does not know)
 *	id					the backup id: b001 (manual) or a001 (scheduled)
 *	kind				"manual" or "scheduled"
 *	database			the source database, whose data the archive holds
 *	catalog_database	{"name", "oid"}: the database whose catalog recorded it
 *	system_identifier	the cluster's system identifier (pg_control_system()),
 *						as a string (a 64-bit number does not fit a JSON double)
 *	label				the capture's label
 *	requested_by		the role that asked for it
 *	created_at			when it was requested
 *	started_at			when its worker started
 *	finished_at			when it completed (the catalog row's finished_at)
 *	archive_url			the archive's URL when it was written
 *	archive_key			its key below the storage root:
 *						<system identifier>/<catalog database>/<id>-<time>.dump
 *	archive_size		its size in bytes
 *	sha256				SHA-256 of the archive, hex
 *	compression			none, gzip, lz4 or zstd
 *	compression_level	the level asked for (null: the method's default)
 *	archive_version		the pg_dump custom format version, e.g. "1.14"
 *	pg_dump_version		the pg_dump that wrote the schema
 *	server_version		the source server's server_version (text)
 *	server_version_num	the same as a number (150010), from that text
 *	parallel			COPY streams asked for
 *	tables				tables with data in the archive
 *	rows				rows in the archive, all tables
 *	raw_size			uncompressed data bytes
 *	source_size			the source database's size at capture
 *	table_rows			{"schema.table": rows, ...} at capture
 *	schedule			a scheduled backup's schedule (null: manual)
 *	scheduled_for		the schedule slot it was taken for
 *	pinned				true while pgbackups.pin() keeps it
 *
 * src/catalog/manifest.c
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
#include "guc.h"
#include "manifest.h"
#include "storage.h"

/* a timestamptz column as ISO 8601 UTC */
#define ISO_UTC(col) \
	"pg_catalog.to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* $1 id, $2 this database's OID, $3 the system identifier */
static const char *const manifest_sql =
"SELECT pg_catalog.json_build_object("
"'format', '" PGB_MANIFEST_FORMAT "', "
"'version', " CppAsString2(PGB_MANIFEST_VERSION) ", "
"'id', b.id, "
"'kind', b.kind, "
"'database', b.database, "
"'catalog_database', pg_catalog.json_build_object("
"  'name', pg_catalog.current_database(), 'oid', $2::pg_catalog.int8), "
"'system_identifier', $3, "
"'label', b.label, "
"'requested_by', b.requested_by, "
"'created_at', " ISO_UTC("b.created_at") ", "
"'started_at', " ISO_UTC("b.started_at") ", "
"'finished_at', " ISO_UTC("b.finished_at") ", "
"'archive_url', b.location, "
"'archive_key', pg_catalog.substring(b.location, '([^/]+/[^/]+/[^/]+)$'), "
"'archive_size', b.archive_size, "
"'sha256', b.sha256, "
"'compression', b.compression, "
"'compression_level', b.compression_level, "
"'archive_version', b.archive_version, "
"'pg_dump_version', b.pg_dump_version, "
"'server_version', b.server_version, "
"'server_version_num', CASE WHEN b.server_version ~ '^[0-9]+\\.[0-9]+' THEN "
"  pg_catalog.split_part(b.server_version, '.', 1)::pg_catalog.int4 * 10000 + "
"  pg_catalog.substring(b.server_version, '^[0-9]+\\.([0-9]+)')::pg_catalog.int4 END, "
"'parallel', b.parallel, "
"'tables', b.tables, "
"'rows', b.rows, "
"'raw_size', b.raw_size, "
"'source_size', b.source_size, "
"'table_rows', b.table_rows, "
"'schedule', b.schedule, "
"'scheduled_for', " ISO_UTC("b.scheduled_for") ", "
"'pinned', b.pinned)::pg_catalog.text || E'\\n', b.location "
"FROM pgbackups.backups b WHERE b.id = $1 AND b.status = 'completed'";

/* a manifest to store when the transaction commits (pin, unpin) */
typedef struct PendingManifest
{
	char	   *id;
	char	   *url;			/* the archive's */
	char	   *json;
	int			nest_level;		/* the (sub)transaction that built it */
} PendingManifest;

/* PendingManifest entries, oldest first, in TopTransactionContext */
static List *pending = NIL;
static bool callbacks_registered = false;

char *
pgb_manifest_url(const char *archive_url)
{
	return psprintf("%s%s", archive_url, PGB_MANIFEST_SUFFIX);
}

char *
pgb_manifest_build(const char *id, char **archive_url)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[3] = {TEXTOID, OIDOID, TEXTOID};
	Datum		values[3];
	char	   *json = NULL;

	values[0] = CStringGetTextDatum(id);
	values[1] = ObjectIdGetDatum(MyDatabaseId);
	values[2] = CStringGetTextDatum(psprintf(UINT64_FORMAT, GetSystemIdentifier()));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* not read-only: a fresh snapshot that sees this transaction's changes */
	if (SPI_execute_with_args(manifest_sql, 3, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not build the manifest of backup %s", id);
	if (SPI_processed == 1)
	{
		json = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1));
		*archive_url = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
																SPI_tuptable->tupdesc, 2));
	}
	SPI_finish();
	return json;
}

/*
 * store
 *		Put the manifest of backup id (archive at url): one durable write of
 *		the whole document.  A failure keeps its SQLSTATE and names the
 *		backup.
 */
static void
store(const char *id, const char *url, const char *json)
{
	MemoryContext ctx = CurrentMemoryContext;
	char	   *murl = pgb_manifest_url(url);

	PG_TRY();
	{
		pgb_storage_put_small(murl, json, strlen(json));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(ctx);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("could not store the manifest of backup %s", id),
				 edata->detail ?
				 errdetail("Writing \"%s\" failed: %s. %s", murl, edata->message, edata->detail) :
				 errdetail("Writing \"%s\" failed: %s.", murl, edata->message)));
	}
	PG_END_TRY();
}

void
pgb_manifest_write(const char *id)
{
	char	   *url;
	char	   *json = pgb_manifest_build(id, &url);

	if (json == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backup %s is not completed", id),
				 errdetail("Only a completed backup has a manifest.")));
	store(id, url, json);
}

void
pgb_manifest_complete(const char *id, const PgbCaptureResult *res)
{
	pgb_cat_begin("pgbackups: finish backup");
	pgb_catalog_mark_completed_in_tx(id, res);
	pgb_debug_fault("after_archive");	/* tests: a crash before the manifest */
	pgb_manifest_write(id);
	pgb_debug_fault("after_manifest");	/* tests: before the catalog commit */
	pgb_cat_commit();
}

void
pgb_manifest_remove(const char *archive_url)
{
	(void) pgb_storage_delete(pgb_manifest_url(archive_url));
}

/*
 * store_pending
 *		At pre-commit: store the newest pending manifest of each backup.  An
 *		error aborts the transaction, so the catalog keeps the manifest's
 *		value.
 */
static void
store_pending(void)
{
	List	   *todo = pending;
	ListCell   *lc;

	pending = NIL;
	foreach(lc, todo)
	{
		PendingManifest *p = lfirst(lc);
		ListCell   *later;
		bool		superseded = false;

		for_each_cell(later, todo, lnext(todo, lc))
			if (strcmp(((PendingManifest *) lfirst(later))->id, p->id) == 0)
				superseded = true;
		if (!superseded)
			store(p->id, p->url, p->json);
	}
}

static void
manifest_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			store_pending();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (pending != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that pinned or unpinned a backup"),
						 errdetail("A backup's manifest is rewritten when the transaction commits.")));
			break;
		default:
			pending = NIL;		/* its memory went with the transaction */
			break;
	}
}

/* a rolled-back subtransaction's manifests are not stored; a committed one's move up */
static void
manifest_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	foreach(lc, pending)
	{
		PendingManifest *p = lfirst(lc);

		if (p->nest_level < level)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			pending = foreach_delete_current(pending, lc);
		else if (event == SUBXACT_EVENT_COMMIT_SUB)
			p->nest_level = level - 1;
	}
}

void
pgb_manifest_write_at_commit(const char *id)
{
	char	   *url;
	char	   *json = pgb_manifest_build(id, &url);
	MemoryContext old;
	PendingManifest *p;

	if (json == NULL)
		return;					/* not completed: it has no manifest yet */
	if (!callbacks_registered)
	{
		RegisterXactCallback(manifest_xact_callback, NULL);
		RegisterSubXactCallback(manifest_subxact_callback, NULL);
		callbacks_registered = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	p = palloc(sizeof(PendingManifest));
	p->id = pstrdup(id);
	p->url = pstrdup(url);
	p->json = pstrdup(json);
	p->nest_level = GetCurrentTransactionNestLevel();
	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
}
