/*-------------------------------------------------------------------------
 *
 * storage_ops.h
 *	  The backends behind storage.h: one PgbStorageOps per URL scheme,
 *	  file:// (storage_local.c) and s3:// (storage_s3.c), chosen once per
 *	  call by storage.c from pgb_url_scheme().  Only src/storage includes
 *	  this file.
 *
 * src/storage/storage_ops.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_STORAGE_OPS_H
#define PGB_STORAGE_OPS_H

#include "compat.h"

#include "archive.h"
#include "nodes/pg_list.h"

typedef struct PgbStorageOps
{
	const char *scheme;			/* "file", "s3" */

	/* a writer of the archive at url; the others take what it returned */
	void	   *(*create_writer) (const char *url, uint64 expected_size);
	void		(*write) (void *writer, const char *data, size_t len);
	/* the first len bytes, written first as a placeholder, then for real */
	void		(*reserve_head) (void *writer, size_t len);
	void		(*write_head) (void *writer, const char *data, size_t len);
	/* bytes written, read back; NULL for a remote backend */
	void		(*read_back) (void *writer, uint64 off, char *buf, size_t len);
	void		(*commit) (void *writer);
	void		(*abort) (void *writer);	/* never raises an error */

	/* false if there was nothing to delete */
	bool		(*delete_archive) (const char *url);

	/*
	 * The local path of url for a backend that stores files on this
	 * machine; NULL for a remote backend, whose spool files go to
	 * <data directory>/pgbackups_tmp.
	 */
	const char *(*local_path) (const char *url);

	PgbArchiveReader *(*open_reader) (const char *url, bool session);

	/* a URL anyone can download for expires seconds */
	char	   *(*download_url) (const char *url, int expires);

	/* at start-up: abort this cluster's unfinished uploads; may be NULL */
	void		(*sweep) (const char *root, const char *prefix);

	/* every object whose URL starts with prefix_url: PgbStorageEntry *s */
	List	   *(*list) (const char *prefix_url);

	/* a small object written whole and durably (it may replace one) */
	void		(*put_small) (const char *url, const char *data, size_t len);

	/* a small object read whole, at most max_len bytes; NULL if absent */
	char	   *(*get_small) (const char *url, size_t max_len, size_t *len);
} PgbStorageOps;

extern const PgbStorageOps pgb_storage_local_ops;
extern const PgbStorageOps pgb_storage_s3_ops;

/* a line for the job's log, through pgb_storage_set_log_hook's function */
extern void pgb_storage_report(const char *msg);

/* ERRCODE_INVALID_PARAMETER_VALUE: "unsupported storage URL" */
pg_noreturn extern void pgb_storage_unsupported(const char *url);

/* ---- the s3:// backend's functions (storage_s3.c) ---- */

typedef struct PgbS3Writer PgbS3Writer;
extern PgbS3Writer *pgb_s3_create(const char *url, uint64 expected_size);
extern void pgb_s3_write(PgbS3Writer *w, const char *data, size_t len);
extern void pgb_s3_reserve_head(PgbS3Writer *w, size_t len);
extern void pgb_s3_write_head(PgbS3Writer *w, const char *data, size_t len);
extern void pgb_s3_commit(PgbS3Writer *w);
extern void pgb_s3_abort(PgbS3Writer *w);
extern bool pgb_s3_delete(const char *url);
extern char *pgb_s3_presign(const char *url, int expires);
extern void pgb_s3_sweep(const char *root, const char *prefix);
/* storage_s3_list.c */
extern List *pgb_s3_list(const char *prefix_url);
extern void pgb_s3_put_small(const char *url, const char *data, size_t len);
extern char *pgb_s3_get_small(const char *url, size_t max_len, size_t *len);

#endif							/* PGB_STORAGE_OPS_H */
