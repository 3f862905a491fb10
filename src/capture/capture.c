/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The capture engine's driver, run by a job's leader worker: one
 *	  consistent pg_dump custom-format archive of a database, taken in
 *	  steps of one file each.
 *
 * 1. snapshot.c: a coordinator connection opens a REPEATABLE READ
 *	  transaction, lists and locks the tables whose data the capture copies
 *	  itself, and exports its snapshot.  It stays open until the end.
 * 2. pgdump.c: the server's pg_dump writes an uncompressed custom archive
 *	  of everything but those tables' data, with --snapshot, while
 * 3. stream_pool.c, stream.c: N COPY streams (the leader plus helper
 *	  workers, or helpers only on 16+: stream_local.c) copy the tables,
 *	  largest first, into compressed chunk
 *	  streams in spool files (spool.c), and
 * 4. assemble.c, upload.c: the leader, between its own parts and while it
 *	  waits for the helpers, writes the archive: once pg_dump is done, its
 *	  own data items re-encoded with the capture's compression and room for
 *	  header and TOC; then each table as soon as the streams are done with
 *	  it (assemble_step).  After the streams: pg_dump's last blocks, the
 *	  TOC with every data offset in its room, the SHA-256, the commit
 *	  under the archive's final name.
 *
 * A copy's capture (data_at_source) writes no rows: each table's data item
 * is a note of the statements that read it at the source, and the
 * coordinator keeps its snapshot open for the restore's workers until
 * pgb_capture_release_source().
 *
 * pgbackups' own catalog (schema pgbackups) is never captured as data.
 * pgb_capture_cleanup() undoes everything on an error path: the pg_dump
 * child, helper workers, connections, DSM and spool files.
 *
 * src/capture/capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>
#include <unistd.h>

#include "utils/json.h"
#include "utils/memutils.h"

#include "capture_int.h"
#include "guc.h"
#include "pq_util.h"

#define PGB_PGDUMP_WAIT_MS 100

/* the capture this process runs (one at a time) */
static PgbCaptureState cap;

/* a copy's source after its capture: the coordinator, still in its snapshot */
static struct
{
	PGconn	   *coord;
	char	   *conninfo;
	char	   *snapshot;
} held;

/*
 * pgb_capture_check
 *		The interrupt check of every wait of a capture: the job's cancel,
 *		pg_dump's exit, progress every 250 ms, a stream's error.
 */
void
pgb_capture_check(void)
{
	if (cap.hooks && cap.hooks->check)
		cap.hooks->check();
	if (cap.pgdump)
		(void) pgb_pgdump_poll(cap.pgdump);
	if (cap.sh && cap.hooks && cap.hooks->progress)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (TimestampDifferenceExceeds(cap.last_progress, now, 250))
		{
			int			done;
			int64		bytes;

			SpinLockAcquire(&cap.sh->mutex);
			done = cap.sh->tables_done;
			bytes = cap.sh->bytes_done;
			SpinLockRelease(&cap.sh->mutex);
			cap.hooks->progress("copying data", done, cap.sh->ntables, bytes);
			cap.last_progress = now;
		}
	}
	if (cap.sh)
		pgb_stream_raise_error(cap.sh);
}

void
pgb_capture_log(const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cap.hooks && cap.hooks->log)
		cap.hooks->log(buf);
}

/* once the data is copied: phase, all tables done */
void
pgb_capture_progress(PgbCaptureState *cs, const char *phase)
{
	if (cs->hooks->progress)
		cs->hooks->progress(phase, cs->sh->ntables, cs->sh->ntables, cs->sh->bytes_done);
}

/* "nsp"."rel" as a pg_dump pattern */
static char *
dump_pattern(const char *nsp, const char *rel)
{
	StringInfoData b;
	const char *parts[2] = {nsp, rel};
	int			i;

	initStringInfo(&b);
	for (i = 0; i < 2; i++)
	{
		const char *p;

		if (i > 0)
			appendStringInfoChar(&b, '.');
		appendStringInfoChar(&b, '"');
		for (p = parts[i]; *p; p++)
		{
			if (*p == '"')
				appendStringInfoChar(&b, '"');
			appendStringInfoChar(&b, *p);
		}
		appendStringInfoChar(&b, '"');
	}
	return b.data;
}

/* step 2: pg_dump for everything but the data we copy ourselves */
static void
start_pgdump(PgbCaptureState *cs)
{
	List	   *patterns = NIL;
	ListCell   *lc;

	foreach(lc, cs->tables)
	{
		PgbCaptureTable *t = lfirst(lc);

		patterns = lappend(patterns, dump_pattern(t->nspname, t->relname));
	}
	patterns = lappend(patterns, pstrdup("\"pgbackups\".*"));
	cs->pgdump_out = psprintf("%s.pgdump.tmp", cs->spool_prefix);
	cs->pgdump = pgb_pgdump_start(cs->conninfo, cs->snapshot, cs->encoding,
								  patterns, cs->pgdump_out);
}

/*
 * assemble_step
 *		The leader's share of the assembly, while the streams run and after:
 *		once pg_dump is done, read its archive and create the output (room
 *		for header and TOC, pg_dump's first blocks); then write each table
 *		the streams are done with.  False if there was nothing to do.
 */
static bool
assemble_step(PgbCaptureState *cs)
{
	int			k;

	if (cs->pgdump)
	{
		if (!pgb_pgdump_poll(cs->pgdump))
			return false;
		pgb_pgdump_finish(cs->pgdump);
		cs->pgdump = NULL;
		pgb_debug_fault("pgdump_done");
	}
	if (cs->assembly == NULL)
	{
		PgbAssembly *a = palloc(sizeof(PgbAssembly));

		pgb_capture_assemble_begin(cs, a);
		cs->assembly = a;
		pgb_debug_fault("assembly");
		pgb_capture_upload_begin(cs, a);
		pgb_debug_fault("uploading");
		return true;
	}
	k = pgb_capture_next_done(cs, cs->assembly);
	if (k < 0)
		return false;
	pgb_capture_upload_table(cs, cs->assembly, k);
	return true;
}

/* rows, raw size and the per-table row counts (JSON) of the result */
static void
count_rows(PgbCaptureState *cs, const PgbAssembly *a)
{
	PgbCaptureResult *result = cs->result;
	StringInfoData json;
	int			i;

	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	result->rows = 0;
	result->raw_size = a->raw_extra;
	for (i = 0; i < a->ncopied; i++)
	{
		PgbStreamTable *st = &cs->sh->tables[a->copied[i]];

		if (i > 0)
			appendStringInfoString(&json, ", ");
		escape_json(&json, PGB_STREAM_STR(cs->sh, st->name_off));
		appendStringInfo(&json, ": " INT64_FORMAT, st->rows);
		result->rows += st->rows;
		result->raw_size += st->raw_bytes;
	}
	appendStringInfoChar(&json, '}');
	result->tables = a->ncopied;
	result->table_rows_json = json.data;
}

/*
 * log_peak_memory
 *		One line of the job's log: the peak resident set (getrusage
 *		ru_maxrss, shared memory the process touched included) of this
 *		worker so far, of its pg_dump child (waited for), and of each helper
 *		stream when it was done.
 */
static void
log_peak_memory(PgbCaptureState *cs)
{
	struct rusage self;
	struct rusage children;
	StringInfoData helpers;
	int			s;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	initStringInfo(&helpers);
	/* the helpers' streams: 1 .. nhelpers, or 0 .. nhelpers - 1 without the leader's */
	for (s = cs->leader_streams ? 1 : 0; cs->sh && s < cs->result->streams_used; s++)
	{
		long		kb;

		SpinLockAcquire(&cs->sh->mutex);
		kb = cs->sh->stream_maxrss_kb[s];
		SpinLockRelease(&cs->sh->mutex);
		appendStringInfo(&helpers, ", stream %d %ld kB", s, kb);
	}
	pgb_capture_log("peak memory (ru_maxrss): worker %ld kB, pg_dump %ld kB%s",
					self.ru_maxrss, children.ru_maxrss, helpers.data);
	pfree(helpers.data);
}

void
pgb_capture_run(const PgbCaptureParams *params, const PgbJobHooks *hooks,
				PgbCaptureResult *result)
{
	memset(&cap, 0, sizeof(cap));
	cap.mcxt = CurrentMemoryContext;
	cap.copy_fd = -1;
	cap.active = true;
	cap.params = params;
	cap.hooks = hooks;
	cap.result = result;
	cap.started = time(NULL);
	pgb_pq_set_interrupt_check(pgb_capture_check);
	cap.spool_prefix = pgb_storage_spool_prefix(params->location);

	pgb_capture_open_snapshot(&cap);
	pgb_debug_fault("after_snapshot");	/* tests: crash windows */
	start_pgdump(&cap);
	pgb_debug_fault("pgdump_running");
	pgb_capture_run_streams(&cap, assemble_step);
	/* pg_dump may still run; then the tables not yet written */
	while (cap.assembly == NULL)
	{
		if (!assemble_step(&cap))
		{
			pgb_capture_progress(&cap, "waiting for pg_dump");
			pgb_pq_sleep(PGB_PGDUMP_WAIT_MS);
		}
	}
	pgb_capture_progress(&cap, "writing archive");
	while (assemble_step(&cap))
		pgb_capture_check();
	pgb_capture_upload_rest(&cap, cap.assembly);
	pgb_capture_assemble_finish(&cap, cap.assembly);
	pgb_capture_upload_finish(&cap, cap.assembly);
	pgb_debug_fault("after_commit");
	count_rows(&cap, cap.assembly);
	pgb_capture_log("archive written: %d tables, " INT64_FORMAT " rows, " INT64_FORMAT " bytes, sha256 %s",
					result->tables, result->rows, result->archive_size, result->sha256);
	log_peak_memory(&cap);

	/* done: close everything, but the snapshot a copy reads its data in */
	cap.succeeded = true;
	if (params->data_at_source)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		held.coord = cap.coord;
		held.conninfo = pstrdup(cap.conninfo);
		held.snapshot = pstrdup(cap.snapshot);
		MemoryContextSwitchTo(old);
		cap.coord = NULL;
	}
	else
		pgb_pq_command(cap.coord, "COMMIT");
	pgb_capture_cleanup();
}

const char *
pgb_capture_source_conninfo(void)
{
	return held.conninfo;
}

const char *
pgb_capture_source_snapshot(void)
{
	return held.snapshot;
}

/*
 * pgb_capture_release_source
 *		End the transaction a copy's data was read in (its snapshot and its
 *		locks).  Safe on an error path and more than once.
 */
void
pgb_capture_release_source(void)
{
	if (held.coord)
		pgb_pq_disconnect(held.coord);
	held.coord = NULL;
	if (held.conninfo)
		pfree(held.conninfo);
	if (held.snapshot)
		pfree(held.snapshot);
	held.conninfo = NULL;
	held.snapshot = NULL;
}

/* the pg_dump child and the stream helpers */
static void
stop_children(bool wait)
{
	if (cap.pgdump)
		pgb_pgdump_kill(cap.pgdump);
	cap.pgdump = NULL;
	pgb_capture_stop_streams(&cap, wait);
}

/*
 * end_orphan_sessions
 *		After a failure, end the server sessions that share our snapshot
 *		(pg_dump's, which may sit in a lock wait after pg_dump itself died).
 */
static void
end_orphan_sessions(void)
{
	MemoryContext mcxt = CurrentMemoryContext;

	if (cap.coord == NULL || PQstatus(cap.coord) != CONNECTION_OK ||
		PQtransactionStatus(cap.coord) != PQTRANS_INTRANS)
		return;
	PG_TRY();
	{
		PQclear(pgb_pq_exec(cap.coord,
							"SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a "
							"WHERE a.application_name = 'pgbackups' "
							"AND a.datname = current_database() "
							"AND a.pid <> pg_backend_pid() "
							"AND a.backend_xmin = (SELECT backend_xmin FROM pg_stat_activity "
							"                      WHERE pid = pg_backend_pid())",
							PGRES_TUPLES_OK));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(mcxt);
		FlushErrorState();
	}
	PG_END_TRY();
}

/* the spool files and pg_dump's output and error files */
static void
remove_spools(void)
{
	const char *suffixes[] = {"pgdump.tmp", "pgdump.tmp.err.tmp"};
	char	   *p;
	int			i;

	for (i = PGB_EXTRA_SPOOL; i < Max(cap.nstreams, 1); i++)
	{
		p = pgb_stream_spool_path(cap.spool_prefix, i);
		unlink(p);
		pfree(p);
	}
	for (i = 0; i < lengthof(suffixes); i++)
	{
		p = psprintf("%s.%s", cap.spool_prefix, suffixes[i]);
		unlink(p);
		pfree(p);
	}
}

/*
 * pgb_capture_cleanup
 *		Release whatever a capture holds: the pg_dump child, helper
 *		workers, libpq connections, the DSM segment and spool files.
 *		Safe to call on an error path and more than once.
 */
void
pgb_capture_cleanup(void)
{
	if (!cap.active)
	{
		pgb_capture_release_source();
		return;
	}
	pgb_pq_set_interrupt_check(NULL);
	stop_children(true);
	if (!cap.succeeded)
		end_orphan_sessions();
	pgb_storage_abort(cap.writer);
	cap.writer = NULL;
	pgb_pq_set_interrupt_check(cap.hooks ? cap.hooks->check : NULL);
	if (cap.copy_fd >= 0)
		close(cap.copy_fd);
	cap.copy_fd = -1;
	if (held.coord == NULL)
		pgb_pq_disconnect_all();
	else if (cap.coord)
		pgb_pq_disconnect(cap.coord);
	if (cap.spool_prefix)
		remove_spools();
	if (cap.seg)
		dsm_detach(cap.seg);
	cap.seg = NULL;
	cap.sh = NULL;
	cap.coord = NULL;
	cap.active = false;
}

/*
 * pgb_capture_cleanup_on_exit
 *		From a before_shmem_exit callback (FATAL, SIGTERM): stop the pg_dump
 *		child and the helpers without waiting; the scheduler removes the
 *		job's files when it records the failure.
 */
void
pgb_capture_cleanup_on_exit(void)
{
	if (cap.active)
	{
		stop_children(false);
		pgb_pq_set_interrupt_check(NULL);
		pgb_storage_abort(cap.writer);
		cap.writer = NULL;
	}
}
