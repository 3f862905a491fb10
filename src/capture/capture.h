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

	/*
	 * copy(): write the schema only, each table's data item a note of the
	 * statements that read it at the source (archive/data_source.c), and
	 * keep the snapshot open (with its locks) until
	 * pgb_capture_release_source()
	 */
	bool		data_at_source;
} PgbCaptureParams;


extern void pgb_capture_run(const PgbCaptureParams *params,
							const PgbJobHooks *hooks,
							PgbCaptureResult *result);
extern void pgb_capture_cleanup(void);

/* after a data_at_source capture: where the data is, and its release */
extern const char *pgb_capture_source_conninfo(void);
extern const char *pgb_capture_source_snapshot(void);
extern void pgb_capture_release_source(void);
extern void pgb_capture_cleanup_on_exit(void);

#endif							/* PGB_CAPTURE_H */
