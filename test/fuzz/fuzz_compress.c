/*-------------------------------------------------------------------------
 *
 * fuzz_compress.c
 *	  libFuzzer target for the compressors of src/archive/compress.c: compress the
 *	  input with every algorithm, check the chunking contract of compress.h
 *	  (chunks never empty and at most PGB_CHUNK_SIZE bytes), decompress and
 *	  compare.  The first bytes choose the algorithm, level and how the
 *	  input is cut into writes; a prefix also goes through
 *	  pgb_compression_parse.  Any difference, crash or sanitizer report is a
 *	  finding.  Run with: test/fuzz/run-fuzz.sh SECONDS compress
 *
 * test/fuzz/fuzz_compress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "compress.h"

#include "pgb_shim.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	int			nchunks;
} Buf;

static void
finding(const char *what)
{
	fprintf(stderr, "fuzz_compress: %s\n", what);
	abort();
}

static void
collect(void *arg, const char *data, size_t len)
{
	Buf		   *b = (Buf *) arg;

	if (b->len + len > b->cap)
	{
		b->cap = Max(b->cap * 2, b->len + len);
		b->data = b->data ? repalloc_huge(b->data, b->cap) : palloc(b->cap);
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->nchunks++;
}

/* the compressor's sink: chunks as compress.h promises them */
static void
collect_chunk(void *arg, const char *data, size_t len)
{
	if (len == 0)
		finding("the compressor emitted an empty chunk");
	if (len > PGB_CHUNK_SIZE)
		finding("the compressor emitted a chunk larger than PGB_CHUNK_SIZE");
	collect(arg, data, len);
}

static void
roundtrip(PgbCompression alg, int level, const char *data, size_t len, size_t piece)
{
	PgbCompressionSpec spec = {alg, level};
	PgbCompressor *c = pgb_compressor_create(&spec);
	PgbDecompressor *d = pgb_decompressor_create(alg, -1);
	Buf			z = {0},
				out = {0};
	size_t		off;
	int			item;

	/* two items through the same compressor, as the writer does */
	for (item = 0; item < 2; item++)
	{
		z.len = out.len = 0;
		pgb_compressor_begin(c, collect_chunk, &z);
		for (off = 0; off < len; off += piece)
			pgb_compressor_write(c, data + off, Min(piece, len - off));
		pgb_compressor_end(c);
		if (alg != PGB_COMPRESS_NONE && z.len == 0)
			finding("no compressed output");

		pgb_decompressor_begin(d, collect, &out);
		for (off = 0; off < z.len; off += piece)
			pgb_decompressor_feed(d, z.data + off, Min(piece, z.len - off));
		if (pgb_decompressor_end(d) != (int64) len || out.len != len ||
			(len > 0 && memcmp(out.data, data, len) != 0))
			finding("the round trip changed the data");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MemoryContext cxt;
	PgbCompression alg;
	int			level;
	size_t		piece;
	char		text[40];
	size_t		tlen;

	if (size < 3)
		return 0;
	alg = (PgbCompression) (data[0] % 4);
	switch (alg)
	{
		case PGB_COMPRESS_GZIP:
			level = data[1] % 10 - 1;
			break;
		case PGB_COMPRESS_LZ4:
			level = data[1] % 13 - 1;
			break;
		case PGB_COMPRESS_ZSTD:
			level = data[1] % 8 - 1;	/* the slow levels would time out */
			break;
		default:
			level = 0;
			break;
	}
	piece = 1 + (size_t) data[2] * data[2] * 4;

	pgb_shim_set_alloc_limit((size_t) 64 * 1024 * 1024 + 8 * size);
	cxt = pgb_shim_context_create("fuzz compress");
	CurrentMemoryContext = cxt;
	PG_TRY();
	{
		PgbCompressionSpec spec;
		char	   *err;

		tlen = Min(size - 3, sizeof(text) - 1);
		memcpy(text, data + 3, tlen);
		text[tlen] = '\0';
		if (pgb_compression_parse(text, &spec, &err))
			(void) pgb_compression_effective_level(&spec);
		roundtrip(alg, level, (const char *) data + 3, size - 3, piece);
	}
	PG_CATCH();
	{
		const PgbShimError *e = pgb_shim_last_error();

		fprintf(stderr, "fuzz_compress: unexpected error %s: %s (%s:%d)\n",
				e->sqlstate, e->message, e->filename, e->lineno);
		abort();
	}
	PG_END_TRY();
	CurrentMemoryContext = NULL;
	pgb_shim_context_delete(cxt);
	return 0;
}
