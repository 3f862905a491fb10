/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Parallel COPY streams of a capture: the shared (DSM) work list of
 *	  table parts and the per-stream loop, run by the job leader and by
 *	  helper workers.
 *
 * src/capture/stream.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_STREAM_H
#define PGB_STREAM_H

#include "port/atomics.h"
#include "storage/block.h"
#include "storage/spin.h"

#include "compress.h"
#include "error_info.h"
#include "guc.h"

/* a table whose data the streams copy: one part, or several (ctid ranges) */
typedef struct PgbStreamTable
{
	Oid			relid;
	uint32		sql_off;		/* COPY ... TO stdout, in the string area */
	uint32		name_off;		/* schema.table, for messages */
	uint32		select_off;		/* "cols FROM ONLY schema.table" */
	int64		est_bytes;
	int			first_part;		/* its parts in PgbCaptureShared.parts */
	int			nparts;
	pg_atomic_uint32 parts_left;	/* not yet copied */
	/* set by the leader once every stream is done (pgb_capture_run_streams) */
	bool		done;
	int64		rows;
	int64		raw_bytes;
} PgbStreamTable;

/*
 * One unit of work: a table's rows in the heap blocks [start_block,
 * end_block) (end_block InvalidBlockNumber: to the end), or the whole table
 * when it has one part.  Its data goes to the spool of the stream that
 * copied it as a chunk sequence without terminator (compress.h's parts).
 */
typedef struct PgbStreamPart
{
	int			table;			/* index in PgbCaptureShared.tables */
	int			part;			/* 0 .. nparts - 1 */
	BlockNumber start_block;
	BlockNumber end_block;
	/* results, written by the stream that took the part */
	int			stream;
	bool		done;
	uint64		spool_off;
	uint64		spool_len;
	int64		rows;
	int64		raw_bytes;
	uint64		in_len;			/* bytes compressed: COPY text, end marker */
	uint32		check;			/* pgb_compressor_part_check */
} PgbStreamPart;

struct PGPROC;

typedef struct PgbCaptureShared
{
	pg_atomic_uint32 next_part;
	pg_atomic_uint32 next_done;	/* next free slot of the done order */
	pg_atomic_uint32 abort;
	pg_atomic_uint32 error_claimed;	/* a stream is writing "error" */
	pg_atomic_uint32 error_ready;	/* "error" is written */
	int			ntables;
	int			nparts;
	int			nstreams;
	int			lock_timeout;	/* ms, for each COPY's lock (0: none) */
	bool		data_at_source; /* a copy: no COPY, the restore reads it */
	PgbCompressionSpec comp;
	char		snapshot[64];
	char		conninfo[4096];
	char		spool_prefix[MAXPGPATH];
	char		encoding[64];
	/* helpers read rows in their own process (stream_local.c): as whom, where */
	bool		local;
	char		local_db[NAMEDATALEN];
	char		local_role[NAMEDATALEN];
	slock_t		mutex;			/* protects what follows */
	int			tables_done;
	int64		bytes_done;
	bool		stream_done[PGB_MAX_PARALLEL];
	int			stream_parts[PGB_MAX_PARALLEL];	/* parts it copied */
	int64		stream_raw[PGB_MAX_PARALLEL];	/* their COPY bytes */
	double		stream_wait_s[PGB_MAX_PARALLEL];	/* waiting for its COPY's rows */
	double		stream_cpu_s[PGB_MAX_PARALLEL];	/* its process's CPU when done */
	long		stream_maxrss_kb[PGB_MAX_PARALLEL];	/* its process's peak RSS
														 * when it was done */
	Size		parts_off;		/* from the start of this struct */
	Size		order_off;		/* from the start of this struct */
	Size		strings_off;	/* from the start of this struct */
	struct PGPROC *leader;		/* its latch is set when a table is done */
	PgbErrorInfo error;			/* a helper's first error, whole */
	PgbStreamTable tables[FLEXIBLE_ARRAY_MEMBER];
} PgbCaptureShared;

#define PGB_STREAM_PARTS(sh) ((PgbStreamPart *) ((char *) (sh) + (sh)->parts_off))
#define PGB_STREAM_STR(sh, off) ((char *) (sh) + (sh)->strings_off + (off))

/*
 * The tables in the order their last part was done: slot i holds the
 * table's index + 1 once it is published (0 before), so that the leader
 * can write each table into the archive while the streams go on.
 */
#define PGB_STREAM_DONE_ORDER(sh) ((pg_atomic_uint32 *) ((char *) (sh) + (sh)->order_off))

/* spool file of a stream, or of pg_dump's re-encoded data items (PGB_EXTRA_SPOOL) */
#define PGB_EXTRA_SPOOL (-1)
extern char *pgb_stream_spool_path(const char *prefix, int stream);
/* the COPY ... TO stdout of a part: the table's own, or its ctid range */
extern char *pgb_stream_part_sql(PgbCaptureShared *sh, PgbStreamTable *t, PgbStreamPart *p);
/* the leader's work between two of its parts (NULL in a helper) */
typedef void (*PgbStreamBetweenParts) (void *arg);
extern void pgb_stream_run(PgbCaptureShared *sh, int stream,
						   PgbStreamBetweenParts between, void *arg);
extern void pgb_stream_record_error(PgbCaptureShared *sh, ErrorData *edata);
extern void pgb_stream_raise_error(PgbCaptureShared *sh);
extern void pgb_stream_check_abort(PgbCaptureShared *sh);

extern PGDLLEXPORT void pgb_stream_worker_main(Datum arg);

#endif							/* PGB_STREAM_H */
