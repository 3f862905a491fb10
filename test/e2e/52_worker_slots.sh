#!/bin/bash
# 52_worker_slots: a restore never fails for lack of a background worker slot
# (issue 12).  With max_worker_processes = 4 (and no logical replication
# launcher): the pgbackups launcher, cat's scheduler, a capture blocked on a
# lock and a restore's leader take all four.  The restore waits for a slot
# and says so in its log (no fixed wait: the test waits for that log line),
# the capture is released, and the restore then completes with the source's
# data.  A restore asking for 3 workers when one slot is free runs with one
# and logs "started 1 of 3".
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}

EXTRA_CONF="max_worker_processes = 4
max_logical_replication_workers = 0
max_parallel_workers = 0" start_cluster
psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE cat;
CREATE DATABASE src;
CREATE DATABASE tgt;
CREATE DATABASE tgt2;
SQL
q cat "CREATE EXTENSION pgbackups" >/dev/null
q src "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 20000) g" >/dev/null
q src "CREATE TABLE blocker (x int)" >/dev/null
try_sql cat "SELECT pgbackups.capture('src', wait => true)"
check_eq "capture of src" "$TRY_STATE $TRY_OUT" "OK b001"
workers() { q postgres "SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity WHERE backend_type LIKE 'pgbackups%'"; }
check_eq "idle: the launcher and cat's scheduler" "$(workers)" "pgbackups launcher,pgbackups scheduler"

# hold an ACCESS EXCLUSIVE lock on src.blocker: the next capture's job worker waits for it
exec 7> >(psql -X -q -d src >/dev/null 2>&1)
track_bg $!
echo "BEGIN; LOCK TABLE blocker IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600);" >&7 # ended by pg_terminate_backend below
wait_for src "SELECT count(*) = 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'blocker' AND l.mode = 'AccessExclusiveLock' AND l.granted" 30 ||
	fail "the blocking session did not take its lock"
B2=$(q cat "SELECT pgbackups.capture('src', parallel => 1)")
wait_for src "SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'blocker' AND NOT l.granted" 60 ||
	fail "capture $B2 does not wait for the lock"
check_eq "$B2 is running (blocked)" "$(q cat "SELECT status FROM pgbackups.backups WHERE id = '$B2'")" running

R1=$(q cat "SELECT pgbackups.restore('b001', target => 'tgt', confirm => 'tgt', parallel => 2)")
if wait_for cat "SELECT count(*) = 1 FROM pgbackups.logs WHERE job_id = '$R1' AND message LIKE 'waiting for a background worker slot%'" 60; then
	pass "$R1 waits for a background worker slot and says so"
else
	fail "$R1 did not log that it waits for a slot: $(q cat "SELECT string_agg(message, ' | ' ORDER BY logged_at) FROM pgbackups.logs WHERE job_id = '$R1'")"
fi
check_eq "$R1 is still running while it waits (not failed)" "$(q cat "SELECT status FROM pgbackups.restores WHERE id = '$R1'")" running
check_eq "every worker slot is in use" "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pgbackups%'")" 4

# release the lock (end the session holding it): the capture ends, its slot frees, the restore goes on
check_eq "the blocking session is terminated" "$(q postgres "SELECT bool_and(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = 'src' AND l.mode = 'AccessExclusiveLock' AND l.granted AND l.locktype = 'relation'")" t
exec 7>&-
try_sql cat "SELECT pgbackups.wait('$B2')"
check_eq "$B2 completes once the lock is gone" "$TRY_STATE $TRY_OUT" "OK completed"
try_sql cat "SELECT pgbackups.wait('$R1')"
check_eq "$R1 completes after waiting for a slot" "$TRY_STATE $TRY_OUT" "OK completed"
check_eq "$R1 logged the free slot" "$(q cat "SELECT count(*) FROM pgbackups.logs WHERE job_id = '$R1' AND message = 'a background worker slot is free: restore workers start'")" 1
check_eq "tgt holds src's rows" "$(q tgt "SELECT count(*) || ' ' || md5(string_agg(h, ',' ORDER BY id)) FROM t")" \
	"$(q src "SELECT count(*) || ' ' || md5(string_agg(h, ',' ORDER BY id)) FROM t")"

# one slot free (launcher, scheduler, the restore's leader): 3 workers asked, 1 used, logged
try_sql cat "SELECT pgbackups.restore('b001', target => 'tgt2', confirm => 'tgt2', parallel => 3, wait => true)"
check_eq "a restore asking for 3 workers with one slot free completes" "$TRY_STATE" OK
R2=$TRY_OUT
check_eq "$R2 logs how many workers it used" \
	"$(q cat "SELECT count(*) FROM pgbackups.logs WHERE job_id = '$R2' AND message LIKE 'started 1 of 3 restore workers%'")" 1
check_eq "tgt2 holds src's rows" "$(q tgt2 "SELECT count(*) FROM t")" 20000

finish
