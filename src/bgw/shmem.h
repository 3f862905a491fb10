/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  pgbackups shared memory: the launcher, one scheduler slot per
 *	  database, the request queue between SQL callers and schedulers, and
 *	  one slot per job (pending or running, then finished for a while).
 *
 * Locking: every field below is protected by PgbShared->lock, except the
 * job progress counters, which only the job's leader writes and readers
 * may see torn (they are informational).  Latches are set without the lock.
 *
 * src/bgw/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_SHMEM_H
#define PGB_SHMEM_H

#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "error_info.h"

#define PGB_MAX_DATABASES 256
#define PGB_MAX_REQUESTS 64
/* presigned URLs with session tokens run to a few kB */
#define PGB_SOURCE_LEN 8192
#define PGB_MAX_JOBS 128
#define PGB_ID_LEN 16
#define PGB_ERRMSG_LEN 1024

typedef enum PgbDbState
{
	PGB_DB_UNKNOWN = 0,			/* never probed */
	PGB_DB_STARTING,			/* scheduler launched, not yet attached */
	PGB_DB_RUNNING,				/* scheduler running */
	PGB_DB_IDLE,				/* extension present, scheduler exited idle */
	PGB_DB_ABSENT				/* probed: no extension in this database */
} PgbDbState;

typedef struct PgbDbSlot
{
	Oid			dboid;			/* InvalidOid = free slot */
	PgbDbState	state;
	pid_t		pid;
	Latch	   *latch;			/* the scheduler's latch while RUNNING */
	TimestampTz probed_at;
	TimestampTz paused_until;	/* DROP/ALTER DATABASE in progress */
	bool		stop_requested; /* pgb_scheduler_pause(): leave now */
	bool		wanted;			/* someone asked for a (re)probe */
	bool		reconciled;		/* jobs interrupted by a restart are recorded */
	TimestampTz next_due;		/* IDLE: next schedule slot, on the scheduler
								 * clock; 0 = none */
	bool		jobs_died;		/* a job worker exited without an outcome */
	int			maint_flags;	/* PGB_MAINT_*: work for the maintenance worker */
	bool		maint_running;	/* its maintenance worker runs */
	TimestampTz alerts_next;	/* the next webhook retry; 0 = none */
	/* exact counters for tests (counters.c); forgotten with the slot */
	int64		sched_turns;	/* turns its schedulers completed */
	uint64		clock_decided;	/* clock_sets seen by the last decision on
								 * its due slots (a turn, or the launcher's
								 * "not due" for an idle database) */
	TimestampTz sched_conf_at;	/* its running scheduler's PgReloadTime; 0 =
								 * none runs */
	TimestampTz maint_conf_at;	/* the same for its maintenance worker */
} PgbDbSlot;

/* what a database's maintenance worker has to do */
#define PGB_MAINT_ALERTS	0x01	/* deliver due alerts */
#define PGB_MAINT_LEFTOVERS 0x02	/* drop staging databases of dead jobs */
#define PGB_MAINT_OLD		0x04	/* also drop every replaced (_old) database */
#define PGB_MAINT_RESCAN	0x08	/* rebuild the catalog from storage */

typedef enum PgbRequestKind
{
	PGB_REQ_CAPTURE = 1,
	PGB_REQ_CANCEL,
	PGB_REQ_DELETE,
	PGB_REQ_RESTORE,
	PGB_REQ_COPY
} PgbRequestKind;

typedef enum PgbRequestState
{
	PGB_RQ_FREE = 0,
	PGB_RQ_SUBMITTED,
	PGB_RQ_DONE
} PgbRequestState;

typedef struct PgbRequest
{
	PgbRequestState state;
	bool		picked;			/* a scheduler has taken it */
	PgbRequestKind kind;
	Oid			dboid;			/* catalog database */
	Oid			roleid;			/* requesting role */
	Latch	   *requester;
	char		target_db[NAMEDATALEN];
	char		compression[32];
	int			parallel;
	char		label[128];
	char		id[PGB_ID_LEN];
	/* restore: backup id, db::id or URL; copy: source database or URL */
	char		source[PGB_SOURCE_LEN];
	bool		keep_owner;
	bool		keep_acl;
	bool		from_url;		/* restore: source is an archive URL */
	/* reply */
	int			sqlerrcode;		/* 0 = success */
	char		errmsg[PGB_ERRMSG_LEN];
	PgbErrorExtra err_extra;	/* detail, hint and context of that error */
	char		result_id[PGB_ID_LEN];
} PgbRequest;

typedef enum PgbJobStatus
{
	PGB_JOB_PENDING = 0,
	PGB_JOB_RUNNING,
	PGB_JOB_COMPLETED,
	PGB_JOB_FAILED,
	PGB_JOB_CANCELED
} PgbJobStatus;

typedef struct PgbJobSlot
{
	bool		in_use;
	uint32		generation;
	Oid			dboid;
	char		id[PGB_ID_LEN];
	PgbJobStatus status;
	bool		launched;		/* a worker was registered */
	bool		finished;		/* final status is in the catalog */
	bool		reported;		/* outcome recorded, waiters may return; the
								 * worker still cleans up (drops a replaced
								 * database) until finished */
	bool		exited;			/* the worker process has exited */
	bool		cancel_requested;
	pid_t		pid;
	Latch	   *latch;			/* the job worker's latch */
	int			nprocs;			/* processes counted against max_workers */
	TimestampTz created_at;
	TimestampTz finished_at;
	int			sqlerrcode;		/* the job's error, raised again by wait() */
	char		errmsg[PGB_ERRMSG_LEN];
	PgbErrorExtra err_extra;	/* detail, hint and context of that error */
	Oid			roleid;			/* the requesting role (restores and copies) */
	/* a capture's database: one capture of a database runs at a time */
	char		database[NAMEDATALEN];
	/* a copy's source connection string or a restore's URL, kept out of the catalog */
	char		source[PGB_SOURCE_LEN];
	/* progress */
	int			tables_total;
	int			tables_done;
	int64		bytes_done;
	char		phase[64];
} PgbJobSlot;

/* the kinds of pgbackups process counted in PgbCounters (counters.c) */
typedef enum PgbProcKind
{
	PGB_PROC_SCHEDULER = 0,
	PGB_PROC_MAINTENANCE,
	PGB_PROC_JOB,				/* a job's own worker (capture, restore, copy) */
	PGB_PROC_STREAM,			/* a capture's helper stream */
	PGB_PROC_RESTORE,			/* a restore or copy worker */
	PGB_PROC_OTHER,				/* sweep, restore cleanup */
	PGB_PROC_KINDS
} PgbProcKind;

/*
 * Exact counters for tests and monitoring (pgbackups.counters()): each
 * process counts itself when it starts and when it exits, so a high-water
 * mark holds every moment, not samples.  Reset only by a server (re)start,
 * or for the high-water marks by counters(reset => true).
 */
typedef struct PgbCounters
{
	int32		running[PGB_PROC_KINDS];
	int32		running_max[PGB_PROC_KINDS];
	int64		started[PGB_PROC_KINDS];
	int32		capture_procs;	/* running JOB (captures) + STREAM */
	int32		capture_procs_max;
	int32		budget_max;		/* most processes counted against
								 * pgbackups.max_workers at once */
	int64		launcher_rounds;
	uint64		clock_sets;		/* pgbackups.set_clock() calls */
	TimestampTz launcher_conf_at;	/* the launcher's PgReloadTime */
} PgbCounters;

typedef struct PgbSharedState
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	uint32		next_generation;
	TimestampTz debug_clock;	/* pgbackups.set_clock(); 0 = real time */
	ConditionVariable db_cv;	/* broadcast when a scheduler starts or leaves */
	int			schedulers_waiting; /* databases waiting for a scheduler turn */
	PgbDbSlot	dbs[PGB_MAX_DATABASES];
	PgbRequest	requests[PGB_MAX_REQUESTS];
	PgbJobSlot	jobs[PGB_MAX_JOBS];
	PgbCounters counters;
} PgbSharedState;

extern PgbSharedState *PgbShared;

extern void pgb_shmem_request(void);
extern void pgb_shmem_install_hooks(void);

extern PgbDbSlot *pgb_db_slot(Oid dboid, bool create);
extern PgbJobSlot *pgb_job_find(Oid dboid, const char *id);
extern void pgb_wake_launcher(void);
extern int	pgb_procs_in_use(void);

#endif							/* PGB_SHMEM_H */
