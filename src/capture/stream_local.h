/*-------------------------------------------------------------------------
 *
 * stream_local.h
 *	  A helper stream that reads its rows in its own process (COPY TO a
 *	  callback, PostgreSQL 16 and later) instead of over libpq.
 *
 * src/capture/stream_local.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_STREAM_LOCAL_H
#define PGB_STREAM_LOCAL_H

#include "stream.h"

/* one row of COPY text, with its newline */
typedef void (*PgbStreamRowFn) (void *arg, const char *row, int len);

/*
 * Whether the helpers of a capture can read rows in their own process: the
 * server has the COPY callback, the capture is of a database of this
 * server (conninfo NULL, no pgbackups.conninfo) and copies rows itself.
 */
extern bool pgb_stream_local_possible(const char *conninfo, bool data_at_source);
/* in a helper before anything else: connect to sh->local_db as sh->local_role */
extern void pgb_stream_local_connect(PgbCaptureShared *sh);
/* the session pg_dump sets, then the transaction in the capture's snapshot */
extern void pgb_stream_local_begin(PgbCaptureShared *sh);
/* COPY part p of table t, each row to fn(arg, row, len) */
extern void pgb_stream_local_copy(PgbCaptureShared *sh, PgbStreamTable *t,
								  PgbStreamPart *p, PgbStreamRowFn fn, void *arg);
/* commit the transaction */
extern void pgb_stream_local_end(void);

#endif							/* PGB_STREAM_LOCAL_H */
