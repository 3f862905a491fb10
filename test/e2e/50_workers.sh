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
	# a second table: parallel => 2 then asks for a helper stream process
	q $db "CREATE TABLE u AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 100000) g" >/dev/null
done
q w1 "CREATE EXTENSION pgbackups" >/dev/null
q w2 "CREATE EXTENSION pgbackups" >/dev/null

schedulers() { q postgres "SELECT coalesce(string_agg(datname, ' ' ORDER BY datname), '') FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler'"; }
# (CREATE EXTENSION starts a scheduler that leaves when it finds no work)
if wait_for postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler'" 15; then
	pass "idle: no scheduler runs"
else
	fail "idle: schedulers still run 15 s after CREATE EXTENSION: $(schedulers)"
fi
check_eq "one launcher" "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbackups launcher'")" 1

# --- many captures at once, max_workers = 2 ---------------------------------------
set_conf pgbackups.max_workers 2
check_eq "max_workers after reload" "$(q postgres "SHOW pgbackups.max_workers")" 2
# exact: every job worker and stream helper counts itself in shared memory
# when it starts and when it exits (pgbackups.counters()), so the high-water
# mark is the most that ever ran at once (reset here to what runs now: none)
check_eq "no capture process runs before the captures" "$(q w1 "SELECT value FROM pgbackups.counters(reset => true) WHERE name = 'capture_processes'")" 0
jobs_before=$(counter job_workers_started w1)
ids_w1=()
ids_w2=()
for _ in 1 2 3; do ids_w1+=("$(q w1 "SELECT pgbackups.capture(parallel => 2, compression => 'gzip:9')")"); done
for _ in 1 2; do ids_w2+=("$(q w2 "SELECT pgbackups.capture(parallel => 2, compression => 'gzip:9')")"); done
log "started w1: ${ids_w1[*]}, w2: ${ids_w2[*]}"
all_done() { [ "$(q w1 "SELECT count(*) FROM pgbackups.backups WHERE status IN ('pending', 'running')")" = 0 ] &&
	[ "$(q w2 "SELECT count(*) FROM pgbackups.backups WHERE status IN ('pending', 'running')")" = 0 ]; }
wait_cmd 180 all_done || fail "the 5 captures did not end within 180 s"
wait_for w1 "SELECT value = 0 FROM pgbackups.counters() WHERE name = 'capture_processes'" 30 ||
	fail "capture processes still counted as running after the jobs ended"
cmax=$(counter capture_processes_max w1)
bmax=$(counter max_workers_used_max w1)
log "counters: $(q w1 "SELECT string_agg(name || '=' || value, ' ' ORDER BY name) FROM pgbackups.counters() WHERE name ~ '^(capture_processes|max_workers_used|job_workers|stream_workers)'")"
check_eq "exact: job and stream workers at once reached max_workers = 2 and never more (capture_processes_max)" "$cmax" 2
check_eq "exact: processes counted against max_workers reached 2 and never more (max_workers_used_max)" "$bmax" 2
check_eq "exact: 5 job workers started" "$(($(counter job_workers_started w1) - jobs_before))" 5
# exact: each job's [started_at, finished_at] lies within its worker's life
# (both are set by the worker), so at no moment may more than 2 of these
# intervals overlap.  Sweep over the start (+1) and finish (-1) events of
# both catalogs; at an equal time a finish comes first.
intervals() {
	q "$1" "SELECT (extract(epoch FROM started_at) * 1e6)::bigint || ' 1' || E'\n' || (extract(epoch FROM finished_at) * 1e6)::bigint || ' -1'
	          FROM pgbackups.backups WHERE started_at IS NOT NULL AND finished_at IS NOT NULL"
}
max_overlap=$({ intervals w1; intervals w2; } | sort -k1,1n -k2,2n | awk '{ n += $2; if (n > m) m = n } END { print m + 0 }')
njobs=$({ intervals w1; intervals w2; } | grep -c ' 1$' || true)
check_eq "all 5 jobs recorded a running interval" "$njobs" 5
check "exact: at most 2 jobs ran at once, from the recorded started_at/finished_at (max overlap $max_overlap)" [ "$max_overlap" -ge 1 ] && [ "$max_overlap" -le 2 ]
# exact: a job's processes are its own (stream 0) and one per helper stream:
# its log's "copying N tables (P parts) over K streams" says K; with max_workers = 2
# no job may have had more than 2
streams=$(for db in w1 w2; do q $db "SELECT job_id || ':' || substring(message FROM 'over ([0-9]+) streams') FROM pgbackups.logs WHERE message ~ 'copying [0-9]+ tables \([0-9]+ parts\) over [0-9]+ streams' ORDER BY job_id"; done | tr '\n' ' ')
log "streams per job: $streams"
check "exact: every job logged its stream count ($streams)" test "$(wc -w <<<"$streams")" -eq 5
check "exact: no job ran more than 2 streams, its own and one helper ($streams)" bash -c '! grep -qE ":([3-9]|[0-9]{2,})( |$)" <<<"$1"' _ "$streams"
for id in "${ids_w1[@]}"; do
	check_eq "w1 $id" "$(backup_field w1 "$id" status)" completed
	check "w1 $id: pg_restore -l reads the archive" pg_restore -l "$(archive_path w1 "$id")" -f /dev/null
done
for id in "${ids_w2[@]}"; do
	check_eq "w2 $id" "$(backup_field w2 "$id" status)" completed
	check "w2 $id: pg_restore -l reads the archive" pg_restore -l "$(archive_path w2 "$id")" -f /dev/null
done
check_eq "ids in w2 are its own sequence" "${ids_w2[*]}" "b001 b002"
reload_conf "ALTER SYSTEM RESET pgbackups.max_workers"

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
# the event: the caller's session is gone; the job is then still running
# (it cannot finish behind the lock, so this is no race)
wait_for w1 "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'pgb-test-caller'" 10 ||
	fail "the caller's session is still there"
check_eq "$id still running after its caller is gone" "$(backup_field w1 "$id" status)" running
check_eq "$id's worker is alive" "$(q w1 "SELECT count(*) FROM pgbackups.backups b JOIN pg_stat_activity a ON a.pid = b.worker_pid WHERE b.id = '$id'")" 1
q w1 "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" >/dev/null
stop_bg "$locker"
if wait_for w1 "SELECT status = 'completed' FROM pgbackups.backups WHERE id = '$id'" 60; then
	pass "$id completed without its caller"
else
	fail "$id did not complete without its caller: $(describe_backup w1 "$id")"
fi

# --- a queue: with max_workers = 1, a second job waits, and can be canceled ------------
log "queue: max_workers = 1"
set_conf pgbackups.max_workers 1
wait_for w1 "SELECT value = 0 FROM pgbackups.counters(reset => true) WHERE name = 'capture_processes'" 30 ||
	fail "queue: capture processes still run before the queue"
bg_psql locker w1 "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;"
wait_for w1 "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND granted AND mode = 'AccessExclusiveLock'" 10 || die "lock not taken"
first=$(q w1 "SELECT pgbackups.capture(parallel => 1, label => 'first')")
wait_for w1 "SELECT status = 'running' FROM pgbackups.backups WHERE id = '$first'" 30 || fail "queue: $first never ran"
wait_for w1 "SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = 't'::regclass AND NOT l.granted" 30 ||
	fail "queue: $first never waited on the lock"
second=$(q w1 "SELECT pgbackups.capture(parallel => 1, label => 'second')")
third=$(q w1 "SELECT pgbackups.capture(parallel => 1, label => 'third')")
# the launcher has decided about them: two more launcher rounds (the first
# may have begun before they were queued) and they are still pending; that
# they stay pending is shown exactly below, from the recorded times: $third
# starts only after $first finished
rounds=$(counter launcher_rounds w1)
q postgres "SELECT pg_reload_conf()" >/dev/null # a SIGHUP wakes the launcher for a round
wait_for w1 "SELECT value >= $rounds + 2 FROM pgbackups.counters() WHERE name = 'launcher_rounds'" 30 ||
	fail "queue: the launcher took no two rounds (launcher_rounds $(counter launcher_rounds w1), was $rounds)"
check_eq "queue: $second waits while $first holds the only worker" "$(backup_field w1 "$second" status)" pending
check_eq "queue: $third waits too" "$(backup_field w1 "$third" status)" pending
check_eq "queue: one pgbackups job process (max_workers = 1)" "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbackups job'")" 1
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
if wait_for w1 "SELECT status = 'completed' FROM pgbackups.backups WHERE id = '$third'" 60; then
	pass "queue: $third completes after $first"
else
	fail "queue: $third: $(describe_backup w1 "$third")"
fi
# exact: both times are set by the workers themselves, $first's before its
# worker gave the slot back, $third's after its worker took it
check_eq "queue: $third started only after $first finished (max_workers = 1)" \
	"$(q w1 "SELECT b3.started_at >= b1.finished_at FROM pgbackups.backups b1, pgbackups.backups b3 WHERE b1.id = '$first' AND b3.id = '$third'")" t
check_eq "queue: $second never started" "$(backup_field w1 "$second" "started_at IS NULL")" t
check_eq "queue: exact: never more than one capture process at once (capture_processes_max)" "$(counter capture_processes_max w1)" 1
reload_conf "ALTER SYSTEM RESET pgbackups.max_workers"

# --- schedulers follow CREATE/DROP EXTENSION; DROP DATABASE works -----------------------
q w3 "CREATE EXTENSION pgbackups" >/dev/null
if wait_for postgres "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler' AND datname = 'w3'" 15; then
	pass "CREATE EXTENSION in w3 starts its scheduler"
else
	fail "no scheduler for w3 15 s after CREATE EXTENSION: $(schedulers)"
fi
id=$(q w3 "SELECT pgbackups.capture(wait => true)" 2>"$TESTDIR/w3.err") || log "w3 capture: $(cat "$TESTDIR/w3.err")"
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
if wait_for postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type LIKE 'pgbackups%' AND backend_type <> 'pgbackups launcher'" 15; then
	pass "idle again: no scheduler left"
else
	fail "idle again: still running after 15 s: $(schedulers)"
fi
finish
