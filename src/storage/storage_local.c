/*-------------------------------------------------------------------------
 *
 * storage_local.c
 *	  The file:// storage backend (the embedded default): its entry in the
 *	  storage ops table.
 *
 * Archives are written to "<final>.tmp" (a reserved head overwritten in
 * place, bytes read back for the capture's digest), fsynced, and linked to the final
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

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "local_file.h"
#include "storage.h"
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

/* the head's place: zeros, overwritten by local_write_head */
static void
local_reserve_head(void *arg, size_t len)
{
	char		zeros[8192] = {0};

	while (len > 0)
	{
		size_t		n = Min(len, sizeof(zeros));

		local_write(arg, zeros, n);
		len -= n;
	}
}

static void
local_write_head(void *arg, const char *data, size_t len)
{
	pgb_local_file_pwrite(((LocalWriter *) arg)->file, 0, data, len);
}

static void
local_read_back(void *arg, uint64 off, char *buf, size_t len)
{
	pgb_local_file_pread(((LocalWriter *) arg)->file, off, buf, len);
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

/* ---- listing and small objects ---- */

static bool
is_tmp_name(const char *name)
{
	size_t		len = strlen(name);

	return len >= 4 && strcmp(name + len - 4, ".tmp") == 0;
}

/*
 * list_dir
 *		Add the regular files below dir whose path starts with prefix (none
 *		named *.tmp) to *entries; only directories that can hold such files
 *		are entered, symbolic links are not followed.
 */
static void
list_dir(const char *dir, const char *prefix, List **entries)
{
	size_t		plen = strlen(prefix);
	DIR		   *d;
	struct dirent *de;

	check_stack_depth();
	d = AllocateDir(dir);
	if (d == NULL)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return;				/* not there (any more) */
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", dir)));
	}
	while ((de = ReadDir(d, dir)) != NULL)
	{
		char	   *path;
		struct stat st;

		CHECK_FOR_INTERRUPTS();
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		path = strcmp(dir, "/") == 0 ? psprintf("/%s", de->d_name) :
			psprintf("%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0)
		{
			if (errno == ENOENT)
				continue;		/* removed meanwhile */
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", path)));
		}
		if (S_ISDIR(st.st_mode))
		{
			size_t		len = strlen(path);

			/* path/ lies on the way to prefix, or below it */
			if ((len < plen && strncmp(path, prefix, len) == 0 && prefix[len] == '/') ||
				strncmp(path, prefix, plen) == 0)
				list_dir(path, prefix, entries);
		}
		else if (S_ISREG(st.st_mode) && !is_tmp_name(de->d_name) &&
				 strncmp(path, prefix, plen) == 0)
		{
			PgbStorageEntry *e = palloc(sizeof(PgbStorageEntry));

			e->url = psprintf("file://%s", path);
			e->size = (int64) st.st_size;
			*entries = lappend(*entries, e);
		}
		pfree(path);
	}
	FreeDir(d);
}

static List *
local_list(const char *prefix_url)
{
	const char *prefix = local_path(prefix_url);
	char	   *dir = pstrdup(prefix);
	size_t		len = strlen(dir);
	List	   *entries = NIL;

	/* the directory that holds prefix: itself when it ends with '/' */
	if (len > 1 && dir[len - 1] == '/')
		dir[len - 1] = '\0';
	else if (len > 1)
		get_parent_directory(dir);
	if (dir[0] == '\0')
		strcpy(dir, "/");
	list_dir(dir, prefix, &entries);
	return entries;
}

/*
 * local_put_small
 *		Write url whole and durably: a temporary file of this process, then
 *		durable_rename() (fsync of the file, rename over any older version,
 *		fsync of the directory).  On an error the temporary file is removed.
 */
static void
local_put_small(const char *url, const char *data, size_t len)
{
	const char *path = local_path(url);
	char	   *tmp = psprintf("%s.%d.tmp", path, MyProcPid);
	volatile int fd;

	pgb_local_make_parent_dirs(path);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
	PG_TRY();
	{
		pgb_write_all(fd, data, len, tmp);
		if (CloseTransientFile(fd) != 0)
		{
			fd = -1;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not close file \"%s\": %m", tmp)));
		}
		fd = -1;
		(void) durable_rename(tmp, path, ERROR);
	}
	PG_CATCH();
	{
		if (fd >= 0)
			CloseTransientFile(fd);
		unlink(tmp);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* read url whole (at most max_len bytes); NULL if it does not exist */
static char *
local_get_small(const char *url, size_t max_len, size_t *len)
{
	const char *path = local_path(url);
	int			fd;
	struct stat st;
	char	   *buf;
	size_t		done = 0;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a regular file", path)));
	}
	if ((uint64) st.st_size > (uint64) max_len)
	{
		CloseTransientFile(fd);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("object \"%s\" is larger than %zu bytes", url, max_len)));
	}
	buf = palloc(max_len + 1);
	for (;;)
	{
		ssize_t		n = read(fd, buf + done, max_len + 1 - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			int			save = errno;

			CloseTransientFile(fd);
			errno = save;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		}
		if (n == 0)
			break;
		done += n;
		if (done > max_len)
		{
			CloseTransientFile(fd);
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("object \"%s\" is larger than %zu bytes", url, max_len)));
		}
	}
	CloseTransientFile(fd);
	buf[done] = '\0';
	*len = done;
	return buf;
}

const PgbStorageOps pgb_storage_local_ops = {
	.scheme = "file",
	.create_writer = local_create_writer,
	.write = local_write,
	.reserve_head = local_reserve_head,
	.write_head = local_write_head,
	.read_back = local_read_back,
	.commit = local_commit,
	.abort = local_abort,
	.delete_archive = local_delete,
	.local_path = local_path,
	.open_reader = local_open_reader,
	.download_url = local_download_url,
	.sweep = NULL,
	.list = local_list,
	.put_small = local_put_small,
	.get_small = local_get_small,
};
