/*-------------------------------------------------------------------------
 *
 * compress_ops.h
 *	  The per-algorithm operations behind compress.h, one PgbCompressOps per
 *	  algorithm (compress_none.c, compress_gzip.c, compress_lz4.c,
 *	  compress_zstd.c), and the compressor and decompressor state they share
 *	  with compress.c.  Only src/archive/compress*.c include this file.
 *
 * compress.c owns the buffers, the chunking and the output limit; an
 * algorithm only runs its library.  Library state lives in "state" and is
 * freed by the release operation, which a memory context callback calls.
 *
 * src/archive/compress_ops.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_COMPRESS_OPS_H
#define PGB_COMPRESS_OPS_H

#include "compat.h"

#include "compress.h"

typedef struct PgbCompressOps PgbCompressOps;

struct PgbCompressor
{
	const PgbCompressOps *ops;
	PgbCompressionSpec spec;
	PgbByteSink sink;
	void	   *arg;
	char	   *out;			/* output buffer of outcap bytes */
	size_t		outcap;
	char	   *in;				/* input staging buffer */
	size_t		inlen;
	size_t		incap;
	void	   *state;			/* the algorithm's library state */
	bool		part_first;		/* this item part opens the item */
	bool		part_last;		/* this item part closes the item */
	uint32		part_check;		/* gzip: Adler-32 of this part's input */
	MemoryContextCallback cb;
};

struct PgbDecompressor
{
	const PgbCompressOps *ops;
	int64		max_output;
	int64		produced;
	PgbByteSink sink;
	void	   *arg;
	char	   *out;			/* PGB_CHUNK_SIZE output buffer */
	bool		finished;		/* end of stream seen */
	bool		started;		/* any input seen */
	/* a part of an item decoded alone (pgb_decompressor_begin_part) */
	bool		in_parts;		/* false: a whole item */
	bool		part_first;
	bool		part_last;
	PgbPartResult part;			/* filled by the algorithm */
	void	   *state;
	MemoryContextCallback cb;
};

/*
 * One algorithm.  Operations left NULL do nothing.  c_compress gets the
 * staged input (never empty), or, with finish, no input: then it ends the
 * item part (part_first and part_last say where the part lies in its item;
 * a whole item is both).  d_feed gets one chunk of the item (never empty).
 */
struct PgbCompressOps
{
	PgbCompression alg;
	const char *name;			/* as in pgbackups.compression */
	int			min_level;
	int			(*max_level) (void);	/* NULL: the algorithm takes no level */
	int			default_level;	/* the library default, for display */
	const char *unit;			/* "zlib stream": one item; NULL for none */
	bool		empty_ok;		/* an item with no bytes at all is valid */

	void		(*c_init) (PgbCompressor *c);
	void		(*c_begin) (PgbCompressor *c);
	void		(*c_compress) (PgbCompressor *c, const char *data, size_t len,
								   bool finish);
	void		(*c_release) (PgbCompressor *c);

	void		(*d_init) (PgbDecompressor *d);
	void		(*d_begin) (PgbDecompressor *d);
	void		(*d_feed) (PgbDecompressor *d, const char *data, size_t len);
	void		(*d_end) (PgbDecompressor *d);	/* checks at the end of input */
	void		(*d_release) (PgbDecompressor *d);
};

/* a zlib stream's Adler-32 trailer: 4 bytes, most significant first */
static inline void
pgb_put_adler32(char *out, uint32 adler)
{
	out[0] = (char) ((adler >> 24) & 0xFF);
	out[1] = (char) ((adler >> 16) & 0xFF);
	out[2] = (char) ((adler >> 8) & 0xFF);
	out[3] = (char) (adler & 0xFF);
}

/* compress_gzip.c: zlib's adler32_combine, for the trailer of a gzip item in parts */
extern uint32 pgb_gzip_adler32_combine(uint32 a, uint32 b, uint64 blen);

extern const PgbCompressOps pgb_compress_none_ops;
extern const PgbCompressOps pgb_compress_gzip_ops;
extern const PgbCompressOps pgb_compress_lz4_ops;
extern const PgbCompressOps pgb_compress_zstd_ops;

/* the operations of alg, or NULL */
extern const PgbCompressOps *pgb_compress_ops(PgbCompression alg);

/* compressor output to the sink, split into chunks of at most PGB_CHUNK_SIZE */
extern void pgb_compress_emit(PgbCompressor *c, const char *data, size_t len);

/* decompressor output to the sink, counted against max_output */
extern void pgb_decompress_emit(PgbDecompressor *d, const char *data, size_t len);

/* ERRCODE_DATA_CORRUPTED: "could not decompress <alg> data: <what>" */
pg_noreturn extern void pgb_decompress_corrupt(PgbDecompressor *d, const char *what);

/* ERRCODE_OUT_OF_MEMORY: "could not initialize <alg> <what>" */
pg_noreturn extern void pgb_compress_init_failed(const char *lib, const char *what);

/* ERRCODE_INTERNAL_ERROR: "<alg> compression failed[: <why>]" */
pg_noreturn extern void pgb_compress_failed(const char *lib, const char *why);

#endif							/* PGB_COMPRESS_OPS_H */
