/*-------------------------------------------------------------------------
 *
 * capture.h
 *	  The capture engine: one consistent pg_dump custom-format archive of a
 *	  database, built from pg_dump's DDL and parallel COPY streams.
 *
 * src/capture/capture.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_CAPTURE_H
#define PGB_CAPTURE_H

#include "capture_result.h"
#include "compress.h"
#include "job_hooks.h"

typedef struct PgbCaptureParams
{
	const char *dbname;			/* database to capture */
	const char *conninfo;		/* or NULL: the local server, dbname */
	const char *location;		/* final storage URL of the archive */
	PgbCompressionSpec comp;
	int			parallel;
} PgbCaptureParams;


extern void pgb_capture_run(const PgbCaptureParams *params,
							const PgbJobHooks *hooks,
							PgbCaptureResult *result);
extern void pgb_capture_cleanup(void);
extern void pgb_capture_cleanup_on_exit(void);

#endif							/* PGB_CAPTURE_H */
