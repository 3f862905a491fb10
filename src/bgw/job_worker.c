/*-------------------------------------------------------------------------
 *
 * job_worker.c
 *	  Runs one backup job in its own dynamic background worker
 *	  ("pgbackups job"), connected to the database whose catalog holds the
 *	  job.
 *
 * States: the scheduler created the row (pending) and the job slot; this
 * worker marks it running, runs the capture, and records the outcome
 * (completed, failed or canceled) in the catalog before marking the slot
 * finished.  A backup is completed only with its manifest: once the
 * archive is durable, the row is marked completed in the transaction that
 * stores the manifest beside it (manifest.c); if that fails, the archive
 * and anything of the manifest are removed and the backup fails.  Cancellation is cooperative: pgbackups.cancel() sets the
 * slot's cancel flag and the worker's latch, and every wait of the capture
 * checks the flag within 100 ms.  If the worker dies without recording an
 * outcome (FATAL, SIGTERM), an exit callback flags the slot and the
 * scheduler marks the job failed; after a crash-restart the scheduler's
 * start-up reconciliation does.
 *
 * After a completed backup: retention, then, for a schedule with verify
 * on, the verification of the new archive (restore/verify.c through
 * pgb_verify_backup, recorded like verify()).  A failed verification is a
 * WARNING and a line of the job's log; the backup stays completed.
 *
 * src/bgw/job_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "access.h"
#include "capture.h"
#include "catalog.h"
#include "catalog_schedule.h"
#include "compress.h"
#include "error_info.h"
#include "guc.h"
#include "job_slot.h"
#include "job_worker.h"
#include "manifest.h"
#include "retention.h"
#include "shmem.h"
#include "storage.h"
#include "verify.h"

static char my_id[PGB_ID_LEN];

/* the capture's archive is durable under its final name */
static bool archive_stored = false;

static void
job_log(const char *msg)
{
	pgb_catalog_log(pgb_job_id(), msg);
}

static void
job_exit(int code, Datum arg)
{
	pgb_capture_cleanup_on_exit();
}

/* remove one object of a failed backup; a failure is a WARNING */
static void
remove_object(const char *url)
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		pgb_storage_delete(url);
	}
	PG_CATCH();
	{
		pgb_catch_and_log(ctx);
	}
	PG_END_TRY();
}

/*
 * remove_stored
 *		The backup failed after its archive was stored: remove its manifest
 *		(if any was written) and then the archive, so nothing of a failed
 *		backup stays behind.  Each removal is tried on its own: something
 *		that is no manifest of ours in the manifest's place must not keep the
 *		archive of a failed backup.
 */
static void
remove_stored(const char *location)
{
	remove_object(pgb_manifest_url(location));
	remove_object(location);
}

/*
 * record_failure
 *		The capture raised edata: remove what it left, and record the
 *		outcome in the catalog (the error column holds the message and
 *		detail, the job's log the whole error) and in the job slot (the
 *		whole error, raised again by wait()).
 */
static void
record_failure(const char *location, const ErrorData *edata)
{
	PgbErrorInfo err;

	pgb_job_cleanup_begin();
	pgb_capture_cleanup();
	if (archive_stored)
		remove_stored(location);
	pgb_storage_remove_partials(location);
	if (pgb_job_cancel_requested() && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		pgb_catalog_mark_ended(my_id, "canceled", "canceled by user request",
							   unpack_sql_state(edata->sqlerrcode));
		pgb_catalog_log(my_id, "backup canceled");
		pgb_error_info_set(&err, edata->sqlerrcode, psprintf("backup %s was canceled", my_id));
		pgb_job_finish(PGB_JOB_CANCELED, &err);
		return;
	}
	pgb_catalog_mark_ended(my_id, "failed", pgb_error_summary(edata),
						   unpack_sql_state(edata->sqlerrcode));
	pgb_catalog_log(my_id, psprintf("backup failed: %s", pgb_error_report(edata)));
	pgb_error_info_save(&err, edata);
	pgb_job_finish(PGB_JOB_FAILED, &err);
}

typedef struct ScheduledVerify
{
	const char *by;
	PgbVerifyOutcome out;
} ScheduledVerify;

static void
verify_call(void *arg)
{
	ScheduledVerify *v = (ScheduledVerify *) arg;

	pgb_verify_backup(my_id, v->by, true, &v->out);
}

/*
 * verify_new_backup
 *		The schedule has verify on: verify the backup just completed, in a
 *		transaction of this worker.  The outcome is recorded in its row and
 *		log (pgb_verify_backup); a failure, or an error that kept it from
 *		being verified or recorded, is also a WARNING (the latter also a
 *		line of the job's log).
 */
static void
verify_new_backup(const char *schedule)
{
	MemoryContext ctx = CurrentMemoryContext;
	ScheduledVerify v;
	ErrorData  *error;
	char	   *unrecorded = NULL;

	if (!pgb_catalog_schedule_verifies(schedule))
		return;
	memset(&v, 0, sizeof(v));
	v.by = psprintf("schedule \"%s\"", schedule);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "pgbackups: verify the new backup");
	error = pgb_verify_try(verify_call, &v);
	if (error)
	{
		/* not verified (or not recorded): nothing in the row, so say it here */
		unrecorded = MemoryContextStrdup(ctx, error->message);
		ereport(WARNING,
				(errcode(error->sqlerrcode),
				 errmsg("could not verify backup %s: %s", my_id, error->message)));
	}
	else if (v.out.failure)
		ereport(WARNING,
				(errcode(v.out.failure->sqlerrcode),
				 errmsg("verification of backup %s failed: %s", my_id, v.out.failure->message),
				 errdetail("The backup stays completed; schedule \"%s\" verifies each new backup.",
						   schedule)));
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(ctx);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (unrecorded)
		pgb_catalog_log(my_id, psprintf("could not verify the backup: %s", unrecorded));
}

void
pgb_job_worker_main(Datum arg)
{
	PgbJobArgs	args;
	PgbBackupRow *row;
	PgbCaptureParams params;
	PgbCaptureResult result;
	PgbJobHooks hooks;
	MemoryContext jobctx;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);
	pgb_pin_worker_settings();
	pgb_job_attach(&args);
	strlcpy(my_id, args.id, sizeof(my_id));
	before_shmem_exit(job_exit, (Datum) 0);

	pgstat_report_appname("pgbackups");
	jobctx = AllocSetContextCreate(TopMemoryContext, "pgbackups job", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(jobctx);

	row = pgb_catalog_get_backup(my_id);
	if (row == NULL || strcmp(row->status, "pending") != 0)
	{
		pgb_job_fail(ERRCODE_UNDEFINED_OBJECT, "backup is no longer pending");
		proc_exit(0);
	}
	pgb_catalog_mark_running(my_id, MyProcPid);
	/* requested by a library older than the catalog's update: no location yet */
	if (row->location == NULL || row->location[0] == '\0')
		row->location = pgb_catalog_assign_location(my_id);
	pgb_catalog_log(my_id, psprintf("backup started by worker %d: database \"%s\", %s compression, %d streams",
									MyProcPid, row->database, row->compression, row->parallel));

	memset(&params, 0, sizeof(params));
	memset(&result, 0, sizeof(result));
	params.dbname = row->database;
	params.location = row->location;
	params.parallel = row->parallel;
	{
		char	   *errmsg;
		char	   *spec = row->level >= 0 ? psprintf("%s:%d", row->compression, row->level)
			: row->compression;

		if (!pgb_compression_parse(spec, &params.comp, &errmsg))
			elog(ERROR, "invalid compression in catalog: %s", errmsg);
	}
	pgb_job_hooks(&hooks, job_log);

	PG_TRY();
	{
		pgb_capture_run(&params, &hooks, &result);
		archive_stored = true;
		pgb_manifest_complete(my_id, &result);
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		record_failure(row->location, pgb_catch_error(jobctx));
		RESUME_INTERRUPTS();
		proc_exit(0);
	}
	PG_END_TRY();

	pgb_catalog_log(my_id, "backup completed");
	pgb_debug_fault("after_record");	/* tests: before retention */
	if (strcmp(row->kind, "manual") == 0)
		pgb_retention_manual(my_id);
	else if (row->schedule)
	{
		pgb_retention_schedule(my_id, row->schedule);
		verify_new_backup(row->schedule);
	}
	pgb_job_finish(PGB_JOB_COMPLETED, NULL);
	proc_exit(0);
}
