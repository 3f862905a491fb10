/*-------------------------------------------------------------------------
 *
 * compress_gzip.c
 *	  Compression "gzip": each data item is one zlib stream (RFC 1950), as
 *	  pg_dump writes it, possibly compressed in parts (sync-flushed raw
 *	  deflate pieces, Adler-32 combined).  zlib deflates; ISA-L inflates.
 *
 * src/archive/compress_gzip.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zlib.h>
#include <isa-l/igzip_lib.h>

#include "compress_ops.h"

typedef struct GzipState
{
	z_stream	zs;				/* compressor: zlib's deflate */
	struct inflate_state *inf;	/* decompressor: ISA-L's inflate */
	bool		init;			/* compressor: zs is initialized */
	bool		header_due;		/* compressor: the zlib header is not out yet */
	/* decompressor */
	int			hdr_left;		/* zlib header bytes still to read */
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

/*
 * Decompression runs ISA-L's inflate (igzip), not zlib's: on the COPY text
 * of real tables it inflates about 2.6 times as fast (bench/README.md), and
 * inflating is a restore's largest cost after the server's own COPY.  The
 * zlib header is read here, so a whole item runs as ISAL_ZLIB_NO_HDR_VER
 * (deflate data, then its Adler-32 trailer, which ISA-L checks) and a part
 * as raw deflate whose output's Adler-32 is computed here.
 */
static void
gzip_d_init(PgbDecompressor *d)
{
	GzipState  *s = palloc0(sizeof(GzipState));

	d->state = s;
	/* plain memory in the decompressor's context: nothing to release */
	s->inf = palloc(sizeof(struct inflate_state));
	isal_inflate_init(s->inf);
}

static void
gzip_d_begin(PgbDecompressor *d)
{
	GzipState  *s = d->state;

	isal_inflate_reset(s->inf);
	s->inf->crc_flag = d->in_parts ? ISAL_DEFLATE : ISAL_ZLIB_NO_HDR_VER;
	s->hdr_left = !d->in_parts || d->part_first ? 2 : 0;
	s->ntail = 0;
	s->ntrailer = 0;
	s->adler = isal_adler32(1, NULL, 0);
}

/* the zlib header (RFC 1950: deflate, no preset dictionary) */
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

static const char *
isal_error(int rc)
{
	switch (rc)
	{
		case ISAL_INVALID_BLOCK:
			return "invalid block type or lengths";
		case ISAL_INVALID_SYMBOL:
			return "invalid code";
		case ISAL_INVALID_LOOKBACK:
			return "invalid distance too far back";
		case ISAL_INCORRECT_CHECKSUM:
			return "incorrect data check";
		case ISAL_NEED_DICT:
			return "a preset dictionary is needed";
		default:
			return "invalid zlib stream";
	}
}

/*
 * Input after the end of the deflate data: the last part's Adler-32 trailer
 * (a whole item's was read and checked by ISA-L), else trailing data.
 */
static void
after_end(PgbDecompressor *d, GzipState *s, const unsigned char *data, size_t len)
{
	while (len > 0 && d->in_parts && d->part_last && s->ntrailer < 4)
	{
		s->trailer[s->ntrailer++] = *data++;
		len--;
	}
	if (len > 0)
		pgb_decompress_corrupt(d, "trailing data after the end of the zlib stream");
}

/*
 * The deflate data ended: ISA-L reads its input ahead, eight bytes at a
 * time, so the bytes after the end may be partly in its bit buffer (whole
 * bytes in its low-order bits, after the final block's padding bits) and
 * partly still in next_in.
 */
static void
stream_ended(PgbDecompressor *d, GzipState *s)
{
	struct inflate_state *st = s->inf;
	unsigned char buffered[8];
	int			bits = st->read_in_length;
	uint64		v = st->read_in;
	size_t		n = 0;

	d->finished = true;
	if (bits > 0)
	{
		v >>= bits % 8;
		bits -= bits % 8;
		while (bits >= 8 && n < sizeof(buffered))
		{
			buffered[n++] = (unsigned char) (v & 0xFF);
			v >>= 8;
			bits -= 8;
		}
	}
	after_end(d, s, buffered, n);
	after_end(d, s, st->next_in, st->avail_in);
}

/* isal_inflate() into the output buffer until the input is used up */
static void
inflate_input(PgbDecompressor *d, GzipState *s)
{
	struct inflate_state *st = s->inf;

	for (;;)
	{
		uint32		in_before = st->avail_in;
		int			rc;
		size_t		n;

		st->next_out = (uint8_t *) d->out;
		st->avail_out = PGB_CHUNK_SIZE;
		rc = isal_inflate(st);
		if (rc < 0 || rc == ISAL_NEED_DICT)
			pgb_decompress_corrupt(d, isal_error(rc));
		n = PGB_CHUNK_SIZE - st->avail_out;
		if (d->in_parts && n > 0)
			s->adler = isal_adler32(s->adler, (const unsigned char *) d->out, n);
		pgb_decompress_emit(d, d->out, n);
		if (st->block_state == ISAL_BLOCK_FINISH)
		{
			stream_ended(d, s);
			return;
		}
		if (st->avail_out != 0 && st->avail_in == 0)
			return;
		if (n == 0 && st->avail_in == in_before)
			pgb_decompress_corrupt(d, "invalid zlib stream");
	}
}

static void
gzip_d_feed(PgbDecompressor *d, const char *data, size_t len)
{
	GzipState  *s = d->state;

	if (d->in_parts)
		keep_tail(s, data, len);
	if (s->hdr_left > 0)
	{
		size_t		n = read_zlib_header(d, s, data, len);

		data += n;
		len -= n;
	}
	if (len == 0)
		return;
	if (d->finished)
	{
		after_end(d, s, (const unsigned char *) data, len);
		return;
	}
	s->inf->next_in = (uint8_t *) data;
	s->inf->avail_in = (uint32) len;
	inflate_input(d, s);
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
};
