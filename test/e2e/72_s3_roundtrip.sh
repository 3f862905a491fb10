#!/bin/bash
# 72_s3_roundtrip: backups in S3 (s3rver, test/servers) through the fault
# proxy with no faults (its log shows every request the server sent):
# a capture of test/data/rich.sql plus ~24 MB of incompressible text, with
# compression none, pgbackups.s3_part_size = 5 and s3_upload_concurrency = 4,
# each part upload slowed to 1 s by the proxy (so parts must overlap) goes up
# as one multipart upload of equal 5 MiB parts (last one smaller), numbered
# 1..N, several in flight and never more than 4, every request signed (SigV4
# header, with the session token); the object is where `location` says
# (s3://bucket/prefix/<system id>/<db>/<id>-<time>.dump); an independent
# client (boto3) lists it with archive_size bytes, downloads it, its SHA-256
# is backups.sha256, pg_restore -l reads it and pg_restore restores the
# source; pgbackups.restore() from S3 (ranged GETs) reproduces the source.
# A small capture (one part or a single PUT) round-trips too.  url(): a
# presigned GET that plain curl downloads (same SHA-256, pg_restore -l
# reads it), 403 after valid_for => '2 seconds' has passed and with one byte
# of the signature changed; url(NULL) is the newest backup; valid_for outside
# 1 s..7 days and unknown ids are refused.  delete() removes the object,
# retention expires objects, and with file:// storage url() is the file URL.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-240}
NOISE_ROWS=${NOISE_ROWS:-340000} # ~24 MB of md5 text: 5 parts of 5 MiB
PART=$((5 * 1024 * 1024))

require_servers
start_s3rver "$S3_BUCKET"
start_fault_proxy "$S3_PORT"
EXTRA_CONF="$(s3_conf "$FP_ENDPOINT" backups/t72)
pgbackups.s3_part_size = 5
pgbackups.s3_upload_concurrency = 4
pgbackups.http_timeout = 20
pgbackups.http_retry_time = 30"
start_cluster # EXTRA_CONF not exported: the postmaster must not inherit the secrets in its environment
W=$TESTDIR/w
mkdir -p "$W"
SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")

q postgres "CREATE DATABASE cat" >/dev/null
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE src" >/dev/null
log "loading test/data/rich.sql and $NOISE_ROWS rows of random md5 text into src"
psql_db src -v ROWS_BIG="${ROWS_BIG:-20000}" <"$LIB_DIR/data/rich.sql" >/dev/null
q src "CREATE TABLE noise AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS h FROM generate_series(1, $NOISE_ROWS) g; ALTER TABLE noise ADD PRIMARY KEY (id)" >/dev/null

# key_of ID: the object key of backup ID (its location without s3://bucket/)
key_of() {
	local loc
	loc=$(backup_field cat "$1" location)
	printf '%s\n' "${loc#s3://"$S3_BUCKET"/}"
}

# === 1. a multipart capture ===========================================================
fault_set '{"rules": [{"action": "delay", "seconds": 1, "method": "PUT", "query": "partNumber"}]}'
mark=$(reqlog lines)
start=$SECONDS
try_sql cat "SELECT pgbackups.capture(database => 'src', compression => 'none', parallel => 2, wait => true)"
fault_clear
if [ "$TRY_STATE" != OK ]; then
	fail "capture of src to S3 failed: $TRY_STATE $TRY_MSG"
	finish
fi
B=$TRY_OUT
log "capture $B: $(describe_backup cat "$B") in $((SECONDS - start)) s"
check_eq "capture $B completed" "$(backup_field cat "$B" status)" completed
LOC=$(backup_field cat "$B" location)
case "$LOC" in
"s3://$S3_BUCKET/backups/t72/$SYSID/cat/$B-"*.dump) pass "location is s3://$S3_BUCKET/backups/t72/<system id>/<catalog db>/$B-<time>.dump ($LOC)" ;;
*) fail "location [$LOC], want s3://$S3_BUCKET/backups/t72/$SYSID/cat/$B-<time>.dump" ;;
esac
KEY=$(key_of "$B")
SIZE=$(backup_field cat "$B" archive_size)
SHA=$(backup_field cat "$B" sha256)
check "archive is over 20 MB ($SIZE bytes)" test "$SIZE" -gt 20000000

# what the client sent
reqlog parts --since "$mark" >"$W/parts.txt"
reqlog uploads --since "$mark" >"$W/uploads.txt"
log "parts: $(tr '\n' ' ' <"$W/parts.txt")"
nparts=$(sed -n 's/^parts=//p' "$W/parts.txt")
check "multipart upload of 4 or more parts ($nparts)" test "${nparts:-0}" -ge 4
check_eq "part numbers are 1..N" "$(sed -n 's/^numbers=//p' "$W/parts.txt")" "$(seq -s, 1 "${nparts:-0}")"
sizes=$(sed -n 's/^sizes=//p' "$W/parts.txt")
first=${sizes%%,*}
bad=$("$SYS_PYTHON" -c "
import sys
s = [int(x) for x in sys.argv[1].split(',') if x]
print('; '.join(f'part {i+1}: {v}' for i, v in enumerate(s[:-1]) if v != s[0]) or
      ('last part larger than the others' if s and s[-1] > s[0] else ''))" "$sizes")
check_eq "all parts but the last have one size, the last is not larger" "$bad" ""
check_eq "part size is pgbackups.s3_part_size = 5 MB" "$first" "$PART"
inflight=$(sed -n 's/^max_in_flight=//p' "$W/parts.txt")
check "several parts in flight at once ($inflight, s3_upload_concurrency = 4)" test "${inflight:-0}" -ge 2
check "never more than s3_upload_concurrency = 4 parts in flight ($inflight)" test "${inflight:-0}" -le 4
check_eq "one multipart upload started, completed" "$(grep -c 'started=1 parts=[0-9]* completed=1' "$W/uploads.txt")" 1
check_eq "no upload left unfinished" "$(sed -n 's/^unfinished=//p' "$W/uploads.txt")" 0
check_eq "every request was signed with a SigV4 Authorization header" \
	"$(reqlog count --since "$mark" auth=none)/$(reqlog count --since "$mark" auth=sigv4-query)/$(reqlog count --since "$mark" auth=other-header)" 0/0/0
check_eq "every request carried the session token" "$(reqlog count --since "$mark" token=False)" 0
check_eq "no request was answered 403 or 5xx" "$(reqlog count --since "$mark" status=403)/$(reqlog count --since "$mark" min_status=500)" 0/0

# the independent client
check_eq "boto3 lists exactly the archive and its manifest under the catalog's prefix" \
	"$(s3cli ls "backups/t72/$SYSID/cat/" | sed 's/\.manifest\.json\t[0-9]*$/.manifest.json/')" "$KEY	$SIZE
$KEY.manifest.json"
if s3cli get "$KEY" "$W/b.dump" 2>"$W/get.err"; then
	check_eq "boto3 download: SHA-256 = backups.sha256" "$(sha256sum "$W/b.dump" | cut -d' ' -f1)" "$SHA"
	if pg_restore -l "$W/b.dump" >"$W/b.list" 2>"$W/b.list.err"; then
		pass "pg_restore -l reads the S3 object ($(grep -c 'TABLE DATA' "$W/b.list") TABLE DATA entries)"
	else
		fail "pg_restore -l of the S3 object: $(head -c 300 "$W/b.list.err")"
	fi
	restore_into "the S3 object" "$W/b.dump" by_pg_restore && compare_dbs "pg_restore of the S3 object" src by_pg_restore
else
	fail "boto3 could not download $KEY: $(tail -n 2 "$W/get.err")"
fi

# === 2. restore from S3 ================================================================
q postgres "CREATE DATABASE dst" >/dev/null
q dst "CREATE TABLE old_stuff AS SELECT 1 AS x" >/dev/null
mark=$(reqlog lines)
try_sql cat "SELECT pgbackups.restore('$B', target => 'dst', confirm => 'dst', parallel => 2, keep_owner => true, keep_acl => true, wait => true)"
if [ "$TRY_STATE" = OK ]; then
	R=$TRY_OUT
	pass "restore $R of $B from S3 into dst"
	check_eq "$R completed" "$(job_field cat "$R" status)" completed
	compare_dbs "restore from S3" src dst
	check "the restore read the object with ranged GETs ($(reqlog count --since "$mark" method=GET range=1))" \
		test "$(reqlog count --since "$mark" method=GET range=1)" -ge 1
	check_eq "the restore's requests were all signed" "$(reqlog count --since "$mark" auth=none)" 0
else
	fail "restore of $B from S3: $TRY_STATE $TRY_MSG"
fi
check_eq "no staging database left" "$(staging_dbs)" ""

# === 3. a small capture (cat itself) ===================================================
q cat "CREATE TABLE small AS SELECT g, 'row ' || g AS t FROM generate_series(1, 1000) g" >/dev/null
mark=$(reqlog lines)
try_sql cat "SELECT pgbackups.capture(wait => true)"
if [ "$TRY_STATE" = OK ]; then
	S=$TRY_OUT
	check_eq "small capture $S completed" "$(backup_field cat "$S" status)" completed
	SKEY=$(key_of "$S")
	check_eq "small capture: boto3 sees archive_size bytes" "$(s3cli head "$SKEY" 2>&1)" "$(backup_field cat "$S" archive_size)"
	check_eq "small capture: SHA-256 = backups.sha256" "$(s3cli sha256 "$SKEY" 2>&1)" "$(backup_field cat "$S" sha256)"
	check_eq "small capture: no upload left unfinished" "$(reqlog uploads --since "$mark" | sed -n 's/^unfinished=//p')" 0
	q postgres "CREATE DATABASE small_dst" >/dev/null
	try_sql cat "SELECT pgbackups.restore('$S', target => 'small_dst', confirm => 'small_dst', parallel => 1, wait => true)"
	check_eq "small capture restored from S3" "$TRY_STATE" OK
	check_eq "... with its rows" "$(q small_dst "SELECT count(*) || ' ' || sum(g) FROM small" 2>&1)" "1000 500500"
else
	fail "small capture: $TRY_STATE $TRY_MSG"
	S=""
fi

# === 4. url() ===========================================================================
if U=$(q cat "SELECT pgbackups.url('$B')" 2>"$W/url.err"); then
	case "$U" in
	"$FP_ENDPOINT/$S3_BUCKET/$KEY?"*) pass "url('$B') is a GET URL of the object at the endpoint" ;;
	*) fail "url('$B') = [${U%%\?*}?...], want $FP_ENDPOINT/$S3_BUCKET/$KEY?..." ;;
	esac
	for p in 'X-Amz-Algorithm=AWS4-HMAC-SHA256' "X-Amz-Credential=$S3_ACCESS_KEY%2F" 'X-Amz-Expires=3600' 'X-Amz-SignedHeaders=host' 'X-Amz-Security-Token=' 'X-Amz-Signature='; do
		check "url() has $p" grep -q -F -- "$p" <<<"$U"
	done
	code=$(curl -s -o "$W/u.dump" -w '%{http_code}' "$U")
	check_eq "curl downloads the url() link" "$code" 200
	check_eq "... SHA-256 = backups.sha256" "$(sha256sum "$W/u.dump" | cut -d' ' -f1)" "$SHA"
	check "... pg_restore -l reads it" pg_restore -l "$W/u.dump" -f /dev/null
	sig=$(sed -E 's/.*X-Amz-Signature=([0-9a-f]+).*/\1/' <<<"$U")
	c=${sig:10:1}
	[ "$c" = 0 ] && n=1 || n=0
	BADU=${U/X-Amz-Signature=$sig/X-Amz-Signature=${sig:0:10}$n${sig:11}}
	check_eq "one byte of X-Amz-Signature changed: 403" "$(curl -s -o "$W/bad.xml" -w '%{http_code}' "$BADU")" 403
	NOSIG=${U/&X-Amz-Signature=$sig/}
	NOSIG=${NOSIG/X-Amz-Signature=$sig&/}
	# the other X-Amz-* query parameters without X-Amz-Signature: s3rver (like
	# S3) answers 400 AuthorizationQueryParametersError
	check_eq "X-Amz-Signature removed: 400" "$(curl -s -o "$W/nosig.xml" -w '%{http_code}' "$NOSIG")" 400
	check "... AuthorizationQueryParametersError" grep -q 'AuthorizationQueryParametersError' "$W/nosig.xml"
else
	fail "url('$B'): $(cat "$W/url.err")"
fi
if U2=$(q cat "SELECT pgbackups.url('$B', valid_for => '2 seconds')" 2>"$W/url2.err"); then
	check "valid_for => '2 seconds': X-Amz-Expires=2" grep -q -F 'X-Amz-Expires=2&' <<<"$U2&"
	check_eq "... works at once" "$(curl -s -o /dev/null -w '%{http_code}' "$U2")" 200
	sleep 3.5
	check_eq "... 403 once expired" "$(curl -s -o "$W/exp.xml" -w '%{http_code}' "$U2")" 403
	check "... s3rver says it expired" grep -q 'expired' "$W/exp.xml"
else
	fail "url('$B', valid_for => '2 seconds'): $(cat "$W/url2.err")"
fi
if U7=$(q cat "SELECT pgbackups.url('$B', valid_for => '7 days')" 2>"$W/url7.err"); then
	check "valid_for => '7 days': X-Amz-Expires=604800" grep -q -F 'X-Amz-Expires=604800' <<<"$U7"
	check_eq "... works" "$(curl -s -o /dev/null -w '%{http_code}' "$U7")" 200
else
	fail "url('$B', valid_for => '7 days'): $(cat "$W/url7.err")"
fi
expect_sqlstate "url(valid_for => '0 seconds')" cat 22023 "SELECT pgbackups.url('$B', valid_for => '0 seconds')"
expect_sqlstate "url(valid_for => '7 days 1 second')" cat 22023 "SELECT pgbackups.url('$B', valid_for => '7 days 1 second')"
expect_sqlstate "url(valid_for => '-1 hour')" cat 22023 "SELECT pgbackups.url('$B', valid_for => '-1 hour')"
expect_sqlstate "url('b999')" cat 42704 "SELECT pgbackups.url('b999')"
if [ -n "$S" ]; then
	if UN=$(q cat "SELECT pgbackups.url(NULL)" 2>"$W/urln.err"); then
		check "url(NULL) is the newest completed backup of the current database ($S)" grep -q -F "/$(key_of "$S")?" <<<"$UN"
		check_eq "... and downloads" "$(curl -s -o "$W/n.dump" -w '%{http_code}' "$UN") $(sha256sum "$W/n.dump" | cut -d' ' -f1)" "200 $(backup_field cat "$S" sha256)"
	else
		fail "url(NULL): $(cat "$W/urln.err")"
	fi
fi

# === 5. delete() removes the object =====================================================
if [ -n "$S" ]; then
	try_sql cat "SELECT pgbackups.delete('$S')"
	check_eq "delete('$S')" "$TRY_STATE" OK
	check_eq "... the object is gone" "$(s3cli head "$SKEY" 2>&1)" missing
fi

# === 6. file:// storage: url() is the file URL ====================================================
set_conf pgbackups.storage_url "file://$STORAGE_DIR"
try_sql cat "SELECT pgbackups.capture(wait => true)"
if [ "$TRY_STATE" = OK ]; then
	F=$TRY_OUT
	floc=$(backup_field cat "$F" location)
	check "file storage: location is file://$STORAGE_DIR/..." grep -q "^file://$STORAGE_DIR/" <<<"$floc"
	check_eq "file storage: url('$F') is the location" "$(q cat "SELECT pgbackups.url('$F')" 2>&1)" "$floc"
	check_eq "file storage: url('$B') of the S3 backup still presigns" "$(q cat "SELECT pgbackups.url('$B')" 2>&1 | grep -c 'X-Amz-Signature=')" 1
else
	fail "capture to file:// storage: $TRY_STATE $TRY_MSG"
fi
# === 7. retention expires objects =====================================================
q postgres "ALTER SYSTEM RESET pgbackups.storage_url" >/dev/null
set_conf pgbackups.manual_retention 1
ids=()
for i in 1 2; do
	try_sql cat "SELECT pgbackups.capture(wait => true)"
	if [ "$TRY_STATE" = OK ]; then ids+=("$TRY_OUT"); else fail "capture $i of cat: $TRY_STATE $TRY_MSG"; fi
done
if [ "${#ids[@]}" = 2 ]; then
	newest=$(key_of "${ids[1]}")
	check_eq "manual_retention = 1: only the newest archive and its manifest are left" "$(s3cli ls "backups/t72/$SYSID/cat/" | cut -f1)" "$newest
$newest.manifest.json"
	check_eq "... the expired backups' rows are gone" "$(q cat "SELECT string_agg(id, ',' ORDER BY id) FROM pgbackups.backups WHERE location LIKE 's3:%'")" "${ids[1]}"
fi
set_conf pgbackups.manual_retention 25
no_secret_in "server log" "$SERVER_LOG"
finish
