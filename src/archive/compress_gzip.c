/*-------------------------------------------------------------------------
 *
 * compress_gzip.c
 *	  Compression "gzip": each data item is one zlib stream (RFC 1950), as
 *	  pg_dump writes it.
 *
 * src/archive/compress_gzip.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zlib.h>

#include "compress_ops.h"

typedef struct GzipState
{
	z_stream	zs;
	bool		init;
} GzipState;

static int
gzip_max_level(void)
{
	return 9;
}

/* ---- compressor ---- */

static void
gzip_c_init(PgbCompressor *c)
{
	GzipState  *s = palloc0(sizeof(GzipState));

	c->state = s;
	if (deflateInit(&s->zs, c->spec.level < 0 ? Z_DEFAULT_COMPRESSION : c->spec.level) != Z_OK)
		pgb_compress_init_failed("zlib", "compression");
	s->init = true;
}

static void
gzip_c_release(PgbCompressor *c)
{
	GzipState  *s = c->state;

	if (s && s->init)
		deflateEnd(&s->zs);
	if (s)
		s->init = false;
}

static void
gzip_c_begin(PgbCompressor *c)
{
	GzipState  *s = c->state;

	if (deflateReset(&s->zs) != Z_OK)
		elog(ERROR, "deflateReset failed");
}

static void
gzip_compress(PgbCompressor *c, const char *data, size_t len, bool finish)
{
	GzipState  *s = c->state;
	int			flush = finish ? Z_FINISH : Z_NO_FLUSH;
	int			rc;

	s->zs.next_in = (Bytef *) data;
	s->zs.avail_in = len;
	do
	{
		s->zs.next_out = (Bytef *) c->out;
		s->zs.avail_out = c->outcap;
		rc = deflate(&s->zs, flush);
		if (rc == Z_STREAM_ERROR)
			pgb_compress_failed("zlib", NULL);
		pgb_compress_emit(c, c->out, c->outcap - s->zs.avail_out);
	} while (s->zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

/* ---- decompressor ---- */

static void
gzip_d_init(PgbDecompressor *d)
{
	GzipState  *s = palloc0(sizeof(GzipState));

	d->state = s;
	if (inflateInit(&s->zs) != Z_OK)
		pgb_compress_init_failed("zlib", "decompression");
	s->init = true;
}

static void
gzip_d_release(PgbDecompressor *d)
{
	GzipState  *s = d->state;

	if (s && s->init)
		inflateEnd(&s->zs);
	if (s)
		s->init = false;
}

static void
gzip_d_begin(PgbDecompressor *d)
{
	GzipState  *s = d->state;

	inflateReset(&s->zs);
}

/* one inflate() call into the output buffer; returns its result */
static int
inflate_once(PgbDecompressor *d, GzipState *s)
{
	int			rc;

	s->zs.next_out = (Bytef *) d->out;
	s->zs.avail_out = PGB_CHUNK_SIZE;
	rc = inflate(&s->zs, Z_NO_FLUSH);
	if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
		pgb_decompress_corrupt(d, s->zs.msg ? s->zs.msg : "invalid zlib stream");
	pgb_decompress_emit(d, d->out, PGB_CHUNK_SIZE - s->zs.avail_out);
	if (rc == Z_STREAM_END)
		d->finished = true;
	return rc;
}

static void
gzip_d_feed(PgbDecompressor *d, const char *data, size_t len)
{
	GzipState  *s = d->state;

	s->zs.next_in = (Bytef *) data;
	s->zs.avail_in = len;
	while (s->zs.avail_in > 0)
	{
		if (d->finished)
			pgb_decompress_corrupt(d, "trailing data after the end of the zlib stream");
		if (inflate_once(d, s) == Z_BUF_ERROR && s->zs.avail_out != 0)
			break;
	}
	/* drain pending output */
	while (!d->finished)
	{
		(void) inflate_once(d, s);
		if (s->zs.avail_out != 0)
			break;
	}
}

const PgbCompressOps pgb_compress_gzip_ops = {
	.alg = PGB_COMPRESS_GZIP,
	.name = "gzip",
	.min_level = 1,
	.max_level = gzip_max_level,
	.default_level = 6,			/* Z_DEFAULT_COMPRESSION */
	.unit = "zlib stream",
	.empty_ok = false,
	.c_init = gzip_c_init,
	.c_begin = gzip_c_begin,
	.c_compress = gzip_compress,
	.c_release = gzip_c_release,
	.d_init = gzip_d_init,
	.d_begin = gzip_d_begin,
	.d_feed = gzip_d_feed,
	.d_release = gzip_d_release,
};
