/*-------------------------------------------------------------------------
 *
 * restore_pool.c
 *	  The leader's side of a restore's worker pool: the shared memory
 *	  segment (PgbRestoreShared, restore_worker.h), starting the "pgbackups
 *	  restore" workers, handing them TOC entries, collecting their
 *	  outcomes, stopping them.
 *
 * The workers are started with pgb_bgw_start, which makes the postmaster
 * notify this process (SIGUSR1, which sets its latch) when one starts or
 * exits; a worker sets the leader's latch on every state change.  So the
 * leader sleeps on its latch (pgb_restore_pool_wait) and wakes for every
 * event; the 1 s timeout only bounds the wait for a background worker slot
 * another process frees, of which nothing tells us.  When the leader goes
 * away by any path (FATAL included), the detach callback of the segment
 * flags it there and stops the workers (see leader_detached).
 *
 * src/restore/restore_pool.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "bgw_start.h"
#include "guc.h"
#include "restore_int.h"

#define POOL_WAIT_MS 1000

/*
 * leader_detached
 *		The leader detaches from the segment: after stop_workers normally,
 *		but also when it exits on an error it could not catch (FATAL, e.g.
 *		pg_terminate_backend).  The flag tells the workers their leader is
 *		gone: unlike kill(pid, 0), it cannot be fooled by another process
 *		reusing the leader's PID.  Workers still running are woken and
 *		terminated.
 */
static void
leader_detached(dsm_segment *seg, Datum arg)
{
	PgbRestore *r = (PgbRestore *) DatumGetPointer(arg);
	PgbRestoreShared *rs = dsm_segment_address(seg);
	int			w;

	SpinLockAcquire(&rs->mutex);
	rs->leader_gone = true;
	SpinLockRelease(&rs->mutex);
	for (w = 0; w < r->nworkers; w++)
	{
		if (rs->workers[w].latch)
			SetLatch(rs->workers[w].latch);
		if (r->handles[w])
			TerminateBackgroundWorker(r->handles[w]);
	}
}

/*
 * maintenance_settings
 *		The index builds' settings of each of n workers
 *		(pgbackups.restore_maintenance_work_mem and
 *		pgbackups.restore_parallel_maintenance_workers), logged once.
 */
static void
maintenance_settings(PgbRestore *r, int n)
{
	PgbRestoreShared *rs = r->rs;
	int64		share = (int64) pgb_restore_maintenance_mem * 1024 / Max(n, 1);

	rs->maintenance_work_mem = 0;
	if (pgb_restore_maintenance_mem > 0 && share > maintenance_work_mem)
		rs->maintenance_work_mem = (int) Min(share, (int64) MAX_KILOBYTES);
	if (pgb_restore_parallel_maintenance >= 0)
		rs->parallel_maintenance = pgb_restore_parallel_maintenance;
	else
		rs->parallel_maintenance = Min(n - 1, max_parallel_maintenance_workers);
	pgb_restore_log(r, "index builds: maintenance_work_mem %d MB and max_parallel_maintenance_workers %d per worker",
					(rs->maintenance_work_mem > 0 ? rs->maintenance_work_mem : maintenance_work_mem) / 1024,
					rs->parallel_maintenance);
}

/*
 * fk_unchecked
 *		Whether the foreign keys are created valid without their check
 *		(restore_constraints.c): the archive's rows come from one snapshot, being a
 *		pgbackups backup whose SHA-256 is checked against its record, or a
 *		copy's rows read at the source; an archive from a URL is checked as
 *		pg_restore checks it, and so is every archive with
 *		pgbackups.restore_check_foreign_keys on.
 */
static bool
fk_unchecked(PgbRestore *r)
{
	const PgbRestoreParams *p = r->params;
	int			nfk = 0;
	int			i;

	if (pgb_restore_check_foreign_keys)
		return false;
	if (!((p->backup && p->expected_sha256) || p->source_conninfo))
		return false;
	for (i = 0; i < r->plan->nitems; i++)
	{
		const PgbRestoreItem *it = &r->plan->items[i];

		if (it->action != PGB_ACT_SKIP && pgb_toc_is(it->te, "FK CONSTRAINT") &&
			it->te->defn && strstr(it->te->defn, " NOT VALID") == NULL)
			nfk++;
	}
	if (nfk > 0)
		pgb_restore_log(r, "foreign keys: %d created valid without re-reading their rows (the rows come from one snapshot in which they held; pgbackups.restore_check_foreign_keys = on checks them)",
						nfk);
	return true;
}

static void
create_segment(PgbRestore *r, int n, const uint64 *positions)
{
	int			ntoc = r->plan->nitems;
	Size		size = offsetof(PgbRestoreShared, positions) + sizeof(uint64) * Max(ntoc, 1);
	PgbRestoreShared *rs;

	r->seg = dsm_create(size, 0);
	rs = r->rs = dsm_segment_address(r->seg);
	memset(rs, 0, size);
	SpinLockInit(&rs->mutex);
	rs->leader_latch = MyLatch;
	strlcpy(rs->dbname, r->staging, NAMEDATALEN);
	strlcpy(rs->role, r->target->owner, NAMEDATALEN);
	strlcpy(rs->archive_path, r->params->archive_path, MAXPGPATH);
	if (r->params->source_conninfo)
	{
		if (strlen(r->params->source_conninfo) >= sizeof(rs->source_conninfo))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the connection string of the copy's source is too long")));
		strlcpy(rs->source_conninfo, r->params->source_conninfo, sizeof(rs->source_conninfo));
		strlcpy(rs->source_snapshot, r->params->source_snapshot, sizeof(rs->source_snapshot));
	}
	rs->keep_owner = r->params->keep_owner;
	rs->fk_unchecked = fk_unchecked(r);
	rs->max_decompressed = (int64) pgb_max_decompressed_size * 1024 * 1024;
	maintenance_settings(r, n);
	rs->ntoc = ntoc;
	rs->nworkers = n;
	memcpy(rs->positions, positions, sizeof(uint64) * ntoc);
	on_dsm_detach(r->seg, leader_detached, PointerGetDatum(r));
}

/* register worker i (its handle lives in TopMemoryContext) */
static bool
start_worker(PgbRestore *r, int i)
{
	PgbBgwSpec spec;
	char		name[BGW_MAXLEN];

	snprintf(name, sizeof(name), "pgbackups restore %s worker %d", r->params->job_id, i);
	memset(&spec, 0, sizeof(spec));
	spec.function = "pgb_restore_worker_main";
	spec.type = "pgbackups restore";
	spec.name = name;
	spec.database = true;
	spec.main_arg = UInt32GetDatum(dsm_segment_handle(r->seg));
	spec.extra = &i;
	spec.extra_len = sizeof(int);
	return pgb_bgw_start(&spec, TopMemoryContext, &r->handles[i]);
}

/*
 * pgb_restore_pool_wait
 *		Sleep until a worker reports (latch), one starts or exits (the
 *		postmaster's notification sets the latch), or POOL_WAIT_MS pass;
 *		then honour cancel and shutdown.
 */
void
pgb_restore_pool_wait(PgbRestore *r)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 POOL_WAIT_MS, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	pgb_restore_check(r);
}

/*
 * pgb_restore_pool_start
 *		Up to n workers (fewer when pgbackups.max_workers or the background
 *		worker slots run out); at least one, for which the leader waits as
 *		long as it takes (cancel and shutdown are honoured meanwhile).
 */
void
pgb_restore_pool_start(PgbRestore *r, int n, const uint64 *positions)
{
	int			i;

	create_segment(r, n, positions);
	for (i = 0; i < n; i++)
	{
		if (i > 0 && r->hooks.reserve_proc && !r->hooks.reserve_proc())
			break;
		if (!start_worker(r, i))
		{
			if (i > 0)
			{
				if (r->hooks.release_proc)
					r->hooks.release_proc();
				break;
			}
			pgb_restore_log(r, "waiting for a background worker slot for the first restore worker "
							"(max_worker_processes = %d are all in use)", max_worker_processes);
			do
				pgb_restore_pool_wait(r);
			while (!start_worker(r, i));
			pgb_restore_log(r, "a background worker slot is free: restore workers start");
		}
		r->nworkers++;
	}
	r->rs->nworkers = r->nworkers;
	if (r->nworkers < n)
		pgb_restore_log(r, "started %d of %d restore workers as role \"%s\": no more background worker "
						"slots (max_worker_processes) or pgbackups.max_workers", r->nworkers, n,
						r->target->owner);
	else
		pgb_restore_log(r, "started %d restore workers as role \"%s\"", r->nworkers, r->target->owner);
}

/*
 * worker_error
 *		Raise the error a worker reported, whole (its SQLSTATE, detail,
 *		hint and context), naming the entry it was restoring.
 */
static void
worker_error(PgbRestore *r, const PgbRestoreWorkerSlot *copy)
{
	const PgbErrorInfo *e = &copy->error;
	const PgbTocEntry *te = copy->item >= 0 ? r->plan->items[copy->item].te : NULL;

	ereport(ERROR,
			(errcode(e->sqlerrcode),
			 te && copy->task == PGB_TASK_ANALYZE ?
			 errmsg("could not analyze %s: %s", pgb_restore_entry_name(te), e->message) :
			 te ? errmsg("could not restore %s: %s", pgb_restore_entry_name(te), e->message)
			 : errmsg("restore worker could not start: %s", e->message),
			 e->extra.detail[0] ? errdetail_internal("%s", e->extra.detail) :
			 te ? errdetail("TOC entry %d.", te->dump_id) : 0,
			 e->extra.hint[0] ? errhint("%s", e->extra.hint) : 0,
			 e->extra.context[0] ? errcontext("%s", e->extra.context) : 0,
			 te ? errcontext("TOC entry %d (%s)", te->dump_id, pgb_restore_entry_name(te)) : 0));
}

/*
 * worker_state
 *		A copy of worker w's slot; raises the worker's start-up error, or
 *		an error if the worker is gone.
 */
static void
worker_state(PgbRestore *r, int w, PgbRestoreWorkerSlot *copy)
{
	pid_t		pid;

	SpinLockAcquire(&r->rs->mutex);
	memcpy(copy, &r->rs->workers[w], sizeof(*copy));
	SpinLockRelease(&r->rs->mutex);
	if (copy->state == PGB_RW_DONE && copy->error.sqlerrcode != 0 && copy->item < 0)
		worker_error(r, copy);
	if (copy->state == PGB_RW_DONE || copy->state == PGB_RW_IDLE)
		return;
	if (copy->state != PGB_RW_GONE &&
		(r->handles[w] == NULL || GetBackgroundWorkerPid(r->handles[w], &pid) != BGWH_STOPPED))
		return;					/* starting, or running an item */
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("restore worker %d exited unexpectedly", w),
			 copy->state == PGB_RW_STARTING ?
			 errhint("Check the server log; the role \"%s\" must be able to log in.",
					 r->target->owner) : 0));
}

/* wait until every worker is connected and idle */
void
pgb_restore_pool_wait_ready(PgbRestore *r)
{
	for (;;)
	{
		int			w;
		int			ready = 0;

		for (w = 0; w < r->nworkers; w++)
		{
			PgbRestoreWorkerSlot copy;

			worker_state(r, w, &copy);
			if (copy.state == PGB_RW_IDLE)
				ready++;
		}
		if (ready == r->nworkers)
			return;
		pgb_restore_pool_wait(r);
	}
}

/*
 * parts_verify
 *		Every part of a table's data is loaded: their check over the whole
 *		(a gzip item's Adler-32, combined from each part's) must hold, or the
 *		restore fails before the swap.
 */
static void
parts_verify(PgbRestore *r, PgbRestoreItem *it)
{
	if (!pgb_compression_parts_verify(r->plan->ar->hdr.compression, it->nparts, it->parts))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid archive: the data of %s, loaded in %d parts, fails its check",
						pgb_restore_entry_name(it->te), it->nparts),
				 errdetail("The Adler-32 of the zlib stream does not match the parts' data; the target was not changed.")));
}

/* a worker finished item: count it, and take it off the running list */
static void
item_finished(PgbRestore *r, const PgbRestoreWorkerSlot *copy, int *running, int *nrunning)
{
	PgbRestoreItem *it = &r->plan->items[copy->item];
	int64		rows = copy->rows;
	int64		bytes = copy->bytes;
	int			k;

	if (copy->task != PGB_TASK_ENTRY)
	{
		pgb_timing_analyzed(r, copy->item);
		goto off_list;
	}
	if (copy->as_index)
		r->timing.keys_as_index++;
	if (it->at_source)
	{
		r->source_loads++;
		r->source_binary += copy->binary ? 1 : 0;
	}
	if (it->nparts > 1)
	{
		/* a part: the item is done with its last part */
		it->parts[copy->part] = copy->part_result;
		it->parts_rows += copy->rows;
		it->parts_bytes += copy->bytes;
		if (++it->parts_done < it->nparts)
			goto off_list;
		if (!it->at_source)
			parts_verify(r, it);
		rows = it->parts_rows;
		bytes = it->parts_bytes;
	}
	pgb_restore_plan_done(r->plan, copy->item);
	pgb_timing_finished(r, copy->item, rows, bytes, copy->frozen);
	r->done++;
	r->bytes += bytes;
	r->loaded_rows[copy->item] = rows;
	if (pgb_toc_is(it->te, "TABLE DATA"))
	{
		r->tables++;
		r->rows += rows;
	}
	/* a copy: the source's snapshot is no longer needed */
	if (it->at_source && --r->source_items == 0)
	{
		pgb_restore_log(r, "rows read at the source: %d loads (tables or their parts), %d of them in binary COPY format",
						r->source_loads, r->source_binary);
		if (r->params->source_done)
			r->params->source_done();
	}
off_list:
	for (k = 0; k < *nrunning; k++)
		if (running[k] == copy->item)
		{
			running[k] = running[--(*nrunning)];
			break;
		}
}

/*
 * pgb_restore_pool_collect
 *		Take the outcomes of finished items (an item's error fails the
 *		restore); returns the number of idle workers.
 */
int
pgb_restore_pool_collect(PgbRestore *r, int *running, int *nrunning)
{
	int			w;
	int			idle = 0;

	for (w = 0; w < r->nworkers; w++)
	{
		PgbRestoreWorkerSlot copy;

		worker_state(r, w, &copy);
		if (copy.state == PGB_RW_DONE)
		{
			if (copy.error.sqlerrcode != 0)
				worker_error(r, &copy);
			SpinLockAcquire(&r->rs->mutex);
			r->rs->workers[w].state = PGB_RW_IDLE;
			SpinLockRelease(&r->rs->mutex);
			if (copy.task != PGB_TASK_ENTRY ||
				r->plan->items[copy.item].state == PGB_ITEM_RUNNING)
				item_finished(r, &copy, running, nrunning);
			idle++;
		}
		else if (copy.state == PGB_RW_IDLE)
			idle++;
	}
	if (TimestampDifferenceExceeds(r->last_progress, GetCurrentTimestamp(), 500))
	{
		pgb_restore_progress(r, "restoring");
		r->last_progress = GetCurrentTimestamp();
	}
	return idle;
}

/*
 * hand item to an idle worker, to run as an entry or (PGB_TASK_ANALYZE, a
 * TABLE entry already restored) to analyze; false if no worker is idle
 */
bool
pgb_restore_pool_dispatch(PgbRestore *r, int item, PgbRestoreTask task)
{
	PgbRestoreItem *it = &r->plan->items[item];
	int			w;

	for (w = 0; w < r->nworkers; w++)
	{
		PgbRestoreWorkerSlot *s = &r->rs->workers[w];
		bool		taken = false;
		Latch	   *latch = NULL;

		SpinLockAcquire(&r->rs->mutex);
		if (s->state == PGB_RW_IDLE)
		{
			s->item = item;
			s->part = task == PGB_TASK_ENTRY && it->nparts > 1 ? it->parts_started : -1;
			s->task = task;
			s->state = PGB_RW_ASSIGNED;
			latch = s->latch;
			taken = true;
		}
		SpinLockRelease(&r->rs->mutex);
		if (taken)
		{
			if (task != PGB_TASK_ENTRY || it->nparts <= 1 || it->parts_started == 0)
				pgb_timing_started(r, item);
			if (task == PGB_TASK_ENTRY)
			{
				if (it->nparts > 1 && it->parts_started++ == 0)
					it->parts = palloc0(sizeof(PgbPartResult) * it->nparts);
				it->state = PGB_ITEM_RUNNING;
			}
			if (latch)
				SetLatch(latch);
			return true;
		}
	}
	return false;
}

/*
 * pgb_restore_pool_stop
 *		Order every worker to exit, terminate those still running an item
 *		or starting (the staging database is dropped anyway) and wait until
 *		all are gone.  An idle worker leaves by itself when its latch is
 *		set, without a FATAL line in the server log.
 */
void
pgb_restore_pool_stop(PgbRestore *r)
{
	int			w;
	bool		busy[PGB_RESTORE_MAX_WORKERS];

	if (r->rs == NULL)
		return;
	SpinLockAcquire(&r->rs->mutex);
	for (w = 0; w < r->nworkers; w++)
	{
		PgbRestoreWorkerState s = r->rs->workers[w].state;

		busy[w] = s == PGB_RW_STARTING || s == PGB_RW_ASSIGNED;
		if (s != PGB_RW_GONE)
			r->rs->workers[w].state = PGB_RW_EXIT;
	}
	SpinLockRelease(&r->rs->mutex);
	for (w = 0; w < r->nworkers; w++)
	{
		pid_t		pid;

		if (r->rs->workers[w].latch)
			SetLatch(r->rs->workers[w].latch);
		if (busy[w] && r->handles[w] &&
			GetBackgroundWorkerPid(r->handles[w], &pid) != BGWH_STOPPED)
			TerminateBackgroundWorker(r->handles[w]);
	}
	for (w = 0; w < r->nworkers; w++)
		if (r->handles[w])
		{
			(void) WaitForBackgroundWorkerShutdown(r->handles[w]);
			pfree(r->handles[w]);
			r->handles[w] = NULL;
		}
	/* their peak memory, for the job's log (pgb_restore_run) */
	if (r->nworkers > 0)
	{
		SpinLockAcquire(&r->rs->mutex);
		for (w = 0; w < r->nworkers; w++)
			r->worker_maxrss_kb[w] = r->rs->workers[w].maxrss_kb;
		SpinLockRelease(&r->rs->mutex);
		r->nstopped = r->nworkers;
	}
	r->nworkers = 0;
}

/* the leader is done with the segment (the workers are stopped) */
void
pgb_restore_pool_detach(PgbRestore *r)
{
	if (r->seg)
		dsm_detach(r->seg);
	r->seg = NULL;
	r->rs = NULL;
}
