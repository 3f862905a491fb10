#!/bin/bash
# 43_verify: pgbackups.verify(id) reads a stored archive end to end without
# restoring it, on file:// and on S3 (s3rver through the fault proxy):
# - a good backup verifies ok (the row: result ok, the archive's SHA-256 and
#   size, tables and rows as captured); the outcome and its time are in the
#   catalog row and shown by info() ("Verified") and list() ("Verified:");
# - one byte of the stored archive changed (file: dd; S3: the object
#   overwritten with boto3): XX001 naming the backup and both hashes,
#   recorded (verify_result 'failed: ...', verify_error_code XX001) although
#   the error rolled the caller's statement back; strict => false returns it
#   as the row; a restore of it then fails (XX001) before anything changes;
# - an archive deleted behind pgbackups' back: the storage's own SQLSTATE
#   (file: 58P01; S3: 58P01 too, the object is not there), recorded;
#   after rescan() marks it missing, verify() is 55000 (not completed);
# - table_rows of the catalog row edited to a different count (the archive
#   itself is intact, so its SHA-256 still matches): XX001 naming the table;
# - unknown id 42704, a restore's id 22023, a role without access 42501;
# - a cancel (pg_cancel_backend) of a running verify: 57014 at once
#   (S3: the archive's GET stalled by the proxy; file: a big archive, when
#   the verify is seen running), nothing recorded; the stall gone, it
#   verifies ok.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}
BIG_ROWS=${BIG_ROWS:-3000000}

require_servers
start_s3rver "$S3_BUCKET"
start_fault_proxy "$S3_PORT"
EXTRA_CONF="$(s3_conf "$FP_ENDPOINT" backups/t43 | grep -v '^pgbackups.storage_url')
pgbackups.http_timeout = 60
pgbackups.http_retry_time = 5"
start_cluster
W=$TESTDIR/w
mkdir -p "$W"

psql_db postgres >/dev/null <<'SQL'
CREATE ROLE other_op LOGIN;
CREATE DATABASE src;
SQL
q src "CREATE TABLE t1 AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1000) g" >/dev/null
q src "CREATE SCHEMA s; CREATE TABLE s.t2 AS SELECT g AS id FROM generate_series(1, 37) g" >/dev/null
q postgres "CREATE DATABASE bigsrc" >/dev/null
q bigsrc "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g + 1)::text) AS h FROM generate_series(1, $BIG_ROWS) g" >/dev/null

capture() { # capture VAR CATDB ARGS
	local __var=$1 out
	if out=$(q "$2" "SELECT pgbackups.capture(database => '${SRC:-src}', wait => true${3:+, $3})" 2>"$W/capture.err"); then
		printf -v "$__var" '%s' "$out"
	else
		fail "$MODE: capture ($3) failed: $(cat "$W/capture.err")"
		printf -v "$__var" '%s' none
	fi
}
obj_get() {
	case "$1" in
	file://*) cp "${1#file://}" "$2" ;;
	s3://*) s3cli get "${1#s3://"$S3_BUCKET"/}" "$2" >/dev/null ;;
	esac
}
obj_put() {
	case "$1" in
	file://*) cp "$2" "${1#file://}" ;;
	s3://*) s3cli put "${1#s3://"$S3_BUCKET"/}" "$2" >/dev/null ;;
	esac
}
obj_rm() {
	case "$1" in
	file://*) rm -f "${1#file://}" ;;
	s3://*) s3cli rm "${1#s3://"$S3_BUCKET"/}" >/dev/null ;;
	esac
}
recorded() { backup_field "$1" "$2" "coalesce(verify_error_code, '-') || ' ' || coalesce(verify_result, '-') || ' ' || (verified_at IS NOT NULL)"; }

run_mode() {
	MODE=$1
	local db=$2 b1 b2 b3 b4 loc sha bad n pid out start
	log "=== $MODE storage, catalog database $db ==="
	q postgres "CREATE DATABASE $db" >/dev/null
	q "$db" "CREATE EXTENSION pgbackups" >/dev/null
	q postgres "GRANT pgbackups_admin TO other_op" >/dev/null 2>&1

	# --- 1. a good backup verifies ok, recorded and shown -------------------------------
	capture b1 "$db" "compression => 'gzip'"
	try_sql "$db" "SELECT concat_ws(' ', backup, result, coalesce(sqlstate, '-'), sha256, archive_size, tables, rows, verified_at IS NOT NULL) FROM pgbackups.verify('$b1')"
	check_eq "$MODE: verify($b1) of a good backup" "$TRY_STATE $TRY_OUT" \
		"OK $(backup_field "$db" "$b1" "concat_ws(' ', id, 'ok', '-', sha256, archive_size, tables, rows, true)")"
	check_eq "$MODE: $b1's outcome recorded" "$(recorded "$db" "$b1")" "- ok true"
	check "$MODE: info($b1) shows Verified ... ok" grep -qE '^Verified\|[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [+-][0-9:]{5} ok$' \
		<<<"$(q "$db" "SELECT field || '|' || value FROM pgbackups.info('$b1')")"
	check "$MODE: list() shows Verified: ... ok under $b1" grep -qE '^ +Verified: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} [+-][0-9:]{5} ok$' \
		<<<"$(q "$db" "SELECT * FROM pgbackups.list()")"
	check_eq "$MODE: verify() by id in upper case" "$(q "$db" "SELECT result FROM pgbackups.verify(upper('$b1'))")" ok

	# --- 2. one byte changed: SHA-256 mismatch, recorded; restore refused --------------
	capture b2 "$db" "compression => 'gzip'"
	loc=$(backup_field "$db" "$b2" location)
	sha=$(backup_field "$db" "$b2" sha256)
	obj_get "$loc" "$W/b2.dump"
	n=$(stat -c %s "$W/b2.dump")
	printf '\x5a' | dd of="$W/b2.dump" bs=1 seek=$((n / 2)) conv=notrunc status=none
	[ "$(sha256sum "$W/b2.dump" | cut -d' ' -f1)" != "$sha" ] ||
		printf '\x5b' | dd of="$W/b2.dump" bs=1 seek=$((n / 2)) conv=notrunc status=none
	bad=$(sha256sum "$W/b2.dump" | cut -d' ' -f1)
	obj_put "$loc" "$W/b2.dump"
	expect_sqlstate "$MODE: verify($b2) with one byte changed" "$db" XX001 "SELECT * FROM pgbackups.verify('$b2')"
	try_sql "$db" "SELECT * FROM pgbackups.verify('$b2')"
	check "$MODE: the error names $b2: $TRY_MSG" grep -q "archive of backup $b2 does not match the SHA-256" <<<"$TRY_MSG"
	check "$MODE: the error gives both hashes ($sha, $bad)" grep -q "Expected SHA-256 $sha, the archive has $bad" <<<"$TRY_ERR"
	check "$MODE: $b2's failure recorded though raised" grep -qE "^XX001 failed: archive of backup $b2 does not match the SHA-256 .* true$" <<<"$(recorded "$db" "$b2")"
	check "$MODE: info($b2) shows Verified ... failed" grep -qE "^Verified\|.* failed: archive of backup $b2" \
		<<<"$(q "$db" "SELECT field || '|' || value FROM pgbackups.info('$b2')")"
	check "$MODE: list() shows the failure" grep -qE "^ +Verified: .* failed: archive of backup $b2" <<<"$(q "$db" "SELECT * FROM pgbackups.list()")"
	check_eq "$MODE: verify($b2, strict => false) returns the failure" \
		"$(q "$db" "SELECT concat_ws(' ', result, sqlstate, sha256) FROM pgbackups.verify('$b2', strict => false)")" "failed XX001 $bad"
	q postgres "CREATE DATABASE tgt_$db" >/dev/null
	q "tgt_$db" "CREATE TABLE keep AS SELECT 42 AS answer" >/dev/null
	try_sql "$db" "SELECT pgbackups.restore('$b2', target => 'tgt_$db', confirm => 'tgt_$db', wait => true)"
	check_eq "$MODE: restore of the changed $b2 fails: $TRY_MSG" "$TRY_STATE" XX001
	check_eq "$MODE: its target is unchanged" "$(q "tgt_$db" "SELECT string_agg(relname, ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace")/$(q "tgt_$db" "SELECT answer FROM keep")" "keep/42"

	# --- 3. an archive deleted behind pgbackups' back -----------------------------------
	capture b3 "$db" ""
	obj_rm "$(backup_field "$db" "$b3" location)"
	expect_sqlstate "$MODE: verify($b3) of a deleted archive" "$db" 58P01 "SELECT * FROM pgbackups.verify('$b3')"
	try_sql "$db" "SELECT * FROM pgbackups.verify('$b3')"
	check "$MODE: it says so: $TRY_MSG" grep -qiE "(no such file|not exist|not found|NoSuchKey)" <<<"$TRY_MSG"
	check "$MODE: recorded as 58P01" grep -q "^58P01 failed: " <<<"$(recorded "$db" "$b3")"
	q "$db" "SELECT * FROM pgbackups.rescan()" >/dev/null
	check_eq "$MODE: rescan() marks $b3 missing" "$(backup_field "$db" "$b3" status)" missing
	expect_sqlstate "$MODE: verify($b3) once missing: not completed" "$db" 55000 "SELECT * FROM pgbackups.verify('$b3')"

	# --- 4. table_rows disagreeing with the archive ------------------------------------
	capture b4 "$db" "compression => 'lz4'"
	check_eq "$MODE: $b4 verifies before the edit" "$(q "$db" "SELECT result FROM pgbackups.verify('$b4')")" ok
	q "$db" "UPDATE pgbackups.backups SET table_rows = jsonb_set(table_rows, '{s.t2}', '36') WHERE id = '$b4'" >/dev/null
	expect_sqlstate "$MODE: verify($b4) with a row count that differs" "$db" XX001 "SELECT * FROM pgbackups.verify('$b4')"
	try_sql "$db" "SELECT * FROM pgbackups.verify('$b4')"
	check "$MODE: the error names table s.t2 and both counts: $TRY_MSG" \
		grep -q "row count of table s.t2 in the archive of backup $b4 is 37, the catalog records 36" <<<"$TRY_MSG"
	check "$MODE: recorded" grep -q "^XX001 failed: row count of table s.t2" <<<"$(recorded "$db" "$b4")"

	# --- 5. refusals ---------------------------------------------------------------------
	expect_sqlstate "$MODE: verify of an unknown id" "$db" 42704 "SELECT * FROM pgbackups.verify('b999')"
	expect_sqlstate "$MODE: verify of a restore's id" "$db" 22023 "SELECT * FROM pgbackups.verify('r001')"
	expect_sqlstate "$MODE: verify by a role that may not read src" \
		"postgresql:///$db?host=$PGHOST&port=$PGPORT&user=other_op" 42501 "SELECT * FROM pgbackups.verify('$b1')"
	expect_sqlstate "$MODE: verify without pgbackups_admin" \
		"postgresql:///$db?host=$PGHOST&port=$PGPORT&user=nobody_$db" 42501 "SELECT * FROM pgbackups.verify('$b1')"
}

cancel_case() { # cancel_case DB ID HOW: cancel a running verify of ID
	local db=$1 id=$2 pid vpid start ms before logf=$W/cancel.$MODE.log
	before=$(recorded "$db" "$id")
	PGAPPNAME=verify43 psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" \
		-c "SELECT result FROM pgbackups.verify('$id')" >"$logf" 2>&1 &
	pid=$!
	track_bg "$pid"
	if ! wait_for_ms postgres "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'verify43' AND state = 'active')" 20000; then
		wait "$pid" 2>/dev/null || true
		skip "$MODE: cancel of a running verify" "the verify of $id ended before it was seen running ($3): $(cat "$logf")"
		return 0
	fi
	vpid=$(q postgres "SELECT pid FROM pg_stat_activity WHERE application_name = 'verify43'")
	start=$(date +%s%N)
	q postgres "SELECT pg_cancel_backend($vpid)" >/dev/null
	wait "$pid" 2>/dev/null || true
	ms=$((($(date +%s%N) - start) / 1000000))
	if [ "$(cat "$logf")" = ok ]; then
		skip "$MODE: cancel of a running verify" "the verify of $id completed before the cancel arrived ($3)"
		return 0
	fi
	check "$MODE: cancel of a running verify ($3): 57014: $(head -n 1 "$logf")" grep -q "ERROR:  57014:" "$logf"
	check "$MODE: the canceled verify ended within 5 s of the cancel ($ms ms)" test "$ms" -lt 5000
	check_eq "$MODE: a canceled verify records nothing" "$(recorded "$db" "$id")" "$before"
}

q postgres "CREATE ROLE nobody_catf LOGIN; CREATE ROLE nobody_cats LOGIN" >/dev/null
run_mode file catf
SRC=bigsrc capture big catf "compression => 'none', parallel => 1"
cancel_case catf "$big" "a $(backup_field catf "$big" archive_size)-byte archive"

set_conf pgbackups.storage_url "s3://$S3_BUCKET/backups/t43"
run_mode s3 cats
capture big cats "compression => 'gzip'"
check_eq "s3: $big verifies" "$(q cats "SELECT result FROM pgbackups.verify('$big')")" ok
fault_set "{\"rules\": [{\"action\": \"stall\", \"seconds\": 120, \"method\": \"GET\", \"path_re\": \"/$big-[^/]*\\\\.dump\$\"}]}"
cancel_case cats "$big" "its archive's GET stalled"
fault_clear
check_eq "s3: $big verifies once the stall is gone" "$(q cats "SELECT result FROM pgbackups.verify('$big')")" ok
finish
