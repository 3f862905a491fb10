/*-------------------------------------------------------------------------
 *
 * compress.h
 *	  Streaming compression and decompression for archive data items
 *	  (none, gzip/zlib, lz4 frame, zstd frame).
 *
 * src/archive/compress.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_COMPRESS_H
#define PGB_COMPRESS_H

typedef enum PgbCompression
{
	PGB_COMPRESS_NONE = 0,
	PGB_COMPRESS_GZIP = 1,
	PGB_COMPRESS_LZ4 = 2,
	PGB_COMPRESS_ZSTD = 3
} PgbCompression;

typedef struct PgbCompressionSpec
{
	PgbCompression alg;
	int			level;			/* -1: the library default */
} PgbCompressionSpec;

/* receives compressed chunks (compressor) or plain bytes (decompressor) */
typedef void (*PgbByteSink) (void *arg, const char *data, size_t len);

typedef struct PgbCompressor PgbCompressor;
typedef struct PgbDecompressor PgbDecompressor;

extern bool pgb_compression_parse(const char *text, PgbCompressionSpec *spec, char **errmsg);
extern const char *pgb_compression_name(PgbCompression alg);
extern int	pgb_compression_effective_level(const PgbCompressionSpec *spec);

/*
 * A compressor is created once and reused for many items: begin, write...,
 * end.  Each item becomes exactly one zlib stream / lz4 frame / zstd frame,
 * delivered to the sink in chunks of at most PGB_CHUNK_SIZE bytes, never
 * empty.  Library state is freed when the current memory context is reset.
 */
#define PGB_CHUNK_SIZE (64 * 1024)

extern PgbCompressor *pgb_compressor_create(const PgbCompressionSpec *spec);
extern void pgb_compressor_begin(PgbCompressor *c, PgbByteSink sink, void *arg);
extern void pgb_compressor_write(PgbCompressor *c, const char *data, size_t len);
extern void pgb_compressor_end(PgbCompressor *c);

/*
 * A decompressor consumes the concatenated chunk payload of one item and
 * emits the plain bytes.  It rejects trailing garbage and incomplete
 * streams, and stops with an error once more than max_output bytes came out.
 */
extern PgbDecompressor *pgb_decompressor_create(PgbCompression alg, int64 max_output);
extern void pgb_decompressor_begin(PgbDecompressor *d, PgbByteSink sink, void *arg);
extern void pgb_decompressor_feed(PgbDecompressor *d, const char *data, size_t len);
extern int64 pgb_decompressor_end(PgbDecompressor *d);

#endif							/* PGB_COMPRESS_H */
