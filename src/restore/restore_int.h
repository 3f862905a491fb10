/*-------------------------------------------------------------------------
 *
 * restore_int.h
 *	  The state of a restore's leader, shared by the files of the restore
 *	  engine (not used outside src/restore): restore.c drives, and hands
 *	  this state to restore_scan.c (first pass over the archive),
 *	  restore_ext.c (extensions), restore_pool.c (the workers),
 *	  restore_swap.c (take-over) and restore_drop.c (dropping what is left).
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
	/* the plan and what was done */
	PgbRestorePlan *plan;
	int			done;
	int			total;
	int64		bytes;
	int64		rows;
	int			tables;
	int64	   *loaded_rows;	/* per TOC entry */
	TimestampTz last_progress;
	struct PgbArchiveHash *hash;	/* the archive read through SHA-256 */
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
extern bool pgb_restore_pool_dispatch(PgbRestore *r, int item);
extern int	pgb_restore_pool_collect(PgbRestore *r, int *running, int *nrunning);
extern void pgb_restore_pool_wait(PgbRestore *r);
extern void pgb_restore_pool_stop(PgbRestore *r);
extern void pgb_restore_pool_detach(PgbRestore *r);

/* restore_drop.c: dropping the staging or the replaced database */
extern void pgb_restore_drop(PgbRestore *r, const char *name);
extern PGDLLEXPORT void pgb_restore_drop_main(Datum arg);

/* restore_swap.c: take-over */
extern void pgb_restore_take_over(PgbRestore *r, bool own);
extern void pgb_restore_pause_target(PgbRestore *r, bool pause);

#endif							/* PGB_RESTORE_INT_H */
