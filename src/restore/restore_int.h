/*-------------------------------------------------------------------------
 *
 * restore_int.h
 *	  The state of a restore's leader, shared by the files of the restore
 *	  engine (not used outside src/restore): restore.c drives, and hands
 *	  this state to restore_scan.c (first pass over the archive),
 *	  restore_ext.c (extensions), restore_pool.c (the workers),
 *	  restore_swap.c (take-over), restore_drop.c (dropping what is left)
 *	  and restore_timing.c (what each step took, for the job's log).
 *
 * src/restore/restore_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_RESTORE_INT_H
#define PGB_RESTORE_INT_H

#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "utils/timestamp.h"

#include "archive.h"
#include "dbswap.h"
#include "restore.h"
#include "restore_plan.h"
#include "restore_worker.h"

struct PgbArchiveHash;

/* what each step took (restore_timing.c); times per plan item */
typedef struct PgbRestoreTiming
{
	TimestampTz *ready;			/* when its last dependency finished (0: at
								 * the start of the parallel phase) */
	TimestampTz *started;		/* handed to a worker */
	double	   *secs;			/* run time of the entry, -1: not run by a
								 * worker in the parallel phase */
	double	   *analyze_secs;	/* run time of its ANALYZE, -1: none */
	bool	   *frozen;			/* TABLE DATA loaded with COPY FREEZE */
	int			keys_as_index;	/* keys built as an index, then attached */
	bool		parallel;		/* in the parallel phase */
	bool		detail_data;	/* a log line per TABLE DATA entry */
	bool		detail_build;	/* a log line per index or constraint */
	bool		detail_analyze; /* a log line per ANALYZE */
	TimestampTz parallel_start;
	TimestampTz data_end;		/* the last TABLE DATA finished */
	TimestampTz build_end;		/* the last index or constraint finished */
	/* phase durations, seconds */
	double		pre_data;
	double		parallel_phase;
	double		analyze;
	double		swap;
} PgbRestoreTiming;

typedef struct PgbRestore
{
	const PgbRestoreParams *params;
	PgbJobHooks hooks;
	PGconn	   *maint;			/* superuser, to a maintenance database */
	PGconn	   *staging_conn;	/* superuser, to the staging database */
	PGconn	   *target_conn;	/* superuser, to the target (catalog carry) */
	PgbDbInfo  *target;
	char	   *staging;
	char	   *old;
	bool		created;		/* the staging database exists */
	bool		swapped;		/* the swap committed */
	bool		paused;			/* the target's scheduler is paused */
	/* the worker pool (restore_pool.c) */
	dsm_segment *seg;
	PgbRestoreShared *rs;
	BackgroundWorkerHandle *handles[PGB_RESTORE_MAX_WORKERS];
	int			nworkers;
	long		worker_maxrss_kb[PGB_RESTORE_MAX_WORKERS];	/* as they exited */
	int			nstopped;		/* workers the last pool stop waited for */
	/* the plan and what was done */
	PgbRestorePlan *plan;
	int			done;
	int			total;
	int64		bytes;
	int64		rows;
	int			tables;
	int64	   *loaded_rows;	/* per TOC entry */
	int			source_items;	/* a copy's items not yet read at the source */
	int			source_loads;	/* a copy's tables and parts read at the source */
	int			source_binary;	/* of them, in binary COPY format */
	TimestampTz last_progress;
	struct PgbArchiveHash *hash;	/* the archive read through SHA-256 */
	PgbRestoreTiming timing;
} PgbRestore;

/* restore.c */
extern void pgb_restore_log(PgbRestore *r, const char *fmt,...) pg_attribute_printf(2, 3);
extern void pgb_restore_progress(PgbRestore *r, const char *phase);
extern void pgb_restore_check(PgbRestore *r);
extern PGconn *pgb_restore_staging_conn(PgbRestore *r);

/* restore_scan.c: the first pass over the archive */
extern PgbArchiveReader *pgb_restore_open_archive(PgbRestore *r);
extern uint64 *pgb_restore_scan(PgbRestore *r, PgbArchiveReader *reader,
								const PgbArchive *ar);
extern void pgb_restore_scan_cleanup(PgbRestore *r);

/* restore_ext.c: extensions */
extern void pgb_restore_check_extensions(PgbRestore *r);
extern void pgb_restore_before_extension(PgbRestore *r, PgbRestoreItem *it);
extern void pgb_restore_create_extension(PgbRestore *r, PgbRestoreItem *it);

/* restore_pool.c: the workers */
extern void pgb_restore_pool_start(PgbRestore *r, int n, const uint64 *positions);
extern void pgb_restore_pool_wait_ready(PgbRestore *r);
extern bool pgb_restore_pool_dispatch(PgbRestore *r, int item, PgbRestoreTask task);
extern int	pgb_restore_pool_collect(PgbRestore *r, int *running, int *nrunning);
extern void pgb_restore_pool_wait(PgbRestore *r);
extern void pgb_restore_pool_stop(PgbRestore *r);
extern void pgb_restore_pool_detach(PgbRestore *r);

/* restore_timing.c: per-phase and per-entry times, for the job's log */
extern void pgb_timing_init(PgbRestore *r);
extern double pgb_timing_since(TimestampTz start);
extern void pgb_timing_parallel_start(PgbRestore *r);
extern void pgb_timing_started(PgbRestore *r, int item);
extern void pgb_timing_finished(PgbRestore *r, int item, int64 rows, int64 bytes, bool frozen);
extern void pgb_timing_parallel_end(PgbRestore *r);
extern void pgb_timing_analyzed(PgbRestore *r, int item);
extern void pgb_timing_report_analyze(PgbRestore *r, int ntables, int nskipped);
extern void pgb_timing_report_phases(PgbRestore *r);

/* restore_drop.c: dropping the staging or the replaced database */
extern void pgb_restore_drop(PgbRestore *r, const char *name);
extern PGDLLEXPORT void pgb_restore_drop_main(Datum arg);

/* restore_swap.c: take-over */
extern void pgb_restore_take_over(PgbRestore *r, bool own);
extern void pgb_restore_drop_old(PgbRestore *r);
extern void pgb_restore_pause_target(PgbRestore *r, bool pause);

#endif							/* PGB_RESTORE_INT_H */
