/*-------------------------------------------------------------------------
 *
 * spool.c
 *	  Spool files: a capture's chunk streams (Int length, bytes, ..., Int 0)
 *	  in buffered local files (storage/local_file.c), until the archive is
 *	  assembled.  The descriptor is closed by a memory context callback, so
 *	  an error never leaks it; the files themselves are removed by the
 *	  capture's cleanup.
 *
 * src/capture/spool.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>

#include "archive.h"
#include "local_file.h"
#include "spool.h"

struct PgbSpool
{
	PgbLocalFile *file;
};

PgbSpool *
pgb_spool_create(const char *path)
{
	PgbSpool   *s = palloc0(sizeof(PgbSpool));

	s->file = pgb_local_file_open(path, O_TRUNC, "spool file");
	if (s->file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create spool file \"%s\": %m", path)));
	return s;
}

uint64
pgb_spool_pos(PgbSpool *s)
{
	return pgb_local_file_pos(s->file);
}

void
pgb_spool_put(PgbSpool *s, const char *data, size_t len)
{
	pgb_local_file_write(s->file, data, len);
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

/* write what is buffered, so that another process can read it */
void
pgb_spool_flush(PgbSpool *s)
{
	pgb_local_file_flush(s->file);
}

void
pgb_spool_close(PgbSpool *s)
{
	pgb_local_file_close(s->file, false);
}
