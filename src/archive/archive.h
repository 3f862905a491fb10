/*-------------------------------------------------------------------------
 *
 * archive.h
 *	  In-memory model of a pg_dump custom-format archive (header and TOC)
 *	  shared by the archive writer and reader.  The byte layout is
 *	  specified in docs: pg_dump custom format, archive versions 1.12-1.16.
 *
 * src/archive/archive.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_ARCHIVE_H
#define PGB_ARCHIVE_H

#include "lib/stringinfo.h"

#include "compress.h"

#define PGB_ARCHIVE_VERSION(maj, min, rev) (((maj) << 16) | ((min) << 8) | (rev))
#define PGB_K_VERS_1_12 PGB_ARCHIVE_VERSION(1, 12, 0)
#define PGB_K_VERS_1_14 PGB_ARCHIVE_VERSION(1, 14, 0)
#define PGB_K_VERS_1_15 PGB_ARCHIVE_VERSION(1, 15, 0)
#define PGB_K_VERS_1_16 PGB_ARCHIVE_VERSION(1, 16, 0)
#define PGB_K_VERS_MAX	PGB_ARCHIVE_VERSION(1, 16, 255)

/* TOC sections */
#define PGB_SECTION_NONE 1
#define PGB_SECTION_PRE_DATA 2
#define PGB_SECTION_DATA 3
#define PGB_SECTION_POST_DATA 4

/* data offset flags */
#define PGB_OFFSET_NOT_SET 1
#define PGB_OFFSET_SET 2
#define PGB_OFFSET_NO_DATA 3

/* data block types */
#define PGB_BLK_DATA 1
#define PGB_BLK_BLOBS 3

typedef struct PgbArchiveHeader
{
	int			version;		/* PGB_ARCHIVE_VERSION(...) */
	int			int_size;
	int			off_size;
	int			format;
	PgbCompression compression;
	int			level;			/* < 1.15: the stored zlib level */
	int			tm[7];			/* sec, min, hour, mday, mon, year, isdst */
	char	   *dbname;
	char	   *server_version;
	char	   *pgdump_version;
} PgbArchiveHeader;

typedef struct PgbTocEntry
{
	int			dump_id;
	int			had_dumper;
	char	   *tableoid;
	char	   *oid;
	char	   *tag;
	char	   *desc;
	int			section;
	char	   *defn;
	char	   *drop_stmt;
	char	   *copy_stmt;
	char	   *namespace;
	char	   *tablespace;
	char	   *tableam;
	int			relkind;		/* 1.16+ */
	char	   *owner;
	char	   *with_oids;
	int			ndeps;
	int		   *deps;
	int			data_state;		/* PGB_OFFSET_* */
	uint64		data_pos;
} PgbTocEntry;

typedef struct PgbArchive
{
	PgbArchiveHeader hdr;
	int			ntoc;
	PgbTocEntry *toc;			/* array of ntoc */
	uint64		data_start;		/* first byte after the TOC */
} PgbArchive;

/* archive_writer.c */
extern void pgb_write_int(StringInfo buf, int value);
extern void pgb_write_str(StringInfo buf, const char *s);
extern void pgb_write_header(StringInfo buf, const PgbArchiveHeader *hdr);
extern void pgb_write_toc(StringInfo buf, const PgbArchive *ar);
extern void pgb_write_block_header(StringInfo buf, int blktype, int dump_id);

/* archive_reader.c */
typedef struct PgbArchiveReader PgbArchiveReader;

extern PgbArchiveReader *pgb_reader_open_file(const char *path);
/* the same, but the file stays open across transactions until closed */
extern PgbArchiveReader *pgb_reader_open_file_session(const char *path);
extern PgbArchiveReader *pgb_reader_open_memory(const char *data, size_t len);

/* an archive read through callbacks (S3 ranged GETs) */
typedef struct PgbReadSource
{
	/* up to n bytes at pos; short only at the end; errors are raised */
	size_t		(*read) (void *arg, uint64 pos, char *buf, size_t n);
	void		(*close) (void *arg);
	void	   *arg;
	int64		size;			/* -1 if unknown */
} PgbReadSource;

extern PgbArchiveReader *pgb_reader_open_source(PgbReadSource *src);
extern const PgbArchive *pgb_reader_read_toc(PgbArchiveReader *r);
extern void pgb_reader_close(PgbArchiveReader *r);
extern uint64 pgb_reader_position(PgbArchiveReader *r);
/* the archive's size if the source knows it, else -1 */
extern int64 pgb_reader_size(PgbArchiveReader *r);

/*
 * Sequential walk of the data area: returns false at the end of the archive,
 * else the next block's type and TOC entry.
 */
extern bool pgb_reader_next_block(PgbArchiveReader *r, int *blktype, PgbTocEntry **te);
extern void pgb_reader_seek_block(PgbArchiveReader *r, PgbTocEntry *te, int *blktype);
/* data_parts.c: a TABLE DATA block written in parts (the defn's note) */
extern char *pgb_data_parts_defn(const char *prefix, int nparts, const uint64 *offsets);
extern void pgb_data_parts_fill(char *defn, int nparts, const uint64 *offsets);
extern int	pgb_data_parts(const PgbTocEntry *te, uint64 **offsets);

/* data_source.c: a copy's TABLE DATA read at the source (the defn's note) */
extern char *pgb_data_source_defn(const char *prefix, int nparts, char *const *sqls);
extern int	pgb_data_source(const PgbTocEntry *te, char ***sqls);

/* a part of te's chunks, bytes start to end (0: the terminator) of them */
extern void pgb_reader_seek_part(PgbArchiveReader *r, PgbTocEntry *te, uint64 start,
								 uint64 end, int *blktype);

/*
 * Read one chunk stream (Int len, bytes ... Int 0), handing each chunk to
 * sink unchanged.  Returns the number of payload bytes.
 */
extern uint64 pgb_reader_read_chunks(PgbArchiveReader *r, PgbByteSink sink, void *arg);

/* pull one chunk into buf; false at the end of the chunk stream */
extern bool pgb_reader_next_chunk(PgbArchiveReader *r, StringInfo buf);

/* in a BLOBS block: next large object OID, false at the terminating 0 */
extern bool pgb_reader_next_blob(PgbArchiveReader *r, Oid *oid);

extern PgbTocEntry *pgb_toc_find(const PgbArchive *ar, int dump_id);

#endif							/* PGB_ARCHIVE_H */
