/*-------------------------------------------------------------------------
 *
 * walk.c
 *	  Drive src/archive/archive_reader.c and src/archive/compress.c over one archive the way
 *	  a restore would, with every error raised by ereport caught.
 *
 * test/fuzz/walk.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "archive.h"
#include "compress.h"

#include "walk.h"

typedef struct WalkSink
{
	PgbWalkResult *res;
	StringInfoData chunk;		/* for pgb_reader_next_chunk */
} WalkSink;

/* touch every decompressed byte, so the sanitizers check all of it */
static void
digest_sink(void *arg, const char *data, size_t len)
{
	PgbWalkResult *res = ((WalkSink *) arg)->res;
	uint32		h = res->digest;
	size_t		i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char) data[i]) * 16777619u;
	res->digest = h;
	res->raw_bytes += len;
	if (res->raw_bytes > PGB_WALK_MAX_TOTAL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("harness: more than " UINT64_FORMAT " decompressed bytes in one archive",
						PGB_WALK_MAX_TOTAL)));
}

static void
feed_decompressor(void *arg, const char *data, size_t len)
{
	pgb_decompressor_feed((PgbDecompressor *) arg, data, len);
}

/* one chunk stream, pushed (pgb_reader_read_chunks) or pulled */
static void
walk_stream(PgbArchiveReader *r, PgbDecompressor *dec, WalkSink *sink, bool pull)
{
	pgb_decompressor_begin(dec, digest_sink, sink);
	if (pull)
	{
		while (pgb_reader_next_chunk(r, &sink->chunk))
		{
			if (sink->chunk.len <= 0 || sink->chunk.data[sink->chunk.len] != '\0')
				elog(ERROR, "harness: pgb_reader_next_chunk returned a bad buffer");
			sink->res->payload_bytes += sink->chunk.len;
			pgb_decompressor_feed(dec, sink->chunk.data, sink->chunk.len);
		}
	}
	else
		sink->res->payload_bytes += pgb_reader_read_chunks(r, feed_decompressor, dec);
	pgb_decompressor_end(dec);
}

static void
walk_block(PgbArchiveReader *r, PgbDecompressor *dec, WalkSink *sink, int blktype,
		   bool pull)
{
	Oid			oid;

	if (blktype == PGB_BLK_DATA)
		walk_stream(r, dec, sink, pull);
	else if (blktype == PGB_BLK_BLOBS)
	{
		while (pgb_reader_next_blob(r, &oid))
		{
			sink->res->blobs++;
			walk_stream(r, dec, sink, pull);
		}
	}
	else
		elog(ERROR, "harness: the reader returned block type %d", blktype);
}

static void
walk_archive(PgbArchiveReader *r, int flags, PgbWalkResult *res)
{
	const PgbArchive *ar = pgb_reader_read_toc(r);
	PgbDecompressor *dec;
	WalkSink	sink;
	int		   *seen;
	int			blktype;
	PgbTocEntry *te;
	int			i;

	res->version = ar->hdr.version;
	res->compression = ar->hdr.compression;
	res->ntoc = ar->ntoc;
	if (pgb_reader_position(r) != ar->data_start)
		elog(ERROR, "harness: reader at " UINT64_FORMAT " after the TOC, data_start " UINT64_FORMAT,
			 pgb_reader_position(r), ar->data_start);
	for (i = 0; i < ar->ntoc; i++)
		if (pgb_toc_find(ar, ar->toc[i].dump_id) != &ar->toc[i])
			elog(ERROR, "harness: pgb_toc_find(%d) did not find its entry", ar->toc[i].dump_id);

	sink.res = res;
	initStringInfo(&sink.chunk);
	dec = pgb_decompressor_create(ar->hdr.compression, PGB_WALK_MAX_ITEM);
	seen = palloc0(sizeof(int) * Max(ar->ntoc, 1));

	/* 1. sequential, as from a pipe */
	while (pgb_reader_next_block(r, &blktype, &te))
	{
		if (te < ar->toc || te >= ar->toc + ar->ntoc)
			elog(ERROR, "harness: the reader returned an entry outside the TOC");
		seen[te - ar->toc]++;
		res->blocks_seq++;
		walk_block(r, dec, &sink, blktype, (flags & PGB_WALK_PULL) != 0);
	}

	/* 2. by offset, as pg_restore does on a file */
	for (i = 0; i < ar->ntoc; i++)
	{
		te = &ar->toc[i];
		if (!te->had_dumper || te->data_state != PGB_OFFSET_SET)
			continue;
		pgb_reader_seek_block(r, te, &blktype);
		res->blocks_seek++;
		walk_block(r, dec, &sink, blktype, (flags & PGB_WALK_PULL) == 0);
	}

	/*
	 * 3. an entry with data but no block: restoring it would fail ("could
	 * not find block ID"), so the archive is corrupt
	 */
	for (i = 0; i < ar->ntoc; i++)
		if (ar->toc[i].had_dumper && seen[i] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: no data block for entry %d", ar->toc[i].dump_id)));
	pfree(seen);
}

static void
walk(const char *data, size_t len, const char *path, int flags, PgbWalkResult *res)
{
	MemoryContext cxt = pgb_shim_context_create("pgb walk");
	MemoryContext old = CurrentMemoryContext;
	PgbArchiveReader *volatile r = NULL;

	memset(res, 0, sizeof(*res));
	res->digest = 2166136261u;
	CurrentMemoryContext = cxt;
	PG_TRY();
	{
		if (path == NULL)
			r = pgb_reader_open_memory(data, len);
		else if (flags & PGB_WALK_SESSION)
			r = pgb_reader_open_file_session(path);
		else
			r = pgb_reader_open_file(path);
		walk_archive(r, flags, res);
		pgb_reader_close(r);
		res->ok = true;
	}
	PG_CATCH();
	{
		res->ok = false;
		res->error = *pgb_shim_last_error();
		/* a session file outlives the transaction: its owner closes it */
		if (r != NULL && (flags & PGB_WALK_SESSION))
			pgb_reader_close(r);
	}
	PG_END_TRY();
	CurrentMemoryContext = old;
	res->peak_bytes = pgb_shim_context_peak(cxt);
	/* what a transaction abort does: reset callbacks, memory, files */
	pgb_shim_context_delete(cxt);
	res->open_files = pgb_shim_close_files();
	if (!res->ok)
		res->open_files = 0;	/* closed by the abort, as in the backend */
	res->open_files += pgb_shim_external_fds();
}

void
pgb_walk_memory(const char *data, size_t len, int flags, PgbWalkResult *res)
{
	walk(data, len, NULL, flags, res);
}

void
pgb_walk_file(const char *path, int flags, PgbWalkResult *res)
{
	walk(NULL, 0, path, flags, res);
}

bool
pgb_walk_error_expected(const PgbWalkResult *res)
{
	if (res->ok)
		return true;
	return res->error.sqlerrcode == ERRCODE_DATA_CORRUPTED ||
		res->error.sqlerrcode == ERRCODE_FEATURE_NOT_SUPPORTED ||
		res->error.sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}
