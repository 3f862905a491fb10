/*-------------------------------------------------------------------------
 *
 * sched_control.c
 *	  Pausing a database's scheduler through shared memory.
 *
 * No process signals a scheduler: a pause sets the database slot's
 * stop_requested flag and paused_until and sets the scheduler's latch; the
 * scheduler leaves at its next turn (within one loop, at most a second),
 * and broadcasts PgbShared->db_cv as it goes.  The launcher starts no
 * scheduler for a paused database; the pause ends with
 * pgb_scheduler_resume() or after its time.
 *
 * src/bgw/sched_control.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "utils/timestamp.h"

#include "sched_control.h"
#include "shmem.h"

#define PAUSE_WAIT_MS 5000

static bool
scheduler_present(Oid dboid)
{
	PgbDbSlot  *s;
	bool		present;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	s = pgb_db_slot(dboid, false);
	present = s != NULL && (s->state == PGB_DB_RUNNING || s->state == PGB_DB_STARTING);
	LWLockRelease(PgbShared->lock);
	return present;
}

void
pgb_scheduler_pause(Oid dboid, int ms, bool wait)
{
	PgbDbSlot  *s;
	Latch	   *latch = NULL;
	TimestampTz deadline;

	if (PgbShared == NULL)
		return;
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	s = pgb_db_slot(dboid, false);
	if (s)
	{
		s->paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
		if (s->state == PGB_DB_RUNNING || s->state == PGB_DB_STARTING)
		{
			s->stop_requested = true;
			latch = s->latch;
		}
	}
	LWLockRelease(PgbShared->lock);
	if (latch)
		SetLatch(latch);
	if (!wait || s == NULL)
		return;

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PAUSE_WAIT_MS);
	ConditionVariablePrepareToSleep(&PgbShared->db_cv);
	while (scheduler_present(dboid))
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

		if (left <= 0)
			break;
		(void) ConditionVariableTimedSleep(&PgbShared->db_cv, left, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

void
pgb_scheduler_resume(Oid dboid)
{
	PgbDbSlot  *s;

	if (PgbShared == NULL)
		return;
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	s = pgb_db_slot(dboid, false);
	if (s)
	{
		s->paused_until = 0;
		s->stop_requested = false;
	}
	LWLockRelease(PgbShared->lock);
	pgb_wake_launcher();
}
