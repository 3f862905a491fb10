/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The only code that touches the pgbackups.* tables.
 *
 * Each function is one transaction of its own, started and committed here
 * with SPI, so a background worker can record state changes as they
 * happen.  Arguments are passed as text parameters, never spliced into SQL.
 * The NOTIFY on state changes is sent by a trigger on pgbackups.backups.
 *
 * src/catalog/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/string.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "commands/dbcommands.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "access.h"
#include "capture_result.h"
#include "catalog.h"
#include "catalog_spi.h"
#include "storage.h"
#include "job_kind.h"

/* the table that holds a job of this id */
static const char *
job_table(const char *id)
{
	return pgb_job_kind(id)->table;
}

/* a status query over every job table */
#define ALL_JOBS \
	"(SELECT id, status, created_at FROM pgbackups.backups " \
	" UNION ALL SELECT id, status, created_at FROM pgbackups.restores " \
	" UNION ALL SELECT id, status, created_at FROM pgbackups.copies) j"

/* the installed version of the extension in this database, or NULL */
char *
pgb_catalog_extension_version(void)
{
	char	   *version = NULL;

	pgb_cat_begin("pgbackups: extension version");
	if (pgb_cat_run("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgbackups'",
					0, NULL) == 1)
		version = pgb_cat_copy(pgb_cat_get(0, 1));
	pgb_cat_commit();
	return version;
}

static char *
sanitize(const char *name)
{
	StringInfoData b;
	const unsigned char *p;

	initStringInfo(&b);
	for (p = (const unsigned char *) name; *p; p++)
	{
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
			appendStringInfoChar(&b, *p);
		else
			appendStringInfo(&b, "%%%02X", *p);
	}
	return b.data;
}

/*
 * pgb_catalog_storage_prefix
 *		Where this catalog's archives and manifests live:
 *		<storage root>/<system identifier>/<catalog database>/, the
 *		database name percent-encoded.
 */
char *
pgb_catalog_storage_prefix(void)
{
	return pgb_catalog_storage_prefix_for(get_database_name(MyDatabaseId));
}

/* the same for the catalog of any database of this cluster, by name */
char *
pgb_catalog_storage_prefix_for(const char *dbname)
{
	return pgb_storage_url_for(psprintf(UINT64_FORMAT "/%s/", GetSystemIdentifier(),
										sanitize(dbname)));
}

/* the storage URL of a new archive of backup id: prefix, id, UTC time */
static char *
new_archive_url(const char *id)
{
	char		ts[32];
	pg_time_t	now = (pg_time_t) time(NULL);

	pg_strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", pg_gmtime(&now));
	return psprintf("%s%s-%s.dump", pgb_catalog_storage_prefix(), id, ts);
}

/*
 * pgb_catalog_assign_location
 *		A pending backup recorded without a storage location (by a library
 *		older than its catalog's update) gets one now, recorded in its row.
 */
char *
pgb_catalog_assign_location(const char *id)
{
	char	   *url;

	pgb_cat_begin("pgbackups: record archive location");
	url = new_archive_url(id);
	{
		const char *args[2] = {id, url};

		pgb_cat_run("UPDATE pgbackups.backups SET location = $2 WHERE id = $1 AND location IS NULL",
					2, args);
	}
	/* built in the transaction's memory, which the commit frees */
	url = pgb_cat_copy(url);
	pgb_cat_commit();
	return url;
}

/*
 * pgb_catalog_insert_backup
 *		Record a pending backup; returns its id (b001, a001, ...).  Its
 *		storage key carries the cluster's system identifier, this
 *		database's name, the id and a UTC timestamp, so no two databases
 *		or clusters sharing a bucket collide.
 */
char *
pgb_catalog_insert_backup_in_tx(const char *kind, const char *database,
								const char *compression, int level, int parallel,
								const char *label, const char *requested_by,
								const char *schedule, const char *scheduled_for)
{
	char	   *id;
	char	   *num;
	char	   *url;
	char		levelbuf[16];
	char		parbuf[16];
	const char *prefix = strcmp(kind, "scheduled") == 0 ? "a" : "b";

	/* a sequence per kind: ids are never reused, even after delete() */
	pgb_cat_run(strcmp(kind, "scheduled") == 0 ?
				"SELECT pg_catalog.nextval('pgbackups.scheduled_num_seq')" :
				"SELECT pg_catalog.nextval('pgbackups.manual_num_seq')", 0, NULL);
	num = pgb_cat_get(0, 1);
	id = psprintf("%s%03d", prefix, atoi(num));
	url = new_archive_url(id);
	snprintf(levelbuf, sizeof(levelbuf), "%d", level);
	snprintf(parbuf, sizeof(parbuf), "%d", parallel);
	{
		const char *args[12] = {id, num, kind, database, compression,
			level >= 0 ? levelbuf : NULL, parbuf, label, requested_by, schedule,
		scheduled_for, url};

		pgb_cat_run("INSERT INTO pgbackups.backups (id, num, kind, database, compression, "
					"compression_level, parallel, label, requested_by, schedule, scheduled_for, "
					"location) "
					"VALUES ($1, $2::int, $3, $4, $5, $6::int, $7::int, $8, $9, $10, "
					"$11::timestamptz, $12)", 12, args);
		pgb_cat_run("INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, "
					"CASE WHEN $10 IS NULL THEN 'backup requested' "
					"ELSE 'scheduled backup for ' || $11 || ' (schedule ' || $10 || ')' END)",
					11, args);
	}
	return pgb_cat_copy(id);
}

char *
pgb_catalog_insert_backup(const char *kind, const char *database,
						  const char *compression, int level, int parallel,
						  const char *label, const char *requested_by)
{
	char	   *id;

	pgb_cat_begin("pgbackups: record backup");
	id = pgb_catalog_insert_backup_in_tx(kind, database, compression, level, parallel,
										 label, requested_by, NULL, NULL);
	pgb_cat_commit();
	return id;
}

PgbBackupRow *
pgb_catalog_get_backup(const char *id)
{
	PgbBackupRow *row = NULL;
	const char *args[1] = {id};
	const char *sql;

	if (id[0] == 'r')
		sql = "SELECT id, 'restore', target, status, '', -1, parallel, location, NULL, false, NULL, NULL "
			"FROM pgbackups.restores WHERE id = $1";
	else if (id[0] == 'c')
		sql = "SELECT id, 'copy', target, status, '', -1, parallel, NULL, NULL, false, NULL, NULL "
			"FROM pgbackups.copies WHERE id = $1";
	else
		sql = "SELECT id, kind, database, status, compression, coalesce(compression_level, -1), "
			"parallel, location, table_rows::text, pinned, schedule, sha256 FROM pgbackups.backups WHERE id = $1";
	pgb_cat_begin("pgbackups: read job");
	if (pgb_cat_run(sql, 1, args) == 1)
	{
		row = MemoryContextAllocZero(pgb_cat_caller_ctx, sizeof(PgbBackupRow));
		row->id = pgb_cat_copy(pgb_cat_get(0, 1));
		row->kind = pgb_cat_copy(pgb_cat_get(0, 2));
		row->database = pgb_cat_copy(pgb_cat_get(0, 3));
		row->status = pgb_cat_copy(pgb_cat_get(0, 4));
		row->compression = pgb_cat_copy(pgb_cat_get(0, 5));
		row->level = atoi(pgb_cat_get(0, 6));
		row->parallel = atoi(pgb_cat_get(0, 7));
		row->location = pgb_cat_copy(pgb_cat_get(0, 8));
		row->table_rows = pgb_cat_copy(pgb_cat_get(0, 9));
		row->pinned = strcmp(pgb_cat_get(0, 10), "t") == 0;
		row->schedule = pgb_cat_copy(pgb_cat_get(0, 11));
		row->sha256 = pgb_cat_copy(pgb_cat_get(0, 12));
	}
	pgb_cat_commit();
	return row;
}

/* the newest completed backup of this catalog, or NULL */
char *
pgb_catalog_latest_completed(Oid roleid)
{
	char	   *id = NULL;
	uint64		n,
				i;

	pgb_cat_begin("pgbackups: find latest backup");
	n = pgb_cat_run("SELECT id, database FROM pgbackups.backups WHERE status = 'completed' "
					"ORDER BY finished_at DESC, num DESC", 0, NULL);
	for (i = 0; i < n && id == NULL; i++)
		if (pgb_role_may_read_database(roleid, pgb_cat_get(i, 2)))
			id = pgb_cat_copy(pgb_cat_get(i, 1));
	pgb_cat_commit();
	return id;
}

/*
 * pgb_catalog_insert_transfer
 *		Record a pending restore (kind 'r') or copy (kind 'c').  For a
 *		restore, source is the backup's name (b001, db::b001 or a URL) and
 *		location its archive; for a copy, source is the source database.
 */
char *
pgb_catalog_insert_transfer(const PgbTransferRecord *t)
{
	char	   *id;
	char	   *num;
	char		parbuf[16];

	snprintf(parbuf, sizeof(parbuf), "%d", t->parallel);
	pgb_cat_begin("pgbackups: record job");
	pgb_cat_run(t->kind == 'r' ? "SELECT pg_catalog.nextval('pgbackups.restore_num_seq')" :
				"SELECT pg_catalog.nextval('pgbackups.copy_num_seq')", 0, NULL);
	num = pgb_cat_get(0, 1);
	id = psprintf("%c%03d", t->kind, atoi(num));
	if (t->kind == 'r')
	{
		const char *args[12] = {id, num, t->source, t->location, t->target, parbuf,
			t->keep_owner ? "true" : "false", t->keep_acl ? "true" : "false", t->requested_by,
		t->expected_rows, t->sha256, t->source_database};

		pgb_cat_run("INSERT INTO pgbackups.restores (id, num, backup, location, target, parallel, "
					"keep_owner, keep_acl, requested_by, expected_rows, sha256, source_database) "
					"VALUES ($1, $2::int, $3, $4, $5, $6::int, $7::boolean, $8::boolean, $9, $10::jsonb, $11, $12)",
					12, args);
		pgb_cat_run("INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, 'restore requested')", 1, args);
	}
	else
	{
		const char *args[7] = {id, num, t->source, t->target, parbuf, t->requested_by,
		t->source_database};

		pgb_cat_run("INSERT INTO pgbackups.copies (id, num, source, target, parallel, requested_by, "
					"source_database) VALUES ($1, $2::int, $3, $4, $5::int, $6, $7)", 7, args);
		pgb_cat_run("INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, 'copy requested')", 1, args);
	}
	id = pgb_cat_copy(id);
	pgb_cat_commit();
	return id;
}

char *
pgb_catalog_newest_unfinished(void)
{
	char	   *id = NULL;

	pgb_cat_begin("pgbackups: find unfinished job");
	if (pgb_cat_run("SELECT id FROM " ALL_JOBS " WHERE status IN ('pending', 'running') "
			"ORDER BY created_at DESC, id DESC LIMIT 1", 0, NULL) == 1)
		id = pgb_cat_copy(pgb_cat_get(0, 1));
	pgb_cat_commit();
	return id;
}

static List *
ids_with_status(const char *status)
{
	List	   *ids = NIL;
	uint64		n,
				i;
	const char *args[1] = {status};

	pgb_cat_begin("pgbackups: list backups");
	n = pgb_cat_run("SELECT id FROM " ALL_JOBS " WHERE status = $1 ORDER BY created_at, id", 1, args);
	for (i = 0; i < n; i++)
		ids = pgb_cat_lappend(ids, pgb_cat_copy(pgb_cat_get(i, 1)));
	pgb_cat_commit();
	return ids;
}

List *
pgb_catalog_running_backups(void)
{
	return ids_with_status("running");
}

List *
pgb_catalog_pending_backups(void)
{
	return ids_with_status("pending");
}

void
pgb_catalog_mark_running(const char *id, int pid)
{
	char		pidbuf[16];
	const char *args[2] = {id, pidbuf};

	snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
	pgb_cat_begin("pgbackups: start job");
	pgb_cat_run(psprintf("UPDATE %s SET status = 'running', started_at = now(), "
				 "worker_pid = $2::int WHERE id = $1", job_table(id)), 2, args);
	pgb_cat_commit();
}

/*
 * pgb_catalog_mark_completed_in_tx
 *		Record a capture's figures and mark the backup completed, inside an
 *		open catalog transaction (catalog_spi.h): the job worker stores the
 *		backup's manifest in the same transaction (manifest.c), so the row
 *		becomes completed exactly when its manifest is durable.
 */
void
pgb_catalog_mark_completed_in_tx(const char *id, const PgbCaptureResult *res)
{
	char		tables[16],
				rows[32],
				raw[32],
				size[32],
				src[32];
	const char *args[12];

	snprintf(tables, sizeof(tables), "%d", res->tables);
	snprintf(rows, sizeof(rows), INT64_FORMAT, res->rows);
	snprintf(raw, sizeof(raw), INT64_FORMAT, res->raw_size);
	snprintf(size, sizeof(size), INT64_FORMAT, res->archive_size);
	snprintf(src, sizeof(src), INT64_FORMAT, res->source_size);
	args[0] = id;
	args[1] = tables;
	args[2] = rows;
	args[3] = raw;
	args[4] = size;
	args[5] = src;
	args[6] = res->sha256;
	args[7] = res->table_rows_json;
	args[8] = res->archive_version;
	args[9] = res->pgdump_version;
	args[10] = res->server_version;
	pgb_cat_run("UPDATE pgbackups.backups SET status = 'completed', finished_at = now(), "
		"tables = $2::int, rows = $3::bigint, raw_size = $4::bigint, archive_size = $5::bigint, "
		"source_size = $6::bigint, sha256 = $7, table_rows = $8::jsonb, archive_version = $9, "
		"pg_dump_version = $10, server_version = $11, worker_pid = NULL WHERE id = $1",
		11, args);
}

void
pgb_catalog_mark_completed(const char *id, const PgbCaptureResult *res)
{
	pgb_cat_begin("pgbackups: finish backup");
	pgb_catalog_mark_completed_in_tx(id, res);
	pgb_cat_commit();
}

void
pgb_catalog_mark_ended(const char *id, const char *status, const char *error,
					   const char *sqlstate)
{
	const char *args[4] = {id, status, error, sqlstate};

	pgb_cat_begin("pgbackups: end job");
	pgb_cat_run(psprintf("UPDATE %s SET status = $2, finished_at = now(), error = $3, "
				 "error_code = $4, worker_pid = NULL WHERE id = $1", job_table(id)), 4, args);
	pgb_cat_commit();
}

/* deletes the row and its logs; returns the archive location (or NULL) */
char *
pgb_catalog_delete_backup(const char *id)
{
	char	   *location = NULL;
	const char *args[1] = {id};

	pgb_cat_begin("pgbackups: delete backup");
	if (pgb_cat_run("DELETE FROM pgbackups.backups WHERE id = $1 RETURNING location", 1, args) == 1)
		location = pgb_cat_copy(pgb_cat_get(0, 1));
	pgb_cat_run("DELETE FROM pgbackups.logs WHERE job_id = $1", 1, args);
	pgb_cat_commit();
	return location;
}

/*
 * pgb_catalog_take_expired
 *		After a DELETE ... RETURNING id, location of n backups (inside an
 *		open catalog transaction): their "id location" strings, in the
 *		caller's context; the logs of deleted backups go too.
 */
List *
pgb_catalog_take_expired(uint64 n)
{
	List	   *expired = NIL;
	uint64		i;

	for (i = 0; i < n; i++)
		expired = pgb_cat_lappend(expired, pgb_cat_copy(psprintf("%s %s", pgb_cat_get(i, 1),
																 pgb_cat_get(i, 2))));
	if (n > 0)
		pgb_cat_run("DELETE FROM pgbackups.logs l WHERE NOT EXISTS "
					"(SELECT 1 FROM pgbackups.backups b WHERE b.id = l.job_id) AND l.job_id ~ '^[ab]'",
					0, NULL);
	return expired;
}

/*
 * pgb_catalog_expire_manual
 *		Delete the oldest completed manual backups beyond keep; returns a
 *		list of "id location" strings whose archives the caller removes.
 */
List *
pgb_catalog_expire_manual(int keep)
{
	List	   *expired;
	char		keepbuf[16];
	const char *args[1] = {keepbuf};
	uint64		n;

	snprintf(keepbuf, sizeof(keepbuf), "%d", keep);
	pgb_cat_begin("pgbackups: manual retention");
	n = pgb_cat_run("WITH doomed AS ("
			"  SELECT id FROM pgbackups.backups WHERE kind = 'manual' AND status = 'completed' "
			"  AND NOT pinned "
			"  ORDER BY created_at DESC, num DESC OFFSET $1::int) "
			"DELETE FROM pgbackups.backups b USING doomed d WHERE b.id = d.id "
			"RETURNING b.id, coalesce(b.location, '')", 1, args);
	expired = pgb_catalog_take_expired(n);
	pgb_cat_commit();
	return expired;
}

void
pgb_catalog_log(const char *id, const char *message)
{
	const char *args[2] = {id, message};

	pgb_cat_begin("pgbackups: log");
	pgb_cat_run("INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, $2)", 2, args);
	pgb_cat_commit();
}
