/*-------------------------------------------------------------------------
 *
 * storage.h
 *	  Where archives live: one interface (storage.c) over the backends of
 *	  the ops table in storage_ops.h, file:// (storage_local.c, the
 *	  embedded default) and s3:// (storage_s3.c).
 *
 * An archive becomes visible under its final key only at commit, which
 * never replaces an existing object; an aborted writer leaves nothing (or,
 * on S3 after a crash, an unfinished upload the start-up sweep aborts).
 *
 * src/storage/storage.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_STORAGE_H
#define PGB_STORAGE_H

#include "archive.h"
#include "nodes/pg_list.h"

typedef struct PgbStorageWriter PgbStorageWriter;

/* the storage URL in effect: pgbackups.storage_url or the default */
extern char *pgb_storage_root(void);

/* the final URL of a key under the current root; fails on unsupported schemes */
extern char *pgb_storage_url_for(const char *key);

/* local path prefix for a job's temporary spool files (directory created) */
extern char *pgb_storage_spool_prefix(const char *url);

/* <data directory>/pgbackups_tmp/<name> (directory created): local work files */
extern char *pgb_storage_temp_path(const char *name);

/* expected_size sizes S3 parts; 0 if unknown */
extern PgbStorageWriter *pgb_storage_create(const char *url, uint64 expected_size);
extern void pgb_storage_write(PgbStorageWriter *w, const char *data, size_t len);

/*
 * A head written last (an archive's header and TOC, whose data offsets are
 * known only at the end): reserve_head, first, writes len placeholder
 * bytes; write_head, before commit, replaces them (file://: in place;
 * s3://: the parts that hold them are uploaded at commit).
 */
extern void pgb_storage_reserve_head(PgbStorageWriter *w, size_t len);
extern void pgb_storage_write_head(PgbStorageWriter *w, const char *data, size_t len);

/* what w wrote, read back: only where pgb_storage_can_read_back (file://) */
extern bool pgb_storage_can_read_back(PgbStorageWriter *w);
extern void pgb_storage_read_back(PgbStorageWriter *w, uint64 off, char *buf, size_t len);
extern void pgb_storage_commit(PgbStorageWriter *w);
/* never raises an error; call it after the error state was flushed */
extern void pgb_storage_abort(PgbStorageWriter *w);

extern bool pgb_storage_delete(const char *url);
extern void pgb_storage_remove_partials(const char *url);

/* a reader of a stored archive; session: the file survives transactions */
extern PgbArchiveReader *pgb_storage_open_reader(const char *url, bool session);

/* a URL anyone can download for expires seconds (file:// URLs as they are) */
extern char *pgb_storage_download_url(const char *url, int expires);

/*
 * Where storage writes what a job's log should show (the retries an upload
 * needed): a job's worker sets its log function; NULL (the default) sends
 * those lines to the server log.
 */
typedef void (*PgbStorageLogHook) (const char *msg);
extern void pgb_storage_set_log_hook(PgbStorageLogHook hook);

/* at start-up: abort this cluster's unfinished S3 uploads (best effort) */
extern void pgb_storage_sweep(void);

typedef struct PgbStorageEntry
{
	char	   *url;			/* full storage URL of the object */
	int64		size;
} PgbStorageEntry;

/* every object whose URL starts with prefix_url (a List of PgbStorageEntry *), all pages */
extern List *pgb_storage_list(const char *prefix_url);

/* a small object (a manifest) written whole and durably: file:// temp file + fsync + rename + directory fsync; s3:// one PUT */
extern void pgb_storage_put_small(const char *url, const char *data, size_t len);

/* a small object read whole, at most max_len bytes (larger: ERROR); NULL when it does not exist */
extern char *pgb_storage_get_small(const char *url, size_t max_len, size_t *len);

/*
 * A read source of an s3:// archive (storage_s3.c), for a caller that wraps
 * it; pgb_storage_open_reader is the usual way to read any archive.
 */
extern PgbReadSource *pgb_s3_open_source(const char *url);

#endif							/* PGB_STORAGE_H */
