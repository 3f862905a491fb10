#!/bin/bash
# 94_s3_faults_more: the S3 faults 74_s3_faults does not cover, against
# s3rver behind test/servers/fault_proxy.py (issue 16, scope 5).
# 1. CompleteMultipartUpload answering 200 with an <Error> body after S3's
#    keep-alive spaces: a permanent code fails the capture naming the code,
#    the backup is never recorded as completed, the upload is aborted
#    (DELETE ?uploadId, nothing at the key) and an older backup and its
#    object are untouched; a transient code (InternalError) is retried and
#    the capture completes; endless InternalError gives up after
#    http_retry_time; an answer lost after s3rver completed the upload (its
#    retries fail) is recognised by a HEAD (the key is the backup's alone and
#    holds every byte uploaded) and the capture completes.
# 2. A response that stops in the middle of its body (status line and
#    headers sent): a ranged GET of a restore and a CompleteMultipartUpload
#    are cut by the low-speed limit (pgbackups.http_timeout: less than 1 kB/s
#    for that long; after a burst of 4 MiB curl's sliding speed window makes
#    that about 3 x http_timeout) and retried;
#    an endless mid-body stall fails the restore cleanly (connection_failure)
#    well within http_retry_time + http_timeout.  Waits are on the job's
#    status, never fixed sleeps.
# 3. Wrong region (400 AuthorizationHeaderMalformed with <Region>, 301
#    PermanentRedirect with x-amz-bucket-region or <Endpoint>) and 400
#    InvalidArgument fail at once, each request sent once, with an error
#    naming endpoint, region, bucket and key (and the region or endpoint the
#    server asks for), never the secret, the token or a signature.
# 4. The retries an upload needed are a line of pgbackups.logs(id) (exactly
#    the number injected); a failure's log says how often the request went.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}
NOISE_ROWS=${NOISE_ROWS:-170000} # ~12 MB of md5 text: 3 parts of 5 MiB
RETRY=20                         # pgbackups.http_retry_time here
TIMEOUT=3                        # pgbackups.http_timeout here
FAST=10                          # a permanent error must fail within this many seconds

S3_TAG=t94
# shellcheck source=test/s3_faults_env.sh
source "$LIB_DIR/s3_faults_env.sh"
s3_faults_setup
job_log() { q cat "SELECT message FROM pgbackups.logs('$1')"; }
note_error() { printf '%s\n%s\n' "$1" "$TRY_ERR" >>"$W/errors.txt"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
unfinished() { reqlog uploads --since "$1" | sed -n 's/^unfinished=//p'; }
completed_count() { q cat "SELECT count(*) FROM pgbackups.backups WHERE status = 'completed'"; }

# fp_entries SINCE PYEXPR: how many proxy log entries after line SINCE satisfy
# the Python expression PYEXPR over the entry e (a dict)
fp_entries() {
	"$SYS_PYTHON" - "$FP_LOG" "$1" "$2" <<'PY'
import json, sys
path, since, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
n = 0
with open(path) as f:
    for i, line in enumerate(f):
        if i >= since and line.strip():
            e = json.loads(line)
            if eval(expr, {}, {"e": e}):
                n += 1
print(n)
PY
}

# fp_wait SINCE PYEXPR MIN: wait (up to 15 s) until fp_entries SINCE PYEXPR
# is at least MIN; prints the count.  The proxy logs a request when its
# handler ends, i.e. once the client has closed a stalled connection.
fp_wait() {
	local n deadline=$((SECONDS + 15))
	while :; do
		n=$(fp_entries "$1" "$2")
		if [ "$n" -ge "$3" ] || [ "$SECONDS" -ge "$deadline" ]; then
			printf '%s\n' "$n"
			return 0
		fi
		sleep 0.2
	done
}

# no_secret_text NAME TEXT: TEXT holds no secret, token, signature or
# Authorization header
no_secret_text() {
	local name=$1 text=$2 s bad=""
	for s in "$S3_SECRET" "$S3_TOKEN" "Signature=" "X-Amz-Signature" "AWS4-HMAC-SHA256" "Credential="; do
		grep -q -F -- "$s" <<<"$text" && bad="$bad [$s]"
	done
	check_eq "$name: no secret, token or signature in it" "$bad" ""
}

# names_target NAME ID: the error (TRY_ERR, message and detail) names the
# endpoint, the region, the bucket and the key of backup ID
names_target() {
	local name=$1 id=$2
	check "$name: the error names the bucket and the key ($PREFIX/$id-...)" grep -q -F "\"s3://$S3_BUCKET/$PREFIX/$id-" <<<"$TRY_MSG"
	check "$name: the error's detail names the endpoint and the region" \
		grep -q -F "DETAIL:  The request went to endpoint $FP_ENDPOINT, region \"us-east-1\"" <<<"$TRY_ERR"
	no_secret_text "$name: the error" "$TRY_ERR"
	no_secret_text "$name: the job's log" "$(job_log "$id")"
}

# capture_fails NAME DB WANT RULES: a capture of DB through RULES fails with
# SQLSTATE WANT, recorded as failed with that error_code; sets FF_ID, FF_T
# (seconds), FF_MARK (the proxy log's line count before)
capture_fails() {
	local name=$1 db=$2 want=$3 rules=$4 t0
	fault_set "$rules"
	FF_MARK=$(reqlog lines)
	t0=$(date +%s.%N)
	try_sql cat "SELECT pgbackups.capture(database => '$db', compression => 'none', parallel => 1, wait => true)"
	FF_T=$(elapsed "$t0")
	fault_clear
	note_error "$name"
	FF_ID=$(newest_id)
	if [ "$TRY_STATE" = OK ]; then
		fail "$name: capture $FF_ID succeeded"
		return 1
	fi
	check_eq "$name: capture $FF_ID failed in $FF_T s with SQLSTATE $want: $TRY_MSG" "$TRY_STATE" "$want"
	check_eq "$name: $FF_ID is failed in the catalog" "$(backup_field cat "$FF_ID" status)" failed
	check_eq "$name: $FF_ID's error_code" "$(backup_field cat "$FF_ID" error_code)" "$want"
	return 0
}

# capture_ok NAME DB RULES: a capture of DB through RULES completes with an
# object whose SHA-256 is the catalog's; sets OK_ID, OK_MARK
capture_ok() {
	local name=$1 db=$2 rules=$3 t0
	fault_set "$rules"
	OK_MARK=$(reqlog lines)
	t0=$(date +%s.%N)
	try_sql cat "SELECT pgbackups.capture(database => '$db', compression => 'none', parallel => 1, wait => true)"
	fault_clear
	OK_ID=""
	if [ "$TRY_STATE" != OK ]; then
		note_error "$name"
		fail "$name: capture failed: $TRY_STATE $TRY_MSG"
		return 1
	fi
	OK_ID=$TRY_OUT
	pass "$name: $OK_ID completed in $(elapsed "$t0") s"
	check_eq "$name: the object's SHA-256 is the catalog's" "$(s3cli sha256 "$(key_of "$OK_ID")" 2>&1)" "$(backup_field cat "$OK_ID" sha256)"
	check_eq "$name: no upload left unfinished" "$(unfinished "$OK_MARK")" 0
	return 0
}

# === 0. an older backup, which no later fault may touch ===========================================
capture_ok "baseline capture" src '{"rules": []}' || die "no baseline backup"
OLD=$OK_ID
OLD_KEY=$(key_of "$OLD")
OLD_SHA=$(backup_field cat "$OLD" sha256)
check_eq "baseline: its log has no retry line" "$(job_log "$OLD" | grep -c 'needed [0-9]* retr')" 0
old_untouched() {
	check_eq "$1: the older backup $OLD is still completed" "$(backup_field cat "$OLD" status)" completed
	check_eq "$1: the older backup's object is unchanged" "$(s3cli sha256 "$OLD_KEY" 2>&1)" "$OLD_SHA"
}

# === 1. CompleteMultipartUpload: 200, keep-alive spaces, then <Error> ============================
n_completed=$(completed_count)
if capture_fails "Complete: 200 + spaces + InvalidPart" src 58030 \
	'{"rules": [{"action": "status", "status": 200, "code": "InvalidPart", "keepalive": 5, "method": "POST", "query": "uploadId"}]}'; then
	check "... the error names the S3 error code (HTTP 200, InvalidPart)" grep -q -F "could not complete the upload of \"s3://$S3_BUCKET/$PREFIX/$FF_ID-" <<<"$TRY_MSG"
	check "... ... and the code" grep -q -F ": HTTP 200, InvalidPart: injected by fault_proxy" <<<"$TRY_MSG"
	check "... within $FAST s (a permanent code is not retried)" awk -v t="$FF_T" -v m="$FAST" 'BEGIN { exit !(t <= m) }'
	check_eq "... CompleteMultipartUpload was sent once" "$(reqlog count --since "$FF_MARK" method=POST query=uploadId)" 1
	check_eq "... the 200 went out with its 5 keep-alive spaces before the Error" \
		"$(fp_entries "$FF_MARK" 'e["method"] == "POST" and "uploadId" in e["query"] and e["status"] == 200 and e["bytes_out"] > 5 + 100')" 1
	check "... the upload was aborted (DELETE ?uploadId)" test "$(reqlog count --since "$FF_MARK" method=DELETE query=uploadId)" -ge 1
	check_eq "... every upload started was completed or aborted" "$(unfinished "$FF_MARK")" 0
	check_eq "... nothing at $PREFIX/$FF_ID-" "$(s3cli ls "$PREFIX/$FF_ID-" 2>&1)" ""
	check_eq "... no backup became completed" "$(completed_count)" "$n_completed"
	names_target "Complete InvalidPart" "$FF_ID"
fi
old_untouched "after the InvalidPart answer"

# the same with the XML declaration before the spaces, a transient code, once: retried
if capture_ok "Complete: 200 + declaration + spaces + InternalError, once" src \
	'{"rules": [{"action": "status", "status": 200, "code": "InternalError", "keepalive": 4, "declaration_first": true, "count": 1, "method": "POST", "query": "uploadId"}]}'; then
	check_eq "... CompleteMultipartUpload sent twice (the 200 Error, then s3rver's answer)" "$(reqlog count --since "$OK_MARK" method=POST query=uploadId)" 2
	check_eq "... its log says the upload needed 1 retry after InternalError" \
		"$(job_log "$OK_ID" | grep -c -F "needed 1 retry; the last after: complete the upload: HTTP 200, InternalError: injected by fault_proxy")" 1
fi

# endless InternalError in 200 answers: gives up after about http_retry_time
set_conf pgbackups.http_retry_time 6
if capture_fails "Complete: 200 + InternalError, always" src 58030 \
	'{"rules": [{"action": "status", "status": 200, "code": "InternalError", "keepalive": 2, "method": "POST", "query": "uploadId"}]}'; then
	check "... the error names the code" grep -q -F ": HTTP 200, InternalError: injected by fault_proxy" <<<"$TRY_MSG"
	check "... gave up within 6 s + $TIMEOUT s + slack (took $FF_T s)" awk -v t="$FF_T" 'BEGIN { exit !(t <= 20) }'
	check "... CompleteMultipartUpload was retried ($(reqlog count --since "$FF_MARK" method=POST query=uploadId) sent)" \
		test "$(reqlog count --since "$FF_MARK" method=POST query=uploadId)" -ge 2
	check "... the error's detail says how often it was sent" grep -q -E "DETAIL:  The request went to endpoint .*; it was sent [0-9]+ times" <<<"$TRY_ERR"
	check "... the job's log has the same" grep -q -E "it was sent [0-9]+ times" <<<"$(job_log "$FF_ID")"
	check_eq "... the upload was aborted" "$(unfinished "$FF_MARK")" 0
	check_eq "... nothing at $PREFIX/$FF_ID-" "$(s3cli ls "$PREFIX/$FF_ID-" 2>&1)" ""
	check_eq "... no backup became completed" "$(completed_count)" "$((n_completed + 1))"
fi
set_conf pgbackups.http_retry_time "$RETRY"
old_untouched "after the InternalError answers"

# the answer to CompleteMultipartUpload lost after s3rver completed it (half
# the answer, then a reset): the retries fail (s3rver: InternalError; S3:
# NoSuchUpload), the object is at the key with every byte: completed
set_conf pgbackups.http_retry_time 6
if capture_ok "Complete: completed, the answer lost (truncated)" src \
	'{"rules": [{"action": "truncate", "count": 1, "method": "POST", "query": "uploadId"}]}'; then
	check_eq "... the first CompleteMultipartUpload reached s3rver (200, cut)" \
		"$(fp_entries "$OK_MARK" "e['method'] == 'POST' and e['action'] == 'truncate' and e['status'] == 200")" 1
	check_eq "... its log says the answer was lost and the object is whole" \
		"$(job_log "$OK_ID" | grep -c -E "^the answer to the completion of \"s3://$S3_BUCKET/$PREFIX/$OK_ID-[^\"]*\" was lost \(attempt [0-9]+ got .*\), but the object is at its key with all 3 parts, [0-9]+ bytes: completed\$")" 1
	check_eq "... the catalog's size is the object's" "$(backup_field cat "$OK_ID" archive_size)" "$(s3cli ls "$(key_of "$OK_ID")" 2>&1 | grep -v manifest | cut -f2)"
fi
set_conf pgbackups.http_retry_time "$RETRY"

# === 2. a response that stops in the middle of its body ==========================================
# CompleteMultipartUpload: 200 and two spaces, then nothing: cut by the
# low-speed limit after http_timeout, sent again, completed
if capture_ok "Complete: 200 + spaces, then a stall (once)" src \
	'{"rules": [{"action": "status", "status": 200, "keepalive": 2, "stall": 60, "count": 1, "method": "POST", "query": "uploadId"}]}'; then
	check_eq "... CompleteMultipartUpload sent twice" "$(reqlog count --since "$OK_MARK" method=POST query=uploadId)" 2
	log "the stalled CompleteMultipartUpload: $(grep -F '"action": "status"' "$FP_LOG" | tail -n 1)"
	check_eq "... the stalled answer was cut by the client after about http_timeout ($TIMEOUT s), not 60 s" \
		"$(fp_entries "$OK_MARK" "e['method'] == 'POST' and e['action'] == 'status' and ($TIMEOUT - 1) * 1000 <= e['ms'] < 30000")" 1
	check_eq "... its log says 1 retry, after the timeout" \
		"$(job_log "$OK_ID" | grep -c -E "needed 1 retry; the last after: complete the upload: Timeout was reached")" 1
fi

# a restore whose ranged GET stalls after half its body, once: retried, equal
q postgres "CREATE DATABASE dst" >/dev/null
q dst "CREATE TABLE before AS SELECT 1 AS x" >/dev/null
fault_set '{"rules": [{"action": "stall_body", "seconds": 60, "count": 1, "method": "GET"}]}'
mark=$(reqlog lines)
try_sql cat "SELECT pgbackups.restore('$OLD', target => 'dst', confirm => 'dst')"
R=$TRY_OUT
if [ "$TRY_STATE" != OK ]; then
	fail "restore of $OLD with a stalled body: not started: $TRY_STATE $TRY_MSG"
elif ! wait_for cat "SELECT status IN ('completed', 'failed', 'canceled') FROM pgbackups.restores WHERE id = '$R'" 120; then
	fail "restore $R with a stalled body: still $(q cat "SELECT status FROM pgbackups.restores WHERE id = '$R'") after 120 s"
else
	fault_clear
	check_eq "restore $R through a GET stalled mid-body: completed ($(q cat "SELECT coalesce(error, '') FROM pgbackups.restores WHERE id = '$R'"))" \
		"$(q cat "SELECT status FROM pgbackups.restores WHERE id = '$R'")" completed
	check_eq "... the stalled GET had sent its status (206) and part of its body" \
		"$(fp_entries "$mark" "e['method'] == 'GET' and e['action'] == 'stall_body' and e['status'] == 206 and e['bytes_out'] > 0")" 1
	check_eq "... and was cut by the client after about http_timeout" \
		"$(fp_entries "$mark" "e['method'] == 'GET' and e['action'] == 'stall_body' and $TIMEOUT * 1000 <= e['ms'] < 30000")" 1
	compare_dbs "restore through a mid-body stall" src dst
fi
fault_clear
check_eq "... no staging database left" "$(staging_dbs)" ""

# endless mid-body stalls: the restore fails cleanly, the target untouched
set_conf pgbackups.http_retry_time 6
q postgres "CREATE DATABASE victim" >/dev/null
q victim "CREATE TABLE mine AS SELECT g FROM generate_series(1, 100) g" >/dev/null
db_fingerprint victim >"$W/victim.before"
# (1000 bytes, then nothing: curl's speed window holds no earlier burst, so
# each attempt ends after http_timeout; after the 4 MiB above it took ~9 s)
fault_set '{"rules": [{"action": "stall_body", "bytes": 1000, "seconds": 60, "method": "GET"}]}'
mark=$(reqlog lines)
t0=$(date +%s.%N)
try_sql cat "SELECT pgbackups.restore('$OLD', target => 'victim', confirm => 'victim')"
R=$TRY_OUT
if [ "$TRY_STATE" != OK ]; then
	fail "restore of $OLD with endless stalls: not started: $TRY_STATE $TRY_MSG"
elif ! wait_for cat "SELECT status IN ('completed', 'failed', 'canceled') FROM pgbackups.restores WHERE id = '$R'" 90; then
	fail "restore $R with endless stalls: still $(q cat "SELECT status FROM pgbackups.restores WHERE id = '$R'") after 90 s (hangs)"
else
	t=$(elapsed "$t0")
	fault_clear
	check_eq "restore $R with every GET stalled mid-body: failed in $t s" "$(q cat "SELECT status FROM pgbackups.restores WHERE id = '$R'")" failed
	check_eq "... with connection_failure" "$(q cat "SELECT error_code FROM pgbackups.restores WHERE id = '$R'")" 08006
	err=$(q cat "SELECT error FROM pgbackups.restores WHERE id = '$R'")
	check "... the error says the transfer was too slow and names the key: $err" \
		grep -q -E "could not read \"s3://$S3_BUCKET/$PREFIX/$OLD-[^\"]*\": Timeout was reached: Operation too slow" <<<"$err"
	check "... within http_retry_time (6 s) + http_timeout ($TIMEOUT s) + slack (took $t s)" awk -v t="$t" 'BEGIN { exit !(t <= 30) }'
	n=$(fp_wait "$mark" "e['method'] == 'GET' and e['action'] == 'stall_body'" 2)
	log "GETs after the mark: $(fp_entries "$mark" "e['method'] == 'GET'"), stalled: $n"
	check "... the GET was sent more than once, each stalled mid-body ($n)" test "$n" -ge 2
fi
fault_clear
check "... the target is as it was" diff -q "$W/victim.before" <(db_fingerprint victim)
check_eq "... no staging database left" "$(staging_dbs)" ""
set_conf pgbackups.http_retry_time "$RETRY"

# === 3. wrong region, InvalidArgument: at once, named, no secret =================================
# fails_once NAME WHAT_RE METHOD QUERY: after capture_fails, the request the
# rule answered went once, within FAST s
fails_once() {
	local name=$1 method=$2 query=$3 n
	check "$name: within $FAST s (took $FF_T s)" awk -v t="$FF_T" -v m="$FAST" 'BEGIN { exit !(t <= m) }'
	if [ -n "$query" ]; then
		n=$(reqlog count --since "$FF_MARK" method="$method" query="$query" action=status)
	else
		n=$(reqlog count --since "$FF_MARK" method="$method" action=status)
	fi
	check_eq "$name: the refused $method was sent once (no retry)" "$n" 1
	check_eq "$name: nothing at $PREFIX/$FF_ID-" "$(s3cli ls "$PREFIX/$FF_ID-" 2>&1)" ""
	check_eq "$name: every upload started was completed or aborted" "$(unfinished "$FF_MARK")" 0
}

if capture_fails "single PUT: 400 AuthorizationHeaderMalformed (region eu-west-1)" tiny 58030 \
	'{"rules": [{"action": "status", "status": 400, "code": "AuthorizationHeaderMalformed", "xml": {"Region": "eu-west-1"}, "method": "PUT"}]}'; then
	check "... the error names the code" grep -q -F "could not store \"s3://$S3_BUCKET/$PREFIX/$FF_ID-" <<<"$TRY_MSG"
	check "... ... HTTP 400, AuthorizationHeaderMalformed" grep -q -F ": HTTP 400, AuthorizationHeaderMalformed: injected by fault_proxy" <<<"$TRY_MSG"
	check "... the hint names the bucket's region" grep -q -F 'HINT:  The bucket is in region "eu-west-1": set pgbackups.s3_region to it.' <<<"$TRY_ERR"
	fails_once "AuthorizationHeaderMalformed" PUT ""
	names_target "AuthorizationHeaderMalformed" "$FF_ID"
fi

if capture_fails "HEAD: 301 with x-amz-bucket-region (no body)" tiny 58030 \
	'{"rules": [{"action": "status", "status": 301, "code": "PermanentRedirect", "headers": {"x-amz-bucket-region": "ap-south-1"}, "method": "HEAD"}]}'; then
	check "... the error names the status" grep -q -E "could not look up \"s3://$S3_BUCKET/$PREFIX/$FF_ID-[^\"]*\": HTTP 301\$" <<<"$TRY_MSG"
	check "... the hint names the bucket's region" grep -q -F 'HINT:  The bucket is in region "ap-south-1": set pgbackups.s3_region to it.' <<<"$TRY_ERR"
	fails_once "301 on HEAD" HEAD ""
	names_target "301 on HEAD" "$FF_ID"
fi

if capture_fails "CreateMultipartUpload: 301 PermanentRedirect with <Endpoint>" src 58030 \
	'{"rules": [{"action": "status", "status": 301, "code": "PermanentRedirect", "xml": {"Endpoint": "pgb.s3.eu-central-1.amazonaws.com", "Bucket": "pgb"}, "method": "POST", "query": "uploads"}]}'; then
	check "... the error names the code" grep -q -F ": HTTP 301, PermanentRedirect: injected by fault_proxy" <<<"$TRY_MSG"
	check "... the hint names the endpoint asked for" \
		grep -q -F 'HINT:  The server asks for endpoint "pgb.s3.eu-central-1.amazonaws.com": check pgbackups.s3_endpoint and pgbackups.s3_region.' <<<"$TRY_ERR"
	fails_once "PermanentRedirect" POST uploads
	names_target "PermanentRedirect" "$FF_ID"
fi

if capture_fails "400 InvalidArgument on every part upload" src 58030 \
	'{"rules": [{"action": "status", "status": 400, "code": "InvalidArgument", "method": "PUT", "query": "partNumber"}]}'; then
	check "... the error names the part, the key and the code" \
		grep -q -E "could not upload part [0-9]+ of \"s3://$S3_BUCKET/$PREFIX/$FF_ID-[^\"]*\": HTTP 400, InvalidArgument: injected by fault_proxy" <<<"$TRY_MSG"
	check "... within $FAST s (took $FF_T s)" awk -v t="$FF_T" -v m="$FAST" 'BEGIN { exit !(t <= m) }'
	n=$(reqlog count --since "$FF_MARK" method=PUT query=partNumber action=status)
	check "... no part was retried: $n refused, at most 3 in flight, each part number once" \
		test "$n" -le 3 -a "$(fp_entries "$FF_MARK" "e['method'] == 'PUT' and e['action'] == 'status'")" = "$n"
	check_eq "... each refused part number once" \
		"$("$SYS_PYTHON" -c 'import json,sys; p=[json.loads(l)["partNumber"] for i,l in enumerate(open(sys.argv[1])) if i >= int(sys.argv[2]) and json.loads(l).get("action") == "status"]; print(len(p) - len(set(p)))' "$FP_LOG" "$FF_MARK")" 0
	check "... the upload was aborted (DELETE ?uploadId)" test "$(reqlog count --since "$FF_MARK" method=DELETE query=uploadId)" -ge 1
	check_eq "... every upload started was completed or aborted" "$(unfinished "$FF_MARK")" 0
	check_eq "... nothing at $PREFIX/$FF_ID-" "$(s3cli ls "$PREFIX/$FF_ID-" 2>&1)" ""
	names_target "InvalidArgument" "$FF_ID"
fi
old_untouched "after the refusals"

# === 4. the retries a job needed, in its log ======================================================
if capture_ok "503 on 3 part uploads" src \
	'{"rules": [{"action": "status", "status": 503, "count": 3, "method": "PUT", "query": "partNumber"}]}'; then
	check_eq "... 3 faults injected" "$(reqlog count --since "$OK_MARK" action=status)" 3
	check_eq "... its log: the upload needed 3 retries, the last after a 503" \
		"$(job_log "$OK_ID" | grep -c -E "^the upload of \"s3://$S3_BUCKET/$PREFIX/$OK_ID-[^\"]*\" needed 3 retries; the last after: upload part [0-9]+: HTTP 503, SlowDown: injected by fault_proxy\$")" 1
fi
if capture_ok "single PUT: 503 twice, then a reset" tiny \
	'{"rules": [{"action": "status", "status": 503, "count": 2, "method": "PUT"}, {"action": "reset", "count": 1, "method": "PUT"}]}'; then
	check_eq "... its log: the upload needed 3 retries, the last after the reset" \
		"$(job_log "$OK_ID" | grep -c -E "^the upload of \"s3://$S3_BUCKET/$PREFIX/$OK_ID-[^\"]*\" needed 3 retries; the last after: store: ")" 1
fi
if capture_ok "no fault" tiny '{"rules": []}'; then
	check_eq "... its log has no retry line" "$(job_log "$OK_ID" | grep -c 'needed [0-9]* retr')" 0
fi

# === the whole run ===============================================================================
check_eq "every multipart upload started was completed or aborted" "$(unfinished 0)" 0
check_eq "no request went out unsigned" "$(reqlog count auth=none)" 0
no_secret_in "error texts" "$W/errors.txt"
no_secret_in "server log" "$SERVER_LOG"
finish
