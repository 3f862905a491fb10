/*-------------------------------------------------------------------------
 *
 * restore_scan.c
 *	  The first pass of a restore over the archive, before anything is
 *	  created: where each data block lies (archives written to a pipe have
 *	  no offsets) and how big it is, a structural check of every block
 *	  header against the TOC, and, when the job knows the archive's SHA-256
 *	  (a pgbackups backup), the digest of every byte, which must match.
 *
 * An archive in object storage is not walked (that would download it all):
 * positions and sizes come from the TOC's data offsets, unless its SHA-256
 * is checked, in which case it is read whole once anyway.
 *
 * src/restore/restore_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "miscadmin.h"
#include "storage/fd.h"

#include "restore_int.h"
#include "storage.h"
#include "url_scheme.h"

static void
null_sink(void *arg, const char *data, size_t len)
{
}

/*
 * Walk every data block once: positions for entries without offsets,
 * sizes for scheduling, and a structural check of the whole archive.
 */
static uint64 *
scan_blocks(PgbRestore *r, PgbArchiveReader *reader, const PgbArchive *ar)
{
	PgbRestorePlan *plan = r->plan;
	uint64	   *pos = palloc0(sizeof(uint64) * Max(ar->ntoc, 1));
	bool	   *seen = palloc0(sizeof(bool) * Max(ar->ntoc, 1));
	int			i;

	for (;;)
	{
		uint64		at = pgb_reader_position(reader);
		int			blktype;
		PgbTocEntry *te;
		int			idx;
		uint64		size = 0;

		pgb_restore_check(r);
		if (!pgb_reader_next_block(reader, &blktype, &te))
			break;
		idx = te - ar->toc;
		if (seen[idx])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: two data blocks for entry %d", te->dump_id)));
		seen[idx] = true;
		if (te->data_state == PGB_OFFSET_SET && te->data_pos != at)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: the TOC places entry %d at byte " UINT64_FORMAT ", its block is at " UINT64_FORMAT,
							te->dump_id, te->data_pos, at)));
		pos[idx] = at;
		if (blktype == PGB_BLK_BLOBS)
		{
			Oid			oid;

			while (pgb_reader_next_blob(reader, &oid))
				size += pgb_reader_read_chunks(reader, null_sink, NULL);
		}
		else
			size = pgb_reader_read_chunks(reader, null_sink, NULL);
		plan->items[idx].data_size = size;
	}
	for (i = 0; i < ar->ntoc; i++)
		if (plan->items[i].has_data && !seen[i] && plan->items[i].action != PGB_ACT_SKIP)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: no data block for entry %d (%s)",
							ar->toc[i].dump_id, pgb_restore_entry_name(&ar->toc[i]))));
	pfree(seen);
	return pos;
}

static const PgbArchive *sort_ar;

static int
cmp_data_pos(const void *a, const void *b)
{
	uint64		x = sort_ar->toc[*(const int *) a].data_pos;
	uint64		y = sort_ar->toc[*(const int *) b].data_pos;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * For an archive in object storage, where walking every block means
 * downloading it all: positions and sizes from the TOC's data offsets
 * (pgbackups' archives always have them).  NULL if an entry with data
 * has none, or the offsets are not in order within the object.
 */
static uint64 *
positions_from_toc(const PgbArchive *ar, PgbRestorePlan *plan, int64 size)
{
	uint64	   *pos = palloc0(sizeof(uint64) * Max(ar->ntoc, 1));
	int		   *idx = palloc(sizeof(int) * Max(ar->ntoc, 1));
	int			n = 0;
	int			i;

	if (size < 0)
		return NULL;
	for (i = 0; i < ar->ntoc; i++)
	{
		if (ar->toc[i].data_state == PGB_OFFSET_SET)
			idx[n++] = i;
		else if (plan->items[i].has_data)
			return NULL;
	}
	sort_ar = ar;
	qsort(idx, n, sizeof(int), cmp_data_pos);
	for (i = 0; i < n; i++)
	{
		uint64		at = ar->toc[idx[i]].data_pos;
		uint64		next = i + 1 < n ? ar->toc[idx[i + 1]].data_pos : (uint64) size;

		if (at < ar->data_start || next <= at || next > (uint64) size)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: the data offset of entry %d is out of order",
							ar->toc[idx[i]].dump_id)));
		pos[idx[i]] = at;
		plan->items[idx[i]].data_size = next - at;
	}
	return pos;
}

/*
 * The first pass reads the archive through this source when its SHA-256
 * is known: every byte read at the end of the prefix already hashed
 * extends the digest (the walk reads the archive front to back), and
 * finish_sha256() reads whatever the walk did not.
 */
typedef struct PgbArchiveHash
{
	PgbReadSource src;			/* what the archive reader reads */
	PgbReadSource *inner;		/* an S3 object, or NULL: the file fd */
	int			fd;
	const char *path;
	EVP_MD_CTX *md;
	uint64		hashed;			/* the first bytes, digested */
} PgbArchiveHash;

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
	PgbArchiveHash *h = (PgbArchiveHash *) arg;

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

/* the archive at path (a file or s3://), read through a SHA-256 digest */
static PgbArchiveReader *
open_hashing_reader(PgbRestore *r, const char *path)
{
	PgbArchiveHash *h = palloc0(sizeof(PgbArchiveHash));

	h->fd = -1;
	h->path = path;
	r->hash = h;
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
 * Digest what the walk did not read (nothing, normally) and compare.  A
 * mismatch fails the restore before anything is created.
 */
static void
finish_sha256(PgbRestore *r, const char *backup, const char *expected)
{
	PgbArchiveHash *h = r->hash;
	char	   *buf = palloc(1024 * 1024);
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char		hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int i;

	for (;;)
	{
		uint64		at = h->hashed;

		pgb_restore_check(r);
		if (hash_read(h, at, buf, 1024 * 1024) == 0)
			break;
		if (h->hashed == at)
			elog(ERROR, "archive digest did not advance at byte " UINT64_FORMAT, at);
	}
	pfree(buf);
	if (EVP_DigestFinal_ex(h->md, digest, &dlen) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the SHA-256 of the archive")));
	for (i = 0; i < dlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	hex[2 * dlen] = '\0';
	if (pg_strcasecmp(hex, expected) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive of backup %s does not match the SHA-256 recorded at capture", backup),
				 errdetail("Expected SHA-256 %s, the archive has %s (" UINT64_FORMAT " bytes); nothing was changed.",
						   expected, hex, h->hashed)));
	pgb_restore_log(r, "archive SHA-256 verified: %s, " UINT64_FORMAT " bytes", hex, h->hashed);
}

/*
 * pgb_restore_open_archive
 *		The archive of the job, read through a SHA-256 digest when the
 *		job knows the digest it must have.
 */
PgbArchiveReader *
pgb_restore_open_archive(PgbRestore *r)
{
	if (r->params->expected_sha256)
		return open_hashing_reader(r, r->params->archive_path);
	return pgb_storage_open_reader(r->params->archive_path, false);
}

/*
 * pgb_restore_scan
 *		The first pass: the position of every entry's data block (sizes go
 *		to the plan), and the SHA-256 check.  The reader is left open.
 */
uint64 *
pgb_restore_scan(PgbRestore *r, PgbArchiveReader *reader, const PgbArchive *ar)
{
	const PgbRestoreParams *p = r->params;
	uint64	   *positions = NULL;
	TimestampTz start = GetCurrentTimestamp();

	if (pgb_url_scheme(p->archive_path) == PGB_URL_S3 && r->hash == NULL)
		positions = positions_from_toc(ar, r->plan, pgb_reader_size(reader));
	if (positions == NULL)
		positions = scan_blocks(r, reader, ar);
	if (r->hash)
	{
		finish_sha256(r, p->backup ? p->backup : "?", p->expected_sha256);
		if (r->hash->inner)
		{
			long		secs;
			int			usecs;

			/* the cost of the check: the workers read their entries again */
			TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
			pgb_restore_log(r, "the whole object was read once for its SHA-256: " UINT64_FORMAT " bytes in %ld.%03d s",
							r->hash->hashed, secs, usecs / 1000);
		}
	}
	return positions;
}

/* after the reader is closed, or after an error: nothing stays open */
void
pgb_restore_scan_cleanup(PgbRestore *r)
{
	if (r->hash)
		hash_close(r->hash);
	r->hash = NULL;
}
