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
#include "compress.h"
#include "restore_plan.h"

typedef struct PgbRestoreExec
{
	PgbArchiveReader *reader;
	const PgbArchive *ar;
	PgbArchiveSession sess;
	bool		keep_owner;
	bool		fk_unchecked;	/* rows of one snapshot: restore_constraints.c */
	int64		max_decompressed;
	char	   *cur_schema;
	char	   *cur_tablespace;
	char	   *cur_tableam;
	struct HTAB *data_entries;	/* TABLE DATA entries per table dumpId */
	const char *source_conninfo;	/* a copy's source (restore_source.c) */
	const char *source_snapshot;
} PgbRestoreExec;

/*
 * Open the archive (data positions: one per TOC entry, 0 = as recorded in
 * the archive) and set up the session as pg_restore does.
 */
extern void pgb_exec_init(PgbRestoreExec *x, const char *path, const uint64 *positions,
						  bool keep_owner, int64 max_decompressed);

/*
 * The session's settings for index and constraint builds: kB of
 * maintenance_work_mem (0: leave it) and max_parallel_maintenance_workers
 * (-1: leave it).
 */
extern void pgb_exec_maintenance(PgbRestoreExec *x, int work_mem_kb, int parallel_workers);

/*
 * Run entry toc_index in its own transaction; rows loaded into *rows,
 * *frozen when they were loaded with COPY FREEZE.
 */
/* what running an entry (or a part of one) did */
typedef struct PgbExecResult
{
	int64		rows;
	int64		bytes;			/* stored bytes read */
	bool		frozen;			/* loaded with COPY FREEZE */
	bool		binary;			/* read at a copy's source in binary format */
	bool		as_index;		/* a key built as an index, then attached */
	PgbPartResult part;			/* a part of TABLE DATA in parts */
} PgbExecResult;

/* run TOC entry toc_index, or its part (-1: all of it) */
extern void pgb_exec_item(PgbRestoreExec *x, int toc_index, int part, PgbExecResult *res);

/* ANALYZE, VACUUM (FREEZE) or both the table of TABLE entry toc_index */
extern void pgb_exec_analyze(PgbRestoreExec *x, int toc_index, bool analyze, bool freeze);

/* restore_constraints.c: each false, having done nothing, for other statements */
extern bool pgb_restore_fk_unchecked(const char *sql);
extern bool pgb_restore_key_as_index(const char *sql, Node **index, Node **attach);
extern void pgb_restore_run_utility(Node *stmt, const char *sql);

#endif							/* PGB_RESTORE_EXEC_H */
