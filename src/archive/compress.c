/*-------------------------------------------------------------------------
 *
 * compress.c
 *	  Streaming compressors and decompressors for archive data items.
 *
 * The framing rules come from the custom archive format: gzip data is one
 * zlib stream (RFC 1950) per item, lz4 one LZ4 frame, zstd one zstd frame,
 * and "none" the raw bytes.  Library contexts are allocated by the
 * libraries with malloc; a memory context callback frees them, so an ERROR
 * anywhere never leaks them.
 *
 * src/archive/compress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zlib.h>
#include <lz4frame.h>
#include <zstd.h>

#include "utils/memutils.h"

#include "compress.h"

struct PgbCompressor
{
	PgbCompressionSpec spec;
	PgbByteSink sink;
	void	   *arg;
	char	   *out;			/* PGB_CHUNK_SIZE output buffer */
	char	   *in;				/* input staging buffer */
	size_t		inlen;
	size_t		incap;
	bool		zinit;
	z_stream	zs;
	LZ4F_cctx  *lz4;
	size_t		lz4cap;
	ZSTD_CCtx  *zstd;
	MemoryContextCallback cb;
};

struct PgbDecompressor
{
	PgbCompression alg;
	int64		max_output;
	int64		produced;
	PgbByteSink sink;
	void	   *arg;
	char	   *out;
	bool		zinit;
	bool		finished;		/* end of stream seen */
	bool		started;		/* any input seen */
	z_stream	zs;
	LZ4F_dctx  *lz4;
	ZSTD_DCtx  *zstd;
	MemoryContextCallback cb;
};

bool
pgb_compression_parse(const char *text, PgbCompressionSpec *spec, char **errmsg)
{
	char		name[32];
	const char *colon;
	int			level = -1;
	int			minl = 0,
				maxl = 0;

	*errmsg = NULL;
	if (text == NULL || text[0] == '\0')
	{
		*errmsg = pstrdup("The compression must be none, gzip, lz4 or zstd, optionally followed by :level.");
		return false;
	}
	colon = strchr(text, ':');
	if ((colon ? (size_t) (colon - text) : strlen(text)) >= sizeof(name))
	{
		*errmsg = psprintf("Unknown compression \"%s\"; use none, gzip, lz4 or zstd, optionally followed by :level.", text);
		return false;
	}
	strlcpy(name, text, colon ? (size_t) (colon - text) + 1 : sizeof(name));
	if (colon)
	{
		char	   *end;
		long		l;

		errno = 0;
		l = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno != 0 || l < -100 || l > 100)
		{
			*errmsg = psprintf("Invalid compression level \"%s\".", colon + 1);
			return false;
		}
		level = (int) l;
	}

	if (pg_strcasecmp(name, "none") == 0)
	{
		spec->alg = PGB_COMPRESS_NONE;
		if (colon && level != 0)
		{
			*errmsg = pstrdup("Compression \"none\" takes no level.");
			return false;
		}
		spec->level = 0;
		return true;
	}
	else if (pg_strcasecmp(name, "gzip") == 0)
	{
		spec->alg = PGB_COMPRESS_GZIP;
		minl = 1;
		maxl = 9;
	}
	else if (pg_strcasecmp(name, "lz4") == 0)
	{
		spec->alg = PGB_COMPRESS_LZ4;
		minl = 1;
		maxl = 12;
	}
	else if (pg_strcasecmp(name, "zstd") == 0)
	{
		spec->alg = PGB_COMPRESS_ZSTD;
		minl = 1;
		maxl = ZSTD_maxCLevel();
	}
	else
	{
		*errmsg = psprintf("Unknown compression \"%s\"; use none, gzip, lz4 or zstd, optionally followed by :level.", text);
		return false;
	}
	if (colon && (level < minl || level > maxl))
	{
		*errmsg = psprintf("The %s compression level must be between %d and %d.", name, minl, maxl);
		return false;
	}
	spec->level = colon ? level : -1;
	return true;
}

const char *
pgb_compression_name(PgbCompression alg)
{
	switch (alg)
	{
		case PGB_COMPRESS_NONE:
			return "none";
		case PGB_COMPRESS_GZIP:
			return "gzip";
		case PGB_COMPRESS_LZ4:
			return "lz4";
		case PGB_COMPRESS_ZSTD:
			return "zstd";
	}
	return "unknown";
}

int
pgb_compression_effective_level(const PgbCompressionSpec *spec)
{
	if (spec->level >= 0 || spec->alg == PGB_COMPRESS_NONE)
		return spec->alg == PGB_COMPRESS_NONE ? 0 : spec->level;
	switch (spec->alg)
	{
		case PGB_COMPRESS_GZIP:
			return 6;			/* Z_DEFAULT_COMPRESSION */
		case PGB_COMPRESS_LZ4:
			return 1;
		case PGB_COMPRESS_ZSTD:
			return ZSTD_CLEVEL_DEFAULT;
		default:
			return 0;
	}
}

/* ---------------------------------------------------------------------
 * compressor
 * ---------------------------------------------------------------------
 */

static void
compressor_release(void *arg)
{
	PgbCompressor *c = (PgbCompressor *) arg;

	if (c->zinit)
		deflateEnd(&c->zs);
	c->zinit = false;
	if (c->lz4)
		LZ4F_freeCompressionContext(c->lz4);
	c->lz4 = NULL;
	if (c->zstd)
		ZSTD_freeCCtx(c->zstd);
	c->zstd = NULL;
}

PgbCompressor *
pgb_compressor_create(const PgbCompressionSpec *spec)
{
	PgbCompressor *c = palloc0(sizeof(PgbCompressor));

	c->spec = *spec;
	c->out = palloc(PGB_CHUNK_SIZE);
	c->incap = PGB_CHUNK_SIZE;
	c->in = palloc(c->incap);
	c->cb.func = compressor_release;
	c->cb.arg = c;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &c->cb);

	switch (spec->alg)
	{
		case PGB_COMPRESS_NONE:
			break;
		case PGB_COMPRESS_GZIP:
			if (deflateInit(&c->zs, spec->level < 0 ? Z_DEFAULT_COMPRESSION : spec->level) != Z_OK)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not initialize zlib compression")));
			c->zinit = true;
			break;
		case PGB_COMPRESS_LZ4:
			if (LZ4F_isError(LZ4F_createCompressionContext(&c->lz4, LZ4F_VERSION)))
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not initialize lz4 compression")));
			/* worst case output of one update of incap bytes */
			c->lz4cap = LZ4F_compressBound(c->incap, NULL);
			if (c->lz4cap > PGB_CHUNK_SIZE)
			{
				pfree(c->out);
				c->out = palloc(c->lz4cap);
			}
			break;
		case PGB_COMPRESS_ZSTD:
			c->zstd = ZSTD_createCCtx();
			if (c->zstd == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not initialize zstd compression")));
			ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_compressionLevel,
								   spec->level < 0 ? ZSTD_CLEVEL_DEFAULT : spec->level);
			break;
	}
	return c;
}

/*
 * Hand output to the sink in chunks of at most PGB_CHUNK_SIZE bytes: lz4's
 * worst case for a full input buffer (incompressible data) is a little more.
 */
static void
emit(PgbCompressor *c, const char *data, size_t len)
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
zlib_run(PgbCompressor *c, const char *data, size_t len, int flush)
{
	int			rc;

	c->zs.next_in = (Bytef *) data;
	c->zs.avail_in = len;
	do
	{
		c->zs.next_out = (Bytef *) c->out;
		c->zs.avail_out = PGB_CHUNK_SIZE;
		rc = deflate(&c->zs, flush);
		if (rc == Z_STREAM_ERROR)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("zlib compression failed")));
		emit(c, c->out, PGB_CHUNK_SIZE - c->zs.avail_out);
	} while (c->zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
}

static void
zstd_run(PgbCompressor *c, const char *data, size_t len, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {data, len, 0};
	size_t		remaining;

	do
	{
		ZSTD_outBuffer out = {c->out, PGB_CHUNK_SIZE, 0};

		remaining = ZSTD_compressStream2(c->zstd, &out, &in, mode);
		if (ZSTD_isError(remaining))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("zstd compression failed: %s", ZSTD_getErrorName(remaining))));
		emit(c, c->out, out.pos);
	} while (mode == ZSTD_e_end ? remaining != 0 : in.pos < in.size);
}

static void
flush_input(PgbCompressor *c)
{
	size_t		n;

	if (c->inlen == 0)
		return;
	switch (c->spec.alg)
	{
		case PGB_COMPRESS_NONE:
			emit(c, c->in, c->inlen);
			break;
		case PGB_COMPRESS_GZIP:
			zlib_run(c, c->in, c->inlen, Z_NO_FLUSH);
			break;
		case PGB_COMPRESS_LZ4:
			n = LZ4F_compressUpdate(c->lz4, c->out, c->lz4cap, c->in, c->inlen, NULL);
			if (LZ4F_isError(n))
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("lz4 compression failed: %s", LZ4F_getErrorName(n))));
			emit(c, c->out, n);
			break;
		case PGB_COMPRESS_ZSTD:
			zstd_run(c, c->in, c->inlen, ZSTD_e_continue);
			break;
	}
	c->inlen = 0;
}

void
pgb_compressor_begin(PgbCompressor *c, PgbByteSink sink, void *arg)
{
	c->sink = sink;
	c->arg = arg;
	c->inlen = 0;
	switch (c->spec.alg)
	{
		case PGB_COMPRESS_NONE:
			break;
		case PGB_COMPRESS_GZIP:
			if (deflateReset(&c->zs) != Z_OK)
				elog(ERROR, "deflateReset failed");
			break;
		case PGB_COMPRESS_LZ4:
			{
				LZ4F_preferences_t prefs;
				size_t		n;

				memset(&prefs, 0, sizeof(prefs));
				prefs.compressionLevel = c->spec.level < 0 ? 0 : c->spec.level;
				n = LZ4F_compressBegin(c->lz4, c->out, c->lz4cap, &prefs);
				if (LZ4F_isError(n))
					ereport(ERROR,
							(errcode(ERRCODE_INTERNAL_ERROR),
							 errmsg("lz4 compression failed: %s", LZ4F_getErrorName(n))));
				emit(c, c->out, n);
				break;
			}
		case PGB_COMPRESS_ZSTD:
			ZSTD_CCtx_reset(c->zstd, ZSTD_reset_session_only);
			break;
	}
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
	size_t		n;

	flush_input(c);
	switch (c->spec.alg)
	{
		case PGB_COMPRESS_NONE:
			break;
		case PGB_COMPRESS_GZIP:
			zlib_run(c, NULL, 0, Z_FINISH);
			break;
		case PGB_COMPRESS_LZ4:
			n = LZ4F_compressEnd(c->lz4, c->out, c->lz4cap, NULL);
			if (LZ4F_isError(n))
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("lz4 compression failed: %s", LZ4F_getErrorName(n))));
			emit(c, c->out, n);
			break;
		case PGB_COMPRESS_ZSTD:
			zstd_run(c, NULL, 0, ZSTD_e_end);
			break;
	}
}

/* ---------------------------------------------------------------------
 * decompressor
 * ---------------------------------------------------------------------
 */

static void
decompressor_release(void *arg)
{
	PgbDecompressor *d = (PgbDecompressor *) arg;

	if (d->zinit)
		inflateEnd(&d->zs);
	d->zinit = false;
	if (d->lz4)
		LZ4F_freeDecompressionContext(d->lz4);
	d->lz4 = NULL;
	if (d->zstd)
		ZSTD_freeDCtx(d->zstd);
	d->zstd = NULL;
}

PgbDecompressor *
pgb_decompressor_create(PgbCompression alg, int64 max_output)
{
	PgbDecompressor *d = palloc0(sizeof(PgbDecompressor));

	d->alg = alg;
	d->max_output = max_output;
	d->out = palloc(PGB_CHUNK_SIZE);
	d->cb.func = decompressor_release;
	d->cb.arg = d;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &d->cb);
	switch (alg)
	{
		case PGB_COMPRESS_NONE:
			break;
		case PGB_COMPRESS_GZIP:
			if (inflateInit(&d->zs) != Z_OK)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not initialize zlib decompression")));
			d->zinit = true;
			break;
		case PGB_COMPRESS_LZ4:
			if (LZ4F_isError(LZ4F_createDecompressionContext(&d->lz4, LZ4F_VERSION)))
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not initialize lz4 decompression")));
			break;
		case PGB_COMPRESS_ZSTD:
			d->zstd = ZSTD_createDCtx();
			if (d->zstd == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("could not initialize zstd decompression")));
			break;
	}
	return d;
}

void
pgb_decompressor_begin(PgbDecompressor *d, PgbByteSink sink, void *arg)
{
	d->sink = sink;
	d->arg = arg;
	d->produced = 0;
	d->finished = false;
	d->started = false;
	switch (d->alg)
	{
		case PGB_COMPRESS_NONE:
			break;
		case PGB_COMPRESS_GZIP:
			inflateReset(&d->zs);
			break;
		case PGB_COMPRESS_LZ4:
			LZ4F_resetDecompressionContext(d->lz4);
			break;
		case PGB_COMPRESS_ZSTD:
			ZSTD_DCtx_reset(d->zstd, ZSTD_reset_session_only);
			break;
	}
}

static void
demit(PgbDecompressor *d, const char *data, size_t len)
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

static void
corrupt(PgbDecompressor *d, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("could not decompress %s data: %s", pgb_compression_name(d->alg), what)));
}

void
pgb_decompressor_feed(PgbDecompressor *d, const char *data, size_t len)
{
	if (len == 0)
		return;
	d->started = true;
	switch (d->alg)
	{
		case PGB_COMPRESS_NONE:
			demit(d, data, len);
			break;
		case PGB_COMPRESS_GZIP:
			d->zs.next_in = (Bytef *) data;
			d->zs.avail_in = len;
			while (d->zs.avail_in > 0)
			{
				int			rc;

				if (d->finished)
					corrupt(d, "trailing data after the end of the zlib stream");
				d->zs.next_out = (Bytef *) d->out;
				d->zs.avail_out = PGB_CHUNK_SIZE;
				rc = inflate(&d->zs, Z_NO_FLUSH);
				if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
					corrupt(d, d->zs.msg ? d->zs.msg : "invalid zlib stream");
				demit(d, d->out, PGB_CHUNK_SIZE - d->zs.avail_out);
				if (rc == Z_STREAM_END)
					d->finished = true;
				else if (rc == Z_BUF_ERROR && d->zs.avail_out != 0)
					break;
			}
			/* drain pending output */
			while (!d->finished)
			{
				int			rc;

				d->zs.next_out = (Bytef *) d->out;
				d->zs.avail_out = PGB_CHUNK_SIZE;
				rc = inflate(&d->zs, Z_NO_FLUSH);
				if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
					corrupt(d, d->zs.msg ? d->zs.msg : "invalid zlib stream");
				demit(d, d->out, PGB_CHUNK_SIZE - d->zs.avail_out);
				if (rc == Z_STREAM_END)
					d->finished = true;
				if (d->zs.avail_out != 0)
					break;
			}
			break;
		case PGB_COMPRESS_LZ4:
			{
				const char *p = data;
				size_t		left = len;

				while (left > 0 || d->finished == false)
				{
					size_t		outsz = PGB_CHUNK_SIZE;
					size_t		insz = left;
					size_t		rc;

					rc = LZ4F_decompress(d->lz4, d->out, &outsz, p, &insz, NULL);
					if (LZ4F_isError(rc))
						corrupt(d, LZ4F_getErrorName(rc));
					p += insz;
					left -= insz;
					demit(d, d->out, outsz);
					d->finished = (rc == 0);
					if (left == 0 && outsz < PGB_CHUNK_SIZE)
						break;
				}
				break;
			}
		case PGB_COMPRESS_ZSTD:
			{
				ZSTD_inBuffer in = {data, len, 0};

				while (in.pos < in.size)
				{
					ZSTD_outBuffer out = {d->out, PGB_CHUNK_SIZE, 0};
					size_t		rc;

					if (d->finished)
						corrupt(d, "trailing data after the end of the zstd frame");
					rc = ZSTD_decompressStream(d->zstd, &out, &in);
					if (ZSTD_isError(rc))
						corrupt(d, ZSTD_getErrorName(rc));
					demit(d, d->out, out.pos);
					if (rc == 0)
						d->finished = true;
				}
				/* flush output still held in the context */
				for (;;)
				{
					ZSTD_inBuffer empty = {NULL, 0, 0};
					ZSTD_outBuffer out = {d->out, PGB_CHUNK_SIZE, 0};
					size_t		rc;

					if (d->finished)
						break;
					rc = ZSTD_decompressStream(d->zstd, &out, &empty);
					if (ZSTD_isError(rc))
						corrupt(d, ZSTD_getErrorName(rc));
					demit(d, d->out, out.pos);
					if (rc == 0)
						d->finished = true;
					if (out.pos < out.size)
						break;
				}
				break;
			}
	}
}

int64
pgb_decompressor_end(PgbDecompressor *d)
{
	switch (d->alg)
	{
		case PGB_COMPRESS_NONE:
			break;
		case PGB_COMPRESS_GZIP:
			if (!d->finished)
				corrupt(d, d->started ? "truncated zlib stream" : "empty data item");
			break;
		case PGB_COMPRESS_LZ4:
			if (d->started && !d->finished)
				corrupt(d, "truncated lz4 frame");
			break;
		case PGB_COMPRESS_ZSTD:
			if (d->started && !d->finished)
				corrupt(d, "truncated zstd frame");
			break;
	}
	return d->produced;
}
