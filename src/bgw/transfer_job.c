/*-------------------------------------------------------------------------
 *
 * transfer_job.c
 *	  The job worker of a restore (r###) or a copy (c###): a "pgbackups
 *	  job" background worker connected to no database.
 *
 * A restore may replace the very database that holds its catalog, and
 * replacing a database needs every session to leave it, so this worker
 * never connects to one: it records its progress over libpq
 * (catalog_remote.c) and drives the restore engine (restore.c).  A copy
 * captures the source into a temporary archive beside the data directory
 * with the capture engine (one snapshot, parallel streams, lz4), restores
 * it the same way and deletes it; nothing is kept in storage or in the
 * backups catalog.
 *
 * src/bgw/transfer_job.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "access.h"
#include "capture.h"
#include "catalog_remote.h"
#include "compress.h"
#include "disk_space.h"
#include "error_info.h"
#include "guc.h"
#include "job_slot.h"
#include "job_worker.h"
#include "pq_util.h"
#include "restore.h"
#include "storage.h"
#include "url_fetch.h"
#include "url_scheme.h"

static PgbRemoteCatalog rcat;
static char *temp_archive = NULL;	/* a copy's or URL's local archive */

static void
tlog(const char *msg)
{
	pgb_rcat_log(&rcat, msg);
}

static void
transfer_exit(int code, Datum arg)
{
	if (temp_archive)
	{
		(void) unlink(temp_archive);
		(void) unlink(psprintf("%s.tmp", temp_archive));
	}
}

/*
 * archive_for
 *		What the restore engine reads for a restore's location: a file://
 *		path, an s3:// URL (read with ranged GETs), or, for an http(s) URL,
 *		a local copy downloaded first (the full URL, which may carry a
 *		signature, is only in the job slot).
 */
static char *
archive_for(const char *location)
{
	if (pgb_url_scheme(location) == PGB_URL_FILE && location[7] == '/')
		return pstrdup(location + 7);
	if (pgb_url_scheme(location) == PGB_URL_S3)
		return pstrdup(location);
	if (pgb_url_is_web(location))
	{
		char	   *url = pgb_job_source();
		int64		size;

		if (url == NULL || url[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the URL of restore %s is no longer known", rcat.job_id),
					 errhint("Start the restore again.")));
		temp_archive = MemoryContextStrdup(TopMemoryContext,
										   pgb_storage_temp_path(psprintf("url-%s.dump", rcat.job_id)));
		(void) unlink(temp_archive);
		tlog(psprintf("downloading %s", location));
		size = pgb_url_download(url, temp_archive, tlog);
		tlog(psprintf("downloaded " INT64_FORMAT " bytes", size));
		return temp_archive;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("restoring from \"%s\" is not supported", location ? location : "(null)")));
	return NULL;
}

static void
load_expected_rows(PgbRestoreParams *p)
{
	const char *params[1] = {rcat.job_id};
	PGresult   *res;
	int			i;

	res = pgb_pq_exec_params(pgb_rcat_conn(&rcat),
							 "SELECT t.key, t.value FROM pgbackups.restores r, "
							 "pg_catalog.jsonb_each_text(r.expected_rows) t WHERE r.id = $1",
							 1, params, PGRES_TUPLES_OK);
	p->nexpected = PQntuples(res);
	p->expected_tables = palloc(sizeof(char *) * Max(p->nexpected, 1));
	p->expected_rows = palloc(sizeof(int64) * Max(p->nexpected, 1));
	for (i = 0; i < p->nexpected; i++)
	{
		p->expected_tables[i] = pstrdup(PQgetvalue(res, i, 0));
		p->expected_rows[i] = strtoi64(PQgetvalue(res, i, 1), NULL, 10);
	}
	PQclear(res);
}

/*
 * The role that requested this job (restores and copies) and whether it is
 * a superuser: untrusted extensions of an archive need one.
 */
static void
set_requester(PgbRestoreParams *p)
{
	Oid			roleid = pgb_job_roleid();
	MemoryContext cxt = CurrentMemoryContext;
	char	   *name = NULL;
	bool		su = false;

	if (OidIsValid(roleid))
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		su = superuser_arg(roleid);
		name = GetUserNameFromId(roleid, true);
		name = name ? MemoryContextStrdup(cxt, name) : NULL;
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
	}
	p->requester = name;
	p->requester_superuser = su;
}

/*
 * resolve_stored
 *		A restore of db::id whose database is gone or has no catalog: the
 *		scheduler recorded it without a location; find the backup's
 *		manifest in storage (stored.c), apply the read rule to its source
 *		database for the requester, and record location, SHA-256, source
 *		and row counts as the scheduler would have.  Returns the location.
 */
static char *
resolve_stored(const char *backup)
{
	const char *sep = strstr(backup, "::");
	char	   *db = pnstrdup(backup, sep - backup);
	char		rolebuf[16];
	const char *params[3] = {db, sep + 2, rolebuf};
	PGresult   *res;
	char	   *location;

	snprintf(rolebuf, sizeof(rolebuf), "%u", pgb_job_roleid());
	/* the read rule of access.c, for the requester, in SQL (this worker has no database) */
	res = pgb_pq_exec_params(pgb_rcat_conn(&rcat),
							 "SELECT s.location, s.sha256, s.source_database, s.table_rows::text, "
							 "  (SELECT r.rolsuper OR pg_catalog.pg_has_role(r.oid, 'pg_read_all_data', 'USAGE') "
							 "     OR EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = s.source_database "
							 "                AND pg_catalog.pg_has_role(r.oid, d.datdba, 'USAGE')) "
							 "     FROM pg_catalog.pg_roles r WHERE r.oid = $3::oid) "
							 "FROM pgbackups.stored_backups($1) s WHERE s.id = $2",
							 3, params, PGRES_TUPLES_OK);
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup \"%s\" does not exist in database \"%s\" or in storage", sep + 2, db)));
	}
	if (strcmp(PQgetvalue(res, 0, 4), "t") != 0)
	{
		char	   *source = pstrdup(PQgetvalue(res, 0, 2));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for backup %s: it holds data of database \"%s\", "
						"which requires owning that database, membership in pg_read_all_data, or superuser",
						backup, source)));
	}
	{
		const char *upd[5] = {rcat.job_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
		PQgetvalue(res, 0, 2), PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3)};

		PQclear(pgb_pq_exec_params(pgb_rcat_conn(&rcat),
								   "UPDATE pgbackups.restores SET location = $2, sha256 = $3, "
								   "source_database = $4, expected_rows = $5::jsonb WHERE id = $1",
								   5, upd, PGRES_COMMAND_OK));
	}
	location = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	tlog(psprintf("backup %s of database \"%s\" found in storage: %s", sep + 2, db, location));
	return location;
}

/*
 * catalog_conn
 *		The connection to the catalog, reopened if a quiet log line closed
 *		it; a cancel or shutdown that arrived meanwhile is raised first (a
 *		log line swallows its error).
 */
static PGconn *
catalog_conn(void)
{
	pgb_pq_check_interrupts();
	return pgb_rcat_conn(&rcat);
}

/*
 * check_staging_space
 *		Before the staging database of a restore or copy into target is
 *		created: room for need bytes (the source's size; 0 = unknown) in
 *		the file system of the target's tablespace.
 */
static void
check_staging_space(const char *target, int64 need)
{
	const char *params[1] = {target};
	PGresult   *res;
	char	   *dir;
	int64		avail;

	if (need <= 0)
	{
		tlog("free disk space not checked: the size of the source database is not known");
		return;
	}
	res = pgb_pq_exec_params(catalog_conn(),
							 "SELECT dattablespace FROM pg_catalog.pg_database WHERE datname = $1",
							 1, params, PGRES_TUPLES_OK);
	dir = pgb_database_dir_for_tablespace(PQntuples(res) == 1 ?
										  (Oid) strtoul(PQgetvalue(res, 0, 0), NULL, 10) : InvalidOid);
	PQclear(res);
	avail = pgb_check_free_space(dir, need, psprintf("the staging database of %s", rcat.job_id));
	if (avail >= 0)
		tlog(psprintf("free disk space: %s in \"%s\"; the source database was %s",
					  text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(avail)))),
					  dir,
					  text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(need))))));
}

/* the source database's size a local backup recorded (0: not known) */
static int64
backup_source_size(const char *backup)
{
	const char *params[1] = {backup};
	PGresult   *res;
	int64		size = 0;

	if (backup == NULL || strstr(backup, "::") != NULL)
		return 0;
	res = pgb_pq_exec_params(catalog_conn(),
							 "SELECT source_size FROM pgbackups.backups WHERE id = $1",
							 1, params, PGRES_TUPLES_OK);
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		size = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return size;
}

static void
run_restore(const PgbJobHooks *hooks, Oid catalog_db, PgbRestoreResult *result)
{
	PgbRestoreParams p;
	char	   *backup = pgb_rcat_get(&rcat, "backup");
	char	   *location = pgb_rcat_get(&rcat, "location");
	char	   *par = pgb_rcat_get(&rcat, "parallel");

	memset(&p, 0, sizeof(p));
	p.job_id = rcat.job_id;
	p.catalog_db = catalog_db;
	p.target = pgb_rcat_get(&rcat, "target");
	p.parallel = par ? atoi(par) : 1;
	p.keep_owner = strcmp(pgb_rcat_get(&rcat, "keep_owner"), "true") == 0;
	p.keep_acl = strcmp(pgb_rcat_get(&rcat, "keep_acl"), "true") == 0;
	p.rcat = &rcat;
	pgb_restore_check_target_catalog(catalog_conn(), p.target);
	/* the scheduler recorded location, row counts and SHA-256, also for db::id */
	if (location == NULL && strstr(backup, "::") != NULL)
		location = resolve_stored(backup);
	load_expected_rows(&p);
	p.backup = backup;
	p.expected_sha256 = pgb_rcat_get(&rcat, "sha256");
	set_requester(&p);
	p.archive_path = archive_for(location);
	tlog(psprintf("restore of %s into database \"%s\" started by worker %d, %d workers",
				  backup, p.target, MyProcPid, p.parallel));
	check_staging_space(p.target, backup_source_size(backup));
	pgb_restore_run(&p, hooks, result);
	if (temp_archive)
	{
		(void) unlink(temp_archive);
		temp_archive = NULL;
	}
}

/* a source URL must not lead back to the target database of this server */
static void
check_not_self(const char *url, const char *target)
{
	PGconn	   *conn = pgb_pq_connect(url);
	PGresult   *res;
	bool		same;

	res = pgb_pq_exec(conn, "SELECT s.system_identifier::text, pg_catalog.current_database() "
					  "FROM pg_catalog.pg_control_system() s", PGRES_TUPLES_OK);
	same = strtou64(PQgetvalue(res, 0, 0), NULL, 10) == GetSystemIdentifier() &&
		strcmp(PQgetvalue(res, 0, 1), target) == 0;
	PQclear(res);
	pgb_pq_disconnect(conn);
	if (same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot copy database \"%s\" onto itself", target),
				 errdetail("The source URL leads to the target database of this server.")));
}

/* a copy's rows are all loaded: end the source's snapshot and its locks */
static void
source_done(void)
{
	pgb_capture_release_source();
	tlog(pstrdup("every table's rows read at the source; its snapshot released"));
}

static void
run_copy(const PgbJobHooks *hooks, Oid catalog_db, PgbRestoreResult *result)
{
	char	   *source = pgb_job_source();
	char	   *par = pgb_rcat_get(&rcat, "parallel");
	PgbCaptureParams cp;
	PgbCaptureResult cr;
	PgbRestoreParams rp;
	char	   *url;

	temp_archive = MemoryContextStrdup(TopMemoryContext,
									   pgb_storage_temp_path(psprintf("copy-%u-%s.dump",
																	  catalog_db, rcat.job_id)));
	(void) unlink(temp_archive);
	url = psprintf("file://%s", temp_archive);

	if (source[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the source of copy %s was lost in a server restart", rcat.job_id),
				 errhint("Start the copy again.")));
	memset(&cp, 0, sizeof(cp));
	memset(&cr, 0, sizeof(cr));
	pgb_restore_check_target_catalog(catalog_conn(), pgb_rcat_get(&rcat, "target"));
	if (pgb_url_scheme(source) == PGB_URL_POSTGRES)
	{
		char	   *target = pgb_rcat_get(&rcat, "target");

		check_not_self(source, target);
		cp.dbname = "source";
		cp.conninfo = source;
	}
	else
		cp.dbname = source;
	cp.location = url;
	cp.parallel = par ? atoi(par) : 1;
	cp.comp.alg = PGB_COMPRESS_LZ4;
	cp.comp.level = 1;
	cp.data_at_source = true;
	tlog(psprintf("copy started by worker %d: the source's schema and large objects into a temporary archive, its tables' rows streamed by %d restore workers",
				  MyProcPid, cp.parallel));
	pgb_capture_run(&cp, hooks, &cr);
	pgb_debug_fault("captured");	/* tests: crash windows */
	tlog(psprintf("source's schema captured: %d tables to stream, temporary archive of %s; the snapshot stays open until their rows are loaded",
				  cr.tables, text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty, Int64GetDatum(cr.archive_size))))));

	memset(&rp, 0, sizeof(rp));
	rp.job_id = rcat.job_id;
	rp.catalog_db = catalog_db;
	rp.archive_path = temp_archive;
	rp.target = pgb_rcat_get(&rcat, "target");
	rp.parallel = cp.parallel;
	rp.rcat = &rcat;
	rp.source_conninfo = pgb_capture_source_conninfo();
	rp.source_snapshot = pgb_capture_source_snapshot();
	rp.source_done = source_done;
	set_requester(&rp);
	check_staging_space(rp.target, cr.source_size);
	pgb_restore_run(&rp, hooks, result);
	pgb_capture_release_source();
	(void) unlink(temp_archive);
	temp_archive = NULL;
}

/*
 * record_failure
 *		The restore or copy raised edata: undo what it left, and record the
 *		outcome in the catalog (the error column holds the message and
 *		detail, the job's log the whole error) and in the job slot (the
 *		whole error, raised again by wait()).
 *
 *		Interrupts stay enabled: DROP DATABASE waits for every process, this
 *		one included, to absorb its ProcSignalBarrier.  A cancel must not
 *		interrupt the clean-up itself.
 */
static void
record_failure(bool is_restore, const ErrorData *edata)
{
	const char *what = is_restore ? "restore" : "copy";
	PgbErrorInfo err;

	pgb_pq_set_interrupt_check(NULL);
	pgb_job_cleanup_begin();	/* the capture's clean-up sets the check back */
	pgb_restore_cleanup();
	pgb_capture_cleanup();
	if (temp_archive)
	{
		(void) unlink(temp_archive);
		pgb_storage_remove_partials(psprintf("file://%s", temp_archive));
		temp_archive = NULL;
	}
	if (pgb_job_cancel_requested() && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		pgb_rcat_mark_ended(&rcat, "canceled", "canceled by user request",
							unpack_sql_state(edata->sqlerrcode), NULL);
		tlog(psprintf("%s canceled; the target database was left as it was", what));
		pgb_error_info_set(&err, edata->sqlerrcode,
						   psprintf("%s %s was canceled", what, rcat.job_id));
		pgb_job_finish(PGB_JOB_CANCELED, &err);
		return;
	}
	pgb_rcat_mark_ended(&rcat, "failed", pgb_error_summary(edata),
						unpack_sql_state(edata->sqlerrcode), NULL);
	tlog(psprintf("%s failed: %s", what, pgb_error_report(edata)));
	pgb_error_info_save(&err, edata);
	pgb_job_finish(PGB_JOB_FAILED, &err);
}

void
pgb_transfer_job_main(Datum arg)
{
	PgbJobArgs	args;
	PgbJobHooks hooks;
	PgbRestoreResult result;
	MemoryContext jobctx;
	bool		is_restore;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgb_pin_worker_settings();
	pgb_job_attach(&args);
	before_shmem_exit(transfer_exit, (Datum) 0);
	pgstat_report_appname("pgbackups");
	is_restore = args.id[0] == 'r';

	jobctx = AllocSetContextCreate(TopMemoryContext, "pgbackups transfer job", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(jobctx);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	rcat.dbname = get_database_name(args.dboid);
	rcat.dbname = rcat.dbname ? MemoryContextStrdup(jobctx, rcat.dbname) : NULL;
	CommitTransactionCommand();
	MemoryContextSwitchTo(jobctx);
	rcat.job_id = pstrdup(args.id);
	if (rcat.dbname == NULL)
	{
		pgb_job_fail(ERRCODE_UNDEFINED_DATABASE, "the catalog database is gone");
		proc_exit(0);
	}
	pgb_pq_set_interrupt_check(pgb_job_check);

	pgb_job_hooks(&hooks, tlog);

	PG_TRY();
	{
		if (!pgb_rcat_mark_running(&rcat, MyProcPid))
		{
			pgb_job_fail(ERRCODE_UNDEFINED_OBJECT, "job is no longer pending");
			proc_exit(0);
		}
		if (is_restore)
			run_restore(&hooks, args.dboid, &result);
		else
			run_copy(&hooks, args.dboid, &result);
	}
	PG_CATCH();
	{
		record_failure(is_restore, pgb_catch_error(jobctx));
		pgb_rcat_close(&rcat);
		proc_exit(0);
	}
	PG_END_TRY();

	if (!result.catalog_carried)
	{
		pgb_rcat_mark_ended(&rcat, "completed", NULL, NULL, &result.stats);
		tlog(psprintf("%s completed: %d tables, " INT64_FORMAT " rows",
					  is_restore ? "restore" : "copy", result.stats.tables, result.stats.rows));
	}
	pgb_debug_fault("after_record");	/* tests: the replaced database not yet dropped */
	pgb_job_report_completed();
	pgb_restore_finish();
	pgb_job_finish(PGB_JOB_COMPLETED, NULL);
	pgb_rcat_close(&rcat);
	proc_exit(0);
}
