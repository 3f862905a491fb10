/*-------------------------------------------------------------------------
 *
 * catalog_schedule.h
 *	  Schedule, retention and alert rows (catalog_schedule.c).  Every
 *	  function runs its own transaction (background workers only).
 *
 * src/catalog/catalog_schedule.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_CATALOG_SCHEDULE_H
#define PGB_CATALOG_SCHEDULE_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#define PGB_ALERT_MAX_ATTEMPTS 10

typedef struct PgbScheduleRow
{
	char	   *name;
	char	   *database;
	char	   *cron;
	char	   *timezone;
	char	   *created_by;
	TimestampTz next_run;
} PgbScheduleRow;

/* what the scheduler decided about a schedule's due slots */
typedef struct PgbScheduleDecision
{
	TimestampTz slot;			/* the slot started or skipped; 0 if none */
	const char *outcome;		/* "started", "skipped" or "missed" */
	const char *detail;
	int			missed;			/* older slots missed */
	TimestampTz missed_last;	/* the newest of them */
	const char *missed_detail;
	TimestampTz next_run;
	/* for a started slot */
	const char *compression;
	int			level;
	int			parallel;
} PgbScheduleDecision;

typedef struct PgbAlertRow
{
	char	   *alert_id;
	char	   *body;
	int			attempts;
} PgbAlertRow;

extern List *pgb_catalog_due_schedules(TimestampTz now);
extern char *pgb_catalog_busy_capture(const char *database);
extern bool pgb_catalog_schedule_verifies(const char *schedule);
extern char *pgb_catalog_schedule_decide(const PgbScheduleRow *s, const PgbScheduleDecision *d);
extern List *pgb_catalog_gfs_expire(const char *schedule, char **policy);
extern List *pgb_catalog_due_alerts(int limit);
extern TimestampTz pgb_catalog_next_wakeup(TimestampTz *alerts_at);
extern void pgb_catalog_alert_attempted(const char *alert_id, bool delivered,
										const char *error, int retry_ms);

#endif							/* PGB_CATALOG_SCHEDULE_H */
