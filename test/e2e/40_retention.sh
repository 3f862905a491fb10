#!/bin/bash
# 40_retention: with pgbackups.manual_retention = 3, five manual captures leave
# the newest three (the archives of the older ones are deleted); a failed
# capture (unwritable storage) expires nothing; the next success expires one.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DB=ret
start_cluster
q postgres "CREATE DATABASE $DB" >/dev/null
q $DB "CREATE EXTENSION pgbackups" >/dev/null
q $DB "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1000) g" >/dev/null

set_conf pgbackups.manual_retention 3
check_eq "manual_retention after reload" "$(q $DB "SHOW pgbackups.manual_retention")" 3

completed_ids() { q $DB "SELECT string_agg(id, ' ' ORDER BY num) FROM pgbackups.backups WHERE status = 'completed' AND kind = 'manual'"; }
all_ids() { q $DB "SELECT string_agg(id || ':' || status, ' ' ORDER BY num) FROM pgbackups.backups"; }

declare -A PATHS
ids=()
for i in 1 2 3 4 5; do
	if id=$(q $DB "SELECT pgbackups.capture(wait => true, label => 'round $i')" 2>"$TESTDIR/capture.err"); then
		ids+=("$id")
		PATHS[$id]=$(archive_path $DB "$id")
		log "capture $i: $id -> ${PATHS[$id]}; completed now: $(completed_ids)"
	else
		fail "capture $i failed: $(cat "$TESTDIR/capture.err")"
	fi
done
check_eq "five captures" "${#ids[@]}" 5
# expiry runs in the job right after its completion is recorded: wait for
# that event (three completed rows; the check below names which)
wait_for $DB "SELECT count(*) = 3 FROM pgbackups.backups WHERE status = 'completed'" 10 ||
	log "still $(q $DB "SELECT count(*) FROM pgbackups.backups WHERE status = 'completed'") completed backups after 10 s"
check_eq "the newest three remain" "$(completed_ids)" "${ids[*]:2:3}"
check_eq "no other rows remain" "$(all_ids)" "${ids[2]}:completed ${ids[3]}:completed ${ids[4]}:completed"
for id in "${ids[@]:0:2}"; do
	check "archive of expired $id is deleted" test ! -e "${PATHS[$id]}"
	check_eq "no file of expired $id" "$(job_files $DB "$id")" ""
done
for id in "${ids[@]:2:3}"; do
	check "archive of kept $id exists" test -s "${PATHS[$id]}"
done

# --- a failed capture expires nothing ---------------------------------------------------
RO=$TESTDIR/readonly
mkdir -p "$RO"
chmod 555 "$RO"
set_conf pgbackups.storage_url "file://$RO"
check_eq "storage_url points to the read-only directory" "$(q $DB "SHOW pgbackups.storage_url")" "file://$RO"
# EACCES on the storage directory: insufficient_privilege (errcode_for_file_access)
try_sql $DB "SELECT pgbackups.capture(wait => true, label => 'doomed')"
log "capture into $RO: $TRY_STATE $TRY_MSG"
check_eq "capture(wait => true) raised the job's error: $TRY_MSG" "$TRY_STATE" 42501
failed_id=$(q $DB "SELECT id FROM pgbackups.backups WHERE label = 'doomed'")
if [ -n "$failed_id" ]; then
	check_eq "the doomed capture $failed_id is failed with error_code 42501" "$(backup_field $DB "$failed_id" "status || ' ' || error_code")" "failed 42501"
	check "its error is recorded: $(backup_field $DB "$failed_id" error)" test -n "$(backup_field $DB "$failed_id" error)"
	check "its logs() has lines" test "$(q $DB "SELECT count(*) FROM pgbackups.logs('$failed_id')")" -gt 0
else
	fail "no row for the doomed capture: $(all_ids)"
fi
try_sql $DB "SELECT pgbackups.wait('$failed_id')"
check_eq "wait('$failed_id') raises the job's SQLSTATE" "$TRY_STATE" 42501
check "wait('$failed_id') raises the job's error: $TRY_MSG" grep -q "$failed_id" <<<"$TRY_MSG"
check_eq "a failed capture expires nothing" "$(completed_ids)" "${ids[*]:2:3}"
for id in "${ids[@]:2:3}"; do
	check "archive of $id still exists" test -s "${PATHS[$id]}"
done
check_eq "nothing was written in the read-only directory" "$(find "$RO" -mindepth 1 | wc -l)" 0

# --- back to the default storage; a missing pg_dump fails cleanly too -------------------
q $DB "ALTER SYSTEM RESET pgbackups.storage_url" >/dev/null
set_conf pgbackups.pg_dump_path /nonexistent/bin/pg_dump
try_sql $DB "SELECT pgbackups.capture(wait => true, label => 'no pg_dump')"
check_eq "capture with a missing pg_dump raises undefined_file: $TRY_MSG" "$TRY_STATE" 58P01
nopg=$(q $DB "SELECT id FROM pgbackups.backups WHERE label = 'no pg_dump'")
check_eq "capture with a missing pg_dump ($nopg) is failed, error_code 58P01" "$(backup_field $DB "$nopg" "status || ' ' || error_code")" "failed 58P01"
err=$(backup_field $DB "$nopg" error)
check "its error names pg_dump: $err" grep -q 'pg_dump' <<<"$err"
check_eq "no file of $nopg" "$(job_files $DB "$nopg")" ""
check_eq "it expired nothing" "$(completed_ids)" "${ids[*]:2:3}"
q $DB "ALTER SYSTEM RESET pgbackups.pg_dump_path" >/dev/null

# --- disk full: storage on a 2 MB tmpfs --------------------------------------------------
TINY=$TESTDIR/tiny
if mount_tmpfs "$TINY" 2m; then
	q postgres "CREATE DATABASE bulky" >/dev/null
	q bulky "CREATE TABLE noise AS SELECT g, md5(random()::text) || md5(random()::text) AS r FROM generate_series(1, 100000) g" >/dev/null
	set_conf pgbackups.storage_url "file://$TINY"
	try_sql $DB "SELECT pgbackups.capture(database => 'bulky', compression => 'none', wait => true, label => 'disk full')"
	check_eq "disk full: capture(wait => true) raises disk_full: $TRY_MSG" "$TRY_STATE" 53100
	full=$(q $DB "SELECT id FROM pgbackups.backups WHERE label = 'disk full'")
	check_eq "disk full: $full is failed, error_code 53100" "$(backup_field $DB "$full" "status || ' ' || error_code")" "failed 53100"
	err=$(backup_field $DB "$full" error)
	check "disk full: the error says so: $err" grep -qi 'no space left' <<<"$err"
	check_eq "disk full: no file of $full left on the full disk" "$(find "$TINY" -type f | wc -l)" 0
	check_eq "disk full: the server is fine" "$(q postgres "SELECT 1")" 1
	check_eq "disk full: it expired nothing" "$(completed_ids)" "${ids[*]:2:3}"
	q $DB "ALTER SYSTEM RESET pgbackups.storage_url" >/dev/null
elif [ "$(id -u)" -eq 0 ]; then
	fail "disk full: as root, mounting a 2 MB tmpfs on $TINY failed"
else
	skip "disk full" "not root: cannot mount a tmpfs"
fi
reload_conf "SELECT 1"
check_eq "storage_url is the default again" "$(q $DB "SELECT setting IS NOT DISTINCT FROM boot_val FROM pg_settings WHERE name = 'pgbackups.storage_url'")" t
check_eq "pg_dump_path is the default again" "$(q $DB "SELECT setting IS NOT DISTINCT FROM boot_val FROM pg_settings WHERE name = 'pgbackups.pg_dump_path'")" t
if id=$(q $DB "SELECT pgbackups.capture(wait => true, label => 'round 6')" 2>"$TESTDIR/capture.err"); then
	wait_for $DB "SELECT count(*) = 3 FROM pgbackups.backups WHERE status = 'completed'" 10 ||
		log "still $(q $DB "SELECT count(*) FROM pgbackups.backups WHERE status = 'completed'") completed backups after 10 s"
	check_eq "after one more success: the newest three completed" "$(completed_ids)" "${ids[3]} ${ids[4]} $id"
	check "archive of ${ids[2]} is deleted" test ! -e "${PATHS[${ids[2]}]}"
	check_eq "the failed row is kept (retention counts completed backups)" "$(backup_field $DB "$failed_id" status)" failed
else
	fail "capture 6 failed: $(cat "$TESTDIR/capture.err")"
fi

# --- wait() for a job started without waiting ----------------------------------------
id=$(q $DB "SELECT pgbackups.capture(label => 'waited for')")
check_eq "wait('$id') returns the final status" "$(q $DB "SELECT pgbackups.wait('$id')" 2>/dev/null)" completed
check_eq "wait('$id') again" "$(q $DB "SELECT pgbackups.wait('$id')" 2>/dev/null)" completed
PATHS[$id]=$(archive_path $DB "$id")
check_eq "retention after it: the newest three" "$(completed_ids)" "${ids[4]} $(q $DB "SELECT string_agg(id, ' ' ORDER BY num) FROM pgbackups.backups WHERE label IN ('round 6', 'waited for')")"

# --- delete() of a kept backup removes its archive -------------------------------------
victim=${ids[4]}
check_eq "delete('$victim')" "$(q $DB "SELECT pgbackups.delete('$victim')")" "$victim"
check "archive of deleted $victim is gone" test ! -e "${PATHS[$victim]}"
check_eq "row of deleted $victim is gone" "$(q $DB "SELECT count(*) FROM pgbackups.backups WHERE id = '$victim'")" 0
expect_sqlstate "delete('$victim') again" $DB 42704 "SELECT pgbackups.delete('$victim')"
maxnum=$(q $DB "SELECT max(num) FROM pgbackups.backups")
next=$(q $DB "SELECT pgbackups.capture(wait => true)" 2>"$TESTDIR/capture.err") || log "capture: $(cat "$TESTDIR/capture.err")"
check_eq "ids are never reused: the next id after deletes and expiry" "$next" "$(printf 'b%03d' $((maxnum + 1)))"

check_eq "no .tmp file left in storage" "$(find "$STORAGE_DIR" -name '*.tmp' | wc -l)" 0
finish
