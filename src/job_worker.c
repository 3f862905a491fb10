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
 * finished.  Cancellation is cooperative: pgbackups.cancel() sets the
 * slot's cancel flag and the worker's latch, and every wait of the capture
 * checks the flag within 100 ms.  If the worker dies without recording an
 * outcome (FATAL, SIGTERM), an exit callback flags the slot and the
 * scheduler marks the job failed; after a crash-restart the scheduler's
 * start-up reconciliation does.
 *
 * src/job_worker.c
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

#include "capture.h"
#include "catalog.h"
#include "compress.h"
#include "guc.h"
#include "job_worker.h"
#include "shmem.h"
#include "storage.h"

static PgbJobSlot *my_slot = NULL;
static char my_id[PGB_ID_LEN];

static void
job_exit(int code, Datum arg)
{
	if (my_slot == NULL)
		return;
	pgb_capture_cleanup_on_exit();
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	my_slot->exited = true;
	my_slot->latch = NULL;
	LWLockRelease(PgbShared->lock);
}

static void
job_check(void)
{
	if (my_slot && my_slot->cancel_requested)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("backup %s was canceled", my_id)));
}

static void
job_log(const char *msg)
{
	pgb_catalog_log(my_id, msg);
}

static void
job_progress(const char *phase, int done, int total, int64 bytes)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	strlcpy(my_slot->phase, phase, sizeof(my_slot->phase));
	my_slot->tables_done = done;
	my_slot->tables_total = total;
	my_slot->bytes_done = bytes;
	LWLockRelease(PgbShared->lock);
}

static bool
job_reserve_proc(void)
{
	bool		ok = false;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (pgb_procs_in_use() < pgb_max_workers)
	{
		my_slot->nprocs++;
		ok = true;
	}
	LWLockRelease(PgbShared->lock);
	return ok;
}

static void
job_release_proc(void)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (my_slot->nprocs > 1)
		my_slot->nprocs--;
	LWLockRelease(PgbShared->lock);
}

static void
finish_slot(PgbJobStatus status, int sqlerrcode, const char *msg)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	my_slot->status = status;
	my_slot->sqlerrcode = sqlerrcode;
	strlcpy(my_slot->errmsg, msg ? msg : "", sizeof(my_slot->errmsg));
	my_slot->finished = true;
	my_slot->finished_at = GetCurrentTimestamp();
	LWLockRelease(PgbShared->lock);
}

static void
apply_manual_retention(void)
{
	List	   *expired = pgb_catalog_expire_manual(pgb_manual_retention);
	ListCell   *lc;

	foreach(lc, expired)
	{
		char	   *entry = lfirst(lc);
		char	   *space = strchr(entry, ' ');

		*space = '\0';
		if (space[1] != '\0')
		{
			PG_TRY();
			{
				pgb_storage_delete(space + 1);
			}
			PG_CATCH();
			{
				EmitErrorReport();
				FlushErrorState();
			}
			PG_END_TRY();
		}
		pgb_catalog_log(my_id, psprintf("expired backup %s (pgbackups.manual_retention = %d)",
										entry, pgb_manual_retention));
	}
}

void
pgb_job_worker_main(Datum arg)
{
	PgbJobArgs	args;
	PgbBackupRow *row;
	PgbCaptureParams params;
	PgbCaptureResult result;
	PgbCaptureHooks hooks;
	MemoryContext jobctx;
	char	   *err;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (args.slot < 0 || args.slot >= PGB_MAX_JOBS ||
		!PgbShared->jobs[args.slot].in_use ||
		PgbShared->jobs[args.slot].generation != args.generation)
	{
		LWLockRelease(PgbShared->lock);
		elog(LOG, "pgbackups job %s: job slot is gone", args.id);
		proc_exit(0);
	}
	my_slot = &PgbShared->jobs[args.slot];
	my_slot->pid = MyProcPid;
	my_slot->latch = MyLatch;
	my_slot->status = PGB_JOB_RUNNING;
	LWLockRelease(PgbShared->lock);
	strlcpy(my_id, args.id, sizeof(my_id));
	before_shmem_exit(job_exit, (Datum) 0);

	pgstat_report_appname("pgbackups");
	jobctx = AllocSetContextCreate(TopMemoryContext, "pgbackups job", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(jobctx);

	row = pgb_catalog_get_backup(my_id);
	if (row == NULL || strcmp(row->status, "pending") != 0)
	{
		finish_slot(PGB_JOB_FAILED, ERRCODE_UNDEFINED_OBJECT, "backup is no longer pending");
		proc_exit(0);
	}
	pgb_catalog_mark_running(my_id, MyProcPid);
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
	hooks.check = job_check;
	hooks.log = job_log;
	hooks.progress = job_progress;
	hooks.reserve_proc = job_reserve_proc;
	hooks.release_proc = job_release_proc;

	PG_TRY();
	{
		pgb_capture_run(&params, &hooks, &result);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		canceled;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(jobctx);
		edata = CopyErrorData();
		FlushErrorState();
		if (IsTransactionState())
			AbortCurrentTransaction();
		canceled = my_slot->cancel_requested && edata->sqlerrcode == ERRCODE_QUERY_CANCELED;
		pgb_capture_cleanup();
		pgb_storage_remove_partials(row->location);
		err = edata->detail ? psprintf("%s: %s", edata->message, edata->detail)
			: pstrdup(edata->message);
		pgb_catalog_mark_ended(my_id, canceled ? "canceled" : "failed",
							   canceled ? "canceled by user request" : err,
							   unpack_sql_state(edata->sqlerrcode));
		pgb_catalog_log(my_id, canceled ? "backup canceled" : psprintf("backup failed: %s", err));
		finish_slot(canceled ? PGB_JOB_CANCELED : PGB_JOB_FAILED, edata->sqlerrcode,
					canceled ? psprintf("backup %s was canceled", my_id) : err);
		RESUME_INTERRUPTS();
		proc_exit(0);
	}
	PG_END_TRY();

	pgb_catalog_mark_completed(my_id, &result);
	pgb_catalog_log(my_id, "backup completed");
	if (strcmp(row->kind, "manual") == 0)
		apply_manual_retention();
	finish_slot(PGB_JOB_COMPLETED, 0, NULL);
	proc_exit(0);
}
