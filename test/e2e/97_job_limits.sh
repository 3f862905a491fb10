#!/bin/bash
# 97_job_limits: no job waits forever, and none unseen (issue 16).
# 1. One capture of a database at a time: while a capture of "app" runs
#    (blocked on a lock, pgbackups.lock_timeout = 0), a second manual capture
#    in the same catalog, a manual capture of "app" recorded in another
#    catalog and a scheduled capture of "app" from a third catalog all stay
#    pending, while a capture of another database recorded after them runs
#    and completes; once the lock goes they run one after the other, in the
#    order they were recorded, never two at once.
# 2. pgbackups.max_job_time: a capture and a copy blocked on a lock, and a
#    restore, are stopped and recorded failed with 57014, leaving no file,
#    no staging database and the copy's and restore's targets as they were.
# 3. health: a job running, and one pending, beyond their expected time are
#    listed ('overdue'); they leave the view when they end.
# 4. health after ALTER EXTENSION UPDATE from 1.5.0 is the fresh view
#    (same definition, still security_invoker).
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

start_cluster
for db in catalog catalog2 catalog3; do
	q postgres "CREATE DATABASE $db" >/dev/null
	q $db "CREATE EXTENSION pgbackups" >/dev/null
done
q postgres "CREATE DATABASE app" >/dev/null
q postgres "CREATE DATABASE other" >/dev/null
psql_db app >/dev/null <<'SQL'
CREATE TABLE small (id int PRIMARY KEY, v text);
INSERT INTO small SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
SQL
q other "CREATE TABLE o AS SELECT generate_series(1, 100) AS id" >/dev/null
check_eq "max_job_time default: 0 (no limit)" "$(q postgres "SELECT setting || coalesce(unit, '') FROM pg_settings WHERE name = 'pgbackups.max_job_time'")" "0ms"
# captures wait for their locks (no lock_timeout): the lock holder below keeps them running
set_conf pgbackups.lock_timeout 0
set_conf pgbackups.max_workers 8

HOLDER_LOG=$TESTDIR/holder.log
hold_lock() {
	bg_psql HOLDER app "BEGIN; LOCK TABLE small IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600); COMMIT" "$HOLDER_LOG"
	wait_for app "SELECT count(*) = 1 FROM pg_locks WHERE relation = 'small'::regclass AND mode = 'AccessExclusiveLock' AND granted" 30 ||
		die "the lock holder did not get its lock"
}
release_lock() {
	q app "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 'small'::regclass AND mode = 'AccessExclusiveLock' AND granted" >/dev/null
	stop_bg "$HOLDER"
	wait_for app "SELECT count(*) = 0 FROM pg_locks WHERE relation = 'small'::regclass AND mode = 'AccessExclusiveLock'" 30 ||
		die "the lock was not released"
}
# a capture's coordinator (or pg_dump) waits for its lock on small
capture_blocked() {
	wait_for app "SELECT count(*) >= 1 FROM pg_locks WHERE relation = 'small'::regclass AND NOT granted" 60
}
status_of() { job_field "$1" "$2" status; }
end_of() { wait_for "$1" "SELECT status NOT IN ('pending', 'running') FROM $(job_table "$2") WHERE id = '$2'" "${3:-120}"; }
files_of_app() { find "$STORAGE_DIR" -path '*/app/*' -type f 2>/dev/null | sort; }

# ---- 1. one capture of a database at a time ---------------------------------------------
log "--- 1. overlapping captures of one database"
q catalog3 "SELECT pgbackups.set_clock('2026-05-01 11:59:00+00')" >/dev/null
q catalog3 "SELECT pgbackups.schedule('app', cron => '0 12 * * *', timezone => 'UTC')" >/dev/null
hold_lock
B1=$(q catalog "SELECT pgbackups.capture(database => 'app')")
wait_for catalog "SELECT status = 'running' FROM pgbackups.backups WHERE id = '$B1'" 30 || fail "$B1 did not start: $(describe_backup catalog "$B1")"
capture_blocked || fail "$B1 is not waiting for its lock"
B2=$(q catalog "SELECT pgbackups.capture(database => 'app')")
X1=$(q catalog2 "SELECT pgbackups.capture(database => 'app')")
q catalog3 "SELECT pgbackups.set_clock('2026-05-01 12:00:05+00')" >/dev/null
wait_for catalog3 "SELECT count(*) = 1 FROM pgbackups.backups WHERE kind = 'scheduled'" 30 ||
	fail "the 12:00 slot of catalog3's schedule recorded no backup: $(q catalog3 "SELECT string_agg(outcome || coalesce(' ' || detail, ''), '; ') FROM pgbackups.schedule_runs")"
A1=$(q catalog3 "SELECT id FROM pgbackups.backups WHERE kind = 'scheduled'")
check_eq "catalog3's slot started its backup (another catalog's capture is not seen there)" \
	"$(q catalog3 "SELECT string_agg(outcome || ':' || coalesce(backup_id, ''), ' ') FROM pgbackups.schedule_runs")" "started:$A1"
# recorded after all of them: it starts only if the launcher passed over them
C1=$(q catalog "SELECT pgbackups.capture(database => 'other', parallel => 1)")
end_of catalog "$C1" 60 || fail "$C1 (database other) did not end"
check_eq "a later capture of another database ran and completed" "$(status_of catalog "$C1")" completed
check_eq "meanwhile $B1 still runs (blocked by the lock)" "$(status_of catalog "$B1")" running
check_eq "a second manual capture in the same catalog stays pending" "$(status_of catalog "$B2")" pending
check_eq "a manual capture of app recorded in another catalog stays pending" "$(status_of catalog2 "$X1")" pending
check_eq "a scheduled capture of app (third catalog) stays pending" "$(status_of catalog3 "$A1")" pending
check_eq "none of them has a start time or a worker" \
	"$(q catalog "SELECT count(*) FROM pgbackups.backups WHERE id = '$B2' AND started_at IS NULL AND worker_pid IS NULL")$(q catalog2 "SELECT count(*) FROM pgbackups.backups WHERE id = '$X1' AND started_at IS NULL")$(q catalog3 "SELECT count(*) FROM pgbackups.backups WHERE id = '$A1' AND started_at IS NULL")" 111
check "the job log of $B2 says why it waits" \
	grep -q "backup $B1 of database \"app\" is still pending or running: this backup stays pending until it ends" \
	<<<"$(q catalog "SELECT string_agg(message, E'\n') FROM pgbackups.logs('$B2')")"
for id in "$B2" "$X1" "$A1"; do
	check "a LOG line says $id waits for $B1" \
		grep -q "backup $id of database \"app\" stays pending until backup $B1 of that database ends" "$SERVER_LOG"
done
release_lock
for pair in "catalog:$B1" "catalog:$B2" "catalog2:$X1" "catalog3:$A1"; do
	end_of "${pair%%:*}" "${pair#*:}" 120 || true
	check_eq "${pair#*:} in ${pair%%:*} completes" "$(status_of "${pair%%:*}" "${pair#*:}")" completed
done
# the four runs, in the order they started; each starts after the previous one ended
runs=$(for pair in "catalog:$B1" "catalog:$B2" "catalog2:$X1" "catalog3:$A1"; do
	q "${pair%%:*}" "SELECT to_char(started_at, 'YYYY-MM-DD HH24:MI:SS.US') || ' ' || to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS.US') || ' ${pair%%:*}:' || id FROM pgbackups.backups WHERE id = '${pair#*:}'"
done | sort)
log "runs of app: $(tr '\n' ';' <<<"$runs")"
check_eq "they started in the order they were recorded" "$(awk '{print $5}' <<<"$runs" | tr '\n' ' ')" "catalog:$B1 catalog:$B2 catalog2:$X1 catalog3:$A1 "
overlaps=$(awk 'NR > 1 && ($1 " " $2) < prev { n++ } { prev = $3 " " $4 } END { print n + 0 }' <<<"$runs")
check_eq "never two captures of app at once (each started after the previous finished)" "$overlaps" 0

# stopped_transfer KIND TABLE TARGET LIMIT BEFORE CALL: CALL (a restore or copy
# into TARGET) fails with 57014 after max_job_time (LIMIT as the message
# shows it), is recorded so, leaves no staging database and TARGET as BEFORE
stopped_transfer() {
	local kind=$1 table=$2 target=$3 limit=$4 before=$5 call=$6 id
	try_sql catalog "SELECT $call"
	id=$(q catalog "SELECT max(id) FROM pgbackups.$table")
	check_eq "a $kind past max_job_time fails with 57014" "$TRY_STATE" 57014
	check "its message names the setting ($TRY_MSG)" grep -q "$kind $id ran longer than pgbackups.max_job_time ($limit)" <<<"$TRY_MSG"
	check_eq "the $kind is recorded failed with 57014" "$(job_field catalog "$id" "status || ' ' || error_code")" "failed 57014"
	wait_for postgres "SELECT count(*) = 0 FROM pg_database WHERE $(staging_match "$id")" 30
	check_eq "no staging database is left" "$(q postgres "SELECT count(*) FROM pg_database WHERE $(staging_match "$id")")" 0
	check_eq "the $kind's target is as it was" "$(db_fingerprint "$target")" "$before"
}

# ---- 2. pgbackups.max_job_time ----------------------------------------------------------
log "--- 2. max_job_time"
set_conf pgbackups.max_job_time 2000
before_files=$(files_of_app)
hold_lock
HPID=$(q app "SELECT pid FROM pg_locks WHERE relation = 'small'::regclass AND mode = 'AccessExclusiveLock' AND granted")
t0=$SECONDS
try_sql catalog "SELECT pgbackups.capture(database => 'app', wait => true)"
elapsed=$((SECONDS - t0))
B3=$(q catalog "SELECT id FROM pgbackups.backups ORDER BY num DESC LIMIT 1")
check_eq "a capture blocked past max_job_time fails with 57014" "$TRY_STATE" 57014
check "its message names the setting ($TRY_MSG)" grep -q "backup $B3 ran longer than pgbackups.max_job_time (2s) and was stopped" <<<"$TRY_MSG"
check_eq "the backup is recorded failed with 57014" "$(backup_field catalog "$B3" "status || ' ' || error_code")" "failed 57014"
check "its error column says max_job_time" grep -q "max_job_time" <<<"$(backup_field catalog "$B3" error)"
check "it was stopped within seconds ($elapsed s)" test "$elapsed" -lt 30
check_eq "it left no file" "$(files_of_app)" "$before_files"
check_eq "the lock holder was left alone" "$(q app "SELECT count(*) FROM pg_locks WHERE pid = $HPID AND relation = 'small'::regclass AND granted")" 1

# a copy whose capture of the source is blocked
q postgres "CREATE DATABASE ctarget" >/dev/null
q ctarget "CREATE TABLE keep AS SELECT 42 AS answer" >/dev/null
before_ctarget=$(db_fingerprint ctarget)
stopped_transfer copy copies ctarget 2s "$before_ctarget" "pgbackups.copy('app', 'ctarget', confirm => 'ctarget', wait => true)"
check_eq "no temporary archive is left" "$(find "$PGDATA/pgbackups_tmp" -type f 2>/dev/null | wc -l)" 0
release_lock

# a restore, with a limit it cannot meet
set_conf pgbackups.max_job_time 1
q postgres "CREATE DATABASE rtarget" >/dev/null
q rtarget "CREATE TABLE keep AS SELECT 7 AS answer" >/dev/null
before_rtarget=$(db_fingerprint rtarget)
stopped_transfer restore restores rtarget 1ms "$before_rtarget" "pgbackups.restore('$B1', target => 'rtarget', confirm => 'rtarget', wait => true)"
set_conf pgbackups.max_job_time 0
try_sql catalog "SELECT pgbackups.restore('$B1', target => 'rtarget', confirm => 'rtarget', wait => true)"
check_eq "with no limit, the same restore completes" "$TRY_STATE $(job_field catalog "$TRY_OUT" status)" "OK completed"
check_eq "rtarget now holds app's table" "$(q rtarget "SELECT count(*) FROM small")" 1000

# ---- 3. health lists overdue jobs -------------------------------------------------------
log "--- 3. health"
check_eq "health lists no job while none is overdue" "$(q catalog "SELECT count(*) FROM pgbackups.health WHERE status = 'overdue'")" 0
set_conf pgbackups.schedule_grace 1
hold_lock
B4=$(q catalog "SELECT pgbackups.capture(database => 'app')")
wait_for catalog "SELECT status = 'running' FROM pgbackups.backups WHERE id = '$B4'" 30 || fail "$B4 did not start"
B5=$(q catalog "SELECT pgbackups.capture(database => 'app')")
# expected: B4 by started_at + 2 x the last completed app backup of this catalog + 1 s; B5 by created_at + 1 s
LAST=$(q catalog "SELECT id FROM pgbackups.backups WHERE database = 'app' AND status = 'completed' ORDER BY finished_at DESC LIMIT 1")
EXPECT4=$(q catalog "SELECT to_char(b.started_at + 2 * (p.finished_at - p.started_at) + interval '1 s', 'HH24:MI:SS.US') FROM pgbackups.backups b, pgbackups.backups p WHERE b.id = '$B4' AND p.id = '$LAST'")
if wait_for catalog "SELECT count(*) = 2 FROM pgbackups.health WHERE status = 'overdue' AND name IN ('$B4', '$B5')" 60; then
	pass "health lists the running and the pending capture as overdue"
else
	fail "health: $(q catalog "SELECT string_agg(name || ' ' || status, '; ') FROM pgbackups.health")"
fi
row4=$(q catalog "SELECT database || '|' || last_success_id || '|' || to_char(expected_by, 'HH24:MI:SS.US') FROM pgbackups.health WHERE name = '$B4'")
check_eq "the running one: its database, the last completed capture, expected by start + 2 x its run time + grace" "$row4" "app|$LAST|$EXPECT4"
check "the running one says it runs longer than expected" grep -q "^backup running since .*twice the .* of $LAST, plus pgbackups.schedule_grace" \
	<<<"$(q catalog "SELECT error FROM pgbackups.health WHERE name = '$B4'")"
check "the pending one says it was not started" grep -q "^backup pending since .*not started within pgbackups.schedule_grace" \
	<<<"$(q catalog "SELECT error FROM pgbackups.health WHERE name = '$B5'")"
check_eq "the pending one is expected by its creation + grace" \
	"$(q catalog "SELECT h.expected_by = b.created_at + interval '1 s' FROM pgbackups.health h JOIN pgbackups.backups b ON b.id = h.name WHERE h.name = '$B5'")" t
check_eq "no other job is listed" "$(q catalog "SELECT count(*) FROM pgbackups.health WHERE status = 'overdue' AND name NOT IN ('$B4', '$B5')")" 0
check_eq "another catalog lists none of them" "$(q catalog2 "SELECT count(*) FROM pgbackups.health WHERE status = 'overdue'")" 0
release_lock
end_of catalog "$B4" 120 || true
end_of catalog "$B5" 120 || true
check_eq "both complete once the lock goes" "$(status_of catalog "$B4") $(status_of catalog "$B5")" "completed completed"
check_eq "health lists no overdue job once they ended" "$(q catalog "SELECT count(*) FROM pgbackups.health WHERE status = 'overdue'")" 0

# ---- 4. the updated view is the fresh one ------------------------------------------------
log "--- 4. health after ALTER EXTENSION UPDATE from 1.5.0"
q postgres "CREATE DATABASE up" >/dev/null
q up "CREATE EXTENSION pgbackups VERSION '1.5.0'" >/dev/null
q up "ALTER EXTENSION pgbackups UPDATE" >/dev/null
check_eq "up is at the newest version" "$(q up "SELECT extversion FROM pg_extension WHERE extname = 'pgbackups'")" "$(q postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'pgbackups'")"
viewdef() { q "$1" "SELECT pg_get_viewdef('pgbackups.health'::regclass) || ' ' || array_to_string(c.reloptions, ',') FROM pg_class c WHERE c.oid = 'pgbackups.health'::regclass"; }
check_eq "health: same definition and options as a fresh catalog" "$(viewdef up | md5sum)" "$(viewdef catalog2 | md5sum)"
check "health is still security_invoker" grep -q "security_invoker=true" <<<"$(viewdef up)"

finish
