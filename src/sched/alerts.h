/*-------------------------------------------------------------------------
 *
 * alerts.h
 *	  Webhook delivery of queued alerts (alerts.c).
 *
 * src/sched/alerts.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_ALERTS_H
#define PGB_ALERTS_H

/* POST the due alerts to pgbackups.webhook_url (scheduler only) */
/* POST the due alerts (a few); returns how many were attempted */
extern int	pgb_alerts_deliver(void);

#endif							/* PGB_ALERTS_H */
