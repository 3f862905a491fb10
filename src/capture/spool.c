/*-------------------------------------------------------------------------
 *
 * spool.c
 *	  Buffered append-only spool files.  The descriptor is closed by a
 *	  memory context callback, so an error never leaks it; the files
 *	  themselves are removed by the capture's cleanup.
 *
 * src/capture/spool.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "utils/memutils.h"

#include "archive.h"
#include "spool.h"

#define SPOOL_BUFSIZE (1024 * 1024)

struct PgbSpool
{
	int			fd;
	char	   *path;
	char	   *buf;
	size_t		buflen;
	uint64		pos;
	MemoryContextCallback cb;
};

static void
spool_release(void *arg)
{
	PgbSpool   *s = (PgbSpool *) arg;

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

PgbSpool *
pgb_spool_create(const char *path)
{
	PgbSpool   *s = palloc0(sizeof(PgbSpool));

	s->path = pstrdup(path);
	s->buf = palloc(SPOOL_BUFSIZE);
	s->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, pg_file_create_mode);
	if (s->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create spool file \"%s\": %m", path)));
	s->cb.func = spool_release;
	s->cb.arg = s;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &s->cb);
	return s;
}

uint64
pgb_spool_pos(PgbSpool *s)
{
	return s->pos;
}

/* write(2) all of buf, retrying short writes and EINTR */
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

static void
spool_flush(PgbSpool *s)
{
	pgb_write_all(s->fd, s->buf, s->buflen, s->path);
	s->buflen = 0;
}

void
pgb_spool_put(PgbSpool *s, const char *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = Min(len, SPOOL_BUFSIZE - s->buflen);

		memcpy(s->buf + s->buflen, data, n);
		s->buflen += n;
		s->pos += n;
		data += n;
		len -= n;
		if (s->buflen == SPOOL_BUFSIZE)
			spool_flush(s);
	}
}

void
pgb_spool_put_int(PgbSpool *s, int v)
{
	char		tmp[8];
	StringInfoData b;

	b.data = tmp;
	b.len = 0;
	b.maxlen = sizeof(tmp);
	b.cursor = 0;
	pgb_write_int(&b, v);
	pgb_spool_put(s, b.data, b.len);
}

/* a PgbByteSink: writes one archive chunk (Int length, bytes) */
void
pgb_spool_chunk(void *arg, const char *data, size_t len)
{
	PgbSpool   *s = (PgbSpool *) arg;

	pgb_spool_put_int(s, (int) len);
	pgb_spool_put(s, data, len);
}

void
pgb_spool_close(PgbSpool *s)
{
	spool_flush(s);
	if (close(s->fd) != 0)
	{
		s->fd = -1;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close spool file \"%s\": %m", s->path)));
	}
	s->fd = -1;
}
