/*-------------------------------------------------------------------------
 *
 * catalog_schedule.c
 *	  Reads and writes of the schedule, retention and alert tables
 *	  (pgbackups.schedule_defs, schedule_runs, alerts) by the background
 *	  workers.
 *
 * As in catalog.c, each function is one transaction of its own.  A
 * scheduled slot is decided in one transaction: the backup row, the
 * schedule_runs rows and the schedule's next run commit together, so a
 * crash can neither run a slot twice nor lose it.
 *
 * src/catalog/catalog_schedule.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "catalog_schedule.h"
#include "catalog_spi.h"

static TimestampTz
ts_in(const char *text)
{
	return DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
}

/* unambiguous text of a timestamp (with its UTC offset) */
static const char *
ts_out(TimestampTz t)
{
	/* timestamptz_to_str() reuses one static buffer */
	return t == 0 ? NULL : pstrdup(timestamptz_to_str(t));
}

/* schedules whose next run is at or before now */
List *
pgb_catalog_due_schedules(TimestampTz now)
{
	List	   *due = NIL;
	const char *args[1] = {ts_out(now)};
	uint64		n,
				i;

	pgb_cat_begin("pgbackups: due schedules");
	n = pgb_cat_run("SELECT name, database, cron, timezone, created_by, next_run "
					"FROM pgbackups.schedule_defs WHERE next_run <= $1::timestamptz "
					"ORDER BY next_run, name", 1, args);
	for (i = 0; i < n; i++)
	{
		PgbScheduleRow *s = MemoryContextAllocZero(pgb_cat_caller_ctx, sizeof(PgbScheduleRow));

		s->name = pgb_cat_copy(pgb_cat_get(i, 1));
		s->database = pgb_cat_copy(pgb_cat_get(i, 2));
		s->cron = pgb_cat_copy(pgb_cat_get(i, 3));
		s->timezone = pgb_cat_copy(pgb_cat_get(i, 4));
		s->created_by = pgb_cat_copy(pgb_cat_get(i, 5));
		s->next_run = ts_in(pgb_cat_get(i, 6));
		due = pgb_cat_lappend(due, s);
	}
	pgb_cat_commit();
	return due;
}

/* a pending or running capture of the database, or NULL */
char *
pgb_catalog_busy_capture(const char *database)
{
	const char *args[1] = {database};
	char	   *id = NULL;

	pgb_cat_begin("pgbackups: running captures");
	if (pgb_cat_run("SELECT id FROM pgbackups.backups WHERE database = $1 "
					"AND status IN ('pending', 'running') ORDER BY num LIMIT 1", 1, args) == 1)
		id = pgb_cat_copy(pgb_cat_get(0, 1));
	pgb_cat_commit();
	return id;
}

/* whether the schedule verifies each of its new backups (schedule(verify => true)) */
bool
pgb_catalog_schedule_verifies(const char *schedule)
{
	const char *args[1] = {schedule};
	bool		verify = false;

	pgb_cat_begin("pgbackups: schedule options");
	if (pgb_cat_run("SELECT verify FROM pgbackups.schedule_defs WHERE name = $1", 1, args) == 1)
		verify = strcmp(pgb_cat_get(0, 1), "t") == 0;
	pgb_cat_commit();
	return verify;
}

/*
 * pgb_catalog_schedule_decide
 *		Record what happens to a schedule's due slots and move it to its
 *		next run.  Returns the new backup's id when the slot started, NULL
 *		otherwise (also when the schedule was replaced or removed since it
 *		was read: then nothing is recorded).
 */
char *
pgb_catalog_schedule_decide(const PgbScheduleRow *s, const PgbScheduleDecision *d)
{
	char	   *id = NULL;
	char		countbuf[16];

	snprintf(countbuf, sizeof(countbuf), "%d", d->missed);
	pgb_cat_begin("pgbackups: scheduled run");
	{
		const char *args[3] = {s->name, ts_out(s->next_run), s->cron};

		if (pgb_cat_run("SELECT 1 FROM pgbackups.schedule_defs WHERE name = $1 "
						"AND next_run = $2::timestamptz AND cron = $3 FOR UPDATE", 3, args) != 1)
		{
			pgb_cat_commit();
			return NULL;
		}
	}
	if (d->missed > 0)
	{
		const char *args[3] = {s->name, ts_out(d->missed_last), d->missed_detail};

		pgb_cat_run("INSERT INTO pgbackups.schedule_runs (schedule, slot, outcome, detail) "
					"VALUES ($1, $2::timestamptz, 'missed', $3)", 3, args);
	}
	if (strcmp(d->outcome, "started") == 0)
		id = pgb_catalog_insert_backup_in_tx("scheduled", s->database, d->compression, d->level,
											 d->parallel, NULL, s->created_by, s->name,
											 ts_out(d->slot));
	if (d->slot != 0)
	{
		const char *args[5] = {s->name, ts_out(d->slot), d->outcome, id, d->detail};

		pgb_cat_run("INSERT INTO pgbackups.schedule_runs (schedule, slot, outcome, backup_id, detail) "
					"VALUES ($1, $2::timestamptz, $3, $4, $5)", 5, args);
	}
	{
		const char *args[5] = {s->name, ts_out(d->next_run),
			d->slot ? ts_out(d->slot) : ts_out(d->missed_last),
			d->slot ? d->outcome : "missed", id};

		pgb_cat_run("UPDATE pgbackups.schedule_defs SET next_run = $2::timestamptz, "
					"last_run = $3::timestamptz, last_outcome = $4, last_id = coalesce($5, last_id) "
					"WHERE name = $1", 5, args);
	}
	pgb_cat_commit();
	return id;
}

/*
 * pgb_catalog_gfs_expire
 *		Apply a schedule's grandfather-father-son retention to its completed
 *		backups, bucketed by slot in the schedule's time zone: the newest
 *		backup of each of the keep_daily newest days that have one, of each
 *		of the keep_weekly newest ISO weeks and of the keep_monthly newest
 *		months is kept, as are the newest backup and every pinned one
 *		(pinned backups take no bucket).  The others are deleted; returns
 *		"id location" strings and sets *policy to describe the rule.
 */
List *
pgb_catalog_gfs_expire(const char *schedule, char **policy)
{
	List	   *expired;
	const char *args[1] = {schedule};
	uint64		n;

	*policy = NULL;
	pgb_cat_begin("pgbackups: scheduled retention");
	if (pgb_cat_run("SELECT format('keep_daily %s, keep_weekly %s, keep_monthly %s', "
					"keep_daily, keep_weekly, keep_monthly) "
					"FROM pgbackups.schedule_defs WHERE name = $1 FOR UPDATE", 1, args) != 1)
	{
		pgb_cat_commit();
		return NIL;
	}
	*policy = pgb_cat_copy(pgb_cat_get(0, 1));
	n = pgb_cat_run("WITH s AS (SELECT * FROM pgbackups.schedule_defs WHERE name = $1), "
					"b AS ("
					"  SELECT b.id, b.num, b.pinned, b.scheduled_for, "
					"         (b.scheduled_for AT TIME ZONE s.timezone) AS lt "
					"    FROM pgbackups.backups b, s "
					"   WHERE b.schedule = s.name AND b.kind = 'scheduled' "
					"     AND b.status = 'completed' AND b.scheduled_for IS NOT NULL), "
					"buckets AS ("
					"  SELECT id, "
					"    row_number() OVER (PARTITION BY lt::date ORDER BY scheduled_for DESC, num DESC) AS d_first, "
					"    dense_rank() OVER (ORDER BY lt::date DESC) AS d_rank, "
					"    row_number() OVER (PARTITION BY to_char(lt, 'IYYY-IW') ORDER BY scheduled_for DESC, num DESC) AS w_first, "
					"    dense_rank() OVER (ORDER BY to_char(lt, 'IYYY-IW') DESC) AS w_rank, "
					"    row_number() OVER (PARTITION BY to_char(lt, 'YYYY-MM') ORDER BY scheduled_for DESC, num DESC) AS m_first, "
					"    dense_rank() OVER (ORDER BY to_char(lt, 'YYYY-MM') DESC) AS m_rank "
					"    FROM b WHERE NOT pinned), "
					"keep AS ("
					"  SELECT k.id FROM buckets k, s "
					"   WHERE (k.d_first = 1 AND k.d_rank <= s.keep_daily) "
					"      OR (k.w_first = 1 AND k.w_rank <= s.keep_weekly) "
					"      OR (k.m_first = 1 AND k.m_rank <= s.keep_monthly) "
					"  UNION SELECT id FROM b WHERE pinned "
					"  UNION (SELECT id FROM b ORDER BY scheduled_for DESC, num DESC LIMIT 1)), "
					"doomed AS (SELECT id FROM b WHERE id NOT IN (SELECT id FROM keep)) "
					"DELETE FROM pgbackups.backups x USING doomed d WHERE x.id = d.id "
					"RETURNING x.id, coalesce(x.location, '')", 1, args);
	expired = pgb_catalog_take_expired(n);
	pgb_cat_commit();
	return expired;
}

/* webhook deliveries that are due: id, JSON body and attempts so far */
List *
pgb_catalog_due_alerts(int limit)
{
	List	   *due = NIL;
	char		limbuf[16];
	const char *args[1] = {limbuf};
	uint64		n,
				i;

	snprintf(limbuf, sizeof(limbuf), "%d", limit);
	pgb_cat_begin("pgbackups: due alerts");
	n = pgb_cat_run("SELECT alert_id, (payload || jsonb_build_object('event', event))::text, attempts "
					"FROM pgbackups.alerts WHERE delivered_at IS NULL AND attempts < " CppAsString2(PGB_ALERT_MAX_ATTEMPTS)
					" AND next_attempt <= clock_timestamp() ORDER BY alert_id LIMIT $1::int", 1, args);
	for (i = 0; i < n; i++)
	{
		PgbAlertRow *a = MemoryContextAllocZero(pgb_cat_caller_ctx, sizeof(PgbAlertRow));

		a->alert_id = pgb_cat_copy(pgb_cat_get(i, 1));
		a->body = pgb_cat_copy(pgb_cat_get(i, 2));
		a->attempts = atoi(pgb_cat_get(i, 3));
		due = pgb_cat_lappend(due, a);
	}
	pgb_cat_commit();
	return due;
}

/* the outcome of one delivery attempt; retry_ms is the wait before the next */
void
pgb_catalog_alert_attempted(const char *alert_id, bool delivered, const char *error, int retry_ms)
{
	char		msbuf[16];
	const char *args[4] = {alert_id, delivered ? "true" : "false", error, msbuf};

	snprintf(msbuf, sizeof(msbuf), "%d", retry_ms);
	pgb_cat_begin("pgbackups: alert delivery");
	pgb_cat_run("UPDATE pgbackups.alerts SET attempts = attempts + 1, last_error = $3, "
				"delivered_at = CASE WHEN $2::boolean THEN clock_timestamp() END, "
				"next_attempt = clock_timestamp() + make_interval(secs => $4::int / 1000.0) "
				"WHERE alert_id = $1::bigint", 4, args);
	pgb_cat_commit();
}

/*
 * pgb_catalog_next_wakeup
 *		When the scheduler must next run: the earliest next_run of any
 *		schedule (on the scheduler clock), and in *alerts_at the earliest
 *		retry of an undelivered alert (real time); 0 for none.
 */
TimestampTz
pgb_catalog_next_wakeup(TimestampTz *alerts_at)
{
	TimestampTz next = 0;

	*alerts_at = 0;
	pgb_cat_begin("pgbackups: next wake-up");
	pgb_cat_run("SELECT (SELECT min(next_run) FROM pgbackups.schedule_defs WHERE isfinite(next_run)), "
				"(SELECT min(next_attempt) FROM pgbackups.alerts WHERE delivered_at IS NULL "
				" AND attempts < " CppAsString2(PGB_ALERT_MAX_ATTEMPTS) ")", 0, NULL);
	if (pgb_cat_get(0, 1))
		next = ts_in(pgb_cat_get(0, 1));
	if (pgb_cat_get(0, 2))
		*alerts_at = ts_in(pgb_cat_get(0, 2));
	pgb_cat_commit();
	return next;
}
