/*-------------------------------------------------------------------------
 *
 * scheduler.h
 *	  The per-database scheduler background worker.
 *
 * src/bgw/scheduler.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_SCHEDULER_H
#define PGB_SCHEDULER_H

#include "shmem.h"

extern PGDLLEXPORT void pgb_scheduler_main(Datum arg);

/* the running scheduler's database slot and name (job_queue.c, sched_requests.c) */
extern PgbDbSlot *pgb_sched_db;
extern char *pgb_sched_dbname;

#endif							/* PGB_SCHEDULER_H */
