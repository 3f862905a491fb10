/*-------------------------------------------------------------------------
 *
 * schedule_run.h
 *	  Starting scheduled backups (schedule_run.c), called by the
 *	  database's scheduler.
 *
 * src/sched/schedule_run.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_SCHEDULE_RUN_H
#define PGB_SCHEDULE_RUN_H

/* start due slots; queue gives a recorded backup its job slot */
extern void pgb_schedules_run(bool (*queue) (const char *id));

#endif							/* PGB_SCHEDULE_RUN_H */
