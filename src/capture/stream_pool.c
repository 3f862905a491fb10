/*-------------------------------------------------------------------------
 *
 * stream_pool.c
 *	  Step 3 of a capture, the leader's side of the COPY streams: the work
 *	  list in a DSM segment (PgbCaptureShared, largest tables first), helper
 *	  background workers ("pgbackups stream", started with pgb_bgw_start),
 *	  the leader's own stream 0, and waiting until every table is copied.
 *	  One stream's work is stream.c.
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

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"

#include "bgw_start.h"
#include "capture_int.h"
#include "pq_util.h"

#define PGB_HELPER_WAIT_MS 100

/* the string area: per table, its COPY statement and its name */
static void
table_strings(List *tables, StringInfo strings, uint32 *sql_off, uint32 *name_off)
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

/* the DSM segment the streams share: settings, work list, strings */
static PgbCaptureShared *
build_shared(PgbCaptureState *cs)
{
	int			ntables = list_length(cs->tables);
	uint32	   *sql_off = palloc(sizeof(uint32) * Max(ntables, 1));
	uint32	   *name_off = palloc(sizeof(uint32) * Max(ntables, 1));
	StringInfoData strings;
	Size		size;
	PgbCaptureShared *sh;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&strings);
	table_strings(cs->tables, &strings, sql_off, name_off);
	size = MAXALIGN(offsetof(PgbCaptureShared, tables) + sizeof(PgbStreamTable) * ntables);
	cs->seg = dsm_create(size + strings.len + 1, 0);
	sh = dsm_segment_address(cs->seg);
	memset(sh, 0, size);
	pg_atomic_init_u32(&sh->next_table, 0);
	pg_atomic_init_u32(&sh->abort, 0);
	pg_atomic_init_u32(&sh->error_claimed, 0);
	pg_atomic_init_u32(&sh->error_ready, 0);
	SpinLockInit(&sh->mutex);
	sh->ntables = ntables;
	sh->nstreams = cs->nstreams;
	sh->comp = cs->params->comp;
	strlcpy(sh->snapshot, cs->snapshot, sizeof(sh->snapshot));
	copy_setting(sh->conninfo, sizeof(sh->conninfo), cs->conninfo, "connection string");
	strlcpy(sh->spool_prefix, cs->spool_prefix, sizeof(sh->spool_prefix));
	strlcpy(sh->encoding, cs->encoding, sizeof(sh->encoding));
	sh->strings_off = size;
	memcpy((char *) sh + size, strings.data, strings.len + 1);
	foreach(lc, cs->tables)
	{
		PgbCaptureTable *t = lfirst(lc);

		sh->tables[i].relid = t->relid;
		sh->tables[i].sql_off = sql_off[i];
		sh->tables[i].name_off = name_off[i];
		sh->tables[i].est_bytes = t->est_bytes;
		i++;
	}
	return sh;
}

/* helpers for streams 1 .. nstreams - 1, as many as slots and budget allow */
static void
launch_helpers(PgbCaptureState *cs)
{
	int			s;

	for (s = 1; s < cs->nstreams; s++)
	{
		char		name[BGW_MAXLEN];
		PgbBgwSpec spec = {
			.function = "pgb_stream_worker_main",
			.type = "pgbackups stream",
			.name = name,
			.database = false,
			.main_arg = UInt32GetDatum(dsm_segment_handle(cs->seg)),
			.extra = &s,
			.extra_len = sizeof(int),
		};

		if (cs->hooks->reserve_proc && !cs->hooks->reserve_proc())
			break;
		snprintf(name, sizeof(name), "pgbackups stream %d", s);
		if (!pgb_bgw_start(&spec, NULL, &cs->helpers[cs->nhelpers]))
		{
			if (cs->hooks->release_proc)
				cs->hooks->release_proc();
			pgb_capture_log("no background worker slot for stream %d; continuing with %d streams", s, s);
			break;
		}
		cs->nhelpers++;
	}
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

/*
 * pgb_capture_run_streams
 *		Copy every table: start the helpers, run stream 0 here, wait for
 *		the helpers (a helper's exit sets our latch: bgw_notify_pid), and
 *		check that every table was copied.
 */
void
pgb_capture_run_streams(PgbCaptureState *cs)
{
	PgbCaptureShared *sh;
	int			i;

	cs->nstreams = Max(1, Min(cs->params->parallel, Max(list_length(cs->tables), 1)));
	sh = cs->sh = build_shared(cs);
	launch_helpers(cs);
	cs->result->streams_used = cs->nhelpers + 1;
	pgb_capture_log("copying %d tables over %d streams, pg_dump running for DDL",
					sh->ntables, cs->result->streams_used);
	pgb_stream_run(sh, 0);
	while (!helpers_stopped(cs))
		pgb_pq_sleep(PGB_HELPER_WAIT_MS);
	pgb_capture_check();
	for (i = 0; i < sh->ntables; i++)
		if (!sh->tables[i].done)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("a capture stream exited before copying table %s",
							PGB_STREAM_STR(sh, sh->tables[i].name_off))));
	pgb_capture_log("table data copied: %d tables", sh->ntables);
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
