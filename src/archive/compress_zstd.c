/*-------------------------------------------------------------------------
 *
 * compress_zstd.c
 *	  Compression "zstd": each data item is one zstd frame, or one frame per
 *	  part of an item compressed in parts, each starting a chunk (archive
 *	  version 1.15, pg_restore 16 or later).
 *
 * src/archive/compress_zstd.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>

#include "compress_ops.h"

/* ---- compressor ---- */

static void
zstd_c_init(PgbCompressor *c)
{
	ZSTD_CCtx  *cctx = ZSTD_createCCtx();

	if (cctx == NULL)
		pgb_compress_init_failed("zstd", "compression");
	c->state = cctx;
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel,
						   c->spec.level < 0 ? ZSTD_CLEVEL_DEFAULT : c->spec.level);
}

static void
zstd_c_release(PgbCompressor *c)
{
	if (c->state)
		ZSTD_freeCCtx((ZSTD_CCtx *) c->state);
	c->state = NULL;
}

static void
zstd_c_begin(PgbCompressor *c)
{
	ZSTD_CCtx_reset(c->state, ZSTD_reset_session_only);
}

static void
zstd_compress(PgbCompressor *c, const char *data, size_t len, bool finish)
{
	ZSTD_EndDirective mode = finish ? ZSTD_e_end : ZSTD_e_continue;
	ZSTD_inBuffer in = {data, len, 0};
	size_t		remaining;

	do
	{
		ZSTD_outBuffer out = {c->out, c->outcap, 0};

		remaining = ZSTD_compressStream2(c->state, &out, &in, mode);
		if (ZSTD_isError(remaining))
			pgb_compress_failed("zstd", ZSTD_getErrorName(remaining));
		pgb_compress_emit(c, c->out, out.pos);
	} while (mode == ZSTD_e_end ? remaining != 0 : in.pos < in.size);
}

/* ---- decompressor ---- */

static void
zstd_d_init(PgbDecompressor *d)
{
	ZSTD_DCtx  *dctx = ZSTD_createDCtx();

	if (dctx == NULL)
		pgb_compress_init_failed("zstd", "decompression");
	d->state = dctx;
}

static void
zstd_d_release(PgbDecompressor *d)
{
	if (d->state)
		ZSTD_freeDCtx((ZSTD_DCtx *) d->state);
	d->state = NULL;
}

static void
zstd_d_begin(PgbDecompressor *d)
{
	ZSTD_DCtx_reset(d->state, ZSTD_reset_session_only);
}

/* one ZSTD_decompressStream() call into the output buffer */
static void
decompress_once(PgbDecompressor *d, ZSTD_inBuffer *in, ZSTD_outBuffer *out)
{
	size_t		rc = ZSTD_decompressStream(d->state, out, in);

	if (ZSTD_isError(rc))
		pgb_decompress_corrupt(d, ZSTD_getErrorName(rc));
	pgb_decompress_emit(d, d->out, out->pos);
	if (rc == 0)
		d->finished = true;
}

/*
 * frame_starts
 *		Whether a chunk begins a zstd frame (its magic number, as far as the
 *		chunk goes: a frame may be cut into 1-byte chunks).
 */
static bool
frame_starts(const char *data, size_t len)
{
	static const unsigned char magic[4] = {0x28, 0xB5, 0x2F, 0xFD};

	return memcmp(data, magic, Min(len, sizeof(magic))) == 0;
}

static void
zstd_d_feed(PgbDecompressor *d, const char *data, size_t len)
{
	ZSTD_inBuffer in = {data, len, 0};

	/*
	 * Another frame may follow a finished one at a chunk boundary (an item
	 * compressed in parts); within a chunk pg_restore would drop it.
	 */
	if (d->finished && frame_starts(data, len))
		d->finished = false;
	while (in.pos < in.size)
	{
		ZSTD_outBuffer out = {d->out, PGB_CHUNK_SIZE, 0};

		if (d->finished)
			pgb_decompress_corrupt(d, "trailing data after the end of the zstd frame");
		decompress_once(d, &in, &out);
	}
	/* flush output still held in the context */
	while (!d->finished)
	{
		ZSTD_inBuffer empty = {NULL, 0, 0};
		ZSTD_outBuffer out = {d->out, PGB_CHUNK_SIZE, 0};

		decompress_once(d, &empty, &out);
		if (out.pos < out.size)
			break;
	}
}

const PgbCompressOps pgb_compress_zstd_ops = {
	.alg = PGB_COMPRESS_ZSTD,
	.name = "zstd",
	.min_level = 1,
	.max_level = ZSTD_maxCLevel,
	.default_level = ZSTD_CLEVEL_DEFAULT,
	.unit = "zstd frame",
	.empty_ok = true,
	.c_init = zstd_c_init,
	.c_begin = zstd_c_begin,
	.c_compress = zstd_compress,
	.c_release = zstd_c_release,
	.d_init = zstd_d_init,
	.d_begin = zstd_d_begin,
	.d_feed = zstd_d_feed,
	.d_release = zstd_d_release,
};
