/*-------------------------------------------------------------------------
 *
 * job_slot.c
 *	  The job worker's side of its shared-memory job slot.
 *
 * Cancellation is cooperative: pgbackups.cancel() sets the slot's cancel
 * flag and the worker's latch, and the engines call pgb_job_check() on
 * every wake-up (at least once a second).  The same check ends a job that
 * has run longer than pgbackups.max_job_time (the value when its worker
 * started): it fails with 57014, and its clean-up is a cancel's.  If the
 * worker exits without recording an outcome, the exit callback flags the
 * slot so that the scheduler marks the job failed.
 *
 * src/bgw/job_slot.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "counters.h"
#include "error_info.h"
#include "guc.h"
#include "job_slot.h"
#include "job_kind.h"
#include "storage.h"

static PgbJobSlot *my_slot = NULL;
static char my_id[PGB_ID_LEN];
static TimestampTz my_started = 0;	/* when this worker attached */
static bool my_cleaning_up = false; /* pgb_job_check() raises nothing */
static bool my_capture = false;	/* counted in capture_processes */

static void
slot_exit(int code, Datum arg)
{
	if (my_slot == NULL)
		return;
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	my_slot->exited = true;
	my_slot->latch = NULL;
	/* in the same lock hold: the launcher may start the next job at once */
	pgb_count_leave_locked(PGB_PROC_JOB, my_capture);
	LWLockRelease(PgbShared->lock);
}

void
pgb_job_attach(const PgbJobArgs *args)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (args->slot < 0 || args->slot >= PGB_MAX_JOBS ||
		!PgbShared->jobs[args->slot].in_use ||
		PgbShared->jobs[args->slot].generation != args->generation)
	{
		LWLockRelease(PgbShared->lock);
		elog(LOG, "pgbackups job %s: job slot is gone", args->id);
		proc_exit(0);
	}
	my_slot = &PgbShared->jobs[args->slot];
	my_slot->pid = MyProcPid;
	my_slot->latch = MyLatch;
	my_slot->status = PGB_JOB_RUNNING;
	my_capture = args->id[0] != 'r' && args->id[0] != 'c';
	pgb_count_enter_locked(PGB_PROC_JOB, my_capture);
	LWLockRelease(PgbShared->lock);
	strlcpy(my_id, args->id, sizeof(my_id));
	my_started = GetCurrentTimestamp();
	before_shmem_exit(slot_exit, (Datum) 0);
}

const char *
pgb_job_id(void)
{
	return my_id;
}

char *
pgb_job_source(void)
{
	char	   *copy;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	copy = pstrdup(my_slot->source);
	LWLockRelease(PgbShared->lock);
	return copy;
}

/* the role that requested this restore or copy (InvalidOid for captures) */
Oid
pgb_job_roleid(void)
{
	Oid			roleid;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	roleid = my_slot->roleid;
	LWLockRelease(PgbShared->lock);
	return roleid;
}

bool
pgb_job_cancel_requested(void)
{
	return my_slot && my_slot->cancel_requested;
}

/*
 * pgb_job_cleanup_begin
 *		The job failed (or was canceled, or ran out of time) and its worker
 *		now undoes what it did and records the outcome: from here on
 *		pgb_job_check() raises nothing, so that neither the cancel flag nor
 *		pgbackups.max_job_time interrupts that clean-up (libpq waits of the
 *		clean-up still call it).
 */
void
pgb_job_cleanup_begin(void)
{
	my_cleaning_up = true;
}

void
pgb_job_check(void)
{
	if (my_cleaning_up)
		return;
	if (pgb_job_cancel_requested())
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("%s %s was canceled", pgb_job_kind(my_id)->noun, my_id)));
	if (my_slot && pgb_max_job_time > 0 && my_started != 0 &&
		TimestampDifferenceExceeds(my_started, GetCurrentTimestamp(), pgb_max_job_time))
	{
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("%s %s ran longer than pgbackups.max_job_time (%s) and was stopped",
						pgb_job_kind(my_id)->noun, my_id,
						GetConfigOptionByName("pgbackups.max_job_time", NULL, false)),
				 errdetail("Its phase was \"%s\"; it was cleaned up as a canceled job is.",
						   my_slot->phase[0] ? my_slot->phase : "starting"),
				 errhint("Raise pgbackups.max_job_time (0 = no limit), or see what held it up in pgbackups.logs('%s').",
						 my_id)));
	}
}

void
pgb_job_progress(const char *phase, int done, int total, int64 bytes)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	strlcpy(my_slot->phase, phase, sizeof(my_slot->phase));
	my_slot->tables_done = done;
	my_slot->tables_total = total;
	my_slot->bytes_done = bytes;
	LWLockRelease(PgbShared->lock);
}

bool
pgb_job_reserve_proc(void)
{
	bool		ok = false;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (pgb_procs_in_use() < pgb_max_workers)
	{
		my_slot->nprocs++;
		pgb_count_budget_locked();
		ok = true;
	}
	LWLockRelease(PgbShared->lock);
	return ok;
}

void
pgb_job_release_proc(void)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (my_slot->nprocs > 1)
		my_slot->nprocs--;
	LWLockRelease(PgbShared->lock);
}

/*
 * pgb_job_finish
 *		Record the job's final status in its slot; err is its error (NULL
 *		when it completed), kept whole for the backend that waits for it.
 */
void
pgb_job_finish(PgbJobStatus status, const PgbErrorInfo *err)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	my_slot->status = status;
	if (err != NULL)
	{
		my_slot->sqlerrcode = err->sqlerrcode;
		pgb_error_text_copy(my_slot->errmsg, sizeof(my_slot->errmsg), err->message);
		my_slot->err_extra = err->extra;
	}
	else
	{
		my_slot->sqlerrcode = 0;
		my_slot->errmsg[0] = '\0';
		memset(&my_slot->err_extra, 0, sizeof(my_slot->err_extra));
	}
	my_slot->finished = true;
	my_slot->finished_at = GetCurrentTimestamp();
	LWLockRelease(PgbShared->lock);
}

/*
 * pgb_job_report_completed
 *		The job's outcome is recorded as completed: a backend waiting for it
 *		may return, while this worker still cleans up (a restore's or copy's
 *		replaced database, whose DROP DATABASE waits for a checkpoint of the
 *		restored data).  The slot stays unfinished until pgb_job_finish, so
 *		the worker is still counted.
 */
void
pgb_job_report_completed(void)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	my_slot->status = PGB_JOB_COMPLETED;
	my_slot->reported = true;
	LWLockRelease(PgbShared->lock);
}

/* pgb_job_fail: the job failed before it ran, with only a code and message */
void
pgb_job_fail(int sqlerrcode, const char *message)
{
	PgbErrorInfo err;

	pgb_error_info_set(&err, sqlerrcode, message);
	pgb_job_finish(PGB_JOB_FAILED, &err);
}

void
pgb_job_hooks(PgbJobHooks *hooks, void (*log) (const char *msg))
{
	hooks->check = pgb_job_check;
	hooks->log = log;
	/* storage's own lines (the retries an upload needed) go there too */
	pgb_storage_set_log_hook(log);
	hooks->progress = pgb_job_progress;
	hooks->reserve_proc = pgb_job_reserve_proc;
	hooks->release_proc = pgb_job_release_proc;
}
