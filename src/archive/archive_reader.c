/*-------------------------------------------------------------------------
 *
 * archive_reader.c
 *	  Strict reader of pg_dump custom-format archives, versions 1.12 to
 *	  1.16.
 *
 * Every length and count is bounded before anything is allocated, unknown
 * versions, formats, sections, offset flags and block types are rejected,
 * dump ids must be positive and unique, and block headers must match the
 * TOC.  Errors are ERRCODE_DATA_CORRUPTED (or FEATURE_NOT_SUPPORTED for a
 * newer archive version) and say where in the file the problem is.
 *
 * src/archive/archive_reader.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "storage/fd.h"

#include "archive.h"

#define PGB_MAX_STRING (256 * 1024 * 1024)
#define PGB_MAX_TOC (10 * 1000 * 1000)
#define PGB_MAX_DEPS (1000 * 1000)

/*
 * Reading from a file, a buffer for a string or chunk grows by at most this
 * much beyond the bytes that actually arrived, so a corrupt length cannot
 * make us allocate more than about twice the size of the archive.
 */
#define PGB_READ_STEP (1024 * 1024)

struct PgbArchiveReader
{
	FILE	   *fp;
	bool		fp_is_session;	/* fopen'ed, survives transactions */
	const char *mem;
	size_t		memlen;
	PgbReadSource *src;
	uint64		pos;
	uint64		chunks_end;		/* pgb_reader_seek_part: where the part's
								 * chunks end, 0: at the terminator */
	PgbArchive ar;
	bool		have_toc;
	int		   *byid;			/* TOC indexes in dump id order */
};

static void
reader_fail(PgbArchiveReader *r, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid archive: %s", what),
			 errdetail("The problem was found at byte " UINT64_FORMAT " of the archive.", r->pos)));
}

/* returns the number of bytes read; short only at end of input */
static size_t
read_raw(PgbArchiveReader *r, void *buf, size_t n)
{
	size_t		got;

	if (r->fp)
	{
		got = fread(buf, 1, n, r->fp);
		if (got < n && ferror(r->fp))
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read archive: %m")));
	}
	else if (r->src)
		got = r->src->read(r->src->arg, r->pos, buf, n);
	else
	{
		got = Min(n, r->memlen - r->pos);
		memcpy(buf, r->mem + r->pos, got);
	}
	r->pos += got;
	return got;
}

static void
read_exact(PgbArchiveReader *r, void *buf, size_t n)
{
	if (read_raw(r, buf, n) != n)
		reader_fail(r, "unexpected end of file");
}

static int
read_byte(PgbArchiveReader *r)
{
	unsigned char b;

	read_exact(r, &b, 1);
	return b;
}

static int
read_int(PgbArchiveReader *r)
{
	unsigned char b[5];
	uint32		mag;

	read_exact(r, b, 5);
	mag = (uint32) b[1] | ((uint32) b[2] << 8) | ((uint32) b[3] << 16) | ((uint32) b[4] << 24);
	if (b[0] != 0)
		return (int) ((uint32) 0 - mag);
	return (int) mag;
}

/*
 * Read n bytes into buf (palloc'd with *cap bytes, or NULL), enlarging it to
 * hold n + extra bytes; returns the buffer.  In memory the length is checked
 * first; from a file the buffer grows with the bytes that actually arrive.
 */
static char *
read_bytes(PgbArchiveReader *r, char *buf, size_t *cap, size_t n, size_t extra,
		   const char *eofmsg)
{
	size_t		done = 0;

	if (r->mem && n > r->memlen - r->pos)
		reader_fail(r, eofmsg);
	for (;;)
	{
		size_t		target = r->mem ? n : Min(n, Max(2 * done, PGB_READ_STEP));

		if (buf == NULL || *cap < target + extra)
		{
			*cap = Max(target + extra, 2 * *cap);
			buf = buf ? repalloc_huge(buf, *cap) :
				MemoryContextAllocHuge(CurrentMemoryContext, *cap);
		}
		if (read_raw(r, buf + done, target - done) != target - done)
			reader_fail(r, eofmsg);
		done = target;
		if (done == n)
			return buf;
	}
}

static char *
read_str(PgbArchiveReader *r)
{
	int			len = read_int(r);
	char	   *s;
	size_t		cap = 0;

	if (len == -1)
		return NULL;
	if (len < 0 || len > PGB_MAX_STRING)
		reader_fail(r, psprintf("string length %d out of range", len));
	s = read_bytes(r, NULL, &cap, len, 1, "unexpected end of file");
	s[len] = '\0';
	return s;
}

static PgbArchiveReader *
reader_new(void)
{
	return palloc0(sizeof(PgbArchiveReader));
}

PgbArchiveReader *
pgb_reader_open_file(const char *path)
{
	PgbArchiveReader *r = reader_new();

	r->fp = AllocateFile(path, PG_BINARY_R);
	if (r->fp == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open archive \"%s\": %m", path)));
	return r;
}

PgbArchiveReader *
pgb_reader_open_file_session(const char *path)
{
	PgbArchiveReader *r = reader_new();

	/*
	 * AllocateFile's files are closed at the end of the transaction; a
	 * restore worker reads one archive across many transactions.
	 */
	if (!AcquireExternalFD())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not open archive \"%s\": too many open files", path)));
	r->fp = fopen(path, PG_BINARY_R);
	if (r->fp == NULL)
	{
		int			save_errno = errno;

		ReleaseExternalFD();
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open archive \"%s\": %m", path)));
	}
	r->fp_is_session = true;
	return r;
}

PgbArchiveReader *
pgb_reader_open_memory(const char *data, size_t len)
{
	PgbArchiveReader *r = reader_new();

	r->mem = data;
	r->memlen = len;
	return r;
}

PgbArchiveReader *
pgb_reader_open_source(PgbReadSource *src)
{
	PgbArchiveReader *r = reader_new();

	r->src = src;
	return r;
}

void
pgb_reader_close(PgbArchiveReader *r)
{
	if (r->src && r->src->close)
		r->src->close(r->src->arg);
	r->src = NULL;
	if (r->fp && r->fp_is_session)
	{
		fclose(r->fp);
		ReleaseExternalFD();
	}
	else if (r->fp)
		FreeFile(r->fp);
	r->fp = NULL;
}

uint64
pgb_reader_position(PgbArchiveReader *r)
{
	return r->pos;
}

int64
pgb_reader_size(PgbArchiveReader *r)
{
	if (r->src)
		return r->src->size;
	if (r->mem)
		return (int64) r->memlen;
	return -1;
}

static void
read_header(PgbArchiveReader *r, PgbArchiveHeader *h)
{
	char		magic[5];
	int			vmaj,
				vmin,
				vrev,
				i;

	read_exact(r, magic, 5);
	if (memcmp(magic, "PGDMP", 5) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid archive: not a pg_dump custom-format archive"),
				 errdetail("The file does not start with the PGDMP signature.")));
	vmaj = read_byte(r);
	vmin = read_byte(r);
	vrev = read_byte(r);
	h->version = PGB_ARCHIVE_VERSION(vmaj, vmin, vrev);
	if (h->version > PGB_K_VERS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unsupported archive version %d.%d", vmaj, vmin),
				 errdetail("Archive versions 1.12 to 1.16 (pg_dump 11 to 18) are supported.")));
	if (h->version < PGB_K_VERS_1_12)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unsupported archive version %d.%d", vmaj, vmin),
				 errdetail("Archive versions 1.12 to 1.16 (pg_dump 11 to 18) are supported.")));
	h->int_size = read_byte(r);
	if (h->int_size != 4)
		reader_fail(r, psprintf("unsupported integer size %d", h->int_size));
	h->off_size = read_byte(r);
	if (h->off_size < 1 || h->off_size > 8)
		reader_fail(r, psprintf("unsupported offset size %d", h->off_size));
	h->format = read_byte(r);
	if (h->format != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unsupported archive format %d", h->format),
				 errdetail("Only the custom format (pg_dump -Fc) is supported.")));
	if (h->version >= PGB_K_VERS_1_15)
	{
		int			alg = read_byte(r);

		if (alg > PGB_COMPRESS_ZSTD)
			reader_fail(r, psprintf("unknown compression algorithm %d", alg));
		h->compression = (PgbCompression) alg;
		h->level = 0;
	}
	else
	{
		h->level = read_int(r);
		if (h->level < -1 || h->level > 9)
			reader_fail(r, psprintf("invalid compression level %d", h->level));
		h->compression = h->level != 0 ? PGB_COMPRESS_GZIP : PGB_COMPRESS_NONE;
	}
	for (i = 0; i < 7; i++)
		h->tm[i] = read_int(r);
	h->dbname = read_str(r);
	h->server_version = read_str(r);
	h->pgdump_version = read_str(r);
}

static uint64
read_offset(PgbArchiveReader *r, int *flag)
{
	unsigned char b[9];
	uint64		v = 0;
	int			i;

	read_exact(r, b, 1 + r->ar.hdr.off_size);
	*flag = b[0];
	if (*flag != PGB_OFFSET_NOT_SET && *flag != PGB_OFFSET_SET && *flag != PGB_OFFSET_NO_DATA)
		reader_fail(r, psprintf("unexpected data offset flag %d", *flag));
	for (i = r->ar.hdr.off_size - 1; i >= 0; i--)
		v = (v << 8) | b[1 + i];
	return v;
}

/* qsort_arg comparator: TOC indexes by dump id */
static int
cmp_byid(const void *a, const void *b, void *arg)
{
	const PgbTocEntry *toc = (const PgbTocEntry *) arg;
	int			x = toc[*(const int *) a].dump_id,
				y = toc[*(const int *) b].dump_id;

	return x < y ? -1 : (x > y);
}

/* the entry with this dump id, by binary search of r->byid; NULL if none */
static PgbTocEntry *
find_entry(PgbArchiveReader *r, int dump_id)
{
	int			lo = 0,
				hi = r->ar.ntoc - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		PgbTocEntry *te = &r->ar.toc[r->byid[mid]];

		if (te->dump_id == dump_id)
			return te;
		if (te->dump_id < dump_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

const PgbArchive *
pgb_reader_read_toc(PgbArchiveReader *r)
{
	PgbArchive *ar = &r->ar;
	int			n,
				i,
				alloced;

	if (r->have_toc)
		return ar;
	read_header(r, &ar->hdr);
	n = read_int(r);
	if (n < 0 || n > PGB_MAX_TOC)
		reader_fail(r, psprintf("TOC entry count %d out of range", n));

	/*
	 * The array grows as entries arrive rather than trusting the count: a
	 * corrupt count must not allocate more than the entries that are there.
	 */
	alloced = Min(n, 64);
	ar->toc = palloc0(sizeof(PgbTocEntry) * Max(alloced, 1));
	for (i = 0; i < n; i++)
	{
		PgbTocEntry *te;
		int			cap = 8;

		if (i == alloced)
		{
			int			more = Min(n, alloced * 2);

			ar->toc = repalloc(ar->toc, sizeof(PgbTocEntry) * more);
			memset(ar->toc + alloced, 0, sizeof(PgbTocEntry) * (more - alloced));
			alloced = more;
		}
		te = &ar->toc[i];

		te->dump_id = read_int(r);
		if (te->dump_id <= 0)
			reader_fail(r, psprintf("entry ID %d out of range", te->dump_id));
		te->had_dumper = read_int(r);
		if (te->had_dumper != 0 && te->had_dumper != 1)
			reader_fail(r, psprintf("invalid data flag %d in entry %d", te->had_dumper, te->dump_id));
		te->tableoid = read_str(r);
		te->oid = read_str(r);
		te->tag = read_str(r);
		te->desc = read_str(r);
		if (te->desc == NULL)
			reader_fail(r, psprintf("entry %d has no type", te->dump_id));
		te->section = read_int(r);
		if (te->section < PGB_SECTION_NONE || te->section > PGB_SECTION_POST_DATA)
			reader_fail(r, psprintf("invalid section %d in entry %d", te->section, te->dump_id));
		te->defn = read_str(r);
		te->drop_stmt = read_str(r);
		te->copy_stmt = read_str(r);
		te->namespace = read_str(r);
		te->tablespace = read_str(r);
		if (ar->hdr.version >= PGB_K_VERS_1_14)
			te->tableam = read_str(r);
		if (ar->hdr.version >= PGB_K_VERS_1_16)
			te->relkind = read_int(r);
		te->owner = read_str(r);
		te->with_oids = read_str(r);
		te->deps = palloc(sizeof(int) * cap);
		for (;;)
		{
			char	   *dep = read_str(r);
			char	   *end;
			long		v;

			if (dep == NULL)
				break;
			errno = 0;
			v = strtol(dep, &end, 10);
			if (*dep == '\0' || *end != '\0' || errno != 0 || v <= 0 || v > INT_MAX)
				reader_fail(r, psprintf("invalid dependency \"%s\" in entry %d", dep, te->dump_id));
			if (te->ndeps >= PGB_MAX_DEPS)
				reader_fail(r, "too many dependencies");
			if (te->ndeps == cap)
			{
				cap *= 2;
				te->deps = repalloc(te->deps, sizeof(int) * cap);
			}
			te->deps[te->ndeps++] = (int) v;
			pfree(dep);
		}
		te->data_pos = read_offset(r, &te->data_state);
		if (te->data_state == PGB_OFFSET_NO_DATA && te->had_dumper)
			te->data_state = PGB_OFFSET_NOT_SET;
	}
	ar->ntoc = n;
	ar->data_start = r->pos;

	/* dump ids must be unique; the sorted index serves block lookups */
	r->byid = palloc(sizeof(int) * Max(n, 1));
	for (i = 0; i < n; i++)
		r->byid[i] = i;
	qsort_arg(r->byid, n, sizeof(int), cmp_byid, ar->toc);
	for (i = 1; i < n; i++)
		if (ar->toc[r->byid[i]].dump_id == ar->toc[r->byid[i - 1]].dump_id)
			reader_fail(r, psprintf("duplicate entry ID %d", ar->toc[r->byid[i]].dump_id));

	r->have_toc = true;
	return ar;
}

PgbTocEntry *
pgb_toc_find(const PgbArchive *ar, int dump_id)
{
	int			i;

	for (i = 0; i < ar->ntoc; i++)
		if (ar->toc[i].dump_id == dump_id)
			return &ar->toc[i];
	return NULL;
}

bool
pgb_reader_next_block(PgbArchiveReader *r, int *blktype, PgbTocEntry **te)
{
	unsigned char b;
	int			id;

	if (!r->have_toc)
		elog(ERROR, "archive TOC has not been read");
	if (read_raw(r, &b, 1) == 0)
		return false;
	if (b != PGB_BLK_DATA && b != PGB_BLK_BLOBS)
		reader_fail(r, psprintf("unrecognized data block type %d", b));
	*blktype = b;
	id = read_int(r);
	*te = find_entry(r, id);
	if (*te == NULL || !(*te)->had_dumper)
		reader_fail(r, psprintf("data block for entry %d, which has no data in the TOC", id));
	if ((b == PGB_BLK_BLOBS) != (strcmp((*te)->desc, "BLOBS") == 0))
		reader_fail(r, psprintf("block type %d does not match entry %d (%s)", b, id, (*te)->desc));
	return true;
}

void
pgb_reader_seek_block(PgbArchiveReader *r, PgbTocEntry *te, int *blktype)
{
	PgbTocEntry *found;

	if (r->fp == NULL && r->mem == NULL && r->src == NULL)
		elog(ERROR, "archive reader is closed");
	if (te->data_state != PGB_OFFSET_SET)
		elog(ERROR, "entry %d has no data offset", te->dump_id);
	/* beyond what off_t holds, or past the end of the data in memory */
	if (te->data_pos > (uint64) PG_INT64_MAX)
		reader_fail(r, "data offset beyond the end of the archive");
	if (r->fp)
	{
		if (fseeko(r->fp, (off_t) te->data_pos, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not seek in archive: %m")));
	}
	else if (r->src)
	{
		if (r->src->size >= 0 && te->data_pos > (uint64) r->src->size)
			reader_fail(r, "data offset beyond the end of the archive");
	}
	else if (te->data_pos > r->memlen)
		reader_fail(r, "data offset beyond the end of the archive");
	r->pos = te->data_pos;
	r->chunks_end = 0;
	if (!pgb_reader_next_block(r, blktype, &found))
		reader_fail(r, psprintf("could not find block ID %d in archive", te->dump_id));
	if (found != te)
		reader_fail(r, psprintf("found unexpected block ID (%d) when reading data -- expected %d",
								found->dump_id, te->dump_id));
}

/*
 * pgb_reader_seek_part
 *		Position at a part of te's data block: the chunks from byte start to
 *		byte end (0: to the terminator) of the block's chunk sequence, both
 *		counted from its first chunk's length word.  pgb_reader_next_chunk
 *		then returns false at end, which must be a chunk boundary.
 */
void
pgb_reader_seek_part(PgbArchiveReader *r, PgbTocEntry *te, uint64 start, uint64 end,
					 int *blktype)
{
	uint64		base;

	pgb_reader_seek_block(r, te, blktype);
	base = r->pos;
	if (end != 0 && end <= start)
		reader_fail(r, "empty part of a data block");
	if (start > 0)
	{
		if (base + start > (uint64) PG_INT64_MAX ||
			(r->mem && start > r->memlen - base) ||
			(r->src && r->src->size >= 0 && base + start > (uint64) r->src->size))
			reader_fail(r, "part offset beyond the end of the archive");
		if (r->fp && fseeko(r->fp, (off_t) (base + start), SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not seek in archive: %m")));
		r->pos = base + start;
	}
	r->chunks_end = end != 0 ? base + end : 0;
}

uint64
pgb_reader_read_chunks(PgbArchiveReader *r, PgbByteSink sink, void *arg)
{
	uint64		total = 0;
	char	   *buf = NULL;
	size_t		cap = 0;

	for (;;)
	{
		int			len = read_int(r);

		if (len == 0)
			break;
		if (len < 0)
			reader_fail(r, psprintf("invalid chunk length %d", len));
		buf = read_bytes(r, buf, &cap, len, 0, "unexpected end of file inside a data chunk");
		sink(arg, buf, len);
		total += len;
	}
	if (buf)
		pfree(buf);
	return total;
}

bool
pgb_reader_next_blob(PgbArchiveReader *r, Oid *oid)
{
	int			v = read_int(r);

	*oid = (Oid) (uint32) v;
	return v != 0;
}

/*
 * pgb_reader_next_chunk
 *		Pull one chunk of the current chunk stream into buf (replacing its
 *		contents).  Returns false at the terminating zero length.  The
 *		pull-style counterpart of pgb_reader_read_chunks, for consumers
 *		that cannot take a callback (COPY FROM's data source).
 */
bool
pgb_reader_next_chunk(PgbArchiveReader *r, StringInfo buf)
{
	int			len;

	if (r->chunks_end != 0 && r->pos >= r->chunks_end)
	{
		if (r->pos != r->chunks_end)
			reader_fail(r, "a part of a data block does not end at a chunk boundary");
		r->chunks_end = 0;
		return false;
	}
	len = read_int(r);

	if (len == 0 && r->chunks_end != 0)
		reader_fail(r, "a part of a data block ends beyond the block");
	if (len == 0)
		return false;
	if (len < 0)
		reader_fail(r, psprintf("invalid chunk length %d", len));
	if (r->chunks_end != 0 && (uint64) len > r->chunks_end - r->pos)
		reader_fail(r, "a part of a data block does not end at a chunk boundary");
	if (r->mem && (uint64) len > r->memlen - r->pos)
		reader_fail(r, "unexpected end of file inside a data chunk");
	resetStringInfo(buf);

	/* from a file, the buffer grows with the bytes that arrive (read_bytes) */
	while (buf->len < len)
	{
		int			step = r->mem ? len : Min(len - buf->len, Max(buf->len, PGB_READ_STEP));

		enlargeStringInfo(buf, step);
		if (read_raw(r, buf->data + buf->len, step) != step)
			reader_fail(r, "unexpected end of file inside a data chunk");
		buf->len += step;
	}
	buf->data[len] = '\0';
	return true;
}
