/*-------------------------------------------------------------------------
 *
 * bgw_start.h
 *	  Starting a pgbackups dynamic background worker (bgw_start.c): the one
 *	  place that fills in a BackgroundWorker.
 *
 * src/bgw/bgw_start.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_BGW_START_H
#define PGB_BGW_START_H

#include "postmaster/bgworker.h"

typedef struct PgbBgwSpec
{
	const char *function;		/* entry point in pgbackups.so */
	const char *type;			/* bgw_type, e.g. "pgbackups job" */
	const char *name;			/* bgw_name, e.g. "pgbackups job b001" */
	bool		database;		/* needs a database connection */
	Datum		main_arg;
	const void *extra;			/* copied to bgw_extra (at most BGW_EXTRALEN) */
	Size		extra_len;
} PgbBgwSpec;

/*
 * Register the worker, notifying this process of its start and exit; the
 * handle is allocated in mcxt (NULL: the current context).  False when no
 * background worker slot is free.
 */
extern bool pgb_bgw_start(const PgbBgwSpec *spec, MemoryContext mcxt,
						  BackgroundWorkerHandle **handle);

#endif							/* PGB_BGW_START_H */
