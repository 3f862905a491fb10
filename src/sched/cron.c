/*-------------------------------------------------------------------------
 *
 * cron.c
 *	  Schedule rules: parsing of cron expressions and of Heroku's
 *	  'HH:MM Zone', time zone names, and the next run of a rule
 *	  (plus the SQL preview pgbackups.next_runs()).
 *
 * Times are local wall-clock times in the rule's zone, taken from the
 * server's own time zone database (pg_tzset), as AT TIME ZONE does.
 * Daylight saving time:
 *	- a wall time that does not exist (spring forward) runs once, at the
 *	  first instant after the gap;
 *	- a wall time that exists twice (fall back) runs once, at its first
 *	  occurrence, unless the hour field is '*': such rules run by elapsed
 *	  time and also run during the repeated hour.
 * A day matches when both day fields match, or either one when both are
 * restricted (neither starts with '*'), as in Vixie cron.
 *
 * src/sched/cron.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "clock.h"
#include "cron.h"

PG_FUNCTION_INFO_V1(pgbackups_next_runs);

#define SEARCH_YEARS 50
#define DST_MARGIN (3 * 3600)	/* longer than any clock change */

static const char *const month_names[] = {NULL, "jan", "feb", "mar", "apr", "may", "jun",
"jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

/* abbreviations mean the zone people use them for, with its DST rules */
static const struct
{
	const char *abbrev;
	const char *zone;
}			zone_abbrevs[] =
{
	{"Z", "UTC"},
	{"PST", "America/Los_Angeles"}, {"PDT", "America/Los_Angeles"}, {"PT", "America/Los_Angeles"},
	{"MST", "America/Denver"}, {"MDT", "America/Denver"}, {"MT", "America/Denver"},
	{"CST", "America/Chicago"}, {"CDT", "America/Chicago"}, {"CT", "America/Chicago"},
	{"EST", "America/New_York"}, {"EDT", "America/New_York"}, {"ET", "America/New_York"},
	{"AKST", "America/Anchorage"}, {"AKDT", "America/Anchorage"},
	{"HST", "Pacific/Honolulu"},
	{"BST", "Europe/London"},
	{"WET", "Europe/Lisbon"}, {"WEST", "Europe/Lisbon"},
	{"CET", "Europe/Paris"}, {"CEST", "Europe/Paris"},
	{"EET", "Europe/Helsinki"}, {"EEST", "Europe/Helsinki"},
	{"MSK", "Europe/Moscow"},
	{"IST", "Asia/Kolkata"},
	{"JST", "Asia/Tokyo"},
	{"KST", "Asia/Seoul"},
	{"AEST", "Australia/Sydney"}, {"AEDT", "Australia/Sydney"},
	{"AWST", "Australia/Perth"},
	{"NZST", "Pacific/Auckland"}, {"NZDT", "Pacific/Auckland"},
};

static const struct
{
	const char *macro;
	const char *expr;
}			cron_macros[] =
{
	{"@hourly", "0 * * * *"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@weekly", "0 0 * * 0"},
	{"@monthly", "0 0 1 * *"},
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
};

/* ---- parsing ---- */

static bool
parse_value(const char **p, int lo, int hi, const char *const *names, int *val,
			const char *field, char **errmsg)
{
	const char *s = *p;

	if (isdigit((unsigned char) *s))
	{
		long		v = 0;

		while (isdigit((unsigned char) *s))
		{
			v = v * 10 + (*s - '0');
			if (v > 1000)
				break;
			s++;
		}
		if (v < lo || v > hi)
		{
			*errmsg = psprintf("In the %s field, %ld is out of range %d-%d.", field, v, lo, hi);
			return false;
		}
		*val = (int) v;
		*p = s;
		return true;
	}
	if (names && isalpha((unsigned char) s[0]) && isalpha((unsigned char) s[1]) &&
		isalpha((unsigned char) s[2]) && !isalpha((unsigned char) s[3]))
	{
		int			i;

		for (i = 0; i <= hi; i++)
			if (names[i] && pg_strncasecmp(names[i], s, 3) == 0)
			{
				*val = i;
				*p = s + 3;
				return true;
			}
	}
	*errmsg = psprintf("In the %s field, \"%s\" is not a valid value.", field, s);
	return false;
}

/*
 * parse_field
 *		One field: a comma list of '*', 'a', 'a-b', each with an optional
 *		'/step' ('a/step' means 'a-max/step').
 */
static bool
parse_field(const char *text, int lo, int hi, const char *const *names,
			uint64 *bits, const char *field, char **errmsg)
{
	const char *p = text;

	*bits = 0;
	for (;;)
	{
		int			from,
					to,
					step = 1,
					v;

		if (*p == '*')
		{
			from = lo;
			to = hi;
			p++;
		}
		else
		{
			if (!parse_value(&p, lo, hi, names, &from, field, errmsg))
				return false;
			to = from;
			if (*p == '-')
			{
				p++;
				if (!parse_value(&p, lo, hi, names, &to, field, errmsg))
					return false;
				if (to < from)
				{
					*errmsg = psprintf("In the %s field, the range %d-%d is backwards.", field, from, to);
					return false;
				}
			}
			else if (*p == '/')
				to = hi;
		}
		if (*p == '/')
		{
			long		s = 0;

			p++;
			if (!isdigit((unsigned char) *p))
			{
				*errmsg = psprintf("In the %s field, a step must be a number.", field);
				return false;
			}
			while (isdigit((unsigned char) *p) && s <= 1000)
				s = s * 10 + (*p++ - '0');
			if (s < 1 || s > hi)
			{
				*errmsg = psprintf("In the %s field, the step %ld is out of range 1-%d.", field, s, hi);
				return false;
			}
			step = (int) s;
		}
		for (v = from; v <= to; v += step)
			*bits |= UINT64CONST(1) << v;
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p != '\0')
		{
			*errmsg = psprintf("In the %s field, \"%s\" is not valid.", field, p);
			return false;
		}
		return true;
	}
}

bool
pgb_cron_parse(const char *expr, PgbCronRule *rule, char **errmsg)
{
	char	   *copy;
	char	   *fields[6];
	int			n = 0;
	char	   *tok;
	char	   *save;
	uint64		bits;
	int			i;

	memset(rule, 0, sizeof(*rule));
	while (isspace((unsigned char) *expr))
		expr++;
	for (i = 0; i < lengthof(cron_macros); i++)
	{
		size_t		len = strlen(cron_macros[i].macro);

		if (pg_strncasecmp(expr, cron_macros[i].macro, len) == 0 &&
			strspn(expr + len, " \t\n") == strlen(expr + len))
		{
			expr = cron_macros[i].expr;
			break;
		}
	}
	copy = pstrdup(expr);
	for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
	{
		if (n == 5)
		{
			n++;
			break;
		}
		fields[n++] = tok;
	}
	if (n != 5)
	{
		*errmsg = psprintf("A cron expression has 5 fields (minute, hour, day of month, month, day of week), not %s.",
						   n > 5 ? "more" : psprintf("%d", n));
		return false;
	}
	if (!parse_field(fields[0], 0, 59, NULL, &rule->minutes, "minute", errmsg))
		return false;
	if (!parse_field(fields[1], 0, 23, NULL, &bits, "hour", errmsg))
		return false;
	rule->hours = (uint32) bits;
	if (!parse_field(fields[2], 1, 31, NULL, &bits, "day of month", errmsg))
		return false;
	rule->mdays = (uint32) bits;
	if (!parse_field(fields[3], 1, 12, month_names, &bits, "month", errmsg))
		return false;
	rule->months = (uint32) bits;
	if (!parse_field(fields[4], 0, 7, day_names, &bits, "day of week", errmsg))
		return false;
	if (bits & (UINT64CONST(1) << 7))
		bits = (bits | 1) & ~(UINT64CONST(1) << 7);
	rule->wdays = (uint32) bits;
	rule->mday_star = fields[2][0] == '*';
	rule->wday_star = fields[4][0] == '*';
	rule->every_hour = strcmp(fields[1], "*") == 0;
	return true;
}

bool
pgb_at_parse(const char *at, char **cron, char **hhmm, char **zone, char **errmsg)
{
	const char *p = at;
	int			h = 0,
				m,
				nd = 0;

	while (isspace((unsigned char) *p))
		p++;
	while (isdigit((unsigned char) *p) && nd < 3)
		h = h * 10 + (*p++ - '0'), nd++;
	if (nd < 1 || nd > 2 || h > 23 || *p != ':' ||
		!isdigit((unsigned char) p[1]) || !isdigit((unsigned char) p[2]) ||
		isdigit((unsigned char) p[3]))
		goto bad;
	m = (p[1] - '0') * 10 + (p[2] - '0');
	if (m > 59)
		goto bad;
	p += 3;
	while (isspace((unsigned char) *p))
		p++;
	*zone = NULL;
	if (*p)
	{
		const char *end = p + strlen(p);

		while (end > p && isspace((unsigned char) end[-1]))
			end--;
		*zone = pnstrdup(p, end - p);
		if (strpbrk(*zone, " \t\n"))
			goto bad;
	}
	*cron = psprintf("%d %d * * *", m, h);
	*hhmm = psprintf("%02d:%02d", h, m);
	return true;

bad:
	*errmsg = pstrdup("Use 'HH:MM Zone' with a 24-hour time and an optional time zone, for example '02:00 America/Los_Angeles'.");
	return false;
}

const char *
pgb_zone_resolve(const char *name)
{
	pg_tz	   *tz;
	int			i;

	if (name == NULL || name[0] == '\0' || strlen(name) >= TZ_STRLEN_MAX)
		return NULL;
	for (i = 0; i < lengthof(zone_abbrevs); i++)
		if (pg_strcasecmp(name, zone_abbrevs[i].abbrev) == 0)
		{
			name = zone_abbrevs[i].zone;
			break;
		}
	tz = pg_tzset(name);
	if (tz == NULL || !pg_tz_acceptable(tz))
		return NULL;
	return pstrdup(pg_get_timezone_name(tz));
}

/* the same, raising 22023 naming the expression */
void
pgb_cron_parse_or_error(const char *expr, PgbCronRule *rule)
{
	char	   *err;

	if (!pgb_cron_parse(expr, rule, &err))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron expression \"%s\"", expr),
				 errdetail("%s", err)));
}

/* the same, raising 22023 for an unknown zone */
const char *
pgb_zone_resolve_or_error(const char *name)
{
	const char *zone = pgb_zone_resolve(name);

	if (zone == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name),
				 errhint("Use a full time zone name such as America/Los_Angeles, or UTC.")));
	return zone;
}

/* ---- next run ---- */

typedef struct Wall
{
	int			y,
				mo,
				d,
				h,
				mi;
} Wall;

static int
days_in_month(int y, int m)
{
	return day_tab[isleap(y)][m - 1];
}

static bool
day_matches(const PgbCronRule *r, int y, int m, int d)
{
	bool		md = (r->mdays >> d) & 1;
	bool		wd = (r->wdays >> j2day(date2j(y, m, d))) & 1;

	if (r->mday_star || r->wday_star)
		return md && wd;
	return md || wd;
}

/* advance *w to the next wall-clock minute the rule matches */
static bool
next_wall(const PgbCronRule *r, Wall *w, int limit_year)
{
	w->mi++;
	for (;;)
	{
		if (w->mi > 59)
			w->mi = 0, w->h++;
		if (w->h > 23)
			w->h = 0, w->d++;
		if (w->d > days_in_month(w->y, w->mo))
			w->d = 1, w->mo++;
		if (w->mo > 12)
			w->mo = 1, w->y++;
		if (w->y > limit_year)
			return false;
		if (!((r->months >> w->mo) & 1))
		{
			w->mo++, w->d = 1, w->h = 0, w->mi = 0;
			continue;
		}
		if (!day_matches(r, w->y, w->mo, w->d))
		{
			w->d++, w->h = 0, w->mi = 0;
			continue;
		}
		if (!((r->hours >> w->h) & 1))
		{
			w->h++, w->mi = 0;
			continue;
		}
		if (!((r->minutes >> w->mi) & 1))
		{
			w->mi++;
			continue;
		}
		return true;
	}
}

static long
gmtoff_at(pg_time_t t, const pg_tz *tz)
{
	return pg_localtime(&t, tz)->tm_gmtoff;
}

static Wall
wall_of(pg_time_t t, const pg_tz *tz)
{
	struct pg_tm *tm = pg_localtime(&t, tz);
	Wall		w;

	w.y = tm->tm_year + 1900;
	w.mo = tm->tm_mon + 1;
	w.d = tm->tm_mday;
	w.h = tm->tm_hour;
	w.mi = tm->tm_min;
	return w;
}

/* a wall time as if it were UTC, in seconds since the Unix epoch */
static pg_time_t
wall_seconds(const Wall *w)
{
	return (pg_time_t) (date2j(w->y, w->mo, w->d) - UNIX_EPOCH_JDATE) * SECS_PER_DAY +
		w->h * SECS_PER_HOUR + w->mi * SECS_PER_MINUTE;
}

/*
 * instants
 *		The instants whose local time is the wall time (two on a fall-back
 *		overlap, in order), or the end of the gap it falls in.
 */
static int
instants(pg_time_t wsec, const pg_tz *tz, pg_time_t out[2])
{
	long		offs[3];
	long		lo_off,
				hi_off;
	int			n = 0;
	int			i;
	pg_time_t	lo,
				hi;

	offs[0] = gmtoff_at(wsec - SECS_PER_DAY, tz);
	offs[1] = gmtoff_at(wsec, tz);
	offs[2] = gmtoff_at(wsec + SECS_PER_DAY, tz);
	for (i = 0; i < 3; i++)
	{
		pg_time_t	t = wsec - offs[i];

		if (gmtoff_at(t, tz) != offs[i])
			continue;
		if (n == 1 && out[0] == t)
			continue;
		if (n == 2)
			break;
		out[n++] = t;
	}
	if (n == 2 && out[1] < out[0])
	{
		pg_time_t	x = out[0];

		out[0] = out[1];
		out[1] = x;
	}
	if (n > 0)
		return n;

	/* in a gap: the first instant whose local time is past the wall time */
	lo_off = Min(Min(offs[0], offs[1]), offs[2]);
	hi_off = Max(Max(offs[0], offs[1]), offs[2]);
	lo = wsec - hi_off;
	hi = wsec - lo_off;
	while (lo < hi)
	{
		pg_time_t	mid = lo + (hi - lo) / 2;

		if (mid + gmtoff_at(mid, tz) >= wsec)
			hi = mid;
		else
			lo = mid + 1;
	}
	out[0] = lo;
	return 1;
}

TimestampTz
pgb_cron_next(const PgbCronRule *rule, const char *zone, TimestampTz after)
{
	pg_tz	   *tz = pg_tzset(zone);
	pg_time_t	a;
	Wall		w;
	int			limit;
	bool		have = false;
	TimestampTz best = DT_NOEND;

	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", zone)));
	if (TIMESTAMP_NOT_FINITE(after))
		return DT_NOEND;
	a = timestamptz_to_time_t(after);
	w = wall_of(a - DST_MARGIN, tz);
	limit = w.y + SEARCH_YEARS;
	for (;;)
	{
		pg_time_t	inst[2];
		int			n;
		int			k;

		CHECK_FOR_INTERRUPTS();
		if (!next_wall(rule, &w, limit))
			break;
		n = instants(wall_seconds(&w), tz, inst);
		if (have && time_t_to_timestamptz(inst[0] - DST_MARGIN) > best)
			break;
		for (k = 0; k < n; k++)
		{
			TimestampTz ts;

			if (k > 0 && !rule->every_hour)
				break;
			ts = time_t_to_timestamptz(inst[k]);
			if (ts > after && (!have || ts < best))
			{
				best = ts;
				have = true;
			}
		}
	}
	return best;
}

/*
 * pgbackups.next_runs(cron, timezone, after, count)
 *		The next 'count' runs of a cron expression after a time.
 */
Datum
pgbackups_next_runs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *expr;
	const char *zone;
	TimestampTz after;
	int			count;
	PgbCronRule rule;
	int			i;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cron expression must not be null")));
	expr = text_to_cstring(PG_GETARG_TEXT_PP(0));
	pgb_cron_parse_or_error(expr, &rule);
	zone = pgb_zone_resolve_or_error(PG_ARGISNULL(1) ? "UTC" : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	after = PG_ARGISNULL(2) ? pgb_clock_now() : PG_GETARG_TIMESTAMPTZ(2);
	count = PG_ARGISNULL(3) ? 5 : PG_GETARG_INT32(3);
	if (count < 0 || count > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("count must be between 0 and 10000")));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (i = 0; i < count; i++)
	{
		Datum		value;
		bool		isnull = false;

		after = pgb_cron_next(&rule, zone, after);
		if (TIMESTAMP_NOT_FINITE(after))
			break;
		value = TimestampTzGetDatum(after);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
