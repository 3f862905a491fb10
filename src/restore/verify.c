/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  pgbackups.verify(): a stored archive read end to end without being
 *	  restored, in the caller's backend.  One pass front to back: the
 *	  archive's TOC (the archive reader validates it), every data block
 *	  walked in order (no two blocks for an entry, each where the TOC
 *	  places it, none missing) and decompressed within
 *	  pgbackups.max_decompressed_size, the COPY rows of every table counted
 *	  (lines up to the \. end marker), and the SHA-256 of every byte
 *	  (archive_hash.c, the digest a restore's first pass uses).  Then the
 *	  digest is compared with the catalog's and the manifest's, and each
 *	  table's rows with the catalog's and the manifest's table_rows.
 *
 * A walk that fails on a damaged block still finishes the digest: a
 * changed byte is reported as the SHA-256 mismatch it is, with the walk's
 * error in the detail.  The reader, its file or curl handle and the digest
 * are closed on every path; decompressor state is freed with the memory
 * context.  Interrupts are checked between chunks (64 kB), so a cancel
 * ends a verify of any size promptly.
 *
 * src/restore/verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "archive_hash.h"
#include "manifest.h"
#include "restore_plan.h"
#include "storage.h"
#include "url_scheme.h"
#include "verify.h"

#define MANIFEST_MAX_BYTES (1024 * 1024)

/* the COPY text of one table, counted as it is decompressed */
typedef struct RowCounter
{
	int64		rows;			/* lines before the end marker */
	int			linelen;		/* bytes of the current line so far */
	char		head[2];		/* its first two bytes */
	bool		ended;			/* the \. line was seen */
} RowCounter;

/* rows per table, from the catalog or the manifest */
typedef struct TableRows
{
	int			n;
	char	  **names;			/* quoted schema.table, as captured */
	int64	   *rows;
} TableRows;

typedef struct VerifyWalk
{
	PgbDecompressor *dec;
	RowCounter	counter;
	const PgbArchive *ar;
	int64	   *counted;		/* per TOC entry; -1: not TABLE DATA */
	ErrorData  *error;			/* the walk's error (walk_archive) */
} VerifyWalk;

/* what must be closed on every path */
typedef struct VerifyHandles
{
	PgbArchiveReader *reader;
	PgbArchiveHash *hash;
} VerifyHandles;

static void
count_sink(void *arg, const char *data, size_t len)
{
	RowCounter *c = (RowCounter *) arg;
	size_t		i;

	for (i = 0; i < len && !c->ended; i++)
	{
		if (data[i] == '\n')
		{
			if (c->linelen == 2 && c->head[0] == '\\' && c->head[1] == '.')
				c->ended = true;
			else
				c->rows++;
			c->linelen = 0;
			continue;
		}
		if (c->linelen < 2)
			c->head[c->linelen] = data[i];
		c->linelen++;
	}
}

static void
discard_sink(void *arg, const char *data, size_t len)
{
}

static void
feed_sink(void *arg, const char *data, size_t len)
{
	CHECK_FOR_INTERRUPTS();
	pgb_decompressor_feed((PgbDecompressor *) arg, data, len);
}

/* one chunk stream, decompressed to sink */
static void
decompress_stream(VerifyWalk *w, PgbArchiveReader *reader, PgbByteSink sink, void *arg)
{
	pgb_decompressor_begin(w->dec, sink, arg);
	pgb_reader_read_chunks(reader, feed_sink, w->dec);
	(void) pgb_decompressor_end(w->dec);
}

/* the data block of entry te: its rows counted when it is COPY data */
static void
verify_block(VerifyWalk *w, PgbArchiveReader *reader, int blktype, PgbTocEntry *te)
{
	int			idx = te - w->ar->toc;

	if (blktype == PGB_BLK_BLOBS)
	{
		Oid			oid;

		while (pgb_reader_next_blob(reader, &oid))
			decompress_stream(w, reader, discard_sink, NULL);
		return;
	}
	if (!pgb_toc_is(te, "TABLE DATA") || te->copy_stmt == NULL || te->copy_stmt[0] == '\0')
	{
		decompress_stream(w, reader, discard_sink, NULL);
		return;
	}
	memset(&w->counter, 0, sizeof(RowCounter));
	decompress_stream(w, reader, count_sink, &w->counter);
	if (!w->counter.ended)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid archive: the COPY data of table %s has no end marker",
						quote_qualified_identifier(te->namespace, te->tag))));
	w->counted[idx] = w->counter.rows;
}

/*
 * Walk every data block in archive order, with the structural checks of
 * a restore's first pass (restore_scan.c).
 */
static void
walk_blocks(VerifyWalk *w, PgbArchiveReader *reader, int64 max_decompressed)
{
	const PgbArchive *ar = w->ar;
	bool	   *seen = palloc0(sizeof(bool) * Max(ar->ntoc, 1));
	int			i;

	w->dec = pgb_decompressor_create(ar->hdr.compression, max_decompressed);
	w->counted = palloc(sizeof(int64) * Max(ar->ntoc, 1));
	for (i = 0; i < ar->ntoc; i++)
		w->counted[i] = -1;
	for (;;)
	{
		uint64		at = pgb_reader_position(reader);
		int			blktype;
		PgbTocEntry *te;
		int			idx;

		CHECK_FOR_INTERRUPTS();
		if (!pgb_reader_next_block(reader, &blktype, &te))
			break;
		idx = te - ar->toc;
		pgb_archive_block_placed(te, &seen[idx], at);
		verify_block(w, reader, blktype, te);
	}
	for (i = 0; i < ar->ntoc; i++)
		if (ar->toc[i].had_dumper && ar->toc[i].data_state != PGB_OFFSET_NO_DATA && !seen[i])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: no data block for entry %d (%s)",
							ar->toc[i].dump_id, pgb_restore_entry_name(&ar->toc[i]))));
	pfree(seen);
}

/* rows per table of a jsonb object {"schema.table": rows} */
static TableRows *
parse_table_rows(const char *json)
{
	TableRows  *t = palloc0(sizeof(TableRows));
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	MemoryContext outer = CurrentMemoryContext;
	uint64		i;

	if (json == NULL)
		return t;
	values[0] = CStringGetTextDatum(json);
	SPI_connect();
	if (SPI_execute_with_args("SELECT key, value FROM pg_catalog.jsonb_each_text($1::pg_catalog.jsonb)",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read table_rows");
	t->n = (int) SPI_processed;
	t->names = MemoryContextAlloc(outer, sizeof(char *) * Max(t->n, 1));
	t->rows = MemoryContextAlloc(outer, sizeof(int64) * Max(t->n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		t->names[i] = MemoryContextStrdup(outer, SPI_getvalue(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc, 1));
		t->rows[i] = v ? strtoi64(v, NULL, 10) : -1;
	}
	SPI_finish();
	return t;
}

/* the manifest beside the archive: its SHA-256 and table_rows */
static void
read_manifest(const PgbVerifyTarget *t, char **sha256, TableRows **rows)
{
	char	   *url = pgb_manifest_url(t->location);
	size_t		len;
	char	   *json = pgb_storage_get_small(url, MANIFEST_MAX_BYTES, &len);
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	MemoryContext outer = CurrentMemoryContext;
	char	   *id;
	char	   *trows;

	if (json == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("manifest of backup %s is missing", t->id),
				 errdetail("Expected at \"%s\".", url)));
	if (strlen(json) != len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("manifest of backup %s is not text", t->id)));
	values[0] = CStringGetTextDatum(json);
	SPI_connect();
	if (SPI_execute_with_args("SELECT m OPERATOR(pg_catalog.->>) 'id', m OPERATOR(pg_catalog.->>) 'sha256', "
							  "(m OPERATOR(pg_catalog.->) 'table_rows')::text "
							  "FROM (SELECT $1::pg_catalog.jsonb AS m) s",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the manifest");
	id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	*sha256 = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	trows = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (*sha256)
		*sha256 = MemoryContextStrdup(outer, *sha256);
	if (trows)
		trows = MemoryContextStrdup(outer, trows);
	if (id == NULL || strcmp(id, t->id) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("manifest of backup %s names backup \"%s\"", t->id, id ? id : "")));
	SPI_finish();
	*rows = parse_table_rows(trows);
}

static void
check_sha256(const PgbVerifyTarget *t, const char *whose, const char *expected,
			 const PgbVerifyResult *res, const char *walk_error)
{
	if (expected == NULL || pg_strcasecmp(expected, res->sha256) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("archive of backup %s does not match the SHA-256 recorded %s", t->id, whose),
			 walk_error ?
			 errdetail("Expected SHA-256 %s, the archive has %s (" UINT64_FORMAT " bytes); reading it failed: %s",
					   expected, res->sha256, res->bytes, walk_error) :
			 errdetail("Expected SHA-256 %s, the archive has %s (" UINT64_FORMAT " bytes).",
					   expected, res->sha256, res->bytes)));
}

/* each table's counted rows against what whose recorded */
static void
check_rows(const PgbVerifyTarget *t, const char *whose, const TableRows *want,
		   const VerifyWalk *w)
{
	int			e;

	for (e = 0; e < want->n; e++)
	{
		int64		got = -1;
		int			i;

		for (i = 0; i < w->ar->ntoc && got < 0; i++)
		{
			PgbTocEntry *te = &w->ar->toc[i];

			if (w->counted[i] >= 0 &&
				strcmp(quote_qualified_identifier(te->namespace, te->tag), want->names[e]) == 0)
				got = w->counted[i];
		}
		if (got < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("table %s recorded in the %s of backup %s has no data in the archive",
							want->names[e], whose, t->id)));
		if (got != want->rows[e])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("row count of table %s in the archive of backup %s is " INT64_FORMAT ", the %s records " INT64_FORMAT,
							want->names[e], t->id, got, whose, want->rows[e])));
	}
}

/* the local path or s3:// URL the archive is read from */
static const char *
archive_path(const PgbVerifyTarget *t)
{
	if (t->location && pgb_url_scheme(t->location) == PGB_URL_FILE && t->location[7] == '/')
		return t->location + 7;
	if (t->location && pgb_url_scheme(t->location) == PGB_URL_S3)
		return t->location;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot verify backup %s stored at \"%s\"", t->id, t->location ? t->location : "")));
	return NULL;
}

/*
 * pgb_verify_try
 *		fn(arg) in a subtransaction: NULL when it returned, else its error
 *		(not raised; the subtransaction rolled back, so SPI, locks and
 *		snapshots of fn are released).  A cancel, a shutdown or a storage
 *		I/O error is raised at once.
 */
ErrorData *
pgb_verify_try(void (*fn) (void *arg), void *arg)
{
	MemoryContext ctx = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile failure = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(ctx);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(ctx);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(ctx);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(ctx);
		CurrentResourceOwner = owner;
		failure = edata;
	}
	PG_END_TRY();
	return failure;
}

typedef struct WalkCall
{
	VerifyWalk *w;
	PgbArchiveReader *reader;
	int64		max_decompressed;
} WalkCall;

static void
walk_call(void *arg)
{
	WalkCall   *c = (WalkCall *) arg;

	c->w->ar = pgb_reader_read_toc(c->reader);
	walk_blocks(c->w, c->reader, c->max_decompressed);
}

/*
 * The walk; an error of it comes back as text, so that the digest is
 * still finished and compared first (a changed byte is a SHA-256
 * mismatch).  A storage failure is raised at once: the digest could not
 * be finished either.
 */
static char *
walk_archive(VerifyWalk *w, PgbArchiveReader *reader, int64 max_decompressed)
{
	WalkCall	c = {w, reader, max_decompressed};

	w->error = pgb_verify_try(walk_call, &c);
	if (w->error == NULL)
		return NULL;
	if (ERRCODE_TO_CATEGORY(w->error->sqlerrcode) == ERRCODE_CONNECTION_EXCEPTION ||
		ERRCODE_TO_CATEGORY(w->error->sqlerrcode) == ERRCODE_SYSTEM_ERROR ||
		ERRCODE_TO_CATEGORY(w->error->sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES)
		ReThrowError(w->error);
	return w->error->message ? w->error->message : "unknown error";
}

static void
verify_open(const PgbVerifyTarget *t, PgbVerifyResult *res, VerifyHandles *h)
{
	VerifyWalk	w;
	char	   *walk_error;
	char	   *manifest_sha256;
	TableRows  *manifest_rows;
	int			i;

	memset(&w, 0, sizeof(w));
	h->reader = pgb_archive_hash_open(archive_path(t), &h->hash);
	read_manifest(t, &manifest_sha256, &manifest_rows);
	walk_error = walk_archive(&w, h->reader, t->max_decompressed);
	res->sha256 = pgb_archive_hash_finish(h->hash, NULL, NULL, &res->bytes);
	check_sha256(t, "at capture", t->sha256, res, walk_error);
	check_sha256(t, "in its manifest", manifest_sha256, res, walk_error);
	if (w.error)
		ReThrowError(w.error);
	check_rows(t, "catalog", parse_table_rows(t->table_rows), &w);
	check_rows(t, "manifest", manifest_rows, &w);
	for (i = 0; i < w.ar->ntoc; i++)
		if (w.counted[i] >= 0)
		{
			res->tables++;
			res->rows += w.counted[i];
		}
}

/*
 * pgb_verify_archive
 *		Read the archive of t end to end and check it (see the header).
 */
void
pgb_verify_archive(const PgbVerifyTarget *t, PgbVerifyResult *res)
{
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext, "pgbackups verify",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);
	VerifyHandles *h = palloc0(sizeof(VerifyHandles));

	memset(res, 0, sizeof(PgbVerifyResult));
	PG_TRY();
	{
		verify_open(t, res, h);
	}
	PG_FINALLY();
	{
		if (h->reader)
			pgb_reader_close(h->reader);
		pgb_archive_hash_close(h->hash);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	if (res->sha256)
		res->sha256 = pstrdup(res->sha256);
	MemoryContextDelete(ctx);
}
