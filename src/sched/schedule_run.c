/*-------------------------------------------------------------------------
 *
 * schedule_run.c
 *	  The scheduler's side of schedules: every second, start the backups
 *	  whose slot has come.
 *
 * For each schedule whose next run is due on the scheduler's clock
 * (clock.c):
 *	- the newest due slot runs once if it is at most
 *	  pgbackups.schedule_grace old; older due slots (the server was down,
 *	  the clock jumped) are recorded as one 'missed' row;
 *	- a slot whose database already has a capture pending or running in
 *	  this catalog is 'skipped': a schedule never queues a run behind
 *	  another (the launcher runs one capture of a database at a time, so a
 *	  run recorded meanwhile in another catalog waits as pending);
 *	- a slot older than the grace period is 'missed'.
 * Then the schedule moves to its first slot after now.  Everything of one
 * decision commits in one transaction (catalog_schedule.c).
 *
 * Only a primary runs schedules: a standby has no schedulers (workers
 * start when recovery ends), and after a promotion the slots missed
 * meanwhile follow the rules above.
 *
 * src/sched/schedule_run.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "catalog_schedule.h"
#include "clock.h"
#include "compress.h"
#include "cron.h"
#include "guc.h"
#include "schedule_run.h"

#define MAX_SLOTS_WALKED 100000

static void
run_schedule(PgbScheduleRow *s, TimestampTz now, bool (*queue) (const char *id))
{
	PgbCronRule rule;
	PgbCompressionSpec spec;
	PgbScheduleDecision d;
	char	   *err;
	TimestampTz latest = s->next_run;
	TimestampTz prev = 0;
	TimestampTz t;
	int			older = 0;
	char	   *id;

	if (!pgb_cron_parse(s->cron, &rule, &err) || pgb_zone_resolve(s->timezone) == NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("pgbackups: schedule \"%s\" has an invalid rule \"%s\" (%s)",
						s->name, s->cron, s->timezone),
				 errhint("Replace it with pgbackups.schedule().")));
		return;
	}

	/* the newest due slot, counting the older ones */
	for (;;)
	{
		t = pgb_cron_next(&rule, s->timezone, latest);
		if (TIMESTAMP_NOT_FINITE(t) || t > now)
			break;
		prev = latest;
		latest = t;
		if (++older >= MAX_SLOTS_WALKED)
		{
			t = pgb_cron_next(&rule, s->timezone, now);
			break;
		}
	}

	memset(&d, 0, sizeof(d));
	d.next_run = t;				/* DT_NOEND if the rule runs no more */
	d.missed = older;
	d.missed_last = prev;
	if (now - latest > (int64) pgb_schedule_grace * USECS_PER_SEC)
	{
		/* too late for the newest slot too */
		d.missed++;
		d.missed_last = latest;
		d.outcome = "missed";
	}
	else
	{
		char	   *busy = pgb_catalog_busy_capture(s->database);

		d.slot = latest;
		if (busy)
		{
			d.outcome = "skipped";
			d.detail = psprintf("backup %s of database \"%s\" was still pending or running", busy,
								s->database);
		}
		else
			d.outcome = "started";
	}
	if (d.missed > 0)
		d.missed_detail = psprintf("%d run%s missed, the last for %s (%s)",
								   d.missed, d.missed == 1 ? " was" : "s were",
								   timestamptz_to_str(d.missed_last),
								   d.slot ? "only the newest due run is taken" :
								   "more than pgbackups.schedule_grace ago: the server was down or the scheduler stopped");

	if (!pgb_compression_parse(pgb_compression, &spec, &err))
		spec.alg = PGB_COMPRESS_GZIP, spec.level = -1;
	d.compression = pgb_compression_name(spec.alg);
	d.level = spec.level;
	d.parallel = pgb_default_parallel;

	id = pgb_catalog_schedule_decide(s, &d);
	if (d.missed > 0)
		ereport(LOG,
				(errmsg("pgbackups: schedule \"%s\": %s", s->name, d.missed_detail)));
	if (d.slot == 0)
		return;
	if (strcmp(d.outcome, "skipped") == 0)
		ereport(LOG,
				(errmsg("pgbackups: schedule \"%s\" skipped the run for %s: %s",
						s->name, timestamptz_to_str(d.slot), d.detail)));
	else if (id != NULL)
	{
		ereport(LOG,
				(errmsg("pgbackups: schedule \"%s\" started backup %s of database \"%s\" for %s",
						s->name, id, s->database, timestamptz_to_str(d.slot))));
		(void) queue(id);
	}
}

void
pgb_schedules_run(bool (*queue) (const char *id))
{
	TimestampTz now;
	List	   *due;
	ListCell   *lc;

	if (RecoveryInProgress())
		return;
	now = pgb_clock_now();
	due = pgb_catalog_due_schedules(now);
	foreach(lc, due)
		run_schedule(lfirst(lc), now, queue);
}
