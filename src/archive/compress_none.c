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
none_update(PgbCompressor *c, const char *data, size_t len)
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
	.c_update = none_update,
	.d_feed = none_feed,
};
