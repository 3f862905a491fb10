/*-------------------------------------------------------------------------
 *
 * schedule_api.c
 *	  pgbackups.schedule(): validate a rule and store the database's
 *	  backup schedule (with verify => true, the job worker of each new
 *	  backup verifies it: bgw/job_worker.c).
 *
 * pgbackups.unschedule(): remove one.
 *
 * A schedule is configuration, so it is written in the caller's
 * transaction (a migration that rolls back leaves no schedule), unlike
 * jobs, which the scheduler records.  The row is written as the
 * bootstrap superuser after the caller's own privileges were checked:
 * operators read the catalog but cannot write it directly.  The
 * database's scheduler picks the row up within a second.
 *
 * src/api/schedule_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "access.h"
#include "api.h"
#include "clock.h"
#include "cron.h"
#include "request.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(pgbackups_schedule);
PG_FUNCTION_INFO_V1(pgbackups_unschedule);

static char *
text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static int
keep_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	int			v;

	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	v = PG_GETARG_INT32(n);
	if (v < 0 || v > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 10000", name),
				 errdetail("The value given was %d.", v)));
	return v;
}

typedef struct ScheduleRow
{
	const char *dbname;
	const char *hhmm;
	const char *cron;
	const char *zone;
	int			keep_daily;
	int			keep_weekly;
	int			keep_monthly;
	TimestampTz now;
	const char *creator;
	TimestampTz next;
	int			nverify;		/* 1: verify is a parameter (1.5.0), 0: older catalog */
	bool		verify;
} ScheduleRow;

/* insert or replace the row (run as the bootstrap superuser) */
static void
store_schedule(void *arg)
{
	ScheduleRow *r = (ScheduleRow *) arg;
	Oid			types[11] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID,
	TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID, BOOLOID};
	Datum		values[11];
	char		nulls[11] = "           ";
	char	   *old_rule = NULL;

	values[0] = CStringGetTextDatum(r->dbname);
	values[1] = r->hhmm ? CStringGetTextDatum(r->hhmm) : (Datum) 0;
	nulls[1] = r->hhmm ? ' ' : 'n';
	values[2] = CStringGetTextDatum(r->cron);
	values[3] = CStringGetTextDatum(r->zone);
	values[4] = Int32GetDatum(r->keep_daily);
	values[5] = Int32GetDatum(r->keep_weekly);
	values[6] = Int32GetDatum(r->keep_monthly);
	values[7] = TimestampTzGetDatum(r->now);
	values[8] = CStringGetTextDatum(r->creator);
	values[9] = TimestampTzGetDatum(r->next);
	values[10] = BoolGetDatum(r->verify);

	SPI_connect();
	if (SPI_execute_with_args("SELECT rule FROM pgbackups.schedules WHERE name = $1",
							  1, types, values, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pgbackups.schedules");
	if (SPI_processed == 1)
		old_rule = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (SPI_execute_with_args(psprintf("INSERT INTO pgbackups.schedule_defs AS s "
									   "(name, database, at, cron, timezone, keep_daily, keep_weekly, keep_monthly, "
									   " created_at, created_by, next_run%s) "
									   "VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10%s) "
									   "ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at, cron = EXCLUDED.cron, "
									   " timezone = EXCLUDED.timezone, keep_daily = EXCLUDED.keep_daily, "
									   " keep_weekly = EXCLUDED.keep_weekly, keep_monthly = EXCLUDED.keep_monthly, "
									   " next_run = EXCLUDED.next_run%s",
									   r->nverify ? ", verify" : "", r->nverify ? ", $11" : "",
									   r->nverify ? ", verify = EXCLUDED.verify" : ""),
							  10 + r->nverify, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the schedule");
	if (old_rule)
		ereport(NOTICE,
				(errmsg("backup schedule \"%s\" replaced", r->dbname),
				 errdetail("It was: %s.", old_rule)));
	SPI_finish();
}

Datum
pgbackups_schedule(PG_FUNCTION_ARGS)
{
	char	   *dbname = text_arg(fcinfo, 0);
	char	   *at = text_arg(fcinfo, 1);
	char	   *cron = text_arg(fcinfo, 2);
	char	   *tzarg = text_arg(fcinfo, 3);
	int			keep_daily = keep_arg(fcinfo, 4, "keep_daily");
	int			keep_weekly = keep_arg(fcinfo, 5, "keep_weekly");
	int			keep_monthly = keep_arg(fcinfo, 6, "keep_monthly");
	/* verify: a parameter since 1.5.0 (a 1.4.0 catalog calls with seven) */
	bool		has_verify = PG_NARGS() > 7;
	char	   *hhmm = NULL;
	const char *zone;
	char	   *err;
	PgbCronRule rule;
	TimestampTz now = pgb_clock_now();
	TimestampTz next;
	Oid			dboid;
	char	   *creator;
	ScheduleRow row;

	if (PgbShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbackups must be loaded via shared_preload_libraries"),
				 errhint("Add pgbackups to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (dbname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("database must not be null")));
	dboid = get_database_oid(dbname, false);
	if ((at == NULL) == (cron == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("specify either at or cron"),
				 errhint("For example pgbackups.schedule(at => '02:00 America/Los_Angeles') or pgbackups.schedule(cron => '0 */6 * * *', timezone => 'Europe/Berlin').")));

	if (at != NULL)
	{
		char	   *atzone;

		if (!pgb_at_parse(at, &cron, &hhmm, &atzone, &err))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid time \"%s\"", at),
					 errdetail("%s", err)));
		zone = pgb_zone_resolve_or_error(atzone ? atzone : (tzarg ? tzarg : "UTC"));
		if (atzone && tzarg && strcmp(zone, pgb_zone_resolve_or_error(tzarg)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the time zone in at (\"%s\") differs from timezone (\"%s\")", atzone, tzarg),
					 errhint("Give the time zone once.")));
	}
	else
		zone = pgb_zone_resolve_or_error(tzarg ? tzarg : "UTC");

	pgb_cron_parse_or_error(cron, &rule);
	next = pgb_cron_next(&rule, zone, now);
	if (TIMESTAMP_NOT_FINITE(next))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cron expression \"%s\" never runs", cron),
				 errdetail("No day in the next 50 years matches it.")));

	/* as capture(): the database's data is read with superuser rights */
	if (!pgb_may_read_database(dboid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to schedule backups of database \"%s\"", dbname),
				 errdetail("A backup holds every row of the database: taking one requires owning the database, membership in pg_read_all_data, or superuser.")));
	if (has_verify && PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("verify must not be null")));
	creator = GetUserNameFromId(GetUserId(), false);

	row.dbname = dbname;
	row.hhmm = hhmm;
	row.cron = cron;
	row.zone = zone;
	row.keep_daily = keep_daily;
	row.keep_weekly = keep_weekly;
	row.keep_monthly = keep_monthly;
	row.now = now;
	row.creator = creator;
	row.next = next;
	row.nverify = has_verify ? 1 : 0;
	row.verify = has_verify && PG_GETARG_BOOL(7);
	pgb_run_as_superuser(store_schedule, &row);
	pgb_request_wake_at_commit();	/* the scheduler plans the next slot */

	PG_RETURN_TEXT_P(cstring_to_text(dbname));
}

/*
 * pgbackups.unschedule(name_or_database)
 *		Remove a schedule by name or database; without an argument the only
 *		schedule the caller may see.  A schedule of a database the caller may
 *		not read (access.c) is refused with 42501; the row is deleted as the
 *		bootstrap superuser in the caller's transaction.
 */
typedef struct Unschedule
{
	const char *given;			/* name or database; NULL: the only one */
	Oid			roleid;			/* the caller */
	MemoryContext caller;
	char	   *found;
	char	   *found_db;
	int			visible;		/* schedules the caller may read (given NULL) */
	StringInfoData names;
} Unschedule;

/* find the schedule and delete it (run as the bootstrap superuser) */
static void
unschedule_row(void *arg)
{
	Unschedule *u = (Unschedule *) arg;
	uint64		i;

	SPI_connect();
	if (SPI_execute("SELECT s.name, s.database::text FROM pgbackups.schedule_defs s ORDER BY s.name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pgbackups.schedule_defs");
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *db = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (u->given == NULL)
		{
			if (!pgb_role_may_read_database(u->roleid, db))
				continue;
			u->visible++;
			appendStringInfo(&u->names, "%s%s", u->visible > 1 ? ", " : "", name);
		}
		else if (strcmp(name, u->given) != 0 && strcmp(db, u->given) != 0)
			continue;
		if (u->found == NULL)
		{
			u->found = MemoryContextStrdup(u->caller, name);
			u->found_db = MemoryContextStrdup(u->caller, db);
		}
	}
	if (u->found != NULL && (u->given != NULL || u->visible == 1))
	{
		Oid			types[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(u->found)};

		if (!pgb_role_may_read_database(u->roleid, u->found_db))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to remove backup schedule \"%s\"", u->found),
					 errdetail("It backs up database \"%s\": that requires owning the database, membership in pg_read_all_data, or superuser.", u->found_db)));
		if (SPI_execute_with_args("DELETE FROM pgbackups.schedule_defs s WHERE s.name = $1",
								  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete the schedule");
	}
	SPI_finish();
}

Datum
pgbackups_unschedule(PG_FUNCTION_ARGS)
{
	Unschedule	u;

	memset(&u, 0, sizeof(u));
	u.given = text_arg(fcinfo, 0);
	u.roleid = GetUserId();
	u.caller = CurrentMemoryContext;
	initStringInfo(&u.names);
	pgb_run_as_superuser(unschedule_row, &u);
	pgb_request_wake_at_commit();

	if (u.given == NULL && u.visible == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no backup schedules")));
	if (u.given == NULL && u.visible > 1)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("there are %d backup schedules; name the one to remove", u.visible),
				 errdetail("Schedules: %s.", u.names.data)));
	if (u.found == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("backup schedule \"%s\" does not exist", u.given),
				 errhint("SELECT * FROM pgbackups.schedules lists the schedules.")));
	PG_RETURN_TEXT_P(cstring_to_text(u.found));
}
