/*-------------------------------------------------------------------------
 *
 * stream_local.c
 *	  A helper stream that reads its rows in its own process.
 *
 * On PostgreSQL 16 and later COPY TO can hand its rows to a callback.  A
 * helper stream of a capture of a database of this server (no connection
 * string of its own, no pgbackups.conninfo) then connects to that database
 * as a backend does, as the role the capture's libpq connections use,
 * imports the exported snapshot and runs each part's COPY in its own
 * process: no second backend formats the rows and sends them over a
 * socket, and no libpq reads them back one message at a time.  Measured
 * on a table of 1.6 million rows, the COPY alone took 2.5 s into a
 * callback against 3.7 s to a client, which also spent 1 s receiving.
 * The leader's own process is connected to the catalog's database, so with
 * two streams or more stream 0 gets a helper of this kind too and the
 * leader only assembles (stream_pool.c launch_helpers).
 *
 * The session is the one pg_dump and the libpq streams set up
 * (pq_util.c pgb_pq_begin_in_snapshot): the database's encoding, ISO
 * dates, exact floats, no synchronized or parallel scans, row security
 * off (a table it would filter is an error, not a silent subset),
 * pgbackups.lock_timeout for the COPY's lock, a read-only REPEATABLE
 * READ transaction in the capture's snapshot.  Every part is a COPY of a
 * query, so the executor checks the role's SELECT privileges as a COPY
 * of the table does.
 *
 * src/capture/stream_local.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/copy.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "guc.h"
#include "pq_util.h"
#include "stream.h"
#include "stream_local.h"

#if PG_VERSION_NUM >= 160000

/* the row callback of the COPY running now (COPY's callback has no argument) */
static PgbStreamRowFn current_fn = NULL;
static void *current_arg = NULL;

/*
 * COPY's row comes without its newline (a client or a file gets one, a
 * callback not), in a StringInfo, which always has room for the
 * terminating zero at data[len]: the newline goes there.
 */
static void
copy_dest(void *data, int len)
{
	char	   *row = data;

	row[len] = '\n';
	current_fn(current_arg, row, len + 1);
}

bool
pgb_stream_local_possible(const char *conninfo, bool data_at_source)
{
	return conninfo == NULL && !data_at_source &&
		(pgb_conninfo == NULL || pgb_conninfo[0] == '\0');
}

void
pgb_stream_local_connect(PgbCaptureShared *sh)
{
	BackgroundWorkerInitializeConnection(sh->local_db, sh->local_role, 0);
}

static void
set_session(const char *name, const char *value)
{
	SetConfigOption(name, value, PGC_USERSET, PGC_S_SESSION);
}

void
pgb_stream_local_begin(PgbCaptureShared *sh)
{
	MemoryContext ctx = CurrentMemoryContext;
	char		lock_timeout[32];

	snprintf(lock_timeout, sizeof(lock_timeout), "%d", sh->lock_timeout);
	set_session("search_path", "pg_catalog, pg_temp");
	set_session("DateStyle", "ISO");
	set_session("IntervalStyle", "postgres");
	set_session("extra_float_digits", "3");
	set_session("synchronize_seqscans", "off");
	set_session("max_parallel_workers_per_gather", "0");
	set_session("statement_timeout", "0");
	set_session("lock_timeout", lock_timeout);
	set_session("idle_in_transaction_session_timeout", "0");
	set_session("row_security", "off");

	StartTransactionCommand();
	set_session("transaction_isolation", "repeatable read");
	set_session("transaction_read_only", "on");
	ImportSnapshot(sh->snapshot);
	MemoryContextSwitchTo(ctx);
}

void
pgb_stream_local_copy(PgbCaptureShared *sh, PgbStreamTable *t, PgbStreamPart *p,
					  PgbStreamRowFn fn, void *arg)
{
	MemoryContext part_ctx = AllocSetContextCreate(CurrentMemoryContext,
												   "pgbackups stream part",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(part_ctx);
	StringInfoData sql;
	const char *what = PGB_STREAM_STR(sh, t->name_off);
	List	   *parsed;
	CopyStmt   *stmt;
	RawStmt    *query;
	ParseState *pstate;
	CopyToState cstate;
	List	   *options;

	initStringInfo(&sql);
	appendStringInfo(&sql, "COPY (SELECT %s", PGB_STREAM_STR(sh, t->select_off));
	if (t->nparts > 1)
	{
		appendStringInfo(&sql, " WHERE ctid OPERATOR(pg_catalog.>=) '(%u,0)'::pg_catalog.tid",
						 p->start_block);
		if (p->end_block != InvalidBlockNumber)
			appendStringInfo(&sql, " AND ctid OPERATOR(pg_catalog.<) '(%u,0)'::pg_catalog.tid",
							 p->end_block);
	}
	appendStringInfoString(&sql, ") TO stdout");

	pgstat_report_activity(STATE_RUNNING, sql.data);
	parsed = pg_parse_query(sql.data);
	stmt = castNode(CopyStmt, linitial_node(RawStmt, parsed)->stmt);
	query = makeNode(RawStmt);
	query->stmt = stmt->query;
	query->stmt_location = -1;
	query->stmt_len = 0;
	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = sql.data;
	options = list_make1(makeDefElem("encoding", (Node *) makeString(sh->encoding), -1));

	current_fn = fn;
	current_arg = arg;
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		cstate = BeginCopyTo(pstate, NULL, query, InvalidOid, NULL, false,
							 copy_dest, NIL, options);
		DoCopyTo(cstate);
		EndCopyTo(cstate);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(part_ctx);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			PG_RE_THROW();
		FlushErrorState();
		/* the error of the libpq streams */
		pgb_copy_lock_timeout_error(what, "capture", sh->lock_timeout);
	}
	PG_END_TRY();
	PopActiveSnapshot();
	current_fn = NULL;
	current_arg = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(part_ctx);
}

void
pgb_stream_local_end(void)
{
	MemoryContext ctx = CurrentMemoryContext;

	CommitTransactionCommand();
	MemoryContextSwitchTo(ctx);
}

#else							/* PG_VERSION_NUM < 160000 */

/* COPY TO hands its rows only to a client or a file before PostgreSQL 16 */
bool
pgb_stream_local_possible(const char *conninfo, bool data_at_source)
{
	return false;
}

void
pgb_stream_local_connect(PgbCaptureShared *sh)
{
	elog(ERROR, "in-process capture streams need PostgreSQL 16 or later");
}

void
pgb_stream_local_begin(PgbCaptureShared *sh)
{
	elog(ERROR, "in-process capture streams need PostgreSQL 16 or later");
}

void
pgb_stream_local_copy(PgbCaptureShared *sh, PgbStreamTable *t, PgbStreamPart *p,
					  PgbStreamRowFn fn, void *arg)
{
	elog(ERROR, "in-process capture streams need PostgreSQL 16 or later");
}

void
pgb_stream_local_end(void)
{
}

#endif
