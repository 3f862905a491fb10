#!/bin/bash
# 83_scheduled_verify: schedule(..., verify => true) verifies each new backup
# in its job worker, on the debug clock (pgbackups.set_clock):
#   - the schedules view shows verify (false by default, false again when a
#     schedule is replaced without it); verify => NULL is 22004
#   - one 02:00 UTC slot, three databases:
#       vok   (verify => true): a001 completed and verified without any call
#             to verify(): verified_at set, verify_result 'ok', no error
#             code, info() "Verified ... ok", its log 'verified by schedule
#             "vok": ok'
#       vnone (no verify): a001 completed, never verified
#       vbad  (verify => true, a table whose COPY data is ~4 MB while
#             pgbackups.max_decompressed_size = 1 MB, so the verification
#             fails deterministically though the archive is good): a001 stays
#             completed with verify_result 'failed: decompressed data item
#             exceeds ...', verify_error_code 54000, a WARNING in the server
#             log, the failure in its log, and a 'verify.failed' alert queued
#             (pgbackups.webhook_url set; kind 'verify'); with the cap raised
#             a manual verify() of it is ok (the backup was good as taken)
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# test/pgbackups.conf sets pgbackups.debug_clock = on
start_cluster

for db in vok vnone vbad; do
	q postgres "CREATE DATABASE $db" >/dev/null
	q "$db" "CREATE EXTENSION pgbackups" >/dev/null
	q "$db" "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 2000) g" >/dev/null
done
# ~4 MB of COPY text in one data item: beyond a 1 MB decompression cap
q vbad "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS h FROM generate_series(1, 50000) g" >/dev/null

setclock() { q vok "SELECT pgbackups.set_clock('$1')" >/dev/null; }
field() { q "$1" "SELECT coalesce(($3)::text, '<null>') FROM pgbackups.backups WHERE id = '$2'"; }
# finish_job DB ID: wait() for it; its final status
finish_job() {
	local out
	out=$(psql -X -q -At -d "$1" -c "SELECT pgbackups.wait('$2')" 2>"$TESTDIR/wait.err") ||
		out="error: $(grep -m1 ERROR "$TESTDIR/wait.err")"
	printf '%s\n' "$out"
}

# ---- the option ------------------------------------------------------------------------------
setclock '2026-05-01 01:00:00+00'
check_eq "schedule(verify => true) in vok" "$(q vok "SELECT pgbackups.schedule(at => '02:00 UTC', verify => true)")" vok
check_eq "schedules.verify is true" "$(q vok "SELECT verify FROM pgbackups.schedules")" t
check_eq "schedule() without verify in vnone" "$(q vnone "SELECT pgbackups.schedule(at => '02:00 UTC')")" vnone
check_eq "schedules.verify is false by default" "$(q vnone "SELECT verify FROM pgbackups.schedules")" f
expect_sqlstate "verify => NULL" vbad 22004 "SELECT pgbackups.schedule(at => '02:00 UTC', verify => NULL)"
check_eq "schedule(verify => true) in vbad" "$(q vbad "SELECT pgbackups.schedule(at => '03:00 UTC', verify => true)")" vbad
q vbad "SELECT pgbackups.schedule(at => '03:00 UTC')" >/dev/null 2>&1
check_eq "replaced without verify: verify is false" "$(q vbad "SELECT verify FROM pgbackups.schedules")" f
q vbad "SELECT pgbackups.schedule(at => '02:00 UTC', verify => true)" >/dev/null 2>&1
check_eq "replaced with verify => true at 02:00" "$(q vbad "SELECT concat_ws('|', rule, verify) FROM pgbackups.schedules")" "daily at 02:00 UTC|t"

set_conf pgbackups.max_decompressed_size 1
set_conf pgbackups.webhook_url "http://127.0.0.1:9/hook"

# ---- one slot ------------------------------------------------------------------------------------
setclock '2026-05-01 02:00:30+00'
for db in vok vnone vbad; do
	if wait_for $db "SELECT count(*) = 1 FROM pgbackups.backups WHERE kind = 'scheduled'" 20; then
		pass "$db: the 02:00 slot started a001"
	else
		fail "$db: no scheduled backup 20 s after 02:00:30"
	fi
	check_eq "$db: a001 completes" "$(finish_job $db a001)" completed
done

log "--- vok: verified by its job worker"
wait_for vok "SELECT verified_at IS NOT NULL FROM pgbackups.backups WHERE id = 'a001'" 30 ||
	fail "vok: a001 not verified 30 s after it completed"
check_eq "vok: verify_result ok, no error code" "$(field vok a001 "verify_result || '|' || coalesce(verify_error_code, '<null>')")" "ok|<null>"
check_eq "vok: verified after it finished" "$(field vok a001 "verified_at >= finished_at")" true
check "vok: info() shows Verified <time> ok" grep -qE '^Verified\|[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [+-][0-9:]{5} ok$' \
	<<<"$(q vok "SELECT field || '|' || value FROM pgbackups.info('a001')")"
check_eq "vok: the job's log says who verified it" \
	"$(q vok "SELECT count(*) FROM pgbackups.logs WHERE job_id = 'a001' AND message = 'verified by schedule \"vok\": ok'")" 1
check_eq "vok: still completed" "$(field vok a001 status)" completed

log "--- vnone: not verified"
check_eq "vnone: a001 has no verification" "$(field vnone a001 "concat_ws('|', verified_at, verify_result)")" ""
check_eq "vnone: no Verified line in info()" "$(q vnone "SELECT count(*) FROM pgbackups.info('a001') WHERE field = 'Verified'")" 0

log "--- vbad: the verification fails, the backup stays completed"
wait_for vbad "SELECT verified_at IS NOT NULL FROM pgbackups.backups WHERE id = 'a001'" 30 ||
	fail "vbad: a001 not verified 30 s after it completed"
check_eq "vbad: a001 stays completed" "$(field vbad a001 status)" completed
check_eq "vbad: no error on the backup itself" "$(field vbad a001 error)" "<null>"
check_eq "vbad: verify_error_code 54000" "$(field vbad a001 verify_error_code)" 54000
check_eq "vbad: verify_result names the cap" "$(field vbad a001 "verify_result LIKE 'failed: decompressed data item exceeds the limit of 1048576 bytes%'")" true
check_eq "vbad: the failure is in the job's log" \
	"$(q vbad "SELECT count(*) FROM pgbackups.logs WHERE job_id = 'a001' AND message LIKE 'verified by schedule \"vbad\": failed: decompressed data item exceeds%'")" 1
check "vbad: a WARNING in the server log" grep -q 'WARNING:  verification of backup a001 failed: decompressed data item exceeds' "$SERVER_LOG"
check_eq "vbad: a verify.failed alert is queued" \
	"$(q vbad "SELECT concat_ws('|', payload->>'kind', payload->>'status', payload->>'id', payload->>'database', payload->>'schedule') FROM pgbackups.alerts WHERE event = 'verify.failed'")" \
	"verify|failed|a001|vbad|vbad"
check_eq "vok: no verify alert" "$(q vok "SELECT count(*) FROM pgbackups.alerts WHERE event LIKE 'verify.%'")" 0

set_conf pgbackups.max_decompressed_size 1024
set_conf pgbackups.webhook_url ""
check_eq "vbad: with the cap raised a manual verify() is ok" "$(q vbad "SELECT result FROM pgbackups.verify('a001')")" ok
check_eq "vbad: its record is now ok" "$(field vbad a001 verify_result)" ok

finish
