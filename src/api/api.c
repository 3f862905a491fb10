/*-------------------------------------------------------------------------
 *
 * api.c
 *	  The SQL-callable C functions: capture, cancel, delete, wait.
 *
 * They run in the caller's backend but change nothing there: each one
 * validates its arguments and privileges, then hands a request to the
 * database's scheduler through shared memory and waits for its reply.  The
 * scheduler writes the catalog in its own transaction, so the caller's
 * transaction can roll back (an ORM migration) without losing the record,
 * and the work itself runs in a background worker.  wait => true follows
 * the job through its shared-memory slot, printing progress as NOTICEs.
 *
 * src/api/api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "access.h"
#include "api.h"
#include "compat.h"
#include "compress.h"
#include "error_info.h"
#include "guc.h"
#include "pq_util.h"
#include "request.h"
#include "shmem.h"
#include "storage.h"
#include "url_fetch.h"
#include "http.h"
#include "job_kind.h"
#include "manifest.h"
#include "url_scheme.h"

PG_FUNCTION_INFO_V1(pgbackups_capture);
PG_FUNCTION_INFO_V1(pgbackups_cancel);
PG_FUNCTION_INFO_V1(pgbackups_delete);
PG_FUNCTION_INFO_V1(pgbackups_wait);
PG_FUNCTION_INFO_V1(pgbackups_launcher_wakeup);
PG_FUNCTION_INFO_V1(pgbackups_restore);
PG_FUNCTION_INFO_V1(pgbackups_restore_from_url);
PG_FUNCTION_INFO_V1(pgbackups_copy);
PG_FUNCTION_INFO_V1(pgbackups_url);

static void
check_loaded(void)
{
	if (PgbShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbackups must be loaded via shared_preload_libraries"),
				 errhint("Add pgbackups to shared_preload_libraries in postgresql.conf and restart the server.")));
}

static void
sleep_ms(int ms)
{
	pgb_pq_sleep(ms);
}

static const char *
kind_word(const char *id)
{
	return pgb_job_kind(id)->noun;
}

/* a job id: b/a (backups) only, or with any_kind also r/c (restores, copies) */
static void
check_id_kinds(const char *id, bool any_kind)
{
	const char *p = id;
	bool		backup = *p == 'b' || *p == 'a';

	if (!(backup || (any_kind && (*p == 'r' || *p == 'c'))) || p[1] == '\0' ||
		strlen(id) >= PGB_ID_LEN)
		goto bad;
	for (p++; *p; p++)
		if (*p < '0' || *p > '9')
			goto bad;
	return;
bad:
	if (any_kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid job id \"%s\"", id),
				 errdetail("Ids look like b001 (manual backup), a001 (scheduled backup), r001 (restore) or c001 (copy).")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid backup id \"%s\"", id),
			 errdetail("Backup ids look like b001 (manual) or a001 (scheduled).")));
}

static void
check_id(const char *id)
{
	check_id_kinds(id, false);
}

static void
check_job_id(const char *id)
{
	check_id_kinds(id, true);
}

static char *
human_bytes(int64 bytes)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
															  Int64GetDatum(bytes))));
}

/*
 * check_self_deadlock
 *		A migration that altered a table and then waits for a capture would
 *		wait forever: the job queues behind this transaction's own lock.
 *		Detect a pgbackups session blocked by us and raise an error instead.
 */
static void
check_self_deadlock(const char *id)
{
	bool		blocked = false;

	SPI_connect();
	(void) SPI_execute("SELECT pg_catalog.pg_stat_clear_snapshot()", false, 0);
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_stat_activity a "
					"WHERE a.application_name OPERATOR(pg_catalog.=) 'pgbackups' "
					"AND pg_catalog.pg_backend_pid() OPERATOR(pg_catalog.=) "
					"ANY (pg_catalog.pg_blocking_pids(a.pid)) LIMIT 1", true, 1) == SPI_OK_SELECT)
		blocked = SPI_processed > 0;
	SPI_finish();
	if (blocked)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
				 errmsg("backup %s is waiting for a lock held by this transaction", id),
				 errdetail("The backup continues once this transaction ends."),
				 errhint("Call pgbackups.capture() before the schema changes of the migration, or without wait => true.")));
}

/*
 * raise_job_error
 *		Raise the error of failed job id (slot j) as its worker raised it:
 *		its SQLSTATE, its message after "backup b001 failed: ", its detail,
 *		hint and context.  Without a hint of its own, the hint points to the
 *		job's log.
 */
static void
raise_job_error(const char *id, const PgbJobSlot *j)
{
	PgbErrorInfo err;

	err.sqlerrcode = j->sqlerrcode;
	pgb_error_text_copy(err.message, sizeof(err.message),
						psprintf("%s %s failed: %s", kind_word(id), id, j->errmsg));
	err.extra = j->err_extra;
	if (err.extra.hint[0] == '\0')
		pgb_error_text_copy(err.extra.hint, sizeof(err.extra.hint),
							psprintf("SELECT * FROM pgbackups.logs('%s') shows the job's log.", id));
	pgb_error_info_raise(&err, ERROR);
}

/*
 * wait_for_job
 *		Follow a job until it ends; NOTICE progress; raise its error if it
 *		failed or was canceled.  Returns the final status word.
 */
static const char *
wait_for_job(const char *id)
{
	char		last[256] = "";
	TimestampTz last_notice = 0;
	TimestampTz last_lock_check = GetCurrentTimestamp();

	for (;;)
	{
		PgbJobSlot *j;
		PgbJobSlot	copy;
		bool		found;

		LWLockAcquire(PgbShared->lock, LW_SHARED);
		j = pgb_job_find(MyDatabaseId, id);
		found = j != NULL;
		if (found)
			memcpy(&copy, j, sizeof(copy));
		LWLockRelease(PgbShared->lock);

		if (!found)
		{
			/* long finished, or the server restarted: ask the catalog */
			char	   *status = NULL;
			char	   *error = NULL;
			char	   *code = NULL;
			Datum		arg = CStringGetTextDatum(id);
			Oid			argtype = TEXTOID;

			SPI_connect();
			if (SPI_execute_with_args(psprintf("SELECT status, error, error_code FROM %s WHERE id OPERATOR(pg_catalog.=) $1",
											   pgb_job_kind(id)->table),
									  1, &argtype, &arg, NULL, true, 1) == SPI_OK_SELECT &&
				SPI_processed == 1)
			{
				status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
				error = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
				code = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
				status = status ? pstrdup(status) : NULL;
				error = error ? pstrdup(error) : NULL;
				code = code ? pstrdup(code) : NULL;
			}
			SPI_finish();
			if (status == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("%s \"%s\" does not exist", kind_word(id), id)));
			if (strcmp(status, "completed") == 0)
				return "completed";
			if (strcmp(status, "failed") == 0 || strcmp(status, "canceled") == 0)
			{
				int			sqlerrcode = pgb_error_code_from_text(code);

				/* the whole error is in the job's log */
				ereport(ERROR,
						(errcode(sqlerrcode ? sqlerrcode : ERRCODE_INTERNAL_ERROR),
						 errmsg("%s %s %s: %s", kind_word(id), id, status, error ? error : "no error recorded"),
						 strcmp(status, "failed") == 0 ?
						 errhint("SELECT * FROM pgbackups.logs('%s') shows the job's log.", id) : 0));
			}
			sleep_ms(500);
			continue;
		}
		if (copy.finished || copy.reported)
		{
			if (copy.status == PGB_JOB_COMPLETED)
			{
				/* tell only a caller who waited */
				if (last_notice != 0)
					ereport(NOTICE, (errmsg("%s %s completed", kind_word(id), id)));
				return "completed";
			}
			if (copy.status == PGB_JOB_CANCELED)
				ereport(ERROR,
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("%s %s was canceled", kind_word(id), id)));
			raise_job_error(id, &copy);
		}
		{
			char		now[256];

			if (copy.status == PGB_JOB_PENDING || !copy.launched)
				snprintf(now, sizeof(now), "%s %s: pending", kind_word(id), id);
			else if (copy.phase[0] == '\0')
				snprintf(now, sizeof(now), "%s %s: starting", kind_word(id), id);
			else
				snprintf(now, sizeof(now), "%s %s: %s, %d of %d %s, %s",
						 kind_word(id), id, copy.phase, copy.tables_done, copy.tables_total,
						 pgb_job_kind(id)->units,
						 human_bytes(copy.bytes_done));
			if (strcmp(now, last) != 0 &&
				TimestampDifferenceExceeds(last_notice, GetCurrentTimestamp(), 1000))
			{
				ereport(NOTICE, (errmsg("%s", now)));
				strlcpy(last, now, sizeof(last));
				last_notice = GetCurrentTimestamp();
			}
		}
		if (TimestampDifferenceExceeds(last_lock_check, GetCurrentTimestamp(), 1000))
		{
			check_self_deadlock(id);
			last_lock_check = GetCurrentTimestamp();
		}
		sleep_ms(100);
	}
}

Datum
pgbackups_capture(PG_FUNCTION_ARGS)
{
	char	   *dbname;
	bool		wait = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	char	   *compression = PG_ARGISNULL(2) ? pgb_compression : text_to_cstring(PG_GETARG_TEXT_PP(2));
	int			parallel = PG_ARGISNULL(3) ? pgb_default_parallel : PG_GETARG_INT32(3);
	char	   *label = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	Oid			dboid;
	PgbCompressionSpec spec;
	char	   *err;
	PgbRequest	rq;
	char	   *id;

	check_loaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("database must not be null")));
	dbname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	dboid = get_database_oid(dbname, false);
	if (!pgb_compression_parse(compression, &spec, &err))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid compression \"%s\"", compression),
				 errdetail("%s", err)));
	if (parallel < 1 || parallel > PGB_MAX_PARALLEL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parallel must be between 1 and %d", PGB_MAX_PARALLEL),
				 errdetail("The value given was %d.", parallel)));
	if (label && strlen(label) >= sizeof(rq.label))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label must be shorter than %d bytes", (int) sizeof(rq.label))));
	if (strlen(dbname) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("database name is too long")));

	/*
	 * Another database's data is read with the worker's superuser
	 * connection, so the caller must be allowed to read all of it.
	 */
	if (!pgb_may_read_database(dboid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to capture database \"%s\"", dbname),
				 errdetail("A backup holds every row of the database: taking one requires owning the database, membership in pg_read_all_data, or superuser.")));

	memset(&rq, 0, sizeof(rq));
	rq.kind = PGB_REQ_CAPTURE;
	strlcpy(rq.target_db, dbname, sizeof(rq.target_db));
	strlcpy(rq.compression, compression, sizeof(rq.compression));
	rq.parallel = parallel;
	if (label)
		strlcpy(rq.label, label, sizeof(rq.label));
	id = pgb_request_submit(&rq);
	if (wait)
		(void) wait_for_job(id);
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

Datum
pgbackups_wait(PG_FUNCTION_ARGS)
{
	char	   *id = text_to_cstring(PG_GETARG_TEXT_PP(0));

	check_loaded();
	check_job_id(id);
	pgb_check_job_access(id);
	PG_RETURN_TEXT_P(cstring_to_text(wait_for_job(id)));
}

/*
 * newest_unfinished_visible
 *		cancel() without an id: the newest pending or running job among
 *		those the caller may see (row security filters the catalog).
 */
static void
newest_unfinished_visible(char *id, size_t len)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT x.id FROM ("
					"SELECT b.id, b.created_at, b.status FROM pgbackups.backups b UNION ALL "
					"SELECT r.id, r.created_at, r.status FROM pgbackups.restores r UNION ALL "
					"SELECT c.id, c.created_at, c.status FROM pgbackups.copies c) x "
					"WHERE x.status OPERATOR(pg_catalog.=) ANY ('{pending,running}'::pg_catalog.text[]) "
					"ORDER BY x.created_at DESC, x.id DESC LIMIT 1", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the pgbackups catalog");
	if (SPI_processed != 1)
	{
		SPI_finish();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no active jobs")));
	}
	strlcpy(id, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), len);
	SPI_finish();
}

Datum
pgbackups_cancel(PG_FUNCTION_ARGS)
{
	PgbRequest	rq;
	char	   *id;
	int			waited = 0;

	check_loaded();
	memset(&rq, 0, sizeof(rq));
	rq.kind = PGB_REQ_CANCEL;
	if (!PG_ARGISNULL(0))
	{
		char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));

		check_job_id(given);
		strlcpy(rq.id, given, sizeof(rq.id));
	}
	else
		newest_unfinished_visible(rq.id, sizeof(rq.id));
	pgb_check_job_access(rq.id);
	id = pgb_request_submit(&rq);

	/* wait (briefly) until the job has really stopped */
	while (waited < 5000)
	{
		PgbJobSlot *j;
		bool		ended;

		LWLockAcquire(PgbShared->lock, LW_SHARED);
		j = pgb_job_find(MyDatabaseId, id);
		ended = j == NULL || j->finished;
		LWLockRelease(PgbShared->lock);
		if (ended)
			break;
		sleep_ms(20);
		waited += 20;
	}
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

Datum
pgbackups_delete(PG_FUNCTION_ARGS)
{
	char	   *id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PgbRequest	rq;

	check_loaded();
	check_id(id);
	pgb_check_job_access(id);
	memset(&rq, 0, sizeof(rq));
	rq.kind = PGB_REQ_DELETE;
	strlcpy(rq.id, id, sizeof(rq.id));
	id = pgb_request_submit(&rq);

	/*
	 * The scheduler removed the record; the files go here, in the caller's
	 * session, so that a slow or retried storage delete never holds up the
	 * scheduler.  The manifest goes first: an archive without one is never
	 * taken for a completed backup, a manifest without its archive would be.
	 */
	if (rq.source[0])
	{
		pgb_manifest_remove(rq.source);
		pgb_storage_delete(rq.source);
		pgb_storage_remove_partials(rq.source);
	}
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

/* CREATE EXTENSION calls this: a scheduler probes the database after the commit */
Datum
pgbackups_launcher_wakeup(PG_FUNCTION_ARGS)
{
	if (PgbShared != NULL)
		pgb_request_wake_at_commit();
	PG_RETURN_VOID();
}

/* ---- restore and copy ---- */

static int
parallel_arg(FunctionCallInfo fcinfo, int argno)
{
	int			parallel = PG_ARGISNULL(argno) ? pgb_default_parallel : PG_GETARG_INT32(argno);

	if (parallel < 1 || parallel > PGB_MAX_PARALLEL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parallel must be between 1 and %d", PGB_MAX_PARALLEL),
				 errdetail("The value given was %d.", parallel)));
	return parallel;
}

/*
 * check_target
 *		confirm must name the target (Heroku's --confirm), the target must
 *		exist, and the caller must own it: everything in it is replaced.
 */
static char *
check_target(FunctionCallInfo fcinfo, int targetno, int confirmno, const char *what)
{
	char	   *target;
	char	   *confirm;
	Oid			dboid;

	if (PG_ARGISNULL(targetno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	target = text_to_cstring(PG_GETARG_TEXT_PP(targetno));
	confirm = PG_ARGISNULL(confirmno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(confirmno));
	if (confirm == NULL || strcmp(confirm, target) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("confirmation %s%s%s does not match the target database \"%s\"",
						confirm ? "\"" : "", confirm ? confirm : "missing", confirm ? "\"" : "", target),
				 errdetail("A %s deletes everything in database \"%s\".", what, target),
				 errhint("Pass confirm => '%s' to proceed.", target)));
	if (strlen(target) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("database name is too long")));
	dboid = get_database_oid(target, false);
	if (!superuser() && !pgb_database_ownercheck(dboid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to replace database \"%s\"", target),
				 errdetail("A %s into a database requires owning it, or superuser.", what)));
	return target;
}

static Datum
submit_restore(FunctionCallInfo fcinfo, const char *source, bool from_url)
{
	PgbRequest	rq;
	char	   *target = check_target(fcinfo, 1, 2, "restore");
	int			parallel = parallel_arg(fcinfo, 3);
	bool		wait = PG_ARGISNULL(6) ? false : PG_GETARG_BOOL(6);
	char	   *id;

	memset(&rq, 0, sizeof(rq));
	rq.kind = PGB_REQ_RESTORE;
	strlcpy(rq.target_db, target, sizeof(rq.target_db));
	if (strlen(source) >= sizeof(rq.source))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backup name or URL is too long"),
				 errdetail("At most %d bytes are accepted.", (int) sizeof(rq.source) - 1)));
	strlcpy(rq.source, source, sizeof(rq.source));
	rq.from_url = from_url;
	rq.parallel = parallel;
	rq.keep_owner = PG_ARGISNULL(4) ? false : PG_GETARG_BOOL(4);
	rq.keep_acl = PG_ARGISNULL(5) ? false : PG_GETARG_BOOL(5);
	id = pgb_request_submit(&rq);
	if (wait)
		(void) wait_for_job(id);
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

Datum
pgbackups_restore(PG_FUNCTION_ARGS)
{
	char	   *backup = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *sep;

	check_loaded();
	sep = strstr(backup, "::");
	if (sep)
	{
		char	   *db = pnstrdup(backup, sep - backup);
		Oid			dboid = get_database_oid(db, true);	/* a dropped one: from storage */

		check_id(sep + 2);
		/* another catalog's backup: the scheduler checks its source database */
		if (dboid == MyDatabaseId)
			backup = pstrdup(sep + 2);
	}
	else if (backup[0] != '\0')
	{
		backup = str_tolower(backup, strlen(backup), DEFAULT_COLLATION_OID);
		check_id(backup);
	}
	if (backup[0] != '\0' && strstr(backup, "::") == NULL)
		pgb_check_job_access(backup);
	return submit_restore(fcinfo, backup, false);
}

Datum
pgbackups_restore_from_url(PG_FUNCTION_ARGS)
{
	char	   *url;

	check_loaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("url must not be null")));
	url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (pgb_url_scheme(url) == PGB_URL_FILE)
	{
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers may restore from file:// URLs"),
					 errdetail("A file:// URL reads a file of the database server.")));
		if (url[7] != '/')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("file URL must name an absolute path: \"%s\"", url)));
		if (access(url + 7, R_OK) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read archive \"%s\": %m", url + 7)));
	}
	else if (pgb_url_is_web(url))
		pgb_url_check(url, true);
	else if (pgb_url_scheme(url) == PGB_URL_S3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("restore_from_url does not read s3:// URLs"),
				 errhint("Restore a backup by its id with pgbackups.restore(), or pass a URL from pgbackups.url().")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported URL scheme in \"%s\"", pgb_http_redact_url(url)),
				 errhint("Use an https:// URL.")));
	return submit_restore(fcinfo, url, true);
}

Datum
pgbackups_copy(PG_FUNCTION_ARGS)
{
	PgbRequest	rq;
	char	   *source;
	char	   *target;
	bool		is_url;
	bool		wait = PG_ARGISNULL(4) ? false : PG_GETARG_BOOL(4);
	char	   *id;

	check_loaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null")));
	source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
	{
		char	   *t = text_to_cstring(PG_GETARG_TEXT_PP(1));

		if (strstr(t, "://") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("copying into a database given by URL is not supported"),
					 errdetail("The target must be a database of this server.")));
	}
	target = check_target(fcinfo, 1, 2, "copy");
	is_url = pgb_url_scheme(source) == PGB_URL_POSTGRES;
	if (is_url)
	{
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers may copy from a connection URL"),
					 errdetail("The server connects to the URL with its own credentials where the URL gives none.")));
	}
	else
	{
		Oid			srcoid = get_database_oid(source, false);

		if (strcmp(source, target) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot copy database \"%s\" onto itself", source)));
		if (!pgb_may_read_database(srcoid))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to copy database \"%s\"", source),
					 errdetail("Copying a database requires owning it, membership in pg_read_all_data, or superuser.")));
	}
	if (strlen(source) >= sizeof(rq.source))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source is too long")));
	memset(&rq, 0, sizeof(rq));
	rq.kind = PGB_REQ_COPY;
	strlcpy(rq.target_db, target, sizeof(rq.target_db));
	strlcpy(rq.source, source, sizeof(rq.source));
	rq.parallel = parallel_arg(fcinfo, 3);
	id = pgb_request_submit(&rq);
	if (wait)
		(void) wait_for_job(id);
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

/*
 * pgbackups.url(id, valid_for)
 *		heroku pg:backups:url: a link to download a completed backup.  For
 *		S3 storage a SigV4 presigned GET URL valid for valid_for (1 second
 *		to 7 days); for file:// storage the file URL.  NULL id means the
 *		latest completed backup of this database.
 */
Datum
pgbackups_url(PG_FUNCTION_ARGS)
{
	Interval   *valid_for;
	int64		secs;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	char		nulls[1] = {' '};
	char	   *id = NULL;
	char	   *status = NULL;
	char	   *location = NULL;
	char	   *result;
	int			rc;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("valid_for must not be null")));
	valid_for = PG_GETARG_INTERVAL_P(1);
	secs = valid_for->time / USECS_PER_SEC +
		(int64) valid_for->day * SECS_PER_DAY +
		(int64) valid_for->month * DAYS_PER_MONTH * SECS_PER_DAY;
	if (secs < 1 || secs > 7 * SECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_for must be between 1 second and 7 days"),
				 errdetail("Signature Version 4 URLs expire after at most 7 days.")));

	if (PG_ARGISNULL(0))
	{
		if (!pgb_may_read_database(MyDatabaseId))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for the backups of database \"%s\"",
							get_database_name(MyDatabaseId)),
					 errdetail("Reading a backup requires owning its database, membership in pg_read_all_data, or superuser.")));
	}
	else
	{
		char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));

		given = str_tolower(given, strlen(given), DEFAULT_COLLATION_OID);
		check_id(given);
		pgb_check_job_access(given);
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (PG_ARGISNULL(0))
		rc = SPI_execute("SELECT id, status, location FROM pgbackups.backups "
						 "WHERE status OPERATOR(pg_catalog.=) 'completed' "
						 "AND database OPERATOR(pg_catalog.=) pg_catalog.current_database() "
						 "ORDER BY finished_at DESC, num DESC LIMIT 1", true, 1);
	else
	{
		values[0] = PG_GETARG_DATUM(0);
		rc = SPI_execute_with_args("SELECT id, status, location FROM pgbackups.backups "
								   "WHERE id OPERATOR(pg_catalog.=) pg_catalog.lower($1)",
								   1, argtypes, values, nulls, true, 1);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read pgbackups.backups");
	if (SPI_processed == 1)
	{
		id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		location = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		id = id ? MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, id) : NULL;
		status = status ? MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, status) : NULL;
		location = location ? MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, location) : NULL;
	}
	SPI_finish();
	if (id == NULL && PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("database \"%s\" has no completed backups", get_database_name(MyDatabaseId))));
	if (id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup \"%s\" does not exist", text_to_cstring(PG_GETARG_TEXT_PP(0)))));
	if (strcmp(status, "completed") != 0 || location == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backup %s is %s; only completed backups have a URL", id, status)));
	result = pgb_storage_download_url(location, (int) secs);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
