/*-------------------------------------------------------------------------
 *
 * stream.c
 *	  One COPY stream of a capture.
 *
 * A stream opens a libpq connection to the database being captured,
 * imports the capture's exported snapshot, and takes parts from the shared
 * work list (largest tables first) until it is empty: a whole table, or
 * the rows of a ctid range of a large one.  A part's COPY text is
 * compressed as a part of its table's data item (compress.h) and appended
 * to the stream's spool file as custom-format chunks (Int length, bytes),
 * flushed when the part is done.  When a table's last part is done, the
 * table goes into the shared done order and the leader's latch is set: the
 * leader copies the table's parts, in order, into the archive behind a
 * block header while the streams go on.  Streams run in the job leader
 * (stream 0, over libpq) and in helper background workers ("pgbackups
 * stream"; stream_local.c when they read rows in their own process, then
 * possibly stream 0 too), which attach the DSM segment given in
 * bgw_main_arg and exit on the shared abort flag.
 *
 * src/capture/stream.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"

#include "archive.h"
#include "counters.h"
#include "guc.h"
#include "pq_util.h"
#include "spool.h"
#include "stream.h"
#include "stream_local.h"

static PgbCaptureShared *helper_shared = NULL;
static emit_log_hook_type prev_log_hook = NULL;

char *
pgb_stream_spool_path(const char *prefix, int stream)
{
	if (stream == PGB_EXTRA_SPOOL)
		return psprintf("%s.extra.tmp", prefix);
	return psprintf("%s.s%d.tmp", prefix, stream);
}

void
pgb_stream_check_abort(PgbCaptureShared *sh)
{
	if (pg_atomic_read_u32(&sh->abort) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("capture stream stopped because the capture was aborted")));
}

/*
 * pgb_stream_record_error
 *		Keep a helper's error whole (SQLSTATE, message, detail, hint,
 *		context) for the leader, the first one only, and stop every stream.
 */
void
pgb_stream_record_error(PgbCaptureShared *sh, ErrorData *edata)
{
	uint32		unclaimed = 0;

	if (pg_atomic_compare_exchange_u32(&sh->error_claimed, &unclaimed, 1))
	{
		pgb_error_info_save(&sh->error, edata);
		pg_write_barrier();
		pg_atomic_write_u32(&sh->error_ready, 1);
	}
	pg_atomic_write_u32(&sh->abort, 1);
}

/* pgb_stream_raise_error: in the leader, raise a helper's error if there is one */
void
pgb_stream_raise_error(PgbCaptureShared *sh)
{
	if (pg_atomic_read_u32(&sh->error_ready) == 0)
		return;
	pg_read_barrier();
	pgb_error_info_raise(&sh->error, ERROR);
}

char *
pgb_stream_part_sql(PgbCaptureShared *sh, PgbStreamTable *t, PgbStreamPart *p)
{
	StringInfoData sql;

	if (t->nparts == 1)
		return pstrdup(PGB_STREAM_STR(sh, t->sql_off));
	initStringInfo(&sql);
	appendStringInfo(&sql, "COPY (SELECT %s WHERE ctid OPERATOR(pg_catalog.>=) '(%u,0)'::pg_catalog.tid",
					 PGB_STREAM_STR(sh, t->select_off), p->start_block);
	if (p->end_block != InvalidBlockNumber)
		appendStringInfo(&sql, " AND ctid OPERATOR(pg_catalog.<) '(%u,0)'::pg_catalog.tid",
						 p->end_block);
	appendStringInfoString(&sql, ") TO stdout;");
	return sql.data;
}

/* a part's rows on their way to its compressor, counted */
typedef struct PartRows
{
	PgbCaptureShared *sh;
	PgbCompressor *comp;
	int64		rows;
	int64		raw;			/* COPY bytes, newlines included */
	int64		reported;		/* of raw, added to sh->bytes_done */
} PartRows;

/*
 * One row of COPY text, from libpq or from an in-process COPY
 * (stream_local.c): compressed and counted; each 1024 rows the progress
 * the leader reports and a check for interrupts (in a helper, also for the
 * capture's abort).
 */
static void
part_row(void *arg, const char *row, int len)
{
	PartRows   *pr = arg;

	pgb_compressor_write(pr->comp, row, len);
	pr->rows++;
	pr->raw += len;
	if ((pr->rows & 0x3FF) == 0)
	{
		SpinLockAcquire(&pr->sh->mutex);
		pr->sh->bytes_done += pr->raw - pr->reported;
		SpinLockRelease(&pr->sh->mutex);
		pr->reported = pr->raw;
		pgb_pq_check_interrupts();
	}
}

static void
copy_part(PGconn *conn, PgbCaptureShared *sh, int stream, PgbStreamPart *p,
		  PgbCompressor *comp, PgbSpool *spool, double *wait_s)
{
	PgbStreamTable *t = &sh->tables[p->table];
	bool		table_done;
	int64		rows = 0;
	int64		raw = 0;
	int64		reported = 0;
	uint64		start = pgb_spool_pos(spool);
	bool		last = p->part == t->nparts - 1;
	char	   *sql;
	PartRows	pr = {.sh = sh,.comp = comp};

	pgb_compressor_begin_part(comp, pgb_spool_chunk, spool, p->part == 0, last);
	if (sh->data_at_source)
	{
		/* a copy's restore workers read the rows at the source themselves */
		pgb_compressor_end(comp);
		goto done;
	}
	if (conn == NULL)
	{
		/* a helper reading the rows in its own process */
		pgb_stream_local_copy(sh, t, p, part_row, &pr);
	}
	else
	{
		sql = pgb_stream_part_sql(sh, t, p);
		pgb_pq_copy_out_begin(conn, sql, PGB_STREAM_STR(sh, t->name_off), "capture",
							  sh->lock_timeout);
		pfree(sql);
		for (;;)
		{
			char	   *buf = NULL;
			int			n = pgb_pq_copy_out_row(conn, &buf, true, wait_s,
												PGB_STREAM_STR(sh, t->name_off));

			if (n < 0)
				break;
			part_row(&pr, buf, n);
			PQfreemem(buf);
		}
	}
	rows = pr.rows;
	raw = pr.raw;
	reported = pr.reported;
	/* pg_dump appends the end-of-data marker and two newlines */
	if (last)
		pgb_compressor_write(comp, "\\.\n\n\n", 5);
	p->in_len = raw + (last ? 5 : 0);
	pgb_compressor_end(comp);

done:
	/* the leader may read the part from the spool file as soon as it is done */
	pgb_spool_flush(spool);

	p->spool_off = start;
	p->spool_len = pgb_spool_pos(spool) - start;
	p->rows = rows;
	p->raw_bytes = raw;
	p->check = pgb_compressor_part_check(comp);
	p->stream = stream;
	pg_write_barrier();
	SpinLockAcquire(&sh->mutex);
	table_done = pg_atomic_sub_fetch_u32(&t->parts_left, 1) == 0;
	if (table_done)
		sh->tables_done++;
	sh->bytes_done += raw - reported;
	SpinLockRelease(&sh->mutex);
	if (table_done)
	{
		uint32		slot = pg_atomic_fetch_add_u32(&sh->next_done, 1);

		pg_atomic_write_u32(&PGB_STREAM_DONE_ORDER(sh)[slot], (uint32) p->table + 1);
		if (sh->leader != NULL)
			SetLatch(&sh->leader->procLatch);
	}
}

/*
 * pgb_stream_run
 *		Copy parts until the work list is empty; the leader's stream (the
 *		one given between) goes over libpq and calls between(arg) after
 *		each of its parts (the archive's assembly); a helper's stream reads
 *		in its own process when sh->local.
 */
void
pgb_stream_run(PgbCaptureShared *sh, int stream, PgbStreamBetweenParts between,
			   void *arg)
{
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext,
											  "pgbackups stream",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);
	PGconn	   *conn;
	PgbSpool   *spool;
	PgbCompressor *comp;
	bool		fault_passed = false;
	struct rusage ru;
	int			nparts = 0;
	int64		raw = 0;
	double		wait_s = 0;

	if (between == NULL && sh->local)
	{
		conn = NULL;
		pgb_stream_local_begin(sh);
	}
	else
	{
		conn = pgb_pq_connect(sh->conninfo);
		pgb_pq_begin_in_snapshot(conn, sh->encoding, sh->lock_timeout, sh->snapshot);
	}

	spool = pgb_spool_create(pgb_stream_spool_path(sh->spool_prefix, stream));

	comp = pgb_compressor_create(&sh->comp);

	for (;;)
	{
		uint32		i = pg_atomic_fetch_add_u32(&sh->next_part, 1);
		PgbStreamPart *p;

		pgb_pq_check_interrupts();
		if (i >= (uint32) sh->nparts)
			break;
		p = &PGB_STREAM_PARTS(sh)[i];
		copy_part(conn, sh, stream, p, comp, spool, &wait_s);
		nparts++;
		raw += p->raw_bytes;
		pg_write_barrier();
		p->done = true;
		if (between && !fault_passed)
		{
			pgb_debug_fault("streams"); /* tests: the leader's first part */
			fault_passed = true;
		}
		if (between)
			between(arg);
	}
	/* the helpers may have taken every part before the leader got one */
	if (between && !fault_passed)
		pgb_debug_fault("streams");
	pgb_spool_close(spool);
	if (conn == NULL)
		pgb_stream_local_end();
	else
	{
		pgb_pq_command(conn, "COMMIT");
		pgb_pq_disconnect(conn);
	}

	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);	/* closes the spool file */
	getrusage(RUSAGE_SELF, &ru);
	SpinLockAcquire(&sh->mutex);
	sh->stream_done[stream] = true;
	sh->stream_maxrss_kb[stream] = ru.ru_maxrss;
	sh->stream_parts[stream] = nparts;
	sh->stream_raw[stream] = raw;
	sh->stream_wait_s[stream] = wait_s;
	sh->stream_cpu_s[stream] = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	SpinLockRelease(&sh->mutex);
}

/*
 * helper_log_hook
 *		A helper's FATAL (pg_terminate_backend of its process, a failed
 *		connection at its start) ends the process without passing its
 *		PG_CATCH: keep that error for the leader too, so that the capture
 *		fails with it and not with "a capture stream exited".  It only copies
 *		into the DSM segment (no allocation); the first error kept wins.
 */
static void
helper_log_hook(ErrorData *edata)
{
	if (edata->elevel >= FATAL && helper_shared != NULL)
		pgb_stream_record_error(helper_shared, edata);
	if (prev_log_hook)
		prev_log_hook(edata);
}

static void
helper_check(void)
{
	if (helper_shared)
		pgb_stream_check_abort(helper_shared);
}

/*
 * pgb_stream_worker_main
 *		Entry point of a helper stream worker; bgw_main_arg is the DSM
 *		handle, bgw_extra holds the stream number.
 */
void
pgb_stream_worker_main(Datum arg)
{
	dsm_segment *seg;
	PgbCaptureShared *sh;
	int			stream;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pgb_count_process(PGB_PROC_STREAM);

	memcpy(&stream, MyBgworkerEntry->bgw_extra, sizeof(int));
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not attach to capture shared memory")));
	sh = (PgbCaptureShared *) dsm_segment_address(seg);
	helper_shared = sh;
	prev_log_hook = emit_log_hook;
	emit_log_hook = helper_log_hook;
	pgb_pq_set_interrupt_check(helper_check);
	if (sh->local)
		pgb_stream_local_connect(sh);

	PG_TRY();
	{
		pgb_stream_run(sh, stream, NULL, NULL);
	}
	PG_CATCH();
	{
		MemoryContext ecxt = MemoryContextSwitchTo(TopMemoryContext);
		ErrorData  *edata = CopyErrorData();

		MemoryContextSwitchTo(ecxt);
		pgb_stream_record_error(sh, edata);
		pgb_pq_disconnect_all();
		PG_RE_THROW();
	}
	PG_END_TRY();
	dsm_detach(seg);
	proc_exit(0);
}
