/*-------------------------------------------------------------------------
 *
 * restore_scan.c
 *	  The first pass of a restore over the archive, before anything is
 *	  created: where each data block lies (archives written to a pipe have
 *	  no offsets) and how big it is, a structural check of every block
 *	  header against the TOC, and, when the job knows the archive's SHA-256
 *	  (a pgbackups backup), the digest of every byte, which must match.
 *
 * An archive in object storage (walking it would download it all) and an
 * archive whose SHA-256 is checked (its bytes are the ones the capture wrote;
 * the digest of archive_hash.c, which verify() shares, reads it whole in
 * large reads) are not walked: positions and sizes come from the TOC's data
 * offsets, when every entry with data has one.
 *
 * src/restore/restore_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "archive_hash.h"
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
		pgb_archive_block_placed(te, &seen[idx], at);
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
 * downloading it all, and for one whose SHA-256 is checked: positions and
 * sizes from the TOC's data offsets (pgbackups' archives always have
 * them).  NULL if an entry with data has none, or the offsets are not in
 * order within the object.
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

static void
scan_check(void *arg)
{
	pgb_restore_check((PgbRestore *) arg);
}

/*
 * Digest what the walk did not read (nothing, normally) and compare.  A
 * mismatch fails the restore before anything is created.
 */
static uint64
finish_sha256(PgbRestore *r, const char *backup, const char *expected)
{
	uint64		bytes;
	char	   *hex = pgb_archive_hash_finish(r->hash, scan_check, r, &bytes);

	if (pg_strcasecmp(hex, expected) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive of backup %s does not match the SHA-256 recorded at capture", backup),
				 errdetail("Expected SHA-256 %s, the archive has %s (" UINT64_FORMAT " bytes); nothing was changed.",
						   expected, hex, bytes)));
	pgb_restore_log(r, "archive SHA-256 verified: %s, " UINT64_FORMAT " bytes", hex, bytes);
	return bytes;
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
		return pgb_archive_hash_open(r->params->archive_path, &r->hash);
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

	/*
	 * With the SHA-256 check the walk is not needed: the bytes are the ones
	 * the capture wrote, and the digest reads them in large reads (about
	 * half the time of the walk, 0.5 s for 830 MB here).  A restore's
	 * workers check every block they read in any case.
	 */
	if (pgb_url_scheme(p->archive_path) == PGB_URL_S3 || r->hash != NULL)
		positions = positions_from_toc(ar, r->plan, pgb_reader_size(reader));
	if (positions == NULL)
		positions = scan_blocks(r, reader, ar);
	if (r->hash)
	{
		uint64		bytes = finish_sha256(r, p->backup ? p->backup : "?", p->expected_sha256);

		if (pgb_url_scheme(p->archive_path) == PGB_URL_S3)
		{
			long		secs;
			int			usecs;

			/* the cost of the check: the workers read their entries again */
			TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
			pgb_restore_log(r, "the whole object was read once for its SHA-256: " UINT64_FORMAT " bytes in %ld.%03d s",
							bytes, secs, usecs / 1000);
		}
	}
	return positions;
}

/* after the reader is closed, or after an error: nothing stays open */
void
pgb_restore_scan_cleanup(PgbRestore *r)
{
	pgb_archive_hash_close(r->hash);
	r->hash = NULL;
}
