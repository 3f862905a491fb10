/*-------------------------------------------------------------------------
 *
 * sched_control.h
 *	  Keeping a database's scheduler away, from any backend or worker
 *	  (sched_control.c): DROP/ALTER DATABASE and a restore's swap need the
 *	  database free of pgbackups sessions.
 *
 * src/bgw/sched_control.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_SCHED_CONTROL_H
#define PGB_SCHED_CONTROL_H

/*
 * Ask the database's scheduler to leave and the launcher not to start one
 * for ms milliseconds; with wait, wait (on the latch, at most 5 s) until
 * it has left.
 */
extern void pgb_scheduler_pause(Oid dboid, int ms, bool wait);

/* End a pause: the launcher may start the scheduler again. */
extern void pgb_scheduler_resume(Oid dboid);

#endif							/* PGB_SCHED_CONTROL_H */
