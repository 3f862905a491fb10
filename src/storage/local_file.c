/*-------------------------------------------------------------------------
 *
 * local_file.c
 *	  Buffered, append-only local files, shared by the file:// backend
 *	  (the archive under its temporary name) and the capture's spool files,
 *	  and the directory chores around them.  Bytes written can be read back
 *	  and overwritten in place (the archive's header and TOC, written last).
 *
 * The descriptor is closed by a memory context callback, so an ERROR
 * anywhere never leaks it; removing the file is the owner's business.
 *
 * src/storage/local_file.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "local_file.h"

#define LOCAL_FILE_BUFSIZE (1024 * 1024)

struct PgbLocalFile
{
	int			fd;
	char	   *path;
	const char *what;
	char	   *buf;
	size_t		buflen;
	uint64		pos;
	MemoryContextCallback cb;
};

static void
local_file_release_cb(void *arg)
{
	pgb_local_file_release((PgbLocalFile *) arg);
}

PgbLocalFile *
pgb_local_file_open(const char *path, int flags, const char *what)
{
	PgbLocalFile *f;
	int			fd;

	fd = open(path, O_RDWR | O_CREAT | flags | PG_BINARY, pg_file_create_mode);
	if (fd < 0)
		return NULL;
	f = palloc0(sizeof(PgbLocalFile));
	f->fd = fd;
	f->path = pstrdup(path);
	f->what = what;
	f->buf = palloc(LOCAL_FILE_BUFSIZE);
	f->cb.func = local_file_release_cb;
	f->cb.arg = f;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &f->cb);
	return f;
}

uint64
pgb_local_file_pos(PgbLocalFile *f)
{
	return f->pos;
}

void
pgb_write_all(int fd, const char *buf, size_t len, const char *path)
{
	size_t		off = 0;

	while (off < len)
	{
		ssize_t		n = write(fd, buf + off, len - off);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %m", path)));
		}
		off += n;
	}
}

void
pgb_local_file_flush(PgbLocalFile *f)
{
	if (f->buflen > 0)
		pgb_write_all(f->fd, f->buf, f->buflen, f->path);
	f->buflen = 0;
}

/* overwrite len bytes at off, written earlier */
void
pgb_local_file_pwrite(PgbLocalFile *f, uint64 off, const char *data, size_t len)
{
	pgb_local_file_flush(f);
	while (len > 0)
	{
		ssize_t		n = pwrite(f->fd, data, len, (off_t) off);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %m", f->path)));
		}
		data += n;
		off += n;
		len -= n;
	}
}

/* read back len bytes at off, written earlier */
void
pgb_local_file_pread(PgbLocalFile *f, uint64 off, char *buf, size_t len)
{
	pgb_local_file_flush(f);
	while (len > 0)
	{
		ssize_t		n = pread(f->fd, buf, len, (off_t) off);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", f->path)));
		}
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("could not read file \"%s\": unexpected end of file", f->path)));
		buf += n;
		off += n;
		len -= n;
	}
}

void
pgb_local_file_write(PgbLocalFile *f, const char *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = Min(len, LOCAL_FILE_BUFSIZE - f->buflen);

		memcpy(f->buf + f->buflen, data, n);
		f->buflen += n;
		f->pos += n;
		data += n;
		len -= n;
		if (f->buflen == LOCAL_FILE_BUFSIZE)
			pgb_local_file_flush(f);
	}
}

void
pgb_local_file_close(PgbLocalFile *f, bool sync)
{
	pgb_local_file_flush(f);
	if (sync && pg_fsync(f->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync %s \"%s\": %m", f->what, f->path)));
	if (close(f->fd) != 0)
	{
		f->fd = -1;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close %s \"%s\": %m", f->what, f->path)));
	}
	f->fd = -1;
}

void
pgb_local_file_release(PgbLocalFile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
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

/* a temporary file of the archive whose final name is base: base.tmp, base.*.tmp */
static bool
is_partial_of(const char *name, const char *base, size_t blen)
{
	size_t		n = strlen(name);

	return n >= blen + 4 && strncmp(name, base, blen) == 0 &&
		name[blen] == '.' && strcmp(name + n - 4, ".tmp") == 0;
}

void
pgb_local_remove_partials(const char *path_in)
{
	char	   *path = pstrdup(path_in);
	char	   *dir = pstrdup(path);
	const char *base;
	DIR		   *d;
	struct dirent *de;

	get_parent_directory(dir);
	base = strrchr(path, '/') + 1;
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		char	   *p;

		if (!is_partial_of(de->d_name, base, strlen(base)))
			continue;
		p = psprintf("%s/%s", dir, de->d_name);
		if (unlink(p) != 0 && errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not remove temporary file \"%s\": %m", p)));
		pfree(p);
	}
	closedir(d);
}
