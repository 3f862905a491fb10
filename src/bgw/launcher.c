/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  "pgbackups launcher": a static background worker that starts one
 *	  scheduler for every database that has the extension.
 *
 * The launcher reads pg_database every 10 seconds, or at once when its
 * latch is set (CREATE EXTENSION, a capture() in a database without a
 * running scheduler, a DROP DATABASE finishing).  A database it has not
 * seen gets a probe: a scheduler is started there and exits at once if the
 * extension is absent, marking the database ABSENT; such databases are
 * probed again every minute or when someone asks.  Template databases and
 * databases that do not allow connections are skipped, and so are
 * databases paused by the utility hook (DROP/ALTER DATABASE, CREATE
 * DATABASE ... TEMPLATE), which need the scheduler out of the way.
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
#include "launcher.h"
#include "shmem.h"
#include "storage.h"

#define LAUNCHER_NAPTIME_MS 10000
#define REPROBE_MS 60000
#define MAX_STARTING 4

static BackgroundWorkerHandle *sched_handles[PGB_MAX_DATABASES];

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

		if (db->datallowconn && !db->datistemplate && db->datconnlimit != -2)
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

static bool
start_scheduler(int idx, Oid dboid)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pgbackups");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "pgb_scheduler_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pgbackups scheduler %u", dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pgbackups scheduler");
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	bgw.bgw_notify_pid = MyProcPid;
	{
		/* the handle must outlive the per-loop memory context */
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		bool		ok;

		if (sched_handles[idx])
			pfree(sched_handles[idx]);
		sched_handles[idx] = NULL;
		ok = RegisterDynamicBackgroundWorker(&bgw, &sched_handles[idx]);
		MemoryContextSwitchTo(old);
		return ok;
	}
}

static void
launcher_round(void)
{
	List	   *dbs = list_databases();
	TimestampTz now = GetCurrentTimestamp();
	int			starting = 0;
	int			i;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	/* forget databases that are gone, and notice dead schedulers */
	for (i = 0; i < PGB_MAX_DATABASES; i++)
	{
		PgbDbSlot  *s = &PgbShared->dbs[i];
		pid_t		pid;

		if (s->dboid == InvalidOid)
			continue;
		if ((s->state == PGB_DB_STARTING || s->state == PGB_DB_RUNNING) &&
			sched_handles[i] != NULL &&
			GetBackgroundWorkerPid(sched_handles[i], &pid) == BGWH_STOPPED)
		{
			/* exited without saying why: try again after a pause */
			if (s->state == PGB_DB_STARTING || s->pid == 0 || s->state == PGB_DB_RUNNING)
			{
				s->state = PGB_DB_UNKNOWN;
				s->probed_at = now;
				s->pid = 0;
				s->latch = NULL;
			}
			pfree(sched_handles[i]);
			sched_handles[i] = NULL;
		}
		if (s->state == PGB_DB_STARTING)
			starting++;
		if (!list_member_oid(dbs, s->dboid) &&
			s->state != PGB_DB_STARTING && s->state != PGB_DB_RUNNING)
		{
			memset(s, 0, sizeof(PgbDbSlot));
			if (sched_handles[i])
				pfree(sched_handles[i]);
			sched_handles[i] = NULL;
		}
	}
	LWLockRelease(PgbShared->lock);

	for (i = 0; i < list_length(dbs); i++)
	{
		Oid			dboid = list_nth_oid(dbs, i);
		PgbDbSlot  *s;
		bool		start = false;
		int			idx;

		LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
		s = pgb_db_slot(dboid, true);
		if (s != NULL && s->paused_until <= now && starting < MAX_STARTING)
		{
			if (s->state == PGB_DB_UNKNOWN &&
				(s->wanted || s->probed_at == 0 ||
				 TimestampDifferenceExceeds(s->probed_at, now, 5000)))
				start = true;
			else if (s->state == PGB_DB_ABSENT &&
					 (s->wanted || TimestampDifferenceExceeds(s->probed_at, now, REPROBE_MS)))
				start = true;
			if (start)
			{
				s->state = PGB_DB_STARTING;
				s->stop_requested = false;
				s->probed_at = now;
				starting++;
			}
		}
		idx = s ? s - PgbShared->dbs : -1;
		LWLockRelease(PgbShared->lock);

		if (start && !start_scheduler(idx, dboid))
		{
			LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
			s->state = PGB_DB_UNKNOWN;
			LWLockRelease(PgbShared->lock);
		}
	}
	list_free(dbs);
}

/*
 * sweep_uploads
 *		At start-up, abort unfinished S3 uploads a crash left behind; only
 *		when no job is running (a launcher restarted on its own leaves its
 *		jobs alone).  Errors are logged, never fatal.
 */
static void
sweep_uploads(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		busy = false;
	int			i;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	for (i = 0; i < PGB_MAX_JOBS; i++)
		if (PgbShared->jobs[i].in_use && !PgbShared->jobs[i].exited)
			busy = true;
	LWLockRelease(PgbShared->lock);
	if (busy)
		return;
	PG_TRY();
	{
		pgb_storage_sweep();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}

void
pgb_launcher_main(Datum arg)
{
	MemoryContext loopctx;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgb_pin_search_path();
	pgstat_report_appname("pgbackups launcher");

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	PgbShared->launcher_pid = MyProcPid;
	PgbShared->launcher_latch = MyLatch;
	LWLockRelease(PgbShared->lock);

	loopctx = AllocSetContextCreate(TopMemoryContext, "pgbackups launcher loop",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loopctx);
	sweep_uploads();
	MemoryContextReset(loopctx);
	for (;;)
	{
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loopctx);
		launcher_round();
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   LAUNCHER_NAPTIME_MS, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
	}
}
