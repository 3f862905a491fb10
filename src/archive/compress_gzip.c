/*-------------------------------------------------------------------------
 *
 * compress_gzip.c
 *	  Compression "gzip": each data item is one zlib stream (RFC 1950), as
 *	  pg_dump writes it, possibly compressed in parts (sync-flushed raw
 *	  deflate pieces, Adler-32 combined).
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
	bool		header_due;		/* compressor: the zlib header is not out yet */
	/* decompressor of one part (PgbDecompressor.in_parts): raw inflate */
	int			hdr_left;		/* zlib header bytes still to read (first part) */
	unsigned char hdr[2];
	unsigned char tail[4];		/* the last input bytes (sync flush marker) */
	int			ntail;
	unsigned char trailer[4];	/* Adler-32 trailer after the final block */
	int			ntrailer;
	uint32		adler;			/* of this part's output */
} GzipState;

static int
gzip_max_level(void)
{
	return 9;
}

/* ---- compressor ---- */

/*
 * The compressor runs raw deflate and writes the zlib wrapper itself (the
 * two header bytes deflateInit would write, the Adler-32 trailer), so that
 * an item can also be compressed in parts: see pgb_compressor_begin_part.
 */
/*
 * "gzip" without a level: 4, not zlib's default 6 (pg_dump's).  On the COPY
 * text of real tables it deflates a third faster or more for archives about 3%
 * larger (bench/README.md); "gzip:6" is pg_dump's exactly.
 */
#define PGB_GZIP_DEFAULT_LEVEL 4

static int
gzip_level(PgbCompressor *c)
{
	return c->spec.level < 0 ? PGB_GZIP_DEFAULT_LEVEL : c->spec.level;
}

static void
gzip_c_init(PgbCompressor *c)
{
	GzipState  *s = palloc0(sizeof(GzipState));

	c->state = s;
	if (deflateInit2(&s->zs, gzip_level(c), Z_DEFLATED, -MAX_WBITS, 8,
					 Z_DEFAULT_STRATEGY) != Z_OK)
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

/* RFC 1950 header, as zlib's deflate writes it for this level */
static void
zlib_header(PgbCompressor *c, char *bytes)
{
	int			level = gzip_level(c);
	unsigned	header = (Z_DEFLATED + ((MAX_WBITS - 8) << 4)) << 8;
	unsigned	flags = level < 2 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;

	header |= flags << 6;
	header += 31 - (header % 31);
	bytes[0] = (char) (header >> 8);
	bytes[1] = (char) (header & 0xFF);
}

static void
gzip_c_begin(PgbCompressor *c)
{
	GzipState  *s = c->state;

	if (deflateReset(&s->zs) != Z_OK)
		elog(ERROR, "deflateReset failed");
	c->part_check = adler32(0L, Z_NULL, 0);
	s->header_due = c->part_first;
}

/*
 * gzip_compress
 *		Deflate into the output buffer, the zlib header in front of the
 *		first output of an item's first part; a whole item's last output is
 *		followed by its Adler-32 (an item in parts gets it from
 *		pgb_compression_parts_trailer).
 */
static void
gzip_compress(PgbCompressor *c, const char *data, size_t len, bool finish)
{
	GzipState  *s = c->state;
	int			flush = !finish ? Z_NO_FLUSH : c->part_last ? Z_FINISH : Z_SYNC_FLUSH;
	bool		trailer = finish && c->part_first && c->part_last;
	int			rc;

	if (len > 0)
		c->part_check = adler32(c->part_check, (const Bytef *) data, len);
	s->zs.next_in = (Bytef *) data;
	s->zs.avail_in = len;
	do
	{
		size_t		pre = 0;
		size_t		n;

		if (s->header_due)
		{
			zlib_header(c, c->out);
			pre = 2;
		}
		s->zs.next_out = (Bytef *) c->out + pre;
		s->zs.avail_out = c->outcap - pre;
		rc = deflate(&s->zs, flush);
		if (rc == Z_STREAM_ERROR)
			pgb_compress_failed("zlib", NULL);
		n = c->outcap - s->zs.avail_out;
		if (n > pre)
			s->header_due = false;
		else
			n = 0;				/* no output yet: the header waits for it */
		if (trailer && rc == Z_STREAM_END && s->zs.avail_out >= 4)
		{
			pgb_put_adler32(c->out + n, c->part_check);
			n += 4;
			trailer = false;
		}
		pgb_compress_emit(c, c->out, n);
	} while (s->zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
	if (trailer)
	{
		char		t[4];

		pgb_put_adler32(t, c->part_check);
		pgb_compress_emit(c, t, 4);
	}
}

uint32
pgb_gzip_adler32_combine(uint32 a, uint32 b, uint64 blen)
{
	return (uint32) adler32_combine64(a, b, (z_off64_t) blen);
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

	/* a part alone is raw deflate: its zlib header is read here */
	if (inflateReset2(&s->zs, d->in_parts ? -MAX_WBITS : MAX_WBITS) != Z_OK)
		pgb_decompress_corrupt(d, "could not reset the zlib stream");
	s->hdr_left = d->in_parts && d->part_first ? 2 : 0;
	s->ntail = 0;
	s->ntrailer = 0;
	s->adler = (uint32) adler32(0L, Z_NULL, 0);
}

/* a part: the zlib header of the first (RFC 1950: deflate, no dictionary) */
static size_t
read_zlib_header(PgbDecompressor *d, GzipState *s, const char *data, size_t len)
{
	size_t		n = Min(len, (size_t) s->hdr_left);

	memcpy(s->hdr + (2 - s->hdr_left), data, n);
	s->hdr_left -= n;
	if (s->hdr_left == 0 &&
		((s->hdr[0] & 0x0F) != Z_DEFLATED || (s->hdr[0] >> 4) > 7 ||
		 ((s->hdr[0] << 8) | s->hdr[1]) % 31 != 0 || (s->hdr[1] & 0x20) != 0))
		pgb_decompress_corrupt(d, "incorrect header check");
	return n;
}

/* a part: remember its last four bytes of input */
static void
keep_tail(GzipState *s, const char *data, size_t len)
{
	if (len >= 4)
	{
		memcpy(s->tail, data + len - 4, 4);
		s->ntail = 4;
		return;
	}
	while (len-- > 0)
	{
		if (s->ntail == 4)
		{
			memmove(s->tail, s->tail + 1, 3);
			s->ntail = 3;
		}
		s->tail[s->ntail++] = (unsigned char) *data++;
	}
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
	if (d->in_parts)
		s->adler = (uint32) adler32(s->adler, (const Bytef *) d->out,
									PGB_CHUNK_SIZE - s->zs.avail_out);
	pgb_decompress_emit(d, d->out, PGB_CHUNK_SIZE - s->zs.avail_out);
	if (rc == Z_STREAM_END)
		d->finished = true;
	return rc;
}

static void
gzip_d_feed(PgbDecompressor *d, const char *data, size_t len)
{
	GzipState  *s = d->state;

	if (d->in_parts)
	{
		size_t		n = s->hdr_left > 0 ? read_zlib_header(d, s, data, len) : 0;

		keep_tail(s, data, len);
		data += n;
		len -= n;
	}
	s->zs.next_in = (Bytef *) data;
	s->zs.avail_in = len;
	while (s->zs.avail_in > 0)
	{
		/* the last part: the Adler-32 trailer follows the final block */
		if (d->finished && d->in_parts && d->part_last && s->ntrailer < 4)
		{
			s->trailer[s->ntrailer++] = *s->zs.next_in++;
			s->zs.avail_in--;
			continue;
		}
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

/*
 * The end of a part's input: a part before the last ends with a sync flush
 * (an empty stored block: 00 00 FF FF), the last with the final block and
 * the trailer, which the caller checks against every part's Adler-32.
 */
static void
gzip_d_end(PgbDecompressor *d)
{
	GzipState  *s = d->state;

	if (!d->in_parts)
		return;
	if (s->hdr_left > 0)
		pgb_decompress_corrupt(d, "truncated zlib header");
	d->part.has_check = true;
	d->part.check = s->adler;
	d->part.len = (uint64) d->produced;
	if (!d->part_last)
	{
		static const unsigned char sync[4] = {0x00, 0x00, 0xFF, 0xFF};

		if (s->ntail != 4 || memcmp(s->tail, sync, 4) != 0)
			pgb_decompress_corrupt(d, "a part of the zlib stream does not end with a sync flush");
	}
	else if (d->finished)
	{
		if (s->ntrailer != 4)
			pgb_decompress_corrupt(d, "truncated Adler-32 trailer");
		d->part.has_trailer = true;
		d->part.trailer = ((uint32) s->trailer[0] << 24) | ((uint32) s->trailer[1] << 16) |
			((uint32) s->trailer[2] << 8) | (uint32) s->trailer[3];
	}
}

const PgbCompressOps pgb_compress_gzip_ops = {
	.alg = PGB_COMPRESS_GZIP,
	.name = "gzip",
	.min_level = 1,
	.max_level = gzip_max_level,
	.default_level = PGB_GZIP_DEFAULT_LEVEL,
	.unit = "zlib stream",
	.empty_ok = false,
	.c_init = gzip_c_init,
	.c_begin = gzip_c_begin,
	.c_compress = gzip_compress,
	.c_release = gzip_c_release,
	.d_init = gzip_d_init,
	.d_begin = gzip_d_begin,
	.d_feed = gzip_d_feed,
	.d_end = gzip_d_end,
	.d_release = gzip_d_release,
};
