/*-------------------------------------------------------------------------
 *
 * upload.c
 *	  The writing of a capture's archive (laid out by assemble.c), while
 *	  the streams run: the room of header and TOC reserved in storage, each
 *	  data block appended as soon as assemble.c has it (block header, then
 *	  the payload copied from its spool ranges and its assembled tail), and
 *	  at the end header and TOC written in their room, the SHA-256 computed
 *	  (header and TOC, then the data read back from the archive file, or
 *	  for S3 from the spools) and the archive committed under its final
 *	  name.
 *
 * Spool bytes are given back to the file system as soon as they are in
 * the archive, or, where the archive cannot be read back (S3), once they
 * are hashed.  The digest context is freed by a memory context callback,
 * the writer aborted and the spool descriptor closed by
 * pgb_capture_cleanup().
 *
 * src/capture/upload.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#ifdef __linux__
#include <linux/falloc.h>
#endif
#include <unistd.h>

#include "utils/memutils.h"

#include "capture_int.h"
#include "guc.h"
#include "pq_util.h"

#define COPY_BUFSIZE (1024 * 1024)

static void
md_release(void *arg)
{
	PgbCaptureState *cs = (PgbCaptureState *) arg;

	if (cs->md)
		EVP_MD_CTX_free(cs->md);
	cs->md = NULL;
}

static void
md_start(PgbCaptureState *cs)
{
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));

	cs->md = EVP_MD_CTX_new();
	cb->func = md_release;
	cb->arg = cs;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	if (cs->md == NULL || EVP_DigestInit_ex(cs->md, EVP_sha256(), NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize SHA-256")));
}

static void
hash(PgbCaptureState *cs, const char *data, size_t len)
{
	if (EVP_DigestUpdate(cs->md, data, len) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
}

/*
 * release_range
 *		Give copied spool bytes back to the file system (a hole punched in
 *		the spool file, a buffer at a time), so that the spools shrink while the
 *		archive grows: a capture to local storage never needs room for the
 *		archive twice.  Where the file system cannot punch holes the spool
 *		keeps its blocks until the capture removes it.
 */
static void
release_range(int fd, uint64 off, uint64 len)
{
#if defined(FALLOC_FL_PUNCH_HOLE) && defined(FALLOC_FL_KEEP_SIZE)
	if (len > 0)
		(void) fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) off, (off_t) len);
#endif
}

/* len bytes at off of a spool file, into the archive (write) or the digest */
static void
copy_range(PgbCaptureState *cs, const PgbSpoolRange *src, char *buf,
		   bool write, bool release)
{
	char	   *path = pgb_stream_spool_path(cs->spool_prefix, src->spool);
	uint64		off = src->off;
	uint64		len = src->len;
	int			nbuf = 0;

	/* cs->copy_fd is closed by pgb_capture_cleanup if an error interrupts us */
	cs->copy_fd = open(path, O_RDWR | PG_BINARY, 0);
	if (cs->copy_fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open spool file \"%s\": %m", path)));
	while (len > 0)
	{
		ssize_t		n = pread(cs->copy_fd, buf, Min(len, COPY_BUFSIZE), (off_t) off);

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read spool file \"%s\": %m", path)));
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("could not read spool file \"%s\": unexpected end of file", path)));
		if (write)
			pgb_storage_write(cs->writer, buf, n);
		else
			hash(cs, buf, n);
		if (release)
			release_range(cs->copy_fd, off, n);
		off += n;
		len -= n;
		if (++nbuf % 16 == 0)
			pgb_pq_check_interrupts();
	}
	close(cs->copy_fd);
	cs->copy_fd = -1;
	pfree(path);
}

static void
block_header(StringInfo bh, const PgbTocEntry *te)
{
	initStringInfo(bh);
	pgb_write_block_header(bh, strcmp(te->desc, "BLOBS") == 0 ? PGB_BLK_BLOBS : PGB_BLK_DATA,
						   te->dump_id);
}

/* one data block, appended to the archive; its offset */
static uint64
write_block(PgbCaptureState *cs, PgbAssembly *a, const PgbTocEntry *te,
			const PgbBlockSource *src)
{
	uint64		pos = a->size;
	StringInfoData bh;
	int			k;

	if (a->copy_buf == NULL)
		a->copy_buf = MemoryContextAlloc(cs->mcxt, COPY_BUFSIZE);
	block_header(&bh, te);
	pgb_storage_write(cs->writer, bh.data, bh.len);
	pfree(bh.data);
	for (k = 0; k < src->nranges; k++)
		copy_range(cs, &src->ranges[k], a->copy_buf, true, !a->keep_spools);
	if (src->tail_len > 0)
		pgb_storage_write(cs->writer, src->tail, src->tail_len);
	a->size += 6 + src->len;
	return pos;
}

/* pg_dump's blocks of entries first .. last - 1 */
static void
write_dump_blocks(PgbCaptureState *cs, PgbAssembly *a, int first, int last)
{
	int			i;

	for (i = first; i < last; i++)
		if (a->dump->toc[i].had_dumper)
			a->dump_pos[i] = write_block(cs, a, &a->dump->toc[i], &a->dump_src[i]);
}

/*
 * expected_size
 *		What the archive will hold, for the size of S3 parts before it is
 *		known: pg_dump's output and twice the heaps (COPY text of a heap,
 *		compressed, is rarely larger).
 */
static uint64
expected_size(PgbCaptureState *cs)
{
	uint64		size = cs->assembly->head_len;
	int			i;

	for (i = 0; i < cs->sh->ntables; i++)
		size += 2 * (uint64) Max(cs->sh->tables[i].est_bytes, 0);
	for (i = 0; i < cs->assembly->dump->ntoc; i++)
		size += cs->assembly->dump_src[i].len;
	return size;
}

/*
 * pgb_capture_upload_begin
 *		Create the archive in storage with the room for header and TOC, and
 *		write pg_dump's blocks that come before the copied tables'.
 */
void
pgb_capture_upload_begin(PgbCaptureState *cs, PgbAssembly *a)
{
	cs->writer = pgb_storage_create(cs->params->location, expected_size(cs));
	a->keep_spools = !pgb_storage_can_read_back(cs->writer);
	pgb_storage_reserve_head(cs->writer, a->head_len);
	write_dump_blocks(cs, a, 0, a->insert_at);
}

/* the block of new entry k, whose table the streams are done with */
void
pgb_capture_upload_table(PgbCaptureState *cs, PgbAssembly *a, int k)
{
	PgbNewData *nd = &a->newdata[k];

	pgb_capture_table_source(cs, nd);
	nd->pos = write_block(cs, a, nd->te, &nd->src);
	a->order[a->nwritten++] = k;
}

/* every table written: pg_dump's remaining blocks */
void
pgb_capture_upload_rest(PgbCaptureState *cs, PgbAssembly *a)
{
	write_dump_blocks(cs, a, a->insert_at, a->dump->ntoc);
}

/*
 * hash_archive
 *		The SHA-256 of the archive: header and TOC, then the data, read
 *		back from the archive, or from the spools where it cannot be (their
 *		bytes given back then).
 */
static void
hash_archive(PgbCaptureState *cs, PgbAssembly *a)
{
	hash(cs, a->head.data, a->head.len);
	if (!a->keep_spools)
	{
		uint64		off = a->head_len;
		int			nbuf = 0;

		while (off < a->size)
		{
			size_t		n = Min(a->size - off, COPY_BUFSIZE);

			pgb_storage_read_back(cs->writer, off, a->copy_buf, n);
			hash(cs, a->copy_buf, n);
			off += n;
			if (++nbuf % 16 == 0)
				pgb_pq_check_interrupts();
		}
		return;
	}
	for (int i = 0; i < a->out.ntoc; i++)
	{
		const PgbTocEntry *te = &a->out.toc[i];
		StringInfoData bh;
		int			k;

		if (!te->had_dumper)
			continue;
		block_header(&bh, te);
		hash(cs, bh.data, bh.len);
		pfree(bh.data);
		for (k = 0; k < a->src[i].nranges; k++)
			copy_range(cs, &a->src[i].ranges[k], a->copy_buf, false, true);
		if (a->src[i].tail_len > 0)
			hash(cs, a->src[i].tail, a->src[i].tail_len);
	}
}

/*
 * pgb_capture_upload_finish
 *		Every block is written and the TOC final (assemble.c): write header
 *		and TOC in their room, compute the SHA-256, commit.  The result gets
 *		the SHA-256, size and archive version.
 */
void
pgb_capture_upload_finish(PgbCaptureState *cs, PgbAssembly *a)
{
	PgbCaptureResult *result = cs->result;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	int			i;

	if (a->copy_buf == NULL)
		a->copy_buf = MemoryContextAlloc(cs->mcxt, COPY_BUFSIZE);
	pgb_storage_write_head(cs->writer, a->head.data, a->head.len);
	md_start(cs);
	hash_archive(cs, a);
	pgb_debug_fault("before_commit");
	pgb_storage_commit(cs->writer);
	cs->writer = NULL;
	if (EVP_DigestFinal_ex(cs->md, digest, &dlen) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
	for (i = 0; i < (int) dlen && i < 32; i++)
		snprintf(result->sha256 + 2 * i, 3, "%02x", digest[i]);
	result->archive_size = a->size;
	result->archive_version = psprintf("%d.%d", (a->out.hdr.version >> 16) & 0xFF,
									   (a->out.hdr.version >> 8) & 0xFF);
}
