/*-------------------------------------------------------------------------
 *
 * cron.h
 *	  Schedule rules: 5-field cron expressions, Heroku's 'HH:MM Zone',
 *	  time zone names, and the DST-correct next run of a rule.
 *
 * src/sched/cron.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_CRON_H
#define PGB_CRON_H

#include "datatype/timestamp.h"

typedef struct PgbCronRule
{
	uint64		minutes;		/* bit m: minute m (0..59) */
	uint32		hours;			/* bit h: hour h (0..23) */
	uint32		mdays;			/* bit d: day of month d (1..31) */
	uint32		months;			/* bit m: month m (1..12) */
	uint32		wdays;			/* bit d: weekday d (0..6, Sunday = 0) */
	bool		mday_star;		/* day-of-month field starts with '*' */
	bool		wday_star;		/* day-of-week field starts with '*' */
	bool		every_hour;		/* hour field is '*': runs by elapsed time */
} PgbCronRule;

/* parse a cron expression; false + *errmsg (a sentence naming the field) */
extern bool pgb_cron_parse(const char *expr, PgbCronRule *rule, char **errmsg);

/* the same, raising 22023 (invalid cron expression "...") */
extern void pgb_cron_parse_or_error(const char *expr, PgbCronRule *rule);

/*
 * Heroku's --at: 'HH:MM[ ]Zone' (zone optional).  Sets *cron to the
 * equivalent cron expression, *hhmm to 'HH:MM' and *zone to the zone as
 * written (NULL if none).
 */
extern bool pgb_at_parse(const char *at, char **cron, char **hhmm, char **zone,
						 char **errmsg);

/* a zone name or usual abbreviation -> canonical zone name, or NULL */
extern const char *pgb_zone_resolve(const char *name);
/* the same, raising 22023 (time zone "..." is not recognized) */
extern const char *pgb_zone_resolve_or_error(const char *name);

/*
 * The first run of a rule strictly after 'after', local wall-clock time in
 * the zone; DT_NOEND if it never runs within 50 years.
 */
extern TimestampTz pgb_cron_next(const PgbCronRule *rule, const char *zone,
								 TimestampTz after);

#endif							/* PGB_CRON_H */
