#!/bin/bash
# 65_restore_ops: restores in operation.  The target keeps its encoding and
# locale (a LATIN1/C database restored from a UTF8 archive equals pg_restore's
# result; an archive with characters LATIN1 lacks fails and changes nothing);
# a backup whose archive file is gone fails cleanly; a restore survives its
# wait => true caller being terminated; two restores into one target at once
# leave it equal to exactly one of the two backups; no other role can connect
# to the staging database; clients connecting to the target all the time
# leave it either as it was or as the backup; with max_workers = 1 a
# restore queued behind a capture stays pending and can be canceled before it
# starts.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120} # seconds for one restore call

A=$LIB_DIR/data/archives
CAT="cat"

start_cluster
W=$TESTDIR/ops
mkdir -p "$W"
cp "$A/pg15_seek.dump" "$W/"
chmod 755 "$W"
chmod 644 "$W"/*.dump
[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$W"
psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE cat;
CREATE DATABASE one;
CREATE DATABASE two;
CREATE DATABASE jp;
SQL
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
q one "CREATE TABLE t AS SELECT g AS id, 'one' AS src FROM generate_series(1, 50000) g; CREATE INDEX ON t (id); CREATE TABLE only_in_one (x int)" >/dev/null
q two "CREATE TABLE t AS SELECT g AS id, 'two' AS src FROM generate_series(1, 60000) g; CREATE INDEX ON t (src); CREATE TABLE only_in_two (y int)" >/dev/null
q jp "CREATE TABLE names (n text); INSERT INTO names VALUES ('plain'), ('日本')" >/dev/null
B_ONE=$(q $CAT "SELECT pgbackups.capture(database => 'one', wait => true)" 2>/dev/null)
B_TWO=$(q $CAT "SELECT pgbackups.capture(database => 'two', wait => true)" 2>/dev/null)
B_JP=$(q $CAT "SELECT pgbackups.capture(database => 'jp', wait => true)" 2>/dev/null)
q postgres "CREATE DATABASE slow" >/dev/null
q slow "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 600000) g; CREATE INDEX ON t (h)" >/dev/null
B_SLOW=$(q $CAT "SELECT pgbackups.capture(database => 'slow', wait => true)" 2>/dev/null)
log "backups: one $B_ONE, two $B_TWO, jp $B_JP"

same_as() { # same_as LABEL FILE DB: DB's fingerprint equals FILE
	if db_fingerprint "$3" | diff -u "$2" - >"$W/same.diff"; then
		pass "$1"
	else
		fail "$1: $(grep '^[-+][^-+]' "$W/same.diff" | head -n 6)"
	fi
}

# === encoding and locale of the target ===============================================
psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE t_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE b_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
SQL
if pg_restore --no-owner --no-acl -d b_latin1 "$W/pg15_seek.dump" 2>"$W/b_latin1.err"; then
	pass "oracle: pg_restore into a LATIN1 database"
else
	fail "oracle: pg_restore into LATIN1: $(head -c 300 "$W/b_latin1.err")"
fi
try_sql $CAT "SELECT pgbackups.restore_from_url('file://$W/pg15_seek.dump', target => 't_latin1', confirm => 't_latin1', wait => true)"
check_eq "a UTF8 archive restores into a LATIN1 database" "$TRY_STATE" OK
if [ "$TRY_STATE" = OK ]; then
	check_eq "the target keeps its encoding and locale" \
		"$(q postgres "SELECT pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype FROM pg_database WHERE datname = 't_latin1'")" "LATIN1 C C"
	compare_dbs "LATIN1 target: engine vs pg_restore" b_latin1 t_latin1
fi
db_fingerprint t_latin1 >"$W/latin1.before"
try_sql $CAT "SELECT pgbackups.restore('$B_JP', target => 't_latin1', confirm => 't_latin1', wait => true)"
if [ "$TRY_STATE" = OK ]; then
	fail "an archive with characters LATIN1 lacks restored into LATIN1: $(q t_latin1 "SELECT string_agg(n, ',') FROM names" 2>&1)"
else
	# the COPY into the staging database fails: untranslatable_character
	check_eq "an archive with characters LATIN1 lacks fails: $TRY_MSG" "$TRY_STATE" 22P05
fi
same_as "... and the LATIN1 target is as it was" "$W/latin1.before" t_latin1
check_eq "no staging database left" "$(staging_dbs)" ""

# === the archive file of a backup is gone ==============================================
B_GONE=$(q $CAT "SELECT pgbackups.capture(database => 'one', wait => true)" 2>/dev/null)
rm -f "$(archive_path $CAT "$B_GONE")"
q postgres "CREATE DATABASE t_gone" >/dev/null
q t_gone "CREATE TABLE mine AS SELECT 1 AS x" >/dev/null
db_fingerprint t_gone >"$W/gone.before"
try_sql $CAT "SELECT pgbackups.restore('$B_GONE', target => 't_gone', confirm => 't_gone', wait => true)"
if [ "$TRY_STATE" = OK ]; then
	fail "restore of $B_GONE whose archive file was removed succeeded"
else
	check_eq "restore of $B_GONE whose archive file was removed fails with undefined_file: $TRY_MSG" "$TRY_STATE" 58P01
	check "... the error names the archive or the backup" grep -qE "$B_GONE|\\.dump" <<<"$TRY_MSG"
fi
same_as "... and the target is as it was" "$W/gone.before" t_gone
check_eq "... no staging database left" "$(staging_dbs)" ""

# === the waiting caller is terminated: the restore goes on ==================================
q postgres "CREATE DATABASE t_orphan" >/dev/null
caller=""
bg_psql caller $CAT "SET application_name = 'restore_caller'; SELECT pgbackups.restore('$B_SLOW', target => 't_orphan', confirm => 't_orphan', wait => true)" "$W/caller.log"
if wait_for $CAT "SELECT status = 'running' FROM pgbackups.restores WHERE target = 't_orphan'" 30; then
	rid=$(q $CAT "SELECT id FROM pgbackups.restores WHERE target = 't_orphan'")
	q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'restore_caller'" >/dev/null
	check_eq "the caller was terminated while $rid ran" "$(job_field $CAT "$rid" status)" running
	if wait_for $CAT "SELECT status IN ('completed', 'failed', 'canceled') FROM pgbackups.restores WHERE id = '$rid'" 90; then
		check_eq "a restore whose waiting caller was terminated completes ($rid)" "$(job_field $CAT "$rid" status)" completed
		compare_dbs "orphaned restore" slow t_orphan
	else
		fail "$rid did not finish: $(describe_job $CAT "$rid")"
	fi
else
	fail "the restore of the terminated caller was never recorded: $(cat "$W/caller.log")"
fi
stop_bg "$caller"

# === two restores into one target at once ===============================================
q postgres "CREATE DATABASE t_conc" >/dev/null
q t_conc "CREATE TABLE before_both AS SELECT 1 AS x" >/dev/null
{
	schema_text one
	data_digest one
} >"$W/one.txt"
{
	schema_text two
	data_digest two
} >"$W/two.txt"
# both calls are accepted (the jobs race; the swap decides): a refusal is a failure
r1=$(q $CAT "SELECT pgbackups.restore('$B_ONE', target => 't_conc', confirm => 't_conc')" 2>&1) || { fail "concurrent: restore of $B_ONE refused: $r1"; r1=""; }
r2=$(q $CAT "SELECT pgbackups.restore('$B_TWO', target => 't_conc', confirm => 't_conc')" 2>&1) || { fail "concurrent: restore of $B_TWO refused: $r2"; r2=""; }
log "concurrent restores into t_conc: [$r1] [$r2]"
for r in $r1 $r2; do
	[[ $r =~ ^r[0-9]+$ ]] || continue
	wait_for $CAT "SELECT status IN ('completed', 'failed', 'canceled') FROM pgbackups.restores WHERE id = '$r'" 120 ||
		fail "concurrent: $r did not finish: $(describe_job $CAT "$r")"
	log "concurrent: $(describe_job $CAT "$r")"
done
{
	schema_text t_conc
	data_digest t_conc
} >"$W/conc.txt"
if diff -q "$W/one.txt" "$W/conc.txt" >/dev/null; then
	got=one
elif diff -q "$W/two.txt" "$W/conc.txt" >/dev/null; then
	got=two
else
	got="a mix"
fi
check "two restores at once leave the target equal to exactly one of the backups (it equals $got)" test "$got" != "a mix"
# Which restore swapped in last is not recorded: the swap commits in database
# postgres and each record is completed afterwards in the catalog, so two
# restores finishing together may record finished_at in the other order (seen
# once in CI).  The winner must be a backup whose restore completed.
completed=$(q $CAT "SELECT coalesce(string_agg(DISTINCT b.database, ' ' ORDER BY b.database), '') FROM pgbackups.restores r JOIN pgbackups.backups b ON b.id = r.backup WHERE r.target = 't_conc' AND r.status = 'completed'")
check "... and it is the backup of a restore that completed ($got in [$completed])" grep -qw -- "$got" <<<"$completed"
check_eq "... no staging database left" "$(staging_dbs)" ""

# === the staging database is the target owner's alone ======================================
q postgres "CREATE ROLE stranger LOGIN" >/dev/null
q postgres "CREATE DATABASE t_staging" >/dev/null
rs=$(q $CAT "SELECT pgbackups.restore('$B_SLOW', target => 't_staging', confirm => 't_staging')")
if wait_for postgres "SELECT count(*) > 0 FROM pg_database WHERE $(staging_match "$rs")" 30; then
	sdb=$(q postgres "SELECT datname FROM pg_database WHERE $(staging_match "$rs")")
	check_eq "the staging database $sdb: stranger has no CONNECT privilege" \
		"$(q postgres "SELECT has_database_privilege('stranger', '$sdb', 'CONNECT')" 2>&1)" f
	if out=$(psql -X -q -At -U stranger -d "$sdb" -c "CREATE TABLE planted (x int)" 2>&1); then
		fail "another role connected to the staging database $sdb and created a table"
	else
		# the refusal itself (42501 at connection time), not any failure to
		# connect (a database gone, no server)
		check "another role cannot connect to the staging database $sdb: $(grep -m1 FATAL <<<"$out")" \
			grep -q "FATAL:  permission denied for database \"$sdb\"" <<<"$out"
	fi
else
	fail "no staging database of $rs seen: $(describe_job $CAT "$rs")"
fi
wait_for $CAT "SELECT status IN ('completed', 'failed', 'canceled') FROM pgbackups.restores WHERE id = '$rs'" 90 ||
	fail "$rs did not end within 90 s: $(describe_job $CAT "$rs")"
check_eq "... and $rs completes" "$(job_field $CAT "$rs" status)" completed
check_eq "... without a planted table" "$(q t_staging "SELECT to_regclass('public.planted') IS NULL" 2>&1)" t

# === clients keep connecting to the target during the restore ================================
# The swap terminates the target's sessions and renames it; a session that
# slips in makes the rename fail and the swap is retried.  Whatever happens,
# the target ends either as it was or as the backup, never in between.
# Genuinely nondeterministic: the restore completes unless sessions slip in
# before every one of the swap's attempts (src/restore/dbswap.c SWAP_ATTEMPTS); it
# then fails, and only with object_in_use (55006).
q postgres "CREATE DATABASE t_busy" >/dev/null
q t_busy "CREATE TABLE mine AS SELECT g AS x FROM generate_series(1, 1000) g" >/dev/null
db_fingerprint t_busy >"$W/busy.before"
{
	schema_text slow
	data_digest slow
} >"$W/slow.txt"
pgbench -n -C -c 4 -j 2 -T 30 -f <(echo 'SELECT count(*) FROM pg_class;') t_busy >"$W/busy.pgbench" 2>&1 &
busy_pid=$!
track_bg "$busy_pid"
wait_for postgres "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = 't_busy' AND application_name = 'pgbench'" 20 ||
	fail "pgbench connections to t_busy not seen within 20 s: $(tail -n 3 "$W/busy.pgbench")"
try_sql $CAT "SELECT pgbackups.restore('$B_SLOW', target => 't_busy', confirm => 't_busy', wait => true)"
rb=$(q $CAT "SELECT id FROM pgbackups.restores WHERE target = 't_busy' ORDER BY num DESC LIMIT 1" 2>/dev/null || true)
log "restore under a connection storm: $TRY_STATE $TRY_MSG; $(describe_job $CAT "$rb")"
stop_bg "$busy_pid"
{
	schema_text t_busy
	data_digest t_busy
} >"$W/busy.after.txt"
if [ "$TRY_STATE" = OK ]; then
	check "under a connection storm the restore completed and the target equals the backup" diff -q "$W/slow.txt" "$W/busy.after.txt"
else
	check_eq "under a connection storm the restore failed with object_in_use: $TRY_MSG" "$TRY_STATE" 55006
	same_as "under a connection storm the restore failed ($TRY_STATE) and the target is as it was" "$W/busy.before" t_busy
fi
check_eq "... no staging or replaced database left" "$(staging_dbs)" ""

# === max_workers = 1: a restore queued behind a capture ====================================
set_conf pgbackups.max_workers 1
q one "CREATE TABLE locked (i int)" >/dev/null
locker=""
bg_psql locker one "BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;"
wait_for one "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'locked'::regclass AND granted" 20 || die "no lock"
cap=$(q $CAT "SELECT pgbackups.capture(database => 'one')")
wait_for $CAT "SELECT status = 'running' FROM pgbackups.backups WHERE id = '$cap'" 30 || fail "capture $cap never ran"
q postgres "CREATE DATABASE t_queued" >/dev/null
q t_queued "CREATE TABLE mine AS SELECT 2 AS x" >/dev/null
db_fingerprint t_queued >"$W/queued.before"
if rq=$(q $CAT "SELECT pgbackups.restore('$B_ONE', target => 't_queued', confirm => 't_queued')" 2>"$W/queued.err"); then
	# (instantaneous: it must be pending now; that a queued restore waits for
	# the capture is shown exactly below from the recorded times of $rq2)
	check_eq "with max_workers = 1 and a capture running, $rq stays pending" "$(job_field $CAT "$rq" status)" pending
	check_eq "cancel('$rq') of the pending restore" "$(q $CAT "SELECT pgbackups.cancel('$rq')" 2>&1)" "$rq"
	wait_for $CAT "SELECT status = 'canceled' FROM pgbackups.restores WHERE id = '$rq'" 10 ||
		log "$rq not canceled 10 s after cancel(): $(describe_job $CAT "$rq")"
	check_eq "$rq is canceled" "$(job_field $CAT "$rq" status)" canceled
	check_eq "$rq never started" "$(job_field $CAT "$rq" "started_at IS NULL")" t
	same_as "the target of the canceled queued restore is as it was" "$W/queued.before" t_queued
else
	fail "restore() with max_workers = 1: $(cat "$W/queued.err")"
fi
# a second queued restore is left to run: it may start only once the capture ended
q postgres "CREATE DATABASE t_queued2" >/dev/null
rq2=$(q $CAT "SELECT pgbackups.restore('$B_ONE', target => 't_queued2', confirm => 't_queued2')" 2>"$W/queued2.err") ||
	fail "restore() into t_queued2: $(cat "$W/queued2.err")"
check_eq "$rq2 is pending behind $cap" "$(job_field $CAT "$rq2" status)" pending
check_eq "cancel('$cap') of the capture behind the lock" "$(q $CAT "SELECT pgbackups.cancel('$cap')" 2>&1)" "$cap"
q one "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 'locked'::regclass AND granted" >/dev/null
stop_bg "$locker"
if wait_for $CAT "SELECT status = 'canceled' FROM pgbackups.backups WHERE id = '$cap'" 10; then
	pass "$cap is canceled"
else
	fail "$cap not canceled: $(describe_backup $CAT "$cap")"
fi
if wait_for $CAT "SELECT status IN ('completed', 'failed', 'canceled') FROM pgbackups.restores WHERE id = '$rq2'" 90; then
	check_eq "$rq2 completes once the worker is free" "$(job_field $CAT "$rq2" status)" completed
else
	fail "$rq2 did not end: $(describe_job $CAT "$rq2")"
fi
# exact: both times are set by the workers (the capture's before its worker
# gave the only slot back, the restore's after its worker took it)
check_eq "$rq2 started only after $cap finished (max_workers = 1)" \
	"$(q $CAT "SELECT r.started_at >= b.finished_at FROM pgbackups.restores r, pgbackups.backups b WHERE r.id = '$rq2' AND b.id = '$cap'")" t
reload_conf "ALTER SYSTEM RESET pgbackups.max_workers"
check_eq "no staging database left" "$(staging_dbs)" ""

finish
