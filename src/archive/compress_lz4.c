/*-------------------------------------------------------------------------
 *
 * compress_lz4.c
 *	  Compression "lz4": each data item is one LZ4 frame, or one frame per
 *	  part of an item compressed in parts (archive version 1.15, pg_restore
 *	  16 or later).
 *
 * src/archive/compress_lz4.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <lz4frame.h>

#include "compress_ops.h"

static int
lz4_max_level(void)
{
	return 12;
}

static size_t
lz4_check(size_t rc)
{
	if (LZ4F_isError(rc))
		pgb_compress_failed("lz4", LZ4F_getErrorName(rc));
	return rc;
}

/* ---- compressor ---- */

static void
lz4_c_init(PgbCompressor *c)
{
	LZ4F_cctx  *cctx = NULL;
	size_t		cap;

	if (LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)))
		pgb_compress_init_failed("lz4", "compression");
	c->state = cctx;
	/* worst case output of one update of incap bytes */
	cap = LZ4F_compressBound(c->incap, NULL);
	if (cap > c->outcap)
	{
		pfree(c->out);
		c->out = palloc(cap);
		c->outcap = cap;
	}
}

static void
lz4_c_release(PgbCompressor *c)
{
	if (c->state)
		LZ4F_freeCompressionContext((LZ4F_cctx *) c->state);
	c->state = NULL;
}

static void
lz4_c_begin(PgbCompressor *c)
{
	LZ4F_preferences_t prefs;

	memset(&prefs, 0, sizeof(prefs));
	prefs.compressionLevel = c->spec.level < 0 ? 0 : c->spec.level;
	pgb_compress_emit(c, c->out,
					  lz4_check(LZ4F_compressBegin(c->state, c->out, c->outcap, &prefs)));
}

static void
lz4_compress(PgbCompressor *c, const char *data, size_t len, bool finish)
{
	size_t		n;

	if (finish)
		n = LZ4F_compressEnd(c->state, c->out, c->outcap, NULL);
	else
		n = LZ4F_compressUpdate(c->state, c->out, c->outcap, data, len, NULL);
	pgb_compress_emit(c, c->out, lz4_check(n));
}

/* ---- decompressor ---- */

static void
lz4_d_init(PgbDecompressor *d)
{
	LZ4F_dctx  *dctx = NULL;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
		pgb_compress_init_failed("lz4", "decompression");
	d->state = dctx;
}

static void
lz4_d_release(PgbDecompressor *d)
{
	if (d->state)
		LZ4F_freeDecompressionContext((LZ4F_dctx *) d->state);
	d->state = NULL;
}

static void
lz4_d_begin(PgbDecompressor *d)
{
	LZ4F_resetDecompressionContext(d->state);
}

static void
lz4_d_feed(PgbDecompressor *d, const char *data, size_t len)
{
	const char *p = data;
	size_t		left = len;

	while (left > 0 || !d->finished)
	{
		size_t		outsz = PGB_CHUNK_SIZE;
		size_t		insz = left;
		size_t		rc;

		rc = LZ4F_decompress(d->state, d->out, &outsz, p, &insz, NULL);
		if (LZ4F_isError(rc))
			pgb_decompress_corrupt(d, LZ4F_getErrorName(rc));
		p += insz;
		left -= insz;
		pgb_decompress_emit(d, d->out, outsz);
		d->finished = (rc == 0);
		if (left == 0 && outsz < PGB_CHUNK_SIZE)
			break;
	}
}

const PgbCompressOps pgb_compress_lz4_ops = {
	.alg = PGB_COMPRESS_LZ4,
	.name = "lz4",
	.min_level = 1,
	.max_level = lz4_max_level,
	.default_level = 1,
	.unit = "lz4 frame",
	.empty_ok = true,
	.c_init = lz4_c_init,
	.c_begin = lz4_c_begin,
	.c_compress = lz4_compress,
	.c_release = lz4_c_release,
	.d_init = lz4_d_init,
	.d_begin = lz4_d_begin,
	.d_feed = lz4_d_feed,
	.d_release = lz4_d_release,
};
