/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The capture engine, run by a job's leader worker.
 *
 * 1. A coordinator connection opens a REPEATABLE READ, READ ONLY
 *	  transaction, lists the tables whose data pg_dump would dump, takes
 *	  ACCESS SHARE locks on them and exports its snapshot.  It stays open
 *	  until the end, so the snapshot and the locks hold for every reader.
 * 2. pg_dump (pgdump.c) writes an uncompressed custom archive of everything
 *	  but those tables' data, with --snapshot, while
 * 3. N streams (stream.c: the leader plus helper workers) COPY the tables,
 *	  largest first, into compressed chunk streams in spool files.
 * 4. pg_dump's own data items (large objects, extension config tables) are
 *	  re-encoded with the capture's compression.
 * 5. The archive is assembled: header, pg_dump's TOC with exactly one TABLE
 *	  DATA entry per copied table inserted where pg_dump puts data (sorted by
 *	  schema and name), data offsets filled in, then every data block in TOC
 *	  order.  It is written to storage under a temporary name with its
 *	  SHA-256 computed on the way, and committed.
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

#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "common/jsonapi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "archive.h"
#include "capture.h"
#include "pgdump.h"
#include "pq_util.h"
#include "spool.h"
#include "storage.h"
#include "stream.h"

#define PGB_HELPER_WAIT_MS 100

typedef struct LocalTable
{
	Oid			relid;
	char	   *nspname;
	char	   *relname;
	char	   *qname;
	char	   *cols;
	int64		est_bytes;
	char	   *load_via_root;	/* "" or the partition root pg_dump loads through */
} LocalTable;

typedef struct BlockSource
{
	int			spool;			/* stream number, or PGB_EXTRA_SPOOL */
	uint64		off;
	uint64		len;
} BlockSource;

/* state needed by pgb_capture_cleanup on an error path */
static struct
{
	bool		active;
	PgbPgDump  *pgdump;
	dsm_segment *seg;
	PgbCaptureShared *sh;
	BackgroundWorkerHandle *helpers[PGB_MAX_PARALLEL];
	int			nhelpers;
	const PgbCaptureHooks *hooks;
	char	   *spool_prefix;
	int			nstreams;
	EVP_MD_CTX *md;
	PgbStorageWriter *writer;	/* aborted on an error path */
	int			copy_fd;
	PGconn	   *coord;
	bool		succeeded;
	TimestampTz last_progress;
} cap;

static void
capture_check(void)
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
	if (cap.sh && cap.sh->sqlerrcode != 0)
		ereport(ERROR,
				(errcode(cap.sh->sqlerrcode),
				 errmsg("%s", cap.sh->errmsg)));
}

static void
wait_a_moment(void)
{
	pgb_pq_sleep(PGB_HELPER_WAIT_MS);
}

static void
caplog(const char *fmt,...) pg_attribute_printf(1, 2);

static void
caplog(const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cap.hooks && cap.hooks->log)
		cap.hooks->log(buf);
}

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

static const char *table_list_sql =
"SELECT c.oid, n.nspname, c.relname, "
"       pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname), "
"       coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) "
"                   FROM pg_catalog.pg_attribute a "
"                  WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 "
"                    AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) ''), ''), "
"       (c.relpages::pg_catalog.int8 OPERATOR(pg_catalog.+) coalesce(t.relpages, 0)) OPERATOR(pg_catalog.*) 8192, "
/* as pg_dump does: partitions under hash partitioning on an enum load via the root */
"       coalesce((SELECT quote_ident(rn.nspname) || '.' || quote_ident(rc.relname) "
"                   FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace "
"                  WHERE c.relispartition AND rc.oid = pg_partition_root(c.oid) "
"                    AND EXISTS (SELECT 1 FROM pg_partition_ancestors(c.oid) an "
"                                  JOIN pg_partitioned_table pt ON pt.partrelid = an.relid "
"                                  JOIN pg_opclass oc ON oc.oid = ANY (pt.partclass::oid[]) "
"                                  JOIN pg_am am ON am.oid = oc.opcmethod "
"                                 WHERE oc.opcname = 'enum_ops' AND am.amname = 'hash' "
"                                   AND oc.opcnamespace = 'pg_catalog'::regnamespace)), '') "
"  FROM pg_catalog.pg_class c "
"  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
"  LEFT JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) c.reltoastrelid "
" WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relpersistence OPERATOR(pg_catalog.<>) 't' "
"   AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
"   AND n.nspname OPERATOR(pg_catalog.!~) '^pg_' "
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
"                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
"                      AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e') "
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e "
"                    WHERE e.extname OPERATOR(pg_catalog.=) 'pgbackups' "
"                      AND e.extnamespace OPERATOR(pg_catalog.=) c.relnamespace) "
" ORDER BY 6 DESC, 1";

static List *
list_tables(PGconn *conn)
{
	PGresult   *res = pgb_pq_exec(conn, table_list_sql, PGRES_TUPLES_OK);
	List	   *tables = NIL;
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		LocalTable *t = palloc0(sizeof(LocalTable));

		t->relid = (Oid) strtoul(PQgetvalue(res, i, 0), NULL, 10);
		t->nspname = pstrdup(PQgetvalue(res, i, 1));
		t->relname = pstrdup(PQgetvalue(res, i, 2));
		t->qname = pstrdup(PQgetvalue(res, i, 3));
		t->cols = pstrdup(PQgetvalue(res, i, 4));
		t->est_bytes = strtoll(PQgetvalue(res, i, 5), NULL, 10);
		t->load_via_root = pstrdup(PQgetvalue(res, i, 6));
		tables = lappend(tables, t);
	}
	PQclear(res);
	return tables;
}

static void
lock_tables(PGconn *conn, List *tables)
{
	StringInfoData sql;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&sql);
	foreach(lc, tables)
	{
		LocalTable *t = lfirst(lc);

		appendStringInfo(&sql, "%s%s", n == 0 ? "LOCK TABLE " : ", ", t->qname);
		if (++n == 1000 || lnext(tables, lc) == NULL)
		{
			appendStringInfoString(&sql, " IN ACCESS SHARE MODE");
			pgb_pq_command(conn, sql.data);
			resetStringInfo(&sql);
			n = 0;
		}
	}
	pfree(sql.data);
}

static PgbCaptureShared *
build_shared(List *tables, const PgbCaptureParams *params, const char *conninfo,
			 const char *snapshot, const char *encoding, const char *spool_prefix,
			 int nstreams)
{
	StringInfoData strings;
	Size		size;
	PgbCaptureShared *sh;
	ListCell   *lc;
	int			ntables = list_length(tables);
	int			i = 0;
	uint32	   *sql_off = palloc(sizeof(uint32) * Max(ntables, 1));
	uint32	   *name_off = palloc(sizeof(uint32) * Max(ntables, 1));

	initStringInfo(&strings);
	foreach(lc, tables)
	{
		LocalTable *t = lfirst(lc);

		sql_off[i] = strings.len;
		appendStringInfo(&strings, "COPY %s %s%s%sTO stdout;", t->qname,
						 t->cols[0] ? "(" : "", t->cols, t->cols[0] ? ") " : " ");
		appendStringInfoChar(&strings, '\0');
		name_off[i] = strings.len;
		appendStringInfoString(&strings, t->qname);
		appendStringInfoChar(&strings, '\0');
		i++;
	}

	size = offsetof(PgbCaptureShared, tables) + sizeof(PgbStreamTable) * ntables;
	size = MAXALIGN(size);
	cap.seg = dsm_create(size + strings.len + 1, 0);
	sh = dsm_segment_address(cap.seg);
	memset(sh, 0, size);
	pg_atomic_init_u32(&sh->next_table, 0);
	pg_atomic_init_u32(&sh->abort, 0);
	SpinLockInit(&sh->mutex);
	sh->ntables = ntables;
	sh->nstreams = nstreams;
	sh->comp = params->comp;
	strlcpy(sh->snapshot, snapshot, sizeof(sh->snapshot));
	if (strlen(conninfo) >= sizeof(sh->conninfo))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pgbackups connection string is too long")));
	strlcpy(sh->conninfo, conninfo, sizeof(sh->conninfo));
	strlcpy(sh->spool_prefix, spool_prefix, sizeof(sh->spool_prefix));
	strlcpy(sh->encoding, encoding, sizeof(sh->encoding));
	sh->strings_off = size;
	memcpy((char *) sh + size, strings.data, strings.len + 1);
	i = 0;
	foreach(lc, tables)
	{
		LocalTable *t = lfirst(lc);

		sh->tables[i].relid = t->relid;
		sh->tables[i].sql_off = sql_off[i];
		sh->tables[i].name_off = name_off[i];
		sh->tables[i].est_bytes = t->est_bytes;
		i++;
	}
	return sh;
}

static void
launch_helpers(int nstreams)
{
	int			s;

	for (s = 1; s < nstreams; s++)
	{
		BackgroundWorker bgw;

		if (cap.hooks->reserve_proc && !cap.hooks->reserve_proc())
			break;
		memset(&bgw, 0, sizeof(bgw));
		bgw.bgw_flags = BGWORKER_SHMEM_ACCESS;
		bgw.bgw_start_time = BgWorkerStart_ConsistentState;
		bgw.bgw_restart_time = BGW_NEVER_RESTART;
		snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pgbackups");
		snprintf(bgw.bgw_function_name, BGW_MAXLEN, "pgb_stream_worker_main");
		snprintf(bgw.bgw_name, BGW_MAXLEN, "pgbackups stream %d", s);
		snprintf(bgw.bgw_type, BGW_MAXLEN, "pgbackups stream");
		bgw.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(cap.seg));
		memcpy(bgw.bgw_extra, &s, sizeof(int));
		bgw.bgw_notify_pid = MyProcPid;
		if (!RegisterDynamicBackgroundWorker(&bgw, &cap.helpers[cap.nhelpers]))
		{
			if (cap.hooks->release_proc)
				cap.hooks->release_proc();
			caplog("no background worker slot for stream %d; continuing with %d streams", s, s);
			break;
		}
		cap.nhelpers++;
	}
}

static void
wait_helpers(void)
{
	for (;;)
	{
		int			i;
		bool		all_stopped = true;

		for (i = 0; i < cap.nhelpers; i++)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(cap.helpers[i], &pid) != BGWH_STOPPED)
				all_stopped = false;
		}
		if (all_stopped)
			break;
		wait_a_moment();
	}
	capture_check();
}

/* ---- re-encoding pg_dump's own data items ---- */

typedef struct Reencode
{
	PgbDecompressor *dec;
	PgbCompressor *comp;
} Reencode;

static void
feed_compressor(void *arg, const char *data, size_t len)
{
	pgb_compressor_write((PgbCompressor *) arg, data, len);
}

static void
feed_decompressor(void *arg, const char *data, size_t len)
{
	pgb_decompressor_feed((PgbDecompressor *) arg, data, len);
}

static int64
reencode_stream(PgbArchiveReader *r, Reencode *re, PgbSpool *out)
{
	int64		raw;

	pgb_compressor_begin(re->comp, pgb_spool_chunk, out);
	pgb_decompressor_begin(re->dec, feed_compressor, re->comp);
	pgb_reader_read_chunks(r, feed_decompressor, re->dec);
	raw = pgb_decompressor_end(re->dec);
	pgb_compressor_end(re->comp);
	pgb_spool_put_int(out, 0);
	return raw;
}

/*
 * reencode_pgdump_data
 *		Copy every data block of pg_dump's archive into the extra spool in
 *		the capture's compression, remembering where each went.
 */
static void
reencode_pgdump_data(PgbArchiveReader *r, const PgbArchive *ar,
					 const PgbCompressionSpec *comp, const char *path,
					 BlockSource *src_by_index, int64 *raw_total)
{
	PgbSpool   *out = pgb_spool_create(path);
	Reencode	re;
	int			blktype;
	PgbTocEntry *te;

	re.dec = pgb_decompressor_create(ar->hdr.compression, -1);
	re.comp = pgb_compressor_create(comp);
	while (pgb_reader_next_block(r, &blktype, &te))
	{
		int			idx = te - ar->toc;
		uint64		start = pgb_spool_pos(out);

		pgb_pq_check_interrupts();
		if (blktype == PGB_BLK_DATA)
			*raw_total += reencode_stream(r, &re, out);
		else
		{
			Oid			oid;

			while (pgb_reader_next_blob(r, &oid))
			{
				pgb_spool_put_int(out, (int) oid);
				*raw_total += reencode_stream(r, &re, out);
			}
			pgb_spool_put_int(out, 0);
		}
		src_by_index[idx].spool = PGB_EXTRA_SPOOL;
		src_by_index[idx].off = start;
		src_by_index[idx].len = pgb_spool_pos(out) - start;
	}
	pgb_spool_close(out);
}

/* ---- assembly ---- */

/* a TABLE DATA entry made for a copied table, and that table's index in sh->tables */
typedef struct NewData
{
	PgbTocEntry *te;
	int			table;
} NewData;

static int
cmp_tabledata(const void *a, const void *b)
{
	const PgbTocEntry *x = ((const NewData *) a)->te;
	const PgbTocEntry *y = ((const NewData *) b)->te;
	int			c = strcmp(x->namespace ? x->namespace : "", y->namespace ? y->namespace : "");

	return c != 0 ? c : strcmp(x->tag, y->tag);
}

static void
hash_and_write(PgbStorageWriter *w, const char *data, size_t len)
{
	if (EVP_DigestUpdate(cap.md, data, len) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
	pgb_storage_write(w, data, len);
}

static void
copy_range(PgbStorageWriter *w, const char *path, uint64 off, uint64 len, char *buf, size_t bufsize)
{
	/* cap.copy_fd is closed by pgb_capture_cleanup if an error interrupts us */
	cap.copy_fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (cap.copy_fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open spool file \"%s\": %m", path)));
	while (len > 0)
	{
		ssize_t		n = pread(cap.copy_fd, buf, Min(len, bufsize), (off_t) off);

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read spool file \"%s\": %m", path)));
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("could not read spool file \"%s\": unexpected end of file", path)));
		hash_and_write(w, buf, n);
		off += n;
		len -= n;
		if ((len & 0xFFFFFF) == 0)
			pgb_pq_check_interrupts();
	}
	close(cap.copy_fd);
	cap.copy_fd = -1;
}

static void
md_release(void *arg)
{
	if (cap.md)
		EVP_MD_CTX_free(cap.md);
	cap.md = NULL;
}

void
pgb_capture_run(const PgbCaptureParams *params, const PgbCaptureHooks *hooks,
				PgbCaptureResult *result)
{
	char	   *conninfo;
	PGconn	   *coord;
	PGresult   *res;
	List	   *tables;
	List	   *patterns = NIL;
	ListCell   *lc;
	char	   *snapshot;
	char	   *encoding;
	PgbCaptureShared *sh;
	int			nstreams;
	char	   *pgdump_out;
	PgbArchiveReader *reader;
	const PgbArchive *dump;
	PgbArchive	out;
	BlockSource *dump_src;
	BlockSource *src;
	NewData    *newdata;
	int			nnew = 0;
	int			insert_at;
	int			maxid = 0;
	int			i,
				j;
	StringInfoData head;
	uint64		pos;
	PgbStorageWriter *w;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	char	   *buf;
	int64		raw_extra = 0;
	StringInfoData json;
	time_t		now = time(NULL);
	struct tm  *lt = localtime(&now);
	MemoryContextCallback *mdcb;

	memset(&cap, 0, sizeof(cap));
	cap.copy_fd = -1;
	cap.active = true;
	cap.hooks = hooks;
	pgb_pq_set_interrupt_check(capture_check);
	cap.spool_prefix = pgb_storage_spool_prefix(params->location);

	/* 1. coordinator: snapshot, table list, locks */
	conninfo = params->conninfo ? pstrdup(params->conninfo) : pgb_pq_conninfo(params->dbname);
	coord = pgb_pq_connect(conninfo);
	cap.coord = coord;
	pgb_pq_command(coord,
				   "SET statement_timeout = 0; SET lock_timeout = 0; "
				   "SET idle_in_transaction_session_timeout = 0; "
				   "SET search_path = pg_catalog; "
				   "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	tables = list_tables(coord);
	if (hooks->progress)
		hooks->progress("locking tables", 0, list_length(tables), 0);
	lock_tables(coord, tables);
	res = pgb_pq_exec(coord,
					  "SELECT pg_catalog.pg_export_snapshot(), "
					  "pg_catalog.pg_database_size(pg_catalog.current_database()), "
					  "pg_catalog.current_setting('server_version'), "
					  "pg_catalog.pg_encoding_to_char(d.encoding) "
					  "FROM pg_catalog.pg_database d "
					  "WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()",
					  PGRES_TUPLES_OK);
	snapshot = pstrdup(PQgetvalue(res, 0, 0));
	result->source_size = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	result->server_version = pstrdup(PQgetvalue(res, 0, 2));
	encoding = pstrdup(PQgetvalue(res, 0, 3));
	PQclear(res);
	caplog("snapshot %s exported; %d tables to copy, database size %s",
		   snapshot, list_length(tables),
		   text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
															  Int64GetDatum(result->source_size)))));

	/* 2. pg_dump for everything but the data we copy ourselves */
	foreach(lc, tables)
	{
		LocalTable *t = lfirst(lc);

		patterns = lappend(patterns, dump_pattern(t->nspname, t->relname));
	}
	patterns = lappend(patterns, pstrdup("\"pgbackups\".*"));
	pgdump_out = psprintf("%s.pgdump.tmp", cap.spool_prefix);
	cap.pgdump = pgb_pgdump_start(conninfo, snapshot, encoding, patterns, pgdump_out);

	/* 3. data streams */
	nstreams = Max(1, Min(params->parallel, Max(list_length(tables), 1)));
	cap.nstreams = nstreams;
	sh = build_shared(tables, params, conninfo, snapshot, encoding, cap.spool_prefix, nstreams);
	cap.sh = sh;
	launch_helpers(nstreams);
	result->streams_used = cap.nhelpers + 1;
	caplog("copying %d tables over %d streams, pg_dump running for DDL",
		   sh->ntables, result->streams_used);
	pgb_stream_run(sh, 0);
	wait_helpers();
	for (i = 0; i < sh->ntables; i++)
		if (!sh->tables[i].done)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("a capture stream exited before copying table %s",
							PGB_STREAM_STR(sh, sh->tables[i].name_off))));
	caplog("table data copied: %d tables", sh->ntables);

	/* wait for pg_dump */
	while (!pgb_pgdump_poll(cap.pgdump))
	{
		if (hooks->progress)
			hooks->progress("waiting for pg_dump", sh->ntables, sh->ntables, sh->bytes_done);
		wait_a_moment();
	}
	pgb_pgdump_finish(cap.pgdump);
	cap.pgdump = NULL;

	/* 4. pg_dump's archive: TOC, and its own data items re-encoded */
	reader = pgb_reader_open_file(pgdump_out);
	dump = pgb_reader_read_toc(reader);
	if (dump->hdr.pgdump_version == NULL ||
		atoi(dump->hdr.pgdump_version) != PG_VERSION_NUM / 10000)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_dump version %s does not match the server's major version %d",
						dump->hdr.pgdump_version ? dump->hdr.pgdump_version : "(unknown)",
						PG_VERSION_NUM / 10000),
				 errhint("Set pgbackups.pg_dump_path to the pg_dump of the server's version.")));
	result->pgdump_version = pstrdup(dump->hdr.pgdump_version);
	dump_src = palloc0(sizeof(BlockSource) * Max(dump->ntoc, 1));
	if (hooks->progress)
		hooks->progress("writing archive", sh->ntables, sh->ntables, sh->bytes_done);
	reencode_pgdump_data(reader, dump, &params->comp,
						 pgb_stream_spool_path(cap.spool_prefix, PGB_EXTRA_SPOOL),
						 dump_src, &raw_extra);
	pgb_reader_close(reader);
	unlink(pgdump_out);

	/* 5. the output TOC */
	for (i = 0; i < dump->ntoc; i++)
		maxid = Max(maxid, dump->toc[i].dump_id);
	newdata = palloc(sizeof(NewData) * Max(sh->ntables, 1));
	for (i = 0; i < sh->ntables; i++)
	{
		PgbStreamTable *st = &sh->tables[i];
		char		oidstr[16];
		PgbTocEntry *table = NULL;
		PgbTocEntry *te;
		LocalTable *lt_ = list_nth(tables, i);

		snprintf(oidstr, sizeof(oidstr), "%u", st->relid);
		for (j = 0; j < dump->ntoc; j++)
		{
			PgbTocEntry *c = &dump->toc[j];

			if (strcmp(c->desc, "TABLE") == 0 && c->oid && strcmp(c->oid, oidstr) == 0 &&
				c->tableoid && strcmp(c->tableoid, "1259") == 0)
			{
				table = c;
				break;
			}
		}
		if (table == NULL)
		{
			caplog("table %s is not in pg_dump's output; its data is left out",
				   PGB_STREAM_STR(sh, st->name_off));
			continue;
		}
		te = palloc0(sizeof(PgbTocEntry));
		te->dump_id = ++maxid;
		te->had_dumper = 1;
		te->tableoid = "0";
		te->oid = pstrdup(oidstr);
		te->tag = table->tag;
		te->desc = "TABLE DATA";
		te->section = PGB_SECTION_DATA;
		te->copy_stmt = psprintf("COPY %s %s%s%sFROM stdin;\n",
								 lt_->load_via_root[0] ? lt_->load_via_root : lt_->qname,
								 lt_->cols[0] ? "(" : "", lt_->cols, lt_->cols[0] ? ") " : " ");
		if (lt_->load_via_root[0])
			te->defn = psprintf("-- load via partition root %s", lt_->load_via_root);
		te->namespace = table->namespace;
		te->owner = table->owner;
		te->with_oids = "false";
		te->ndeps = 1;
		te->deps = palloc(sizeof(int));
		te->deps[0] = table->dump_id;
		te->data_state = PGB_OFFSET_SET;
		newdata[nnew].te = te;
		newdata[nnew].table = i;
		nnew++;
	}
	qsort(newdata, nnew, sizeof(NewData), cmp_tabledata);

	insert_at = dump->ntoc;
	for (i = 0; i < dump->ntoc; i++)
		if (dump->toc[i].section == PGB_SECTION_DATA || dump->toc[i].section == PGB_SECTION_POST_DATA)
		{
			insert_at = i;
			break;
		}

	memset(&out, 0, sizeof(out));
	out.hdr = dump->hdr;
	out.hdr.compression = params->comp.alg;
	out.hdr.level = params->comp.alg == PGB_COMPRESS_NONE ? 0 :
		(params->comp.level < 0 ? -1 : params->comp.level);
	if (params->comp.alg == PGB_COMPRESS_LZ4 || params->comp.alg == PGB_COMPRESS_ZSTD)
		out.hdr.version = Max(dump->hdr.version, PGB_K_VERS_1_15);
	else
		out.hdr.version = Max(dump->hdr.version, PGB_K_VERS_1_14);
	out.hdr.tm[0] = lt->tm_sec;
	out.hdr.tm[1] = lt->tm_min;
	out.hdr.tm[2] = lt->tm_hour;
	out.hdr.tm[3] = lt->tm_mday;
	out.hdr.tm[4] = lt->tm_mon;
	out.hdr.tm[5] = lt->tm_year;
	out.hdr.tm[6] = lt->tm_isdst > 0 ? 1 : 0;
	out.hdr.pgdump_version = psprintf("%s (pgbackups 1.0)", dump->hdr.pgdump_version);
	out.ntoc = dump->ntoc + nnew;
	out.toc = palloc0(sizeof(PgbTocEntry) * Max(out.ntoc, 1));
	src = palloc0(sizeof(BlockSource) * Max(out.ntoc, 1));
	j = 0;
	for (i = 0; i <= dump->ntoc; i++)
	{
		if (i == insert_at)
		{
			int			k;

			for (k = 0; k < nnew; k++)
			{
				PgbStreamTable *st = &sh->tables[newdata[k].table];

				out.toc[j] = *newdata[k].te;
				src[j].spool = st->stream;
				src[j].off = st->spool_off;
				src[j].len = st->spool_len;
				j++;
			}
		}
		if (i == dump->ntoc)
			break;
		out.toc[j] = dump->toc[i];
		if (out.toc[j].had_dumper)
		{
			out.toc[j].data_state = PGB_OFFSET_SET;
			src[j] = dump_src[i];
		}
		else
			out.toc[j].data_state = PGB_OFFSET_NO_DATA;
		j++;
	}

	/* offsets: serialize once to learn the TOC length */
	initStringInfo(&head);
	pgb_write_header(&head, &out.hdr);
	pgb_write_toc(&head, &out);
	pos = head.len;
	for (i = 0; i < out.ntoc; i++)
		if (out.toc[i].had_dumper)
		{
			out.toc[i].data_pos = pos;
			pos += 6 + src[i].len;
		}
	{
		int			len1 = head.len;

		resetStringInfo(&head);
		pgb_write_header(&head, &out.hdr);
		pgb_write_toc(&head, &out);
		if (head.len != len1)
			elog(ERROR, "archive TOC changed length when data offsets were filled in");
	}

	/* 6. write it out */
	cap.md = EVP_MD_CTX_new();
	mdcb = palloc0(sizeof(MemoryContextCallback));
	mdcb->func = md_release;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, mdcb);
	if (cap.md == NULL || EVP_DigestInit_ex(cap.md, EVP_sha256(), NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize SHA-256")));
	w = pgb_storage_create(params->location, pos);
	cap.writer = w;
	hash_and_write(w, head.data, head.len);
	buf = palloc(1024 * 1024);
	for (i = 0; i < out.ntoc; i++)
	{
		PgbTocEntry *te = &out.toc[i];
		StringInfoData bh;
		char	   *path;

		if (!te->had_dumper)
			continue;
		initStringInfo(&bh);
		pgb_write_block_header(&bh, strcmp(te->desc, "BLOBS") == 0 ? PGB_BLK_BLOBS : PGB_BLK_DATA,
							   te->dump_id);
		hash_and_write(w, bh.data, bh.len);
		pfree(bh.data);
		path = pgb_stream_spool_path(cap.spool_prefix, src[i].spool);
		copy_range(w, path, src[i].off, src[i].len, buf, 1024 * 1024);
		pfree(path);
	}
	pgb_storage_commit(w);
	cap.writer = NULL;
	if (EVP_DigestFinal_ex(cap.md, digest, &dlen) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
	for (i = 0; i < (int) dlen && i < 32; i++)
		snprintf(result->sha256 + 2 * i, 3, "%02x", digest[i]);
	result->archive_size = pos;
	result->archive_version = psprintf("%d.%d", (out.hdr.version >> 16) & 0xFF,
									   (out.hdr.version >> 8) & 0xFF);

	/* statistics */
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	result->rows = 0;
	result->raw_size = raw_extra;
	for (i = 0; i < nnew; i++)
	{
		PgbStreamTable *st = &sh->tables[newdata[i].table];

		if (i > 0)
			appendStringInfoString(&json, ", ");
		escape_json(&json, PGB_STREAM_STR(sh, st->name_off));
		appendStringInfo(&json, ": " INT64_FORMAT, st->rows);
		result->rows += st->rows;
		result->raw_size += st->raw_bytes;
	}
	appendStringInfoChar(&json, '}');
	result->tables = nnew;
	result->table_rows_json = json.data;
	caplog("archive written: %d tables, " INT64_FORMAT " rows, " INT64_FORMAT " bytes, sha256 %s",
		   result->tables, result->rows, result->archive_size, result->sha256);

	/* done: close everything */
	cap.succeeded = true;
	pgb_pq_command(coord, "COMMIT");
	pgb_capture_cleanup();
}

/*
 * stop_children
 *		Kill the pg_dump child, tell the helpers to stop and terminate them,
 *		optionally waiting (up to 5 s each) until they are gone.
 */
static void
stop_children(bool wait)
{
	int			i;

	if (cap.pgdump)
		pgb_pgdump_kill(cap.pgdump);
	cap.pgdump = NULL;
	if (cap.sh)
		pg_atomic_write_u32(&cap.sh->abort, 1);
	for (i = 0; i < cap.nhelpers; i++)
	{
		TerminateBackgroundWorker(cap.helpers[i]);
		if (wait && cap.hooks && cap.hooks->release_proc)
			cap.hooks->release_proc();
	}
	for (i = 0; wait && i < cap.nhelpers; i++)
	{
		pid_t		pid;
		int			tries = 0;

		while (GetBackgroundWorkerPid(cap.helpers[i], &pid) != BGWH_STOPPED && tries++ < 50)
		{
			int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									   100, PG_WAIT_EXTENSION);

			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
		}
	}
	cap.nhelpers = 0;
}

/*
 * pgb_capture_cleanup
 *		Release whatever a capture holds: the pg_dump child, helper
 *		workers, libpq connections, the DSM segment and spool files.
 *		Safe to call on an error path and more than once.
 */
/*
 * end_orphan_sessions
 *		After a failure, end the server sessions that share our snapshot
 *		(pg_dump's, which may sit in a lock wait after pg_dump itself died).
 */
static void
end_orphan_sessions(void)
{
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
		FlushErrorState();
	}
	PG_END_TRY();
}

void
pgb_capture_cleanup(void)
{
	int			i;

	if (!cap.active)
		return;
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
	pgb_pq_disconnect_all();
	if (cap.spool_prefix)
	{
		const char *suffixes[] = {"pgdump.tmp", "pgdump.tmp.err.tmp"};
		char	   *p;

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
