/*-------------------------------------------------------------------------
 *
 * compress.c
 *	  Streaming compressors and decompressors for archive data items: the
 *	  part every algorithm shares (settings, buffers, chunking, the output
 *	  limit, cleanup), over the per-algorithm PgbCompressOps of
 *	  compress_none.c, compress_gzip.c, compress_lz4.c and compress_zstd.c.
 *
 * The framing rules come from the custom archive format: gzip data is one
 * zlib stream (RFC 1950) per item, lz4 and zstd frames (one per item, or
 * one per part of an item compressed in parts), and "none" the raw bytes.  Library contexts are allocated by the
 * libraries with malloc; a memory context callback frees them, so an ERROR
 * anywhere never leaks them.
 *
 * src/archive/compress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "compress.h"
#include "compress_ops.h"

#define PGB_COMPRESSION_SYNTAX "use none, gzip, lz4 or zstd, optionally followed by :level"

static const PgbCompressOps *const all_ops[] = {
	[PGB_COMPRESS_NONE] = &pgb_compress_none_ops,
	[PGB_COMPRESS_GZIP] = &pgb_compress_gzip_ops,
	[PGB_COMPRESS_LZ4] = &pgb_compress_lz4_ops,
	[PGB_COMPRESS_ZSTD] = &pgb_compress_zstd_ops,
};

const PgbCompressOps *
pgb_compress_ops(PgbCompression alg)
{
	if ((int) alg < 0 || (int) alg >= (int) lengthof(all_ops))
		return NULL;
	return all_ops[alg];
}

static const PgbCompressOps *
ops_or_error(PgbCompression alg)
{
	const PgbCompressOps *ops = pgb_compress_ops(alg);

	if (ops == NULL)
		elog(ERROR, "unknown compression algorithm %d", (int) alg);
	return ops;
}

static const PgbCompressOps *
ops_by_name(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(all_ops); i++)
		if (pg_strcasecmp(name, all_ops[i]->name) == 0)
			return all_ops[i];
	return NULL;
}

/* the level after the colon, or -1 with *errmsg set */
static bool
parse_level(const char *text, int *level, char **errmsg)
{
	char	   *end;
	long		l;

	errno = 0;
	l = strtol(text, &end, 10);
	if (text[0] == '\0' || *end != '\0' || errno != 0 || l < -100 || l > 100)
	{
		*errmsg = psprintf("Invalid compression level \"%s\".", text);
		return false;
	}
	*level = (int) l;
	return true;
}

bool
pgb_compression_parse(const char *text, PgbCompressionSpec *spec, char **errmsg)
{
	char		name[32];
	const char *colon;
	int			level = -1;
	const PgbCompressOps *ops;

	*errmsg = NULL;
	if (text == NULL || text[0] == '\0')
	{
		*errmsg = pstrdup("The compression must be none, gzip, lz4 or zstd, optionally followed by :level.");
		return false;
	}
	colon = strchr(text, ':');
	if ((colon ? (size_t) (colon - text) : strlen(text)) >= sizeof(name))
	{
		*errmsg = psprintf("Unknown compression \"%s\"; " PGB_COMPRESSION_SYNTAX ".", text);
		return false;
	}
	strlcpy(name, text, colon ? (size_t) (colon - text) + 1 : sizeof(name));
	if (colon && !parse_level(colon + 1, &level, errmsg))
		return false;

	ops = ops_by_name(name);
	if (ops == NULL)
	{
		*errmsg = psprintf("Unknown compression \"%s\"; " PGB_COMPRESSION_SYNTAX ".", text);
		return false;
	}
	spec->alg = ops->alg;
	if (ops->max_level == NULL)
	{
		if (colon && level != 0)
		{
			*errmsg = psprintf("Compression \"%s\" takes no level.", ops->name);
			return false;
		}
		spec->level = 0;
		return true;
	}
	if (colon && (level < ops->min_level || level > ops->max_level()))
	{
		*errmsg = psprintf("The %s compression level must be between %d and %d.",
						   name, ops->min_level, ops->max_level());
		return false;
	}
	spec->level = colon ? level : -1;
	return true;
}

const char *
pgb_compression_name(PgbCompression alg)
{
	const PgbCompressOps *ops = pgb_compress_ops(alg);

	return ops ? ops->name : "unknown";
}

int
pgb_compression_effective_level(const PgbCompressionSpec *spec)
{
	const PgbCompressOps *ops = pgb_compress_ops(spec->alg);

	if (ops == NULL || ops->max_level == NULL)
		return 0;
	return spec->level >= 0 ? spec->level : ops->default_level;
}

/* ---------------------------------------------------------------------
 * errors shared by the algorithms
 * ---------------------------------------------------------------------
 */

void
pgb_compress_init_failed(const char *lib, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("could not initialize %s %s", lib, what)));
}

void
pgb_compress_failed(const char *lib, const char *why)
{
	if (why)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("%s compression failed: %s", lib, why)));
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("%s compression failed", lib)));
}

void
pgb_decompress_corrupt(PgbDecompressor *d, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("could not decompress %s data: %s", d->ops->name, what)));
}

/* ---------------------------------------------------------------------
 * compressor
 * ---------------------------------------------------------------------
 */

static void
compressor_release(void *arg)
{
	PgbCompressor *c = (PgbCompressor *) arg;

	if (c->ops->c_release)
		c->ops->c_release(c);
}

PgbCompressor *
pgb_compressor_create(const PgbCompressionSpec *spec)
{
	PgbCompressor *c = palloc0(sizeof(PgbCompressor));

	c->ops = ops_or_error(spec->alg);
	c->spec = *spec;
	c->outcap = PGB_CHUNK_SIZE;
	c->out = palloc(c->outcap);
	c->incap = PGB_CHUNK_SIZE;
	c->in = palloc(c->incap);
	c->cb.func = compressor_release;
	c->cb.arg = c;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &c->cb);
	if (c->ops->c_init)
		c->ops->c_init(c);
	return c;
}

/*
 * pgb_compress_emit
 *		Hand output to the sink in chunks of at most PGB_CHUNK_SIZE bytes:
 *		lz4's worst case for a full input buffer (incompressible data) is a
 *		little more.
 */
void
pgb_compress_emit(PgbCompressor *c, const char *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = Min(len, PGB_CHUNK_SIZE);

		c->sink(c->arg, data, n);
		data += n;
		len -= n;
	}
}

static void
flush_input(PgbCompressor *c)
{
	if (c->inlen == 0)
		return;
	c->ops->c_compress(c, c->in, c->inlen, false);
	c->inlen = 0;
}

void
pgb_compressor_begin_part(PgbCompressor *c, PgbByteSink sink, void *arg,
						  bool first, bool last)
{
	c->sink = sink;
	c->arg = arg;
	c->inlen = 0;
	c->part_first = first;
	c->part_last = last;
	c->part_check = 0;
	if (c->ops->c_begin)
		c->ops->c_begin(c);
}

void
pgb_compressor_begin(PgbCompressor *c, PgbByteSink sink, void *arg)
{
	pgb_compressor_begin_part(c, sink, arg, true, true);
}

/* after pgb_compressor_end: what the parts trailer needs of this part */
uint32
pgb_compressor_part_check(PgbCompressor *c)
{
	return c->part_check;
}

/*
 * pgb_compression_parts_trailer
 *		The bytes that close an item made of nparts parts (checks and lens:
 *		each part's pgb_compressor_part_check and input length), into out
 *		(PGB_PARTS_TRAILER_MAX bytes); returns their number.  Only a gzip
 *		item of several parts has any: the zlib stream's Adler-32.
 */
int
pgb_compression_parts_trailer(PgbCompression alg, int nparts,
							  const uint32 *checks, const uint64 *lens, char *out)
{
	uint32		adler;
	int			i;

	if (alg != PGB_COMPRESS_GZIP || nparts <= 1)
		return 0;
	adler = checks[0];
	for (i = 1; i < nparts; i++)
		adler = pgb_gzip_adler32_combine(adler, checks[i], lens[i]);
	pgb_put_adler32(out, adler);
	return 4;
}

void
pgb_compressor_write(PgbCompressor *c, const char *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = Min(len, c->incap - c->inlen);

		memcpy(c->in + c->inlen, data, n);
		c->inlen += n;
		data += n;
		len -= n;
		if (c->inlen == c->incap)
			flush_input(c);
	}
}

void
pgb_compressor_end(PgbCompressor *c)
{
	flush_input(c);
	c->ops->c_compress(c, NULL, 0, true);
}

/* ---------------------------------------------------------------------
 * decompressor
 * ---------------------------------------------------------------------
 */

static void
decompressor_release(void *arg)
{
	PgbDecompressor *d = (PgbDecompressor *) arg;

	if (d->ops->d_release)
		d->ops->d_release(d);
}

PgbDecompressor *
pgb_decompressor_create(PgbCompression alg, int64 max_output)
{
	PgbDecompressor *d = palloc0(sizeof(PgbDecompressor));

	d->ops = ops_or_error(alg);
	d->max_output = max_output;
	d->out = palloc(PGB_CHUNK_SIZE);
	d->cb.func = decompressor_release;
	d->cb.arg = d;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &d->cb);
	if (d->ops->d_init)
		d->ops->d_init(d);
	return d;
}

void
pgb_decompressor_begin(PgbDecompressor *d, PgbByteSink sink, void *arg)
{
	pgb_decompressor_begin_part(d, sink, arg, true, true);
}

void
pgb_decompressor_begin_part(PgbDecompressor *d, PgbByteSink sink, void *arg,
							bool first, bool last)
{
	d->sink = sink;
	d->arg = arg;
	d->produced = 0;
	d->finished = false;
	d->started = false;
	d->in_parts = !(first && last);
	d->part_first = first;
	d->part_last = last;
	memset(&d->part, 0, sizeof(d->part));
	if (d->ops->d_begin)
		d->ops->d_begin(d);
}

void
pgb_decompressor_part_result(PgbDecompressor *d, PgbPartResult *res)
{
	*res = d->part;
}

/*
 * pgb_compression_parts_verify
 *		Whether the parts' results, in order, make a valid item: for gzip,
 *		the Adler-32 combined over the parts' outputs equals the last part's
 *		trailer (the other algorithms check each frame as they decode it).
 */
bool
pgb_compression_parts_verify(PgbCompression alg, int nparts, const PgbPartResult *parts)
{
	uint32		adler;
	int			i;

	if (alg != PGB_COMPRESS_GZIP || nparts <= 1)
		return true;
	for (i = 0; i < nparts; i++)
		if (!parts[i].has_check)
			return false;
	if (!parts[nparts - 1].has_trailer)
		return false;
	adler = parts[0].check;
	for (i = 1; i < nparts; i++)
		adler = pgb_gzip_adler32_combine(adler, parts[i].check, parts[i].len);
	return adler == parts[nparts - 1].trailer;
}

void
pgb_decompress_emit(PgbDecompressor *d, const char *data, size_t len)
{
	if (len == 0)
		return;
	d->produced += len;
	if (d->max_output >= 0 && d->produced > d->max_output)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("decompressed data item exceeds the limit of " INT64_FORMAT " bytes", d->max_output),
				 errhint("Raise pgbackups.max_item_size if the archive is trusted.")));
	d->sink(d->arg, data, len);
}

void
pgb_decompressor_feed(PgbDecompressor *d, const char *data, size_t len)
{
	if (len == 0)
		return;
	d->started = true;
	d->ops->d_feed(d, data, len);
}

/*
 * pgb_decompressor_end
 *		Check that the item's stream or frame was complete; an item with no
 *		bytes at all is complete unless the algorithm says otherwise (a zlib
 *		stream is never empty).
 */
int64
pgb_decompressor_end(PgbDecompressor *d)
{
	/* a gzip part but the last ends without the final block (gzip_d_end) */
	if (d->in_parts && !d->part_last && d->ops->alg == PGB_COMPRESS_GZIP)
	{
		if (d->finished)
			pgb_decompress_corrupt(d, "the final block of the zlib stream is in a part before the last");
		if (!d->started)
			pgb_decompress_corrupt(d, "empty part of a zlib stream");
		if (d->ops->d_end)
			d->ops->d_end(d);
		return d->produced;
	}
	if (d->ops->d_end)
		d->ops->d_end(d);
	if (d->ops->unit != NULL && !d->finished)
	{
		if (d->started)
			pgb_decompress_corrupt(d, psprintf("truncated %s", d->ops->unit));
		if (!d->ops->empty_ok)
			pgb_decompress_corrupt(d, "empty data item");
	}
	return d->produced;
}
