#!/bin/bash
# 86_alerts: NOTIFY pgbackups_events, the webhook outbox (pgbackups.alerts)
# and the health view, on the debug clock.
#   - health: 'never run' for a fresh schedule, 'late' once the clock passes
#     expected_by without a success (the run is stuck behind a lock), 'ok'
#     after a success, 'failing' (failed_id, error) after a failed run
#   - a LISTEN session gets every state change as JSON (scheduled backups,
#     skipped and missed slots with kind 'schedule', manual backups)
#   - pgbackups.webhook_url (test/servers/webhook_listener.py on 127.0.0.1,
#     a token in its query string): one JSON POST per failure, none for
#     successes or skipped slots; 500 twice then 200 -> delivered on the
#     third attempt; webhook_on_success = on -> completed POSTs; a missed
#     slot -> 'schedule.missed'
#   - the token is nowhere in pgbackups.alerts, logs, schedule_runs,
#     backups, the NOTIFY payloads or the server log, and an operator
#     cannot read the setting
#   - pg_dump + pg_restore of the catalog database keeps the alerts,
#     delivered and pending (extension configuration), and the id sequence
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# test/pgbackups.conf sets pgbackups.debug_clock = on
start_cluster
T0=$SECONDS

DB=alr
q postgres "CREATE DATABASE $DB" >/dev/null
q $DB "CREATE EXTENSION pgbackups" >/dev/null
q $DB "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 2000) g" >/dev/null
q postgres "CREATE ROLE alert_operator LOGIN IN ROLE pgbackups_admin" >/dev/null

# ---- the webhook listener ------------------------------------------------------------------
WH_DIR=""
new_tmpdir WH_DIR
WH_LOG=$WH_DIR/requests.jsonl
WH_CONTROL=$WH_DIR/control.json
: >"$WH_LOG"
echo '{"fail": 0, "status": 500}' >"$WH_CONTROL"
"$SYS_PYTHON" "$SERVERS_DIR/webhook_listener.py" --listen 127.0.0.1 --port 0 --log "$WH_LOG" \
	--control "$WH_CONTROL" --ready-file "$WH_DIR/ready" >"$WH_DIR/out" 2>&1 &
WH_PID=$!
track_bg "$WH_PID"
_wait_ready "$WH_DIR/ready" "$WH_PID" webhook_listener "$WH_DIR/out"
WH_PORT=$(cat "$WH_DIR/ready")
TOKEN=whTok3nQ9xPgbAlertS3cret
HOOK="http://127.0.0.1:$WH_PORT/hook?token=$TOKEN"
log "webhook listener on 127.0.0.1:$WH_PORT (pid $WH_PID)"
# wh_count [JQ_FILTER]: requests the listener got (matching a jq filter on the log record)
wh_count() { jq -c "select(${1:-true})" "$WH_LOG" | wc -l; }
wh_wait() { # wh_wait N FILTER SECS
	local deadline=$((SECONDS + ${3:-30}))
	while [ "$(wh_count "$2")" -lt "$1" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# ---- a LISTEN session for the whole test -----------------------------------------------------
LISTEN_OUT=$TESTDIR/listen.out
{
	echo "LISTEN pgbackups_events;"
	for _ in $(seq 1 3000); do echo "SELECT pg_sleep(0.2);"; done
} >"$TESTDIR/listen.sql"
psql -X -q -At -d $DB -f "$TESTDIR/listen.sql" >"$LISTEN_OUT" 2>&1 &
LISTEN_PID=$!
track_bg "$LISTEN_PID"
wait_for $DB "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(0.2)%' AND pid <> pg_backend_pid()" 10 ||
	fail "the LISTEN session did not start"
# events [JQ_FILTER]: the NOTIFY payloads received so far, one JSON a line
events() {
	sed -n 's/^Asynchronous notification "pgbackups_events" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p' "$LISTEN_OUT" |
		jq -c "select(${1:-true})" 2>/dev/null
}
ev_wait() { # ev_wait FILTER SECS
	local deadline=$((SECONDS + ${2:-15}))
	while [ -z "$(events "$1")" ]; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

setclock() { q $DB "SELECT pgbackups.set_clock('$1')" >/dev/null; }
health() { q $DB "SELECT concat_ws('|', status, coalesce(last_success_id, '-'), coalesce(to_char(last_success_slot AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), '-'), coalesce(to_char(expected_by AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), '-'), coalesce(failed_id, '-')) FROM pgbackups.health"; }
await_backup() { wait_for $DB "SELECT count(*) > 0 FROM pgbackups.backups WHERE id = '$1'" "${2:-15}"; }
await_status() { wait_for $DB "SELECT status = '$2' FROM pgbackups.backups WHERE id = '$1'" "${3:-30}"; }

# ---- the webhook URL is a superuser-only setting ------------------------------------------------
set_conf pgbackups.webhook_url "$HOOK"
check_eq "webhook_url is set (superuser)" "$(q $DB "SHOW pgbackups.webhook_url")" "$HOOK"
# (logged in as the operator, not SET ROLE from a superuser session)
PGUSER=alert_operator expect_sqlstate "an operator cannot read webhook_url (SHOW)" $DB 42501 "SHOW pgbackups.webhook_url"
PGUSER=alert_operator expect_sqlstate "an operator cannot read webhook_url (current_setting)" $DB 42501 "SELECT current_setting('pgbackups.webhook_url')"
check_eq "an operator's pg_settings has no webhook_url row" \
	"$(psql -X -q -At -U alert_operator -d $DB -c "SELECT count(*) FROM pg_settings WHERE name = 'pgbackups.webhook_url'" 2>&1)" 0

# ---- never run, late, ok ---------------------------------------------------------------------
log "--- health: never run, late, ok"
setclock '2026-06-01 00:00:00+00'
q $DB "SELECT pgbackups.schedule(at => '02:00 UTC')" >/dev/null
check_eq "fresh schedule: never run, expected by the first slot + 1 h" "$(health)" "never run|-|-|06-01 03:00|-"
locker=""
bg_psql locker $DB "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300); COMMIT;"
wait_for $DB "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" 10 || die "lock not taken"
setclock '2026-06-01 02:00:30+00'
await_backup a001 || fail "no a001 at 02:00:30"
await_status a001 running 20 || fail "a001 not running: $(describe_backup $DB a001)"
check_eq "a001 running (blocked): still never run, not yet late" "$(health)" "never run|-|-|06-01 03:00|-"
setclock '2026-06-01 03:00:01+00'
check_eq "past expected_by without a success: late" "$(health)" "late|-|-|06-01 03:00|-"
setclock '2026-06-02 02:00:30+00'
if wait_for $DB "SELECT count(*) = 1 FROM pgbackups.schedule_runs WHERE outcome = 'skipped'" 15; then
	pass "Jun 2 slot while a001 runs: skipped"
else
	fail "no skipped row for the Jun 2 slot: $(q $DB "SELECT string_agg(outcome || ' ' || slot, ', ') FROM pgbackups.schedule_runs")"
fi
if ev_wait '.kind == "schedule" and .status == "skipped"' 10; then
	ev=$(events '.kind == "schedule" and .status == "skipped"' | head -n 1)
	pass "NOTIFY for the skipped slot: $ev"
	check_eq "skipped event: schedule, database, slot" "$(jq -r '[.schedule, .database, (.scheduled_for | tostring | .[0:19])] | join("|")' <<<"$ev")" "alr|alr|2026-06-02T02:00:00"
else
	fail "no NOTIFY with kind schedule, status skipped: $(events | tail -n 3)"
fi
check_eq "still late while a001 runs" "$(health)" "late|-|-|06-01 03:00|-"
q $DB "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" >/dev/null
stop_bg "$locker"
await_status a001 completed 60 || fail "a001 did not complete: $(describe_backup $DB a001)"
check_eq "after a success: ok, expected by the next slot + 1 h" "$(health)" "ok|a001|06-01 02:00|06-02 03:00|-"
check_eq "ok: last_success_at is a001's finished_at" "$(q $DB "SELECT h.last_success_at = b.finished_at FROM pgbackups.health h, pgbackups.backups b WHERE b.id = 'a001'")" t
ev_wait '.id == "a001" and .status == "completed"' 10 || true
ev=$(events '.id == "a001" and .status == "completed"' | head -n 1)
check_eq "NOTIFY a001 completed: kind, database, schedule, slot" \
	"$(jq -r '[.kind, .database, .schedule, (.scheduled_for | tostring | .[0:19]), (.error | tostring)] | join("|")' <<<"$ev" 2>&1)" \
	"scheduled backup|alr|alr|2026-06-01T02:00:00|null"
check "NOTIFY a001 has an 'at' time: $ev" test "$(jq -r '.at != null' <<<"$ev" 2>/dev/null)" = true
log "NOTIFY statuses of a001: $(events '.id == "a001"' | jq -r .status | tr '\n' ' ')"
check "NOTIFY: a001 was announced running before completed" grep -q 'running completed' <<<"$(events '.id == "a001"' | jq -r .status | tr '\n' ' ')"
check_eq "successes and skipped slots are not queued for the webhook" "$(q $DB "SELECT count(*) FROM pgbackups.alerts")" 0
# a POST is made only for a row of pgbackups.alerts (none, just checked); a
# late POST for a001 or the skipped slot would also show in the exact count
# of POSTs after the a002 failure below
check_eq "the listener got nothing so far" "$(wh_count)" 0

# ---- a failing scheduled run ----------------------------------------------------------------------
log "--- failing: unwritable storage"
RO=$TESTDIR/readonly
mkdir -p "$RO"
chmod 555 "$RO"
set_conf pgbackups.storage_url "file://$RO"
setclock '2026-06-03 02:00:30+00'
await_backup a002 || fail "no a002 on Jun 3"
await_status a002 failed 30 || fail "a002 did not fail: $(describe_backup $DB a002)"
err=$(backup_field $DB a002 error)
log "a002 error: $err"
check_eq "health: failing, failed_id a002, the last success still a001" "$(health)" "failing|a001|06-01 02:00|06-02 03:00|a002"
check_eq "health.error is a002's error" "$(q $DB "SELECT error FROM pgbackups.health")" "$err"
ev_wait '.id == "a002" and .status == "failed"' 10 || true
ev=$(events '.id == "a002" and .status == "failed"' | head -n 1)
check_eq "NOTIFY a002 failed: kind, schedule, slot, error" \
	"$(jq -r '[.kind, .schedule, (.scheduled_for | tostring | .[0:19]), .error] | join("|")' <<<"$ev" 2>&1)" \
	"scheduled backup|alr|2026-06-03T02:00:00|$err"
if wh_wait 1 'true' 30; then pass "the webhook got a POST"; else fail "no webhook POST 30 s after the failure"; fi
# the event: the delivery is recorded (after the listener answered)
wait_for $DB "SELECT delivered_at IS NOT NULL FROM pgbackups.alerts WHERE payload->>'id' = 'a002'" 30 ||
	fail "the a002 alert is not recorded delivered: $(q $DB "SELECT concat_ws('|', attempts, last_error) FROM pgbackups.alerts WHERE payload->>'id' = 'a002'")"
check_eq "exactly one POST" "$(wh_count)" 1
rec=$(head -n 1 "$WH_LOG")
check_eq "POST /hook?token=..., Content-Type application/json, a JSON body" \
	"$(jq -r '[.method, .path, .query, .content_type, (.json_ok | tostring)] | join("|")' <<<"$rec")" "POST|/hook|token=$TOKEN|application/json|true"
check_eq "body: event, id, status, kind, schedule, database, slot" \
	"$(jq -r '.body | [.event, .id, .status, .kind, .schedule, .database, (.scheduled_for | tostring | .[0:19])] | join("|")' <<<"$rec")" \
	"scheduled backup.failed|a002|failed|scheduled backup|alr|alr|2026-06-03T02:00:00"
check_eq "body: the error" "$(jq -r '.body.error' <<<"$rec")" "$err"
check_eq "alerts: one row, delivered on the first attempt" \
	"$(q $DB "SELECT string_agg(concat_ws('|', event, payload->>'id', attempts, delivered_at IS NOT NULL), ' ') FROM pgbackups.alerts")" \
	"scheduled backup.failed|a002|1|t"

# ---- 500 twice, then 200 ------------------------------------------------------------------------------
log "--- webhook retries: 500, 500, 200"
echo '{"fail": 2, "status": 500}' >"$WH_CONTROL"
setclock '2026-06-04 02:00:30+00'
await_backup a003 || fail "no a003 on Jun 4"
await_status a003 failed 30 || fail "a003 did not fail: $(describe_backup $DB a003)"
if wait_for $DB "SELECT delivered_at IS NOT NULL FROM pgbackups.alerts WHERE payload->>'id' = 'a003'" 90; then
	pass "the a003 alert was delivered after retries"
else
	fail "the a003 alert was not delivered within 90 s: $(q $DB "SELECT concat_ws('|', attempts, next_attempt, last_error) FROM pgbackups.alerts WHERE payload->>'id' = 'a003'")"
fi
check_eq "alerts: a003 attempts = 3" "$(q $DB "SELECT attempts FROM pgbackups.alerts WHERE payload->>'id' = 'a003'")" 3
check_eq "the listener answered 500, 500, 200 to the a003 alert" "$(jq -r 'select(.body.id == "a003") | .status' "$WH_LOG" | tr '\n' ' ')" "500 500 200 "
check_eq "every a003 POST had the same body" "$(jq -c 'select(.body.id == "a003") | .body' "$WH_LOG" | sort -u | wc -l)" 1
log "a003 POST times: $(jq -r 'select(.body.id == "a003") | .t' "$WH_LOG" | tr '\n' ' '); last_error: $(q $DB "SELECT last_error FROM pgbackups.alerts WHERE payload->>'id' = 'a003'")"
gap=$(jq -s '[.[] | select(.body.id == "a003") | .t] | (.[1] - .[0])' "$WH_LOG")
check "a backoff between the first two attempts (${gap} s >= 3 s)" awk -v g="$gap" 'BEGIN { exit !(g >= 3) }'
check_eq "health: failing with a003" "$(health)" "failing|a001|06-01 02:00|06-02 03:00|a003"

# ---- successes are posted with webhook_on_success = on --------------------------------------------------
log "--- webhook_on_success"
q postgres "ALTER SYSTEM RESET pgbackups.storage_url" >/dev/null
set_conf pgbackups.webhook_on_success on
n_before=$(wh_count)
setclock '2026-06-05 02:00:30+00'
await_backup a004 || fail "no a004 on Jun 5"
await_status a004 completed 30 || fail "a004 did not complete: $(describe_backup $DB a004)"
if wh_wait 1 '.body.id == "a004"' 30; then pass "a POST for a004"; else fail "no POST for a004"; fi
check_eq "a004 POST: event, status, kind" "$(jq -r 'select(.body.id == "a004") | .body | [.event, .status, .kind] | join("|")' "$WH_LOG")" "scheduled backup.completed|completed|scheduled backup"
check_eq "health: ok again with a004" "$(health)" "ok|a004|06-05 02:00|06-06 03:00|-"
b=$(q $DB "SELECT pgbackups.capture(wait => true)" 2>/dev/null)
if wh_wait 1 ".body.id == \"$b\"" 30; then pass "a POST for manual $b"; else fail "no POST for manual $b"; fi
check_eq "$b POST: event, kind, schedule" "$(jq -r "select(.body.id == \"$b\") | .body | [.event, .kind, (.schedule | tostring)] | join(\"|\")" "$WH_LOG")" "backup.completed|backup|null"
ev_wait ".id == \"$b\" and .status == \"completed\"" 10 || true
check_eq "NOTIFY $b completed with kind backup" "$(events ".id == \"$b\" and .status == \"completed\"" | jq -r .kind)" backup
check_eq "no other POSTs (only failures and, now, completions)" "$(($(wh_count) - n_before))" 2

# restores and copies: NOTIFY kind restore/copy with the target as database; POSTs
q postgres "CREATE DATABASE rt" >/dev/null
r=$(q $DB "SELECT pgbackups.restore('a004', target => 'rt', confirm => 'rt', wait => true)" 2>/dev/null) || fail "restore of a004 into rt failed"
ev_wait ".id == \"$r\" and .status == \"completed\"" 10 || true
check_eq "NOTIFY $r completed: kind, database" "$(events ".id == \"$r\" and .status == \"completed\"" | jq -r '[.kind, .database] | join("|")')" "restore|rt"
if wh_wait 1 ".body.id == \"$r\"" 30; then pass "a POST for restore $r"; else fail "no POST for restore $r"; fi
check_eq "$r POST: event" "$(jq -r "select(.body.id == \"$r\") | .body.event" "$WH_LOG")" restore.completed
q postgres "CREATE DATABASE cp" >/dev/null
c=$(q $DB "SELECT pgbackups.copy('rt', 'cp', 'cp', wait => true)" 2>"$TESTDIR/copy.err") || fail "copy of rt into cp failed: $(grep -m1 ERROR "$TESTDIR/copy.err")"
ev_wait ".id == \"$c\" and .status == \"completed\"" 10 || true
check_eq "NOTIFY $c completed: kind, database" "$(events ".id == \"$c\" and .status == \"completed\"" | jq -r '[.kind, .database] | join("|")')" "copy|cp"
if wh_wait 1 ".body.id == \"$c\"" 30; then pass "a POST for copy $c"; else fail "no POST for copy $c"; fi
check_eq "$c POST: event" "$(jq -r "select(.body.id == \"$c\") | .body.event" "$WH_LOG")" copy.completed
# a restore that fails (its archive is gone) is posted as restore.failed
rm -f "$(archive_path $DB a001)"
q postgres "CREATE DATABASE rt2" >/dev/null
try_sql $DB "SELECT pgbackups.restore('a001', target => 'rt2', confirm => 'rt2', wait => true)"
check_eq "restore of a001 without its archive fails with undefined_file: $TRY_MSG" "$TRY_STATE" 58P01
rf=$(q $DB "SELECT id FROM pgbackups.restores WHERE target = 'rt2'")
check_eq "restore $rf failed" "$(q $DB "SELECT status FROM pgbackups.restores WHERE id = '$rf'")" failed
if wh_wait 1 ".body.id == \"$rf\"" 30; then pass "a POST for failed restore $rf"; else fail "no POST for failed restore $rf"; fi
check_eq "$rf POST: event, status" "$(jq -r "select(.body.id == \"$rf\") | .body | [.event, .status] | join(\"|\")" "$WH_LOG")" "restore.failed|failed"
check_eq "alerts: one row per POSTed event, all delivered" "$(q $DB "SELECT count(*) FILTER (WHERE delivered_at IS NULL) || '/' || count(*) FROM pgbackups.alerts")" "0/$(jq -r 'select(.status < 300) | .body | [.event, (.id | tostring)] | join(" ")' "$WH_LOG" | sort -u | wc -l)"

# ---- missed slots ------------------------------------------------------------------------------------------
log "--- missed slots"
setclock '2026-06-08 05:00:00+00' # Jun 6, 7, 8 02:00 due; the latest 3 h old > grace 1 h
if wait_for $DB "SELECT count(*) = 1 FROM pgbackups.schedule_runs WHERE outcome = 'missed'" 15; then
	pass "a missed row"
else
	fail "no missed row: $(q $DB "SELECT string_agg(outcome || ' ' || slot, ', ') FROM pgbackups.schedule_runs")"
fi
check_eq "no backup for missed slots" "$(q $DB "SELECT count(*) FROM pgbackups.backups WHERE kind = 'scheduled' AND scheduled_for > '2026-06-05 02:00+00'")" 0
if ev_wait '.kind == "schedule" and .status == "missed"' 10; then
	pass "NOTIFY for the missed slots: $(events '.kind == "schedule" and .status == "missed"' | head -n 1)"
else
	fail "no NOTIFY with kind schedule, status missed"
fi
if wh_wait 1 '.body.event == "schedule.missed"' 30; then
	rec=$(jq -c 'select(.body.event == "schedule.missed")' "$WH_LOG" | head -n 1)
	pass "a POST schedule.missed: $(jq -c .body <<<"$rec")"
	check_eq "schedule.missed: schedule, database" "$(jq -r '.body | [.schedule, .database] | join("|")' <<<"$rec")" "alr|alr"
else
	fail "no schedule.missed POST"
fi
check_eq "health: late (expected by Jun 6 03:00)" "$(health)" "late|a004|06-05 02:00|06-06 03:00|-"

# ---- a manual capture of the same database running: the slot is skipped too ---------------------
log "--- overlap with a manual capture"
bg_psql locker $DB "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300); COMMIT;"
wait_for $DB "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" 10 || die "lock not taken"
m=$(q $DB "SELECT pgbackups.capture(label => 'blocked manual')")
await_status "$m" running 20 || fail "$m not running: $(describe_backup $DB "$m")"
setclock '2026-06-09 02:00:30+00'
if wait_for $DB "SELECT count(*) = 1 FROM pgbackups.schedule_runs WHERE outcome = 'skipped' AND slot = '2026-06-09 02:00+00'" 15; then
	pass "Jun 9 slot while manual $m runs: skipped"
else
	fail "Jun 9 slot not skipped: $(q $DB "SELECT string_agg(outcome || ' ' || slot || coalesce(' ' || backup_id, ''), ', ') FROM pgbackups.schedule_runs WHERE slot > '2026-06-08'")"
fi
check "the skipped row names $m" grep -q "$m" <<<"$(q $DB "SELECT detail FROM pgbackups.schedule_runs WHERE slot = '2026-06-09 02:00+00'")"
check_eq "no scheduled backup for Jun 9" "$(q $DB "SELECT count(*) FROM pgbackups.backups WHERE kind = 'scheduled' AND scheduled_for > '2026-06-05 02:00+00'")" 0
q $DB "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" >/dev/null
stop_bg "$locker"
await_status "$m" completed 60 || fail "$m did not complete: $(describe_backup $DB "$m")"

# ---- a second schedule is 'never run' next to this one --------------------------------------------------------
q postgres "CREATE DATABASE other" >/dev/null
q $DB "SELECT pgbackups.schedule('other', at => '06:00 UTC')" >/dev/null
check_eq "a fresh schedule next to a late one: never run" "$(q $DB "SELECT concat_ws('|', status, to_char(expected_by AT TIME ZONE 'UTC', 'MM-DD HH24:MI')) FROM pgbackups.health WHERE name = 'other'")" "never run|06-09 07:00"
check_eq "an operator that may read neither database sees no health row (the read rule)" "$(psql -X -q -At -U alert_operator -d $DB -c "SELECT count(*) FROM pgbackups.health" 2>&1)" 0
q postgres "GRANT pg_read_all_data TO alert_operator" >/dev/null
check_eq "an operator in pg_read_all_data reads the health view" "$(psql -X -q -At -U alert_operator -d $DB -c "SELECT string_agg(name || ':' || status, ' ' ORDER BY name) FROM pgbackups.health" 2>&1)" "alr:late other:never run"

# ---- the token stays secret ------------------------------------------------------------------------------------
log "--- secrets"
# the event: every queued alert is delivered (nothing is still being written)
wait_for $DB "SELECT count(*) = 0 FROM pgbackups.alerts WHERE delivered_at IS NULL" 30 ||
	fail "alerts still undelivered: $(q $DB "SELECT string_agg(concat_ws('|', event, attempts, last_error), ', ') FROM pgbackups.alerts WHERE delivered_at IS NULL")"
# pins the "exactly one POST" checks above over the whole run: the a002
# alert (delivered at the first attempt) was never posted again
check_eq "a002 was posted exactly once over the whole run" "$(wh_count '.body.id == "a002"')" 1
for what in "pgbackups.alerts a" "pgbackups.logs a" "pgbackups.schedule_runs a" "pgbackups.backups a" "pgbackups.schedule_defs a"; do
	check_eq "the token is not in ${what% a}" "$(q $DB "SELECT count(*) FROM $what WHERE a::text LIKE '%$TOKEN%'")" 0
done
check_eq "the URL's query string is not in pgbackups.alerts" "$(q $DB "SELECT count(*) FROM pgbackups.alerts a WHERE a::text LIKE '%token=%'")" 0
events >"$TESTDIR/events.jsonl"
check "the NOTIFY payloads ($(wc -l <"$TESTDIR/events.jsonl") events) do not contain the token" bash -c "test -s '$TESTDIR/events.jsonl' && ! grep -q -F '$TOKEN' '$TESTDIR/events.jsonl'"
# PostgreSQL itself logs 'parameter "pgbackups.webhook_url" changed to "..."'
# when the setting is reloaded (as for any setting): that line is not pgbackups'
core_lines=$(grep -c -F 'parameter "pgbackups.webhook_url" changed to' "$SERVER_LOG" || true)
log "PostgreSQL's own reload lines with the URL: $core_lines"
if [ ! -s "$SERVER_LOG" ]; then
	fail "the token is not in pgbackups' server log lines: no server log at $SERVER_LOG"
elif grep -v -F 'parameter "pgbackups.webhook_url" changed to' "$SERVER_LOG" | grep -q -F "$TOKEN"; then
	fail "the token is in the server log: $(grep -v -F 'parameter "pgbackups.webhook_url" changed to' "$SERVER_LOG" | grep -F "$TOKEN" | head -n 2)"
else
	pass "the token is not in pgbackups' server log lines"
fi
log "webhook lines in the server log: $(grep -c -i webhook "$SERVER_LOG" || true)"

q $DB "SELECT pgbackups.set_clock(NULL)" >/dev/null
stop_bg "$LISTEN_PID"

# ---- pg_dump keeps the outbox ------------------------------------------------------------------------------------
log "--- pg_dump + pg_restore of $DB"
# one alert still to deliver (not due before 2100, whichever clock)
q $DB "INSERT INTO pgbackups.alerts (event, payload, next_attempt) VALUES ('backup.failed', '{\"id\": \"b999\"}', '2100-01-01 UTC')" >/dev/null
# the event: the scheduler delivered every other alert (the missed slots of
# the clock's last jump included), so the outbox stands still while it is dumped
wait_for $DB "SELECT count(*) = 0 FROM pgbackups.alerts WHERE delivered_at IS NULL AND next_attempt < '2100-01-01'" 30 ||
	fail "alerts still undelivered before the dump: $(q $DB "SELECT string_agg(concat_ws('|', event, attempts, last_error), ', ') FROM pgbackups.alerts WHERE delivered_at IS NULL")"
alert_rows() { q "$1" "COPY (SELECT * FROM pgbackups.alerts WHERE alert_id <= $2 ORDER BY alert_id) TO STDOUT"; }
max_id=$(q $DB "SELECT max(alert_id) FROM pgbackups.alerts")
src_alerts=$(alert_rows $DB "$max_id")
src_seq=$(q $DB "SELECT last_value FROM pgbackups.alerts_alert_id_seq")
log "$DB: $(q $DB "SELECT count(*) || ' alerts, ' || count(*) FILTER (WHERE delivered_at IS NULL) || ' pending' FROM pgbackups.alerts"), sequence at $src_seq"
pg_dump -Fc -d $DB -f "$TESTDIR/alr.dump"
check "the source's alerts did not change while it was dumped" test "$(alert_rows $DB "$max_id")" = "$src_alerts"
check "the dump has the alerts' rows and the sequence's value" \
	bash -c "pg_restore -l '$TESTDIR/alr.dump' | grep -q 'TABLE DATA pgbackups alerts ' && pg_restore -l '$TESTDIR/alr.dump' | grep -q 'SEQUENCE SET pgbackups alerts_alert_id_seq '"
restore_into "pg_restore of $DB" "$TESTDIR/alr.dump" alr_restored
# (the restored database's scheduler may add alerts of its own: rows up to the source's last id are compared)
check "the restored database has every alert, delivered and pending ($(wc -l <<<"$src_alerts") rows)" \
	test "$(alert_rows alr_restored "$max_id")" = "$src_alerts"
check "... and its alert id sequence continues after them ($src_seq)" \
	test "$(q alr_restored "SELECT last_value FROM pgbackups.alerts_alert_id_seq")" -ge "$src_seq"
log "86_alerts took $((SECONDS - T0)) s after start_cluster"
finish
