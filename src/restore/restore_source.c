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
#include "utils/memutils.h"

#include "guc.h"
#include "pq_util.h"
#include "restore_source.h"

static PGconn *source = NULL;
static bool in_copy = false;
static char *copy_what = NULL;	/* the table of the COPY, for messages */

#define SOURCE_BATCH (64 * 1024)

static void
source_open(const char *conninfo, const char *snapshot, int encoding)
{
	if (source != NULL && pgb_pq_is_open(source))
		return;
	source = pgb_pq_connect(conninfo);
	pgb_pq_begin_in_snapshot(source, pg_encoding_to_char(encoding), pgb_lock_timeout, snapshot);
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
	/* an earlier item failed in the middle of its COPY: start afresh */
	if (in_copy)
		pgb_source_close();
	source_open(conninfo, snapshot, encoding);
	pgb_pq_copy_out_begin(source, sql, what, "copy", pgb_lock_timeout);
	copy_what = MemoryContextStrdup(TopMemoryContext, what);
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
	if (!in_copy)
		return false;
	for (;;)
	{
		char	   *buf = NULL;
		int			n = pgb_pq_copy_out_row(source, &buf, out->len == 0, NULL, copy_what);

		if (n == 0)
			return true;		/* no whole row buffered: take what we have */
		if (n < 0)
			break;
		appendBinaryStringInfo(out, buf, n);
		PQfreemem(buf);
		if (out->len >= SOURCE_BATCH)
			return true;
	}
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
