#!/bin/bash
# 50_workers: schedulers run only while a database has work (issue 12: idle,
# only the launcher is left); many captures at
# once stay within pgbackups.max_workers and all complete; a job survives its
# caller disconnecting; DROP EXTENSION / CREATE EXTENSION / DROP DATABASE.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

start_cluster
for db in w1 w2 w3; do
	q postgres "CREATE DATABASE $db" >/dev/null
	q $db "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 200000) g" >/dev/null
done
q w1 "CREATE EXTENSION pgbackups" >/dev/null
q w2 "CREATE EXTENSION pgbackups" >/dev/null

schedulers() { q postgres "SELECT coalesce(string_agg(datname, ' ' ORDER BY datname), '') FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler'"; }
wait_for postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler'" 15 || true
check_eq "idle: no scheduler runs" "$(schedulers)" ""
check_eq "one launcher" "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbackups launcher'")" 1

# --- many captures at once, max_workers = 2 ---------------------------------------
q postgres "ALTER SYSTEM SET pgbackups.max_workers = 2" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
sleep 1
check_eq "max_workers after reload" "$(q postgres "SHOW pgbackups.max_workers")" 2
ids_w1=()
ids_w2=()
for _ in 1 2 3; do ids_w1+=("$(q w1 "SELECT pgbackups.capture(parallel => 2, compression => 'gzip:9')")"); done
for _ in 1 2; do ids_w2+=("$(q w2 "SELECT pgbackups.capture(parallel => 2, compression => 'gzip:9')")"); done
log "started w1: ${ids_w1[*]}, w2: ${ids_w2[*]}"
max_procs=0
max_running=0
deadline=$((SECONDS + 180))
while [ "$SECONDS" -lt "$deadline" ]; do
	procs=$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('pgbackups job', 'pgbackups stream')")
	running=$(q w1 "SELECT count(*) FROM pgbackups.backups WHERE status = 'running'")
	running=$((running + $(q w2 "SELECT count(*) FROM pgbackups.backups WHERE status = 'running'")))
	[ "$procs" -gt "$max_procs" ] && max_procs=$procs
	[ "$running" -gt "$max_running" ] && max_running=$running
	left=$(($(q w1 "SELECT count(*) FROM pgbackups.backups WHERE status IN ('pending', 'running')") + $(q w2 "SELECT count(*) FROM pgbackups.backups WHERE status IN ('pending', 'running')")))
	[ "$left" -eq 0 ] && break
	sleep 0.1
done
log "most job/stream processes seen at once: $max_procs; most running jobs: $max_running"
check "job and stream workers never exceeded max_workers = 2 (saw $max_procs)" [ "$max_procs" -le 2 ]
check "at least one job ran (saw $max_running running)" [ "$max_running" -ge 1 ]
for id in "${ids_w1[@]}"; do
	check_eq "w1 $id" "$(backup_field w1 "$id" status)" completed
	check "w1 $id: pg_restore -l reads the archive" pg_restore -l "$(archive_path w1 "$id")" -f /dev/null
done
for id in "${ids_w2[@]}"; do
	check_eq "w2 $id" "$(backup_field w2 "$id" status)" completed
	check "w2 $id: pg_restore -l reads the archive" pg_restore -l "$(archive_path w2 "$id")" -f /dev/null
done
check_eq "ids in w2 are its own sequence" "${ids_w2[*]}" "b001 b002"
q postgres "ALTER SYSTEM RESET pgbackups.max_workers" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null

# --- the job survives its caller going away -------------------------------------------
log "caller disconnects while capture(wait => true) waits"
locker=""
caller=""
bg_psql locker w1 "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;"
wait_for w1 "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" 10 || die "lock not taken"
PGAPPNAME=pgb-test-caller bg_psql caller w1 "SELECT pgbackups.capture(wait => true, label => 'orphan')" "$TESTDIR/caller.log"
wait_for w1 "SELECT count(*) > 0 FROM pgbackups.backups WHERE label = 'orphan' AND status = 'running'" 30 || fail "orphan capture never ran"
id=$(q w1 "SELECT id FROM pgbackups.backups WHERE label = 'orphan'")
check_eq "the caller was terminated" "$(q w1 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgb-test-caller'")" t
stop_bg "$caller"
sleep 1
check_eq "$id still running after its caller is gone" "$(backup_field w1 "$id" status)" running
q w1 "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" >/dev/null
stop_bg "$locker"
if wait_for w1 "SELECT status = 'completed' FROM pgbackups.backups WHERE id = '$id'" 60; then
	pass "$id completed without its caller"
else
	fail "$id did not complete without its caller: $(describe_backup w1 "$id")"
fi

# --- a queue: with max_workers = 1, a second job waits, and can be canceled ------------
log "queue: max_workers = 1"
q postgres "ALTER SYSTEM SET pgbackups.max_workers = 1" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
sleep 1
bg_psql locker w1 "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;"
wait_for w1 "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" 10 || die "lock not taken"
first=$(q w1 "SELECT pgbackups.capture(parallel => 1, label => 'first')")
wait_for w1 "SELECT status = 'running' FROM pgbackups.backups WHERE id = '$first'" 30 || fail "queue: $first never ran"
second=$(q w1 "SELECT pgbackups.capture(parallel => 1, label => 'second')")
sleep 2
check_eq "queue: $second waits while $first holds the only worker" "$(backup_field w1 "$second" status)" pending
expect_sqlstate "queue: delete('$first') of a running job is refused" w1 55000 "SELECT pgbackups.delete('$first')"
check_eq "queue: $first is untouched by the refused delete" "$(backup_field w1 "$first" status)" running
check_eq "queue: cancel('$second') of a pending job" "$(q w1 "SELECT pgbackups.cancel('$second')")" "$second"
if wait_for_ms w1 "SELECT status = 'canceled' FROM pgbackups.backups WHERE id = '$second'" 2000; then
	pass "queue: pending $second is canceled"
else
	fail "queue: pending $second not canceled: $(describe_backup w1 "$second")"
fi
check_eq "queue: $second never started" "$(backup_field w1 "$second" "started_at IS NULL")" t
q w1 "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" >/dev/null
stop_bg "$locker"
if wait_for w1 "SELECT status = 'completed' FROM pgbackups.backups WHERE id = '$first'" 60; then
	pass "queue: $first completes once the lock is gone"
else
	fail "queue: $first: $(describe_backup w1 "$first")"
fi
q postgres "ALTER SYSTEM RESET pgbackups.max_workers" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null

# --- schedulers follow CREATE/DROP EXTENSION; DROP DATABASE works -----------------------
q w3 "CREATE EXTENSION pgbackups" >/dev/null
if wait_for postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler' AND datname = 'w3'" 15; then
	pass "CREATE EXTENSION in w3 starts its scheduler"
else
	fail "no scheduler for w3 15 s after CREATE EXTENSION: $(schedulers)"
fi
id=$(q w3 "SELECT pgbackups.capture(wait => true)" 2>/dev/null) || true
check_eq "w3 can capture at once" "$(backup_field w3 "${id:-none}" status)" completed
q w2 "DROP EXTENSION pgbackups" >/dev/null
if wait_for postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler' AND datname = 'w2'" 30; then
	pass "DROP EXTENSION in w2 stops its scheduler"
else
	fail "the scheduler of w2 is still there 30 s after DROP EXTENSION: $(schedulers)"
fi
if out=$(q postgres "DROP DATABASE w3" 2>&1); then
	pass "DROP DATABASE of a database with the extension works"
else
	fail "DROP DATABASE w3: $out"
fi
wait_for postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type LIKE 'pgbackups%' AND backend_type <> 'pgbackups launcher'" 15 || true
check_eq "idle again: no scheduler left" "$(schedulers)" ""
finish
