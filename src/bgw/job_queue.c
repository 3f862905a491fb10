/*-------------------------------------------------------------------------
 *
 * job_queue.c
 *	  The scheduler's side of the job slots: a recorded job gets its
 *	  shared-memory slot (the launcher starts its worker from there), and
 *	  jobs whose worker died, or that a server restart interrupted, are
 *	  recorded failed with what they left cleaned up.
 *
 * Job state machine (catalog status, shared job slot):
 *	 pending --(launcher starts a worker)--> running --> completed | failed | canceled
 *	   (a capture stays pending while a capture of the same database runs:
 *	   launcher.c, one_capture_per_database)
 *	 pending --(cancel)--> canceled
 *	 running, worker gone without an outcome --> failed (or canceled)
 *
 * src/bgw/job_queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "catalog_spi.h"
#include "dbswap.h"
#include "error_info.h"
#include "job_kind.h"
#include "job_queue.h"
#include "manifest.h"
#include "scheduler.h"
#include "shmem.h"
#include "storage.h"

/* a free job slot, reclaiming the oldest finished one if needed; lock held */
static PgbJobSlot *
alloc_job_slot(void)
{
	PgbJobSlot *oldest = NULL;
	int			i;

	for (i = 0; i < PGB_MAX_JOBS; i++)
	{
		PgbJobSlot *j = &PgbShared->jobs[i];

		if (!j->in_use)
			return j;
		if (j->finished && (j->exited || !j->launched) &&
			(oldest == NULL || j->finished_at < oldest->finished_at))
			oldest = j;
	}
	return oldest;
}

PgbJobSlot *
pgb_jobq_add(const char *id, Oid roleid, const char *source)
{
	PgbJobSlot *j;
	const char *database = NULL;

	if (!pgb_job_kind(id)->transfer)
	{
		/* the launcher starts one capture of a database at a time */
		PgbBackupRow *row = pgb_catalog_get_backup(id);

		database = row ? row->database : NULL;
	}
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	j = pgb_job_find(MyDatabaseId, id);
	if (j != NULL && j->finished && (j->exited || !j->launched))
	{
		/* a finished job of the same id (catalog recreated): start afresh */
		j->in_use = false;
		j = NULL;
	}
	if (j == NULL)
	{
		j = alloc_job_slot();
		if (j != NULL)
		{
			memset(j, 0, sizeof(PgbJobSlot));
			j->in_use = true;
			j->generation = PgbShared->next_generation++;
			j->dboid = MyDatabaseId;
			strlcpy(j->id, id, sizeof(j->id));
			j->status = PGB_JOB_PENDING;
			j->created_at = GetCurrentTimestamp();
			j->roleid = roleid;
			if (source)
				strlcpy(j->source, source, sizeof(j->source));
			if (database)
				strlcpy(j->database, database, sizeof(j->database));
		}
	}
	LWLockRelease(PgbShared->lock);
	if (j != NULL)
		pgb_wake_launcher();	/* it starts the job's worker */
	return j;
}

bool
pgb_jobq_available(void)
{
	bool		ok;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	ok = alloc_job_slot() != NULL;
	LWLockRelease(PgbShared->lock);
	return ok;
}

void
pgb_jobq_end(PgbJobSlot *j, PgbJobStatus status, int sqlerrcode, const char *msg)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	j->status = status;
	j->finished = true;
	j->finished_at = GetCurrentTimestamp();
	j->sqlerrcode = sqlerrcode;
	if (msg != j->errmsg)
		strlcpy(j->errmsg, msg ? msg : "", sizeof(j->errmsg));
	LWLockRelease(PgbShared->lock);
}

/* ask the launcher for this database's maintenance worker */
void
pgb_jobq_flag_maintenance(int flags)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	pgb_sched_db->maint_flags |= flags;
	LWLockRelease(PgbShared->lock);
	pgb_wake_launcher();
}

/*
 * after a job died: remove what it left (a capture's spool files here, a
 * transfer's staging database in the maintenance worker: DROP DATABASE is
 * slow)
 */
/*
 * remove_unrecorded_archive
 *		A capture that died once its archive was stored under its final name
 *		but before its manifest was: nothing will ever name that archive, so
 *		it goes, as a failed capture's would.  With its manifest the backup
 *		is whole: the rescan that follows a restart imports it as completed.
 *		Only a removal is logged (pgb_storage_delete says whether there was
 *		anything to remove: a missing file or S3 key is not).
 *		A storage error is logged (the archive is then an orphan that
 *		storage_check() reports).
 */
static void
remove_unrecorded_archive(const char *location)
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		if (pgb_storage_get_small(pgb_manifest_url(location), 1024 * 1024, NULL) != NULL)
			ereport(DEBUG1,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg_internal("pgbackups: interrupted capture's archive \"%s\" has its manifest: kept",
									 location)));
		else if (pgb_storage_delete(location))
			ereport(LOG,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg("pgbackups: removed archive \"%s\" of an interrupted capture: it has no manifest",
							location)));
		else
			ereport(DEBUG1,
					(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
					 errmsg_internal("pgbackups: interrupted capture stored no archive at \"%s\": nothing to remove",
									 location)));
	}
	PG_CATCH();
	{
		pgb_catch_and_log(ctx);
	}
	PG_END_TRY();
}

static void
remove_job_leftovers(const char *id, PgbBackupRow *row)
{
	if (pgb_job_kind(id)->transfer)
	{
		/* a copy's snapshot archive, a restore's download (transfer_job.c) */
		char	   *temp = pgb_storage_temp_path(id[0] == 'c' ?
												 psprintf("copy-%u-%s.dump", MyDatabaseId, id) :
												 psprintf("url-%s.dump", id));

		(void) unlink(temp);
		(void) unlink(psprintf("%s.tmp", temp));
		pgb_storage_remove_partials(psprintf("file://%s", temp));
		pgb_jobq_flag_maintenance(PGB_MAINT_LEFTOVERS);
	}
	else if (row && row->location)
	{
		pgb_storage_remove_partials(row->location);
		remove_unrecorded_archive(row->location);
	}
}

/*
 * swap_committed
 *		Whether restore or copy id, which died without recording its
 *		outcome, had its swap committed: the replaced database,
 *		pgbackups_<catalog>_<id>_old, exists from the swap's COMMIT until
 *		the outcome is recorded (restore_swap.c, transfer_job.c).  Then the
 *		target holds the restored database and the job is completed; the
 *		maintenance worker drops the replaced one.
 */
static bool
swap_committed(const char *id)
{
	const char *args[1];
	bool		found;

	if (!pgb_job_kind(id)->transfer)
		return false;
	args[0] = pgb_db_old_name(MyDatabaseId, id);
	pgb_cat_begin("pgbackups: swap committed");
	found = pgb_cat_run("SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", 1, args) > 0;
	pgb_cat_commit();
	if (!found)
		return false;
	pgb_catalog_mark_ended(id, "completed", NULL, NULL);
	pgb_catalog_log(id, "completed: the swap had committed when the job was interrupted; "
					"the replaced database is dropped");
	remove_job_leftovers(id, NULL); /* temporary files; the replaced database */
	ereport(LOG,
			(errmsg("pgbackups: job %s was interrupted after its swap committed: recorded completed", id)));
	return true;
}

/* whether any staging or replaced database exists (a shared catalog) */
static bool
leftover_databases_exist(void)
{
	bool		exist;

	pgb_cat_begin("pgbackups: leftover databases");
	exist = pgb_cat_run("SELECT 1 FROM pg_catalog.pg_database WHERE datname LIKE 'pgbackups\\_%' LIMIT 1",
						0, NULL) > 0;
	pgb_cat_commit();
	return exist;
}

/*
 * pgb_jobq_reconcile
 *		At start-up: running jobs without a live worker failed; pending jobs
 *		get slots.
 */
void
pgb_jobq_reconcile(void)
{
	List	   *running = pgb_catalog_running_backups();
	List	   *pending = pgb_catalog_pending_backups();
	ListCell   *lc;

	foreach(lc, running)
	{
		char	   *id = lfirst(lc);
		PgbJobSlot *j;
		bool		alive;

		LWLockAcquire(PgbShared->lock, LW_SHARED);
		j = pgb_job_find(MyDatabaseId, id);
		alive = j != NULL && j->launched && !j->exited;
		LWLockRelease(PgbShared->lock);
		if (!alive && !swap_committed(id))
		{
			PgbBackupRow *row = pgb_catalog_get_backup(id);

			remove_job_leftovers(id, row);
			pgb_catalog_mark_ended(id, "failed", "interrupted by server restart",
								   unpack_sql_state(ERRCODE_ADMIN_SHUTDOWN));
			pgb_catalog_log(id, "failed: interrupted by server restart");
			ereport(LOG,
					(errmsg("pgbackups: job %s was interrupted by a server restart", id)));
		}
	}
	foreach(lc, pending)
		(void) pgb_jobq_add(lfirst(lc), InvalidOid, NULL);
	/* the catalog is an index of storage: rebuilt once per start (rescan.c) */
	pgb_jobq_flag_maintenance(PGB_MAINT_RESCAN |
							  (leftover_databases_exist() ? PGB_MAINT_LEFTOVERS | PGB_MAINT_OLD : 0));
}

/* a scheduled backup just recorded: give it a job slot, or record it failed */
bool
pgb_jobq_queue_scheduled(const char *id)
{
	if (pgb_jobq_add(id, InvalidOid, NULL) != NULL)
		return true;
	pgb_catalog_mark_ended(id, "failed", "no job slot available",
						   unpack_sql_state(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED));
	pgb_catalog_log(id, "failed: too many unfinished pgbackups jobs on this server");
	return false;
}

/*
 * record_dead_jobs
 *		Jobs of this database whose worker exited without recording an
 *		outcome (the launcher noticed and flagged the database): recorded
 *		failed, or canceled if a cancel was asked.  Returns whether any was.
 */
bool
pgb_jobq_record_dead(void)
{
	bool		any = false;
	int			i;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	pgb_sched_db->jobs_died = false;
	LWLockRelease(PgbShared->lock);
	for (i = 0; i < PGB_MAX_JOBS; i++)
	{
		PgbJobSlot *j = &PgbShared->jobs[i];
		char		id[PGB_ID_LEN];
		bool		canceled;
		bool		dead;
		PgbBackupRow *row;

		LWLockAcquire(PgbShared->lock, LW_SHARED);
		dead = j->in_use && j->dboid == MyDatabaseId && j->launched && j->exited && !j->finished;
		strlcpy(id, j->id, sizeof(id));
		canceled = j->cancel_requested;
		LWLockRelease(PgbShared->lock);
		if (!dead)
			continue;
		any = true;
		row = pgb_catalog_get_backup(id);
		if (row && strcmp(row->status, "running") == 0 && swap_committed(id))
			pgb_jobq_end(j, PGB_JOB_COMPLETED, 0, NULL);
		else if (row && (strcmp(row->status, "running") == 0 || strcmp(row->status, "pending") == 0))
		{
			remove_job_leftovers(id, row);
			pgb_catalog_mark_ended(id, canceled ? "canceled" : "failed",
								   canceled ? "canceled by user request" : "job worker exited unexpectedly",
								   unpack_sql_state(canceled ? ERRCODE_QUERY_CANCELED : ERRCODE_INTERNAL_ERROR));
			pgb_catalog_log(id, canceled ? "canceled" : "failed: job worker exited unexpectedly");
			pgb_jobq_end(j, canceled ? PGB_JOB_CANCELED : PGB_JOB_FAILED,
					 canceled ? ERRCODE_QUERY_CANCELED : ERRCODE_INTERNAL_ERROR,
					 canceled ? psprintf("backup %s was canceled", id) : "job worker exited unexpectedly");
		}
		else
			pgb_jobq_end(j, j->status, j->sqlerrcode, j->errmsg);
	}
	return any;
}
