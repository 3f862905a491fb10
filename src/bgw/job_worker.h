/*-------------------------------------------------------------------------
 *
 * job_worker.h
 *	  The dynamic background worker that runs one job (a capture).
 *
 * src/bgw/job_worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_JOB_WORKER_H
#define PGB_JOB_WORKER_H

#include "shmem.h"

/* passed in bgw_extra */
typedef struct PgbJobArgs
{
	Oid			dboid;
	int			slot;
	uint32		generation;
	char		id[PGB_ID_LEN];
} PgbJobArgs;

extern PGDLLEXPORT void pgb_job_worker_main(Datum arg);

/* transfer_job.c: restores (r###) and copies (c###) */
extern PGDLLEXPORT void pgb_transfer_job_main(Datum arg);

#endif							/* PGB_JOB_WORKER_H */
