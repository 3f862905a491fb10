/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  "pgbackups maintenance": the slow chores of one database, in their
 *	  own process so that its scheduler never waits on them.
 *
 * Started by the launcher when the database slot's maint_flags ask for it
 * (the scheduler after a restart or a dead job, the launcher after a job
 * ended with a webhook configured) or when a webhook retry is due
 * (alerts_next).  It
 *	- drops the staging and replaced databases that jobs of this catalog
 *	  left when they died (never one of a job that is still live), and on
 *	  PGB_MAINT_OLD also replaced databases whose catalog database is gone;
 *	- rebuilds the catalog from the manifests in storage (rescan.c), once
 *	  per server start and after CREATE EXTENSION;
 *	- delivers the due alerts (alerts.c), each POST bounded by its timeout
 *	  and waiting on the latch;
 * then leaves the time of the next webhook retry for the launcher and
 * exits.  pgb_sweep_main, once per server start, aborts the S3 uploads a
 * crash left unfinished.  A pause of the database (DROP DATABASE, a swap) terminates it
 * through the launcher.
 *
 * src/bgw/maintenance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "access.h"
#include "alerts.h"
#include "catalog.h"
#include "catalog_schedule.h"
#include "counters.h"
#include "dbswap.h"
#include "guc.h"
#include "maintenance.h"
#include "pq_util.h"
#include "rescan.h"
#include "error_info.h"
#include "shmem.h"
#include "storage.h"

static PgbDbSlot *my_db = NULL;

/* when this worker last loaded the configuration, for counters.c */
static void
publish_conf(TimestampTz at)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	my_db->maint_conf_at = at;
	LWLockRelease(PgbShared->lock);
}

static void
maintenance_exit(int code, Datum arg)
{
	publish_conf(0);
}

/* whether a live job of this database has this id; lock not held */
static bool
job_live(const char *id)
{
	PgbJobSlot *j;
	bool		live;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	j = pgb_job_find(MyDatabaseId, id);
	live = j != NULL && !j->finished && !(j->launched && j->exited);
	LWLockRelease(PgbShared->lock);
	return live;
}

/*
 * the job id in a staging or replaced database's name,
 * pgbackups_<catalog oid>_<job id>_<...>; NULL if it is not one of ours
 */
static char *
job_of(const char *datname, Oid *catalog)
{
	unsigned int oid;
	char		id[PGB_ID_LEN];
	int			n = 0;

	if (sscanf(datname, "pgbackups_%u_%15[a-z0-9]_%n", &oid, id, &n) != 2 || n == 0)
		return NULL;
	*catalog = oid;
	return pstrdup(id);
}

/*
 * drop_leftovers
 *		The databases dead jobs of this catalog left; with all_old, also
 *		the replaced databases of catalogs that no longer exist.
 */
static void
drop_leftovers(const char *dbname, bool all_old)
{
	PGconn	   *volatile m = pgb_db_maintenance_connect(dbname, NULL);

	PG_TRY();
	{
		PGresult   *res;
		int			i;

		res = pgb_pq_exec_params(m, "SELECT datname, "
								 " EXISTS (SELECT 1 FROM pg_catalog.pg_database c "
								 "         WHERE c.oid::text = split_part(d.datname, '_', 2)) "
								 "FROM pg_catalog.pg_database d WHERE datname LIKE 'pgbackups\\_%'",
								 0, NULL, PGRES_TUPLES_OK);
		for (i = 0; i < PQntuples(res); i++)
		{
			const char *name = PQgetvalue(res, i, 0);
			bool		catalog_exists = strcmp(PQgetvalue(res, i, 1), "t") == 0;
			size_t		len = strlen(name);
			Oid			catalog;
			char	   *id = job_of(name, &catalog);
			bool		drop;

			if (id == NULL)
				continue;
			if (catalog == MyDatabaseId)
				drop = !job_live(id);
			else
				drop = all_old && !catalog_exists && len > 4 && strcmp(name + len - 4, "_old") == 0;
			if (!drop)
				continue;
			ereport(LOG,
					(errmsg("pgbackups: dropping database \"%s\" left by an interrupted job", name)));
			pgb_db_drop(m, name);
		}
		PQclear(res);
	}
	PG_FINALLY();
	{
		pgb_pq_disconnect(m);
	}
	PG_END_TRY();
}

/* run one chore; an error is logged and the chore left for the next run */
static void
chore(void (*fn) (const char *, bool), const char *dbname, bool arg)
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		fn(dbname, arg);
	}
	PG_CATCH();
	{
		pgb_catch_and_log(ctx);
	}
	PG_END_TRY();
}

/* rebuild this catalog from the manifests in storage (rescan.c) */
static void
rescan(const char *dbname, bool unused)
{
	List	   *items;
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "pgbackups: rescan");
	items = pgb_rescan();
	foreach(lc, items)
	{
		PgbRescanItem *it = lfirst(lc);

		ereport(LOG,
				(errmsg("pgbackups: rescan of database \"%s\": %s %s", dbname, it->id, it->outcome)));
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

static void
deliver_alerts(const char *dbname, bool unused)
{
	while (pgb_alerts_deliver() > 0)
		CHECK_FOR_INTERRUPTS();
}

static int
take_flags(void)
{
	int			flags;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	flags = my_db->maint_flags;
	my_db->maint_flags = 0;
	LWLockRelease(PgbShared->lock);
	return flags;
}

void
pgb_maintenance_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	char	   *dbname;
	int			flags;
	TimestampTz alerts_at = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pgb_count_process(PGB_PROC_MAINTENANCE);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgb_pin_worker_settings();
	pgstat_report_appname("pgbackups maintenance");

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	my_db = pgb_db_slot(dboid, false);
	LWLockRelease(PgbShared->lock);
	if (my_db == NULL || pgb_catalog_extension_version() == NULL)
		proc_exit(0);
	publish_conf(PgReloadTime);
	before_shmem_exit(maintenance_exit, (Datum) 0);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	CommitTransactionCommand();

	while ((flags = take_flags()) != 0 || alerts_at == 0)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			publish_conf(PgReloadTime);
		}
		if (flags & (PGB_MAINT_LEFTOVERS | PGB_MAINT_OLD))
			chore(drop_leftovers, dbname, (flags & PGB_MAINT_OLD) != 0);
		if (flags & PGB_MAINT_RESCAN)
			chore(rescan, dbname, false);
		if (pgb_webhook_url && pgb_webhook_url[0])
			chore(deliver_alerts, dbname, false);
		(void) pgb_catalog_next_wakeup(&alerts_at);
		if (alerts_at == 0)
			alerts_at = DT_NOEND;	/* none left: leave the loop */
	}
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	my_db->alerts_next = alerts_at == DT_NOEND ? 0 : alerts_at;
	LWLockRelease(PgbShared->lock);
	pgb_wake_launcher();
	proc_exit(0);
}

/*
 * pgb_sweep_main
 *		"pgbackups sweep": once per server start, abort the unfinished S3
 *		uploads a crash left behind (storage.c).  Errors are logged.
 */
void
pgb_sweep_main(Datum arg)
{
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pgb_count_process(PGB_PROC_OTHER);
	pgstat_report_appname("pgbackups sweep");
	cxt = AllocSetContextCreate(TopMemoryContext, "pgbackups sweep", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		pgb_storage_sweep();
	}
	PG_CATCH();
	{
		pgb_catch_and_log(cxt);
	}
	PG_END_TRY();
	proc_exit(0);
}
