/*-------------------------------------------------------------------------
 *
 * restore_source.c
 *	  A copy's data read at its source by a restore worker: no archive in
 *	  between.  The worker's first such item opens one libpq connection to
 *	  the source and imports the copy's exported snapshot (the capture's
 *	  coordinator holds it, with its locks, until every item is loaded);
 *	  each item runs its COPY ... TO stdout there (a table, or one ctid
 *	  range of it: archive/data_source.c), and restore_exec.c feeds the
 *	  rows to its in-process COPY FROM as they arrive.  The connection
 *	  stays open for the worker's next items and closes when it exits.
 *
 * src/restore/restore_source.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq-fe.h"
#include "mb/pg_wchar.h"

#include "guc.h"
#include "pq_util.h"
#include "restore_source.h"

static PGconn *source = NULL;
static bool in_copy = false;

#define SOURCE_BATCH (64 * 1024)

static void
source_open(const char *conninfo, const char *snapshot, int encoding)
{
	if (source != NULL && pgb_pq_is_open(source))
		return;
	source = pgb_pq_connect(conninfo);
	pgb_pq_command(source,
				   psprintf("SET client_encoding = '%s'; "
							"SET DateStyle = ISO; SET IntervalStyle = postgres; "
							"SET extra_float_digits = 3; SET synchronize_seqscans = off; "
							"SET max_parallel_workers_per_gather = 0; "
							"SET statement_timeout = 0; SET lock_timeout = %d; "
							"SET idle_in_transaction_session_timeout = 0; "
							"SET row_security = off; "
							"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
							"SET TRANSACTION SNAPSHOT '%s'",
							pg_encoding_to_char(encoding), pgb_lock_timeout, snapshot));
}

/* the source's server version (PQserverVersion), connecting if need be */
int
pgb_source_server_version(const char *conninfo, const char *snapshot, int encoding)
{
	if (in_copy)
		pgb_source_close();
	source_open(conninfo, snapshot, encoding);
	return PQserverVersion(source);
}

/*
 * pgb_source_begin
 *		Start sql (a COPY ... TO stdout) at the source; what is the table's
 *		name for messages.
 */
void
pgb_source_begin(const char *conninfo, const char *snapshot, int encoding,
				 const char *sql, const char *what)
{
	PGresult   *res;

	/* an earlier item failed in the middle of its COPY: start afresh */
	if (in_copy)
		pgb_source_close();
	source_open(conninfo, snapshot, encoding);
	res = pgb_pq_query(source, sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		if (pgb_pq_result_sqlstate(res) == ERRCODE_LOCK_NOT_AVAILABLE)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not lock table %s at the source of the copy within pgbackups.lock_timeout (%d ms)",
							what, pgb_lock_timeout),
					 errdetail("Another session waits for a conflicting lock on it (for example an ALTER TABLE queued behind this copy); waiting would hold that session and every session queued behind it."),
					 errhint("Retry the copy when that change is done, or raise pgbackups.lock_timeout.")));
		pgb_pq_error(source, res, psprintf("COPY of table %s at the source of the copy", what));
	}
	PQclear(res);
	in_copy = true;
}

/*
 * pgb_source_read
 *		Append the next rows (at least one, about SOURCE_BATCH bytes when
 *		they are there) to out; false at the end of the COPY, whose outcome
 *		is then checked.
 */
bool
pgb_source_read(StringInfo out)
{
	PGresult   *res;

	if (!in_copy)
		return false;
	for (;;)
	{
		char	   *buf = NULL;
		int			n = PQgetCopyData(source, &buf, 1);

		if (n > 0)
		{
			appendBinaryStringInfo(out, buf, n);
			PQfreemem(buf);
			if (out->len >= SOURCE_BATCH)
				return true;
		}
		else if (n == 0)
		{
			if (out->len > 0)
				return true;
			pgb_pq_wait_socket(source, false);
			if (PQconsumeInput(source) == 0)
				pgb_pq_error(source, NULL, NULL);
		}
		else if (n == -1)
			break;
		else
			pgb_pq_error(source, NULL, NULL);
	}
	/* the COPY's outcome */
	res = pgb_pq_finish_command(source, PGRES_COMMAND_OK);
	PQclear(res);
	in_copy = false;
	return out->len > 0;
}

/*
 * pgb_source_close
 *		A worker's next task reads nothing at the source: close the
 *		connection, so that its snapshot does not outlive the data phase
 *		(a later item at the source opens it again, while the copy's
 *		coordinator still holds the snapshot).
 */
void
pgb_source_close(void)
{
	if (source != NULL)
		pgb_pq_disconnect(source);
	source = NULL;
	in_copy = false;
}
