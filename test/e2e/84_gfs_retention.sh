#!/bin/bash
# 84_gfs_retention: grandfather-father-son retention of scheduled backups
# over 400 simulated days on the debug clock.
#
# Schedule "gfs": daily at 02:00 UTC, keep 7 daily / 4 weekly / 12 monthly,
# from 2025-12-20 (day 1) to 2027-01-23 (day 400): two year ends, ISO week
# 2025-W52 -> 2026-W01 on 2025-12-29 and the 53-week ISO year 2026.  Three
# backups are pinned: day 3 and day 50 (old: only the pin keeps them) and
# 2026-05-31 (the newest of its month: a pin takes no bucket, so May 30
# must be kept for May too).  For the last 60 days a second schedule, for
# database gfs2 in the same catalog, runs daily at 18:00 America/Los_Angeles
# (02:00Z the next day) keeping 3/2/2: its buckets are Los Angeles days,
# weeks and months, one day behind UTC.  Two manual backups stay untouched.
#
# At checkpoints and at the end, the scheduled backups left are compared
# with what an independent Python implementation of the policy (restic
# semantics, standard library only) keeps from the list of ALL slots that
# were backed up; every kept archive exists, every expired one is gone and
# named in an "expired backup aNNN" log line.  DAYS=n shortens the run.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DAYS=${DAYS:-400}
SECOND_FROM=$((DAYS - 59)) # the second schedule runs for the last 60 days
# test/pgbackups.conf sets pgbackups.debug_clock = on
start_cluster

DB=gfs
q postgres "CREATE DATABASE $DB" >/dev/null
q postgres "CREATE DATABASE gfs2" >/dev/null
q $DB "CREATE EXTENSION pgbackups" >/dev/null
q $DB "CREATE TABLE t (id int PRIMARY KEY, note text)" >/dev/null
q $DB "INSERT INTO t VALUES (1, 'tiny')" >/dev/null
q gfs2 "CREATE TABLE u AS SELECT 1 AS id" >/dev/null
# an operator that may read the database (the read rule: owner, pg_read_all_data or superuser)
q postgres "CREATE ROLE gfs_operator LOGIN IN ROLE pgbackups_admin, pg_read_all_data" >/dev/null

# run_slot(clock, slot, n): set the clock, wait until n scheduled backups
# exist for the slot, wait() for each and for their job workers to exit
# (retention runs after the completion is recorded); one row per backup,
# with the scheduled backups that disappeared during the run and the ids
# named by "expired backup aNNN" lines in the new backups' logs
psql_db $DB >/dev/null <<'SQL'
CREATE FUNCTION public.run_slot(p_clock timestamptz, p_slot timestamptz, n integer)
RETURNS TABLE (id text, schedule text, status text, location text, disappeared text, logged text)
LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '60 seconds';
	got integer;
	b record;
	before text[];
	new_ids text[];
BEGIN
	SELECT coalesce(array_agg(x.id), '{}') INTO before FROM pgbackups.backups x WHERE x.kind = 'scheduled';
	PERFORM pgbackups.set_clock(p_clock);
	LOOP
		SELECT count(*) INTO got FROM pgbackups.backups x
		 WHERE x.kind = 'scheduled' AND x.scheduled_for = p_slot;
		EXIT WHEN got >= n;
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'only % of % scheduled backups for slot % after 60 s; runs: %', got, n, p_slot,
				(SELECT string_agg(r.schedule || ' ' || r.outcome || ' ' || r.slot || ' ' || coalesce(r.detail, ''), '; ')
				   FROM pgbackups.schedule_runs r WHERE r.slot >= p_slot - interval '1 day');
		END IF;
		PERFORM pg_sleep(0.02);
	END LOOP;
	FOR b IN SELECT x.id FROM pgbackups.backups x
			  WHERE x.kind = 'scheduled' AND x.scheduled_for = p_slot ORDER BY x.num
	LOOP
		PERFORM pgbackups.wait(b.id);
	END LOOP;
	LOOP
		EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity a
							   WHERE a.backend_type = 'pgbackups job' AND a.datname = current_database());
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'the job workers of slot % did not exit', p_slot;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	SELECT array_agg(x.id) INTO new_ids FROM pgbackups.backups x
	 WHERE x.kind = 'scheduled' AND x.scheduled_for = p_slot;
	RETURN QUERY
	SELECT x.id, x.schedule, x.status, x.location,
		   (SELECT coalesce(string_agg(e, ' ' ORDER BY e), '') FROM unnest(before) e
			 WHERE NOT EXISTS (SELECT 1 FROM pgbackups.backups y WHERE y.id = e)),
		   (SELECT coalesce(string_agg(m, ' ' ORDER BY m), '')
			  FROM (SELECT substring(l.message FROM '^expired backup (a[0-9]+)') AS m FROM pgbackups.logs l
					 WHERE l.job_id = ANY (new_ids) AND l.message ~ '^expired backup a[0-9]+') z)
	  FROM pgbackups.backups x
	 WHERE x.kind = 'scheduled' AND x.scheduled_for = p_slot ORDER BY x.num;
END
$$;
SQL

# all.tsv: every scheduled backup ever made: schedule, id, slot (UTC), archive path
ALL=$TESTDIR/all.tsv
: >"$ALL"
PINS=$TESTDIR/pins.txt
: >"$PINS"

# oracle SCHEDULE ZONE DAILY WEEKLY MONTHLY: the ids the policy keeps
oracle() {
	"$SYS_PYTHON" - "$ALL" "$PINS" "$@" <<'PY'
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

all_file, pins_file, schedule, zone, kd, kw, km = sys.argv[1:8]
kd, kw, km = int(kd), int(kw), int(km)
tz = ZoneInfo(zone)
pins = set(open(pins_file).read().split())
backups = []  # (slot, id)
for line in open(all_file):
    s, bid, slot, _path = line.rstrip("\n").split("\t")
    if s != schedule:
        continue
    t = datetime.strptime(slot, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    backups.append((t, bid))
backups.sort(reverse=True)  # newest first
keep = set()
if backups:
    keep.add(backups[0][1])  # the newest, always
keep |= {b for _, b in backups if b in pins}
candidates = [(t, b) for t, b in backups if b not in pins]  # pins take no bucket
rules = [
    (kd, lambda d: d.strftime("%Y-%m-%d")),
    (kw, lambda d: "%04d-W%02d" % d.isocalendar()[:2]),
    (km, lambda d: d.strftime("%Y-%m")),
]
for limit, bucket in rules:
    seen = set()
    for t, b in candidates:  # newest first: the first of a bucket is its newest
        k = bucket(t.astimezone(tz))
        if k in seen:
            continue
        if len(seen) >= limit:
            break
        seen.add(k)
        keep.add(b)
print(" ".join(sorted(keep)))
PY
}

# present SCHEDULE: the ids of that schedule's backups in the catalog
present() { q $DB "SELECT coalesce(string_agg(id, ' ' ORDER BY id), '') FROM pgbackups.backups WHERE schedule = '$1'"; }
present_dates() { q $DB "SELECT coalesce(string_agg(to_char(scheduled_for AT TIME ZONE '$2', 'YYYY-MM-DD'), ' ' ORDER BY scheduled_for), '') FROM pgbackups.backups WHERE schedule = '$1'"; }

# compare SCHEDULE ZONE D W M LABEL: the catalog against the oracle (retention
# runs right after each success: allow it a few seconds)
compare() {
	local s=$1 zone=$2 d=$3 w=$4 m=$5 label=$6 want got
	want=$(oracle "$s" "$zone" "$d" "$w" "$m")
	for _ in $(seq 1 50); do
		got=$(present "$s")
		[ "$got" = "$want" ] && break
		sleep 0.1
	done
	if [ "$got" = "$want" ]; then
		pass "$label: schedule $s keeps exactly what the policy keeps ($(wc -w <<<"$got") backups: $(present_dates "$s" "$zone"))"
	else
		fail "$label: schedule $s: got [$got], the policy keeps [$want]"
		log "  kept only by pgbackups: $(comm -23 <(tr ' ' '\n' <<<"$got" | sort) <(tr ' ' '\n' <<<"$want" | sort) | tr '\n' ' ')"
		log "  missing: $(comm -13 <(tr ' ' '\n' <<<"$got" | sort) <(tr ' ' '\n' <<<"$want" | sort) | tr '\n' ' ')"
	fi
}

slot_of_day() { date -u -d "2025-12-20 + $(($1 - 1)) days" '+%Y-%m-%d'; }

setclock() { q $DB "SELECT pgbackups.set_clock('$1')" >/dev/null; }
setclock '2025-12-19 12:00:00+00'
check_eq "schedule gfs" "$(q $DB "SELECT pgbackups.schedule(at => '02:00 UTC', keep_daily => 7, keep_weekly => 4, keep_monthly => 12)")" gfs
check_eq "first run 2025-12-20 02:00Z" "$(q $DB "SELECT to_char(next_run AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM pgbackups.schedules")" "2025-12-20 02:00"

declare -A DAY_ID
MANUAL=()
loop_start=$SECONDS
captures=0
expirations=0
log_mismatch=0
for day in $(seq 1 "$DAYS"); do
	d=$(slot_of_day "$day")
	n=1
	[ "$day" -ge "$SECOND_FROM" ] && [ "$DAYS" -ge 60 ] && n=2
	if ! out=$(q $DB "SELECT concat_ws(E'\t', id, schedule, status, location, disappeared, logged) FROM public.run_slot('$d 02:00:30+00', '$d 02:00:00+00', $n)" 2>"$TESTDIR/day.err"); then
		fail "day $day ($d): $(grep -m1 ERROR "$TESTDIR/day.err")"
		break
	fi
	while IFS=$'\t' read -r id s st loc gone logged; do
		[ -n "$id" ] || continue
		captures=$((captures + 1))
		if [ "$st" != completed ]; then fail "day $day: $id ($s) is $st: $(describe_backup $DB "$id")"; fi
		printf '%s\t%s\t%s\t%s\n' "$s" "$id" "$d 02:00:00" "${loc#file://}" >>"$ALL"
		[ "$s" = gfs ] || continue # the lists below are the same on each row of a day
		DAY_ID[$day]=$id
		expirations=$((expirations + $(wc -w <<<"$gone")))
		if [ "$gone" != "$logged" ]; then
			log_mismatch=$((log_mismatch + 1))
			[ "$log_mismatch" -gt 3 ] || log "day $day: disappeared [$gone], named by 'expired backup' lines of the new backups [$logged]"
		fi
	done <<<"$out"
	case $day in
	2 | 120)
		MANUAL+=("$(q $DB "SELECT pgbackups.capture(wait => true, label => 'manual on day $day')" 2>/dev/null)")
		;;
	3 | 50)
		# an operator may pin
		check_eq "day $day: gfs_operator pins ${DAY_ID[$day]}" \
			"$(psql -X -q -At -U gfs_operator -d $DB -c "SELECT pgbackups.pin('${DAY_ID[$day]}')" 2>&1)" "${DAY_ID[$day]}"
		echo "${DAY_ID[$day]}" >>"$PINS"
		;;
	163)
		check_eq "day 163 ($d): pin ${DAY_ID[$day]}, the newest of May" "$(q $DB "SELECT pgbackups.pin('${DAY_ID[$day]}')")" "${DAY_ID[$day]}"
		echo "${DAY_ID[$day]}" >>"$PINS"
		;;
	10 | 40 | 100 | 200 | 300)
		compare gfs UTC 7 4 12 "day $day"
		;;
	esac
	if [ "$day" = $((SECOND_FROM - 1)) ] && [ "$DAYS" -ge 60 ]; then
		check_eq "day $day: schedule gfs2 (18:00 Los Angeles, keep 3/2/2)" \
			"$(q $DB "SELECT pgbackups.schedule('gfs2', at => '18:00 America/Los_Angeles', keep_daily => 3, keep_weekly => 2, keep_monthly => 2)")" gfs2
		check_eq "gfs2 next_run = 02:00Z of day $SECOND_FROM" "$(q $DB "SELECT to_char(next_run AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM pgbackups.schedules WHERE name = 'gfs2'")" "$(slot_of_day "$SECOND_FROM") 02:00"
	fi
	if [ $((day % 50)) = 0 ]; then
		log "day $day ($d): $captures captures in $((SECONDS - loop_start)) s; gfs keeps $(present gfs | wc -w)"
	fi
done
loop_time=$((SECONDS - loop_start))
log "$captures scheduled captures in $loop_time s ($(awk -v c="$captures" -v t="$loop_time" 'BEGIN { if (c > 0) printf "%.2f", t / c }') s each)"
check_eq "every day was captured" "$(awk -F'\t' '$1 == "gfs"' "$ALL" | wc -l)" "$DAYS"
check_eq "every day, the backups that disappeared are those the new backup's 'expired backup aNNN' log lines name ($expirations expirations)" "$log_mismatch" 0

# ---- the end state ----------------------------------------------------------------------
compare gfs UTC 7 4 12 "day $DAYS"
[ "$DAYS" -ge 60 ] && compare gfs2 America/Los_Angeles 3 2 2 "day $DAYS"
newest=$(awk -F'\t' '$1 == "gfs" { id = $2 } END { print id }' "$ALL")
check_eq "the newest backup $newest is kept" "$(q $DB "SELECT status FROM pgbackups.backups WHERE id = '$newest'")" completed
mapfile -t PINNED <"$PINS"
for p in "${PINNED[@]}"; do
	check_eq "pinned $p survives" "$(q $DB "SELECT concat_ws('|', status, pinned) FROM pgbackups.backups WHERE id = '$p'")" "completed|t"
done
if [ "$DAYS" -ge 200 ]; then
	check_eq "May 2026: the pinned May 31 and May 30 (a pin takes no bucket)" \
		"$(q $DB "SELECT string_agg(to_char(scheduled_for, 'MM-DD'), ' ' ORDER BY scheduled_for) FROM pgbackups.backups WHERE schedule = 'gfs' AND scheduled_for >= '2026-05-01' AND scheduled_for < '2026-06-01'")" "05-30 05-31"
fi
for id in "${MANUAL[@]}"; do
	check_eq "manual $id is untouched" "$(backup_field $DB "$id" status)" completed
done

# archives: every kept one exists, every expired one is gone, and each expired
# id is named by an "expired backup" log line
kept_files=0
gone_files=0
bad=""
expired_ids=()
declare -A IN_CATALOG
for id in $(q $DB "SELECT id FROM pgbackups.backups"); do IN_CATALOG[$id]=1; done
while IFS=$'\t' read -r s id _slot path; do
	if [ -n "${IN_CATALOG[$id]:-}" ]; then
		if [ -s "$path" ]; then kept_files=$((kept_files + 1)); else bad+=" kept $id has no archive ($path);"; fi
	else
		expired_ids+=("$id")
		if [ -e "$path" ]; then bad+=" expired $id still has $path;"; else gone_files=$((gone_files + 1)); fi
	fi
done <"$ALL"
check_eq "archives: kept ones exist, expired ones are gone ($kept_files kept, $gone_files gone)" "$bad" ""
logged=$(grep -o -E 'pgbackups: expired backup a[0-9]+' "$SERVER_LOG" | awk '{ print $4 }' | sort | tr '\n' ' ')
check_eq "the server log names every expired backup once ('pgbackups: expired backup aNNN')" \
	"$logged" "$(printf '%s\n' "${expired_ids[@]}" | sort | tr '\n' ' ')"
check_eq "no leftover files in storage (archives = rows)" \
	"$(find "$STORAGE_DIR" -type f -path "*/$DB/*" -name '*.dump' | wc -l)" "$(q $DB "SELECT count(*) FROM pgbackups.backups WHERE location IS NOT NULL")"
check_eq "no leftover manifests in storage (manifests = completed rows)" \
	"$(find "$STORAGE_DIR" -type f -path "*/$DB/*" -name '*.dump.manifest.json' | wc -l)" "$(q $DB "SELECT count(*) FROM pgbackups.backups WHERE status = 'completed'")"

# ---- pins and delete(), unpin ----------------------------------------------------------
p3=${DAY_ID[3]:-a003}
expect_sqlstate "delete() of pinned $p3 is refused" $DB 55000 "SELECT pgbackups.delete('$p3')"
check_eq "$p3 is still there" "$(backup_field $DB "$p3" status)" completed
check_eq "unpin('$p3')" "$(q $DB "SELECT pgbackups.unpin('$p3')")" "$p3"
grep -v -x "$p3" "$PINS" >"$PINS.new" || true
mv "$PINS.new" "$PINS"
next=$((DAYS + 1))
d=$(slot_of_day $next)
n=1
[ "$DAYS" -ge 60 ] && n=2
out=$(q $DB "SELECT concat_ws(E'\t', id, schedule, status, location, disappeared, logged) FROM public.run_slot('$d 02:00:30+00', '$d 02:00:00+00', $n)" 2>"$TESTDIR/day.err") ||
	fail "day $next: $(grep -m1 ERROR "$TESTDIR/day.err")"
while IFS=$'\t' read -r id s st loc gone logged; do
	[ -n "$id" ] || continue
	[ "$s" != gfs ] || check_eq "day $next: $id expired [$gone] and logged it" "$logged" "$gone"
	printf '%s\t%s\t%s\t%s\n' "$s" "$id" "$d 02:00:00" "${loc#file://}" >>"$ALL"
done <<<"$out"
compare gfs UTC 7 4 12 "day $next, after unpin('$p3')"
check_eq "unpinned $p3 expired at the next scheduled success" "$(q $DB "SELECT count(*) FROM pgbackups.backups WHERE id = '$p3'")" 0
check "its archive is gone" test ! -e "$(awk -F'\t' -v id="$p3" '$2 == id { print $4 }' "$ALL")"

# ---- manual retention skips pinned backups ---------------------------------------------
if [ "${#MANUAL[@]}" -ge 2 ]; then
	m1=${MANUAL[0]}
	m2=${MANUAL[1]}
	check_eq "pin manual $m1" "$(q $DB "SELECT pgbackups.pin('$m1')")" "$m1"
	set_conf pgbackups.manual_retention 1
	m3=$(q $DB "SELECT pgbackups.capture(wait => true, label => 'manual after pin')")
	wait_for $DB "SELECT count(*) = 0 FROM pgbackups.backups WHERE id = '$m2'" 10 || true
	check_eq "manual_retention = 1: pinned $m1 and the newest $m3 remain" \
		"$(q $DB "SELECT string_agg(id, ' ' ORDER BY id) FROM pgbackups.backups WHERE kind = 'manual'")" "$m1 $m3"
	check_eq "scheduled backups untouched by manual retention" "$(present gfs)" "$(oracle gfs UTC 7 4 12)"
	q postgres "ALTER SYSTEM RESET pgbackups.manual_retention" >/dev/null
	q postgres "SELECT pg_reload_conf()" >/dev/null
else
	skip "manual retention skips pinned backups" "DAYS=$DAYS: the manual captures of days 2 and 120 were not both made"
fi
expect_sqlstate "pin() of an unknown backup" $DB 42704 "SELECT pgbackups.pin('a9999')"
q $DB "SELECT pgbackups.set_clock(NULL)" >/dev/null
finish
