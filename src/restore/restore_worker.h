/*-------------------------------------------------------------------------
 *
 * restore_worker.h
 *	  The "pgbackups restore" background workers and the shared memory
 *	  through which a restore's leader hands them TOC entries.
 *
 * Protocol, per worker slot (guarded by the segment's spinlock):
 *	 STARTING --(worker attached, session ready)--> IDLE
 *	 IDLE --(leader sets item)--> ASSIGNED --(worker ran it)--> DONE
 *	 DONE --(leader took the result)--> IDLE
 *	 any --(leader)--> EXIT;  worker gone --> GONE
 * Every transition sets the other side's latch.  leader_gone is set when
 * the leader detaches from the segment (its dsm detach callback, which
 * also runs when it exits on FATAL): the workers then exit.
 *
 * src/restore/restore_worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_RESTORE_WORKER_H
#define PGB_RESTORE_WORKER_H

#include "storage/latch.h"
#include "storage/spin.h"

#include "compress.h"
#include "error_info.h"

#define PGB_RESTORE_MAX_WORKERS 64

typedef enum PgbRestoreWorkerState
{
	PGB_RW_STARTING = 0,
	PGB_RW_IDLE,
	PGB_RW_ASSIGNED,
	PGB_RW_DONE,
	PGB_RW_EXIT,
	PGB_RW_GONE
} PgbRestoreWorkerState;

/* what a worker does with its item */
typedef enum PgbRestoreTask
{
	PGB_TASK_ENTRY = 0,			/* run the TOC entry (SQL, data), or a part of
								 * it */
	PGB_TASK_ANALYZE,			/* ANALYZE the table of a TABLE entry */
	PGB_TASK_FREEZE,			/* VACUUM (FREEZE) it: loaded in parts */
	PGB_TASK_FREEZE_ANALYZE		/* VACUUM (FREEZE, ANALYZE) it */
} PgbRestoreTask;

typedef struct PgbRestoreWorkerSlot
{
	PgbRestoreWorkerState state;
	int			item;			/* TOC index being run */
	int			part;			/* the part of an item in parts, -1: whole */
	PgbRestoreTask task;
	pid_t		pid;
	Latch	   *latch;
	/* result of the last item: its error whole (error.sqlerrcode 0 = success) */
	PgbErrorInfo error;
	int64		rows;
	int64		bytes;
	bool		frozen;			/* the data was loaded with COPY FREEZE */
	bool		binary;			/* read at a copy's source in binary format */
	bool		as_index;		/* a key built as an index, then attached */
	PgbPartResult part_result;	/* a part: what the leader checks over all */
	long		maxrss_kb;		/* peak RSS of the worker, set as it exits */
} PgbRestoreWorkerSlot;

typedef struct PgbRestoreShared
{
	slock_t		mutex;
	bool		leader_gone;
	Latch	   *leader_latch;
	char		dbname[NAMEDATALEN];
	char		role[NAMEDATALEN];
	char		archive_path[MAXPGPATH];
	char		source_conninfo[4096];	/* a copy's source, "" for a restore */
	char		source_snapshot[64];
	bool		keep_owner;
	bool		fk_unchecked;	/* foreign keys created valid unchecked */
	int64		max_decompressed;
	int			maintenance_work_mem;	/* kB for each worker, 0: the server's */
	int			parallel_maintenance;	/* max_parallel_maintenance_workers, -1:
										 * the server's */
	int			nworkers;
	int			ntoc;
	PgbRestoreWorkerSlot workers[PGB_RESTORE_MAX_WORKERS];
	uint64		positions[FLEXIBLE_ARRAY_MEMBER];	/* per TOC entry, 0 = unknown */
} PgbRestoreShared;

extern PGDLLEXPORT void pgb_restore_worker_main(Datum arg);

#endif							/* PGB_RESTORE_WORKER_H */
