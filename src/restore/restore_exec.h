/*-------------------------------------------------------------------------
 *
 * restore_exec.h
 *	  Runs one TOC entry of an archive inside a restore worker's own
 *	  session: its SQL through SPI and its data through an in-process
 *	  COPY FROM.
 *
 * src/restore/restore_exec.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_RESTORE_EXEC_H
#define PGB_RESTORE_EXEC_H

#include "archive.h"
#include "restore_plan.h"

typedef struct PgbRestoreExec
{
	PgbArchiveReader *reader;
	const PgbArchive *ar;
	PgbArchiveSession sess;
	bool		keep_owner;
	int64		max_decompressed;
	char	   *cur_schema;
	char	   *cur_tablespace;
	char	   *cur_tableam;
} PgbRestoreExec;

/*
 * Open the archive (data positions: one per TOC entry, 0 = as recorded in
 * the archive) and set up the session as pg_restore does.
 */
extern void pgb_exec_init(PgbRestoreExec *x, const char *path, const uint64 *positions,
						  bool keep_owner, int64 max_decompressed);

/* run entry toc_index in its own transaction; rows loaded into *rows */
extern void pgb_exec_item(PgbRestoreExec *x, int toc_index, int64 *rows, int64 *bytes);

#endif							/* PGB_RESTORE_EXEC_H */
