/*-------------------------------------------------------------------------
 *
 * job_queue.h
 *	  The scheduler's side of the job slots (job_queue.c).
 *
 * src/bgw/job_queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_JOB_QUEUE_H
#define PGB_JOB_QUEUE_H

#include "shmem.h"

/* a slot for a just recorded job (NULL: none free); the launcher starts it */
extern PgbJobSlot *pgb_jobq_add(const char *id, Oid roleid, const char *source);
extern bool pgb_jobq_available(void);
extern void pgb_jobq_end(PgbJobSlot *j, PgbJobStatus status, int sqlerrcode, const char *msg);
/* a scheduled backup just recorded: its slot, or it is recorded failed */
extern bool pgb_jobq_queue_scheduled(const char *id);
/* after a server restart: interrupted jobs failed, pending ones get slots */
extern void pgb_jobq_reconcile(void);
/* jobs whose worker exited without an outcome; whether there were any */
extern bool pgb_jobq_record_dead(void);
/* ask the launcher for this database's maintenance worker (PGB_MAINT_*) */
extern void pgb_jobq_flag_maintenance(int flags);

#endif							/* PGB_JOB_QUEUE_H */
