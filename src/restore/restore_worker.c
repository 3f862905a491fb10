/*-------------------------------------------------------------------------
 *
 * restore_worker.c
 *	  A "pgbackups restore" background worker: connected to the staging
 *	  database as the target database's owner, it runs the TOC entries its
 *	  leader assigns, one at a time, and reports each outcome.
 *
 * bgw_main_arg is the DSM handle of the restore's PgbRestoreShared and
 * bgw_extra the worker's slot number.  An error in an entry is reported to
 * the leader (which fails the restore) and the worker waits for the next
 * order; an EXIT order or the leader's going away (leader_gone, set by its
 * detach callback) ends the worker.
 *
 * src/restore/restore_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/resource.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "counters.h"
#include "restore_exec.h"
#include "restore_worker.h"

static PgbRestoreShared *rs;
static PgbRestoreWorkerSlot *me;

static void
set_state(PgbRestoreWorkerState state)
{
	SpinLockAcquire(&rs->mutex);
	me->state = state;
	SpinLockRelease(&rs->mutex);
	SetLatch(rs->leader_latch);
}

static void
worker_exit(int code, Datum arg)
{
	struct rusage ru;

	if (rs == NULL)
		return;
	getrusage(RUSAGE_SELF, &ru);
	SpinLockAcquire(&rs->mutex);
	me->maxrss_kb = ru.ru_maxrss;
	me->state = PGB_RW_GONE;
	me->latch = NULL;
	SpinLockRelease(&rs->mutex);
	SetLatch(rs->leader_latch);
}

/*
 * report_error
 *		The error of item (-1: of the start-up) for the leader, whole:
 *		SQLSTATE, message, detail, hint, context.  The slot's error is
 *		written before the state says DONE; the leader reads it only then.
 */
static void
report_error(ErrorData *edata, int item)
{
	pgb_error_info_save(&me->error, edata);
	SpinLockAcquire(&rs->mutex);
	me->item = item;
	me->state = PGB_RW_DONE;
	SpinLockRelease(&rs->mutex);
	SetLatch(rs->leader_latch);
}

/* run the assigned item (or part) in itemctx and report its outcome */
static void
run_item(PgbRestoreExec *exec, int item, int part, PgbRestoreTask task,
		 MemoryContext workctx, MemoryContext itemctx)
{
	PgbExecResult res;

	memset(&res, 0, sizeof(res));
	MemoryContextSwitchTo(itemctx);
	pgstat_report_activity(STATE_RUNNING, rs->archive_path);
	PG_TRY();
	{
		if (task == PGB_TASK_ENTRY)
			pgb_exec_item(exec, item, part, &res);
		else
			pgb_exec_analyze(exec, item, task != PGB_TASK_FREEZE,
							 task != PGB_TASK_ANALYZE);
		me->error.sqlerrcode = 0;
		SpinLockAcquire(&rs->mutex);
		me->rows = res.rows;
		me->bytes = res.bytes;
		me->frozen = res.frozen;
		me->binary = res.binary;
		me->as_index = res.as_index;
		me->part_result = res.part;
		me->state = PGB_RW_DONE;
		SpinLockRelease(&rs->mutex);
		SetLatch(rs->leader_latch);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		edata = pgb_catch_error(workctx);
		report_error(edata, item);
		FreeErrorData(edata);
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(workctx);
	MemoryContextReset(itemctx);

	/*
	 * Send the statistics of the relations the item created or loaded (at
	 * most once a second, as a backend going idle does): a background worker
	 * has no idle loop that does it, so they would pile up in "PgStat
	 * Pending" until the worker exits, about 700 bytes per table.
	 */
	if (!IsTransactionOrTransactionBlock())
		pgstat_report_stat(false);
}

void
pgb_restore_worker_main(Datum arg)
{
	dsm_segment *seg;
	int			idx;
	PgbRestoreExec exec;
	MemoryContext workctx;
	MemoryContext itemctx;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pgb_count_process(PGB_PROC_RESTORE);
	memcpy(&idx, MyBgworkerEntry->bgw_extra, sizeof(int));
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "pgbackups restore worker");
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not attach to restore shared memory")));
	rs = (PgbRestoreShared *) dsm_segment_address(seg);
	if (idx < 0 || idx >= rs->nworkers)
		elog(ERROR, "invalid restore worker number %d", idx);
	me = &rs->workers[idx];
	SpinLockAcquire(&rs->mutex);
	me->pid = MyProcPid;
	me->latch = MyLatch;
	SpinLockRelease(&rs->mutex);
	before_shmem_exit(worker_exit, (Datum) 0);

	/* the session is the owner's: no superuser behind a SET ROLE */
	BackgroundWorkerInitializeConnection(rs->dbname, rs->role, 0);
	pgstat_report_appname("pgbackups restore");

	workctx = AllocSetContextCreate(TopMemoryContext, "pgbackups restore worker",
									ALLOCSET_DEFAULT_SIZES);
	itemctx = AllocSetContextCreate(workctx, "pgbackups restore item",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(workctx);

	PG_TRY();
	{
		pgb_exec_init(&exec, rs->archive_path, rs->positions, rs->keep_owner,
					  rs->max_decompressed);
		pgb_exec_maintenance(&exec, rs->maintenance_work_mem, rs->parallel_maintenance);
		exec.fk_unchecked = rs->fk_unchecked;
		exec.source_conninfo = rs->source_conninfo;
		exec.source_snapshot = rs->source_snapshot;
	}
	PG_CATCH();
	{
		report_error(pgb_catch_error(workctx), -1);
		proc_exit(0);
	}
	PG_END_TRY();
	set_state(PGB_RW_IDLE);

	for (;;)
	{
		PgbRestoreWorkerState state;
		int			item;
		int			part;
		PgbRestoreTask task;
		bool		leader_gone;

		CHECK_FOR_INTERRUPTS();
		SpinLockAcquire(&rs->mutex);
		state = me->state;
		item = me->item;
		part = me->part;
		task = me->task;
		leader_gone = rs->leader_gone;
		SpinLockRelease(&rs->mutex);

		/*
		 * The leader's detach callback sets leader_gone (and our latch) when
		 * it leaves by any path; a PID test such as kill(pid, 0) could be
		 * fooled by another process that got the leader's PID.
		 */
		if (state == PGB_RW_EXIT || leader_gone)
			break;
		if (state == PGB_RW_ASSIGNED)
		{
			run_item(&exec, item, part, task, workctx, itemctx);
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}
