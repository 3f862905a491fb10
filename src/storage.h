/*-------------------------------------------------------------------------
 *
 * storage.h
 *	  Where archives live: one interface over the storage backends
 *	  (file:// here in storage_local.c; s3:// is not implemented yet).
 *
 * An archive is written under a temporary name and becomes visible under
 * its final key only at commit, which never replaces an existing object.
 *
 * src/storage.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_STORAGE_H
#define PGB_STORAGE_H

typedef struct PgbStorageWriter PgbStorageWriter;

/* the storage URL in effect: pgbackups.storage_url or the default */
extern char *pgb_storage_root(void);

/* the final URL of a key under the current root; fails on unsupported schemes */
extern char *pgb_storage_url_for(const char *key);

/* local path prefix for a job's temporary spool files */
extern char *pgb_storage_spool_prefix(const char *url);

extern PgbStorageWriter *pgb_storage_create(const char *url);
extern void pgb_storage_write(PgbStorageWriter *w, const char *data, size_t len);
extern void pgb_storage_commit(PgbStorageWriter *w);
extern void pgb_storage_abort(PgbStorageWriter *w);

extern bool pgb_storage_delete(const char *url);
extern void pgb_storage_remove_partials(const char *url);

#endif							/* PGB_STORAGE_H */
