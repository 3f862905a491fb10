--
-- pgbackups 1.3.0: cron rules and their next run times (next_runs), the
-- 'at' forms of schedule(), the pgbackups.schedules view, and rejected
-- rules (SQLSTATE, nothing stored).
--
-- Every expected instant is worked out by hand in the comments (2026-01-01
-- is a Thursday; US DST 2026: Mar 8 02:00 PST -> 03:00 PDT, Nov 1 02:00 PDT
-- -> 01:00 PST; EU: Mar 29 02:00 CET -> 03:00 CEST, Oct 25 03:00 CEST ->
-- 02:00 CET; Lord Howe: Oct 4 02:00 +10:30 -> 02:30 +11).
--
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';

-- try(sql): run sql, return 'ok' or the SQLSTATE, message and detail it raised
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' (' || nullif(detail, '') || ')', '');
END
$$;

-- runs(cron, zone, after, count): next_runs() numbered in the order it
-- returns them, with the local wall-clock time and UTC offset in the zone
CREATE FUNCTION pg_temp.runs(cron text, zone text, after timestamptz, count integer DEFAULT 5)
RETURNS TABLE (n bigint, utc timestamptz, local text, utc_offset interval)
LANGUAGE sql AS $$
	SELECT t.n, t.r,
		   to_char(t.r AT TIME ZONE zone, 'Dy YYYY-MM-DD HH24:MI:SS'),
		   (t.r AT TIME ZONE zone) - (t.r AT TIME ZONE 'UTC')
	  FROM pgbackups.next_runs(cron, zone, after, count) WITH ORDINALITY AS t(r, n)
$$;

-- ok(cron, zone, after, count): consecutive results strictly increase and
-- the first is strictly after "after"
CREATE FUNCTION pg_temp.ok(cron text, zone text, after timestamptz, count integer)
RETURNS boolean
LANGUAGE sql AS $$
	SELECT count(*) = count AND bool_and(r > coalesce(prev, after))
	  FROM (SELECT t.r, lag(t.r) OVER (ORDER BY t.n) AS prev
			  FROM pgbackups.next_runs(cron, zone, after, count) WITH ORDINALITY AS t(r, n)) x
$$;

---------------------------------------------------------------------------
-- plain rules, UTC
---------------------------------------------------------------------------

-- every 15 minutes, strictly after: 00:15 00:30 00:45 01:00 01:15
SELECT * FROM pg_temp.runs('*/15 * * * *', 'UTC', '2026-01-01 00:00:00+00');
-- from 00:07:30: the same five
SELECT * FROM pg_temp.runs('*/15 * * * *', 'UTC', '2026-01-01 00:07:30+00');
-- over the year end: 2027-01-01 00:00 00:15 00:30
SELECT * FROM pg_temp.runs('*/15 * * * *', 'UTC', '2026-12-31 23:50:00+00', 3);
-- "after" defaults to pgbackups.now() and count to 5
SELECT count(*) AS five, bool_and(r > now()) AS all_future, bool_and(r <= now() + interval '5 minutes') AS within_5_minutes
  FROM pgbackups.next_runs('* * * * *') r;

-- a range of hours: Jan 1 09:00 10:00 11:00, Jan 2 09:00 10:00
SELECT * FROM pg_temp.runs('0 9-11 * * *', 'UTC', '2026-01-01 00:00:00+00');
-- lists: 01:05 01:35 13:05 13:35, then Jan 2 01:05
SELECT * FROM pg_temp.runs('5,35 1,13 * * *', 'UTC', '2026-01-01 00:00:00+00');
-- steps on ranges: minutes 10,30,50 of hours 8,12,16; Jan 2 08:10 is the 10th
SELECT * FROM pg_temp.runs('10-50/20 8-16/4 * * *', 'UTC', '2026-01-01 00:00:00+00', 10);
-- a list of a step, a range and a single value: minutes 0,20,40 and 45-47 and 59 of hour 6
SELECT * FROM pg_temp.runs('*/20,45-47,59 6 * * *', 'UTC', '2026-01-01 00:00:00+00', 8);

-- month names (any case), strictly after Jan 1 12:00: Jul 1 2026, Jan 1 2027, Jul 1 2027
SELECT * FROM pg_temp.runs('0 12 1 jan,JUL *', 'UTC', '2026-01-01 12:00:00+00', 3);
-- a month range by name: Nov 1 2026, Dec 1 2026, Nov 1 2027
SELECT * FROM pg_temp.runs('0 0 1 Nov-dec *', 'UTC', '2026-06-15 00:00:00+00', 3);
-- weekdays by name: Thu Jan 1, Fri Jan 2, Mon Jan 5, Tue Jan 6, Wed Jan 7
SELECT * FROM pg_temp.runs('0 9 * * mon-fri', 'UTC', '2026-01-01 00:00:00+00');
-- weekends by name: Sat Jan 3, Sun Jan 4, Sat Jan 10, Sun Jan 11
SELECT * FROM pg_temp.runs('0 9 * * Sat,SUN', 'UTC', '2026-01-01 00:00:00+00', 4);
-- Sunday is 0 and 7: Sun Jan 4, Sun Jan 11 both times
SELECT * FROM pg_temp.runs('0 0 * * 0', 'UTC', '2026-01-01 00:00:00+00', 2);
SELECT * FROM pg_temp.runs('0 0 * * 7', 'UTC', '2026-01-01 00:00:00+00', 2);
-- 5-7 = Fri, Sat, Sun: Jan 2, 3, 4, then Fri Jan 9
SELECT * FROM pg_temp.runs('0 0 * * 5-7', 'UTC', '2026-01-01 00:00:00+00', 4);

-- day 31 skips the short months: Jan 31, Mar 31, May 31, Jul 31, Aug 31, Oct 31, Dec 31
SELECT * FROM pg_temp.runs('0 0 31 * *', 'UTC', '2026-01-01 00:00:00+00', 7);
-- Feb 29: the next leap years 2028, 2032, 2036
SELECT * FROM pg_temp.runs('0 0 29 2 *', 'UTC', '2026-01-01 00:00:00+00', 3);
-- 2100 is not a leap year: after Mar 2096 the next Feb 29 is in 2104
SELECT * FROM pg_temp.runs('0 0 29 2 *', 'UTC', '2096-03-01 00:00:00+00', 1);

-- day-of-month and day-of-week both restricted: either matches (Vixie
-- cron): the 13th or a Friday: Fri Jan 2, Fri Jan 9, Tue Jan 13,
-- Fri Jan 16, Fri Jan 23, Fri Jan 30
SELECT * FROM pg_temp.runs('0 0 13 * fri', 'UTC', '2026-01-01 00:00:00+00', 6);
-- only day-of-month restricted: the 13th of each month (Jan 13, Feb 13, Mar 13)
SELECT * FROM pg_temp.runs('0 0 13 * *', 'UTC', '2026-01-01 00:00:00+00', 3);
-- only day-of-week restricted: Fridays (Jan 2, 9, 16)
SELECT * FROM pg_temp.runs('0 0 * * 5', 'UTC', '2026-01-01 00:00:00+00', 3);
-- the 1st or a Monday, in March 2026 only (Mar 1 is a Sunday): Sun Mar 1,
-- Mon Mar 2, 9, 16, 23, 30, then Mar 2027: Mon Mar 1 2027 (the 1st and a Monday, once)
SELECT * FROM pg_temp.runs('30 4 1 3 1', 'UTC', '2026-02-01 00:00:00+00', 7);

-- a fixed-offset zone: 09:00 in Asia/Kolkata (+05:30) is 03:30Z
SELECT * FROM pg_temp.runs('0 9 * * *', 'Asia/Kolkata', '2026-01-01 00:00:00+00', 2);

---------------------------------------------------------------------------
-- daylight saving time
---------------------------------------------------------------------------

-- 02:30 daily in Los Angeles around the spring-forward day (2026-03-08:
-- 02:00 PST jumps to 03:00 PDT, 02:30 does not exist).  Starting at
-- 2026-03-06 12:00Z (04:00 PST):
--   Mar 7 02:30 PST = 10:30Z
--   Mar 8: 02:30 does not exist -> once, at 03:00 PDT = 10:00Z
--   Mar 9 02:30 PDT = 09:30Z, Mar 10 02:30 PDT = 09:30Z
SELECT * FROM pg_temp.runs('30 2 * * *', 'America/Los_Angeles', '2026-03-06 12:00:00+00', 4);
-- the shifted slot itself is not returned again: after 10:00Z comes Mar 9 09:30Z
SELECT * FROM pg_temp.runs('30 2 * * *', 'America/Los_Angeles', '2026-03-08 10:00:00+00', 1);
-- and one second before it, it is: Mar 8 10:00Z
SELECT * FROM pg_temp.runs('30 2 * * *', 'America/Los_Angeles', '2026-03-08 09:59:59+00', 1);
-- 02:30 around the fall-back day (2026-11-01: 02:00 PDT -> 01:00 PST; 02:30
-- exists once, in PST).  From 2026-10-30 12:00Z:
--   Oct 31 02:30 PDT = 09:30Z, Nov 1 02:30 PST = 10:30Z, Nov 2, Nov 3 10:30Z
SELECT * FROM pg_temp.runs('30 2 * * *', 'America/Los_Angeles', '2026-10-30 12:00:00+00', 4);
-- 01:30 exists twice on Nov 1 (08:30Z PDT and 09:30Z PST): a fixed hour
-- fires once, at the first: Oct 31 08:30Z, Nov 1 08:30Z, Nov 2 01:30 PST = 09:30Z
SELECT * FROM pg_temp.runs('30 1 * * *', 'America/Los_Angeles', '2026-10-30 12:00:00+00', 3);
-- the Heroku-style 'at' rule: 02:00 daily; on Mar 8 02:00 does not exist
-- -> 03:00 PDT = 10:00Z; Mar 7 02:00 PST = 10:00Z; Mar 9 02:00 PDT = 09:00Z
SELECT * FROM pg_temp.runs('0 2 * * *', 'America/Los_Angeles', '2026-03-06 12:00:00+00', 3);
-- 02:00 and 03:00 on Mar 8 are the same instant (10:00Z): it is returned
-- once; then Mar 9 02:00 PDT = 09:00Z, 03:00 PDT = 10:00Z, Mar 10 09:00Z
SELECT * FROM pg_temp.runs('0 2,3 * * *', 'America/Los_Angeles', '2026-03-07 12:00:00+00', 4);
-- every 20 minutes of hour 2: on Mar 8 02:00, 02:20 and 02:40 all fall in the
-- gap -> one run at 10:00Z; Mar 9: 02:00, 02:20, 02:40 PDT = 09:00Z 09:20Z 09:40Z
SELECT * FROM pg_temp.runs('*/20 2 * * *', 'America/Los_Angeles', '2026-03-07 12:00:00+00', 4);
-- every 20 minutes of hour 1 (a fixed hour) on Nov 1: only the first 01:xx
-- (PDT): 08:00Z 08:20Z 08:40Z, then Nov 2 01:00 PST = 09:00Z
SELECT * FROM pg_temp.runs('*/20 1 * * *', 'America/Los_Angeles', '2026-11-01 07:00:00+00', 4);
-- every 30 minutes through the spring-forward gap (hour *: elapsed time):
-- from 09:00Z (01:00 PST): 01:30 PST = 09:30Z, 03:00 PDT = 10:00Z,
-- 03:30 PDT = 10:30Z, 04:00 PDT = 11:00Z (02:00/02:30 do not exist; no duplicate)
SELECT * FROM pg_temp.runs('*/30 * * * *', 'America/Los_Angeles', '2026-03-08 09:00:00+00', 4);
-- every 30 minutes through the fall-back hour: the repeated hour fires twice:
-- from 07:45Z (00:45 PDT): 01:00 PDT 08:00Z, 01:30 PDT 08:30Z,
-- 01:00 PST 09:00Z, 01:30 PST 09:30Z, 02:00 PST 10:00Z, 02:30 PST 10:30Z
SELECT * FROM pg_temp.runs('*/30 * * * *', 'America/Los_Angeles', '2026-11-01 07:45:00+00', 6);
-- */15 fires at 01:15 PDT (08:15Z) and 01:15 PST (09:15Z)
SELECT count(*) AS at_0115_local
  FROM pgbackups.next_runs('*/15 * * * *', 'America/Los_Angeles', '2026-11-01 07:00:00+00', 20) r
 WHERE to_char(r AT TIME ZONE 'America/Los_Angeles', 'HH24:MI') = '01:15';
SELECT pg_temp.ok('*/15 * * * *', 'America/Los_Angeles', '2026-11-01 07:00:00+00', 20) AS increasing;
SELECT pg_temp.ok('*/15 * * * *', 'America/Los_Angeles', '2026-03-08 09:00:00+00', 20) AS increasing;
SELECT pg_temp.ok('0 2,3 * * *', 'America/Los_Angeles', '2026-03-01 00:00:00+00', 30) AS increasing;

-- Europe/Berlin, 02:30 daily.  Spring forward 2026-03-29 02:00 CET -> 03:00
-- CEST; from 2026-03-27 12:00Z:
--   Mar 28 02:30 CET = 01:30Z, Mar 29 02:30 missing -> 03:00 CEST = 01:00Z,
--   Mar 30 02:30 CEST = 00:30Z, Mar 31 00:30Z
SELECT * FROM pg_temp.runs('30 2 * * *', 'Europe/Berlin', '2026-03-27 12:00:00+00', 4);
-- fall back 2026-10-25 03:00 CEST -> 02:00 CET, 02:30 happens twice: the
-- first (CEST, 00:30Z) only.  From 2026-10-23 12:00Z:
--   Oct 24 02:30 CEST = 00:30Z, Oct 25 00:30Z, Oct 26 02:30 CET = 01:30Z, Oct 27 01:30Z
SELECT * FROM pg_temp.runs('30 2 * * *', 'Europe/Berlin', '2026-10-23 12:00:00+00', 4);

-- Lord Howe Island moves by 30 minutes (2026-10-04 02:00 +10:30 -> 02:30 +11):
-- 02:15 daily from 2026-10-02 12:00Z: Oct 3 02:15 +10:30 = Oct 2 15:45Z;
-- Oct 4 02:15 missing -> 02:30 +11 = Oct 3 15:30Z; Oct 5 02:15 +11 = Oct 4 15:15Z
SELECT * FROM pg_temp.runs('15 2 * * *', 'Australia/Lord_Howe', '2026-10-02 12:00:00+00', 3);

---------------------------------------------------------------------------
-- rejected rules: SQLSTATE 22023 naming the field
---------------------------------------------------------------------------

SELECT e AS cron, pg_temp.try(format('SELECT pgbackups.next_runs(%L)', e)) AS result
  FROM unnest(ARRAY[
		'0 0 * * * *',		-- 6 fields
		'0 0 * *',			-- 4 fields
		'60 * * * *',		-- minute 60
		'* 24 * * *',		-- hour 24
		'* * 0 * *',		-- day of month 0
		'* * 32 * *',		-- day of month 32
		'* * * 0 *',		-- month 0
		'* * * 13 *',		-- month 13
		'* * * * 8',		-- day of week 8
		'* * * foo *',		-- bad month name
		'* * * * funday',	-- bad day name
		'* * * janu *',		-- month name with junk
		'*/0 * * * *',		-- step 0
		'5-1 * * * *',		-- reversed range
		'1-2-3 * * * *',	-- a range of a range
		'-1 * * * *',		-- negative
		'1, * * * *',		-- empty list item
		'*/ * * * *',		-- step without a number
		'0 0 * * 1x',		-- trailing junk
		'0x10 * * * *',		-- hex is not a number
		'',					-- empty
		'   '				-- blanks only
	]) AS e;
-- unknown time zones
SELECT pg_temp.try($$SELECT pgbackups.next_runs('0 0 * * *', 'Mars/Olympus_Mons')$$) AS unknown_zone;
SELECT pg_temp.try($$SELECT pgbackups.next_runs('0 0 * * *', '')$$) AS empty_zone;
-- count: 0 gives nothing, 10000 is the most (every minute: the last is
-- 10000 minutes = 6 days 22:40 later, 2026-01-07 22:40Z)
SELECT count(*) AS none FROM pgbackups.next_runs('* * * * *', 'UTC', '2026-01-01 00:00:00+00', 0);
SELECT count(*) AS most, max(r) AS last FROM pgbackups.next_runs('* * * * *', 'UTC', '2026-01-01 00:00:00+00', 10000) r;
SELECT pg_temp.try($$SELECT pgbackups.next_runs('* * * * *', 'UTC', '2026-01-01 00:00:00+00', 10001)$$) AS too_many;
SELECT pg_temp.try($$SELECT pgbackups.next_runs('* * * * *', 'UTC', '2026-01-01 00:00:00+00', -1)$$) AS negative;

---------------------------------------------------------------------------
-- schedule(): 'at' forms and the pgbackups.schedules view, on a frozen
-- scheduler clock (pgbackups.debug_clock = on in test/pgbackups.conf):
-- 2026-01-15 12:00Z, a Thursday (04:00 PST, 13:00 CET, 07:00 EST)
---------------------------------------------------------------------------

SELECT true AS clock_set FROM (SELECT pgbackups.set_clock('2026-01-15 12:00:00+00')) s;
SELECT pgbackups.now() AS now;

CREATE FUNCTION pg_temp.show() RETURNS TABLE (name text, database name, rule text, cron text, timezone text, next_run timestamptz,
	last_run timestamptz, last_status text, keep text)
LANGUAGE sql AS $$
	SELECT s.name, s.database, s.rule, s.cron, s.timezone, s.next_run, s.last_run, s.last_status,
		   s.keep_daily || '/' || s.keep_weekly || '/' || s.keep_monthly
	  FROM pgbackups.schedules s ORDER BY s.name
$$;

-- 02:00 Los Angeles: next Jan 16 02:00 PST = 10:00Z
SELECT pgbackups.schedule(at => '02:00 America/Los_Angeles') AS name;
SELECT * FROM pg_temp.show();
-- the same database again replaces it: 23:45 UTC -> today 23:45Z
SELECT pgbackups.schedule(at => '23:45 UTC', keep_daily => 3, keep_weekly => 2, keep_monthly => 1) AS name;
SELECT * FROM pg_temp.show();
SELECT count(*) AS defs FROM pgbackups.schedule_defs;
-- no zone: UTC; 11:59 has passed today -> Jan 16 11:59Z
SELECT pgbackups.schedule(at => '11:59') AS name;
SELECT * FROM pg_temp.show();
-- Z is UTC: 12:01 is still to come today
SELECT pgbackups.schedule(at => '12:01 Z') AS name;
SELECT * FROM pg_temp.show();
-- abbreviations: 02:00 PST = 10:00Z (Jan 16), 02:00 EST = 07:00Z (Jan 16:
-- 07:00Z today has just passed), 02:00 CET = 01:00Z (Jan 16); the zone
-- stored is the region's (with its DST rules), not a fixed offset
SELECT pgbackups.schedule(at => '02:00 PST') AS name;
SELECT * FROM pg_temp.show();
SELECT pgbackups.schedule(at => '02:00 EST') AS name;
SELECT * FROM pg_temp.show();
SELECT pgbackups.schedule(at => '02:00 CET') AS name;
SELECT * FROM pg_temp.show();
-- a zone given as the timezone argument: 09:00 Kolkata = 03:30Z, Jan 16
SELECT pgbackups.schedule(at => '09:00', timezone => 'Asia/Kolkata') AS name;
SELECT * FROM pg_temp.show();
-- the same zone twice is fine: 07:30 Berlin = 06:30Z, Jan 16
SELECT pgbackups.schedule(at => '07:30 Europe/Berlin', timezone => 'Europe/Berlin') AS name;
SELECT * FROM pg_temp.show();
-- a cron rule in a zone: 02:30 Berlin on weekdays -> Fri Jan 16 01:30Z
SELECT pgbackups.schedule(cron => '30 2 * * mon-fri', timezone => 'Europe/Berlin', keep_daily => 0, keep_weekly => 10000) AS name;
SELECT * FROM pg_temp.show();
-- a cron rule, default zone UTC: every 15 minutes -> 12:15Z
SELECT pgbackups.schedule(cron => '*/15 * * * *') AS name;
SELECT * FROM pg_temp.show();
-- another database gets its own schedule
SELECT pgbackups.schedule('postgres', at => '03:00 UTC') AS name;
SELECT * FROM pg_temp.show();

---------------------------------------------------------------------------
-- rejected schedules: nothing stored, the existing schedules unchanged
---------------------------------------------------------------------------

CREATE TEMP TABLE before AS SELECT * FROM pgbackups.schedule_defs;
SELECT pg_temp.try(s) AS result FROM unnest(ARRAY[
	$$SELECT pgbackups.schedule(at => '02:00', cron => '0 2 * * *')$$,		-- both
	$$SELECT pgbackups.schedule()$$,										-- neither
	$$SELECT pgbackups.schedule(at => '24:00')$$,
	$$SELECT pgbackups.schedule(at => '12:60')$$,
	$$SELECT pgbackups.schedule(at => 'noon')$$,
	$$SELECT pgbackups.schedule(at => '')$$,
	$$SELECT pgbackups.schedule(at => '02:00 Mars/Olympus_Mons')$$,
	$$SELECT pgbackups.schedule(at => '02:00 America/Los_Angeles', timezone => 'Europe/Berlin')$$,
	$$SELECT pgbackups.schedule(at => '02:00 PST', timezone => 'UTC')$$,
	$$SELECT pgbackups.schedule(cron => '0 2 * * *', timezone => 'Mars/Olympus_Mons')$$,
	$$SELECT pgbackups.schedule(cron => '0 2 * * * *')$$,
	$$SELECT pgbackups.schedule(cron => '0 25 * * *')$$,
	$$SELECT pgbackups.schedule(cron => '0 2 * * *', keep_daily => -1)$$,
	$$SELECT pgbackups.schedule(cron => '0 2 * * *', keep_weekly => 10001)$$,
	$$SELECT pgbackups.schedule(cron => '0 2 * * *', keep_monthly => -5)$$,
	$$SELECT pgbackups.schedule('no_such_database', at => '02:00')$$
	]) AS s;
SELECT count(*) AS defs,
	   count(*) FILTER (WHERE b IS NULL) AS changed_or_new
  FROM pgbackups.schedule_defs d
  LEFT JOIN before b ON row(b.*)::text = row(d.*)::text;
-- next_runs never writes anything either
SELECT count(*) AS runs FROM pgbackups.schedule_runs;

---------------------------------------------------------------------------
-- unschedule()
---------------------------------------------------------------------------

SELECT pg_temp.try($$SELECT pgbackups.unschedule()$$) AS two_schedules;
SELECT pg_temp.try($$SELECT pgbackups.unschedule('no_such_schedule')$$) AS unknown;
SELECT pgbackups.unschedule('postgres') AS removed;
SELECT name FROM pgbackups.schedules;
SELECT pgbackups.unschedule() AS removed;
SELECT pg_temp.try($$SELECT pgbackups.unschedule()$$) AS none_left;
SELECT count(*) AS defs FROM pgbackups.schedule_defs;
-- a schedule is written in the caller's transaction: a rollback leaves none
BEGIN;
SELECT pgbackups.schedule(at => '02:00') AS name;
ROLLBACK;
SELECT count(*) AS defs FROM pgbackups.schedule_defs;
-- by database name (the same as the schedule name here)
SELECT pgbackups.schedule(current_database(), at => '02:00') AS name;
SELECT pgbackups.unschedule(current_database()) AS removed;

-- 'a/n' is a-max/n: 5/20 = 5,25,45
SELECT * FROM pgbackups.next_runs('5/20 * * * *', 'UTC', '2026-06-01 00:00+00', 4);
-- Vixie cron: a day field starting with '*' counts as unrestricted, so
-- '*/2' (odd days) AND Monday: 2026-06-01 is a Monday (excluded: not after),
-- then the odd Mondays June 15, June 29, July 13
SELECT * FROM pgbackups.next_runs('0 0 */2 * mon', 'UTC', '2026-06-01 00:00+00', 3);
-- a rule that never runs is refused; a one-digit hour is accepted
SELECT pg_temp.try($$SELECT pgbackups.schedule(cron => '0 0 30 2 *')$$) AS never_runs;
SELECT pgbackups.schedule(at => '2:05') AS name;
SELECT rule, cron FROM pgbackups.schedules;
SELECT pgbackups.unschedule() AS removed;

-- nothing ran on the frozen clock
SELECT count(*) AS backups FROM pgbackups.backups WHERE kind = 'scheduled';
SELECT count(*) AS runs FROM pgbackups.schedule_runs;
SELECT true AS real_time_again FROM (SELECT pgbackups.set_clock(NULL)) s;
SELECT abs(extract(epoch FROM pgbackups.now() - clock_timestamp())) < 60 AS real_time;
