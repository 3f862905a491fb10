/*-------------------------------------------------------------------------
 *
 * compress_none.c
 *	  Compression "none": data items hold the plain bytes.
 *
 * src/archive/compress_none.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compress_ops.h"

static void
none_compress(PgbCompressor *c, const char *data, size_t len, bool finish)
{
	pgb_compress_emit(c, data, len);
}

static void
none_feed(PgbDecompressor *d, const char *data, size_t len)
{
	pgb_decompress_emit(d, data, len);
}

const PgbCompressOps pgb_compress_none_ops = {
	.alg = PGB_COMPRESS_NONE,
	.name = "none",
	.c_compress = none_compress,
	.d_feed = none_feed,
};
