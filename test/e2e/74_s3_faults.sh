#!/bin/bash
# 74_s3_faults: S3 storage through test/servers/fault_proxy.py in front of
# s3rver.  Transient faults are retried and the capture completes with an
# object whose SHA-256 is the catalog's: 503 on part uploads, 500 on
# CreateMultipartUpload, connection resets on parts, 500 and a reset on
# CompleteMultipartUpload, a part stalled longer than pgbackups.http_timeout,
# 400 RequestTimeout, 503 on the HEAD that precedes an upload, and the same
# on a single-PUT capture.  A restore from S3 survives 503s, resets,
# truncated bodies and a stall on its GETs and equals the source.
# Permanent faults fail fast (well under pgbackups.http_retry_time) with an
# error naming the bucket and the key and no secret: 403 on parts (the
# upload is aborted, nothing is left at the key), 403 on
# CreateMultipartUpload, 404 on a single PUT, 403 and a vanished object on a
# restore (target untouched).  Endless 503s give up after about
# http_retry_time; a capture canceled while a part hangs stops and aborts.
# Every multipart upload started (POST ?uploads) is completed or aborted
# (DELETE ?uploadId) per the proxy's log.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}
NOISE_ROWS=${NOISE_ROWS:-170000} # ~12 MB of md5 text: 3 parts of 5 MiB
RETRY=20                         # pgbackups.http_retry_time here
FAST=10                          # a permanent error must fail within this many seconds
TIMEOUT=3                        # pgbackups.http_timeout here
S3_TAG=t74
# shellcheck source=test/s3_faults_env.sh
source "$LIB_DIR/s3_faults_env.sh"
s3_faults_setup
note_error() { printf '%s\n%s\n' "$1" "$TRY_ERR" >>"$W/errors.txt"; }

# capture_ok NAME DB ACTION RULES: a capture of DB through RULES completes
# despite them, the rules' ACTION was applied at least once, the object is
# whole and no upload is left open.  Sets LAST_ID.
capture_ok() {
	local name=$1 db=$2 action=$3 rules=$4 mark t0 id n
	fault_set "$rules"
	mark=$(reqlog lines)
	t0=$(date +%s.%N)
	try_sql cat "SELECT pgbackups.capture(database => '$db', compression => 'none', parallel => 1, wait => true)"
	fault_clear
	n=$(reqlog count --since "$mark" action="$action")
	LAST_ID=""
	if [ "$TRY_STATE" != OK ]; then
		note_error "$name"
		fail "$name: capture failed: $TRY_STATE $TRY_MSG ($n $action faults injected)"
		return 0
	fi
	id=$TRY_OUT
	LAST_ID=$id
	pass "$name: $id completed in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after $n injected $action faults"
	check "$name: faults were injected" test "$n" -ge 1
	check_eq "$name: the object's SHA-256 is the catalog's" "$(s3cli sha256 "$(key_of "$id")" 2>&1)" "$(backup_field cat "$id" sha256)"
	check_eq "$name: no upload left unfinished" "$(reqlog uploads --since "$mark" | sed -n 's/^unfinished=//p')" 0
}

# capture_fails_fast NAME DB WANT RULES: a capture through RULES fails within
# FAST seconds with SQLSTATE WANT (recorded as the error_code), the error
# names the bucket and the key, nothing is left at the key, the upload (if
# any) is aborted.  src/storage/storage_s3.c s3_fail: 404 -> undefined_file (58P01),
# other HTTP errors -> io_error (58030), no HTTP answer -> connection_failure.
capture_fails_fast() {
	local name=$1 db=$2 want=$3 rules=$4 mark t0 t id
	fault_set "$rules"
	mark=$(reqlog lines)
	FF_MARK=$mark
	t0=$SECONDS
	try_sql cat "SELECT pgbackups.capture(database => '$db', compression => 'none', parallel => 1, wait => true)"
	t=$((SECONDS - t0))
	fault_clear
	note_error "$name"
	id=$(newest_id)
	if [ "$TRY_STATE" = OK ]; then
		fail "$name: capture $id succeeded"
		return 0
	fi
	check_eq "$name: capture $id failed in $t s with SQLSTATE $want: $TRY_MSG" "$TRY_STATE" "$want"
	check_eq "$name: $id's error_code" "$(backup_field cat "$id" error_code)" "$want"
	check "$name: failed within $FAST s (http_retry_time = $RETRY s)" test "$t" -le "$FAST"
	check_eq "$name: $id is failed in the catalog" "$(backup_field cat "$id" status)" failed
	check "$name: the error names the bucket ($S3_BUCKET)" grep -q -F "$S3_BUCKET" <<<"$TRY_MSG"
	check "$name: the error names the key ($PREFIX/$id-...)" grep -q -F "$PREFIX/$id-" <<<"$TRY_MSG"
	check_eq "$name: no object under $PREFIX/$id-" "$(s3cli ls "$PREFIX/$id-" 2>&1)" ""
	check_eq "$name: every upload started was completed or aborted" "$(reqlog uploads --since "$mark" | sed -n 's/^unfinished=//p')" 0
}

# === 1. transient faults on the upload: retried ===================================================
capture_ok "503 on 3 part uploads" src status \
	'{"rules": [{"action": "status", "status": 503, "count": 3, "method": "PUT", "query": "partNumber"}]}'
B=$LAST_ID
capture_ok "500 on CreateMultipartUpload (2x)" src status \
	'{"rules": [{"action": "status", "status": 500, "count": 2, "method": "POST", "query": "uploads"}]}'
capture_ok "connection reset on 2 part uploads" src reset \
	'{"rules": [{"action": "reset", "count": 2, "method": "PUT", "query": "partNumber"}]}'
capture_ok "500 on CompleteMultipartUpload" src status \
	'{"rules": [{"action": "status", "status": 500, "count": 1, "method": "POST", "query": "uploadId"}]}'
capture_ok "connection reset on CompleteMultipartUpload" src reset \
	'{"rules": [{"action": "reset", "count": 1, "method": "POST", "query": "uploadId"}]}'
capture_ok "a part stalled beyond http_timeout (3 s)" src stall \
	'{"rules": [{"action": "stall", "seconds": 60, "count": 1, "method": "PUT", "query": "partNumber", "skip": 1}]}'
capture_ok "400 RequestTimeout on a part" src status \
	'{"rules": [{"action": "status", "status": 400, "code": "RequestTimeout", "count": 1, "method": "PUT", "query": "partNumber"}]}'
capture_ok "503 on the HEAD before the upload (2x)" src status \
	'{"rules": [{"action": "status", "status": 503, "count": 2, "method": "HEAD"}]}'
capture_ok "single PUT: 503 twice, then a reset" tiny status \
	'{"rules": [{"action": "status", "status": 503, "count": 2, "method": "PUT"}, {"action": "reset", "count": 1, "method": "PUT"}]}'
capture_ok "429 SlowDown on 2 requests of any kind" src status \
	'{"rules": [{"action": "status", "status": 429, "count": 2, "no_query": "uploads"}]}'

# === 2. permanent faults on the upload: fail fast, clean up ======================================
capture_fails_fast "403 on every part upload" src 58030 \
	'{"rules": [{"action": "status", "status": 403, "method": "PUT", "query": "partNumber"}]}'
n403=$(reqlog count --since "$FF_MARK" method=PUT status=403)
check "403 on parts: no part is retried after a 403 ($n403 part PUTs answered 403, at most 3 in flight)" test "$n403" -le 3
check "403 on parts: the upload was aborted (DELETE ?uploadId)" test "$(reqlog count --since "$FF_MARK" method=DELETE query=uploadId)" -ge 1
capture_fails_fast "403 on CreateMultipartUpload" src 58030 \
	'{"rules": [{"action": "status", "status": 403, "method": "POST", "query": "uploads"}]}'
capture_fails_fast "404 NoSuchBucket on a single PUT" tiny 58P01 \
	'{"rules": [{"action": "status", "status": 404, "code": "NoSuchBucket", "method": "PUT"}]}'

# endless 503: gives up after about http_retry_time
set_conf pgbackups.http_retry_time 6
fault_set '{"rules": [{"action": "status", "status": 503, "method": "PUT", "query": "partNumber"}]}'
mark=$(reqlog lines)
t0=$SECONDS
try_sql cat "SELECT pgbackups.capture(database => 'src', compression => 'none', parallel => 1, wait => true)"
t=$((SECONDS - t0))
fault_clear
note_error "endless 503"
if [ "$TRY_STATE" = OK ]; then
	fail "endless 503 on parts: the capture succeeded"
else
	check_eq "endless 503 on parts: failed in $t s with io_error: $TRY_MSG" "$TRY_STATE" 58030
	# (how much of the 6 s window is used: test/e2e/75_s3_retry_window.sh)
	check "endless 503: gives up, not forever (took $t s, http_retry_time = 6 s)" test "$t" -le 30
	check "endless 503: parts were retried ($(reqlog count --since "$mark" method=PUT status=503) answers)" test "$(reqlog count --since "$mark" method=PUT status=503)" -ge 4
	check_eq "endless 503: the upload was aborted" "$(reqlog uploads --since "$mark" | sed -n 's/^unfinished=//p')" 0
fi
set_conf pgbackups.http_retry_time "$RETRY"

# cancel while a part hangs
set_conf pgbackups.http_timeout 60
fault_set '{"rules": [{"action": "stall", "seconds": 120, "method": "PUT", "query": "partNumber"}]}'
mark=$(reqlog lines)
try_sql cat "SELECT pgbackups.capture(database => 'src', compression => 'none', parallel => 1)"
C=$TRY_OUT
if [ "$TRY_STATE" = OK ] && wait_for cat "SELECT count(*) > 0 FROM pgbackups.backups WHERE id = '$C' AND status = 'running'" 30; then
	# the upload has started (the proxy logs a request when it ends, so a
	# hanging part is not in the log yet): parts follow at once
	deadline=$((SECONDS + 30))
	while [ "$SECONDS" -lt "$deadline" ] && [ "$(reqlog count --since "$mark" method=POST query=uploads)" = 0 ]; do sleep 0.2; done
	# bounded, not an event: the proxy logs a request only when it has answered
	# it, so nothing shows that a part is hanging now; 2 s for the first PUT to arrive
	sleep 2
	t0=$SECONDS
	try_sql cat "SELECT pgbackups.cancel('$C')"
	t=$((SECONDS - t0))
	check_eq "cancel of $C while a part hangs" "$TRY_STATE" OK
	check "... returns within 10 s (took $t s)" test "$t" -le 10
	check_eq "... $C is canceled" "$(backup_field cat "$C" status)" canceled
	fault_clear
	# the proxy logs a request once it has answered it: wait for the abort's line
	unfinished() { reqlog uploads --since "$mark" | sed -n 's/^unfinished=//p'; }
	aborted() { [ "$(unfinished)" = 0 ]; }
	wait_cmd 10 aborted || true
	check_eq "... the upload was aborted" "$(unfinished)" 0
	check_eq "... nothing at its key" "$(s3cli ls "$PREFIX/$C-" 2>&1)" ""
else
	fail "capture $C for the cancel case did not start: $TRY_STATE $TRY_MSG $(describe_backup cat "$C")"
fi
fault_clear
set_conf pgbackups.http_timeout 3

# === 3. restores from S3 ===========================================================================
# seven faults may hit the retries of one ranged GET in a row: with exponential
# backoff (up to 10 s) and a 3 s stall that can take longer than 20 s
set_conf pgbackups.http_retry_time 60
if [ -n "$B" ]; then
	q postgres "CREATE DATABASE dst" >/dev/null
	q dst "CREATE TABLE before AS SELECT 1 AS x" >/dev/null
	fault_set '{"rules": [
		{"action": "status", "status": 503, "count": 2, "method": "GET"},
		{"action": "reset", "count": 2, "method": "GET"},
		{"action": "truncate", "count": 2, "method": "GET"},
		{"action": "stall", "seconds": 60, "count": 1, "method": "GET"},
		{"action": "status", "status": 500, "count": 1, "method": "HEAD"}]}'
	mark=$(reqlog lines)
	try_sql cat "SELECT pgbackups.restore('$B', target => 'dst', confirm => 'dst', wait => true)"
	fault_clear
	log "restore faults injected: $(reqlog count --since "$mark" action=status) status, $(reqlog count --since "$mark" action=reset) resets, $(reqlog count --since "$mark" action=truncate) truncated, $(reqlog count --since "$mark" action=stall) stalls"
	if [ "$TRY_STATE" = OK ]; then
		pass "restore of $B through 503s, resets, truncated bodies and a stall: $TRY_OUT"
		check "... the GET faults were all injected" test "$(reqlog count --since "$mark" method=GET action=truncate)" = 2 -a "$(reqlog count --since "$mark" method=GET action=stall)" = 1
		compare_dbs "restore through faults" src dst
	else
		note_error "restore through faults"
		fail "restore of $B through transient faults: $TRY_STATE $TRY_MSG"
	fi
	check_eq "no staging database left" "$(staging_dbs)" ""

	# permanent: 403 on GET
	q postgres "CREATE DATABASE victim" >/dev/null
	q victim "CREATE TABLE mine AS SELECT g FROM generate_series(1, 100) g" >/dev/null
	db_fingerprint victim >"$W/victim.before"
	fault_set '{"rules": [{"action": "status", "status": 403, "method": ["GET", "HEAD"]}]}'
	t0=$SECONDS
	try_sql cat "SELECT pgbackups.restore('$B', target => 'victim', confirm => 'victim', wait => true)"
	t=$((SECONDS - t0))
	fault_clear
	note_error "restore 403"
	if [ "$TRY_STATE" = OK ]; then
		fail "restore of $B with 403 on every GET succeeded"
	else
		check_eq "restore with 403 on every GET fails in $t s with io_error: $TRY_MSG" "$TRY_STATE" 58030
		check "... within $FAST s" test "$t" -le "$FAST"
		check "... the error names the bucket" grep -q -F "$S3_BUCKET" <<<"$TRY_MSG"
		check "... the error names the key" grep -q -F "$(key_of "$B")" <<<"$TRY_MSG"
	fi
	check "... the target is as it was" diff -q "$W/victim.before" <(db_fingerprint victim)
	check_eq "... no staging database left" "$(staging_dbs)" ""

	# the object vanished
	s3cli rm "$(key_of "$B")"
	try_sql cat "SELECT pgbackups.restore('$B', target => 'victim', confirm => 'victim', wait => true)"
	note_error "restore vanished"
	if [ "$TRY_STATE" = OK ]; then
		fail "restore of $B whose object was deleted succeeded"
	else
		# the HEAD answers 404: 'archive "s3://..." does not exist'
		check_eq "restore of a vanished object fails with undefined_file: $TRY_MSG" "$TRY_STATE" 58P01
		check "... the error names the key" grep -q -F "$(key_of "$B")" <<<"$TRY_MSG"
	fi
	check "... the target is as it was" diff -q "$W/victim.before" <(db_fingerprint victim)
fi

# === 4. the whole log ===============================================================================
reqlog uploads >"$W/all-uploads.txt"
check "every multipart upload started was completed or aborted ($(sed -n 's/^started=//p' "$W/all-uploads.txt") started)" \
	test "$(sed -n 's/^unfinished=//p' "$W/all-uploads.txt")" = 0
check_eq "no request went out unsigned" "$(reqlog count auth=none)" 0
no_secret_in "error texts" "$W/errors.txt"
no_secret_in "server log" "$SERVER_LOG"
finish
