#!/bin/bash
# 73_storage_listing: what storage holds, read directly (issue 13, item 7):
# pgbackups._storage_list(prefix) and _storage_read(url) on file:// and on
# s3rver (through the fault proxy), S3's XML read with libxml2.
#  - file://: a capture's archive and 12 small objects whose names carry
#    spaces, '%', '+', '=', non-ASCII characters, '&', '<', '>', quotes and
#    a literal "&amp;" (some in subdirectories; a *.tmp file is never
#    listed) are listed with their sizes in byte order, exactly as find(1)
#    sees them; each reads back byte for byte; a missing object is NULL
#  - s3:// (s3rver): 8 of them, uploaded with an independent client
#    (boto3), list with pgbackups.s3_list_page_size = 2 across at least 4
#    pages of ListObjectsV2 (continuation tokens) equal to the file://
#    listing of the same set, and read back exactly; the 4 with XML
#    special characters read back exactly by key, and list as boto3 lists
#    them (s3rver escapes listed keys twice, so both see "&amp;": a bug of
#    s3rver, hence the stub below for correct XML); a RequestTimeout (400)
#    is retried
#  - a database named "a&b c é" captures to both; its key (with literal
#    '%' from the name's encoding) lists with the archive's size and reads
#    back with the catalog's SHA-256
#  - an S3 error whose Code and Message carry entity and character
#    references comes back decoded ("a & b <c> é 中") with SQLSTATE 58030
#  - refusals: a URL outside the storage root or with "." / ".." segments
#    (42501), an object over 1 MB (54000), bytes that are not text (22021),
#    a non-superuser (42501: without EXECUTE, as pgbackups_admin, and with
#    EXECUTE granted, where the C check refuses)
#  - a stub S3 endpoint (correct XML, as AWS writes it): a listing of 3
#    pages whose keys use entity and character references, raw UTF-8 and
#    CDATA, and whose continuation tokens carry '+', '/', '=', '&', a space
#    and 'é', comes back exactly, the tokens sent back exactly
#  - the start-up sweep: its bucket-level ListMultipartUploads is signed
#    as s3rver expects (no SignatureDoesNotMatch; s3rver answers 501
#    NotImplemented, a LOG line), and against the stub, which lists
#    unfinished uploads over two pages (keys with entity references, '%'
#    and non-ASCII characters, one of another cluster), exactly this
#    cluster's uploads are aborted, each once with its upload id ("aborted
#    2 unfinished upload(s)"): s3rver itself implements neither
#    ListMultipartUploads nor AbortMultipartUpload.
# s3rver makes its continuation tokens with DES, which Node 20's OpenSSL 3
# only offers with the legacy provider: NODE_OPTIONS below.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}

require_servers
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--openssl-legacy-provider"
start_s3rver "$S3_BUCKET"
start_fault_proxy "$S3_PORT"
EXTRA_CONF="pgbackups.http_retry_time = 10
pgbackups.http_timeout = 10"
start_cluster
W=$TESTDIR/w
mkdir -p "$W"
SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")
WEIRD='a&b c é'
WEIRD_KEY='a%26b%20c%20%C3%A9' # the name as keys carry it (catalog.c)
q postgres "CREATE DATABASE cat" >/dev/null
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE \"$WEIRD\"" >/dev/null
q "$WEIRD" "CREATE EXTENSION pgbackups" >/dev/null
q "$WEIRD" "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 5000) g" >/dev/null

# listing DB PREFIX: "url<TAB>size" lines of _storage_list(PREFIX), in its order
listing() {
	q "$1" "SELECT url || E'\\t' || size FROM pgbackups._storage_list('${2//\'/\'\'}')"
}
# sql_lit S: S as an SQL literal
sql_lit() { printf "'%s'" "${1//\'/\'\'}"; }

# === 1. file:// ===========================================================================
try_sql "$WEIRD" "SELECT pgbackups.capture(wait => true)"
[ "$TRY_STATE" = OK ] || die "capture of \"$WEIRD\" to file:// failed: $TRY_STATE $TRY_MSG"
FB=$TRY_OUT
FLOC=$(backup_field "$WEIRD" "$FB" location)
case "$FLOC" in
"file://$STORAGE_DIR/$SYSID/$WEIRD_KEY/$FB-"*.dump) pass "file:// key of \"$WEIRD\" carries its encoded name ($FLOC)" ;;
*) fail "file:// location [$FLOC], want file://$STORAGE_DIR/$SYSID/$WEIRD_KEY/$FB-<time>.dump" ;;
esac
check "the capture lists under its database's prefix with archive_size bytes" \
	grep -qFx "$FLOC	$(backup_field "$WEIRD" "$FB" archive_size)" <<<"$(listing "$WEIRD" "$SYSID/$WEIRD_KEY/")"
check_eq "the whole root lists it too, same size" \
	"$(q "$WEIRD" "SELECT size FROM pgbackups._storage_list() WHERE url = $(sql_lit "$FLOC")")" \
	"$(stat -c %s "${FLOC#file://}")"
check_eq "the archive on disk has the catalog's SHA-256" \
	"$(sha256sum "${FLOC#file://}" | cut -d' ' -f1)" "$(backup_field "$WEIRD" "$FB" sha256)"

# NAMES: listed alike by s3rver; XNAMES: with XML special characters
NAMES=('plain.json' 'with space.json' 'é ü 日本.json' 'sub/dir/nested x.json'
	'pct%26 + plus=.json' 'semi;colon,comma.json' 'sub/tilde~dash-under_score.json' 'z(1).json')
XNAMES=('a&b.json' 'lt<gt>.json' "q'uote\`tick\".json" 'sub/nested &amp; x.json')
OBJ=$W/objects
i=0
for d in t73 t73x; do
	if [ "$d" = t73 ]; then set -- "${NAMES[@]}"; else set -- "${XNAMES[@]}"; fi
	for n in "$@"; do
		i=$((i + 1))
		mkdir -p "$(dirname "$OBJ/$d/$n")"
		for _ in $(seq 1 $((i * 37))); do printf '{"object": %d, "name": "%s", "text": "& <tag> é"}\n' "$i" "$n"; done >"$OBJ/$d/$n"
	done
done
echo 'a writer in progress' >"$OBJ/t73/skip.json.tmp"
echo 'a writer in progress' >"$OBJ/t73x/sub/x.json.1234.tmp"
cp -a "$OBJ/t73" "$OBJ/t73x" "$STORAGE_DIR/"
chown -R postgres:postgres "$STORAGE_DIR/t73" "$STORAGE_DIR/t73x"
# file_listing DIR: what find(1) sees under $STORAGE_DIR/DIR, as _storage_list shows it
file_listing() { (cd "$STORAGE_DIR" && find "$1" -type f ! -name '*.tmp' -printf "file://$STORAGE_DIR/%p\t%s\n" | LC_ALL=C sort); }
want_file=$(file_listing t73)
check_eq "file:// listing of t73/: ${#NAMES[@]} objects, sizes, byte order, no *.tmp" "$(listing cat t73/)" "$want_file"
check_eq "file:// listing of t73x/ (XML special characters): ${#XNAMES[@]} objects" "$(listing cat t73x/)" "$(file_listing t73x)"
check_eq "a prefix that is not a directory lists what starts with it" \
	"$(listing cat 't73x/a&' | cut -f1)" "file://$STORAGE_DIR/t73x/a&b.json"
bad=0
for d in t73 t73x; do
	if [ "$d" = t73 ]; then set -- "${NAMES[@]}"; else set -- "${XNAMES[@]}"; fi
	for n in "$@"; do
		got=$(q cat "SELECT md5(convert_to(pgbackups._storage_read($(sql_lit "file://$STORAGE_DIR/$d/$n")), 'UTF8'))")
		[ "$got" = "$(md5sum <"$STORAGE_DIR/$d/$n" | cut -d' ' -f1)" ] || { bad=$((bad + 1)); log "read of $d/$n differs"; }
	done
done
check_eq "every file:// object reads back byte for byte" "$bad" 0
check_eq "a missing object reads as NULL" \
	"$(q cat "SELECT pgbackups._storage_read($(sql_lit "file://$STORAGE_DIR/t73/missing.json")) IS NULL")" t

# refusals
echo 'secret' >"$TESTDIR/outside.txt"
mkdir -p "${STORAGE_DIR}x" && echo 'sibling' >"${STORAGE_DIR}x/f.txt"
expect_sqlstate "_storage_read of a file outside the root" cat 42501 "SELECT pgbackups._storage_read('file:///etc/hostname')"
expect_sqlstate "_storage_read through a .. segment" cat 42501 "SELECT pgbackups._storage_read($(sql_lit "file://$STORAGE_DIR/../outside.txt"))"
expect_sqlstate "_storage_read through a . segment" cat 42501 "SELECT pgbackups._storage_read($(sql_lit "file://$STORAGE_DIR/./t73/plain.json"))"
expect_sqlstate "_storage_read of a sibling directory sharing the root's name" cat 42501 "SELECT pgbackups._storage_read($(sql_lit "file://${STORAGE_DIR}x/f.txt"))"
expect_sqlstate "_storage_read of the root itself" cat 42501 "SELECT pgbackups._storage_read($(sql_lit "file://$STORAGE_DIR/"))"
expect_sqlstate "_storage_read of an s3:// URL while the root is file://" cat 42501 "SELECT pgbackups._storage_read('s3://$S3_BUCKET/x')"
expect_sqlstate "_storage_list with a .. prefix" cat 42501 "SELECT * FROM pgbackups._storage_list('../')"
expect_sqlstate "_storage_list with an absolute prefix" cat 42501 "SELECT * FROM pgbackups._storage_list('/etc')"
head -c 1100000 /dev/zero | tr '\0' 'x' >"$STORAGE_DIR/t73big.txt"
chown postgres:postgres "$STORAGE_DIR/t73big.txt"
expect_sqlstate "_storage_read of an object over 1 MB" cat 54000 "SELECT pgbackups._storage_read($(sql_lit "file://$STORAGE_DIR/t73big.txt"))"
expect_sqlstate "_storage_read of an archive (not text)" cat 22021 "SELECT pgbackups._storage_read($(sql_lit "$FLOC"))"
rm -f "$STORAGE_DIR/t73big.txt"

# non-superusers
q postgres "CREATE ROLE t73_plain LOGIN; CREATE ROLE t73_admin LOGIN IN ROLE pgbackups_admin; CREATE ROLE t73_granted LOGIN" >/dev/null
q cat "GRANT USAGE ON SCHEMA pgbackups TO t73_plain, t73_granted;
	GRANT EXECUTE ON FUNCTION pgbackups._storage_list(text), pgbackups._storage_read(text) TO t73_granted" >/dev/null
for r in t73_plain t73_admin t73_granted; do
	expect_sqlstate "$r: _storage_list()" "dbname=cat user=$r" 42501 "SELECT * FROM pgbackups._storage_list()"
	expect_sqlstate "$r: _storage_read()" "dbname=cat user=$r" 42501 "SELECT pgbackups._storage_read($(sql_lit "file://$STORAGE_DIR/t73/plain.json"))"
done
try_sql "dbname=cat user=t73_granted" "SELECT * FROM pgbackups._storage_list()"
check "with EXECUTE granted, the C check refuses ($TRY_MSG)" grep -q 'permission denied for function _storage_list' <<<"$TRY_MSG"

# === 2. s3:// (fault proxy in front of s3rver) =============================================
for n in "${NAMES[@]}"; do
	s3cli put "r73/t73/$n" "$OBJ/t73/$n" || die "s3cli put r73/t73/$n failed"
done
for n in "${XNAMES[@]}"; do
	s3cli put "r73/t73x/$n" "$OBJ/t73x/$n" || die "s3cli put r73/t73x/$n failed"
done
# alter_system NAME VALUE...: ALTER SYSTEM SET each pair (applied by the next restart)
alter_system() {
	while [ "$#" -ge 2 ]; do
		q postgres "ALTER SYSTEM SET $1 = $(sql_lit "$2")" >/dev/null
		shift 2
	done
}
alter_system pgbackups.s3_endpoint "$FP_ENDPOINT" pgbackups.s3_region us-east-1 pgbackups.s3_uri_style path \
	pgbackups.s3_access_key_id "$S3_ACCESS_KEY" pgbackups.s3_secret_access_key "$S3_SECRET" \
	pgbackups.s3_session_token "$S3_TOKEN" pgbackups.storage_url "s3://$S3_BUCKET/r73"
restart_cluster # the start-up sweep runs against s3rver (section 3)
ROOT="s3://$S3_BUCKET/r73"

mark=$(reqlog lines)
got_s3=$(psql -X -q -At -v ON_ERROR_STOP=1 -d cat <<'SQL'
SET pgbackups.s3_list_page_size = 2;
SELECT url || E'\t' || size FROM pgbackups._storage_list('t73/');
SQL
)
pages=$(reqlog count --since "$mark" method=GET query=list-type)
check "the S3 listing took at least 4 pages of 2 keys ($pages)" test "$pages" -ge 4
check_eq "S3 listing of t73/ (pages of 2) equals the file:// listing" \
	"${got_s3//"$ROOT/"/"file://$STORAGE_DIR/"}" "$want_file"
mark=$(reqlog lines)
one_page=$(listing cat t73/)
check_eq "with the default page size: one page, same listing" \
	"$(reqlog count --since "$mark" method=GET query=list-type)/$one_page" "1/$got_s3"
check_eq "s3cli (boto3) lists the same keys and sizes" \
	"$(s3cli ls r73/t73/ | sed "s|^|s3://$S3_BUCKET/|" | LC_ALL=C sort)" "$got_s3"
bad=0
for d in t73 t73x; do
	if [ "$d" = t73 ]; then set -- "${NAMES[@]}"; else set -- "${XNAMES[@]}"; fi
	for n in "$@"; do
		got=$(q cat "SELECT md5(convert_to(pgbackups._storage_read($(sql_lit "$ROOT/$d/$n")), 'UTF8'))")
		[ "$got" = "$(md5sum <"$OBJ/$d/$n" | cut -d' ' -f1)" ] || { bad=$((bad + 1)); log "S3 read of $d/$n differs"; }
	done
done
check_eq "every S3 object (XML special characters too) reads back byte for byte by its key" "$bad" 0
check_eq "keys with XML special characters list as boto3 lists them (s3rver escapes them twice)" \
	"$(listing cat t73x/)" "$(s3cli ls r73/t73x/ | sed "s|^|s3://$S3_BUCKET/|" | LC_ALL=C sort)"
check_eq "a missing S3 object reads as NULL" "$(q cat "SELECT pgbackups._storage_read('$ROOT/t73/missing.json') IS NULL")" t
expect_sqlstate "_storage_read of another prefix of the bucket" cat 42501 "SELECT pgbackups._storage_read('s3://$S3_BUCKET/r7/x')"
expect_sqlstate "_storage_read of another bucket" cat 42501 "SELECT pgbackups._storage_read('s3://other/r73/t73/plain.json')"
expect_sqlstate "_storage_read of a file:// URL while the root is s3://" cat 42501 "SELECT pgbackups._storage_read($(sql_lit "file://$STORAGE_DIR/t73/plain.json"))"
head -c 1100000 /dev/zero | tr '\0' 'x' >"$W/big.txt"
s3cli put r73/big.txt "$W/big.txt" >/dev/null
expect_sqlstate "_storage_read of an S3 object over 1 MB" cat 54000 "SELECT pgbackups._storage_read('$ROOT/big.txt')"

# the database with '&', a space and 'é' captures to S3
try_sql "$WEIRD" "SELECT pgbackups.capture(wait => true)"
[ "$TRY_STATE" = OK ] || die "capture of \"$WEIRD\" to S3 failed: $TRY_STATE $TRY_MSG"
SB=$TRY_OUT
SLOC=$(backup_field "$WEIRD" "$SB" location)
case "$SLOC" in
"$ROOT/$SYSID/$WEIRD_KEY/$SB-"*.dump) pass "S3 key of \"$WEIRD\" carries its encoded name ($SLOC)" ;;
*) fail "S3 location [$SLOC], want $ROOT/$SYSID/$WEIRD_KEY/$SB-<time>.dump" ;;
esac
check "the S3 capture lists under its database's prefix with archive_size bytes" \
	grep -qFx "$SLOC	$(backup_field "$WEIRD" "$SB" archive_size)" <<<"$(listing "$WEIRD" "$SYSID/$WEIRD_KEY/")"
check_eq "boto3 reads the key back with the catalog's SHA-256" \
	"$(s3cli sha256 "${SLOC#"s3://$S3_BUCKET/"}")" "$(backup_field "$WEIRD" "$SB" sha256)"

# a RequestTimeout (400) is transient: retried, the listing completes
mark=$(reqlog lines)
fault_set '{"rules": [{"action": "status", "status": 400, "code": "RequestTimeout", "count": 1, "method": "GET", "query": "list-type"}]}'
try_sql cat "SELECT count(*) FROM pgbackups._storage_list('t73/')"
fault_clear
check_eq "a RequestTimeout answer is retried" "$TRY_STATE/$TRY_OUT/$(reqlog count --since "$mark" method=GET query=list-type status=400)" "OK/${#NAMES[@]}/1"

# an error body with entity and character references comes back decoded
fault_set '{"rules": [{"action": "status", "status": 403, "method": "GET", "query": "list-type",
  "code": "Weird&amp;Code</Code><Message>a &amp; b &lt;c&gt; &#233; &#x4E2D;</Message><Code>X"}]}'
try_sql cat "SELECT * FROM pgbackups._storage_list('t73/')"
fault_clear
check_eq "S3 error: SQLSTATE" "$TRY_STATE" 58030
check_eq "S3 error: Code and Message decoded exactly" "$TRY_MSG" \
	"could not list objects under \"s3://$S3_BUCKET/r73/t73/\": HTTP 403, Weird&Code: a & b <c> é 中"

# === 3. the start-up sweep =================================================================
# (a) against s3rver: signed right; s3rver has no ListMultipartUploads
deadline=$((SECONDS + 30))
until grep -q 'could not list unfinished uploads' "$SERVER_LOG" || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.2; done
sweep_line=$(grep -m1 'could not list unfinished uploads' "$SERVER_LOG" || true)
check "the sweep's listing is not refused as SignatureDoesNotMatch" test -n "$sweep_line" -a -z "$(grep SignatureDoesNotMatch <<<"$sweep_line")"
check "s3rver answers the sweep's signed listing with 501 NotImplemented ($sweep_line)" grep -q 'HTTP 501, NotImplemented' <<<"$sweep_line"

# (b) against a stub that lists unfinished uploads, two pages
cat >"$W/sweep_stub.py" <<'PY'
import http.server, json, sys, urllib.parse
ready, logf, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
K1 = prefix + "a%26b%20c%20%C3%A9/b009-20260101T000000Z.dump"
K2 = prefix + "x & <y> é/b010.dump"
K2_XML = prefix + "x &amp; &lt;y&gt; &#233;/b010.dump"
K3 = "r73/999/other.dump"
def page(uploads, truncated, marker=""):
    body = "".join(f"<Upload><Key>{k}</Key><UploadId>{i}</UploadId><Initiated>2026-01-01T00:00:00.000Z</Initiated></Upload>" for k, i in uploads)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Bucket>pgb</Bucket><IsTruncated>{truncated}</IsTruncated>{marker}{body}</ListMultipartUploadsResult>").encode()
# ListObjectsV2 under r73/st/: three pages, by continuation token (None: the first)
def contents(key_xml, size):
    return f"<Contents><Key>{key_xml}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>{size}</Size></Contents>"
def lpage(items, next_tok):
    trunc = f"<IsTruncated>true</IsTruncated><NextContinuationToken>{next_tok}</NextContinuationToken>" if next_tok else "<IsTruncated>false</IsTruncated>"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>pgb</Name><Prefix>r73/st/</Prefix><KeyCount>{len(items)}</KeyCount><MaxKeys>1000</MaxKeys>{trunc}"
            + "".join(contents(k, n) for k, n in items) + "</ListBucketResult>").encode()
LIST_PAGES = {
    None: lpage([("r73/st/a &amp; b.json", 1), ("r73/st/&lt;lt&gt; &#233;&#x65E5;.json", 22)], "tok+/=&amp;1"),
    "tok+/=&1": lpage([("r73/st/é 日本 raw.json", 333), ("<![CDATA[r73/st/<cdata> & x]]>", 4)], "tok 2é"),
    "tok 2é": lpage([("r73/st/q&apos;&quot;.json", 5), ("r73/st/pct%26+%2B.json", 6)], None),
}
def qs(raw):
    out = {}
    for item in raw.split("&"):
        if item:
            k, _, v = item.partition("=")
            out[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
    return out
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def record(self):
        u = urllib.parse.urlsplit(self.path)
        e = {"method": self.command, "path": urllib.parse.unquote(u.path), "query": qs(u.query)}
        with open(logf, "a") as f: f.write(json.dumps(e, ensure_ascii=False) + "\n")
        return e
    def send(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        e = self.record()
        q = e["query"]
        if q.get("list-type") == "2":
            if q.get("prefix") != "r73/st/":  # e.g. a rescan's listing at start-up: nothing
                return self.send(200, lpage([], None))
            tok = q.get("continuation-token")
            if tok not in LIST_PAGES:
                return self.send(400, b"<Error><Code>InvalidArgument</Code><Message>bad token</Message></Error>")
            return self.send(200, LIST_PAGES[tok])
        if "uploads" not in q:
            return self.send(404)
        if "key-marker" not in q:
            self.send(200, page([(K1, "id-1+/=")], "true", f"<NextKeyMarker>{K1}</NextKeyMarker><NextUploadIdMarker>id-1+/=</NextUploadIdMarker>"))
        else:
            self.send(200, page([(K2_XML, "id&amp;2"), (K3, "id-3")], "false"))
    def do_DELETE(self):
        self.record()
        self.send(204)
    do_HEAD = do_PUT = do_POST = lambda self: (self.record(), self.send(404))
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(ready + ".tmp", "w") as f: f.write(str(s.server_address[1]))
import os; os.rename(ready + ".tmp", ready)
s.serve_forever()
PY
: >"$W/stub.jsonl"
"$SYS_PYTHON" "$W/sweep_stub.py" "$W/stub.ready" "$W/stub.jsonl" "r73/$SYSID/" >"$W/stub.out" 2>&1 &
STUB_PID=$!
track_bg "$STUB_PID"
_wait_ready "$W/stub.ready" "$STUB_PID" sweep_stub "$W/stub.out"
alter_system pgbackups.s3_endpoint "http://127.0.0.1:$(cat "$W/stub.ready")"
log_mark=$(wc -l <"$SERVER_LOG")
restart_cluster
deadline=$((SECONDS + 30))
until tail -n +"$log_mark" "$SERVER_LOG" | grep -q 'unfinished upload' || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.2; done
check "the sweep aborted this cluster's 2 unfinished uploads" \
	grep -q "aborted 2 unfinished upload(s) in bucket \"$S3_BUCKET\"" <(tail -n +"$log_mark" "$SERVER_LOG")
check_eq "the sweep's requests: two listing pages (markers decoded exactly), then one DELETE per upload" \
	"$("$SYS_PYTHON" - "$W/stub.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    q = e["query"]
    if q.get("list-type"):
        continue
    if e["method"] == "GET":
        print("GET", e["path"], q.get("prefix"), q.get("key-marker", "-"), q.get("upload-id-marker", "-"))
    else:
        print(e["method"], e["path"], q.get("uploadId"))
PY
)" "GET /$S3_BUCKET r73/$SYSID/ - -
DELETE /$S3_BUCKET/r73/$SYSID/a%26b%20c%20%C3%A9/b009-20260101T000000Z.dump id-1+/=
GET /$S3_BUCKET r73/$SYSID/ r73/$SYSID/a%26b%20c%20%C3%A9/b009-20260101T000000Z.dump id-1+/=
DELETE /$S3_BUCKET/r73/$SYSID/x & <y> é/b010.dump id&2"

# (c) the stub's ListObjectsV2: correct XML, three pages, tokens with special characters
try_sql cat "SELECT url || E'\t' || size FROM pgbackups._storage_list('st/')"
check_eq "a listing of entity, character-reference, raw UTF-8 and CDATA keys over 3 pages comes back exactly" \
	"$TRY_STATE
$TRY_OUT" "OK
$(LC_ALL=C sort <<EOF2
$ROOT/st/a & b.json	1
$ROOT/st/<lt> é日.json	22
$ROOT/st/é 日本 raw.json	333
$ROOT/st/<cdata> & x	4
$ROOT/st/q'".json	5
$ROOT/st/pct%26+%2B.json	6
EOF2
)"
check_eq "the continuation tokens went back exactly (list-type=2, prefix, token)" \
	"$("$SYS_PYTHON" - "$W/stub.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    q = e["query"]
    if q.get("list-type") and q.get("prefix") == "r73/st/":
        print(e["path"], q.get("list-type"), q.get("prefix"), q.get("max-keys"), q.get("continuation-token", "-"))
PY
)" "/$S3_BUCKET 2 r73/st/ 1000 -
/$S3_BUCKET 2 r73/st/ 1000 tok+/=&1
/$S3_BUCKET 2 r73/st/ 1000 tok 2é"

finish
