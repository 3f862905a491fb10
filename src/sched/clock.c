/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The scheduler's clock and its SQL functions pgbackups.now() and
 *	  pgbackups.set_clock().
 *
 * Schedules, the health view and next_runs() read the time here.  With
 * pgbackups.debug_clock = on (a postmaster setting, for tests), a
 * superuser can freeze this clock for the whole cluster at any instant
 * and so drive schedules through days, DST changes and missed slots
 * without waiting.  Backups still record real timestamps; their
 * scheduled_for is the slot on this clock.
 *
 * src/sched/clock.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "guc.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(pgbackups_now);
PG_FUNCTION_INFO_V1(pgbackups_set_clock);

TimestampTz
pgb_clock_now(void)
{
	TimestampTz t = 0;

	if (pgb_debug_clock && PgbShared != NULL)
	{
		LWLockAcquire(PgbShared->lock, LW_SHARED);
		t = PgbShared->debug_clock;
		LWLockRelease(PgbShared->lock);
	}
	return t != 0 ? t : GetCurrentTimestamp();
}

Datum
pgbackups_now(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(pgb_clock_now());
}

/* freeze the clock (NULL: real time again) and wake every scheduler and the launcher */
Datum
pgbackups_set_clock(PG_FUNCTION_ARGS)
{
	TimestampTz t = PG_ARGISNULL(0) ? 0 : PG_GETARG_TIMESTAMPTZ(0);
	int			i;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set the pgbackups clock"),
				 errdetail("Only superusers may set the clock.")));
	if (!pgb_debug_clock || PgbShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the pgbackups debug clock is disabled"),
				 errhint("Set pgbackups.debug_clock = on in postgresql.conf and restart the server (tests only).")));
	if (t != 0 && TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the clock must be set to a finite time")));

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	PgbShared->debug_clock = t;
	PgbShared->counters.clock_sets++;
	for (i = 0; i < PGB_MAX_DATABASES; i++)
		if (PgbShared->dbs[i].latch)
			SetLatch(PgbShared->dbs[i].latch);
	LWLockRelease(PgbShared->lock);
	/* idle databases: the launcher compares their next slot with the new time */
	pgb_wake_launcher();
	if (t == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(t);
}
