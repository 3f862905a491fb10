/*-------------------------------------------------------------------------
 *
 * archive_hash.c
 *	  A stored archive read through a SHA-256 digest: every byte read at
 *	  the end of the prefix already hashed extends the digest (the archive
 *	  reader walks the archive front to back), and
 *	  pgb_archive_hash_finish() reads whatever the walk did not.  Used by
 *	  a restore's first pass (restore_scan.c) and by verify() (verify.c).
 *
 * The file descriptor (BasicOpenFile), the S3 source (a curl handle) and
 * the OpenSSL digest are not released by an error: the caller closes the
 * hash on its error path (pgb_archive_hash_close never raises).
 *
 * src/restore/archive_hash.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "storage/fd.h"

#include "archive_hash.h"
#include "storage.h"
#include "url_scheme.h"

#define HASH_READ_SIZE (1024 * 1024)

struct PgbArchiveHash
{
	PgbReadSource src;			/* what the archive reader reads */
	PgbReadSource *inner;		/* an S3 object, or NULL: the file fd */
	int			fd;
	const char *path;
	EVP_MD_CTX *md;
	uint64		hashed;			/* the first bytes, digested */
};

static size_t
hash_read(void *arg, uint64 pos, char *buf, size_t n)
{
	PgbArchiveHash *h = (PgbArchiveHash *) arg;
	size_t		got = 0;

	if (h->inner)
		got = h->inner->read(h->inner->arg, pos, buf, n);
	else
	{
		while (got < n)
		{
			ssize_t		k = pread(h->fd, buf + got, n - got, (off_t) (pos + got));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not read archive \"%s\": %m", h->path)));
			if (k == 0)
				break;
			got += k;
		}
	}
	if (pos == h->hashed && got > 0)
	{
		if (EVP_DigestUpdate(h->md, buf, got) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not compute the SHA-256 of the archive")));
		h->hashed += got;
	}
	return got;
}

static void
hash_close(void *arg)
{
	pgb_archive_hash_close((PgbArchiveHash *) arg);
}

/*
 * pgb_archive_hash_open
 *		The archive at path (a file or s3://), read through a SHA-256 digest.
 */
PgbArchiveReader *
pgb_archive_hash_open(const char *path, PgbArchiveHash **hash)
{
	PgbArchiveHash *h = palloc0(sizeof(PgbArchiveHash));

	h->fd = -1;
	h->path = path;
	*hash = h;
	h->md = EVP_MD_CTX_new();
	if (h->md == NULL || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not initialize SHA-256")));
	if (pgb_url_scheme(path) == PGB_URL_S3)
	{
		h->inner = pgb_s3_open_source(path);
		h->src.size = h->inner->size;
	}
	else
	{
		h->fd = BasicOpenFile(path, O_RDONLY | PG_BINARY);
		if (h->fd < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open archive \"%s\": %m", path)));
		h->src.size = -1;		/* as for a file read directly */
	}
	h->src.read = hash_read;
	h->src.close = hash_close;
	h->src.arg = h;
	return pgb_reader_open_source(&h->src);
}

/*
 * pgb_archive_hash_finish
 *		Digest what the walk did not read (nothing, normally): the hex
 *		SHA-256 of the whole archive, its size in *bytes.
 */
char *
pgb_archive_hash_finish(PgbArchiveHash *h, PgbHashCheck check, void *arg, uint64 *bytes)
{
	char	   *buf = palloc(HASH_READ_SIZE);
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char	   *hex;
	unsigned int i;

	for (;;)
	{
		uint64		at = h->hashed;

		if (check)
			check(arg);
		if (hash_read(h, at, buf, HASH_READ_SIZE) == 0)
			break;
		if (h->hashed == at)
			elog(ERROR, "archive digest did not advance at byte " UINT64_FORMAT, at);
	}
	pfree(buf);
	if (EVP_DigestFinal_ex(h->md, digest, &dlen) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the SHA-256 of the archive")));
	hex = palloc(2 * dlen + 1);
	for (i = 0; i < dlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	hex[2 * dlen] = '\0';
	*bytes = h->hashed;
	return hex;
}

void
pgb_archive_hash_close(PgbArchiveHash *h)
{
	if (h == NULL)
		return;
	if (h->inner && h->inner->close)
		h->inner->close(h->inner->arg);
	h->inner = NULL;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	if (h->md)
		EVP_MD_CTX_free(h->md);
	h->md = NULL;
}

void
pgb_archive_block_placed(const PgbTocEntry *te, bool *seen, uint64 at)
{
	if (*seen)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid archive: two data blocks for entry %d", te->dump_id)));
	*seen = true;
	if (te->data_state == PGB_OFFSET_SET && te->data_pos != at)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid archive: the TOC places entry %d at byte " UINT64_FORMAT ", its block is at " UINT64_FORMAT,
						te->dump_id, te->data_pos, at)));
}
