/*-------------------------------------------------------------------------
 *
 * restore_timing.c
 *	  What each step of a restore took, for the job's log
 *	  (pgbackups.logs()): pre-data; each table's data (rows, stored bytes,
 *	  seconds, whether COPY FREEZE loaded it); each index and constraint
 *	  build, with how long it waited for a worker once its table was
 *	  loaded; the ANALYZE of each table; the swap.  Up to DETAIL_MAX
 *	  entries of a kind get a line each, more get a summary naming the
 *	  slowest.  restore.c and restore_pool.c call it; it only keeps times
 *	  and writes log lines.
 *
 * src/restore/restore_timing.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "restore_int.h"

#define DETAIL_MAX 20			/* entries of one kind logged one by one */
#define SLOWEST 5				/* named in a summary */

static bool
is_data(const PgbTocEntry *te)
{
	return pgb_toc_is(te, "TABLE DATA");
}

/* the post-data entries that build something: indexes and constraints */
static bool
is_build(const PgbTocEntry *te)
{
	return pgb_toc_is(te, "INDEX") || pgb_toc_is(te, "CONSTRAINT") ||
		pgb_toc_is(te, "FK CONSTRAINT") || pgb_toc_is(te, "CHECK CONSTRAINT") ||
		pgb_toc_is(te, "INDEX ATTACH");
}

/* "schema.tag" as the archive names the entry ("public.t t_pkey") */
static const char *
entry_label(const PgbTocEntry *te)
{
	if (te->namespace && te->namespace[0])
		return psprintf("%s.%s", te->namespace, te->tag ? te->tag : "");
	return te->tag ? te->tag : "";
}

double
pgb_timing_since(TimestampTz start)
{
	return (double) (GetCurrentTimestamp() - start) / 1000000.0;
}

static double
secs_between(TimestampTz from, TimestampTz to)
{
	return to > from ? (double) (to - from) / 1000000.0 : 0.0;
}

void
pgb_timing_init(PgbRestore *r)
{
	PgbRestoreTiming *t = &r->timing;
	int			n = Max(r->plan->nitems, 1);
	int			ndata = 0;
	int			nbuild = 0;
	int			i;

	t->ready = palloc0(sizeof(TimestampTz) * n);
	t->started = palloc0(sizeof(TimestampTz) * n);
	t->secs = palloc(sizeof(double) * n);
	t->analyze_secs = palloc(sizeof(double) * n);
	t->frozen = palloc0(sizeof(bool) * n);
	for (i = 0; i < r->plan->nitems; i++)
	{
		PgbRestoreItem *it = &r->plan->items[i];

		t->secs[i] = -1;
		t->analyze_secs[i] = -1;
		if (it->action == PGB_ACT_SKIP || it->pre_data)
			continue;
		if (is_data(it->te))
			ndata++;
		else if (is_build(it->te))
			nbuild++;
	}
	t->detail_data = ndata <= DETAIL_MAX;
	t->detail_build = nbuild <= DETAIL_MAX;
}

void
pgb_timing_parallel_start(PgbRestore *r)
{
	r->timing.parallel = true;
	r->timing.parallel_start = GetCurrentTimestamp();
}

void
pgb_timing_started(PgbRestore *r, int item)
{
	if (r->timing.started)
		r->timing.started[item] = GetCurrentTimestamp();
}

/* seconds item waited for a worker once it could run */
static double
waited(PgbRestoreTiming *t, int item)
{
	TimestampTz ready = t->ready[item] ? t->ready[item] : t->parallel_start;

	return secs_between(ready, t->started[item]);
}

/*
 * pgb_timing_finished
 *		A worker finished entry item (after pgb_restore_plan_done): its time,
 *		the time the entries waiting for it became ready, and its log line.
 */
void
pgb_timing_finished(PgbRestore *r, int item, int64 rows, int64 bytes, bool frozen)
{
	PgbRestoreTiming *t = &r->timing;
	PgbRestoreItem *it = &r->plan->items[item];
	TimestampTz now = GetCurrentTimestamp();
	int			k;

	if (!t->parallel)
		return;
	t->secs[item] = secs_between(t->started[item], now);
	t->frozen[item] = frozen;
	for (k = 0; k < it->nrevdeps; k++)
		if (r->plan->items[it->revdeps[k]].depcount == 0)
			t->ready[it->revdeps[k]] = now;
	if (is_data(it->te))
	{
		t->data_end = now;
		if (t->detail_data)
			pgb_restore_log(r, "data %s: " INT64_FORMAT " rows, " INT64_FORMAT " bytes stored, %.2f s%s",
							entry_label(it->te), rows, bytes, t->secs[item],
							frozen ? ", COPY FREEZE" : "");
	}
	else if (is_build(it->te))
	{
		t->build_end = now;
		if (t->detail_build)
			pgb_restore_log(r, "%s %s: %.2f s, started %.2f s after it could",
							it->te->desc, entry_label(it->te), t->secs[item], waited(t, item));
	}
}

/* the SLOWEST slowest items of a kind by secs, as "name 1.23 s, ..." */
static char *
slowest(PgbRestore *r, const double *secs, bool (*kind) (const PgbTocEntry *), bool wait)
{
	StringInfoData s;
	bool	   *taken = palloc0(sizeof(bool) * Max(r->plan->nitems, 1));
	int			n;

	initStringInfo(&s);
	for (n = 0; n < SLOWEST; n++)
	{
		int			best = -1;
		int			i;

		for (i = 0; i < r->plan->nitems; i++)
			if (!taken[i] && secs[i] >= 0 && (kind == NULL || kind(r->plan->items[i].te)) &&
				(best < 0 || secs[i] > secs[best]))
				best = i;
		if (best < 0)
			break;
		taken[best] = true;
		appendStringInfo(&s, "%s%s %.2f s", n > 0 ? ", " : "",
						 entry_label(r->plan->items[best].te), secs[best]);
		if (wait)
			appendStringInfo(&s, " (started %.2f s after it could)", waited(&r->timing, best));
	}
	pfree(taken);
	return s.data;
}

/* the summary lines of the data and post-data phase */
void
pgb_timing_parallel_end(PgbRestore *r)
{
	PgbRestoreTiming *t = &r->timing;
	int			ndata = 0;
	int			nfrozen = 0;
	int			nbuild = 0;
	int			nother = 0;
	double		data_secs = 0;
	double		build_secs = 0;
	double		other_secs = 0;
	int			i;

	t->parallel = false;
	t->parallel_phase = pgb_timing_since(t->parallel_start);
	for (i = 0; i < r->plan->nitems; i++)
	{
		const PgbTocEntry *te = r->plan->items[i].te;

		if (t->secs[i] < 0)
			continue;
		if (is_data(te))
		{
			ndata++;
			nfrozen += t->frozen[i] ? 1 : 0;
			data_secs += t->secs[i];
		}
		else if (is_build(te))
		{
			nbuild++;
			build_secs += t->secs[i];
		}
		else
		{
			nother++;
			other_secs += t->secs[i];
		}
	}
	pgb_restore_log(r, "data: %d tables, " INT64_FORMAT " rows, %d loaded with COPY FREEZE, "
					"%.2f s of worker time, all loaded %.2f s into the phase; slowest: %s",
					ndata, r->rows, nfrozen, data_secs,
					secs_between(t->parallel_start, t->data_end),
					ndata > 0 ? slowest(r, t->secs, is_data, false) : "none");
	pgb_restore_log(r, "indexes and constraints: %d built (%d keys as an index, then attached), %.2f s of worker time, all built %.2f s into the phase; slowest: %s",
					nbuild, t->keys_as_index, build_secs,
					secs_between(t->parallel_start, t->build_end),
					nbuild > 0 ? slowest(r, t->secs, is_build, true) : "none");
	pgb_restore_log(r, "data and post-data done in %.2f s: %d tables, " INT64_FORMAT " rows; %d other entries took %.2f s of worker time",
					t->parallel_phase, r->tables, r->rows, nother, other_secs);
}

void
pgb_timing_analyzed(PgbRestore *r, int item)
{
	PgbRestoreTiming *t = &r->timing;

	t->analyze_secs[item] = pgb_timing_since(t->started[item]);
	if (t->detail_analyze)
		pgb_restore_log(r, "analyze %s: %.2f s", entry_label(r->plan->items[item].te),
						t->analyze_secs[item]);
}

void
pgb_timing_report_analyze(PgbRestore *r, int ntables, int nskipped)
{
	PgbRestoreTiming *t = &r->timing;
	double		total = 0;
	int			i;

	for (i = 0; i < r->plan->nitems; i++)
		if (t->analyze_secs[i] >= 0)
			total += t->analyze_secs[i];
	pgb_restore_log(r, "analyze: %d tables in %.2f s (%.2f s of worker time), %d with statistics from the archive; slowest: %s",
					ntables, t->analyze, total, nskipped,
					ntables > 0 ? slowest(r, t->analyze_secs, NULL, false) : "none");
}

void
pgb_timing_report_phases(PgbRestore *r)
{
	PgbRestoreTiming *t = &r->timing;

	pgb_restore_log(r, "phases: pre-data %.2f s, data and post-data %.2f s, analyze %.2f s, swap %.2f s",
					t->pre_data, t->parallel_phase, t->analyze, t->swap);
}
