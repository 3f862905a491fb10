#!/bin/bash
# 98_load_together: every kind of job at once on one cluster, under load
# (issue 16).  pgbench (tpcb-like, -c 2) writes to "bench" the whole time,
# while these run together:
#   - two scheduled captures, of "s1" and of "s2", each its own catalog and
#     schedule, both due at the same slot (the debug clock);
#   - a manual capture of "bench" (capture(parallel => 2) in bench's catalog);
#   - a restore (parallel => 2) of an earlier backup of "src" into "rt";
#   - a second manual capture of "bench", requested while the first runs.
# So that they really run at the same time, each captured database has a
# table "gate" that a session of the test holds ACCESS EXCLUSIVE
# (pgbackups.lock_timeout = 0: the captures wait for it, running); the gates
# open once the restore is running too.  Then, from the recorded rows:
#   - every job completes (bounded waits); the four overlapped: the latest
#     started_at is before the earliest finished_at, and the restore ended
#     after the gates opened (its work overlapped the captures' work);
#   - the second capture of bench stayed pending (no start, no worker, a LOG
#     line and a line of its logs()) until the first ended, then completed;
#   - no deadlock: the server log has no "deadlock detected" and no ERROR,
#     FATAL or PANIC line but three named kinds (pgbench's sessions when the
#     test kills it, the restore stopping its own workers, and its own
#     session of the target ended by the swap); no job row has an error;
#   - catalogs and storage agree: each backup's archive exists with the size
#     and SHA-256 of its row, its manifest names the same id, size, SHA-256
#     and table_rows, storage_check() finds nothing wrong, no staging
#     database or temporary file is left;
#   - results: each backup restored by pg_restore holds, per table, the rows
#     its table_rows recorded; the captures of bench (restored) satisfy the
#     TPC-B invariant sum(abalance) = sum(bbalance) = sum(tbalance) =
#     sum(delta) although pgbench wrote during them; rt equals src.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SCALE=${PGBENCH_SCALE:-3}
SRC_ROWS=${SRC_ROWS:-400000}
S_ROWS=${S_ROWS:-100000}
JOB_WAIT=${JOB_WAIT:-150} # seconds every job gets to end once the gates open

# captures wait for the gates (no lock timeout); room for every job at once
EXTRA_CONF="pgbackups.lock_timeout = 0
pgbackups.max_workers = 16
pgbackups.default_parallel = 2
max_worker_processes = 32" start_cluster
T0=$SECONDS

# ---- set-up ----------------------------------------------------------------------------
for db in bench s1 s2; do
	q postgres "CREATE DATABASE $db" >/dev/null
	q $db "CREATE EXTENSION pgbackups" >/dev/null
	q $db "CREATE TABLE gate (id int PRIMARY KEY, note text); INSERT INTO gate VALUES (1, '$db')" >/dev/null
done
for db in s1 s2; do
	psql_db $db >/dev/null <<SQL
CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10, 2));
INSERT INTO items SELECT g, '$db item ' || g, (g % 997) / 7.0 FROM generate_series(1, $S_ROWS) g;
CREATE TABLE events (id bigserial PRIMARY KEY, item bigint REFERENCES items, at timestamptz, payload jsonb);
INSERT INTO events (item, at, payload)
  SELECT 1 + g % $S_ROWS, timestamptz '2026-01-01 00:00+00' + g * interval '1 minute', jsonb_build_object('n', g, 'db', '$db')
    FROM generate_series(1, $S_ROWS) g;
CREATE INDEX events_at ON events (at);
SQL
done
q postgres "CREATE DATABASE src" >/dev/null
psql_db src >/dev/null <<SQL
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text UNIQUE, created date);
INSERT INTO customers SELECT g, 'customer ' || g, 'c' || g || '@example.com', date '2020-01-01' + g % 2000 FROM generate_series(1, $SRC_ROWS) g;
CREATE TABLE orders (id bigserial PRIMARY KEY, customer bigint NOT NULL REFERENCES customers, amount numeric(12, 2), note text);
INSERT INTO orders (customer, amount, note) SELECT 1 + g % $SRC_ROWS, g % 10007 / 3.0, md5(g::text) FROM generate_series(1, $SRC_ROWS) g;
CREATE INDEX orders_customer ON orders (customer);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 3000;
SQL
q postgres "CREATE DATABASE rt" >/dev/null
q rt "CREATE TABLE old_stuff AS SELECT 1 AS x" >/dev/null
log "pgbench -i -s $SCALE bench"
pgbench -i -q -s "$SCALE" bench >"$TESTDIR/pgbench-init.log" 2>&1 || die "pgbench -i failed: $(tail -n 5 "$TESTDIR/pgbench-init.log")"

# the earlier backup the restore will read: src, recorded in bench's catalog
B0=$(q bench "SELECT pgbackups.capture(database => 'src', parallel => 2, wait => true)" 2>"$TESTDIR/b0.err") ||
	die "the capture of src failed: $(cat "$TESTDIR/b0.err")"
check_eq "the earlier backup of src ($B0) completed" "$(backup_field bench "$B0" status)" completed

# both schedules due at 12:00 UTC; the clock stands a minute before
q bench "SELECT pgbackups.set_clock('2026-06-01 11:59:00+00')" >/dev/null
for db in s1 s2; do
	q $db "SELECT pgbackups.schedule(cron => '0 12 * * *', timezone => 'UTC')" >/dev/null
done
check_eq "two schedules, due at the same slot" \
	"$(for db in s1 s2; do q $db "SELECT name || '@' || to_char(next_run AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM pgbackups.schedules"; done | tr '\n' ' ')" \
	"s1@2026-06-01 12:00 s2@2026-06-01 12:00 "

# ---- gates: a session per database holds its table gate --------------------------------
declare -A GATE_FD GATE_PID
this_db="(SELECT oid FROM pg_database WHERE datname = current_database())"
gate_hold() {
	local db=$1 fifo=$TESTDIR/gate-$1.fifo fd pid
	mkfifo "$fifo"
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" <"$fifo" >"$TESTDIR/gate-$db.log" 2>&1 &
	pid=$!
	track_bg "$pid"
	exec {fd}>"$fifo"
	printf 'BEGIN;\nLOCK TABLE gate IN ACCESS EXCLUSIVE MODE;\n' >&"$fd"
	GATE_FD[$db]=$fd
	GATE_PID[$db]=$pid
	wait_for "$db" "SELECT count(*) = 1 FROM pg_locks WHERE database = $this_db AND relation = 'gate'::regclass AND mode = 'AccessExclusiveLock' AND granted" 30 ||
		die "the gate session of $db did not get its lock: $(cat "$TESTDIR/gate-$db.log")"
}
# gate_release DB: COMMIT and \q: the session ends by itself (no ERROR in the log;
# later children inherited the FIFO's write end, so no end of input is relied on)
gate_release() {
	local db=$1 fd=${GATE_FD[$1]}
	printf 'COMMIT;\n\\q\n' >&"$fd"
	eval "exec $fd>&-"
}
gate_session_ended() {
	local db=$1
	if wait "${GATE_PID[$db]}"; then
		pass "the gate session of $db committed and ended"
	else
		fail "the gate session of $db failed: $(cat "$TESTDIR/gate-$db.log")"
	fi
}
# blocked_on_gate DB: a pgbackups session waits for DB's gate
blocked_on_gate() {
	wait_for "$1" "SELECT count(*) >= 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
	                WHERE l.database = $this_db AND l.relation = 'gate'::regclass AND NOT l.granted
	                  AND (a.backend_type LIKE 'pgbackups%' OR a.application_name LIKE 'pgbackups%' OR a.application_name = 'pg_dump')" "${2:-60}"
}
status_of() { job_field "$1" "$2" status; }
# describe DB ID: one line about any job (backup, restore)
describe() {
	case "$2" in
	r* | c*) describe_job "$1" "$2" ;;
	*) describe_backup "$1" "$2" ;;
	esac
}
# await_status DB ID STATUS SECS WHAT: bounded wait for a status; a failure says where the job stands
await_status() {
	local db=$1 id=$2 want=$3 secs=$4 what=$5
	if wait_for "$db" "SELECT status = '$want' FROM $(job_table "$id") WHERE id = '$id'" "$secs"; then
		pass "$what ($db $id $want)"
	else
		fail "$what: $db $id is not $want after $secs s: $(describe "$db" "$id")"
		return 1
	fi
}
# await_end DB ID SECS: bounded wait until the job has ended, whatever its status
await_end() {
	wait_for "$1" "SELECT status NOT IN ('pending', 'running') FROM $(job_table "$2") WHERE id = '$2'" "$3"
}

for db in bench s1 s2; do gate_hold $db; done
pass "the gates of bench, s1 and s2 are held"

# ---- pgbench -------------------------------------------------------------------------
log "pgbench -n -c 2 -j 2 -T 900 bench in the background (ended by the test)"
pgbench -n -c 2 -j 2 -T 900 bench >"$TESTDIR/pgbench.log" 2>&1 &
BENCH_PID=$!
track_bg "$BENCH_PID"
wait_for bench "SELECT count(*) >= 200 FROM pgbench_history" 60 ||
	die "pgbench wrote nothing: $(tail -n 5 "$TESTDIR/pgbench.log")"
PGBENCH_PIDS=$(q bench "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE application_name = 'pgbench'")
check "pgbench runs two sessions ($PGBENCH_PIDS)" test "$(wc -w <<<"$PGBENCH_PIDS")" -eq 2
LOG0=$(log_pos)

# ---- everything at once -----------------------------------------------------------------
log "--- the slot comes: scheduled captures of s1 and s2"
q bench "SELECT pgbackups.set_clock('2026-06-01 12:00:05+00')" >/dev/null
for db in s1 s2; do
	wait_for $db "SELECT count(*) = 1 FROM pgbackups.backups WHERE kind = 'scheduled'" 30 ||
		fail "no scheduled backup in $db 30 s after the slot: $(q $db "SELECT coalesce(string_agg(outcome || coalesce(' ' || detail, ''), '; '), 'no schedule_runs row') FROM pgbackups.schedule_runs")"
done
check_eq "s1 and s2: one scheduled backup each, for the same 12:00 slot" \
	"$(for db in s1 s2; do q $db "SELECT string_agg(id || '@' || to_char(scheduled_for AT TIME ZONE 'UTC', 'HH24:MI'), ' ') FROM pgbackups.backups WHERE kind = 'scheduled'"; done | tr '\n' ' ')" \
	"a001@12:00 a001@12:00 "
for db in s1 s2; do
	await_status $db a001 running 30 "the scheduled capture of $db runs"
	if blocked_on_gate $db; then pass "the scheduled capture of $db waits at the gate"; else fail "the scheduled capture of $db does not wait at the gate: $(describe_backup $db a001)"; fi
done

log "--- a manual capture of bench (pgbench writing)"
BX=$(q bench "SELECT pgbackups.capture(parallel => 2)")
await_status bench "$BX" running 30 "the manual capture of bench runs"
if blocked_on_gate bench; then pass "$BX waits at bench's gate"; else fail "$BX does not wait at bench's gate: $(describe_backup bench "$BX")"; fi

log "--- a second manual capture of bench while $BX runs"
BY=$(q bench "SELECT pgbackups.capture(parallel => 2)")
if wait_log "$LOG0" "backup $BY of database \"bench\" stays pending until backup $BX of that database ends" 30; then
	pass "LOG: $BY stays pending until $BX ends"
else
	fail "no LOG line saying $BY waits for $BX: $(describe_backup bench "$BY")"
fi
check_eq "$BY is pending, never started, no worker" \
	"$(q bench "SELECT status || ' ' || (started_at IS NULL) || ' ' || (worker_pid IS NULL) FROM pgbackups.backups WHERE id = '$BY'")" "pending true true"
check "the logs of $BY say why it waits" \
	grep -q "backup $BX of database \"bench\" is still pending or running: this backup stays pending until it ends" \
	<<<"$(q bench "SELECT string_agg(message, E'\n') FROM pgbackups.logs('$BY')")"

log "--- a restore of $B0 (src) into rt"
RID=$(q bench "SELECT pgbackups.restore('$B0', target => 'rt', confirm => 'rt', parallel => 2)")
await_status bench "$RID" running 30 "the restore runs"

# everything is running (and the second capture pending): open the gates
check_eq "all four jobs are running at once, the second capture pending" \
	"$(q s1 "SELECT status FROM pgbackups.backups WHERE id = 'a001'") $(q s2 "SELECT status FROM pgbackups.backups WHERE id = 'a001'") $(q bench "SELECT string_agg(status, ' ' ORDER BY id) FROM (SELECT id, status FROM pgbackups.backups WHERE id IN ('$BX', '$BY') UNION ALL SELECT id, status FROM pgbackups.restores WHERE id = '$RID') j")" \
	"running running running pending running"
T_OPEN=$(q bench "SELECT clock_timestamp()")
log "opening the gates at $T_OPEN"
for db in bench s1 s2; do gate_release $db; done
for db in bench s1 s2; do gate_session_ended $db; done

# ---- every job ends -------------------------------------------------------------------
JOBS="s1:a001 s2:a001 bench:$BX bench:$RID bench:$BY"
for pair in $JOBS; do
	db=${pair%%:*} id=${pair#*:}
	if await_end "$db" "$id" "$JOB_WAIT"; then
		check_eq "$db $id ends completed" "$(status_of "$db" "$id")" completed
	else
		fail "$db $id did not end within $JOB_WAIT s after the gates opened: $(describe "$db" "$id")"
	fi
done
pgbench_alive=no
kill -0 "$BENCH_PID" 2>/dev/null && pgbench_alive=yes
check_eq "pgbench was still writing when the last capture of bench ended" "$pgbench_alive" yes
stop_bg "$BENCH_PID"
check "pgbench had no failed transaction or aborted client" bash -c "! grep -E -i 'aborted|error' '$TESTDIR/pgbench.log'"
for pair in $JOBS; do log "  $pair: $(describe "${pair%%:*}" "${pair#*:}")"; done
log "  $RID: $(q bench "SELECT string_agg(message, ' / ' ORDER BY logged_at) FROM pgbackups.logs('$RID') WHERE message ~ '^(phases|indexes and constraints):'")"

# ---- overlap, from the recorded times ----------------------------------------------------
# times: "started finished db:id" in microseconds since the epoch
times_of() {
	q "$1" "SELECT (extract(epoch FROM started_at) * 1000000)::bigint || ' ' || (extract(epoch FROM finished_at) * 1000000)::bigint || ' $1:$2'
	          FROM $(job_table "$2") WHERE id = '$2'"
}
TIMES=$(for pair in "s1:a001" "s2:a001" "bench:$BX" "bench:$RID"; do times_of "${pair%%:*}" "${pair#*:}"; done)
log "runs (started, finished, us since epoch):"
while read -r s f n; do log "  $n: $(q bench "SELECT to_char(to_timestamp($s / 1e6) AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') || ' .. ' || to_char(to_timestamp($f / 1e6) AT TIME ZONE 'UTC', 'HH24:MI:SS.MS')") ($(((f - s) / 1000)) ms)"; done <<<"$TIMES"
latest_start=$(awk '{ print $1 }' <<<"$TIMES" | sort -n | tail -n 1)
earliest_end=$(awk '{ print $2 }' <<<"$TIMES" | sort -n | head -n 1)
check_eq "all four started before any finished (latest start < earliest finish: one moment all ran)" \
	"$([ "$latest_start" -lt "$earliest_end" ] && echo yes || echo "no: $latest_start >= $earliest_end")" yes
t_open=$(q bench "SELECT (extract(epoch FROM timestamptz '$T_OPEN') * 1000000)::bigint")
rt_end=$(awk -v id="bench:$RID" '$3 == id { print $2 }' <<<"$TIMES")
check "the restore ended after the gates opened: it worked while the captures did ($(((rt_end - t_open) / 1000)) ms after)" test "$rt_end" -gt "$t_open"
check_eq "every capture ended after the gates opened" \
	"$(awk -v t="$t_open" '$3 !~ /:r/ && $2 <= t { print $3 }' <<<"$TIMES")" ""
# the second capture of bench: after the first, never with it
check_eq "$BY started after $BX finished" \
	"$(q bench "SELECT (SELECT started_at FROM pgbackups.backups WHERE id = '$BY') >= (SELECT finished_at FROM pgbackups.backups WHERE id = '$BX')")" t
check_eq "$BY ran while pgbench wrote (history rows inserted between its start and end)" \
	"$(q bench "SELECT count(*) > 0 FROM pgbench_history, pgbackups.backups b WHERE b.id = '$BY' AND mtime > b.started_at AT TIME ZONE 'UTC' AND mtime < b.finished_at AT TIME ZONE 'UTC'")" t
check_eq "$BX ran while pgbench wrote (history rows inserted between its start and end)" \
	"$(q bench "SELECT count(*) > 0 FROM pgbench_history, pgbackups.backups b WHERE b.id = '$BX' AND mtime > b.started_at AT TIME ZONE 'UTC' AND mtime < b.finished_at AT TIME ZONE 'UTC'")" t
check_eq "schedule_runs: started, for the 12:00 slot, in s1 and s2" \
	"$(for db in s1 s2; do q $db "SELECT string_agg(outcome || '@' || to_char(slot AT TIME ZONE 'UTC', 'HH24:MI') || ':' || coalesce(backup_id, ''), ' ') FROM pgbackups.schedule_runs"; done | tr '\n' ' ')" \
	"started@12:00:a001 started@12:00:a001 "
check_eq "parallel 2 recorded by every job" \
	"$(q s1 "SELECT parallel FROM pgbackups.backups WHERE id = 'a001'") $(q s2 "SELECT parallel FROM pgbackups.backups WHERE id = 'a001'") $(q bench "SELECT string_agg(parallel::text, ' ' ORDER BY id) FROM (SELECT id, parallel FROM pgbackups.backups WHERE id IN ('$BX', '$BY') UNION ALL SELECT id, parallel FROM pgbackups.restores WHERE id = '$RID') j")" \
	"2 2 2 2 2"

# ---- no deadlock, no error -------------------------------------------------------------------
check_eq "server log: no \"deadlock detected\"" "$(grep -c 'deadlock detected' "$SERVER_LOG" || true)" 0
# Three kinds of FATAL lines are not errors of a job: pgbench's sessions,
# which lose their client when the test kills pgbench; the restore's own
# stop of its workers once they are done (src/restore/restore_pool.c
# pgb_restore_pool_stop asks them to exit and terminates at once those not
# yet gone: "terminating background worker ... due to administrator
# command"); and sessions of the restore's target (or staging database)
# that the swap ends, as documented ("disconnects every session of the
# target database"): the test has none there, but the restore's own check
# of the target's catalog (restore_swap.c carry) closes its connection
# just before the swap terminates every session, and may be terminated
# while it exits.  Every other ERROR, FATAL or PANIC line fails.
RESTORE_STOP='pgbackups restore  FATAL:  terminating background worker "pgbackups restore" due to administrator command'
SWAP_END=" client backend (rt|pgbackups_[0-9]+_${RID}_rt) FATAL:  terminating connection due to administrator command\$"
bench_lines=$(grep -E "\\[(${PGBENCH_PIDS// /|})\\] client backend bench (ERROR|FATAL|PANIC): " "$SERVER_LOG" || true)
log "pgbench's sessions after the kill: $(if [ -n "$bench_lines" ]; then sed -E 's/.*(ERROR|FATAL|PANIC): +//' <<<"$bench_lines" | tr '\n' ';'; else echo 'no ERROR/FATAL line'; fi)"
check_eq "pgbench's sessions: at most 'connection to client lost' (the kill)" \
	"$(grep -v -c -e 'FATAL:  connection to client lost$' -e '^$' <<<"$bench_lines" || true)" 0
log "the restore's stop of its workers: $(grep -c -F "$RESTORE_STOP" "$SERVER_LOG" || true) FATAL lines; sessions of rt ended by the swap: $(grep -c -E "$SWAP_END" "$SERVER_LOG" || true)"
bad=$(grep -E ' (ERROR|FATAL|PANIC): ' "$SERVER_LOG" | grep -v -E "\\[(${PGBENCH_PIDS// /|})\\] client backend bench " |
	grep -v -F "$RESTORE_STOP" | grep -v -E "$SWAP_END" || true)
if [ -z "$bad" ]; then
	pass "server log: no other ERROR, FATAL or PANIC line"
else
	fail "server log: $(wc -l <<<"$bad") ERROR/FATAL/PANIC lines: $(head -n 5 <<<"$bad")"
fi
check_eq "no job row has an error" \
	"$(for db in bench s1 s2; do q $db "SELECT count(*) FROM (SELECT error, error_code FROM pgbackups.backups UNION ALL SELECT error, error_code FROM pgbackups.restores UNION ALL SELECT error, error_code FROM pgbackups.copies) j WHERE error IS NOT NULL OR error_code IS NOT NULL"; done | tr '\n' ' ')" "0 0 0 "
check_eq "every job of the three catalogs is completed" \
	"$(for db in bench s1 s2; do q $db "SELECT string_agg(id || '=' || status, ' ' ORDER BY id) FROM (SELECT id, status FROM pgbackups.backups UNION ALL SELECT id, status FROM pgbackups.restores) j"; done | tr '\n' ' ')" \
	"$B0=completed $BX=completed $BY=completed $RID=completed a001=completed a001=completed "
# the replaced database is dropped after the restore's outcome is recorded
wait_for postgres "SELECT count(*) = 0 FROM pg_database WHERE datname LIKE 'pgbackups\\_%'" 30 || true
check_eq "no staging or replaced database is left" "$(staging_dbs)" ""

# ---- catalogs and storage agree --------------------------------------------------------------
BACKUPS="bench:$B0 bench:$BX bench:$BY s1:a001 s2:a001"
for pair in $BACKUPS; do
	db=${pair%%:*} id=${pair#*:}
	path=$(archive_path "$db" "$id")
	if [ ! -f "$path" ]; then
		fail "$db $id: no archive at $path"
		continue
	fi
	check_eq "$db $id: the archive's size and SHA-256 are the row's" \
		"$(stat -c %s "$path") $(sha256sum "$path" | cut -d' ' -f1)" "$(backup_field "$db" "$id" "archive_size || ' ' || sha256")"
	if [ -f "$path.manifest.json" ]; then
		check_eq "$db $id: its manifest names the same id, size, SHA-256 and table_rows" \
			"$(q "$db" "SELECT m->>'id' = b.id AND (m->>'archive_size')::bigint = b.archive_size AND m->>'sha256' = b.sha256 AND m->'table_rows' = b.table_rows::jsonb
			              FROM pgbackups.backups b, (SELECT pg_read_file('$path.manifest.json')::jsonb AS m) f WHERE b.id = '$id'")" t
	else
		fail "$db $id: no manifest at $path.manifest.json"
	fi
	check_eq "$db $id: rows = the sum of table_rows" \
		"$(q "$db" "SELECT b.rows = (SELECT sum(value::bigint) FROM jsonb_each_text(b.table_rows::jsonb)) FROM pgbackups.backups b WHERE b.id = '$id'")" t
done
findings=$(q bench "SELECT string_agg(concat_ws(' ', finding, database, id, detail), '; ') FROM pgbackups.storage_check() WHERE finding <> 'database'")
check_eq "storage_check(): nothing wrong" "$findings" ""
check_eq "storage_check(): objects per database (archive + manifest each)" \
	"$(q bench "SELECT string_agg(database || '=' || objects, ' ' ORDER BY database) FROM pgbackups.storage_check() WHERE finding = 'database'")" \
	"bench=6 s1=2 s2=2"
check_eq "no temporary file in storage" "$(find "$STORAGE_DIR" -type f ! -name '*.dump' ! -name '*.dump.manifest.json' | head -n 5)" ""

# ---- results -----------------------------------------------------------------------------
# per_table DB: "schema.table=rows ..." of every ordinary table of DB (outside pgbackups)
per_table() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL' | LC_ALL=C sort | tr '\n' ' '
SELECT format('SELECT %L || ''='' || count(*) FROM ONLY %s', n.nspname || '.' || c.relname, c.oid::regclass)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgbackups')
   AND n.nspname !~ '^pg_'
\gexec
SQL
}
n=0
for pair in $BACKUPS; do
	db=${pair%%:*} id=${pair#*:}
	n=$((n + 1))
	v=v${n}_${db}_$id
	restore_into "$db $id" "$(archive_path "$db" "$id")" "$v" || continue
	check_eq "$db $id: rows per table restored = table_rows recorded" "$(per_table "$v")" \
		"$(q "$db" "SELECT string_agg(key || '=' || value, ' ' ORDER BY key) || ' ' FROM pgbackups.backups, jsonb_each_text(table_rows::jsonb) WHERE id = '$id'")"
	if [ "$db" = bench ] && [ "$id" != "$B0" ]; then
		sums=$(q "$v" "SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' || (SELECT sum(bbalance) FROM pgbench_branches) || ' ' || (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' || (SELECT coalesce(sum(delta), 0) FROM pgbench_history) || ' ' || (SELECT count(*) FROM pgbench_history)")
		read -r sa sb st sd hr <<<"$sums"
		log "$id restored: sum(abalance)=$sa sum(bbalance)=$sb sum(tbalance)=$st sum(delta)=$sd, history rows $hr"
		check_eq "$id: TPC-B invariant sum(abalance) = sum(bbalance) = sum(tbalance) = sum(delta)" "$sa $sb $st" "$sd $sd $sd"
		check "$id holds some of pgbench's transactions ($hr history rows)" test "$hr" -gt 0
		check_eq "$id: fewer history rows than the live table (pgbench went on writing)" \
			"$(q bench "SELECT count(*) > $hr FROM pgbench_history")" t
	fi
	if [ "$db" != bench ]; then
		compare_dbs "$db $id (restored by pg_restore) vs $db" "$db" "$v"
	fi
done
compare_dbs "the concurrent restore $RID: rt vs src" src rt
check_eq "$RID: tables and rows recorded = the backup's" \
	"$(q bench "SELECT r.tables || ' ' || r.rows FROM pgbackups.restores r WHERE r.id = '$RID'")" \
	"$(q bench "SELECT tables || ' ' || rows FROM pgbackups.backups WHERE id = '$B0'")"

log "98_load_together took $((SECONDS - T0)) s after start_cluster"
finish
