/*-------------------------------------------------------------------------
 *
 * job_slot.h
 *	  A job worker's view of its shared-memory job slot: attach, progress,
 *	  cancel checks, process accounting against pgbackups.max_workers and
 *	  the final status with the job's whole error.  Shared by capture jobs
 *	  and restore/copy jobs.
 *
 * src/bgw/job_slot.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_JOB_SLOT_H
#define PGB_JOB_SLOT_H

#include "error_info.h"
#include "job_worker.h"
#include "job_hooks.h"
#include "shmem.h"

/* attach to the slot named by args; exits the process if it is gone */
extern void pgb_job_attach(const PgbJobArgs *args);
extern const char *pgb_job_id(void);
extern bool pgb_job_cancel_requested(void);
extern char *pgb_job_source(void);
extern Oid	pgb_job_roleid(void);

/* the PgbJobHooks every job passes to its engine, with its own log */
extern void pgb_job_hooks(PgbJobHooks *hooks, void (*log) (const char *msg));
extern void pgb_job_check(void);
extern void pgb_job_cleanup_begin(void);
extern void pgb_job_progress(const char *phase, int done, int total, int64 bytes);
extern bool pgb_job_reserve_proc(void);
extern void pgb_job_release_proc(void);

/* the final status and, unless it completed, the whole error */
extern void pgb_job_finish(PgbJobStatus status, const PgbErrorInfo *err);
extern void pgb_job_report_completed(void);
extern void pgb_job_fail(int sqlerrcode, const char *message);

#endif							/* PGB_JOB_SLOT_H */
