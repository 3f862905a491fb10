/*-------------------------------------------------------------------------
 *
 * counters.c
 *	  Exact counters in shared memory and pgbackups.counters().
 *
 * Tests (and monitoring) read facts here instead of sampling
 * pg_stat_activity or sleeping: every pgbackups process counts itself when
 * it starts and again when it exits (before the postmaster, and so the
 * launcher, can see it gone), so a high-water mark is a maximum over every
 * moment.  The scheduler counts its turns and the set_clock() generation
 * each decision on due slots saw; the launcher counts its rounds; the
 * launcher, schedulers and maintenance workers publish when they last
 * loaded the configuration files.  Everything here is under
 * PgbShared->lock and starts again from zero at every server start.
 *
 * src/bgw/counters.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "counters.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(pgbackups_counters);

static const char *const kind_names[PGB_PROC_KINDS] = {
	"schedulers", "maintenance_workers", "job_workers", "stream_workers",
	"restore_workers", "other_workers"
};

void
pgb_count_enter_locked(PgbProcKind kind, bool capture)
{
	PgbCounters *c = &PgbShared->counters;

	c->started[kind]++;
	if (++c->running[kind] > c->running_max[kind])
		c->running_max[kind] = c->running[kind];
	if (capture && ++c->capture_procs > c->capture_procs_max)
		c->capture_procs_max = c->capture_procs;
}

void
pgb_count_leave_locked(PgbProcKind kind, bool capture)
{
	PgbCounters *c = &PgbShared->counters;

	c->running[kind]--;
	if (capture)
		c->capture_procs--;
}

static void
count_exit(int code, Datum arg)
{
	PgbProcKind kind = (PgbProcKind) DatumGetInt32(arg);

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	pgb_count_leave_locked(kind, kind == PGB_PROC_STREAM);
	LWLockRelease(PgbShared->lock);
}

/*
 * pgb_count_process
 *		Count this process as a running KIND until it exits.  Call it first
 *		thing in the process's main function: its exit callback then runs
 *		after every one registered later, just before the process is gone.
 */
void
pgb_count_process(PgbProcKind kind)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	pgb_count_enter_locked(kind, kind == PGB_PROC_STREAM);
	LWLockRelease(PgbShared->lock);
	before_shmem_exit(count_exit, Int32GetDatum((int32) kind));
}

void
pgb_count_budget_locked(void)
{
	int			n = pgb_procs_in_use();

	if (n > PgbShared->counters.budget_max)
		PgbShared->counters.budget_max = n;
}

/* microseconds since the Unix epoch (what extract(epoch ...) * 1e6 gives) */
static int64
unix_usec(TimestampTz t)
{
	return t == 0 ? 0 :
		t + ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
}

#define NCOUNTERS (3 * PGB_PROC_KINDS + 9)

/*
 * pgbackups_counters
 *		pgbackups.counters(reset boolean): one row per counter (name, value).
 *		reset => true first lowers every high-water mark to the current
 *		value.  Superusers only.
 */
Datum
pgbackups_counters(PG_FUNCTION_ARGS)
{
	bool		reset = !PG_ARGISNULL(0) && PG_GETARG_BOOL(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *names[NCOUNTERS];
	int64		values[NCOUNTERS];
	int			n = 0;
	int			k;
	int			i;
	PgbCounters *c;
	PgbDbSlot  *mine;
	TimestampTz conf_min;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read the pgbackups counters"),
				 errdetail("Only superusers may call pgbackups.counters().")));
	if (PgbShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbackups is not loaded through shared_preload_libraries")));
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(PgbShared->lock, reset ? LW_EXCLUSIVE : LW_SHARED);
	c = &PgbShared->counters;
	if (reset)
	{
		for (k = 0; k < PGB_PROC_KINDS; k++)
			c->running_max[k] = c->running[k];
		c->capture_procs_max = c->capture_procs;
		c->budget_max = pgb_procs_in_use();
	}
	for (k = 0; k < PGB_PROC_KINDS; k++)
	{
		names[n] = kind_names[k];
		values[n++] = c->running[k];
		names[n] = psprintf("%s_max", kind_names[k]);
		values[n++] = c->running_max[k];
		names[n] = psprintf("%s_started", kind_names[k]);
		values[n++] = c->started[k];
	}
	names[n] = "capture_processes";
	values[n++] = c->capture_procs;
	names[n] = "capture_processes_max";
	values[n++] = c->capture_procs_max;
	names[n] = "max_workers_used_max";
	values[n++] = c->budget_max;
	names[n] = "launcher_rounds";
	values[n++] = c->launcher_rounds;
	names[n] = "clock_sets";
	values[n++] = (int64) c->clock_sets;

	/* the calling database's scheduler */
	mine = pgb_db_slot(MyDatabaseId, false);
	names[n] = "scheduler_turns";
	values[n++] = mine ? mine->sched_turns : 0;
	names[n] = "schedules_decided";
	values[n++] = mine ? (int64) mine->clock_decided : 0;

	/* configuration: the launcher's, and the oldest of the running others */
	conf_min = c->launcher_conf_at;
	for (i = 0; i < PGB_MAX_DATABASES; i++)
	{
		PgbDbSlot  *s = &PgbShared->dbs[i];

		if (s->dboid == InvalidOid)
			continue;
		if (s->sched_conf_at != 0 && (conf_min == 0 || s->sched_conf_at < conf_min))
			conf_min = s->sched_conf_at;
		if (s->maint_conf_at != 0 && (conf_min == 0 || s->maint_conf_at < conf_min))
			conf_min = s->maint_conf_at;
	}
	names[n] = "launcher_config_loaded_at";
	values[n++] = unix_usec(c->launcher_conf_at);
	names[n] = "config_loaded_at";
	values[n++] = unix_usec(conf_min);
	LWLockRelease(PgbShared->lock);

	Assert(n == NCOUNTERS);
	for (i = 0; i < n; i++)
	{
		Datum		v[2];
		bool		nulls[2] = {false, false};

		v[0] = CStringGetTextDatum(names[i]);
		v[1] = Int64GetDatum(values[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}
