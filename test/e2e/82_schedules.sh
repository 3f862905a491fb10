#!/bin/bash
# 82_schedules: scheduled backups end to end on the debug clock
# (pgbackups.set_clock, pgbackups.debug_clock = on):
#   - schedule(at => '02:00 America/Los_Angeles'): nothing before the slot,
#     a001 at 02:00:30 local with scheduled_for = the slot, restorable; one
#     run per slot; the next days, and the DST day (02:00 does not exist on
#     2026-03-08: the run is at 03:00 PDT = 10:00Z); unschedule() stops runs
#   - cron '*/15 * * * *' stepped through an hour: a001..a004 at the slots
#   - overlap: a capture blocked on a lock -> the next slot is 'skipped'
#     (row + server LOG line), no second capture
#   - a jump over three slots -> one 'missed' row and one run; beyond
#     pgbackups.schedule_grace -> missed only
#   - restart: the schedule survives restart_cluster; slots that fall while
#     the server is down (real clock): the latest runs once at start-up,
#     the older one is recorded as missed
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# test/pgbackups.conf sets pgbackups.debug_clock = on
start_cluster
T0=$SECONDS

DB=sched
CR=cron15
for db in $DB $CR; do
	q postgres "CREATE DATABASE $db" >/dev/null
	q "$db" "CREATE EXTENSION pgbackups" >/dev/null
	q "$db" "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 2000) g" >/dev/null
done
wait_for postgres "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler'" 20 ||
	fail "no scheduler in $DB and $CR"

# setclock TS: freeze the scheduler clock (cluster-wide) at TS
setclock() { q $DB "SELECT pgbackups.set_clock('$1')" >/dev/null; }
# utc EXPR: a timestamptz as 'YYYY-MM-DD HH24:MI:SS' in UTC
utc() { q "${2:-$DB}" "SELECT to_char(($1) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"; }
# scheduled DB: "id@slot(UTC) ..." of the scheduled backups, oldest first
scheduled() {
	q "$1" "SELECT coalesce(string_agg(id || '@' || to_char(scheduled_for AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), ' ' ORDER BY num), '')
	          FROM pgbackups.backups WHERE kind = 'scheduled'"
}
# runs DB: "outcome@slot[:backup_id] ..." of pgbackups.schedule_runs in order
runs() {
	q "$1" "SELECT coalesce(string_agg(outcome || '@' || to_char(slot AT TIME ZONE 'UTC', 'MM-DD HH24:MI') || coalesce(':' || backup_id, ''), ' '
	                                   ORDER BY slot, recorded_at), '')
	          FROM pgbackups.schedule_runs"
}
# started DB: "backup_id@slot(UTC) ..." of the started runs (schedule_runs keeps
# them after retention expired the backups)
started() {
	q "$1" "SELECT coalesce(string_agg(backup_id || '@' || to_char(slot AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), ' ' ORDER BY slot), '')
	          FROM pgbackups.schedule_runs WHERE outcome = 'started'"
}
# nsched DB: how many scheduled backups were ever made (a### ids are never reused)
nsched() { q "$1" "SELECT coalesce(max(num), 0) FROM pgbackups.backups WHERE kind = 'scheduled'"; }
nruns() { q "$1" "SELECT count(*) FROM pgbackups.schedule_runs"; }
# mark DB: the real time now, before the clock is moved past a slot
mark() { q "${1:-$DB}" "SELECT clock_timestamp()"; }
# decided_after NAME DB SLOT MARK: the run of SLOT (UTC) was recorded after
# MARK (real time): it was not decided earlier, while the clock was still
# before the slot.  This pins the bounded negative checks ("nothing yet"),
# which cannot prove on their own that the scheduler looked at the clock.
decided_after() {
	check_eq "$1: the $3 run was decided after the clock passed the slot" \
		"$(q "$2" "SELECT coalesce(bool_and(recorded_at > '$4'), false) FROM pgbackups.schedule_runs WHERE slot = '$3+00'")" t
}
# The scheduler records nothing when it looks at the clock and finds no slot
# due.  "Nothing happens before the slot" is shown exactly with
# pgbackups.counters(): clock_sets counts set_clock() calls, and a
# database's schedules_decided is the clock_sets value the last decision
# on its due slots saw (its scheduler's turn, or the launcher finding
# nothing due for it while it is idle); once that reaches the value after
# set_clock, the decision on the new clock is made and committed.  Each is
# also pinned afterwards by decided_after and the exact list of runs.
# clock_decided DB WHAT: wait until DB's due slots were decided on the clock set last
clock_decided() {
	local gen
	gen=$(q "$1" "SELECT value FROM pgbackups.counters() WHERE name = 'clock_sets'")
	if wait_for "$1" "SELECT value >= $gen FROM pgbackups.counters() WHERE name = 'schedules_decided'" 15; then
		log "$1: due slots decided on clock generation $gen ($2)"
	else
		fail "$1: its due slots were not decided on the clock set last within 15 s ($2; schedules_decided $(q "$1" "SELECT value FROM pgbackups.counters() WHERE name = 'schedules_decided'"), clock_sets $gen)"
	fi
}
# await_scheduled DB N [secs]: wait until there are N scheduled backups
await_scheduled() { wait_for "$1" "SELECT coalesce(max(num), 0) >= $2 FROM pgbackups.backups WHERE kind = 'scheduled'" "${3:-15}"; }
# finish_job DB ID: wait() for it; its final status
finish_job() {
	local out
	out=$(psql -X -q -At -d "$1" -c "SELECT pgbackups.wait('$2')" 2>"$TESTDIR/wait.err") ||
		out="error: $(grep -m1 ERROR "$TESTDIR/wait.err")"
	printf '%s\n' "$out"
}

# ---- a daily 'at' schedule in Los Angeles ----------------------------------------------
log "--- daily at 02:00 America/Los_Angeles"
setclock '2026-03-04 12:00:00-08' # Wed Mar 4, noon PST
check_eq "pgbackups.now() is the frozen clock" "$(utc "pgbackups.now()")" "2026-03-04 20:00:00"
# (a property of time itself: real time must pass; measured, not assumed)
t0=$(mark)
check_eq "the frozen clock does not advance while real time does" \
	"$(q $DB "SELECT to_char(pgbackups.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' ' || (clock_timestamp() - '$t0' >= interval '1 second') FROM pg_sleep(1.1)")" "2026-03-04 20:00:00 true"
check_eq "schedule() returns the database name" "$(q $DB "SELECT pgbackups.schedule(at => '02:00 America/Los_Angeles')")" "$DB"
check_eq "schedules: rule, cron, zone" "$(q $DB "SELECT concat_ws('|', name, database, rule, timezone, keep_daily, keep_weekly, keep_monthly) FROM pgbackups.schedules")" \
	"$DB|$DB|daily at 02:00 America/Los_Angeles|America/Los_Angeles|7|4|12"
check_eq "next_run: Mar 5 02:00 PST = 10:00Z" "$(utc "(SELECT next_run FROM pgbackups.schedules)")" "2026-03-05 10:00:00"

setclock '2026-03-05 01:59:30-08'
clock_decided $DB "no run at 01:59:30 local"
check_eq "at 01:59:30 local: no scheduled backup" "$(scheduled $DB)" ""
check_eq "at 01:59:30 local: no schedule_runs row" "$(runs $DB)" ""

m=$(mark)
setclock '2026-03-05 02:00:30-08'
if await_scheduled $DB 1 15; then pass "at 02:00:30 local a scheduled backup starts"; else fail "no scheduled backup 15 s after 02:00:30 local"; fi
check_eq "it is a001 with scheduled_for = 02:00 PST (10:00Z)" "$(scheduled $DB)" "a001@03-05 10:00"
check_eq "a001: kind, schedule, database" "$(q $DB "SELECT concat_ws('|', kind, schedule, database) FROM pgbackups.backups WHERE id = 'a001'")" "scheduled|$DB|$DB"
check_eq "a001 completes" "$(finish_job $DB a001)" completed
A001=$(archive_path $DB a001)
check "a001: pg_restore -l reads its archive ($A001)" pg_restore -l "$A001" -f /dev/null
check "a001: the archive holds table t" bash -c "pg_restore -l '$A001' | grep -q 'TABLE DATA public t '"
check_eq "schedule_runs: one started row for the slot" "$(runs $DB)" "started@03-05 10:00:a001"
decided_after "Mar 5" $DB "2026-03-05 10:00:00" "$m"
check_eq "schedules: last_id, last_status" "$(q $DB "SELECT concat_ws('|', last_id, last_status) FROM pgbackups.schedules")" "a001|completed"
check_eq "schedules: next_run is Mar 6 02:00 PST" "$(utc "(SELECT next_run FROM pgbackups.schedules)")" "2026-03-06 10:00:00"
log "schedules.last_run = $(utc "(SELECT last_run FROM pgbackups.schedules)")"
# the same frozen clock again (set_clock to the time it shows): decided once more
setclock "$(q $DB "SELECT pgbackups.now()")"
clock_decided $DB "one run per slot on the same frozen clock"
check_eq "still one backup on the same frozen clock (one run per slot)" "$(scheduled $DB)" "a001@03-05 10:00"

setclock '2026-03-06 02:00:30-08'
await_scheduled $DB 2 15 || true
check_eq "next day: a002 for Mar 6 02:00 PST" "$(scheduled $DB)" "a001@03-05 10:00 a002@03-06 10:00"
check_eq "a002 completes" "$(finish_job $DB a002)" completed
setclock '2026-03-07 02:00:30-08'
await_scheduled $DB 3 15 || true
check_eq "Mar 7: a003" "$(scheduled $DB)" "a001@03-05 10:00 a002@03-06 10:00 a003@03-07 10:00"
check_eq "a003 completes" "$(finish_job $DB a003)" completed
check_eq "next_run on the DST day: 02:00 does not exist, 03:00 PDT = 10:00Z" "$(utc "(SELECT next_run FROM pgbackups.schedules)")" "2026-03-08 10:00:00"
setclock '2026-03-08 09:59:50+00' # 01:59:50 PST
clock_decided $DB "no run at 01:59:50 PST on the DST day"
check_eq "Mar 8 01:59:50 PST: nothing yet" "$(nsched $DB)" 3
m=$(mark)
setclock '2026-03-08 10:00:30+00' # 03:00:30 PDT
await_scheduled $DB 4 15 || true
check_eq "Mar 8 03:00:30 PDT: a004 for 10:00Z" "$(scheduled $DB)" "a001@03-05 10:00 a002@03-06 10:00 a003@03-07 10:00 a004@03-08 10:00"
check_eq "a004 completes" "$(finish_job $DB a004)" completed
decided_after "Mar 8" $DB "2026-03-08 10:00:00" "$m"
check_eq "after the DST day: next_run Mar 9 02:00 PDT = 09:00Z" "$(utc "(SELECT next_run FROM pgbackups.schedules)")" "2026-03-09 09:00:00"
check_eq "no skipped or missed rows so far" "$(q $DB "SELECT count(*) FROM pgbackups.schedule_runs WHERE outcome <> 'started'")" 0

# unschedule stops runs
check_eq "unschedule('$DB') returns the name" "$(q $DB "SELECT pgbackups.unschedule('$DB')")" "$DB"
check_eq "no schedule left in $DB" "$(q $DB "SELECT count(*) FROM pgbackups.schedules")" 0
setclock '2026-03-09 02:00:30-07'
clock_decided $DB "no run on Mar 9 after unschedule()"
setclock '2026-03-10 02:00:30-07'
clock_decided $DB "no run on Mar 10 after unschedule()"
check_eq "after unschedule(): no more scheduled backups" "$(nsched $DB)" 4
check_eq "after unschedule(): no more schedule_runs rows" "$(nruns $DB)" 4
check_eq "the scheduled backups stay" "$(q $DB "SELECT string_agg(status, ' ' ORDER BY num) FROM pgbackups.backups")" "completed completed completed completed"

# ---- every 15 minutes, stepped through an hour ----------------------------------------
log "--- cron */15 in $CR"
setclock '2026-04-01 11:50:00+00'
check_eq "schedule(cron => '*/15 * * * *') in $CR" "$(q $CR "SELECT pgbackups.schedule(cron => '*/15 * * * *')")" "$CR"
check_eq "schedules: rule is the cron text, zone UTC" "$(q $CR "SELECT concat_ws('|', rule, cron, timezone) FROM pgbackups.schedules")" "*/15 * * * *|*/15 * * * *|UTC"
check_eq "next_run 12:00Z" "$(utc "(SELECT next_run FROM pgbackups.schedules)" $CR)" "2026-04-01 12:00:00"
want=""
n=0
PATHS=()
for slot in 12:00 12:15 12:30 12:45; do
	n=$((n + 1))
	id=$(printf 'a%03d' $n)
	# a moment before the slot: nothing new
	q $CR "SELECT pgbackups.set_clock(timestamptz '2026-04-01 $slot:00+00' - interval '20 seconds')" >/dev/null
	clock_decided $CR "no run 20 s before $slot"
	check_eq "20 s before $slot: still $((n - 1)) scheduled backups" "$(nsched $CR)" $((n - 1))
	m=$(mark $CR)
	setclock "2026-04-01 $slot:10+00"
	await_scheduled $CR $n 15 || true
	want="${want:+$want }$id@04-01 $slot"
	check_eq "$slot:10 -> $id for the $slot slot" "$(started $CR)" "$want"
	check_eq "$id is the scheduled backup for $slot" "$(q $CR "SELECT id FROM pgbackups.backups WHERE kind = 'scheduled' AND scheduled_for = '2026-04-01 $slot:00+00'")" "$id"
	check_eq "$id completes" "$(finish_job $CR "$id")" completed
	decided_after "$slot" $CR "2026-04-01 $slot:00" "$m"
	path=$(archive_path $CR "$id")
	check "$CR $id: pg_restore -l reads its archive" pg_restore -l "$path" -f /dev/null
	PATHS+=("$path")
done
check_eq "schedule_runs: four started" "$(runs $CR)" "started@04-01 12:00:a001 started@04-01 12:15:a002 started@04-01 12:30:a003 started@04-01 12:45:a004"
# keep_daily 7 keeps the newest backup of each day: the same-day a001..a003
# were expired when a newer one of that day completed
wait_for $CR "SELECT count(*) = 1 FROM pgbackups.backups WHERE kind = 'scheduled'" 10 || true
check_eq "retention: one backup per day, the newest (a004)" "$(scheduled $CR)" "a004@04-01 12:45"
for i in 0 1 2; do
	check "the archive of expired a00$((i + 1)) is gone" test ! -e "${PATHS[$i]}"
done
check "the archive of a004 is there" test -s "${PATHS[3]}"

# ---- overlap: a capture still running when the next slot comes ---------------------------
log "--- overlap"
locker=""
bg_psql locker $CR "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300); COMMIT;"
wait_for $CR "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" 10 || die "lock not taken"
setclock '2026-04-01 13:00:10+00'
await_scheduled $CR 5 15 || true
check_eq "13:00 slot: a005" "$(q $CR "SELECT id FROM pgbackups.backups WHERE kind = 'scheduled' AND scheduled_for = '2026-04-01 13:00:00+00'")" a005
if wait_for $CR "SELECT status = 'running' FROM pgbackups.backups WHERE id = 'a005'" 20; then
	pass "a005 is running (blocked by the lock)"
else
	fail "a005 is not running: $(describe_backup $CR a005)"
fi
# the event: a session of a005 waits for the lock on t; a005 is running then
wait_for $CR "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND NOT granted" 20 ||
	fail "a005 never waited for the lock on t"
check_eq "a005 still running behind the lock" "$(backup_field $CR a005 status)" running
setclock '2026-04-01 13:15:10+00'
if wait_for $CR "SELECT count(*) > 0 FROM pgbackups.schedule_runs WHERE outcome = 'skipped'" 15; then
	pass "13:15 slot while a005 runs: a skipped row"
else
	fail "no skipped row 15 s after the 13:15 slot: $(runs $CR)"
fi
# (one decision, one transaction: the row is the whole decision; no second
# decision for the same slot is pinned by the same check after the jump below)
check_eq "skipped: exactly one row, for the 13:15 slot" "$(q $CR "SELECT string_agg(to_char(slot AT TIME ZONE 'UTC', 'HH24:MI') || coalesce(':' || backup_id, ''), ' ') FROM pgbackups.schedule_runs WHERE outcome = 'skipped'")" "13:15"
log "skipped detail: $(q $CR "SELECT detail FROM pgbackups.schedule_runs WHERE outcome = 'skipped'")"
check_eq "no second capture while a005 runs" "$(started $CR)" "$want a005@04-01 13:00"
check_eq "a005 is the newest scheduled backup" "$(nsched $CR)" 5
check_eq "no pending backup either" "$(q $CR "SELECT count(*) FROM pgbackups.backups WHERE status = 'pending'")" 0
check_eq "schedules.last_status = skipped" "$(q $CR "SELECT last_status FROM pgbackups.schedules")" skipped
check "a LOG line about the skipped slot" grep -q -i -E "LOG: .*skip" "$SERVER_LOG"
log "server log: $(grep -i -E 'LOG: .*skip' "$SERVER_LOG" | tail -n 1)"
check_eq "next_run after the skipped slot: 13:30Z" "$(utc "(SELECT next_run FROM pgbackups.schedules)" $CR)" "2026-04-01 13:30:00"
q $CR "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" >/dev/null
stop_bg "$locker"
check_eq "a005 completes once the lock is gone" "$(finish_job $CR a005)" completed
# (pinned by the exact list of backups after the jump below: only a006)
check_eq "still no capture for the skipped slot" "$(nsched $CR)" 5

# ---- missed slots ------------------------------------------------------------------------
log "--- a jump over three slots (13:30, 13:45, 14:00)"
setclock '2026-04-01 14:00:10+00'
await_scheduled $CR 6 15 || true
# the missed row and a006 are one decision, committed in one transaction
check_eq "one run, for the latest slot 14:00" "$(q $CR "SELECT string_agg(id || '@' || to_char(scheduled_for AT TIME ZONE 'UTC', 'HH24:MI'), ' ' ORDER BY num) FROM pgbackups.backups WHERE num > 5")" "a006@14:00"
check_eq "one missed row" "$(q $CR "SELECT count(*) FROM pgbackups.schedule_runs WHERE outcome = 'missed'")" 1
missed=$(q $CR "SELECT to_char(slot AT TIME ZONE 'UTC', 'HH24:MI') || ' ' || coalesce(detail, '') FROM pgbackups.schedule_runs WHERE outcome = 'missed'")
log "missed row: $missed"
# the row's slot is the newest of the missed ones (src/sched/schedule_run.c: missed_last)
check "the missed row is for 13:45, the last slot passed over: $missed" grep -q -E '^13:45 ' <<<"$missed"
check "its detail counts 2 slots: $missed" grep -q -w 2 <<<"${missed#* }"
check_eq "a006 completes" "$(finish_job $CR a006)" completed
check_eq "after the jump: still exactly one skipped row, for 13:15" "$(q $CR "SELECT string_agg(to_char(slot AT TIME ZONE 'UTC', 'HH24:MI'), ' ') FROM pgbackups.schedule_runs WHERE outcome = 'skipped'")" "13:15"
check_eq "after the jump: the backups after a005 are a006 alone" "$(q $CR "SELECT string_agg(id, ' ' ORDER BY num) FROM pgbackups.backups WHERE num > 5")" a006
check_eq "next_run 14:15Z" "$(utc "(SELECT next_run FROM pgbackups.schedules)" $CR)" "2026-04-01 14:15:00"

log "--- beyond pgbackups.schedule_grace (5 min): missed only"
set_conf pgbackups.schedule_grace 300
check_eq "schedule_grace" "$(q $CR "SHOW pgbackups.schedule_grace")" 5min
setclock '2026-04-01 16:07:10+00' # slots 14:15 .. 16:00 due, the latest 7 min old
if wait_for $CR "SELECT count(*) = 2 FROM pgbackups.schedule_runs WHERE outcome = 'missed'" 15; then
	pass "a second missed row"
else
	fail "no second missed row: $(runs $CR)"
fi
# the missed row is the whole decision (one transaction): no capture came with it
check_eq "no capture for slots beyond the grace period" "$(nsched $CR)" 6
missed=$(q $CR "SELECT to_char(slot AT TIME ZONE 'UTC', 'HH24:MI') || ' ' || coalesce(detail, '') FROM pgbackups.schedule_runs WHERE outcome = 'missed' ORDER BY recorded_at DESC LIMIT 1")
log "missed row: $missed"
check "its detail counts the 8 slots 14:15..16:00: $missed" grep -q -w 8 <<<"${missed#* }"
check_eq "still two missed rows (one per decision)" "$(q $CR "SELECT count(*) FROM pgbackups.schedule_runs WHERE outcome = 'missed'")" 2
check_eq "schedules.last_status = missed" "$(q $CR "SELECT last_status FROM pgbackups.schedules")" missed
check_eq "next_run 16:15Z" "$(utc "(SELECT next_run FROM pgbackups.schedules)" $CR)" "2026-04-01 16:15:00"
reload_conf "ALTER SYSTEM RESET pgbackups.schedule_grace"

# ---- restart -------------------------------------------------------------------------------
# The debug clock lives in shared memory: after a restart the scheduler runs
# on the real clock before any test could set it again.  So this part uses
# the real clock: a daily rule whose two minutes S1 < S2 (a minute apart)
# are still to come when the server stops, and have both passed (S2 by a
# few seconds, well within the default one-hour grace) when it starts
# again.  The scheduler must then run S2 once, at start-up, and record S1
# as missed; the next run is tomorrow's S1.  Before that, a plain
# restart_cluster must keep the schedule (it is a catalog row) unchanged.
log "--- restart (real clock)"
check_eq "unschedule() of the only schedule in $CR" "$(q $CR "SELECT pgbackups.unschedule()")" "$CR"
q $DB "SELECT pgbackups.set_clock(NULL)" >/dev/null
check "pgbackups.now() is the real time again" test "$(q $CR "SELECT abs(extract(epoch FROM pgbackups.now() - clock_timestamp())) < 5")" = t
before=$(nsched $CR) # the newest a### number so far
s1_epoch=$(($(date +%s) + 20))
s1_epoch=$((s1_epoch - s1_epoch % 60 + 60))
[ "$(date -u -d "@$s1_epoch" +%M)" != 59 ] || s1_epoch=$((s1_epoch + 60)) # S1 and S2 in one hour
s2_epoch=$((s1_epoch + 60))
S1=$(date -u -d "@$s1_epoch" '+%Y-%m-%d %H:%M:%S')
S2=$(date -u -d "@$s2_epoch" '+%Y-%m-%d %H:%M:%S')
RULE="$(date -u -d "@$s1_epoch" +%-M),$(date -u -d "@$s2_epoch" +%-M) $(date -u -d "@$s1_epoch" +%-H) * * *"
log "rule '$RULE' UTC: S1 = $S1, S2 = $S2 (now $(date -u '+%H:%M:%S'))"
q $CR "SELECT pgbackups.schedule(cron => '$RULE')" >/dev/null
check_eq "next_run is S1" "$(utc "(SELECT next_run FROM pgbackups.schedules)" $CR)" "$S1"
row_before=$(q $CR "SELECT concat_ws('|', name, database, rule, cron, timezone, next_run, keep_daily, keep_weekly, keep_monthly) FROM pgbackups.schedules")
restart_cluster fast
wait_for $CR "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler' AND datname = '$CR'" 20 ||
	fail "no scheduler in $CR 20 s after restart_cluster"
check_eq "the schedule survives restart_cluster" "$(q $CR "SELECT concat_ws('|', name, database, rule, cron, timezone, next_run, keep_daily, keep_weekly, keep_monthly) FROM pgbackups.schedules")" "$row_before"
check "the server restarted before S1 ($(date -u +%T))" test "$(date +%s)" -lt "$s1_epoch"
stop_cluster fast
log "server stopped at $(date -u +%T); waiting past S2 = $S2"
# (this part is about the real clock: real time has to pass S2 while the server is down)
while [ "$(date +%s)" -lt $((s2_epoch + 3)) ]; do sleep 1; done
_pg_ctl start
log "server started at $(date -u +%T)"
if wait_for $CR "SELECT coalesce(max(num), 0) > $before FROM pgbackups.backups WHERE kind = 'scheduled'" 30; then
	pass "a scheduled backup starts at start-up"
else
	fail "no scheduled backup 30 s after start-up: $(runs $CR)"
fi
# the missed S1 and the run of S2 are one decision in one transaction; a
# second run would show in the same list after a007 completed (below)
new=$(q $CR "SELECT string_agg(id || '@' || to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ' ' ORDER BY num) FROM pgbackups.backups WHERE kind = 'scheduled' AND num > $before")
check_eq "exactly one run, for S2" "$new" "a007@$S2"
check_eq "it completes" "$(finish_job $CR a007)" completed
check_eq "still exactly one run after a007 completed" "$(q $CR "SELECT string_agg(id, ' ' ORDER BY num) FROM pgbackups.backups WHERE kind = 'scheduled' AND num > $before")" a007
check_eq "S1 is recorded as missed (one row, 1 slot)" \
	"$(q $CR "SELECT string_agg(to_char(slot AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ' ') FROM pgbackups.schedule_runs WHERE outcome = 'missed' AND slot >= '$S1+00'")" "$S1"
detail=$(q $CR "SELECT detail FROM pgbackups.schedule_runs WHERE outcome = 'missed' AND slot = '$S1+00'")
log "missed S1: $detail"
# S1 was about a minute late, well within the one-hour grace: it was missed
# because S2 superseded it, not because the grace period had passed
check "the detail counts 1 run: $detail" grep -q -E '(^|[^0-9:-])1 run' <<<"$detail"
check "the detail does not claim S1 was beyond the grace period: $detail" \
	bash -c "! grep -q 'more than pgbackups.schedule_grace' <<<\"\$1\"" _ "$detail"
check_eq "S2 is recorded as started" \
	"$(q $CR "SELECT string_agg(coalesce(backup_id, '-'), ' ') FROM pgbackups.schedule_runs WHERE outcome = 'started' AND slot = '$S2+00'")" a007
check_eq "next_run is tomorrow's S1" "$(utc "(SELECT next_run FROM pgbackups.schedules)" $CR)" "$(date -u -d "@$((s1_epoch + 86400))" '+%Y-%m-%d %H:%M:%S')"
check "a007: pg_restore -l reads its archive" pg_restore -l "$(archive_path $CR a007)" -f /dev/null
q $CR "SELECT pgbackups.unschedule()" >/dev/null

# pins the bounded "after unschedule()" checks over the whole run (the clock
# went on through April and the restart): nothing more ran in $DB
check_eq "at the end: still no more scheduled backups in $DB after unschedule()" "$(nsched $DB)" 4
check_eq "at the end: still no more schedule_runs rows in $DB" "$(nruns $DB)" 4
log "82_schedules took $((SECONDS - T0)) s after start_cluster"
finish
