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
 * Parts of one item compressed apart, in parallel (a capture splits a large
 * table by ctid ranges): each part is begun with its place in the item and
 * ended with pgb_compressor_end.  Their chunk sequences, concatenated in
 * order and followed by pgb_compression_parts_trailer's bytes (in a chunk of
 * their own when there are any), form one item a reader takes as a whole:
 * gzip parts are pieces of one zlib stream (the first carries the header,
 * all but the last end on a byte boundary with a sync flush, the Adler-32
 * trailer is combined from the parts'), lz4 and zstd parts are frames of
 * their own (pg_restore 16+ reads a frame per chunk sequence), none parts
 * plain bytes.
 */
extern void pgb_compressor_begin_part(PgbCompressor *c, PgbByteSink sink, void *arg,
									  bool first, bool last);
extern uint32 pgb_compressor_part_check(PgbCompressor *c);
extern int	pgb_compression_parts_trailer(PgbCompression alg, int nparts,
										  const uint32 *checks, const uint64 *lens,
										  char *out);

#define PGB_PARTS_TRAILER_MAX 8

/*
 * A decompressor consumes the concatenated chunk payload of one item and
 * emits the plain bytes; feed it one chunk per call.  It rejects trailing
 * garbage and incomplete streams, and stops with an error once more than
 * max_output bytes came out.  An lz4 or zstd item may hold several frames,
 * a zstd frame starting at a chunk (pg_restore drops the rest of a chunk
 * after the end of a zstd frame).
 */
extern PgbDecompressor *pgb_decompressor_create(PgbCompression alg, int64 max_output);
extern void pgb_decompressor_begin(PgbDecompressor *d, PgbByteSink sink, void *arg);
extern void pgb_decompressor_feed(PgbDecompressor *d, const char *data, size_t len);
extern int64 pgb_decompressor_end(PgbDecompressor *d);

/*
 * One part of an item written in parts (pgb_compressor_begin_part), decoded
 * on its own: a gzip part is raw deflate (the first after the zlib header,
 * every one but the last ending with a sync flush, the last with the final
 * block and the Adler-32 trailer); an lz4 or zstd part is whole frames.
 * After pgb_decompressor_end, pgb_decompressor_part_result tells what the
 * caller combines over the parts (pgb_compression_parts_verify): a gzip
 * part's Adler-32 and length of output, and the last part's trailer.
 */
typedef struct PgbPartResult
{
	bool		has_check;		/* check and len are set (gzip) */
	uint32		check;
	uint64		len;
	bool		has_trailer;	/* the last part: trailer is set */
	uint32		trailer;
} PgbPartResult;

extern void pgb_decompressor_begin_part(PgbDecompressor *d, PgbByteSink sink, void *arg,
										bool first, bool last);
extern void pgb_decompressor_part_result(PgbDecompressor *d, PgbPartResult *res);
extern bool pgb_compression_parts_verify(PgbCompression alg, int nparts,
										 const PgbPartResult *parts);

#endif							/* PGB_COMPRESS_H */
