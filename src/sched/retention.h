/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Expiry of old backups after a successful capture (retention.c).
 *
 * src/sched/retention.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_RETENTION_H
#define PGB_RETENTION_H

/* pgbackups.manual_retention, after manual backup job_id completed */
extern void pgb_retention_manual(const char *job_id);

/* the schedule's keep_daily/weekly/monthly, after scheduled backup job_id */
extern void pgb_retention_schedule(const char *job_id, const char *schedule);

#endif							/* PGB_RETENTION_H */
