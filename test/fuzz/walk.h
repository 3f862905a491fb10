/*-------------------------------------------------------------------------
 *
 * walk.h
 *	  The archive walk shared by the libFuzzer target (fuzz_reader.c) and
 *	  the sanitizer driver (reader_driver.c): read the TOC, walk every block
 *	  sequentially and then by seek for entries with a data offset, and
 *	  decompress every data item and large object.
 *
 * test/fuzz/walk.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_FUZZ_WALK_H
#define PGB_FUZZ_WALK_H

#include "postgres.h"

#include "pgb_shim.h"

/* cap on one decompressed item, as pgbackups.max_item_size would set it */
#define PGB_WALK_MAX_ITEM ((int64) 8 * 1024 * 1024)

/*
 * Cap on all decompressed output of one input: a valid archive can hold a
 * thousand small compression bombs, each under the item cap; walking them
 * is slow, not wrong, so the harness stops there (SQLSTATE 54000).
 */
#define PGB_WALK_MAX_TOTAL ((uint64) 64 * 1024 * 1024)

/*
 * Most memory one walk may palloc at once: room for the 8 MB-per-item
 * reader buffers plus a multiple of the input (a TOC entry takes more
 * memory than its bytes).  More than this is a finding (pgb_shim aborts).
 */
#define PGB_WALK_ALLOC_LIMIT(inputlen) ((size_t) 64 * 1024 * 1024 + (size_t) 32 * (inputlen))

typedef struct PgbWalkResult
{
	bool		ok;
	PgbShimError error;			/* when !ok */
	int			version;
	int			compression;
	int			ntoc;
	int			blocks_seq;		/* blocks met by the sequential walk */
	int			blocks_seek;	/* blocks reached by offset */
	int			blobs;			/* large objects, both walks */
	uint64		payload_bytes;	/* chunk bytes, both walks */
	uint64		raw_bytes;		/* decompressed bytes, both walks */
	uint32		digest;			/* FNV-1a of the decompressed bytes */
	size_t		peak_bytes;		/* most palloc'd memory at once */
	int			open_files;		/* files the reader left open (after success),
								 * or session files left open after a close */
} PgbWalkResult;

/*
 * How a walk reads the archive and its chunk streams.  PGB_WALK_PULL: the
 * sequential pass pulls chunks with pgb_reader_next_chunk and the seek pass
 * uses pgb_reader_read_chunks; without it, the other way round.
 */
#define PGB_WALK_PULL		0x01
#define PGB_WALK_SESSION	0x02	/* pgb_reader_open_file_session */

extern void pgb_walk_memory(const char *data, size_t len, int flags, PgbWalkResult *res);
extern void pgb_walk_file(const char *path, int flags, PgbWalkResult *res);

/*
 * The SQLSTATEs a bad archive may legitimately produce: data corrupted
 * (XX001), a newer archive version or another format (0A000), and the
 * decompression caps (54000).  Anything else (XX000 from elog, 53200 out of
 * memory, ...) is a finding.
 */
extern bool pgb_walk_error_expected(const PgbWalkResult *res);

#endif							/* PGB_FUZZ_WALK_H */
