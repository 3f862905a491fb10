/*-------------------------------------------------------------------------
 *
 * stream_pool.c
 *	  Step 3 of a capture, the leader's side of the COPY streams: the work
 *	  list in a DSM segment (PgbCaptureShared: largest tables first, a table
 *	  larger than pgbackups.split_table_size cut into ctid ranges), helper
 *	  background workers ("pgbackups stream", started with pgb_bgw_start),
 *	  the leader's own stream 0 (or, when helpers read in their own
 *	  process, a helper for it too), and waiting until every table is copied,
 *	  the leader writing the tables done into the archive meanwhile (a
 *	  step of capture.c, between its own parts and while it waits).  One
 *	  stream's work is stream.c.
 *
 * Helpers are limited by the job's process budget (hooks->reserve_proc);
 * without a free background worker slot the capture goes on with fewer
 * streams and says so in its log.
 *
 * src/capture/stream_pool.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"

#include "bgw_start.h"
#include "capture_int.h"
#include "guc.h"
#include "pq_util.h"
#include "stream_local.h"

#define PGB_HELPER_WAIT_MS 100

/* a table is split into at most this many parts */
#define PGB_MAX_TABLE_PARTS 1024

/*
 * table_nparts
 *		How many parts a table is copied in: one, unless several streams
 *		run and the heap with its TOAST table is larger than
 *		pgbackups.split_table_size.
 */
static int
table_nparts(const PgbCaptureTable *t, int nstreams)
{
	int64		split = pgb_split_table_size;

	if (nstreams <= 1 || split <= 0 || t->data_blocks <= split || t->nblocks < 2)
		return 1;
	/* the ranges are of the heap: at least a block each */
	return (int) Min(Min((t->data_blocks + split - 1) / split, t->nblocks), PGB_MAX_TABLE_PARTS);
}

/* the string area: per table, its COPY statement, its name, a part's select */
static void
table_strings(List *tables, StringInfo strings, uint32 *sql_off, uint32 *name_off,
			  uint32 *select_off, const int *nparts)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, tables)
	{
		PgbCaptureTable *t = lfirst(lc);

		sql_off[i] = strings->len;
		appendStringInfo(strings, "COPY %s %s%s%sTO stdout;", t->qname,
						 t->cols[0] ? "(" : "", t->cols, t->cols[0] ? ") " : " ");
		appendStringInfoChar(strings, '\0');
		name_off[i] = strings->len;
		appendStringInfoString(strings, t->qname);
		appendStringInfoChar(strings, '\0');
		select_off[i] = strings->len;
		appendStringInfo(strings, "%s FROM ONLY %s", t->cols, t->qname);
		appendStringInfoChar(strings, '\0');
		i++;
	}
}

static void
copy_setting(char *dst, size_t size, const char *value, const char *what)
{
	if (strlen(value) >= size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pgbackups %s is too long", what)));
	strlcpy(dst, value, size);
}

/* the DSM segment the streams share: settings, tables, parts, strings */
static PgbCaptureShared *
build_shared(PgbCaptureState *cs)
{
	int			ntables = list_length(cs->tables);
	uint32	   *sql_off = palloc(sizeof(uint32) * Max(ntables, 1));
	uint32	   *name_off = palloc(sizeof(uint32) * Max(ntables, 1));
	uint32	   *select_off = palloc(sizeof(uint32) * Max(ntables, 1));
	int		   *nparts = palloc(sizeof(int) * Max(ntables, 1));
	int			total_parts = 0;
	StringInfoData strings;
	Size		tables_size;
	Size		order_off;
	Size		size;
	PgbCaptureShared *sh;
	PgbStreamPart *parts;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, cs->tables)
	{
		nparts[i] = table_nparts(lfirst(lc), cs->nstreams);
		total_parts += nparts[i++];
	}
	initStringInfo(&strings);
	table_strings(cs->tables, &strings, sql_off, name_off, select_off, nparts);
	tables_size = MAXALIGN(offsetof(PgbCaptureShared, tables) + sizeof(PgbStreamTable) * ntables);
	order_off = tables_size + MAXALIGN(sizeof(PgbStreamPart) * total_parts);
	size = order_off + MAXALIGN(sizeof(pg_atomic_uint32) * Max(ntables, 1));
	cs->seg = dsm_create(size + strings.len + 1, 0);
	sh = dsm_segment_address(cs->seg);
	memset(sh, 0, size);
	pg_atomic_init_u32(&sh->next_part, 0);
	pg_atomic_init_u32(&sh->next_done, 0);
	for (i = 0; i < ntables; i++)
		pg_atomic_init_u32(&((pg_atomic_uint32 *) ((char *) sh + order_off))[i], 0);
	i = 0;
	sh->leader = MyProc;
	pg_atomic_init_u32(&sh->abort, 0);
	pg_atomic_init_u32(&sh->error_claimed, 0);
	pg_atomic_init_u32(&sh->error_ready, 0);
	SpinLockInit(&sh->mutex);
	sh->ntables = ntables;
	sh->nparts = total_parts;
	sh->nstreams = cs->nstreams;
	sh->lock_timeout = pgb_lock_timeout;
	sh->data_at_source = cs->params->data_at_source;
	sh->comp = cs->params->comp;
	strlcpy(sh->snapshot, cs->snapshot, sizeof(sh->snapshot));
	copy_setting(sh->conninfo, sizeof(sh->conninfo), cs->conninfo, "connection string");
	strlcpy(sh->spool_prefix, cs->spool_prefix, sizeof(sh->spool_prefix));
	strlcpy(sh->encoding, cs->encoding, sizeof(sh->encoding));
	sh->local = pgb_stream_local_possible(cs->params->conninfo, sh->data_at_source);
	if (sh->local)
	{
		strlcpy(sh->local_db, cs->params->dbname, sizeof(sh->local_db));
		strlcpy(sh->local_role, pgb_pq_conninfo_user(), sizeof(sh->local_role));
	}
	sh->parts_off = tables_size;
	sh->order_off = order_off;
	sh->strings_off = size;
	memcpy((char *) sh + size, strings.data, strings.len + 1);
	parts = PGB_STREAM_PARTS(sh);
	total_parts = 0;
	i = 0;
	foreach(lc, cs->tables)
	{
		PgbCaptureTable *t = lfirst(lc);
		PgbStreamTable *st = &sh->tables[i];
		int64		per_part = nparts[i] > 1 ? (t->nblocks + nparts[i] - 1) / nparts[i] : 0;
		int			k;

		st->relid = t->relid;
		st->sql_off = sql_off[i];
		st->name_off = name_off[i];
		st->select_off = select_off[i];
		st->est_bytes = t->est_bytes;
		st->first_part = total_parts;
		st->nparts = nparts[i];
		pg_atomic_init_u32(&st->parts_left, nparts[i]);
		for (k = 0; k < nparts[i]; k++)
		{
			PgbStreamPart *p = &parts[total_parts++];

			p->table = i;
			p->part = k;
			p->start_block = (BlockNumber) (per_part * k);
			/* the last part is open-ended: the heap may have grown */
			p->end_block = k == nparts[i] - 1 ? InvalidBlockNumber : (BlockNumber) (per_part * (k + 1));
		}
		i++;
	}
	return sh;
}

/* start the helper of stream s; false without budget or a free slot */
static bool
launch_helper(PgbCaptureState *cs, int s)
{
	char		name[BGW_MAXLEN];
	PgbBgwSpec	spec = {
		.function = "pgb_stream_worker_main",
		.type = "pgbackups stream",
		.name = name,
		.database = cs->sh->local,
		.main_arg = UInt32GetDatum(dsm_segment_handle(cs->seg)),
		.extra = &s,
		.extra_len = sizeof(int),
	};

	if (cs->hooks->reserve_proc && !cs->hooks->reserve_proc())
		return false;
	snprintf(name, sizeof(name), "pgbackups stream %d", s);
	if (!pgb_bgw_start(&spec, NULL, &cs->helpers[cs->nhelpers]))
	{
		if (cs->hooks->release_proc)
			cs->hooks->release_proc();
		return false;
	}
	cs->nhelpers++;
	return true;
}

/*
 * launch_helpers
 *		Helpers for streams 1 .. nstreams - 1, as many as slots and budget
 *		allow.  When they all started and helpers read rows in their own
 *		process (stream_local.c), stream 0 gets a helper too if one more
 *		can start: then no stream goes over libpq and the leader only
 *		assembles the archive (with one stream, the leader runs it: one
 *		process, as asked).  Otherwise the leader runs stream 0.
 */
static void
launch_helpers(PgbCaptureState *cs)
{
	int			s;

	for (s = 1; s < cs->nstreams; s++)
		if (!launch_helper(cs, s))
		{
			pgb_capture_log("no background worker slot for stream %d; continuing with %d streams", s, s);
			return;
		}
	if (cs->sh->local && cs->nstreams > 1 && launch_helper(cs, 0))
		cs->leader_streams = false;
}

static bool
helpers_stopped(PgbCaptureState *cs)
{
	int			i;

	for (i = 0; i < cs->nhelpers; i++)
	{
		pid_t		pid;

		if (GetBackgroundWorkerPid(cs->helpers[i], &pid) != BGWH_STOPPED)
			return false;
	}
	return true;
}

/* the leader's stream, between its parts: write what the assembly can */
static void
leader_between_parts(void *arg)
{
	PgbCaptureState *cs = (PgbCaptureState *) arg;
	PgbCaptureStep step = cs->step;
	MemoryContext old = MemoryContextSwitchTo(cs->mcxt);

	while (step(cs))
		pgb_capture_check();
	MemoryContextSwitchTo(old);
}

/* whether stream s has created its spool file */
static bool
stream_spool_exists(PgbCaptureShared *sh, int s)
{
	char	   *path = pgb_stream_spool_path(sh->spool_prefix, s);
	bool		exists = access(path, F_OK) == 0;

	pfree(path);
	return exists;
}

/* whether a stream has finished a part (the leader's fault point) */
static bool
any_part_done(PgbCaptureShared *sh)
{
	int			i;

	for (i = 0; i < sh->nparts; i++)
		if (PGB_STREAM_PARTS(sh)[i].done)
			return true;
	return false;
}

/*
 * log_streams
 *		One line of what each stream did: its parts, their COPY bytes, the
 *		seconds it waited for rows, the CPU seconds of its process (the
 *		leader's include its share of the archive's assembly so far).
 */
static void
log_streams(PgbCaptureState *cs)
{
	PgbCaptureShared *sh = cs->sh;
	int			n = Min(cs->result->streams_used, PGB_MAX_PARALLEL);
	int			parts[PGB_MAX_PARALLEL];
	int64		raw[PGB_MAX_PARALLEL];
	double		wait_s[PGB_MAX_PARALLEL];
	double		cpu_s[PGB_MAX_PARALLEL];
	StringInfoData s;
	int			i;

	SpinLockAcquire(&sh->mutex);
	for (i = 0; i < n; i++)
	{
		parts[i] = sh->stream_parts[i];
		raw[i] = sh->stream_raw[i];
		wait_s[i] = sh->stream_wait_s[i];
		cpu_s[i] = sh->stream_cpu_s[i];
	}
	SpinLockRelease(&sh->mutex);
	initStringInfo(&s);
	for (i = 0; i < n; i++)
		appendStringInfo(&s, "%s%d: %d parts, " INT64_FORMAT " MB, %.1f s waiting for rows, %.1f CPU s",
						 i == 0 ? "" : "; ", i, parts[i], raw[i] / (1024 * 1024),
						 wait_s[i], cpu_s[i]);
	if (cs->leader_streams)
		pgb_capture_log("streams (the leader is 0, its CPU with the assembly so far): %s", s.data);
	else
	{
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		pgb_capture_log("streams (each in its own process): %s; the leader's assembly so far %.1f CPU s",
						s.data, ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
						(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	}
	pfree(s.data);
}

/*
 * pgb_capture_run_streams
 *		Copy every table: start the helpers, run stream 0 here unless a
 *		helper runs it (launch_helpers), then wait
 *		for the helpers (a helper's exit and a table done set our latch) and
 *		check that every table was copied.  Between its parts and while it
 *		waits, the leader calls step(cs), which writes the tables done into
 *		the archive (capture.c).
 */
void
pgb_capture_run_streams(PgbCaptureState *cs, PgbCaptureStep step)
{
	PgbCaptureShared *sh;
	PgbStreamPart *parts;
	int			nsplit = 0;
	bool		fault_passed = false;
	int			i;

	cs->nstreams = Max(1, Min(cs->params->parallel, Max(list_length(cs->tables), 1)));
	/* one large table is worth several streams too */
	if (cs->params->parallel > cs->nstreams && pgb_split_table_size > 0)
	{
		ListCell   *lc;

		foreach(lc, cs->tables)
			if (((PgbCaptureTable *) lfirst(lc))->data_blocks > pgb_split_table_size)
			{
				cs->nstreams = cs->params->parallel;
				break;
			}
	}
	sh = cs->sh = build_shared(cs);
	parts = PGB_STREAM_PARTS(sh);
	/* with the data left at the source, the leader alone lays out the items */
	cs->leader_streams = true;
	if (!sh->data_at_source)
		launch_helpers(cs);
	cs->result->streams_used = cs->nhelpers + (cs->leader_streams ? 1 : 0);
	for (i = 0; i < sh->ntables; i++)
		if (sh->tables[i].nparts > 1)
		{
			pgb_capture_log("table %s: %d parts of %u blocks (ctid ranges)",
							PGB_STREAM_STR(sh, sh->tables[i].name_off), sh->tables[i].nparts,
							parts[sh->tables[i].first_part].end_block);
			nsplit++;
		}
	if (sh->data_at_source)
		pgb_capture_log("leaving the data of %d tables (%d parts) at the source for the restore's workers, pg_dump running for DDL",
						sh->ntables, sh->nparts);
	else
		pgb_capture_log("copying %d tables (%d parts) over %d streams, pg_dump running for DDL",
						sh->ntables, sh->nparts, cs->result->streams_used);
	cs->step = step;
	if (cs->leader_streams)
		pgb_stream_run(sh, 0, leader_between_parts, cs);
	else
		pgb_capture_log("the leader only assembles the archive: every stream reads its rows in its own process");
	while (!helpers_stopped(cs))
	{
		if (!step(cs))
		{
			TimestampTz start = GetCurrentTimestamp();

			pgb_pq_sleep(PGB_HELPER_WAIT_MS);
			cs->wait_secs += (double) (GetCurrentTimestamp() - start) / USECS_PER_SEC;
		}
		pgb_capture_check();
		if (!cs->leader_streams && !fault_passed && any_part_done(sh))
		{
			pgb_debug_fault("streams"); /* tests: as after the leader's first part */
			fault_passed = true;
		}
	}
	pgb_capture_check();
	if (!cs->leader_streams && !fault_passed)
		pgb_debug_fault("streams");

	/*
	 * Every helper exited without an error and parts were never taken: a
	 * helper registered but not started (the postmaster could not fork it)
	 * or gone at once.  If stream 0's helper wrote nothing, the leader runs
	 * stream 0 itself, as it would have without that helper.
	 */
	if (!cs->leader_streams &&
		pg_atomic_read_u32(&sh->next_part) < (uint32) sh->nparts &&
		!stream_spool_exists(sh, 0))
	{
		pgb_capture_log("the stream helpers exited before taking every part; the leader copies the rest over libpq");
		cs->leader_streams = true;
		pgb_stream_run(sh, 0, leader_between_parts, cs);
		pgb_capture_check();
	}
	for (i = 0; i < sh->nparts; i++)
		if (!parts[i].done)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("a capture stream exited before copying table %s",
							PGB_STREAM_STR(sh, sh->tables[parts[i].table].name_off))));
	/* each table's totals */
	for (i = 0; i < sh->nparts; i++)
	{
		PgbStreamTable *t = &sh->tables[parts[i].table];

		t->rows += parts[i].rows;
		t->raw_bytes += parts[i].raw_bytes;
		t->done = true;
	}
	cs->written_early = cs->assembly ? cs->assembly->nwritten : 0;
	pgb_capture_log("table data copied: %d tables, %d of them in parts; %d already in the archive, the leader waited %.1f s for the %sstreams",
					sh->ntables, nsplit, cs->written_early, cs->wait_secs,
					cs->leader_streams ? "other " : "");
	if (!sh->data_at_source)
		log_streams(cs);
}

/*
 * pgb_capture_stop_streams
 *		Tell the helpers to stop and terminate them, optionally waiting (up
 *		to 5 s each) until they are gone.  No interrupt is processed here:
 *		this runs on the error path.
 */
void
pgb_capture_stop_streams(PgbCaptureState *cs, bool wait)
{
	int			i;

	if (cs->sh)
		pg_atomic_write_u32(&cs->sh->abort, 1);
	for (i = 0; i < cs->nhelpers; i++)
	{
		TerminateBackgroundWorker(cs->helpers[i]);
		if (wait && cs->hooks && cs->hooks->release_proc)
			cs->hooks->release_proc();
	}
	for (i = 0; wait && i < cs->nhelpers; i++)
	{
		pid_t		pid;
		int			tries = 0;

		while (GetBackgroundWorkerPid(cs->helpers[i], &pid) != BGWH_STOPPED && tries++ < 50)
		{
			int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									   100, PG_WAIT_EXTENSION);

			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
		}
	}
	cs->nhelpers = 0;
}
