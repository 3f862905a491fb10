/*-------------------------------------------------------------------------
 *
 * capture_result.h
 *	  What a capture produced: the figures the catalog records for a
 *	  completed backup.  Plain values only, so that src/catalog can include
 *	  it without depending on the capture engine (capture.h).
 *
 * src/capture/capture_result.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_CAPTURE_RESULT_H
#define PGB_CAPTURE_RESULT_H

typedef struct PgbCaptureResult
{
	int			tables;
	int64		rows;
	int64		raw_size;
	int64		archive_size;
	int64		source_size;
	char		sha256[65];
	char	   *table_rows_json;
	char	   *archive_version;
	char	   *server_version;
	char	   *pgdump_version;
	int			streams_used;
} PgbCaptureResult;

#endif							/* PGB_CAPTURE_RESULT_H */
