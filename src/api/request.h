/*-------------------------------------------------------------------------
 *
 * request.h
 *	  A SQL caller's side of the request queue (request.c).
 *
 * src/api/request.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_REQUEST_H
#define PGB_REQUEST_H

#include "shmem.h"

/*
 * Hand rq to this database's scheduler (started on demand by the launcher)
 * and wait on the latch for its reply; raises the scheduler's error, else
 * returns the resulting id.  A delete's reply carries the archive location
 * in rq->source (the caller removes the files; see api.c).
 */
extern char *pgb_request_submit(PgbRequest *rq);

/*
 * Ask for this database's scheduler at the end of the current transaction
 * (schedule(), unschedule(): it must see the committed rules).
 */
extern void pgb_request_wake_at_commit(void);

#endif							/* PGB_REQUEST_H */
