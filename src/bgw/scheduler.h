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

extern PGDLLEXPORT void pgb_scheduler_main(Datum arg);

#endif							/* PGB_SCHEDULER_H */
