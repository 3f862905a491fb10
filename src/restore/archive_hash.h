/*-------------------------------------------------------------------------
 *
 * archive_hash.h
 *	  A stored archive read through a SHA-256 digest (archive_hash.c),
 *	  shared by a restore's first pass (restore_scan.c) and verify()
 *	  (verify.c).
 *
 * src/restore/archive_hash.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_ARCHIVE_HASH_H
#define PGB_ARCHIVE_HASH_H

#include "archive.h"

typedef struct PgbArchiveHash PgbArchiveHash;

/* called between the reads of pgb_archive_hash_finish; may raise an error */
typedef void (*PgbHashCheck) (void *arg);

/*
 * A reader of the archive at path (a local file path or an s3:// URL)
 * whose every byte read front to back extends a SHA-256 digest.  *hash
 * is set before anything can fail, so the caller's error path can always
 * close it.
 */
extern PgbArchiveReader *pgb_archive_hash_open(const char *path, PgbArchiveHash **hash);

/* digest what was not read yet; the hex digest, and the bytes digested */
extern char *pgb_archive_hash_finish(PgbArchiveHash *h, PgbHashCheck check, void *arg,
									 uint64 *bytes);

/* the file, the S3 source and the digest freed; never raises; idempotent */
extern void pgb_archive_hash_close(PgbArchiveHash *h);

/*
 * The data block of te was found at byte at of the archive: it must be its
 * entry's only block (*seen) and where the TOC places it.  XX001 otherwise.
 */
extern void pgb_archive_block_placed(const PgbTocEntry *te, bool *seen, uint64 at);

#endif							/* PGB_ARCHIVE_HASH_H */
