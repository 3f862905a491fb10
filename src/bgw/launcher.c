/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  "pgbackups launcher": the one static background worker.  It starts
 *	  every other pgbackups process, on demand, and keeps their handles.
 *
 * A database with the extension and nothing to do holds no process.  The
 * launcher starts, for a database:
 *	- its scheduler (scheduler.c) when a request waits (a SQL caller set
 *	  the slot's wanted flag), when its next schedule slot has come
 *	  (next_due, which the scheduler left when it exited idle), when one of
 *	  its jobs died without recording an outcome, or, once per server
 *	  start, to reconcile; never more than MAX_SCHEDULERS at once, so that
 *	  fifty databases cannot take every background worker slot;
 *	- its maintenance worker (maintenance.c) for webhook deliveries and
 *	  leftover databases, which are slow and so never run in a scheduler;
 *	- the worker of every job the schedulers recorded (pending job slots,
 *	  in the order they were created) while fewer than
 *	  pgbackups.max_workers pgbackups processes run.  A job that finds no
 *	  background worker slot stays pending and is started when one frees.
 *	  A capture of a database that already has a capture running stays
 *	  pending until that one ends (one capture per database at a time,
 *	  manual or scheduled, whichever catalog recorded it).
 * Every process it starts notifies it of its start and exit (the latch),
 * so liveness is read from BackgroundWorkerHandles, never from PIDs.
 *
 * Databases it has not seen get a probe (a scheduler that exits at once,
 * marking the database ABSENT, when the extension is not there);
 * CREATE EXTENSION asks for a new probe at commit.  A database paused by
 * pgb_scheduler_pause() (DROP/ALTER DATABASE, a restore's swap) gets no
 * process, and its maintenance worker is terminated.
 *
 * src/bgw/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "access.h"
#include "bgw_start.h"
#include "clock.h"
#include "counters.h"
#include "guc.h"
#include "job_kind.h"
#include "job_worker.h"
#include "launcher.h"
#include "error_info.h"
#include "shmem.h"
#include "storage.h"

#define LAUNCHER_NAPTIME_MS 10000
#define RETRY_MS 1000
#define REPROBE_MS (10 * 60 * 1000)
#define DEAD_RETRY_MS 5000
#define MAX_SCHEDULERS 2
#define MAX_MAINTENANCE 1
#define FINISHED_SLOT_TTL_MS (10 * 60 * 1000)

static BackgroundWorkerHandle *sched_handles[PGB_MAX_DATABASES];
static BackgroundWorkerHandle *maint_handles[PGB_MAX_DATABASES];
static BackgroundWorkerHandle *job_handles[PGB_MAX_JOBS];
static bool warned_no_slot[PGB_MAX_JOBS];
static uint32 warned_waiting[PGB_MAX_JOBS]; /* generation + 1 logged as waiting */
static uint32 noted_gen[PGB_MAX_JOBS];	/* finished jobs already noted */

/* the next wake-up of this round: the earliest time something is due */
static long next_wait_ms;

static void
wake_within(long ms)
{
	if (ms < next_wait_ms)
		next_wait_ms = Max(ms, 10);
}

void
pgb_launcher_register(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pgbackups");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "pgb_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pgbackups launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pgbackups launcher");
	RegisterBackgroundWorker(&bgw);
}

/*
 * A restore's staging database or a replaced one (pgbackups_<oid>_<id>_...):
 * it gets no scheduler (it would only be ended by the swap or the drop).
 */
static bool
is_transient(const char *datname)
{
	unsigned int oid;
	int			n = 0;

	return sscanf(datname, "pgbackups_%u_%n", &oid, &n) == 1 && n > 0;
}

static List *
list_databases(void)
{
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext ctx = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate && db->datconnlimit != -2 &&
			!is_transient(NameStr(db->datname)))
		{
			MemoryContext old = MemoryContextSwitchTo(ctx);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(ctx);
	return dbs;
}

/* start a per-database process (scheduler or maintenance worker) */
static bool
start_db_worker(const char *function, const char *type, Oid dboid,
				BackgroundWorkerHandle **handle)
{
	PgbBgwSpec	spec;
	char		name[BGW_MAXLEN];

	snprintf(name, sizeof(name), "%s %u", type, dboid);
	memset(&spec, 0, sizeof(spec));
	spec.function = function;
	spec.type = type;
	spec.name = name;
	spec.database = true;
	spec.main_arg = ObjectIdGetDatum(dboid);
	if (*handle)
		pfree(*handle);
	*handle = NULL;
	return pgb_bgw_start(&spec, TopMemoryContext, handle);
}

static bool
handle_stopped(BackgroundWorkerHandle *h)
{
	pid_t		pid;

	return h != NULL && GetBackgroundWorkerPid(h, &pid) == BGWH_STOPPED;
}

/*
 * note_exits
 *		Schedulers and maintenance workers that are gone; lock held.  A
 *		scheduler that exited without saying so (an error) is probed again
 *		after a pause.
 */
static void
note_exits(TimestampTz now, int *schedulers, int *maintenance)
{
	int			i;

	for (i = 0; i < PGB_MAX_DATABASES; i++)
	{
		PgbDbSlot  *s = &PgbShared->dbs[i];

		if (handle_stopped(maint_handles[i]))
		{
			pfree(maint_handles[i]);
			maint_handles[i] = NULL;
			s->maint_running = false;
		}
		if (maint_handles[i] != NULL)
			(*maintenance)++;
		if (handle_stopped(sched_handles[i]))
		{
			pfree(sched_handles[i]);
			sched_handles[i] = NULL;
			if (s->state == PGB_DB_STARTING || s->state == PGB_DB_RUNNING)
			{
				s->state = PGB_DB_UNKNOWN;
				s->probed_at = now;
				s->pid = 0;
				s->latch = NULL;
				ConditionVariableBroadcast(&PgbShared->db_cv);
			}
		}
		if (sched_handles[i] != NULL)
			(*schedulers)++;
	}
}

/* whether the database's scheduler should be started now; lock held */
static bool
scheduler_due(PgbDbSlot *s, TimestampTz now, TimestampTz clock)
{
	switch (s->state)
	{
		case PGB_DB_UNKNOWN:
			if (s->wanted || s->probed_at == 0 ||
				TimestampDifferenceExceeds(s->probed_at, now, DEAD_RETRY_MS))
				return true;
			wake_within(DEAD_RETRY_MS);
			return false;
		case PGB_DB_ABSENT:
			return s->wanted || TimestampDifferenceExceeds(s->probed_at, now, REPROBE_MS);
		case PGB_DB_IDLE:
			if (s->wanted || s->jobs_died)
				return true;
			if (s->next_due != 0)
			{
				if (s->next_due <= clock)
					return true;
				if (clock == now)	/* real time: sleep until the slot */
					wake_within(TimestampDifferenceMilliseconds(now, s->next_due));
			}
			return false;
		default:
			return false;
	}
}

/* whether the database's maintenance worker should be started now; lock held */
static bool
maintenance_due(PgbDbSlot *s, TimestampTz now)
{
	if (s->maint_running || s->state == PGB_DB_ABSENT)
		return false;
	if (s->maint_flags != 0)
		return true;
	if (s->alerts_next != 0 && pgb_webhook_url && pgb_webhook_url[0])
	{
		if (s->alerts_next <= now)
			return true;
		wake_within(TimestampDifferenceMilliseconds(now, s->alerts_next));
	}
	return false;
}

/*
 * start_schedulers
 *		Start the due schedulers within MAX_SCHEDULERS, databases with a
 *		waiting request (or a dead job) first: a caller must not wait behind
 *		probes and due slots of other databases.  Lock held.
 */
static void
start_schedulers(List *due, TimestampTz now, int *schedulers, int *waiting)
{
	int			pass;
	ListCell   *lc;

	for (pass = 0; pass < 2; pass++)
	{
		foreach(lc, due)
		{
			int			i = lfirst_int(lc);
			PgbDbSlot  *s = &PgbShared->dbs[i];
			bool		urgent = s->wanted || s->jobs_died;

			if (urgent != (pass == 0))
				continue;
			if (*schedulers >= MAX_SCHEDULERS)
			{
				(*waiting)++;
				continue;
			}
			s->stop_requested = false;
			s->probed_at = now;
			if (start_db_worker("pgb_scheduler_main", "pgbackups scheduler", s->dboid,
								&sched_handles[i]))
			{
				s->state = PGB_DB_STARTING;
				(*schedulers)++;
			}
			else
			{
				(*waiting)++;
				wake_within(RETRY_MS);
			}
		}
	}
}

/*
 * databases_round
 *		Start the schedulers and maintenance workers that are due, within
 *		their caps; forget databases that are gone.
 */
static void
databases_round(void)
{
	List	   *dbs = list_databases();
	TimestampTz now = GetCurrentTimestamp();
	uint64		clock_gen;
	TimestampTz clock;
	int			schedulers = 0;
	int			maintenance = 0;
	int			waiting = 0;
	int			i;
	ListCell   *lc;
	List	   *due = NIL;

	/* the set_clock() generation first: the clock read after is as new */
	LWLockAcquire(PgbShared->lock, LW_SHARED);
	clock_gen = PgbShared->counters.clock_sets;
	LWLockRelease(PgbShared->lock);
	clock = pgb_clock_now();

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	foreach(lc, dbs)
		(void) pgb_db_slot(lfirst_oid(lc), true);	/* a new database gets probed */
	note_exits(now, &schedulers, &maintenance);
	for (i = 0; i < PGB_MAX_DATABASES; i++)
	{
		PgbDbSlot  *s = &PgbShared->dbs[i];

		if (s->dboid == InvalidOid)
			continue;
		if (!list_member_oid(dbs, s->dboid) && sched_handles[i] == NULL &&
			maint_handles[i] == NULL)
		{
			memset(s, 0, sizeof(PgbDbSlot));
			continue;
		}
		if (s->paused_until > now)
		{
			/* a pause: the maintenance worker goes too (it may be in a slow POST) */
			if (maint_handles[i] != NULL)
				TerminateBackgroundWorker(maint_handles[i]);
			wake_within(TimestampDifferenceMilliseconds(now, s->paused_until));
			continue;
		}
		if (sched_handles[i] == NULL && scheduler_due(s, now, clock))
			due = lappend_int(due, i);
		else if (sched_handles[i] == NULL && s->state == PGB_DB_IDLE)
			s->clock_decided = clock_gen;	/* no slot of it is due at clock */
		if (maint_handles[i] == NULL && maintenance < MAX_MAINTENANCE &&
			maintenance_due(s, now))
		{
			if (start_db_worker("pgb_maintenance_main", "pgbackups maintenance", s->dboid,
								&maint_handles[i]))
			{
				s->maint_running = true;
				maintenance++;
			}
			else
				wake_within(RETRY_MS);
		}
	}
	start_schedulers(due, now, &schedulers, &waiting);
	/* schedulers wait for a turn: the running ones leave as soon as they are idle */
	PgbShared->schedulers_waiting = waiting;
	LWLockRelease(PgbShared->lock);
	list_free(dbs);
}

/* register the worker of a pending job; lock held */
static bool
launch_job(PgbJobSlot *j)
{
	PgbBgwSpec	spec;
	PgbJobArgs	args;
	char		name[BGW_MAXLEN];
	int			idx = j - PgbShared->jobs;

	memset(&args, 0, sizeof(args));
	args.dboid = j->dboid;
	args.slot = idx;
	args.generation = j->generation;
	strlcpy(args.id, j->id, sizeof(args.id));
	snprintf(name, sizeof(name), "pgbackups job %s", j->id);
	memset(&spec, 0, sizeof(spec));
	spec.function = pgb_job_kind(j->id)->entry;
	spec.type = "pgbackups job";
	spec.name = name;
	spec.database = true;
	spec.extra = &args;
	spec.extra_len = sizeof(args);
	StaticAssertStmt(sizeof(PgbJobArgs) <= BGW_EXTRALEN, "job arguments do not fit in bgw_extra");
	if (job_handles[idx])
		pfree(job_handles[idx]);
	job_handles[idx] = NULL;
	if (pgb_bgw_start(&spec, TopMemoryContext, &job_handles[idx]))
	{
		j->launched = true;
		j->nprocs = 1;
		pgb_count_budget_locked();
		warned_no_slot[idx] = false;
		return true;
	}
	if (!warned_no_slot[idx])
		ereport(LOG,
				(errmsg("pgbackups: no background worker slot for job %s; it stays pending until one frees",
						j->id)));
	warned_no_slot[idx] = true;
	return false;
}

/*
 * capture_running
 *		The capture of database that runs now (its worker was started and
 *		has neither recorded an outcome nor exited), whichever database's
 *		catalog recorded it; NULL if none.  Lock held.
 */
static PgbJobSlot *
capture_running(const char *database)
{
	int			i;

	for (i = 0; i < PGB_MAX_JOBS; i++)
	{
		PgbJobSlot *j = &PgbShared->jobs[i];

		if (j->in_use && j->launched && !j->finished && !j->exited &&
			j->database[0] != '\0' && strcmp(j->database, database) == 0)
			return j;
	}
	return NULL;
}

/*
 * one_capture_per_database
 *		Whether pending job j may start now: a capture waits (pending) while
 *		another capture of the same database runs, manual or scheduled,
 *		recorded in this catalog or another one; the captures of a database
 *		then start in the order they were recorded.  Logged once per job.
 *		Lock held.
 */
static bool
one_capture_per_database(PgbJobSlot *j)
{
	int			idx = j - PgbShared->jobs;
	PgbJobSlot *busy;

	if (j->database[0] == '\0')
		return true;
	busy = capture_running(j->database);
	if (busy == NULL)
	{
		warned_waiting[idx] = 0;
		return true;
	}
	if (warned_waiting[idx] != j->generation + 1)
		ereport(LOG,
				(errmsg("pgbackups: backup %s of database \"%s\" stays pending until backup %s of that database ends",
						j->id, j->database, busy->id)));
	warned_waiting[idx] = j->generation + 1;
	return false;
}

/* the oldest pending job not yet launched that may start now; lock held */
static PgbJobSlot *
oldest_pending(void)
{
	PgbJobSlot *best = NULL;
	int			i;

	for (i = 0; i < PGB_MAX_JOBS; i++)
	{
		PgbJobSlot *j = &PgbShared->jobs[i];

		if (j->in_use && !j->launched && !j->finished &&
			(best == NULL || (int32) (j->generation - best->generation) < 0) &&
			one_capture_per_database(j))
			best = j;
	}
	return best;
}

/* flag a database for its scheduler or maintenance worker; lock held */
static void
flag_database(Oid dboid, bool died, int maint_flags)
{
	PgbDbSlot  *s = pgb_db_slot(dboid, false);

	if (s == NULL)
		return;
	if (died)
		s->jobs_died = true;
	s->maint_flags |= maint_flags;
}

/*
 * jobs_round
 *		Notice job workers that are gone (one that exited without an
 *		outcome is left for its database's scheduler to record), note
 *		finished jobs for webhook delivery, start pending jobs within
 *		pgbackups.max_workers, and forget slots finished long ago.
 */
static void
jobs_round(void)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		webhook = pgb_webhook_url && pgb_webhook_url[0];
	int			i;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGB_MAX_JOBS; i++)
	{
		PgbJobSlot *j = &PgbShared->jobs[i];

		if (!j->in_use)
			continue;
		if (j->launched && !j->exited && handle_stopped(job_handles[i]))
			j->exited = true;
		if (j->launched && j->exited && !j->finished)
			flag_database(j->dboid, true, 0);
		if (j->finished && noted_gen[i] != j->generation)
		{
			noted_gen[i] = j->generation;
			if (webhook)
				flag_database(j->dboid, false, PGB_MAINT_ALERTS);
		}
		if (j->finished && (j->exited || !j->launched) &&
			TimestampDifferenceExceeds(j->finished_at, now, FINISHED_SLOT_TTL_MS))
			j->in_use = false;
	}
	for (;;)
	{
		PgbJobSlot *j;

		if (pgb_procs_in_use() >= pgb_max_workers)
			break;
		j = oldest_pending();
		if (j == NULL)
			break;
		if (!launch_job(j))
		{
			wake_within(RETRY_MS);
			break;
		}
	}
	LWLockRelease(PgbShared->lock);
}

/*
 * start_sweep
 *		At start-up, when no job is running (a launcher restarted on its
 *		own leaves its jobs alone), a one-shot worker aborts the unfinished
 *		S3 uploads a crash left behind (maintenance.c): slow I/O that must
 *		not hold up the launcher.
 */
static void
start_sweep(void)
{
	PgbBgwSpec	spec;
	BackgroundWorkerHandle *h = NULL;
	bool		busy = false;
	int			i;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	for (i = 0; i < PGB_MAX_JOBS; i++)
		if (PgbShared->jobs[i].in_use && !PgbShared->jobs[i].exited)
			busy = true;
	LWLockRelease(PgbShared->lock);
	if (busy)
		return;
	memset(&spec, 0, sizeof(spec));
	spec.function = "pgb_sweep_main";
	spec.type = "pgbackups sweep";
	spec.name = "pgbackups sweep";
	if (!pgb_bgw_start(&spec, NULL, &h))
		ereport(LOG,
				(errmsg("pgbackups: no background worker slot to sweep unfinished uploads; they are swept at the next start")));
}

void
pgb_launcher_main(Datum arg)
{
	MemoryContext loopctx;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgb_pin_worker_settings();
	pgstat_report_appname("pgbackups launcher");

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	PgbShared->launcher_pid = MyProcPid;
	PgbShared->launcher_latch = MyLatch;
	PgbShared->counters.launcher_conf_at = PgReloadTime;
	LWLockRelease(PgbShared->lock);

	loopctx = AllocSetContextCreate(TopMemoryContext, "pgbackups launcher loop",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loopctx);
	start_sweep();
	MemoryContextReset(loopctx);
	for (;;)
	{
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
			PgbShared->counters.launcher_conf_at = PgReloadTime;
			LWLockRelease(PgbShared->lock);
		}
		MemoryContextReset(loopctx);
		next_wait_ms = LAUNCHER_NAPTIME_MS;
		jobs_round();
		databases_round();
		LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
		PgbShared->counters.launcher_rounds++;
		LWLockRelease(PgbShared->lock);
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   next_wait_ms, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
	}
}
