/*-------------------------------------------------------------------------
 *
 * capture_int.h
 *	  The state a capture's steps share (capture.c drives them): the
 *	  coordinator's snapshot (snapshot.c), the streams (stream_pool.c),
 *	  the merged archive (assemble.c) and its upload (upload.c).  Only
 *	  src/capture includes this file.
 *
 * src/capture/capture_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_CAPTURE_INT_H
#define PGB_CAPTURE_INT_H

#include <time.h>
#include <openssl/evp.h>

#include "libpq-fe.h"
#include "nodes/pg_list.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "utils/timestamp.h"

#include "archive.h"
#include "capture.h"
#include "pgdump.h"
#include "storage.h"
#include "stream.h"

/* a table whose data the capture copies itself (snapshot.c) */
typedef struct PgbCaptureTable
{
	Oid			relid;
	char	   *nspname;
	char	   *relname;
	char	   *qname;
	char	   *cols;
	int64		est_bytes;
	int64		nblocks;		/* heap blocks when the snapshot was taken */
	int64		data_blocks;	/* and of its TOAST table: its parts' number */
	char	   *load_via_root;	/* "" or the partition root pg_dump loads through */
} PgbCaptureTable;

/* a range of a spool file */
typedef struct PgbSpoolRange
{
	int			spool;			/* stream number, or PGB_EXTRA_SPOOL */
	uint64		off;
	uint64		len;
} PgbSpoolRange;

/*
 * Where the payload of one data block waits: spool ranges in order, then a
 * few bytes made at assembly (a parts trailer chunk, the terminator).
 */
typedef struct PgbBlockSource
{
	int			nranges;
	PgbSpoolRange *ranges;
	char		tail[PGB_PARTS_TRAILER_MAX + 16];
	int			tail_len;
	uint64		len;			/* of the whole payload */
} PgbBlockSource;

/* a TABLE DATA entry made for a copied table, and that table's index in sh->tables */
typedef struct PgbNewData
{
	PgbTocEntry *te;
	int			table;
	uint64		pos;			/* its block's offset, once written */
	PgbBlockSource src;			/* its payload, once its parts are done */
} PgbNewData;

/*
 * The archive being written (assemble.c lays it out, upload.c writes it).
 * Its header and TOC come first, but their data offsets are known only
 * when every block is written: their room is reserved, the blocks are
 * written behind it as the streams finish tables (the new TABLE DATA
 * entries in the order they are written), and header and TOC last.
 */
typedef struct PgbAssembly
{
	const PgbArchive *dump;		/* pg_dump's archive */
	PgbBlockSource *dump_src;	/* payload of dump->toc[i] if it had a dumper */
	uint64	   *dump_pos;		/* and its block's offset, once written */
	int			insert_at;		/* the new entries go before dump->toc[insert_at] */
	PgbNewData *newdata;		/* sorted by schema and name */
	int			nnew;
	int		   *new_of_table;	/* newdata index of sh->tables[i], or -1 */
	int		   *order;			/* newdata indexes in the order written */
	int			nwritten;
	uint32		next_done;		/* next slot of the streams' done order to read */
	bool		keep_spools;	/* no read back: the digest reads the spools */
	char	   *copy_buf;		/* upload.c's buffer */
	PgbArchive	out;			/* header and TOC, data offsets set at the end */
	PgbBlockSource *src;		/* payload of out.toc[i] if it had a dumper */
	StringInfoData head;		/* header and TOC, serialized */
	uint64		head_len;		/* the room reserved for them */
	uint64		size;			/* written so far; at the end of the whole archive */
	int		   *copied;			/* sh->tables indexes that got an entry, by name */
	int			ncopied;
	int64		raw_extra;		/* uncompressed bytes of pg_dump's own data */
} PgbAssembly;

/*
 * Everything a capture holds; pgb_capture_cleanup() releases it on the
 * success and the error path alike.
 */
typedef struct PgbCaptureState
{
	bool		active;
	const PgbCaptureParams *params;
	const PgbJobHooks *hooks;
	PgbCaptureResult *result;
	time_t		started;		/* the archive's creation time */
	/* snapshot.c */
	char	   *conninfo;
	PGconn	   *coord;
	List	   *tables;			/* of PgbCaptureTable, largest first */
	char	   *snapshot;
	char	   *encoding;
	/* pg_dump */
	PgbPgDump  *pgdump;
	char	   *pgdump_out;
	MemoryContext mcxt;			/* the capture's own (not a stream's) */
	/* stream_pool.c */
	char	   *spool_prefix;
	dsm_segment *seg;
	PgbCaptureShared *sh;
	bool		(*step) (struct PgbCaptureState *cs);	/* the assembly's */
	BackgroundWorkerHandle *helpers[PGB_MAX_PARALLEL];
	int			nhelpers;
	int			nstreams;
	bool		leader_streams; /* the leader runs stream 0 (else a helper) */
	/* assemble.c, upload.c: the archive, written while the streams run */
	PgbAssembly *assembly;		/* NULL until pg_dump is done */
	double		wait_secs;		/* the leader's waits for spools after its stream */
	int			written_early;	/* tables written before the streams ended */
	EVP_MD_CTX *md;
	PgbStorageWriter *writer;	/* aborted on an error path */
	int			copy_fd;
	bool		succeeded;
	TimestampTz last_progress;
} PgbCaptureState;

/* capture.c: the interrupt check of every wait, and the job's log */
extern void pgb_capture_check(void);
extern void pgb_capture_log(const char *fmt,...) pg_attribute_printf(1, 2);
extern void pgb_capture_progress(PgbCaptureState *cs, const char *phase);

/* snapshot.c */
extern void pgb_capture_open_snapshot(PgbCaptureState *cs);

/* stream_pool.c: step(cs) writes what it can, false if there was nothing */
typedef bool (*PgbCaptureStep) (PgbCaptureState *cs);
extern void pgb_capture_run_streams(PgbCaptureState *cs, PgbCaptureStep step);
extern void pgb_capture_stop_streams(PgbCaptureState *cs, bool wait);

/* assemble.c */
extern void pgb_capture_assemble_begin(PgbCaptureState *cs, PgbAssembly *a);
extern int	pgb_capture_next_done(PgbCaptureState *cs, PgbAssembly *a);
extern void pgb_capture_table_source(PgbCaptureState *cs, PgbNewData *nd);
extern void pgb_capture_assemble_finish(PgbCaptureState *cs, PgbAssembly *a);

/* upload.c */
extern void pgb_capture_upload_begin(PgbCaptureState *cs, PgbAssembly *a);
extern void pgb_capture_upload_table(PgbCaptureState *cs, PgbAssembly *a, int k);
extern void pgb_capture_upload_rest(PgbCaptureState *cs, PgbAssembly *a);
extern void pgb_capture_upload_finish(PgbCaptureState *cs, PgbAssembly *a);

#endif							/* PGB_CAPTURE_INT_H */
