/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  "pgbackups scheduler": one per database with the extension, started
 *	  by the launcher only while the database has work, and gone when idle.
 *
 * A scheduler is started for a request (capture, cancel, delete, restore,
 * copy: sched_requests.c), a schedule slot that has come (schedule_run.c),
 * a job whose worker died (job_queue.c), or once after a server start to
 * reconcile.  Each turn it answers the requests, records dead jobs and
 * runs due slots; then it sleeps on its latch until the next request or
 * slot, at most LINGER_MS.  With nothing waiting it leaves, telling the
 * launcher its next schedule slot (next_due) and webhook retry, and the
 * launcher starts it again when one comes.  It leaves at once when other
 * databases wait for a scheduler turn, and when pgb_scheduler_pause()
 * asks (DROP/ALTER DATABASE).  Job workers are started and watched by the
 * launcher; webhooks and leftover databases are the maintenance worker's:
 * the scheduler does no slow I/O.
 *
 * Locking: PgbShared->lock is held only to read or change shared slots,
 * never across catalog access or waits.
 *
 * src/bgw/scheduler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "alerts.h"
#include "access.h"
#include "catalog.h"
#include "catalog_schedule.h"
#include "dbswap.h"
#include "pq_util.h"
#include "compress.h"
#include "counters.h"
#include "guc.h"
#include "http.h"
#include "job_queue.h"
#include "sched_requests.h"
#include "schedule_run.h"
#include "scheduler.h"
#include "error_info.h"
#include "shmem.h"
#include "storage.h"
#include "job_kind.h"
#include "url_scheme.h"

/* an idle scheduler stays this long for a next request, unless others wait */
#define LINGER_MS 2000

PgbDbSlot  *pgb_sched_db = NULL;
/* the installed extension version when it is not PGB_CATALOG_VERSION */
static char outdated[64];
static bool reconciled = false;
char	   *pgb_sched_dbname = NULL;

static bool
stop_requested(void)
{
	bool		stop;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	stop = pgb_sched_db->stop_requested;
	LWLockRelease(PgbShared->lock);
	return stop;
}

static void
scheduler_exit(int code, Datum arg)
{
	if (pgb_sched_db == NULL)
		return;
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	pgb_sched_db->sched_conf_at = 0;
	if (pgb_sched_db->pid == MyProcPid)
	{
		pgb_sched_db->state = PGB_DB_UNKNOWN;
		pgb_sched_db->pid = 0;
		pgb_sched_db->latch = NULL;
		pgb_sched_db->probed_at = GetCurrentTimestamp();
	}
	LWLockRelease(PgbShared->lock);
	ConditionVariableBroadcast(&PgbShared->db_cv);
	pgb_wake_launcher();
}

/* whether this turn's run_schedules() got through (guarded() catches errors) */
static bool schedules_done;

static void
run_schedules(void)
{
	pgb_schedules_run(pgb_jobq_queue_scheduled);
	schedules_done = true;
}

/*
 * guarded
 *		Run a periodic task; an error is logged and the task tried again on
 *		the next turn instead of stopping the scheduler.
 */
static void
guarded(void (*task) (void))
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		task();
	}
	PG_CATCH();
	{
		pgb_catch_and_log(ctx);
	}
	PG_END_TRY();
}

/*
 * extension_present
 *		Whether the database has the extension.  A probe someone asked for
 *		(CREATE EXTENSION wakes the launcher from inside its own, still
 *		uncommitted, transaction) looks again for up to three seconds.
 */
static bool
extension_present(PgbDbSlot *slot)
{
	bool		wanted;
	int			i;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	wanted = slot->wanted;
	LWLockRelease(PgbShared->lock);
	for (i = 0;; i++)
	{
		if (pgb_catalog_extension_version() != NULL)
			return true;
		if (!wanted || i >= 15)
			return false;
		pgb_pq_sleep(200);
	}
}

/*
 * check_version
 *		Stop if the extension was dropped.  A catalog older than this
 *		library (ALTER EXTENSION ... UPDATE not run yet) is left alone: the
 *		scheduler then only answers requests with an error, until updated.
 */
static void
check_version(void)
{
	char	   *version = pgb_catalog_extension_version();

	if (version == NULL)
	{
		ereport(LOG,
				(errmsg("pgbackups scheduler for database \"%s\" stopping: the extension was dropped",
						pgb_sched_dbname)));
		proc_exit(0);
	}
	if (strcmp(version, PGB_CATALOG_VERSION) == 0)
	{
		if (outdated[0])
			ereport(LOG,
					(errmsg("pgbackups scheduler for database \"%s\": the extension is now version %s",
							pgb_sched_dbname, version)));
		outdated[0] = '\0';
		return;
	}
	if (strcmp(outdated, version) != 0)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbackups: the extension in database \"%s\" is version %s, but the loaded library needs %s",
						pgb_sched_dbname, version, PGB_CATALOG_VERSION),
				 errhint("Run ALTER EXTENSION pgbackups UPDATE in that database; until then its jobs and schedules wait.")));
	strlcpy(outdated, version, sizeof(outdated));
}

/* whether a request or a wake-up is waiting for this scheduler; clears wanted */
static bool
work_waiting(bool clear)
{
	bool		waiting;
	int			i;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	waiting = pgb_sched_db->wanted || pgb_sched_db->jobs_died;
	if (clear)
		pgb_sched_db->wanted = false;
	for (i = 0; i < PGB_MAX_REQUESTS && !waiting; i++)
		waiting = PgbShared->requests[i].state == PGB_RQ_SUBMITTED &&
			PgbShared->requests[i].dboid == MyDatabaseId;
	LWLockRelease(PgbShared->lock);
	return waiting;
}

/*
 * leave_if_idle
 *		Exit, leaving the next schedule slot for the launcher, unless work
 *		arrived meanwhile (checked under the lock that requests are queued
 *		under, so none is missed: a request after this sees the database
 *		IDLE and makes the launcher start a scheduler again).
 */
static void
leave_if_idle(TimestampTz next_due, TimestampTz alerts_at)
{
	int			i;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (pgb_sched_db->wanted || pgb_sched_db->jobs_died || pgb_sched_db->stop_requested)
	{
		LWLockRelease(PgbShared->lock);
		return;
	}
	for (i = 0; i < PGB_MAX_REQUESTS; i++)
		if (PgbShared->requests[i].state == PGB_RQ_SUBMITTED &&
			PgbShared->requests[i].dboid == MyDatabaseId)
		{
			LWLockRelease(PgbShared->lock);
			return;
		}
	pgb_sched_db->state = PGB_DB_IDLE;
	pgb_sched_db->sched_conf_at = 0;
	pgb_sched_db->next_due = next_due;
	pgb_sched_db->alerts_next = alerts_at;
	pgb_sched_db->pid = 0;
	pgb_sched_db->latch = NULL;
	LWLockRelease(PgbShared->lock);
	ConditionVariableBroadcast(&PgbShared->db_cv);
	pgb_wake_launcher();
	proc_exit(0);
}

/* milliseconds until a scheduler-clock instant (-1: not on a timer) */
static long
ms_until(TimestampTz when)
{
	TimestampTz now;

	if (when == 0)
		return -1;
	if (pgb_debug_clock)
	{
		/* a frozen clock moves only by set_clock(), which sets the latch */
		LWLockAcquire(PgbShared->lock, LW_SHARED);
		now = PgbShared->debug_clock;
		LWLockRelease(PgbShared->lock);
		if (now != 0)
			return when <= now ? 0 : -1;
	}
	now = GetCurrentTimestamp();
	return when <= now ? 0 : TimestampDifferenceMilliseconds(now, when);
}

/* one turn: requests, dead jobs, due schedule slots; whether anything was done */
static bool
scheduler_turn(void)
{
	bool		busy = work_waiting(true);
	uint64		clock_gen;

	/* the set_clock() generation before run_schedules() reads the clock */
	LWLockAcquire(PgbShared->lock, LW_SHARED);
	clock_gen = PgbShared->counters.clock_sets;
	LWLockRelease(PgbShared->lock);
	schedules_done = false;

	if (outdated[0])
		check_version();		/* ALTER EXTENSION ... UPDATE may have run */

	pgb_sched_process_requests(outdated);
	if (!outdated[0])
	{
		if (pgb_jobq_record_dead())
			busy = true;
		guarded(run_schedules);
		if (busy && pgb_webhook_url && pgb_webhook_url[0])
			pgb_jobq_flag_maintenance(PGB_MAINT_ALERTS);
	}
	/* counted once the turn's decisions are committed (counters.c) */
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	pgb_sched_db->sched_turns++;
	if (schedules_done)
		pgb_sched_db->clock_decided = clock_gen;
	LWLockRelease(PgbShared->lock);
	return busy;
}

static void
attach(Oid dboid)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	pgb_sched_db = pgb_db_slot(dboid, true);
	LWLockRelease(PgbShared->lock);
	if (pgb_sched_db == NULL)
		proc_exit(0);

	if (!extension_present(pgb_sched_db))
	{
		pgb_sched_refuse_requests();
		LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
		pgb_sched_db->state = PGB_DB_ABSENT;
		pgb_sched_db->reconciled = false;	/* a new CREATE EXTENSION reconciles */
		pgb_sched_db->pid = 0;
		pgb_sched_db->latch = NULL;
		pgb_sched_db->probed_at = GetCurrentTimestamp();
		pgb_sched_db->wanted = false;
		LWLockRelease(PgbShared->lock);
		ConditionVariableBroadcast(&PgbShared->db_cv);
		pgb_sched_db = NULL;
		proc_exit(0);
	}

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	pgb_sched_db->state = PGB_DB_RUNNING;
	pgb_sched_db->pid = MyProcPid;
	pgb_sched_db->latch = MyLatch;
	pgb_sched_db->sched_conf_at = PgReloadTime;
	reconciled = pgb_sched_db->reconciled;
	LWLockRelease(PgbShared->lock);
	ConditionVariableBroadcast(&PgbShared->db_cv);
	before_shmem_exit(scheduler_exit, (Datum) 0);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgb_sched_dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	CommitTransactionCommand();
	/* logged once per server start (on demand it starts often) */
	ereport(reconciled ? DEBUG1 : LOG,
			(errmsg("pgbackups scheduler started for database \"%s\"", pgb_sched_dbname)));
}

void
pgb_scheduler_main(Datum arg)
{
	MemoryContext loopctx;
	TimestampTz last_ext_check;
	TimestampTz last_work;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pgb_count_process(PGB_PROC_SCHEDULER);
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	pgb_pin_worker_settings();
	pgstat_report_appname("pgbackups scheduler");
	attach(DatumGetObjectId(arg));

	loopctx = AllocSetContextCreate(TopMemoryContext, "pgbackups scheduler loop",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loopctx);
	check_version();
	last_ext_check = last_work = GetCurrentTimestamp();

	for (;;)
	{
		long		timeout;
		long		next_ms;
		TimestampTz next_due;
		TimestampTz alerts_at;
		bool		others_wait;

		CHECK_FOR_INTERRUPTS();
		if (stop_requested())
		{
			ereport(DEBUG1,
					(errmsg_internal("pgbackups scheduler for database \"%s\" stepping aside for a database command",
									 pgb_sched_dbname)));
			proc_exit(0);
		}
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
			pgb_sched_db->sched_conf_at = PgReloadTime;
			LWLockRelease(PgbShared->lock);
		}
		MemoryContextReset(loopctx);
		if (!outdated[0] && !reconciled)
		{
			pgb_jobq_reconcile();
			reconciled = true;
			LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
			pgb_sched_db->reconciled = true;
			LWLockRelease(PgbShared->lock);
		}
		if (scheduler_turn())
			last_work = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(last_ext_check, GetCurrentTimestamp(), 10000))
		{
			last_ext_check = GetCurrentTimestamp();
			check_version();
		}

		next_due = outdated[0] ? 0 : pgb_catalog_next_wakeup(&alerts_at);
		if (outdated[0])
			alerts_at = 0;
		next_ms = ms_until(next_due);
		LWLockAcquire(PgbShared->lock, LW_SHARED);
		others_wait = PgbShared->schedulers_waiting > 0;
		LWLockRelease(PgbShared->lock);
		if (next_ms != 0 && !work_waiting(false) &&
			(others_wait || TimestampDifferenceExceeds(last_work, GetCurrentTimestamp(), LINGER_MS)))
			leave_if_idle(next_due, alerts_at);

		timeout = LINGER_MS;
		if (next_ms >= 0)
			timeout = Min(timeout, next_ms);
		if (outdated[0])
			timeout = 1000;		/* ALTER EXTENSION UPDATE is looked for every second */
		if (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					  Max(timeout, 1), PG_WAIT_EXTENSION) & WL_LATCH_SET)
			ResetLatch(MyLatch);
	}
}
