/*-------------------------------------------------------------------------
 *
 * storage_local.c
 *	  The file:// storage backend (the embedded default): its entry in the
 *	  storage ops table.
 *
 * Archives are written to "<final>.tmp", fsynced, and linked to the final
 * name with link(2), so an existing archive is never replaced; then the
 * directory is fsynced.  The writer's descriptor and temporary file are
 * released by a memory context callback, so an ERROR anywhere leaves
 * nothing behind.
 *
 * src/storage/storage_local.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fd.h"
#include "utils/memutils.h"

#include "local_file.h"
#include "storage_ops.h"

typedef struct LocalWriter
{
	char	   *path;			/* final path */
	char	   *tmppath;		/* NULL: nothing of ours to remove */
	PgbLocalFile *file;
	bool		committed;
	MemoryContextCallback cb;
} LocalWriter;

/* file:///dir/name -> /dir/name */
static const char *
local_path(const char *url)
{
	if (strncmp(url, "file:///", 8) != 0)
		pgb_storage_unsupported(url);
	return url + 7;
}

static void
local_abort(void *arg)
{
	LocalWriter *w = (LocalWriter *) arg;

	if (w->file)
		pgb_local_file_release(w->file);
	if (!w->committed && w->tmppath)
		unlink(w->tmppath);
	w->tmppath = NULL;
}

static void *
local_create_writer(const char *url, uint64 expected_size)
{
	LocalWriter *w = palloc0(sizeof(LocalWriter));
	struct stat st;

	w->path = pstrdup(local_path(url));
	pgb_local_make_parent_dirs(w->path);
	if (stat(w->path, &st) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("archive \"file://%s\" already exists", w->path),
				 errdetail("pgbackups never overwrites a stored archive.")));
	w->file = pgb_local_file_open(psprintf("%s.tmp", w->path), O_EXCL, "archive file");
	if (w->file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create archive file \"%s.tmp\": %m", w->path),
				 errhint("Set pgbackups.storage_url to a writable file:// directory.")));
	/* registered after the file's own callback, so it runs first */
	w->tmppath = psprintf("%s.tmp", w->path);
	w->cb.func = local_abort;
	w->cb.arg = w;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &w->cb);
	return w;
}

static void
local_write(void *arg, const char *data, size_t len)
{
	pgb_local_file_write(((LocalWriter *) arg)->file, data, len);
}

static void
fsync_parent_dir(const char *path)
{
	char	   *dir = pstrdup(path);
	int			fd;

	get_parent_directory(dir);
	fd = open(dir, O_RDONLY | PG_BINARY, 0);
	if (fd >= 0)
	{
		if (fsync(fd) != 0 && errno != EINVAL && errno != EBADF)
		{
			int			save = errno;

			close(fd);
			errno = save;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not fsync directory \"%s\": %m", dir)));
		}
		close(fd);
	}
	pfree(dir);
}

static void
local_commit(void *arg)
{
	LocalWriter *w = (LocalWriter *) arg;

	pgb_local_file_close(w->file, true);
	/* link() never replaces an existing file, unlike rename() */
	if (link(w->tmppath, w->path) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not store archive as \"%s\": %m", w->path)));
	w->committed = true;
	unlink(w->tmppath);
	fsync_parent_dir(w->path);
}

static bool
local_delete(const char *url)
{
	const char *path = local_path(url);

	if (unlink(path) != 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove archive \"%s\": %m", path)));
	}
	return true;
}

static PgbArchiveReader *
local_open_reader(const char *url, bool session)
{
	const char *path = local_path(url);

	return session ? pgb_reader_open_file_session(path) : pgb_reader_open_file(path);
}

static char *
local_download_url(const char *url, int expires)
{
	return pstrdup(url);
}

const PgbStorageOps pgb_storage_local_ops = {
	.scheme = "file",
	.create_writer = local_create_writer,
	.write = local_write,
	.commit = local_commit,
	.abort = local_abort,
	.delete_archive = local_delete,
	.local_path = local_path,
	.open_reader = local_open_reader,
	.download_url = local_download_url,
	.sweep = NULL,
};
