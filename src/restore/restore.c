/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  The restore engine's leader: the driver of a restore or copy.  It
 *	  runs in the job's background worker, which is connected to no
 *	  database, and never executes archive SQL itself.
 *
 * Steps, and the file that does each:
 *	 1. Read the archive's TOC, plan (restore_plan.c) and walk the archive
 *		once (restore_scan.c): block positions, a structural check, the
 *		SHA-256.  A damaged archive is rejected before anything is created.
 *	 2. Check that the target's owner can log in and that every extension
 *		the archive creates is available and allowed (restore_ext.c).
 *	 3. Create the staging database like the target (dbswap.c) and start N
 *		"pgbackups restore" workers in it, authenticated as the owner
 *		(restore_pool.c, restore_worker.c, restore_exec.c).
 *	 4. Pre-data entries in TOC order, one at a time; then data and
 *		post-data in parallel by dependencies, then ACLs, then materialized
 *		views and event triggers.  An extension the owner may not create is
 *		created by the leader as superuser (restore_ext.c).
 *		Then ANALYZE, on the workers in parallel, of the tables whose
 *		statistics the archive does not carry (pgbackups.restore_analyze).
 *	 5. Compare the rows loaded per table with those recorded at capture.
 *	 6. Take over (restore_swap.c): pause the target's scheduler, end its
 *		sessions, carry the live catalog if the target holds it, and swap
 *		(dbswap.c).
 * Any error, cancel or shutdown before the swap's COMMIT is sent leaves
 * the target as it was: pgb_restore_cleanup drops the staging database
 * (after an uncatchable exit, the scheduler does).
 *
 * src/restore/restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "guc.h"
#include "pq_util.h"
#include "restore_int.h"

static PgbRestore rst;

/* the longest "schema"."table" names are kept in hash keys this long */
#define PGB_QNAME_KEYLEN (NAMEDATALEN * 4 + 8)

void
pgb_restore_log(PgbRestore *r, const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (r->hooks.log)
		r->hooks.log(buf);
}

void
pgb_restore_progress(PgbRestore *r, const char *phase)
{
	if (r->hooks.progress)
		r->hooks.progress(phase, r->done, r->total, r->bytes);
}

/* interrupts, and the job's cancel request (until the swap committed) */
void
pgb_restore_check(PgbRestore *r)
{
	CHECK_FOR_INTERRUPTS();
	if (r->hooks.check)
		r->hooks.check();
}

/* the leader's superuser connection to the staging database */
PGconn *
pgb_restore_staging_conn(PgbRestore *r)
{
	if (r->staging_conn == NULL)
		r->staging_conn = pgb_pq_connect(pgb_pq_conninfo(r->staging));
	return r->staging_conn;
}

/* ---- 1. the archive ---- */

/*
 * read_archive
 *		TOC, plan and first pass; returns the data position of each entry
 *		and how many entries the workers run.
 */
static uint64 *
read_archive(PgbRestore *r, int *nworker_items)
{
	PgbArchiveReader *reader;
	const PgbArchive *ar;
	PgbArchiveSession sess;
	uint64	   *positions;
	int			i;

	pgb_restore_progress(r, "reading archive");
	reader = pgb_restore_open_archive(r);
	ar = pgb_reader_read_toc(reader);
	pgb_archive_session(ar, &sess); /* rejects malformed session entries */
	r->plan = pgb_restore_plan_build(ar, r->params->keep_acl);
	positions = pgb_restore_scan(r, reader, ar);
	pgb_reader_close(reader);
	pgb_restore_scan_cleanup(r);

	r->loaded_rows = palloc0(sizeof(int64) * Max(ar->ntoc, 1));
	*nworker_items = 0;
	for (i = 0; i < r->plan->nitems; i++)
	{
		if (r->plan->items[i].action == PGB_ACT_WORKER)
			(*nworker_items)++;
		if (r->plan->items[i].action != PGB_ACT_SKIP)
			r->total++;
		if (r->plan->items[i].at_source && r->plan->items[i].action != PGB_ACT_SKIP)
		{
			/* only a copy's own archive reads data at its source */
			if (r->params->source_conninfo == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("invalid archive: the data of %s is not in the archive",
								pgb_restore_entry_name(r->plan->items[i].te)),
						 errdetail("Its TABLE DATA entry says its rows are read at the source of a copy; only copy() writes such archives, for itself.")));
			r->source_items++;
		}
	}
	pgb_restore_log(r, "archive version %d.%d, %s compression, %d TOC entries (%d skipped), written by pg_dump %s",
					(ar->hdr.version >> 16) & 0xff, (ar->hdr.version >> 8) & 0xff,
					pgb_compression_name(ar->hdr.compression), ar->ntoc, r->plan->nskipped,
					ar->hdr.pgdump_version ? ar->hdr.pgdump_version : "?");
	if (!XLogIsNeeded())
	{
		int			nwhole = pgb_restore_plan_whole_tables(r->plan, r->params->parallel);

		if (nwhole > 0)
			pgb_restore_log(r, "%d %s split in the archive loaded whole, each in one transaction: with wal_level = minimal its rows are not also written to WAL",
							nwhole, nwhole == 1 ? "table" : "tables");
	}
	return positions;
}

/* ---- 2. target and prerequisites ---- */

static void
check_target(PgbRestore *r)
{
	const PgbRestoreParams *p = r->params;

	r->maint = pgb_db_maintenance_connect(p->target, NULL);
	r->target = pgb_db_info(r->maint, p->target);
	if (!r->target->owner_can_login)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the owner of database \"%s\", role \"%s\", cannot log in",
						r->target->name, r->target->owner),
				 errdetail("A restore runs the archive's SQL as the database owner; nothing was changed."),
				 errhint("ALTER ROLE %s LOGIN, or make a role that can log in own the database.",
						 quote_identifier(r->target->owner))));
	pgb_restore_check_extensions(r);
	r->staging = pgb_db_staging_name(p->catalog_db, p->job_id, p->target);
	r->old = pgb_db_old_name(p->catalog_db, p->job_id);
}

/* ---- 4. the restore proper ---- */

/* run item by a worker (or, for PGB_ACT_EXTENSION, by the leader) */
static bool
start_item(PgbRestore *r, int item)
{
	PgbRestoreItem *it = &r->plan->items[item];

	if (it->action == PGB_ACT_EXTENSION)
	{
		pgb_restore_create_extension(r, it);
		it->state = PGB_ITEM_RUNNING;
		pgb_restore_plan_done(r->plan, item);
		r->done++;
		return true;
	}
	if (pgb_toc_is(it->te, "EXTENSION"))
		pgb_restore_before_extension(r, it);
	return pgb_restore_pool_dispatch(r, item, PGB_TASK_ENTRY);
}

/* pre-data, serially in TOC order */
static void
run_pre_data(PgbRestore *r)
{
	int			i;

	for (i = 0; i < r->plan->nitems; i++)
	{
		PgbRestoreItem *it = &r->plan->items[i];
		int			running[1];
		int			nrunning = 0;

		if (!it->pre_data || it->action == PGB_ACT_SKIP)
			continue;
		while (!start_item(r, i))
		{
			(void) pgb_restore_pool_collect(r, running, &nrunning);
			pgb_restore_pool_wait(r);
		}
		if (it->state == PGB_ITEM_DONE)
			continue;			/* the leader ran it */
		running[0] = i;
		nrunning = 1;
		for (;;)
		{
			(void) pgb_restore_pool_collect(r, running, &nrunning);
			if (nrunning == 0)
				break;
			pgb_restore_pool_wait(r);
		}
	}
}

/* start what may start now; false when nothing could */
static bool
start_ready(PgbRestore *r, PgbRestorePass pass, int *running, int *nrunning, int idle)
{
	bool		progressed = false;

	while (idle > 0)
	{
		int			item = pgb_restore_plan_next(r->plan, pass, running, *nrunning);
		PgbRestoreItem *it;

		if (item < 0)
			break;
		it = &r->plan->items[item];
		/* an extension is created while nothing else runs */
		if (pgb_toc_is(it->te, "EXTENSION") && *nrunning > 0)
			break;
		if (!start_item(r, item))
			break;
		progressed = true;
		if (it->state == PGB_ITEM_DONE)
			continue;			/* the leader ran it */
		running[(*nrunning)++] = item;
		idle--;
	}
	return progressed;
}

/* data and post-data by dependencies, then ACLs, then the last pass */
static void
run_parallel(PgbRestore *r)
{
	PgbRestorePass pass = PGB_PASS_MAIN;
	int		   *running = palloc(sizeof(int) * r->nworkers);
	int			nrunning = 0;
	int			done_before = r->done;

	for (;;)
	{
		int			idle = pgb_restore_pool_collect(r, running, &nrunning);
		bool		progressed;

		if (r->done > done_before)
			pgb_debug_fault("data");	/* tests: an entry of the pass done */
		progressed = start_ready(r, pass, running, &nrunning, idle);

		if (nrunning == 0 && !progressed)
		{
			if (!pgb_restore_plan_pass_left(r->plan, PGB_PASS_POST_ACL))
				break;
			if (pass < PGB_PASS_POST_ACL)
			{
				pass++;
				pgb_restore_log(r, "pass %s", pass == PGB_PASS_ACL ? "privileges" : "materialized views and event triggers");
			}
			continue;
		}
		if (!progressed || nrunning == r->nworkers)
			pgb_restore_pool_wait(r);
	}
	pfree(running);
}

static void
run_entries(PgbRestore *r)
{
	TimestampTz start = GetCurrentTimestamp();
	int			i;

	pgb_timing_init(r);
	pgb_restore_progress(r, "restoring schema");
	run_pre_data(r);
	pgb_debug_fault("pre_data");	/* tests: pre-data done, no data yet */
	r->timing.pre_data = pgb_timing_since(start);
	pgb_restore_log(r, "pre-data done: %d of %d entries in %.2f s", r->done, r->total,
					r->timing.pre_data);
	pgb_restore_progress(r, "restoring data");
	pgb_timing_parallel_start(r);
	run_parallel(r);
	pgb_timing_parallel_end(r);
	for (i = 0; i < r->plan->nitems; i++)
		if (r->plan->items[i].action != PGB_ACT_SKIP && r->plan->items[i].state != PGB_ITEM_DONE)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("restore ended with entry %d not restored", r->plan->items[i].te->dump_id)));
}

/* ---- 4b. ANALYZE ---- */

/* "schema.name" of a TABLE or STATISTICS DATA entry, the key of both */
static char *
relation_key(const PgbTocEntry *te)
{
	return psprintf("%s.%s", te->namespace ? te->namespace : "", te->tag ? te->tag : "");
}

/*
 * tables_to_analyze
 *		The TABLE entries restored whose statistics the archive does not
 *		carry (no STATISTICS DATA entry of the same name restored), largest
 *		data first; *nskipped: those it does carry.
 */
static int *
tables_to_analyze(PgbRestore *r, int *ntables, int *nskipped)
{
	PgbRestorePlan *plan = r->plan;
	int		   *items = palloc(sizeof(int) * Max(plan->nitems, 1));
	uint64	   *size = palloc0(sizeof(uint64) * Max(plan->nitems, 1));
	HASHCTL		ctl;
	HTAB	   *with_stats;
	int			i;
	int			n = 0;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = PGB_QNAME_KEYLEN;
	ctl.entrysize = PGB_QNAME_KEYLEN;
	ctl.hcxt = CurrentMemoryContext;
	with_stats = hash_create("pgbackups restored statistics", 64, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (i = 0; i < plan->nitems; i++)
	{
		PgbRestoreItem *it = &plan->items[i];

		if (it->action == PGB_ACT_SKIP)
			continue;
		if (pgb_toc_is(it->te, "STATISTICS DATA"))
		{
			char	   *key = relation_key(it->te);

			if (strlen(key) < PGB_QNAME_KEYLEN)
				(void) hash_search(with_stats, key, HASH_ENTER, NULL);
		}
		else if (pgb_toc_is(it->te, "TABLE DATA") && it->te->ndeps > 0)
		{
			PgbTocEntry *table = pgb_toc_find(plan->ar, it->te->deps[0]);

			if (table)
				size[table - plan->ar->toc] += it->data_size;
		}
	}
	*nskipped = 0;
	for (i = 0; i < plan->nitems; i++)
	{
		PgbRestoreItem *it = &plan->items[i];
		char	   *key;

		if (it->action == PGB_ACT_SKIP || !pgb_toc_is(it->te, "TABLE"))
			continue;
		key = relation_key(it->te);
		if (strlen(key) < PGB_QNAME_KEYLEN && hash_search(with_stats, key, HASH_FIND, NULL))
			(*nskipped)++;
		else
			items[n++] = i;
		pfree(key);
	}
	hash_destroy(with_stats);
	/* largest first: insertion sort is enough for the few large ones */
	for (i = 1; i < n; i++)
	{
		int			v = items[i];
		int			j = i - 1;

		while (j >= 0 && size[items[j]] < size[v])
		{
			items[j + 1] = items[j];
			j--;
		}
		items[j + 1] = v;
	}
	pfree(size);
	*ntables = n;
	return items;
}

/*
 * tables_in_parts
 *		The TABLE entries whose data was loaded in parts, by several workers
 *		(so without COPY FREEZE): flags per TOC index; returns their number.
 */
static int
tables_in_parts(PgbRestore *r, bool *in_parts)
{
	PgbRestorePlan *plan = r->plan;
	int			i;
	int			n = 0;

	for (i = 0; i < plan->nitems; i++)
	{
		PgbRestoreItem *it = &plan->items[i];
		PgbTocEntry *table;

		if (it->action == PGB_ACT_SKIP || it->nparts <= 1 || it->te->ndeps < 1)
			continue;
		table = pgb_toc_find(plan->ar, it->te->deps[0]);
		if (table && pgb_toc_is(table, "TABLE") && !in_parts[table - plan->ar->toc])
		{
			in_parts[table - plan->ar->toc] = true;
			n++;
		}
	}
	return n;
}

/*
 * run_analyze
 *		ANALYZE, on the workers in parallel, every restored table whose
 *		statistics the archive does not carry, so that the database swapped
 *		in is ready for queries (pg_restore leaves tables unanalyzed).  After
 *		every entry: expression indexes exist by then, and ANALYZE's lock
 *		would wait for their builds anyway.  A table loaded in parts is
 *		vacuumed with FREEZE first, whatever pgbackups.restore_analyze says;
 *		those come first, being the largest.  Parts of a table the restore
 *		created were inserted frozen (restore_exec.c parts_freeze), their
 *		pages all-frozen in the visibility map, so the VACUUM skips them:
 *		it freezes only the rows of tables whose parts could not be.
 */
static void
run_analyze(PgbRestore *r)
{
	TimestampTz start = GetCurrentTimestamp();
	int			ntables = 0;
	int			nskipped = 0;
	int		   *tables;
	int		   *list;
	int			nlist = 0;
	bool	   *in_parts = palloc0(sizeof(bool) * Max(r->plan->nitems, 1));
	bool	   *analyze = palloc0(sizeof(bool) * Max(r->plan->nitems, 1));
	int			nparts_tables = tables_in_parts(r, in_parts);
	int		   *running;
	int			nrunning = 0;
	int			next = 0;
	int			i;

	if (!pgb_restore_analyze && nparts_tables == 0)
	{
		pgb_restore_log(r, "analyze: skipped (pgbackups.restore_analyze is off)");
		return;
	}
	tables = pgb_restore_analyze ? tables_to_analyze(r, &ntables, &nskipped) : NULL;
	for (i = 0; i < ntables; i++)
		analyze[tables[i]] = true;
	list = palloc(sizeof(int) * Max(r->plan->nitems, 1));
	for (i = 0; i < r->plan->nitems; i++)
		if (in_parts[i])
			list[nlist++] = i;
	for (i = 0; i < ntables; i++)
		if (!in_parts[tables[i]])
			list[nlist++] = tables[i];
	running = palloc(sizeof(int) * Max(r->nworkers, 1));
	r->timing.detail_analyze = nlist <= 20;
	pgb_restore_progress(r, "analyzing");
	for (;;)
	{
		int			idle = pgb_restore_pool_collect(r, running, &nrunning);

		while (idle > 0 && next < nlist &&
			   pgb_restore_pool_dispatch(r, list[next],
										 !in_parts[list[next]] ? PGB_TASK_ANALYZE :
										 analyze[list[next]] ? PGB_TASK_FREEZE_ANALYZE :
										 PGB_TASK_FREEZE))
		{
			running[nrunning++] = list[next++];
			idle--;
		}
		if (next == nlist && nrunning == 0)
			break;
		pgb_restore_pool_wait(r);
	}
	r->timing.analyze = pgb_timing_since(start);
	if (nparts_tables > 0)
		pgb_restore_log(r, "vacuum freeze: %d %s loaded in parts by several workers",
						nparts_tables, nparts_tables == 1 ? "table" : "tables");
	if (pgb_restore_analyze)
		pgb_timing_report_analyze(r, ntables, nskipped);
	else
		pgb_restore_log(r, "analyze: skipped (pgbackups.restore_analyze is off)");
	pfree(running);
	pfree(list);
	pfree(in_parts);
	pfree(analyze);
	if (tables)
		pfree(tables);
}

/* ---- 5. verification ---- */

/* loaded rows by qualified table name (one lookup per recorded table) */
typedef struct LoadedRows
{
	char		qname[PGB_QNAME_KEYLEN];	/* hash key */
	int64		rows;
} LoadedRows;

/*
 * loaded_rows_by_name
 *		A hash of the rows loaded per TABLE DATA entry, by the table's
 *		qualified name as recorded at capture.  Built once: a scan of the
 *		plan per recorded table would be quadratic in time and, with the
 *		names built on the way, in memory (30,000 tables took 4 GB).
 */
static HTAB *
loaded_rows_by_name(PgbRestore *r)
{
	HASHCTL		ctl;
	HTAB	   *h;
	int			i;

	ctl.keysize = PGB_QNAME_KEYLEN;
	ctl.entrysize = sizeof(LoadedRows);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("pgbackups loaded rows", Max(r->plan->nitems, 16), &ctl,
					HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (i = 0; i < r->plan->nitems; i++)
	{
		PgbTocEntry *te = r->plan->items[i].te;
		const char *qname;
		LoadedRows *e;
		bool		found;

		if (!pgb_toc_is(te, "TABLE DATA") || r->plan->items[i].action == PGB_ACT_SKIP)
			continue;
		qname = quote_qualified_identifier(te->namespace, te->tag);
		if (strlen(qname) >= PGB_QNAME_KEYLEN)
			continue;			/* no recorded name is that long */
		e = hash_search(h, qname, HASH_ENTER, &found);
		/* the first entry of a table counts, as the scan did */
		if (!found)
			e->rows = r->loaded_rows[i];
		pfree((void *) qname);
	}
	return h;
}

static void
verify_rows(PgbRestore *r)
{
	const PgbRestoreParams *p = r->params;
	HTAB	   *by_name;
	int			e;

	if (p->nexpected == 0)
		return;
	by_name = loaded_rows_by_name(r);
	for (e = 0; e < p->nexpected; e++)
	{
		LoadedRows *lr = NULL;
		int64		loaded;

		if (strlen(p->expected_tables[e]) < PGB_QNAME_KEYLEN)
			lr = hash_search(by_name, p->expected_tables[e], HASH_FIND, NULL);
		loaded = lr ? lr->rows : -1;
		if (loaded < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("table %s recorded at capture has no data in the archive",
							p->expected_tables[e])));
		if (loaded != p->expected_rows[e])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("row count of table %s is " INT64_FORMAT " after the restore, the backup recorded " INT64_FORMAT,
							p->expected_tables[e], loaded, p->expected_rows[e]),
					 errdetail("The target database was left as it was.")));
	}
	hash_destroy(by_name);
	pgb_restore_log(r, "row counts verified for %d tables", p->nexpected);
}

/* ---- the whole ---- */

static void
close_conn(PGconn **conn)
{
	if (*conn)
		pgb_pq_disconnect(*conn);
	*conn = NULL;
}

/* the maintenance connection and the workers' shared memory */
static void
release_leader(void)
{
	close_conn(&rst.maint);
	pgb_restore_pool_detach(&rst);
}

/*
 * log_peak_memory
 *		One line of the job's log: the peak resident set (getrusage
 *		ru_maxrss, shared memory the process touched included) of this
 *		leader so far and of each restore worker as it exited.
 */
static void
log_peak_memory(PgbRestore *r)
{
	struct rusage self;
	StringInfoData workers;
	int			w;

	getrusage(RUSAGE_SELF, &self);
	initStringInfo(&workers);
	for (w = 0; w < r->nstopped; w++)
		appendStringInfo(&workers, ", worker %d %ld kB", w, r->worker_maxrss_kb[w]);
	pgb_restore_log(r, "peak memory (ru_maxrss): leader %ld kB%s", self.ru_maxrss, workers.data);
	pfree(workers.data);
}

void
pgb_restore_run(const PgbRestoreParams *params, const PgbJobHooks *hooks,
					 PgbRestoreResult *result)
{
	uint64	   *positions;
	int			nworker_items;
	bool		carry;
	TimestampTz start;

	memset(&rst, 0, sizeof(rst));
	rst.params = params;
	rst.hooks = *hooks;
	memset(result, 0, sizeof(*result));

	/* 1, 2 */
	positions = read_archive(&rst, &nworker_items);
	pgb_debug_fault("after_scan");	/* tests: crash windows */
	check_target(&rst);
	carry = rst.target->oid == params->catalog_db;

	/* 3 */
	pgb_restore_progress(&rst, "creating staging database");
	/* from here on a clean-up drops it (if it exists: DROP ... IF EXISTS) */
	rst.created = true;
	pgb_db_create_staging(rst.maint, rst.target, rst.staging);
	pgb_restore_log(&rst, "building the restore in database \"%s\"", rst.staging);
	pgb_restore_pool_start(&rst, Max(1, Min(params->parallel, Max(nworker_items, 1))), positions);
	pgb_restore_pool_wait_ready(&rst);
	pgb_debug_fault("staging");

	/* 4, 5 */
	run_entries(&rst);
	pgb_debug_fault("post_data");
	run_analyze(&rst);
	pgb_debug_fault("analyzed");
	pgb_restore_pool_stop(&rst);
	verify_rows(&rst);
	pgb_debug_fault("verified");

	/* 6 */
	pgb_restore_progress(&rst, "swapping in");
	start = GetCurrentTimestamp();
	pgb_restore_take_over(&rst, carry);
	rst.timing.swap = pgb_timing_since(start);
	pgb_timing_report_phases(&rst);
	log_peak_memory(&rst);

	result->stats.tables = rst.tables;
	result->stats.rows = rst.rows;
	result->stats.bytes = rst.bytes;
	result->catalog_carried = carry;
	/* the replaced database stays until the outcome is recorded */
}

/*
 * pgb_restore_finish
 *		After a restore's outcome is recorded: drop the replaced database
 *		(until then it marks a committed swap for a reconciliation) and
 *		release the leader's connections.
 */
void
pgb_restore_finish(void)
{
	if (rst.swapped)
		pgb_restore_drop_old(&rst);
	rst.swapped = false;
	release_leader();
}

/* drop the staging database, or the replaced one once the swap committed */
static void
drop_leftover(void)
{
	/* the swap's transaction, if one was interrupted, is rolled back first */
	if (rst.maint && !pgb_pq_abort(rst.maint, 5000))
		close_conn(&rst.maint);
	if (rst.maint == NULL)
		rst.maint = pgb_db_maintenance_connect(rst.params->target, NULL);
	pgb_restore_drop(&rst, rst.swapped ? rst.old : rst.staging);
}

/*
 * pgb_restore_cleanup
 *		After an error or cancel: stop the workers and drop the staging
 *		database unless the swap committed.  Never raises.
 */
void
pgb_restore_cleanup(void)
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		pgb_restore_pool_stop(&rst);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
	pgb_restore_scan_cleanup(&rst);
	close_conn(&rst.staging_conn);
	close_conn(&rst.target_conn);
	if (rst.created || rst.swapped)
	{
		PG_TRY();
		{
			drop_leftover();
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(ctx);
			EmitErrorReport();
			FlushErrorState();
		}
		PG_END_TRY();
	}
	if (rst.paused && rst.target)
		pgb_restore_pause_target(&rst, false);
	release_leader();
	rst.created = false;
}
