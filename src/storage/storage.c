/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  The storage interface: the storage URL in effect, keys to URLs, and
 *	  dispatch of writers, readers, deletes and download URLs to the
 *	  file:// and s3:// backends.
 *
 * Spool files of a capture are always local: next to the archive for
 * file:// storage, in <data directory>/pgbackups_tmp for S3.
 *
 * src/storage/storage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "guc.h"
#include "storage.h"
#include "url_scheme.h"

struct PgbStorageWriter
{
	PgbLocalWriter *local;
	PgbS3Writer *s3;
};

static bool
is_s3(const char *url)
{
	return pgb_url_scheme(url) == PGB_URL_S3;
}

static const char *
local_path(const char *url)
{
	if (strncmp(url, "file:///", 8) == 0)
		return url + 7;
	if (is_s3(url))
		elog(ERROR, "not a local URL: \"%s\"", url);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported storage URL \"%s\"", url),
			 errhint("Use file:///directory or s3://bucket/prefix.")));
	return NULL;
}

char *
pgb_storage_root(void)
{
	char	   *root;
	size_t		len;

	if (pgb_storage_url && pgb_storage_url[0])
		root = pstrdup(pgb_storage_url);
	else
		root = pgb_default_storage_url();
	if (!is_s3(root))
		(void) local_path(root);
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

char *
pgb_storage_spool_prefix(const char *url)
{
	char	   *p;

	if (is_s3(url))
	{
		const char *base = strrchr(url, '/');

		return pgb_storage_temp_path(base ? base + 1 : "archive");
	}
	p = pstrdup(local_path(url));
	pgb_local_make_parent_dirs(p);
	return p;
}

PgbStorageWriter *
pgb_storage_create(const char *url, uint64 expected_size)
{
	PgbStorageWriter *w = palloc0(sizeof(PgbStorageWriter));

	if (is_s3(url))
		w->s3 = pgb_s3_create(url, expected_size);
	else
		w->local = pgb_local_create(local_path(url));
	return w;
}

void
pgb_storage_write(PgbStorageWriter *w, const char *data, size_t len)
{
	if (w->s3)
		pgb_s3_write(w->s3, data, len);
	else
		pgb_local_write(w->local, data, len);
}

void
pgb_storage_commit(PgbStorageWriter *w)
{
	if (w->s3)
		pgb_s3_commit(w->s3);
	else
		pgb_local_commit(w->local);
}

void
pgb_storage_abort(PgbStorageWriter *w)
{
	if (w == NULL)
		return;
	if (w->s3)
		pgb_s3_abort(w->s3);
	else if (w->local)
		pgb_local_abort(w->local);
}

bool
pgb_storage_delete(const char *url)
{
	if (is_s3(url))
		return pgb_s3_delete(url);
	return pgb_local_delete(local_path(url));
}

void
pgb_storage_remove_partials(const char *url)
{
	if (is_s3(url))
	{
		/* the spool files; the upload itself was aborted or is swept */
		pgb_local_remove_partials(pgb_storage_spool_prefix(url));
		return;
	}
	if (strncmp(url, "file:///", 8) == 0)
		pgb_local_remove_partials(url + 7);
}

PgbArchiveReader *
pgb_storage_open_reader(const char *url, bool session)
{
	if (is_s3(url))
		return pgb_reader_open_source(pgb_s3_open_source(url));
	if (url[0] != '/')
		url = local_path(url);
	return session ? pgb_reader_open_file_session(url) : pgb_reader_open_file(url);
}

char *
pgb_storage_download_url(const char *url, int expires)
{
	if (is_s3(url))
		return pgb_s3_presign(url, expires);
	return pstrdup(url);
}

void
pgb_storage_sweep(void)
{
	char	   *root = pgb_storage_root();

	if (!is_s3(root))
		return;
	pgb_s3_sweep(root, psprintf(UINT64_FORMAT "/", GetSystemIdentifier()));
}
