/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *	  One scheduler per database that has the extension ("pgbackups
 *	  scheduler"), started by the launcher.
 *
 * The scheduler owns every catalog change that SQL callers ask for:
 * capture, cancel and delete requests arrive through the shared request
 * queue and are carried out here in the scheduler's own transactions, so a
 * record survives a rollback of the caller's transaction (an ORM migration).
 * It then starts a "pgbackups job" worker per pending job while fewer than
 * pgbackups.max_workers pgbackups processes run; a job that finds no slot
 * stays pending and is retried every second, never lost.
 *
 * Job state machine (catalog status, shared job slot):
 *	 pending --(worker starts)--> running --> completed | failed | canceled
 *	 pending --(cancel)--> canceled
 *	 running, worker gone without an outcome --> failed
 *
 * At start-up, jobs recorded as running that no live worker owns were
 * interrupted by a server restart: they are marked failed and their
 * temporary files removed; pending jobs get job slots again.
 *
 * Locking: PgbShared->lock is held only to read or change shared slots,
 * never across catalog access or waits.
 *
 * src/bgw/scheduler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "alerts.h"
#include "access.h"
#include "catalog.h"
#include "dbswap.h"
#include "pq_util.h"
#include "compress.h"
#include "guc.h"
#include "http.h"
#include "job_worker.h"
#include "schedule_run.h"
#include "scheduler.h"
#include "shmem.h"
#include "storage.h"
#include "job_kind.h"
#include "url_scheme.h"

#define FINISHED_SLOT_TTL_MS (10 * 60 * 1000)

static PgbDbSlot *my_db = NULL;
/* the installed extension version when it is not PGB_CATALOG_VERSION */
static char outdated[64];
static bool reconciled = false;
static char *my_dbname = NULL;
static BackgroundWorkerHandle *job_handles[PGB_MAX_JOBS];
static bool warned_no_slot[PGB_MAX_JOBS];

static bool
stop_requested(void)
{
	bool		stop;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	stop = my_db->stop_requested;
	LWLockRelease(PgbShared->lock);
	return stop;
}

static void
scheduler_exit(int code, Datum arg)
{
	if (my_db == NULL)
		return;
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (my_db->pid == MyProcPid)
	{
		my_db->state = PGB_DB_UNKNOWN;
		my_db->pid = 0;
		my_db->latch = NULL;
		my_db->probed_at = GetCurrentTimestamp();
	}
	LWLockRelease(PgbShared->lock);
	ConditionVariableBroadcast(&PgbShared->db_cv);
	pgb_wake_launcher();
}

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

static PgbJobSlot *
new_job_slot(const char *id)
{
	PgbJobSlot *j;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	j = pgb_job_find(MyDatabaseId, id);
	if (j != NULL && j->finished)
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
			if (job_handles[j - PgbShared->jobs])
				pfree(job_handles[j - PgbShared->jobs]);
			job_handles[j - PgbShared->jobs] = NULL;
			warned_no_slot[j - PgbShared->jobs] = false;
		}
	}
	LWLockRelease(PgbShared->lock);
	return j;
}

static bool
job_slot_available(void)
{
	bool		ok;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	ok = alloc_job_slot() != NULL;
	LWLockRelease(PgbShared->lock);
	return ok;
}

static void
end_slot(PgbJobSlot *j, PgbJobStatus status, int sqlerrcode, const char *msg)
{
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	j->status = status;
	j->finished = true;
	j->finished_at = GetCurrentTimestamp();
	j->sqlerrcode = sqlerrcode;
	strlcpy(j->errmsg, msg ? msg : "", sizeof(j->errmsg));
	LWLockRelease(PgbShared->lock);
}

/*
 * drop_leftovers
 *		Databases a dead restore or copy of this catalog left behind (its
 *		staging database, or the replaced one if the swap committed), and
 *		with job_id NULL every replaced database of any catalog: those exist
 *		only after a swap committed, so they are garbage.
 */
static void
drop_leftovers(const char *job_id)
{
	PGconn	   *volatile m = NULL;

	PG_TRY();
	{
		PGresult   *res;
		char		pattern[128];
		const char *params[1] = {pattern};
		int			i;

		if (job_id)
			snprintf(pattern, sizeof(pattern), "pgbackups\\_%u\\_%s\\_%%", MyDatabaseId, job_id);
		else
			snprintf(pattern, sizeof(pattern), "pgbackups\\_%%\\_old");
		m = pgb_db_maintenance_connect(my_dbname, NULL);
		res = pgb_pq_exec_params(m, "SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE $1",
								 1, params, PGRES_TUPLES_OK);
		for (i = 0; i < PQntuples(res); i++)
		{
			ereport(LOG,
					(errmsg("pgbackups: dropping database \"%s\" left by an interrupted job",
							PQgetvalue(res, i, 0))));
			pgb_db_drop(m, PQgetvalue(res, i, 0));
		}
		PQclear(res);
		pgb_pq_disconnect(m);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
		if (m)
			pgb_pq_disconnect(m);
	}
	PG_END_TRY();
}

/* after a job died: remove what it left */
static void
remove_job_leftovers(const char *id, PgbBackupRow *row)
{
	if (pgb_job_kind(id)->transfer)
		drop_leftovers(id);
	else if (row && row->location)
		pgb_storage_remove_partials(row->location);
}

/*
 * reconcile
 *		At start-up: running jobs without a live worker failed; pending jobs
 *		get slots.
 */
static void
reconcile(void)
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
		if (!alive)
		{
			PgbBackupRow *row = pgb_catalog_get_backup(id);

			remove_job_leftovers(id, row);
			pgb_catalog_mark_ended(id, "failed", "interrupted by server restart", "57P01");
			pgb_catalog_log(id, "failed: interrupted by server restart");
			ereport(LOG,
					(errmsg("pgbackups: job %s was interrupted by a server restart", id)));
		}
	}
	foreach(lc, pending)
		(void) new_job_slot(lfirst(lc));
	drop_leftovers(NULL);
}

static void
reply(int idx, int sqlerrcode, const char *msg, const char *id)
{
	PgbRequest *rq = &PgbShared->requests[idx];
	Latch	   *requester = NULL;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (rq->state == PGB_RQ_SUBMITTED)
	{
		rq->sqlerrcode = sqlerrcode;
		strlcpy(rq->errmsg, msg ? msg : "", sizeof(rq->errmsg));
		strlcpy(rq->result_id, id ? id : "", sizeof(rq->result_id));
		rq->state = PGB_RQ_DONE;
		requester = rq->requester;
	}
	LWLockRelease(PgbShared->lock);
	if (requester)
		SetLatch(requester);
}

static char *
role_name(Oid roleid)
{
	MemoryContext ctx = CurrentMemoryContext;
	char	   *name;
	char	   *role;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	name = GetUserNameFromId(roleid, true);
	role = MemoryContextStrdup(ctx, name ? name : "unknown");
	CommitTransactionCommand();
	MemoryContextSwitchTo(ctx);
	return role;
}

/* reply with an error and return false when no job slot is free */
static bool
have_job_slot(int idx)
{
	if (job_slot_available())
		return true;
	reply(idx, ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
		  "too many unfinished pgbackups jobs on this server", NULL);
	return false;
}

/*
 * queue_job
 *		Give a just recorded job its slot and answer the caller with its id;
 *		if the slots ran out meanwhile, the job is recorded failed.
 */
static PgbJobSlot *
queue_job(int idx, const char *id)
{
	PgbJobSlot *j = new_job_slot(id);

	if (j == NULL)
	{
		pgb_catalog_mark_ended(id, "failed", "no job slot available", "53400");
		reply(idx, ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
			  "too many unfinished pgbackups jobs on this server", NULL);
		return NULL;
	}
	return j;
}

static void
do_capture(PgbRequest *rq, int idx)
{
	PgbCompressionSpec spec;
	char	   *err;
	char	   *id;

	if (!pgb_compression_parse(rq->compression, &spec, &err))
	{
		reply(idx, ERRCODE_INVALID_PARAMETER_VALUE, err, NULL);
		return;
	}
	if (!have_job_slot(idx))
		return;
	id = pgb_catalog_insert_backup("manual", rq->target_db,
								   pgb_compression_name(spec.alg), spec.level,
								   rq->parallel, rq->label[0] ? rq->label : NULL,
								   role_name(rq->roleid));
	if (queue_job(idx, id) != NULL)
		reply(idx, 0, NULL, id);
}

/* a scheduled backup just recorded: give it a job slot, or record it failed */
static bool
queue_scheduled(const char *id)
{
	if (new_job_slot(id) != NULL)
		return true;
	pgb_catalog_mark_ended(id, "failed", "no job slot available", "53400");
	pgb_catalog_log(id, "failed: too many unfinished pgbackups jobs on this server");
	return false;
}

static void
run_schedules(void)
{
	pgb_schedules_run(queue_scheduled);
}

/*
 * guarded
 *		Run a periodic task; an error is logged and the task tried again on
 *		the next turn instead of stopping the scheduler.
 */
static void
guarded(void (*task) (void))
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		task();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		EmitErrorReport();
		FlushErrorState();
		if (IsTransactionState())
			AbortCurrentTransaction();
		MemoryContextSwitchTo(ctx);
	}
	PG_END_TRY();
}

static void
do_cancel(PgbRequest *rq, int idx)
{
	char	   *id = rq->id[0] ? pstrdup(rq->id) : pgb_catalog_newest_unfinished();
	PgbBackupRow *row;
	PgbJobSlot *j;
	Latch	   *latch = NULL;
	bool		pending = false;

	if (id == NULL)
	{
		reply(idx, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, "no active jobs", NULL);
		return;
	}
	row = pgb_catalog_get_backup(id);
	if (row == NULL)
	{
		reply(idx, ERRCODE_UNDEFINED_OBJECT, psprintf("job \"%s\" does not exist", id), NULL);
		return;
	}
	if (strcmp(row->status, "pending") != 0 && strcmp(row->status, "running") != 0)
	{
		reply(idx, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
			  psprintf("%s is not running (status %s)", id, row->status), NULL);
		return;
	}
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	j = pgb_job_find(MyDatabaseId, id);
	if (j && j->launched && !j->finished)
	{
		j->cancel_requested = true;
		latch = j->latch;
	}
	else
		pending = true;
	LWLockRelease(PgbShared->lock);
	if (latch)
		SetLatch(latch);
	if (pending)
	{
		pgb_catalog_mark_ended(id, "canceled", "canceled by user request", "57014");
		pgb_catalog_log(id, "canceled before it started");
		if (j)
			end_slot(j, PGB_JOB_CANCELED, ERRCODE_QUERY_CANCELED,
					 psprintf("%s was canceled", id));
	}
	reply(idx, 0, NULL, id);
}

static void
do_delete(PgbRequest *rq, int idx)
{
	PgbBackupRow *row = pgb_catalog_get_backup(rq->id);
	char	   *location;

	if (row == NULL)
	{
		reply(idx, ERRCODE_UNDEFINED_OBJECT,
			  psprintf("backup \"%s\" does not exist", rq->id), NULL);
		return;
	}
	if (strcmp(row->status, "pending") == 0 || strcmp(row->status, "running") == 0)
	{
		reply(idx, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
			  psprintf("backup %s is still %s; cancel it first with pgbackups.cancel('%s')",
					   rq->id, row->status, rq->id), NULL);
		return;
	}
	if (row->pinned)
	{
		reply(idx, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
			  psprintf("backup %s is pinned; unpin it first with pgbackups.unpin('%s')",
					   rq->id, rq->id), NULL);
		return;
	}
	location = pgb_catalog_delete_backup(rq->id);
	{
		PgbJobSlot *j;

		LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
		j = pgb_job_find(MyDatabaseId, rq->id);
		if (j && j->finished)
			j->in_use = false;
		LWLockRelease(PgbShared->lock);
	}
	if (location && strcmp(row->status, "completed") == 0)
		pgb_storage_delete(location);
	if (location)
		pgb_storage_remove_partials(location);
	reply(idx, 0, NULL, rq->id);
}

/* a backup in another database's catalog: status, location, row counts, SHA-256, source */
static void
lookup_remote_backup(const char *db, const char *id, PgbBackupRow *row)
{
	const char *params[1] = {id};
	PGconn	   *volatile conn = pgb_pq_connect(pgb_pq_conninfo(db));

	PG_TRY();
	{
		PGresult   *res;

		res = pgb_pq_exec_params(conn,
								 "SELECT b.status, b.location, b.table_rows::text, b.sha256, b.database::text "
								 "FROM pgbackups.backups b WHERE b.id = $1",
								 1, params, PGRES_TUPLES_OK);
		if (PQntuples(res) == 1)
		{
			int			c;
			char	  **fields[5] = {&row->status, &row->location, &row->table_rows,
			&row->sha256, &row->database};

			for (c = 0; c < 5; c++)
				*fields[c] = PQgetisnull(res, 0, c) ? NULL : pstrdup(PQgetvalue(res, 0, c));
		}
		PQclear(res);
	}
	PG_FINALLY();
	{
		pgb_pq_disconnect(conn);
	}
	PG_END_TRY();
}

/*
 * do_restore
 *		Resolve the backup (NULL: the newest completed one), check it is
 *		complete, record a pending restore with the row counts to verify.
 */
static void
do_restore(PgbRequest *rq, int idx)
{
	const char *backup = rq->source;
	PgbBackupRow *row = NULL;
	PgbTransferRecord t;
	PgbJobSlot *j;
	char	   *id;

	if (!have_job_slot(idx))
		return;
	memset(&t, 0, sizeof(t));
	if (rq->from_url)
		t.location = pgb_http_redact_url(rq->source);	/* the full URL stays in the job slot */
	else if (strstr(backup, "::") != NULL)
	{
		/* db::id: look it up in that database's catalog now */
		const char *sep = strstr(backup, "::");
		char	   *db = pnstrdup(backup, sep - backup);

		row = palloc0(sizeof(PgbBackupRow));
		lookup_remote_backup(db, sep + 2, row);
		if (row->status == NULL)
		{
			reply(idx, ERRCODE_UNDEFINED_OBJECT,
				  psprintf("backup \"%s\" does not exist in database \"%s\"", sep + 2, db), NULL);
			return;
		}
	}
	else
	{
		if (backup[0] == '\0')
		{
			backup = pgb_catalog_latest_completed(rq->roleid);
			if (backup == NULL)
			{
				reply(idx, ERRCODE_UNDEFINED_OBJECT, "no completed backups to restore", NULL);
				return;
			}
		}
		row = pgb_catalog_get_backup(backup);
		if (row == NULL || (row->id[0] != 'a' && row->id[0] != 'b'))
		{
			reply(idx, ERRCODE_UNDEFINED_OBJECT,
				  psprintf("backup \"%s\" does not exist", backup), NULL);
			return;
		}
	}
	if (row != NULL)
	{
		/* the read rule (access.c), for the role that asked */
		if (!pgb_role_may_read_database_tx(rq->roleid, row->database))
		{
			reply(idx, ERRCODE_INSUFFICIENT_PRIVILEGE,
				  psprintf("permission denied for backup %s: it holds data of database \"%s\", "
						   "which requires owning that database, membership in pg_read_all_data, or superuser",
						   backup, row->database), NULL);
			return;
		}
		if (strcmp(row->status, "completed") != 0)
		{
			reply(idx, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				  psprintf("backup %s is %s; only completed backups can be restored",
						   backup, row->status), NULL);
			return;
		}
		t.location = row->location;
		t.expected_rows = row->table_rows;
		t.sha256 = row->sha256;
		t.source_database = row->database;
	}
	t.kind = 'r';
	t.source = rq->from_url ? t.location : backup;
	t.target = rq->target_db;
	t.parallel = rq->parallel;
	t.keep_owner = rq->keep_owner;
	t.keep_acl = rq->keep_acl;
	t.requested_by = role_name(rq->roleid);
	id = pgb_catalog_insert_transfer(&t);
	j = queue_job(idx, id);
	if (j == NULL)
		return;
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	j->roleid = rq->roleid;
	if (rq->from_url)
		strlcpy(j->source, rq->source, sizeof(j->source));
	LWLockRelease(PgbShared->lock);
	reply(idx, 0, NULL, id);
}

/* a connection string without its password, for the catalog */
static char *
redact_source(const char *source)
{
	PQconninfoOption *opts;
	PQconninfoOption *o;
	StringInfoData buf;

	if (pgb_url_scheme(source) != PGB_URL_POSTGRES)
		return pstrdup(source);
	opts = PQconninfoParse(source, NULL);
	if (opts == NULL)
		return pstrdup("(invalid connection URL)");
	initStringInfo(&buf);
	appendStringInfoString(&buf, "postgres://");
	for (o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "user") == 0 && o->val)
			appendStringInfo(&buf, "%s@", o->val);
	for (o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "host") == 0 && o->val && o->val[0] != '/')
			appendStringInfoString(&buf, o->val);
	for (o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "port") == 0 && o->val)
			appendStringInfo(&buf, ":%s", o->val);
	for (o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "dbname") == 0 && o->val)
			appendStringInfo(&buf, "/%s", o->val);
	PQconninfoFree(opts);
	return buf.data;
}

static void
do_copy(PgbRequest *rq, int idx)
{
	PgbTransferRecord t;
	bool		is_url = strstr(rq->source, "://") != NULL;
	char	   *id;
	PgbJobSlot *j;

	if (!have_job_slot(idx))
		return;
	memset(&t, 0, sizeof(t));
	t.kind = 'c';
	t.source = redact_source(rq->source);
	t.target = rq->target_db;
	t.parallel = rq->parallel;
	t.source_database = is_url ? NULL : rq->source;
	t.requested_by = role_name(rq->roleid);
	id = pgb_catalog_insert_transfer(&t);
	j = queue_job(idx, id);
	if (j == NULL)
		return;
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	j->roleid = rq->roleid;
	strlcpy(j->source, rq->source, sizeof(j->source));
	LWLockRelease(PgbShared->lock);
	reply(idx, 0, NULL, id);
}

static void
process_requests(void)
{
	volatile int i;

	for (i = 0; i < PGB_MAX_REQUESTS; i++)
	{
		PgbRequest	rq;
		bool		mine;
		MemoryContext oldctx = CurrentMemoryContext;

		LWLockAcquire(PgbShared->lock, LW_SHARED);
		mine = PgbShared->requests[i].state == PGB_RQ_SUBMITTED &&
			PgbShared->requests[i].dboid == MyDatabaseId;
		if (mine)
			memcpy(&rq, &PgbShared->requests[i], sizeof(rq));
		LWLockRelease(PgbShared->lock);
		if (!mine)
			continue;
		if (outdated[0])
		{
			/* the catalog is older than this library: nothing runs */
			reply(i, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				  psprintf("the pgbackups extension in database \"%s\" is version %s, older than the loaded library (%s); run ALTER EXTENSION pgbackups UPDATE",
						   my_dbname, outdated, PGB_CATALOG_VERSION), NULL);
			continue;
		}

		PG_TRY();
		{
			switch (rq.kind)
			{
				case PGB_REQ_CAPTURE:
					do_capture(&rq, i);
					break;
				case PGB_REQ_CANCEL:
					do_cancel(&rq, i);
					break;
				case PGB_REQ_DELETE:
					do_delete(&rq, i);
					break;
				case PGB_REQ_RESTORE:
					do_restore(&rq, i);
					break;
				case PGB_REQ_COPY:
					do_copy(&rq, i);
					break;
			}
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldctx);
			edata = CopyErrorData();
			FlushErrorState();
			if (IsTransactionState())
				AbortCurrentTransaction();
			reply(i, edata->sqlerrcode, edata->message, NULL);
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
}

static void
launch_job(PgbJobSlot *j)
{
	BackgroundWorker bgw;
	PgbJobArgs	args;
	int			idx = j - PgbShared->jobs;

	memset(&bgw, 0, sizeof(bgw));
	memset(&args, 0, sizeof(args));
	args.dboid = MyDatabaseId;
	args.slot = idx;
	args.generation = j->generation;
	strlcpy(args.id, j->id, sizeof(args.id));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pgbackups");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN,
			 pgb_job_kind(j->id)->transfer ? "pgb_transfer_job_main" : "pgb_job_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pgbackups job %s", j->id);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "pgbackups job");
	StaticAssertStmt(sizeof(PgbJobArgs) <= BGW_EXTRALEN, "job arguments do not fit in bgw_extra");
	memcpy(bgw.bgw_extra, &args, sizeof(args));
	bgw.bgw_notify_pid = MyProcPid;

	{
		/* the handle must outlive the per-loop memory context */
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		bool		ok;

		if (job_handles[idx])
			pfree(job_handles[idx]);
		job_handles[idx] = NULL;
		ok = RegisterDynamicBackgroundWorker(&bgw, &job_handles[idx]);
		MemoryContextSwitchTo(old);
		if (ok)
			return;
	}
	/* no slot: undo the reservation, retry on the next round */
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	j->launched = false;
	j->nprocs = 0;
	LWLockRelease(PgbShared->lock);
	if (!warned_no_slot[idx])
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("pgbackups: out of background worker slots; backup %s stays pending", j->id),
				 errhint("Raise max_worker_processes.")));
	warned_no_slot[idx] = true;
}

/*
 * manage_jobs
 *		Notice workers that died without recording an outcome, start
 *		pending jobs within pgbackups.max_workers, and forget slots that
 *		finished long ago.
 */
static void
manage_jobs(void)
{
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	for (i = 0; i < PGB_MAX_JOBS; i++)
	{
		PgbJobSlot *j = &PgbShared->jobs[i];
		bool		dead = false;
		bool		start = false;
		char		id[PGB_ID_LEN];

		LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
		if (!j->in_use || j->dboid != MyDatabaseId)
		{
			LWLockRelease(PgbShared->lock);
			continue;
		}
		strlcpy(id, j->id, sizeof(id));
		if (j->launched && !j->finished)
		{
			pid_t		pid;

			if (j->exited)
				dead = true;
			else if (job_handles[i] != NULL &&
					 GetBackgroundWorkerPid(job_handles[i], &pid) == BGWH_STOPPED)
				dead = true;
			else if (job_handles[i] == NULL && j->pid != 0 && kill(j->pid, 0) != 0 && errno == ESRCH)
				dead = true;
		}
		else if (!j->launched && !j->finished)
		{
			if (pgb_procs_in_use() < pgb_max_workers)
			{
				j->launched = true;
				j->nprocs = 1;
				start = true;
			}
		}
		else if (j->finished && (j->exited || !j->launched) &&
				 TimestampDifferenceExceeds(j->finished_at, now, FINISHED_SLOT_TTL_MS))
			j->in_use = false;
		LWLockRelease(PgbShared->lock);

		if (dead)
		{
			PgbBackupRow *row = pgb_catalog_get_backup(id);

			if (row && (strcmp(row->status, "running") == 0 || strcmp(row->status, "pending") == 0))
			{
				bool		canceled = j->cancel_requested;

				remove_job_leftovers(id, row);
				pgb_catalog_mark_ended(id, canceled ? "canceled" : "failed",
									   canceled ? "canceled by user request" : "job worker exited unexpectedly",
									   canceled ? "57014" : "XX000");
				pgb_catalog_log(id, canceled ? "canceled" : "failed: job worker exited unexpectedly");
				end_slot(j, canceled ? PGB_JOB_CANCELED : PGB_JOB_FAILED,
						 canceled ? ERRCODE_QUERY_CANCELED : ERRCODE_INTERNAL_ERROR,
						 canceled ? psprintf("backup %s was canceled", id) : "job worker exited unexpectedly");
			}
			else
				end_slot(j, j->status, j->sqlerrcode, j->errmsg);
			LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
			j->exited = true;
			LWLockRelease(PgbShared->lock);
		}
		if (start)
			launch_job(j);
	}
}

/*
 * extension_present
 *		Whether the database has the extension.  A probe someone asked for
 *		(CREATE EXTENSION wakes the launcher from inside its own, still
 *		uncommitted, transaction) looks again for up to three seconds.
 */
static bool
extension_present(PgbDbSlot *slot)
{
	bool		wanted;
	int			i;

	LWLockAcquire(PgbShared->lock, LW_SHARED);
	wanted = slot->wanted;
	LWLockRelease(PgbShared->lock);
	for (i = 0;; i++)
	{
		if (pgb_catalog_extension_version() != NULL)
			return true;
		if (!wanted || i >= 15)
			return false;
		pgb_pq_sleep(200);
	}
}

/*
 * check_version
 *		Stop if the extension was dropped.  A catalog older than this
 *		library (ALTER EXTENSION ... UPDATE not run yet) is left alone: the
 *		scheduler then only answers requests with an error, until updated.
 */
static void
check_version(void)
{
	char	   *version = pgb_catalog_extension_version();

	if (version == NULL)
	{
		ereport(LOG,
				(errmsg("pgbackups scheduler for database \"%s\" stopping: the extension was dropped",
						my_dbname)));
		proc_exit(0);
	}
	if (strcmp(version, PGB_CATALOG_VERSION) == 0)
	{
		if (outdated[0])
			ereport(LOG,
					(errmsg("pgbackups scheduler for database \"%s\": the extension is now version %s",
							my_dbname, version)));
		outdated[0] = '\0';
		return;
	}
	if (strcmp(outdated, version) != 0)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbackups: the extension in database \"%s\" is version %s, but the loaded library needs %s",
						my_dbname, version, PGB_CATALOG_VERSION),
				 errhint("Run ALTER EXTENSION pgbackups UPDATE in that database; until then its jobs and schedules wait.")));
	strlcpy(outdated, version, sizeof(outdated));
}

void
pgb_scheduler_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	MemoryContext loopctx;
	TimestampTz last_ext_check;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgb_pin_search_path();
	pgstat_report_appname("pgbackups scheduler");

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	my_db = pgb_db_slot(dboid, true);
	LWLockRelease(PgbShared->lock);
	if (my_db == NULL)
		proc_exit(0);

	if (!extension_present(my_db))
	{
		LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
		my_db->state = PGB_DB_ABSENT;
		my_db->pid = 0;
		my_db->latch = NULL;
		my_db->probed_at = GetCurrentTimestamp();
		my_db->wanted = false;
		LWLockRelease(PgbShared->lock);
		my_db = NULL;
		proc_exit(0);
	}

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	my_db->state = PGB_DB_RUNNING;
	my_db->pid = MyProcPid;
	my_db->latch = MyLatch;
	my_db->wanted = false;
	LWLockRelease(PgbShared->lock);
	before_shmem_exit(scheduler_exit, (Datum) 0);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	my_dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	CommitTransactionCommand();
	ereport(LOG,
			(errmsg("pgbackups scheduler started for database \"%s\"", my_dbname)));

	loopctx = AllocSetContextCreate(TopMemoryContext, "pgbackups scheduler loop",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loopctx);
	check_version();
	last_ext_check = GetCurrentTimestamp();

	for (;;)
	{
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (stop_requested())
		{
			ereport(LOG,
					(errmsg("pgbackups scheduler for database \"%s\" stepping aside for a database command",
							my_dbname)));
			proc_exit(0);
		}
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loopctx);
		if (!outdated[0] && !reconciled)
		{
			reconcile();
			reconciled = true;
		}
		process_requests();
		if (!outdated[0])
		{
			guarded(run_schedules);
			manage_jobs();
			guarded(pgb_alerts_deliver);
		}

		if (TimestampDifferenceExceeds(last_ext_check, GetCurrentTimestamp(),
									   outdated[0] ? 1000 : 10000))
		{
			last_ext_check = GetCurrentTimestamp();
			check_version();
		}

		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   1000, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
	}
}
