/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  The storage interface: the storage URL in effect, keys to URLs, local
 *	  spool and temporary paths, and the calls of storage.h, each handed to
 *	  the backend of its URL's scheme (PgbStorageOps, storage_ops.h):
 *	  file:// (storage_local.c) or s3:// (storage_s3.c).
 *
 * Spool files of a capture are always local: next to the archive for a
 * local backend, in <data directory>/pgbackups_tmp for a remote one.
 *
 * src/storage/storage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"

#include "guc.h"
#include "local_file.h"
#include "storage.h"
#include "storage_ops.h"
#include "url_scheme.h"

struct PgbStorageWriter
{
	const PgbStorageOps *ops;
	void	   *backend;
};

/* where a job's worker wants storage's reports (pgb_storage_set_log_hook) */
static PgbStorageLogHook storage_log_hook = NULL;

void
pgb_storage_set_log_hook(PgbStorageLogHook hook)
{
	storage_log_hook = hook;
}

/*
 * pgb_storage_report
 *		A line for the job's log (the retries an upload needed).  The hook
 *		writes to a catalog, so it runs only outside a transaction; without
 *		a hook, or inside one, the line goes to the server log.
 */
void
pgb_storage_report(const char *msg)
{
	if (storage_log_hook != NULL && !IsTransactionState())
		storage_log_hook(msg);
	else
		ereport(LOG,
				(errmsg("%s", msg)));
}

void
pgb_storage_unsupported(const char *url)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported storage URL \"%s\"", url ? url : ""),
			 errhint("Use file:///directory or s3://bucket/prefix.")));
}

/* the backend of url's scheme, or NULL */
static const PgbStorageOps *
storage_ops_or_null(const char *url)
{
	switch (pgb_url_scheme(url))
	{
		case PGB_URL_FILE:
			return &pgb_storage_local_ops;
		case PGB_URL_S3:
			return &pgb_storage_s3_ops;
		default:
			return NULL;
	}
}

static const PgbStorageOps *
storage_ops(const char *url)
{
	const PgbStorageOps *ops = storage_ops_or_null(url);

	if (ops == NULL)
		pgb_storage_unsupported(url);
	return ops;
}

static int
entry_cmp(const ListCell *a, const ListCell *b)
{
	const PgbStorageEntry *ea = (const PgbStorageEntry *) lfirst(a);
	const PgbStorageEntry *eb = (const PgbStorageEntry *) lfirst(b);

	return strcmp(ea->url, eb->url);
}

char *
pgb_storage_root(void)
{
	char	   *root;
	const PgbStorageOps *ops;
	size_t		len;

	if (pgb_storage_url && pgb_storage_url[0])
		root = pstrdup(pgb_storage_url);
	else
		root = pgb_default_storage_url();
	ops = storage_ops(root);
	if (ops->local_path)
		(void) ops->local_path(root);	/* rejects file://host/ */
	len = strlen(root);
	while (len > 8 && root[len - 1] == '/')
		root[--len] = '\0';
	return root;
}

char *
pgb_storage_url_for(const char *key)
{
	return psprintf("%s/%s", pgb_storage_root(), key);
}

char *
pgb_storage_temp_path(const char *name)
{
	char	   *path = psprintf("%s/pgbackups_tmp/%s", DataDir, name);

	pgb_local_make_parent_dirs(path);
	return path;
}

/* the spool prefix of url, directories not created */
static char *
spool_prefix(const PgbStorageOps *ops, const char *url)
{
	const char *base;

	if (ops->local_path)
		return pstrdup(ops->local_path(url));
	base = strrchr(url, '/');
	return psprintf("%s/pgbackups_tmp/%s", DataDir, base ? base + 1 : "archive");
}

char *
pgb_storage_spool_prefix(const char *url)
{
	char	   *p = spool_prefix(storage_ops(url), url);

	pgb_local_make_parent_dirs(p);
	return p;
}

PgbStorageWriter *
pgb_storage_create(const char *url, uint64 expected_size)
{
	PgbStorageWriter *w = palloc0(sizeof(PgbStorageWriter));

	w->ops = storage_ops(url);
	w->backend = w->ops->create_writer(url, expected_size);
	return w;
}

void
pgb_storage_write(PgbStorageWriter *w, const char *data, size_t len)
{
	w->ops->write(w->backend, data, len);
}

void
pgb_storage_reserve_head(PgbStorageWriter *w, size_t len)
{
	w->ops->reserve_head(w->backend, len);
}

void
pgb_storage_write_head(PgbStorageWriter *w, const char *data, size_t len)
{
	w->ops->write_head(w->backend, data, len);
}

bool
pgb_storage_can_read_back(PgbStorageWriter *w)
{
	return w->ops->read_back != NULL;
}

void
pgb_storage_read_back(PgbStorageWriter *w, uint64 off, char *buf, size_t len)
{
	w->ops->read_back(w->backend, off, buf, len);
}

void
pgb_storage_commit(PgbStorageWriter *w)
{
	w->ops->commit(w->backend);
}

void
pgb_storage_abort(PgbStorageWriter *w)
{
	if (w == NULL || w->backend == NULL)
		return;
	w->ops->abort(w->backend);
}

bool
pgb_storage_delete(const char *url)
{
	return storage_ops(url)->delete_archive(url);
}

/*
 * pgb_storage_remove_partials
 *		Remove the local temporary files of the job whose archive is url (a
 *		remote upload itself was aborted, or is swept at start-up).  URLs of
 *		no backend have none.
 */
void
pgb_storage_remove_partials(const char *url)
{
	const PgbStorageOps *ops = storage_ops_or_null(url);

	if (ops == NULL)
		return;
	pgb_local_remove_partials(spool_prefix(ops, url));
}

PgbArchiveReader *
pgb_storage_open_reader(const char *url, bool session)
{
	if (url[0] == '/')
		url = psprintf("file://%s", url);
	return storage_ops(url)->open_reader(url, session);
}

char *
pgb_storage_download_url(const char *url, int expires)
{
	const PgbStorageOps *ops = storage_ops_or_null(url);

	if (ops == NULL)
		return pstrdup(url);
	return ops->download_url(url, expires);
}

void
pgb_storage_sweep(void)
{
	char	   *root = pgb_storage_root();
	const PgbStorageOps *ops = storage_ops(root);

	if (ops->sweep == NULL)
		return;
	ops->sweep(root, psprintf(UINT64_FORMAT "/", GetSystemIdentifier()));
}

/*
 * pgb_storage_list
 *		Every object whose URL starts with prefix_url, with its size, sorted
 *		by URL (bytewise, as S3 lists keys).  Temporary files of file://
 *		writers are not objects.
 */
List *
pgb_storage_list(const char *prefix_url)
{
	List	   *entries = storage_ops(prefix_url)->list(prefix_url);

	list_sort(entries, entry_cmp);
	return entries;
}

void
pgb_storage_put_small(const char *url, const char *data, size_t len)
{
	storage_ops(url)->put_small(url, data, len);
}

char *
pgb_storage_get_small(const char *url, size_t max_len, size_t *len)
{
	size_t		dummy;

	return storage_ops(url)->get_small(url, max_len, len ? len : &dummy);
}
