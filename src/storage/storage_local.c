/*-------------------------------------------------------------------------
 *
 * storage_local.c
 *	  The file:// storage backend (the embedded default); storage.c maps
 *	  URLs to the paths used here.
 *
 * Archives are written to "<final>.tmp", fsynced, and linked to the final
 * name with renameat2(RENAME_NOREPLACE), so an existing archive is never
 * replaced; then the directory is fsynced.  The writer's descriptor and
 * temporary file are released by a memory context callback, so an ERROR
 * anywhere leaves nothing behind.
 *
 * src/storage/storage_local.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>

#include "common/file_perm.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "guc.h"
#include "spool.h"
#include "storage.h"

#define WRITE_BUFSIZE (1024 * 1024)

struct PgbLocalWriter
{
	char	   *path;			/* final path */
	char	   *tmppath;
	int			fd;
	bool		committed;
	char	   *buf;
	size_t		buflen;
	MemoryContextCallback cb;
};

static void
writer_release(void *arg)
{
	PgbLocalWriter *w = (PgbLocalWriter *) arg;

	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (!w->committed && w->tmppath)
		unlink(w->tmppath);
}

void
pgb_local_make_parent_dirs(const char *path)
{
	char	   *dir = pstrdup(path);

	get_parent_directory(dir);
	if (pg_mkdir_p(dir, pg_dir_create_mode) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create storage directory \"%s\": %m", dir),
				 errhint("Set pgbackups.storage_url to a writable file:// directory.")));
	pfree(dir);
}

PgbLocalWriter *
pgb_local_create(const char *path)
{
	PgbLocalWriter *w = palloc0(sizeof(PgbLocalWriter));
	struct stat st;

	w->path = pstrdup(path);
	w->tmppath = psprintf("%s.tmp", w->path);
	w->fd = -1;
	w->buf = palloc(WRITE_BUFSIZE);
	w->cb.func = writer_release;
	w->cb.arg = w;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &w->cb);

	pgb_local_make_parent_dirs(w->path);
	if (stat(w->path, &st) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("archive \"file://%s\" already exists", path),
				 errdetail("pgbackups never overwrites a stored archive.")));
	w->fd = open(w->tmppath, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, pg_file_create_mode);
	if (w->fd < 0)
	{
		w->tmppath = NULL;		/* not ours to remove */
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create archive file \"%s.tmp\": %m", w->path),
				 errhint("Set pgbackups.storage_url to a writable file:// directory.")));
	}
	return w;
}

static void
flush_buf(PgbLocalWriter *w)
{
	pgb_write_all(w->fd, w->buf, w->buflen, w->tmppath);
	w->buflen = 0;
}

void
pgb_local_write(PgbLocalWriter *w, const char *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = Min(len, WRITE_BUFSIZE - w->buflen);

		memcpy(w->buf + w->buflen, data, n);
		w->buflen += n;
		data += n;
		len -= n;
		if (w->buflen == WRITE_BUFSIZE)
			flush_buf(w);
	}
}

static void
fsync_dir(const char *path)
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

void
pgb_local_commit(PgbLocalWriter *w)
{
	flush_buf(w);
	if (pg_fsync(w->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync archive file \"%s\": %m", w->tmppath)));
	if (close(w->fd) != 0)
	{
		w->fd = -1;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close archive file \"%s\": %m", w->tmppath)));
	}
	w->fd = -1;
	/* link() never replaces an existing file, unlike rename() */
	if (link(w->tmppath, w->path) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not store archive as \"%s\": %m", w->path)));
	w->committed = true;
	unlink(w->tmppath);
	fsync_dir(w->path);
}

void
pgb_local_abort(PgbLocalWriter *w)
{
	writer_release(w);
}

bool
pgb_local_delete(const char *path)
{
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

/*
 * pgb_local_remove_partials
 *		Remove the temporary files of a job whose final archive is url:
 *		every "<final name>.*.tmp" and "<final name>.tmp" in its directory.
 */
void
pgb_local_remove_partials(const char *path_in)
{
	char	   *path;
	char	   *dir;
	const char *base;
	DIR		   *d;
	struct dirent *de;
	size_t		blen;

	path = pstrdup(path_in);
	dir = pstrdup(path);
	get_parent_directory(dir);
	base = strrchr(path, '/') + 1;
	blen = strlen(base);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		size_t		n = strlen(de->d_name);

		if (n >= blen + 4 && strncmp(de->d_name, base, blen) == 0 &&
			de->d_name[blen] == '.' && strcmp(de->d_name + n - 4, ".tmp") == 0)
		{
			char	   *p = psprintf("%s/%s", dir, de->d_name);

			if (unlink(p) != 0 && errno != ENOENT)
				ereport(WARNING,
						(errcode_for_file_access(),
						 errmsg("could not remove temporary file \"%s\": %m", p)));
			pfree(p);
		}
	}
	closedir(d);
}
