#!/bin/bash
# 26_lock_timeout: no capture waits forever for a table lock
# (pgbackups.lock_timeout).
# 1. A session holds ACCESS EXCLUSIVE on a table: the capture fails with
#    55P03 within the timeout, naming the table and the process; the lock
#    holder is untouched and the next capture succeeds.
# 2. The hang that used to be possible: a capture is copying a large table
#    when an ALTER TABLE on another table queues behind the capture's ACCESS
#    SHARE lock; the stream that reaches that table would queue behind the
#    ALTER, and the capture would wait for it forever while the application
#    waits behind the ALTER.  Now the capture fails with 55P03 and the ALTER
#    goes through.
# 3. lock_timeout = 0 keeps the old behaviour (wait): the capture completes
#    once the holder commits.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CAT=catalog
start_cluster
q postgres "CREATE DATABASE $CAT" >/dev/null
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE app" >/dev/null
psql_db app >/dev/null <<'SQL'
CREATE TABLE big (id int, a text, b text);
INSERT INTO big SELECT g, md5(g::text) || md5((g + 1)::text), md5((g * 3)::text) FROM generate_series(1, 1500000) g;
CREATE TABLE small (id int);
INSERT INTO small SELECT generate_series(1, 10);
CREATE TABLE mid (id int, a text);
INSERT INTO mid SELECT g, md5(g::text) FROM generate_series(1, 600000) g;
SQL
check_eq "lock_timeout default" "$(q postgres "SELECT setting || unit FROM pg_settings WHERE name = 'pgbackups.lock_timeout'")" "5000ms"
set_conf pgbackups.lock_timeout 1000

# --- 1. a held ACCESS EXCLUSIVE lock ---------------------------------------------
HOLDER_LOG=$TESTDIR/holder.log
bg_psql HOLDER app "BEGIN; LOCK TABLE small IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600); COMMIT" "$HOLDER_LOG"
wait_for app "SELECT count(*) = 1 FROM pg_locks WHERE relation = 'small'::regclass AND mode = 'AccessExclusiveLock' AND granted" 30 ||
	fail "the holder did not get its lock"
HPID=$(q app "SELECT pid FROM pg_locks WHERE relation = 'small'::regclass AND mode = 'AccessExclusiveLock' AND granted")
t0=$SECONDS
try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => true)"
elapsed=$((SECONDS - t0))
check_eq "held lock: the capture fails with 55P03" "$TRY_STATE" 55P03
check "held lock: the message names the table and the timeout ($TRY_MSG)" \
	grep -q 'could not lock table public.small within pgbackups.lock_timeout (1000 ms)' <<<"$TRY_MSG"
B1=$(q $CAT "SELECT max(id) FROM pgbackups.backups")
check_eq "held lock: the backup is failed with 55P03" "$(backup_field $CAT "$B1" "status || ' ' || error_code")" "failed 55P03"
check "held lock: the job's log names the holding process $HPID" \
	grep -q "Process $HPID (user \"postgres\") holds an ACCESS EXCLUSIVE lock on it" \
	<<<"$(q $CAT "SELECT string_agg(message, E'\n') FROM pgbackups.logs('$B1')")"
check "held lock: it gave up within seconds ($elapsed s)" test "$elapsed" -lt 30
check_eq "held lock: the holder still holds its lock" \
	"$(q app "SELECT count(*) FROM pg_locks WHERE pid = $HPID AND relation = 'small'::regclass AND granted")" 1
q app "SELECT pg_terminate_backend($HPID)" >/dev/null
stop_bg "$HOLDER"
wait_for app "SELECT count(*) = 0 FROM pg_locks WHERE relation = 'small'::regclass AND mode = 'AccessExclusiveLock'" 30
try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => true)"
check_eq "held lock: once released, the next capture completes" "$TRY_STATE $(backup_field $CAT "$TRY_OUT" status)" "OK completed"

# --- 2. an ALTER queued behind the capture ------------------------------------
# one stream: big (largest first), then small
try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => false, parallel => 1)"
B2=$TRY_OUT
wait_for app "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'COPY public.big %' AND state = 'active'" 60 ||
	fail "queued ALTER: the stream never started copying big"
ALTER_LOG=$TESTDIR/alter.log
bg_psql ALTER app "ALTER TABLE small ADD COLUMN note text" "$ALTER_LOG"
wait_for app "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'ALTER TABLE small%' AND wait_event_type = 'Lock'" 30 ||
	fail "queued ALTER: the ALTER did not queue behind the capture"
big_copying=$(q app "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY public.big %' AND state = 'active'")
log "queued ALTER: the ALTER waits; the stream is still copying big: $big_copying"
wait_for $CAT "SELECT status IN ('completed', 'failed') FROM pgbackups.backups WHERE id = '$B2'" 120 ||
	fail "queued ALTER: the capture did not end within 120 s"
if [ "$big_copying" = 1 ]; then
	check_eq "queued ALTER: the capture failed with 55P03 instead of waiting forever" \
		"$(backup_field $CAT "$B2" "status || ' ' || error_code")" "failed 55P03"
	check "queued ALTER: its error names the table the stream could not lock" \
		grep -q 'small' <<<"$(backup_field $CAT "$B2" error)"
else
	skip "queued ALTER: the capture's outcome" "big was copied before the ALTER queued (machine too fast for 1.5 M rows)"
fi
wait "$ALTER" 2>/dev/null || true
check_eq "queued ALTER: the ALTER went through" "$(q app "SELECT count(*) FROM information_schema.columns WHERE table_name = 'small' AND column_name = 'note'")" 1

# --- 2b. the same ALTER met by a helper stream ---------------------------------
# two streams, no table split: one copies big, the other mid; the one done
# with mid takes small while the other is still on big.  Which stream takes
# which table depends on when the helpers start.  On PostgreSQL 16+ both
# streams are helpers that run their COPY in their own process
# (stream_local.c) and the leader only assembles the archive; before 16 the
# leader runs one stream over libpq.  The lock wait is bounded the same way
# and the error is the same.
# (The helper's own log line of the error is not checked: the leader, which
# raises the error it recorded, may terminate the helper before it writes it.)
set_conf pgbackups.split_table_size 0
q app "ALTER TABLE small DROP COLUMN note" >/dev/null
try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => false, parallel => 2)"
B2b=$TRY_OUT
# the processes running the two COPYs, read in the poll that first sees both
readers=""
for _ in $(seq 1200); do
	readers=$(q app "SELECT string_agg(backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity WHERE (query LIKE 'COPY %public.big%' OR query LIKE 'COPY %public.mid%') AND state = 'active' HAVING count(*) = 2")
	[ -n "$readers" ] && break
	sleep 0.05
done
[ -n "$readers" ] || fail "helper: the two streams were never seen copying big and mid at once"
bg_psql ALTER app "ALTER TABLE small ADD COLUMN note text" "$ALTER_LOG"
wait_for app "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'ALTER TABLE small%' AND wait_event_type = 'Lock'" 30 ||
	fail "helper: the ALTER did not queue behind the capture"
both=$(q app "SELECT count(*) FROM pg_stat_activity WHERE (query LIKE 'COPY %public.big%' OR query LIKE 'COPY %public.mid%') AND state = 'active'")
log "helper: the ALTER waits; streams copying big or mid: $both; the COPYs ran in: $readers"
if [ "$(q app "SELECT current_setting('server_version_num')::int >= 160000")" = t ]; then
	check_eq "helper: on 16+ both streams run their COPY in their own process" "$readers" "pgbackups stream,pgbackups stream"
	check "helper: on 16+ the job's log says the leader only assembles" \
		grep -q 'the leader only assembles the archive' <<<"$(q $CAT "SELECT string_agg(message, E'\n') FROM pgbackups.logs('$B2b')")"
else
	check_eq "helper: before 16 both COPYs run in backends of libpq connections" "$readers" "client backend,client backend"
fi
wait_for $CAT "SELECT status IN ('completed', 'failed') FROM pgbackups.backups WHERE id = '$B2b'" 120 ||
	fail "helper: the capture did not end within 120 s"
if [ "$both" = 2 ]; then
	check_eq "helper: the capture failed with 55P03 instead of waiting forever" \
		"$(backup_field $CAT "$B2b" "status || ' ' || error_code")" "failed 55P03"
	check "helper: its error names the table and the timeout" \
		grep -q 'could not lock table public.small within pgbackups.lock_timeout (1000 ms)' <<<"$(backup_field $CAT "$B2b" error)"
else
	skip "helper: the capture's outcome" "mid was copied before the ALTER queued (machine too fast)"
fi
wait "$ALTER" 2>/dev/null || true
check_eq "helper: the ALTER went through" "$(q app "SELECT count(*) FROM information_schema.columns WHERE table_name = 'small' AND column_name = 'note'")" 1
set_conf pgbackups.split_table_size 16384

# --- 3. lock_timeout = 0 waits ----------------------------------------------------
set_conf pgbackups.lock_timeout 0
bg_psql HOLDER app "BEGIN; LOCK TABLE small IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600); COMMIT" "$HOLDER_LOG"
wait_for app "SELECT count(*) = 1 FROM pg_locks WHERE relation = 'small'::regclass AND mode = 'AccessExclusiveLock' AND granted" 30
HPID=$(q app "SELECT pid FROM pg_locks WHERE relation = 'small'::regclass AND mode = 'AccessExclusiveLock' AND granted")
try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => false)"
B3=$TRY_OUT
# the coordinator waits for the lock (an event), well past the old 1 s timeout
wait_for app "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'LOCK TABLE %' AND wait_event_type = 'Lock' AND now() - query_start > interval '3 s'" 60 ||
	fail "timeout 0: the coordinator is not waiting for its lock"
check_eq "timeout 0: the capture is still running after 3 s of waiting" "$(backup_field $CAT "$B3" status)" running
q app "SELECT pg_terminate_backend($HPID)" >/dev/null
stop_bg "$HOLDER"
wait_for $CAT "SELECT status IN ('completed', 'failed') FROM pgbackups.backups WHERE id = '$B3'" 120
check_eq "timeout 0: the capture completes once the lock is released" "$(backup_field $CAT "$B3" status)" completed

finish
