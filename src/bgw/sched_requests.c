/*-------------------------------------------------------------------------
 *
 * sched_requests.c
 *	  The scheduler's side of the request queue: capture, cancel, delete,
 *	  restore and copy requests of SQL callers, each carried out in the
 *	  scheduler's own transactions (so that a record survives a rollback
 *	  of the caller's transaction, an ORM migration) and answered through
 *	  the request slot and the caller's latch.  Nothing here does slow
 *	  I/O: a delete's files are removed by the caller (api.c), jobs run in
 *	  workers the launcher starts.
 *
 * src/bgw/sched_requests.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "access.h"
#include "catalog.h"
#include "catalog_schedule.h"
#include "error_info.h"
#include "compress.h"
#include "http.h"
#include "job_kind.h"
#include "job_queue.h"
#include "pq_util.h"
#include "sched_requests.h"
#include "scheduler.h"
#include "shmem.h"
#include "url_scheme.h"

/* answer request idx with an error (whole: detail, hint, context) or an id */
static void
reply_whole(int idx, const PgbErrorInfo *err, const char *id)
{
	PgbRequest *rq = &PgbShared->requests[idx];
	Latch	   *requester = NULL;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	if (rq->state == PGB_RQ_SUBMITTED)
	{
		rq->sqlerrcode = err ? err->sqlerrcode : 0;
		strlcpy(rq->errmsg, err ? err->message : "", sizeof(rq->errmsg));
		if (err)
			memcpy(&rq->err_extra, &err->extra, sizeof(rq->err_extra));
		else
			memset(&rq->err_extra, 0, sizeof(rq->err_extra));
		strlcpy(rq->result_id, id ? id : "", sizeof(rq->result_id));
		rq->state = PGB_RQ_DONE;
		requester = rq->requester;
	}
	LWLockRelease(PgbShared->lock);
	if (requester)
		SetLatch(requester);
}

static void
reply(int idx, int sqlerrcode, const char *msg, const char *id)
{
	PgbErrorInfo err;

	if (sqlerrcode == 0)
	{
		reply_whole(idx, NULL, id);
		return;
	}
	pgb_error_info_set(&err, sqlerrcode, msg);
	reply_whole(idx, &err, id);
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
	if (pgb_jobq_available())
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
queue_job(int idx, const char *id, Oid roleid, const char *source)
{
	PgbJobSlot *j = pgb_jobq_add(id, roleid, source);

	if (j == NULL)
	{
		pgb_catalog_mark_ended(id, "failed", "no job slot available",
						   unpack_sql_state(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED));
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
	char	   *busy;

	if (!pgb_compression_parse(rq->compression, &spec, &err))
	{
		reply(idx, ERRCODE_INVALID_PARAMETER_VALUE, err, NULL);
		return;
	}
	if (!have_job_slot(idx))
		return;
	busy = pgb_catalog_busy_capture(rq->target_db);
	id = pgb_catalog_insert_backup("manual", rq->target_db,
								   pgb_compression_name(spec.alg), spec.level,
								   rq->parallel, rq->label[0] ? rq->label : NULL,
								   role_name(rq->roleid));
	/* one capture of a database at a time (launcher.c): say why it waits */
	if (busy)
		pgb_catalog_log(id, psprintf("backup %s of database \"%s\" is still pending or running: this backup stays pending until it ends",
									 busy, rq->target_db));
	if (queue_job(idx, id, InvalidOid, NULL) != NULL)
		reply(idx, 0, NULL, id);
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
	{
		pending = true;
		if (j && !j->finished)
		{
			/* finished under the lock: the launcher will not start it now */
			j->status = PGB_JOB_CANCELED;
			j->finished = true;
			j->finished_at = GetCurrentTimestamp();
			j->sqlerrcode = ERRCODE_QUERY_CANCELED;
			snprintf(j->errmsg, sizeof(j->errmsg), "%s was canceled", id);
		}
	}
	LWLockRelease(PgbShared->lock);
	if (latch)
		SetLatch(latch);
	if (pending)
	{
		pgb_catalog_mark_ended(id, "canceled", "canceled by user request",
							   unpack_sql_state(ERRCODE_QUERY_CANCELED));
		pgb_catalog_log(id, "canceled before it started");
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
	/* the caller removes the files (api.c): a storage delete can be slow */
	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	strlcpy(PgbShared->requests[idx].source, location ? location : "",
			sizeof(PgbShared->requests[idx].source));
	LWLockRelease(PgbShared->lock);
	reply(idx, 0, NULL, rq->id);
}

/* whether a database of this name exists */
static bool
database_exists(const char *db)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		exists;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	exists = OidIsValid(get_database_oid(db, true));
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return exists;
}

/*
 * lookup_remote_backup
 *		A backup in another database's catalog: status, location, row
 *		counts, SHA-256, source.  False when that database does not exist
 *		or has no pgbackups catalog (then storage is asked, by the worker).
 */
static bool
lookup_remote_backup(const char *db, const char *id, PgbBackupRow *row)
{
	const char *params[1] = {id};
	PGconn	   *volatile conn;
	volatile bool has_catalog = false;

	if (!database_exists(db))
		return false;
	conn = pgb_pq_connect(pgb_pq_conninfo(db));
	PG_TRY();
	{
		PGresult   *res = pgb_pq_exec(conn,
									  "SELECT pg_catalog.to_regclass('pgbackups.backups') IS NOT NULL",
									  PGRES_TUPLES_OK);

		has_catalog = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (has_catalog)
		{
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
	}
	PG_FINALLY();
	{
		pgb_pq_disconnect(conn);
	}
	PG_END_TRY();
	return has_catalog;
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
		if (!lookup_remote_backup(db, sep + 2, row))
		{
			/*
			 * The database is gone or has no catalog: its backups are still
			 * in storage.  The restore's worker finds the manifest there
			 * (stored.c) and checks the read rule against its source
			 * database; here the rule for the catalog database's name.
			 */
			row = palloc0(sizeof(PgbBackupRow));
			row->status = "completed";
			row->database = db;
		}
		else if (row->status == NULL)
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
	if (queue_job(idx, id, rq->roleid, rq->from_url ? rq->source : NULL) != NULL)
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
	if (queue_job(idx, id, rq->roleid, rq->source) != NULL)
		reply(idx, 0, NULL, id);
}

void
pgb_sched_process_requests(const char *outdated)
{
	volatile int i;

	for (i = 0; i < PGB_MAX_REQUESTS; i++)
	{
		PgbRequest	rq;
		bool		mine;
		MemoryContext oldctx = CurrentMemoryContext;

		LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
		mine = PgbShared->requests[i].state == PGB_RQ_SUBMITTED &&
			PgbShared->requests[i].dboid == MyDatabaseId;
		if (mine)
		{
			PgbShared->requests[i].picked = true;
			memcpy(&rq, &PgbShared->requests[i], sizeof(rq));
		}
		LWLockRelease(PgbShared->lock);
		if (!mine)
			continue;
		if (outdated[0])
		{
			/* the catalog is older than this library: nothing runs */
			reply(i, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				  psprintf("the pgbackups extension in database \"%s\" is version %s, older than the loaded library (%s); run ALTER EXTENSION pgbackups UPDATE",
						   pgb_sched_dbname, outdated, PGB_CATALOG_VERSION), NULL);
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
			ErrorData  *edata = pgb_catch_error(oldctx);
			PgbErrorInfo err;

			pgb_error_info_save(&err, edata);
			reply_whole(i, &err, NULL);
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
}

/*
 * refuse_requests
 *		The extension is not (or no longer) in this database: answer the
 *		requests waiting for it.
 */
void
pgb_sched_refuse_requests(void)
{
	int			i;

	for (i = 0; i < PGB_MAX_REQUESTS; i++)
	{
		bool		mine;

		LWLockAcquire(PgbShared->lock, LW_SHARED);
		mine = PgbShared->requests[i].state == PGB_RQ_SUBMITTED &&
			PgbShared->requests[i].dboid == MyDatabaseId;
		LWLockRelease(PgbShared->lock);
		if (mine)
			reply(i, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
				  "the pgbackups scheduler cannot see the extension in this database; "
				  "if CREATE EXTENSION pgbackups ran in this transaction, commit it first", NULL);
	}
}
