/*-------------------------------------------------------------------------
 *
 * request.c
 *	  A SQL caller's side of the request queue: submit a request to the
 *	  database's scheduler and wait for the reply.
 *
 * The scheduler of a database runs only while it has work (bgw/launcher.c
 * starts it on demand), so a request marks its database wanted and wakes
 * the scheduler if it runs, else the launcher.  The caller then sleeps on
 * its latch: the scheduler sets it when it replies.  Nothing here polls;
 * the latch wait has a one-second timeout only to notice a scheduler that
 * could not be started at all (no background worker slot for it for
 * REQUEST_TIMEOUT_MS), which is reported as 53400.
 *
 * src/api/request.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

#include "error_info.h"
#include "request.h"
#include "shmem.h"

#define REQUEST_TIMEOUT_MS 30000

static bool wake_registered = false;
static bool wake_at_commit = false;

/*
 * Mark this database wanted and wake whoever should act on it; strict
 * raises an error when the database has no slot (never after a commit).
 */
static void
wake_scheduler(bool strict)
{
	PgbDbSlot  *s;
	Latch	   *latch = NULL;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	s = pgb_db_slot(MyDatabaseId, true);
	if (s == NULL)
	{
		LWLockRelease(PgbShared->lock);
		if (!strict)
		{
			pgb_wake_launcher();
			return;
		}
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many databases use pgbackups on this server")));
	}
	s->wanted = true;
	if (s->state == PGB_DB_RUNNING)
		latch = s->latch;
	LWLockRelease(PgbShared->lock);
	if (latch)
		SetLatch(latch);
	pgb_wake_launcher();
}

char *
pgb_request_submit(PgbRequest *rq)
{
	volatile int idx = -1;
	int			i;
	PgbRequest	done;
	TimestampTz deadline;

	rq->dboid = MyDatabaseId;
	rq->roleid = GetUserId();
	rq->requester = MyLatch;
	rq->state = PGB_RQ_SUBMITTED;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGB_MAX_REQUESTS; i++)
		if (PgbShared->requests[i].state == PGB_RQ_FREE)
		{
			idx = i;
			memcpy(&PgbShared->requests[i], rq, sizeof(PgbRequest));
			break;
		}
	LWLockRelease(PgbShared->lock);
	if (idx < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many concurrent pgbackups requests"),
				 errhint("Try again in a moment.")));
	wake_scheduler(true);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), REQUEST_TIMEOUT_MS);

	PG_TRY();
	{
		for (;;)
		{
			bool		finished;
			bool		picked;

			LWLockAcquire(PgbShared->lock, LW_SHARED);
			finished = PgbShared->requests[idx].state == PGB_RQ_DONE;
			picked = PgbShared->requests[idx].picked;
			if (finished)
				memcpy(&done, &PgbShared->requests[idx], sizeof(done));
			LWLockRelease(PgbShared->lock);
			if (finished)
				break;
			if (!picked && GetCurrentTimestamp() >= deadline)
				ereport(ERROR,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("the pgbackups scheduler for database \"%s\" could not be started",
								get_database_name(MyDatabaseId)),
						 errhint("Check the server log, and that max_worker_processes leaves room for pgbackups.")));
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 1000, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
		PgbShared->requests[idx].state = PGB_RQ_FREE;
		PgbShared->requests[idx].picked = false;
		LWLockRelease(PgbShared->lock);
	}
	PG_END_TRY();

	if (done.sqlerrcode != 0)
	{
		/* the scheduler's error, whole */
		PgbErrorInfo err;

		pgb_error_info_set(&err, done.sqlerrcode, done.errmsg);
		memcpy(&err.extra, &done.err_extra, sizeof(err.extra));
		pgb_error_info_raise(&err, ERROR);
	}
	if (rq->kind == PGB_REQ_DELETE)
		strlcpy(rq->source, done.source, sizeof(rq->source));
	return pstrdup(done.result_id);
}

static void
wake_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit && PgbShared != NULL)
		wake_scheduler(false);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		wake_at_commit = false;
}

void
pgb_request_wake_at_commit(void)
{
	if (!wake_registered)
	{
		RegisterXactCallback(wake_callback, NULL);
		wake_registered = true;
	}
	wake_at_commit = true;
}
