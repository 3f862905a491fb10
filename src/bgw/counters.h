/*-------------------------------------------------------------------------
 *
 * counters.h
 *	  Exact counters in shared memory (PgbCounters, shmem.h): processes by
 *	  kind with their high-water marks, scheduler turns, launcher rounds,
 *	  set_clock() generations and when each long-lived process last loaded
 *	  the configuration; read by pgbackups.counters().
 *
 * src/bgw/counters.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_COUNTERS_H
#define PGB_COUNTERS_H

#include "shmem.h"

/* count this process as running KIND until it exits (takes the lock) */
extern void pgb_count_process(PgbProcKind kind);

/* the same with the lock held, and the exit left to the caller (job workers) */
extern void pgb_count_enter_locked(PgbProcKind kind, bool capture);
extern void pgb_count_leave_locked(PgbProcKind kind, bool capture);

/* processes counted against pgbackups.max_workers changed; lock held */
extern void pgb_count_budget_locked(void);

#endif							/* PGB_COUNTERS_H */
