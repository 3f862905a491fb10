/*-------------------------------------------------------------------------
 *
 * sched_requests.h
 *	  The scheduler's side of the request queue (sched_requests.c).
 *
 * src/bgw/sched_requests.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_SCHED_REQUESTS_H
#define PGB_SCHED_REQUESTS_H

/* answer this database's requests; outdated: the old catalog version, or "" */
extern void pgb_sched_process_requests(const char *outdated);
/* the extension is not in this database: refuse its requests */
extern void pgb_sched_refuse_requests(void);

#endif							/* PGB_SCHED_REQUESTS_H */
