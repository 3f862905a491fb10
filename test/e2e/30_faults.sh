#!/bin/bash
# 30_faults: cancel (while blocked on a lock, and while streaming a big table),
# kill -9 of the job worker, a fast restart during a capture, capture inside a
# rolled-back transaction, and capture by a non-superuser operator.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BIG_ROWS=${BIG_ROWS:-3000000}
DB=faults

start_cluster
q postgres "CREATE DATABASE $DB" >/dev/null
q $DB "CREATE EXTENSION pgbackups" >/dev/null
psql_db $DB <<'SQL' >/dev/null
CREATE TABLE t (id integer PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g;
CREATE TABLE small (id integer);
INSERT INTO small SELECT generate_series(1, 10);
CREATE TABLE parted (a integer) PARTITION BY RANGE (a);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
INSERT INTO parted VALUES (1);
SQL

locker="" waiter="" # PIDs set by bg_psql
status_of() { backup_field $DB "$1" status; }

# assert_no_job_files LABEL ID: neither the archive nor a .tmp of job ID remains
assert_no_job_files() {
	local label=$1 id=$2 files
	files=$(job_files $DB "$id")
	if [ -z "$files" ]; then
		pass "$label: no file of $id left in $STORAGE_DIR"
	else
		fail "$label: files of $id left: $(tr '\n' ' ' <<<"$files")"
	fi
}

# wait_streaming ID [timeout]: until job ID is copying table data: a COPY of
# a table is active, or one of its .tmp files has grown past 1 MB
wait_streaming() {
	local id=$1 timeout=${2:-120} deadline
	deadline=$((SECONDS + timeout))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if [ "$(q $DB "SELECT count(*) > 0 FROM pg_stat_activity WHERE state = 'active' AND query ILIKE 'COPY%big%TO%'")" = t ]; then
			return 0
		fi
		if [ -n "$(find "$STORAGE_DIR" -path "*/$DB/$id-*" -size +1M 2>/dev/null)" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

lock_waiters() { q $DB "SELECT count(*) FROM pg_locks WHERE relation = 't'::regclass AND NOT granted"; }
copy_sessions() { q $DB "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY%TO%' AND pid <> pg_backend_pid() AND state <> 'idle'"; }

# === (a1) cancel a job blocked on a lock ======================================
log "(a1) cancel while the job waits for ACCESS EXCLUSIVE on t"
bg_psql locker $DB "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;"
wait_for $DB "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND mode = 'AccessExclusiveLock' AND granted" 20 ||
	die "the lock was not taken"
id=$(q $DB "SELECT pgbackups.capture()")
log "(a1) capture() returned $id"
if wait_for $DB "SELECT status = 'running' FROM pgbackups.backups WHERE id = '$id'" 30; then
	pass "(a1) $id is running"
else
	fail "(a1) $id never ran: $(describe_backup $DB "$id")"
fi
if wait_for $DB "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND NOT granted" 30; then
	pass "(a1) the job is blocked on the lock of t"
else
	fail "(a1) the job never waited for the lock of t: $(describe_backup $DB "$id")"
fi
# the event: a session of the job waits for the lock; the job is running then
check_eq "(a1) still running while blocked" "$(status_of "$id")" running
t0=$(date +%s%N)
check_eq "(a1) cancel('$id') returns the id" "$(q $DB "SELECT pgbackups.cancel('$id')")" "$id"
if wait_for_ms $DB "SELECT status = 'canceled' FROM pgbackups.backups WHERE id = '$id'" 2000; then
	pass "(a1) canceled within 2 s ($((($(date +%s%N) - t0) / 1000000)) ms)"
else
	fail "(a1) not canceled within 2 s: $(describe_backup $DB "$id")"
fi
assert_no_job_files "(a1)" "$id"
if wait_for_ms $DB "SELECT count(*) = 0 FROM pg_locks WHERE relation = 't'::regclass AND NOT granted" 2000; then
	pass "(a1) nothing of the job still waits for the lock (pg_dump/COPY sessions gone)"
else
	fail "(a1) $(lock_waiters) session(s) of the canceled job still wait for the lock: $(q $DB "SELECT string_agg(a.pid || ' ' || a.backend_type || ' ' || coalesce(a.application_name, '') || ' ' || left(a.query, 60), '; ') FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = 't'::regclass AND NOT l.granted")"
fi
check_eq "(a1) finished_at is set" "$(backup_field $DB "$id" "finished_at IS NOT NULL")" t
check_eq "(a1) error_code 57014 (query_canceled)" "$(backup_field $DB "$id" error_code)" 57014
check_eq "(a1) worker_pid cleared" "$(backup_field $DB "$id" "worker_pid IS NULL")" t
log "(a1) $(describe_backup $DB "$id")"

# === (a2) capture(wait => true) whose job is canceled raises an error ============
log "(a2) a waiting caller sees the cancel"
wait_for $DB "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND mode = 'AccessExclusiveLock' AND granted" 5 ||
	die "lock holder gone"
# (not bg_psql: VERBOSITY=verbose, so that the log carries the SQLSTATE)
psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d $DB -c "SELECT pgbackups.capture(wait => true, label => 'waiter')" >"$TESTDIR/waiter.log" 2>&1 &
waiter=$!
track_bg "$waiter"
if wait_for $DB "SELECT count(*) > 0 FROM pgbackups.backups WHERE label = 'waiter' AND status = 'running'" 30; then
	id2=$(q $DB "SELECT id FROM pgbackups.backups WHERE label = 'waiter'")
	wait_for $DB "SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND NOT granted" 30 ||
		fail "(a2) $id2 never waited for the lock of t: $(describe_backup $DB "$id2")"
	check_eq "(a2) cancel() with no id cancels the newest unfinished job" "$(q $DB "SELECT pgbackups.cancel()")" "$id2"
	deadline=$((SECONDS + 5))
	while kill -0 "$waiter" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
	if kill -0 "$waiter" 2>/dev/null; then
		fail "(a2) capture(wait => true) still waiting 5 s after the cancel"
	else
		if wait "$waiter"; then
			fail "(a2) capture(wait => true) of a canceled job succeeded: $(cat "$TESTDIR/waiter.log")"
		else
			check "(a2) capture(wait => true) raised 57014: $(grep -m1 ERROR "$TESTDIR/waiter.log")" \
				grep -q "ERROR:  57014: backup $id2 was canceled" "$TESTDIR/waiter.log"
		fi
	fi
	check_eq "(a2) status and error_code" "$(backup_field $DB "$id2" "status || ' ' || error_code")" "canceled 57014"
	assert_no_job_files "(a2)" "$id2"
else
	fail "(a2) the waiting capture never ran: $(cat "$TESTDIR/waiter.log")"
fi
# the lock holder's backend sleeps in pg_sleep and would not notice its
# client going away: end the backend too
q $DB "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 't'::regclass AND mode = 'AccessExclusiveLock' AND granted" >/dev/null
stop_bg "$locker"
wait_for $DB "SELECT count(*) = 0 FROM pg_locks WHERE relation = 't'::regclass" 10 || die "the lock on t is still held"

# === (g) the job's pg_dump process ===========================================================
# LOCK TABLE ONLY on a partitioned table: the capture's own connection locks
# only the partitions and goes on, pg_dump (which locks the parent) waits.
pg_dump_child() { ps -o pid=,args= --ppid "$1" 2>/dev/null | awk '$2 ~ /pg_dump$/ { print $1; exit }'; }
bg_psql locker $DB "BEGIN; LOCK TABLE ONLY parted IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;"
wait_for $DB "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'parted'::regclass AND mode = 'AccessExclusiveLock' AND granted" 20 ||
	die "the lock on parted was not taken"
for what in cancel kill; do
	id=$(q $DB "SELECT pgbackups.capture()")
	if ! wait_for $DB "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'parted'::regclass AND NOT granted" 30; then
		fail "(g) $what: pg_dump of $id never waited for parted: $(describe_backup $DB "$id")"
		continue
	fi
	wpid=$(backup_field $DB "$id" worker_pid)
	dpid=$(pg_dump_child "$wpid")
	if [ -z "$dpid" ]; then
		fail "(g) $what: no pg_dump child of job worker $wpid"
		continue
	fi
	log "(g) $what: $id, worker $wpid, pg_dump $dpid (waiting for the lock on parted)"
	started=$(q $DB "SELECT pg_postmaster_start_time()")
	if [ "$what" = cancel ]; then
		q $DB "SELECT pgbackups.cancel('$id')" >/dev/null
		want=canceled
		wantcode=57014
	else
		kill -9 "$dpid"
		want=failed
		wantcode=38000 # external_routine_exception: "pg_dump failed ... terminated by signal 9"
	fi
	if wait_for_ms $DB "SELECT status = '$want' FROM pgbackups.backups WHERE id = '$id'" 5000; then
		pass "(g) $what: $id is $want ($(backup_field $DB "$id" error))"
	else
		fail "(g) $what: $id is not $want 5 s later: $(describe_backup $DB "$id")"
	fi
	check_eq "(g) $what: error_code" "$(backup_field $DB "$id" error_code)" "$wantcode"
	deadline=$((SECONDS + 3))
	while kill -0 "$dpid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
	if kill -0 "$dpid" 2>/dev/null; then
		fail "(g) $what: pg_dump $dpid still alive: $(ps -o pid,ppid,stat,args -p "$dpid" | tail -n 1)"
	else
		pass "(g) $what: pg_dump $dpid is gone"
	fi
	if wait_for_ms $DB "SELECT count(*) = 0 FROM pg_locks WHERE relation = 'parted'::regclass AND NOT granted" 3000; then
		pass "(g) $what: no session of $id still waits for the lock"
	else
		fail "(g) $what: a session of $id still waits for the lock on parted: $(q $DB "SELECT string_agg(a.pid || ' ' || a.application_name || ' [' || a.query || ']', '; ') FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = 'parted'::regclass AND NOT l.granted")"
	fi
	assert_no_job_files "(g) $what" "$id"
	check_eq "(g) $what: no crash restart" "$(q $DB "SELECT pg_postmaster_start_time()")" "$started"
done
q $DB "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 'parted'::regclass AND mode = 'AccessExclusiveLock' AND granted" >/dev/null
stop_bg "$locker"
wait_for $DB "SELECT count(*) = 0 FROM pg_locks WHERE relation = 'parted'::regclass" 10 || die "the lock on parted is still held"

# === (a3) cancel while streaming a big table ========================================
log "(a3) creating table big with $BIG_ROWS rows"
psql_db $DB -c "CREATE TABLE big (id bigint, a text, b text)" \
	-c "INSERT INTO big SELECT g, md5(g::text), md5((-g)::text) || ' ' || g FROM generate_series(1, $BIG_ROWS) g" >/dev/null
log "(a3) big: $(q $DB "SELECT pg_size_pretty(pg_table_size('big'))")"
id=$(q $DB "SELECT pgbackups.capture(compression => 'zstd:19', parallel => 2)")
if wait_streaming "$id" 120; then
	pass "(a3) $id is streaming big ($(describe_backup $DB "$id"); files: $(job_files $DB "$id" | xargs -r -n1 basename | tr '\n' ' '))"
else
	fail "(a3) $id never streamed big: $(describe_backup $DB "$id")"
fi
nontmp=$(job_files $DB "$id" | grep -v '\.tmp$' || true)
check_eq "(a3) while the job runs, its files all end in .tmp" "$nontmp" ""
# cancel at once: wait_streaming saw a COPY of big active (or its file grow)
t0=$(date +%s%N)
check_eq "(a3) cancel('$id')" "$(q $DB "SELECT pgbackups.cancel('$id')")" "$id"
if wait_for_ms $DB "SELECT status = 'canceled' FROM pgbackups.backups WHERE id = '$id'" 2000; then
	pass "(a3) canceled within 2 s ($((($(date +%s%N) - t0) / 1000000)) ms)"
else
	fail "(a3) not canceled within 2 s: $(describe_backup $DB "$id")"
fi
check_eq "(a3) error_code 57014" "$(backup_field $DB "$id" error_code)" 57014
assert_no_job_files "(a3)" "$id"
if wait_for_ms $DB "SELECT count(*) = 0 FROM pg_stat_activity WHERE query ILIKE 'COPY%TO%' AND state <> 'idle' AND pid <> pg_backend_pid()" 2000; then
	pass "(a3) no COPY of the canceled job is still running"
else
	fail "(a3) $(copy_sessions) COPY session(s) still running 2 s after the cancel"
fi

# === (b) kill -9 of the job worker =============================================
log "(b) kill -9 of the job worker while it streams"
id=$(q $DB "SELECT pgbackups.capture(compression => 'zstd:19', parallel => 2)")
wait_streaming "$id" 120 || fail "(b) $id never streamed"
if pid=$(job_worker_pid $DB "$id" 10); then
	pass "(b) job worker of $id: pid $pid (backend_type 'pgbackups job')"
	pos=$(log_pos)
	kill -9 "$pid"
	log "(b) killed $pid; waiting for the crash restart"
	if crash_restarted "$pos" 60; then
		pass "(b) the server reinitialized after kill -9 of the job worker and accepts connections"
	else
		fail "(b) no crash restart in the server log within 60 s of kill -9"
	fi
	if wait_for $DB "SELECT status = 'failed' FROM pgbackups.backups WHERE id = '$id'" 60; then
		pass "(b) $id is failed after the crash restart"
	else
		fail "(b) $id is not failed 60 s after kill -9: $(describe_backup $DB "$id" 2>&1)"
	fi
	err=$(backup_field $DB "$id" error)
	log "(b) error: $err"
	case "$err" in
	*"interrupted by server restart"*) pass "(b) error mentions 'interrupted by server restart'" ;;
	*) fail "(b) error is [$err], want it to contain 'interrupted by server restart'" ;;
	esac
	check_eq "(b) error_code 57P01" "$(backup_field $DB "$id" error_code)" 57P01
	assert_no_job_files "(b)" "$id"
	check "(b) the server log shows the crash restart" grep -q 'terminated by signal 9' "$SERVER_LOG"
else
	fail "(b) no live 'pgbackups job' worker for $id: $(describe_backup $DB "$id")"
fi

# === (f) a COPY stream's connection is terminated ========================================
log "(f) pg_terminate_backend of a COPY stream's connection"
wait_for $DB "SELECT count(*) = 0 FROM pgbackups.backups WHERE status IN ('pending', 'running')" 30 ||
	fail "jobs still pending or running: $(q $DB "SELECT string_agg(id || ' ' || status, ', ') FROM pgbackups.backups WHERE status IN ('pending', 'running')")"
id=$(q $DB "SELECT pgbackups.capture(compression => 'zstd:19', parallel => 2)")
if wait_streaming "$id" 120 && wait_for $DB "SELECT count(*) > 0 FROM pg_stat_activity WHERE state = 'active' AND query ILIKE 'COPY%big%TO%'" 30; then
	killed=$(q $DB "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE state = 'active' AND query ILIKE 'COPY%big%TO%' AND pid <> pg_backend_pid()")
	log "(f) terminated $killed COPY backend(s) of $id"
	if wait_for $DB "SELECT status = 'failed' FROM pgbackups.backups WHERE id = '$id'" 15; then
		pass "(f) $id failed: $(backup_field $DB "$id" error)"
	else
		fail "(f) $id is not failed 15 s after its COPY connection died: $(describe_backup $DB "$id")"
	fi
	check "(f) an error is recorded" test -n "$(backup_field $DB "$id" error)"
	assert_no_job_files "(f)" "$id"
	if wait_for_ms $DB "SELECT count(*) = 0 FROM pg_stat_activity WHERE query ILIKE 'COPY%TO%' AND state <> 'idle' AND pid <> pg_backend_pid()" 5000; then
		pass "(f) no COPY of the failed job is left running"
	else
		fail "(f) $(copy_sessions) COPY session(s) still running after the job failed"
	fi
	fcode=$(backup_field $DB "$id" error_code)
	ferr=$(backup_field $DB "$id" error)
	log "(f) error_code $fcode"
	# Which of two ends the job sees depends on timing the test cannot
	# control: the terminated backend's FATAL (57P01, admin_shutdown) reaches
	# the job only when the backend was not in the middle of sending a COPY
	# message; else libpq sees the socket close and the job reports
	# connection_failure (08006, "server closed the connection unexpectedly":
	# src/net/pq_util.c pgb_pq_error).  So the recorded message says which
	# one happened, and the code must be exactly the one of that message.
	# On 16+ the streams are helpers that run their COPY in their own
	# process: the terminated one ends with its own FATAL, which it keeps
	# for the leader (stream.c helper_log_hook), "terminating background
	# worker ... due to administrator command" (57P01).
	case "$ferr" in
	*"terminating connection due to administrator command"* | *"terminating background worker"*"due to administrator command"*) fwant=57P01 ;;
	*"server closed the connection unexpectedly"* | *"connection"*"closed"*) fwant=08006 ;;
	*) fwant="(a message naming the terminated connection)" ;;
	esac
	check_eq "(f) error_code is the one of the recorded message [$ferr]" "$fcode" "$fwant"
	try_sql $DB "SELECT pgbackups.wait('$id')"
	check_eq "(f) wait('$id') raises the job's SQLSTATE" "$TRY_STATE" "$fcode"
	check "(f) wait('$id') raises the job's error: $TRY_MSG" grep -q "$id" <<<"$TRY_MSG"
else
	fail "(f) $id never streamed big"
fi

# === (c) pg_ctl restart -m fast during a capture ========================================
log "(c) fast restart during a capture"
wait_for $DB "SELECT count(*) = 0 FROM pgbackups.backups WHERE status IN ('pending', 'running')" 30 ||
	fail "jobs still pending or running: $(q $DB "SELECT string_agg(id || ' ' || status, ', ') FROM pgbackups.backups WHERE status IN ('pending', 'running')")"
id=$(q $DB "SELECT pgbackups.capture(compression => 'zstd:19', parallel => 2)")
wait_streaming "$id" 120 || fail "(c) $id never streamed"
log "(c) $(describe_backup $DB "$id"); files: $(job_files $DB "$id" | xargs -r -n1 basename | tr '\n' ' ')"
t0=$SECONDS
restart_cluster fast
log "(c) restart took $((SECONDS - t0)) s"
check "(c) fast shutdown took less than 10 s" [ $((SECONDS - t0)) -lt 10 ]
if wait_for $DB "SELECT status = 'failed' FROM pgbackups.backups WHERE id = '$id'" 30; then
	pass "(c) $id is failed after the restart"
else
	fail "(c) $id not failed 30 s after the restart: $(describe_backup $DB "$id")"
fi
err=$(backup_field $DB "$id" error)
case "$err" in
*"interrupted by server restart"*) pass "(c) error: $err" ;;
*) fail "(c) error is [$err], want it to contain 'interrupted by server restart'" ;;
esac
check_eq "(c) error_code 57P01" "$(backup_field $DB "$id" error_code)" 57P01
assert_no_job_files "(c)" "$id"
q $DB "DROP TABLE big" >/dev/null
if id=$(q $DB "SELECT pgbackups.capture(wait => true)" 2>"$TESTDIR/capture.err"); then
	check_eq "(c) the next capture ($id) completes" "$(status_of "$id")" completed
else
	fail "(c) the next capture failed: $(cat "$TESTDIR/capture.err")"
fi

# === (d) capture inside a rolled-back transaction =====================================
log "(d) BEGIN; INSERT ...; SELECT pgbackups.capture(wait => true); ROLLBACK;"
n_before=$(q $DB "SELECT count(*) FROM pgbackups.backups")
out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d $DB 2>&1 <<'SQL'
BEGIN;
INSERT INTO small VALUES (-1);
SELECT pgbackups.capture(wait => true, label => 'in a transaction');
ROLLBACK;
SQL
) || fail "(d) the transaction failed: $out"
id=$(tail -n 1 <<<"$out")
log "(d) capture returned [$id]"
check_eq "(d) the row survives the rollback and is completed" "$(q $DB "SELECT status FROM pgbackups.backups WHERE id = '$id' AND label = 'in a transaction'")" completed
check_eq "(d) exactly one row was added" "$(q $DB "SELECT count(*) FROM pgbackups.backups")" "$((n_before + 1))"
check_eq "(d) the rolled-back row is not in the database" "$(q $DB "SELECT count(*) FROM small WHERE id = -1")" 0
if [ "$(backup_field $DB "$id" status)" = completed ]; then
	restore_into "(d)" "$(archive_path $DB "$id")" d_restored
	check_eq "(d) the backup does not hold the uncommitted row" "$(q d_restored "SELECT count(*) FROM small")" 10
fi
out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d $DB -c "BEGIN" -c "SELECT pgbackups.capture(label => 'async in a transaction')" -c "ROLLBACK" 2>&1) ||
	fail "(d) async capture in a transaction failed: $out"
if wait_for $DB "SELECT status = 'completed' FROM pgbackups.backups WHERE label = 'async in a transaction'" 60; then
	pass "(d) capture() without wait inside a rolled-back transaction still completes"
else
	fail "(d) async capture in a rolled-back transaction: $(q $DB "SELECT string_agg(id || ' ' || status, ', ') FROM pgbackups.backups WHERE label = 'async in a transaction'")"
fi

# === (e) a non-superuser operator ===========================================================
log "(e) non-superuser roles"
psql_db postgres <<'SQL' >/dev/null
CREATE ROLE app_owner LOGIN;
GRANT pgbackups_admin TO app_owner;
CREATE ROLE stranger LOGIN;
CREATE DATABASE ownerdb OWNER app_owner;
SQL
q ownerdb "CREATE EXTENSION pgbackups" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -U app_owner -d ownerdb -c "CREATE TABLE mine AS SELECT g AS id FROM generate_series(1, 42) g" >/dev/null
if id=$(psql -X -q -At -v ON_ERROR_STOP=1 -U app_owner -d ownerdb -c "SELECT pgbackups.capture(wait => true)" 2>"$TESTDIR/e.err"); then
	check_eq "(e) app_owner's capture completes" "$(backup_field ownerdb "$id" status)" completed
	check_eq "(e) requested_by" "$(backup_field ownerdb "$id" requested_by)" app_owner
	check_eq "(e) rows" "$(backup_field ownerdb "$id" rows)" 42
	check_eq "(e) app_owner can list it" "$(psql -X -At -U app_owner -d ownerdb -c "SELECT count(*) FROM pgbackups.list() l WHERE l LIKE '$id %'")" 1
else
	fail "(e) app_owner (member of pgbackups_admin) could not capture its database: $(cat "$TESTDIR/e.err")"
fi
n_before=$(q ownerdb "SELECT count(*) FROM pgbackups.backups")
out=$(psql -X -q -At -v VERBOSITY=verbose -U stranger -d ownerdb -c "SELECT pgbackups.capture()" 2>&1) && fail "(e) stranger could capture: $out"
if grep -q 'ERROR:  42501' <<<"$out"; then pass "(e) stranger gets 42501"; else fail "(e) stranger: want 42501, got $out"; fi
expect_sqlstate "(e) stranger: list()" ownerdb 42501 "SET ROLE stranger; SELECT pgbackups.list()"
check_eq "(e) the catalog is unchanged after the refused capture" "$(q ownerdb "SELECT count(*) FROM pgbackups.backups")" "$n_before"

# === (h) a migration that altered a table, then captures and waits ====================
# The job needs ACCESS SHARE on the table the caller's own transaction holds
# ACCESS EXCLUSIVE on: waiting would never end.  The caller must get an error
# (at the latest when a lock wait of the job gives up), not hang.
log "(h) BEGIN; ALTER TABLE mig ...; SELECT pgbackups.capture(wait => true)"
q $DB "CREATE TABLE mig (id integer)" >/dev/null
start=$SECONDS
rc=0
out=$(PGAPPNAME=pgb-test-migration timeout 60 psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d $DB 2>&1 <<'SQL'
BEGIN;
ALTER TABLE mig ADD COLUMN added integer;
SELECT pgbackups.capture(wait => true, label => 'self-blocking');
ROLLBACK;
SQL
) || rc=$?
took=$((SECONDS - start))
hid=$(q $DB "SELECT id FROM pgbackups.backups WHERE label = 'self-blocking'")
if [ "$rc" = 124 ]; then
	fail "(h) capture(wait => true) behind its own transaction's lock was still waiting after 60 s ($(describe_backup $DB "$hid"))"
	# unblock: end the stuck caller, then the job
	q $DB "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgb-test-migration'" >/dev/null
	wait_for $DB "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'pgb-test-migration'" 10 ||
		fail "(h) the stuck caller was not terminated within 10 s"
elif [ "$rc" -ne 0 ] && grep -q 'ERROR' <<<"$out"; then
	# src/api/api.c check_self_deadlock: 40P01, "waiting for a lock held by this transaction"
	check "(h) the caller got 40P01: $(grep -m1 ERROR <<<"$out")" grep -q "ERROR:  40P01: backup $hid is waiting for a lock held by this transaction" <<<"$out"
	check "(h) the caller got an error within 45 s ($took s): $(grep -m1 ERROR <<<"$out")" [ "$took" -le 45 ]
else
	fail "(h) capture(wait => true) behind its own lock returned rc=$rc: $out"
fi
# "The backup continues once this transaction ends" (the error's detail):
# after the caller's ROLLBACK, the job completes
if wait_for $DB "SELECT status IN ('completed', 'failed', 'canceled') FROM pgbackups.backups WHERE id = '$hid'" 60; then
	check_eq "(h) the job of the self-blocking capture completes once the caller's transaction ended" "$(backup_field $DB "$hid" status)" completed
else
	fail "(h) the job of the self-blocking capture never ended: $(describe_backup $DB "$hid")"
	q $DB "SELECT pgbackups.cancel('$hid')" >/dev/null 2>"$TESTDIR/cancel.err" || log "(h) cancel: $(cat "$TESTDIR/cancel.err")"
fi
check_eq "(h) mig is not left locked" "$(q $DB "SELECT count(*) FROM pg_locks WHERE relation = 'mig'::regclass")" 0

check_eq "no .tmp file left anywhere in storage" "$(find "$STORAGE_DIR" -name '*.tmp' | wc -l)" 0
finish
