/*-------------------------------------------------------------------------
 *
 * upload.c
 *	  Step 6 of a capture: the laid-out archive (assemble.c) goes to
 *	  storage: header and TOC, then each data block (block header, then the
 *	  payload copied from its spool ranges and its assembled tail), its
 *	  SHA-256 computed on the way,
 *	  then the storage writer commits it under its final name.
 *
 * The digest context is freed by a memory context callback, the writer
 * aborted and the spool descriptor closed by pgb_capture_cleanup().
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
hash_and_write(PgbCaptureState *cs, const char *data, size_t len)
{
	if (EVP_DigestUpdate(cs->md, data, len) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
	pgb_storage_write(cs->writer, data, len);
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

/* len bytes at off of a spool file, into the archive */
static void
copy_range(PgbCaptureState *cs, const PgbSpoolRange *src, char *buf)
{
	char	   *path = pgb_stream_spool_path(cs->spool_prefix, src->spool);
	uint64		off = src->off;
	uint64		len = src->len;

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
		hash_and_write(cs, buf, n);
		release_range(cs->copy_fd, off, n);
		off += n;
		len -= n;
		if ((len & 0xFFFFFF) == 0)
			pgb_pq_check_interrupts();
	}
	close(cs->copy_fd);
	cs->copy_fd = -1;
	pfree(path);
}

/* each data block: its header, then its payload from the spool */
static void
write_blocks(PgbCaptureState *cs, PgbAssembly *a)
{
	char	   *buf = palloc(COPY_BUFSIZE);
	int			i,
				k;

	for (i = 0; i < a->out.ntoc; i++)
	{
		PgbTocEntry *te = &a->out.toc[i];
		StringInfoData bh;

		if (!te->had_dumper)
			continue;
		initStringInfo(&bh);
		pgb_write_block_header(&bh, strcmp(te->desc, "BLOBS") == 0 ? PGB_BLK_BLOBS : PGB_BLK_DATA,
							   te->dump_id);
		hash_and_write(cs, bh.data, bh.len);
		pfree(bh.data);
		for (k = 0; k < a->src[i].nranges; k++)
			copy_range(cs, &a->src[i].ranges[k], buf);
		if (a->src[i].tail_len > 0)
			hash_and_write(cs, a->src[i].tail, a->src[i].tail_len);
	}
	pfree(buf);
}

/*
 * pgb_capture_upload
 *		Write the archive to its storage URL and commit it; the result gets
 *		its SHA-256, size and archive version.
 */
void
pgb_capture_upload(PgbCaptureState *cs, PgbAssembly *a)
{
	PgbCaptureResult *result = cs->result;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	int			i;

	md_start(cs);
	cs->writer = pgb_storage_create(cs->params->location, a->size);
	hash_and_write(cs, a->head.data, a->head.len);
	pgb_debug_fault("uploading");	/* tests: crash windows */
	write_blocks(cs, a);
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
