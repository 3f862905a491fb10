#!/bin/bash
# 51_many_databases: fifty databases with the extension on a cluster with
# PostgreSQL's default max_worker_processes = 8 (issue 12).  Schedulers run
# only while their database has work, so:
#  - while the cluster settles (each new catalog is reconciled and rescanned)
#    at most two schedulers and one maintenance worker at once (exact:
#    pgbackups.counters() high-water marks); then exactly the launcher, and
#    two launcher rounds start nothing;
#  - fifty captures requested at once (one per database, concurrently) are
#    all accepted and all complete (jobs queue for worker slots, none fails
#    for lack of one);
#  - a daily schedule in every database fires for its slot when the debug
#    clock reaches it (each scheduler is started on demand for its slot);
#  - fifty restores (each database's backup into its own target) all
#    complete with the source's rows;
#  - a scheduler whose webhook endpoint hangs (a listener that accepts and
#    never answers) still answers capture() within a second: webhook POSTs
#    run in the database's maintenance worker, not in its scheduler.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

N=${MANY_DBS:-50}
EXTRA_CONF="max_worker_processes = 8
max_connections = 150
pgbackups.debug_clock = on" start_cluster

dbs=()
for i in $(seq -w 1 "$N"); do dbs+=("m$i"); done
D1=${dbs[0]}
log "creating $N databases with the extension (and $N restore targets)"
for db in "${dbs[@]}"; do
	psql_db postgres >/dev/null <<SQL
CREATE DATABASE $db;
CREATE DATABASE ${db}_t;
SQL
	psql_db "$db" >/dev/null <<SQL
CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1000 + ${db#m}) g;
CREATE EXTENSION pgbackups;
SQL
done

# --- settling: at most two schedulers and one maintenance worker at once ----------------
# exact: every pgbackups process counts itself in shared memory when it starts
# and when it exits (pgbackups.counters()), so these high-water marks since
# the server started are maxima over every moment, probes of databases
# without the extension included
wait_for postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type LIKE 'pgbackups%' AND backend_type <> 'pgbackups launcher'" 120 ||
	fail "pgbackups processes other than the launcher still run 120 s after CREATE EXTENSION"
check_eq "idle: only the launcher is left" "$(q postgres "SELECT string_agg(backend_type, ',') FROM pg_stat_activity WHERE backend_type LIKE 'pgbackups%'")" "pgbackups launcher"
cnt() { q "$D1" "SELECT value FROM pgbackups.counters() WHERE name = '$1'"; }
log "settling: $(q "$D1" "SELECT string_agg(name || '=' || value, ' ' ORDER BY name) FROM pgbackups.counters() WHERE name ~ '^(schedulers|maintenance_workers|job_workers|other_workers)'")"
check "settling: schedulers ran (schedulers_started $(cnt schedulers_started) >= $N)" [ "$(cnt schedulers_started)" -ge "$N" ]
check_eq "settling: exact: never more than two schedulers at once (schedulers_max)" "$(cnt schedulers_max)" 2
check "settling: exact: never more than one maintenance worker at once (maintenance_workers_max $(cnt maintenance_workers_max))" [ "$(cnt maintenance_workers_max)" -le 1 ]
check_eq "settling: no job worker ran" "$(cnt job_workers_started)" 0
# idle: the launcher looks again (a reload wakes it) and starts nothing.  Two
# rounds after the mark: the first may have begun before it
started_sum() { q "$D1" "SELECT sum(value) FROM pgbackups.counters() WHERE name LIKE '%\_started'"; }
before=$(started_sum)
rounds=$(cnt launcher_rounds)
q postgres "SELECT pg_reload_conf()" >/dev/null
wait_for "$D1" "SELECT value >= $rounds + 1 FROM pgbackups.counters() WHERE name = 'launcher_rounds'" 30 || true
q postgres "SELECT pg_reload_conf()" >/dev/null
if wait_for "$D1" "SELECT value >= $rounds + 2 FROM pgbackups.counters() WHERE name = 'launcher_rounds'" 30; then
	check_eq "idle: exact: two launcher rounds started no pgbackups process (processes started before and after)" "$(started_sum)" "$before"
else
	fail "idle: the launcher took no two rounds after a reload (launcher_rounds $(cnt launcher_rounds), was $rounds)"
fi

# --- fifty captures at once -----------------------------------------------------------
log "requesting $N captures concurrently"
pids=()
for db in "${dbs[@]}"; do
	(
		out=$(timeout 120 psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "SELECT pgbackups.capture()" 2>&1)
		echo "$db $? $out" >"$TESTDIR/cap.$db"
	) &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
accepted=0
for db in "${dbs[@]}"; do
	read -r _ rc id <"$TESTDIR/cap.$db" || true
	if [ "${rc:-1}" = 0 ] && [ "$id" = b001 ]; then
		accepted=$((accepted + 1))
	else
		log "capture in $db: $(cat "$TESTDIR/cap.$db")"
	fi
done
check_eq "$N concurrent capture() calls accepted" "$accepted" "$N"
all_done() {
	local db want=$1 id=$2 n=0
	for db in "${dbs[@]}"; do
		[ "$(q "$db" "SELECT status FROM pgbackups.backups WHERE id = '$id'" 2>/dev/null)" = "$want" ] && n=$((n + 1))
	done
	echo "$n"
}
deadline=$((SECONDS + 600))
while [ "$(all_done completed b001)" != "$N" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 1; done # polls the outcome
check_eq "all $N captures completed" "$(all_done completed b001)" "$N"
failed=0
for db in "${dbs[@]}"; do
	failed=$((failed + $(q "$db" "SELECT count(*) FROM pgbackups.backups WHERE status <> 'completed'")))
done
check_eq "no capture failed or waits" "$failed" 0

# --- schedules fire in every database ----------------------------------------------------
q "$D1" "SELECT pgbackups.set_clock('2030-01-01 00:00 UTC')" >/dev/null
for db in "${dbs[@]}"; do
	q "$db" "SELECT pgbackups.schedule(at => '03:00 UTC')" >/dev/null
done
wait_for postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler'" 120 ||
	log "schedulers still running before the clock moves"
q "$D1" "SELECT pgbackups.set_clock('2030-01-01 03:00:10 UTC')" >/dev/null
deadline=$((SECONDS + 600))
while [ "$(all_done completed a001)" != "$N" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 1; done
check_eq "the 03:00 slot ran and completed in all $N databases" "$(all_done completed a001)" "$N"
q "$D1" "SELECT pgbackups.set_clock(NULL)" >/dev/null

# --- fifty restores ------------------------------------------------------------------------
log "requesting $N restores"
for db in "${dbs[@]}"; do
	out=$(q "$db" "SELECT pgbackups.restore('b001', target => '${db}_t', confirm => '${db}_t')" 2>&1) ||
		log "restore in $db: $out"
done
restored_ok() {
	local db n=0
	for db in "${dbs[@]}"; do
		[ "$(q "$db" "SELECT status FROM pgbackups.restores ORDER BY id DESC LIMIT 1" 2>/dev/null)" = completed ] &&
			[ "$(q "${db}_t" "SELECT count(*) FROM t" 2>/dev/null)" = "$((1000 + 10#${db#m}))" ] && n=$((n + 1))
	done
	echo "$n"
}
deadline=$((SECONDS + 900))
while [ "$(restored_ok)" != "$N" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 2; done
check_eq "all $N restores completed with the source's rows" "$(restored_ok)" "$N"
bad=0
for db in "${dbs[@]}"; do
	bad=$((bad + $(q "$db" "SELECT count(*) FROM pgbackups.restores WHERE status <> 'completed'")))
done
check_eq "no restore failed" "$bad" 0

# --- a hanging webhook does not hold up capture() ----------------------------------------
HANG_PORT=$(free_port)
"$SYS_PYTHON" -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
open(sys.argv[2], "w").close()
held = []
while True:
    c, _ = s.accept(); held.append(c)   # accept and never answer
' "$HANG_PORT" "$TESTDIR/hang.ready" >"$TESTDIR/hang.log" 2>&1 &
track_bg $!
wait_for_file() { local f=$1 end=$((SECONDS + 10)); while [ ! -e "$f" ] && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done; [ -e "$f" ]; }
wait_for_file "$TESTDIR/hang.ready" || fail "the hanging listener did not start"
set_conf pgbackups.webhook_url "http://127.0.0.1:$HANG_PORT/hook"
set_conf pgbackups.webhook_on_success on
# a completed capture queues an alert: the maintenance worker starts its POST and hangs
q "$D1" "SELECT pgbackups.capture(wait => true)" >/dev/null
if wait_for postgres "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pgbackups maintenance' AND datname = '$D1'" 30; then
	pass "the webhook POST runs in $D1's maintenance worker"
else
	fail "no maintenance worker delivering $D1's alert"
fi
# the POST hangs now (up to its 10 s timeout): capture() must still be answered at once
t0=$(date +%s%N)
id=$(q "$D1" "SELECT pgbackups.capture()")
ms=$((($(date +%s%N) - t0) / 1000000))
log "capture() answered in $ms ms while the webhook hangs"
check "capture() answered ($id) within a second while the webhook hangs (took $ms ms)" [ "$ms" -lt 1000 ]
check_eq "the webhook endpoint holds a connection" "$(q "$D1" "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pgbackups maintenance'")" t
set_conf pgbackups.webhook_url ""
finish
