#!/bin/bash
# 76_url_restore: restore_from_url() over HTTP(S) against servers of our own
# on loopback: nginx (a test CA in pgbackups.ca_file, certificate for
# IP:127.0.0.1 and DNS:localhost) and test/servers/https_server.py (bodies
# shorter than their Content-Length).  Run as root it re-runs itself in a
# private network namespace whose loopback also carries 169.254.169.254,
# where a trap nginx serves the same archive: following a redirect to the
# metadata address would restore successfully (and be logged there), so the
# refusal is really checked and no packet leaves the machine.
# Works, with 127.0.0.1 in pgbackups.url_allowed_hosts: a capture's archive
# (equal to the source), the pg_dump 18 zstd fixture (equal to its file://
# restore), an https -> https redirect, plain http to the allow-listed host,
# a body truncated once (retried, the retry a line of the job's log), a URL with a query string (never stored),
# a non-superuser operator into its own database.
# Refused, each with its SQLSTATE, the target database exactly as it was,
# no staging database, and no query string in any error: https and http to
# 127.0.0.1 without the allow-list (42501: the address rule comes before the
# scheme rule; no connection made), http://localhost and https://localhost
# (resolve to loopback: 42501, no connection), file:///etc/passwd as a
# non-superuser (42501), gopher/ftp/dict/s3 schemes (22023), a redirect to
# http:// (22023, even to the allow-listed host), redirects to
# https://169.254.169.254/ and to https://localhost (42501), a redirect loop
# (08P01), 404 (58P01), a truncated body (08006), a body one byte short, a
# text file, random bytes (XX001), a certificate from an unknown CA (28000),
# an archive over pgbackups.url_max_size (54000).  77_url_ssrf has the
# internal-address, rebinding and TLS cases.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
in_netns_with_metadata_address "$@"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}
QS=QSTRINGSECRETxyz # in every refused URL's query string; must never show up

require_servers
make_test_ca
"$SERVERS_DIR/make_ca.sh" "$CA_DIR" meta IP:169.254.169.254 >/dev/null
EXTRA_CONF="pgbackups.ca_file = '$CA_FILE'
pgbackups.url_allowed_hosts = '127.0.0.1'
pgbackups.http_timeout = 5
pgbackups.http_retry_time = 4"
start_cluster # EXTRA_CONF not exported: the postmaster must not inherit the secrets in its environment
W=$TESTDIR/w
mkdir -p "$W"
new_tmpdir WEB

psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE cat;
CREATE DATABASE src;
CREATE DATABASE victim;
CREATE DATABASE simple;
CREATE ROLE operator LOGIN;
SQL
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "GRANT pgbackups_admin TO operator; GRANT CONNECT ON DATABASE cat TO operator" >/dev/null
log "loading test/data/rich.sql into src"
psql_db src -v ROWS_BIG="${ROWS_BIG:-20000}" <"$LIB_DIR/data/rich.sql" >/dev/null
q src "CREATE TABLE noise AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 60000) g" >/dev/null
q victim "CREATE TABLE mine AS SELECT g, 'victim ' || g AS s FROM generate_series(1, 1000) g; SELECT lo_from_bytea(4242, 'victim lo')" >/dev/null
db_fingerprint victim >"$W/victim.before"

# the files the servers hand out
try_sql cat "SELECT pgbackups.capture(database => 'src', wait => true)"
[ "$TRY_STATE" = OK ] || die "capture of src: $TRY_MSG"
cp "$(archive_path cat "$TRY_OUT")" "$WEB/cap.dump"
q simple "CREATE TABLE t AS SELECT g, 'simple ' || g AS s FROM generate_series(1, 3000) g" >/dev/null
try_sql cat "SELECT pgbackups.capture(database => 'simple', wait => true)"
[ "$TRY_STATE" = OK ] || die "capture of simple: $TRY_MSG"
cp "$(archive_path cat "$TRY_OUT")" "$WEB/simple.dump"
# a pg_dump 18 zstd archive (1.16): the fixture, or on a server that refuses
# its pg_attver column option (18) the same kind of archive from this
# server's own pg_dump -Z zstd (1.16 on 17 and later)
if fixtures_accept_pg_attver; then
	cp "$LIB_DIR/data/archives/pg18_zstd.dump" "$WEB/pg18_zstd.dump"
else
	log "this server refuses pg_attver: pg18_zstd.dump is its own pg_dump -Fc -Z zstd of src"
	pg_dump -Fc -Z zstd -d src -f "$WEB/pg18_zstd.dump"
fi
for i in $(seq 1 200); do echo "line $i: this is a text file, not a pg_dump archive"; done >"$WEB/notes.txt"
head -c 300000 /dev/urandom >"$WEB/random.bin"
chmod 644 "$WEB"/*
CAP_SIZE=$(stat -c %s "$WEB/cap.dump")
log "cap.dump: $CAP_SIZE bytes"

TRAP=""
if [ "$NETNS_METADATA" = 1 ]; then
	TRAP="server {
		listen 169.254.169.254:443 ssl;
		ssl_certificate $CA_DIR/meta.crt;
		ssl_certificate_key $CA_DIR/meta.key;
		location /files/ { alias $WEB/; }
	}"
fi
start_nginx_https "$WEB" "$TRAP"
start_https_server "$WEB"
NG=https://127.0.0.1:$NGINX_PORT
NGH=http://127.0.0.1:$NGINX_HTTP_PORT
PY=https://127.0.0.1:$HTTPS_PORT
if [ "$NETNS_METADATA" = 1 ]; then
	check "the trap at 169.254.169.254 serves the archive (in this namespace only)" \
		curl -sf --cacert "$CA_FILE" -o /dev/null "https://169.254.169.254/files/cap.dump"
	: >"$NGINX_ACCESS_LOG"
fi

nginx_lines() { wc -l <"$NGINX_ACCESS_LOG"; }

# restore_ok NAME URL TARGET [ROLE] [KEEP]: restore_from_url into a fresh TARGET
# (owned by ROLE, default postgres) works; KEEP (default true) is keep_owner and
# keep_acl
restore_ok() {
	local name=$1 url=$2 tgt=$3 role=${4:-postgres} keep=${5:-true} owner=""
	[ "$role" = postgres ] || owner=" OWNER $role"
	q postgres "CREATE DATABASE $tgt$owner" >/dev/null
	PGUSER=$role q "$tgt" "CREATE TABLE placeholder AS SELECT 1 AS x" >/dev/null
	PGUSER=$role try_sql cat "SELECT pgbackups.restore_from_url('$url', target => '$tgt', confirm => '$tgt', keep_owner => $keep, keep_acl => $keep, wait => true)"
	if [ "$TRY_STATE" = OK ]; then
		pass "$name: restored into $tgt ($TRY_OUT)"
		LAST_R=$TRY_OUT
		return 0
	fi
	fail "$name: $TRY_STATE $TRY_MSG"
	LAST_R=""
	return 1
}

# refused NAME URL [WANT_STATE] [ROLE] [HOST]: restore_from_url(URL?$QS...) into
# victim fails (with WANT_STATE when given), victim is untouched, no staging
# database, the error names HOST (when given) and has no query string
refused() {
	local name=$1 url=$2 want=${3:-} role=${4:-postgres} host=${5:-} full rid
	case "$url" in
	*\?*) full="$url&X-Amz-Signature=$QS" ;;
	*) full="$url?X-Amz-Signature=$QS" ;;
	esac
	PGUSER=$role try_sql cat "SELECT pgbackups.restore_from_url('$full', target => 'victim', confirm => 'victim', wait => true)"
	printf '== %s\n%s\n' "$name" "$TRY_ERR" >>"$W/errors.txt"
	if [ "$TRY_STATE" = OK ]; then
		fail "$name: restore_from_url succeeded ($TRY_OUT)"
		db_fingerprint victim >"$W/victim.before" # go on from the new state
		return 0
	fi
	if [ -n "$want" ] && [ "$TRY_STATE" != "$want" ]; then
		fail "$name: SQLSTATE $TRY_STATE, want $want: $TRY_MSG"
	else
		pass "$name: refused ($TRY_STATE): $TRY_MSG"
	fi
	[ -z "$host" ] || check "$name: the error names $host" grep -q -F "$host" <<<"$TRY_MSG"
	check "$name: no query string in the error" bash -c "! grep -q -F '$QS' <<<\"\$1\"" _ "$TRY_ERR"
	rid=$(q cat "SELECT id FROM pgbackups.restores ORDER BY started_at DESC NULLS LAST, id DESC LIMIT 1" 2>/dev/null || true)
	if [ -n "$rid" ]; then
		check_eq "$name: no query string in the catalog" "$(q cat "SELECT count(*) FROM pgbackups.restores WHERE concat_ws(' ', backup, location, error) LIKE '%$QS%'")" 0
	fi
	if db_fingerprint victim | diff -q "$W/victim.before" - >/dev/null; then
		pass "$name: victim is as it was"
	else
		fail "$name: victim changed"
		db_fingerprint victim >"$W/victim.before"
	fi
	check_eq "$name: no staging database left" "$(staging_dbs)" ""
}

# === works =================================================================================
restore_ok "https: a capture's archive" "$NG/files/cap.dump" t_cap && compare_dbs "https: a capture's archive" src t_cap
check_eq "... a download without a failure logs no retry" "$(q cat "SELECT count(*) FROM pgbackups.logs WHERE job_id = '$LAST_R' AND message LIKE 'retry %'")" 0
q postgres "CREATE DATABASE o18" >/dev/null
try_sql cat "SELECT pgbackups.restore_from_url('file://$WEB/pg18_zstd.dump', target => 'o18', confirm => 'o18', wait => true)"
check_eq "oracle: the pg_dump 18 zstd fixture from file://" "$TRY_STATE" OK
restore_ok "https: the pg_dump 18 zstd fixture (archive 1.16)" "$NG/files/pg18_zstd.dump" t18 postgres false && compare_dbs "https: pg18 zstd fixture" o18 t18
restore_ok "https -> https redirect" "$NG/redirect/https/cap.dump" t_redir && compare_dbs "https -> https redirect" src t_redir
restore_ok "http:// to the allow-listed 127.0.0.1" "$NGH/files/cap.dump" t_http && compare_dbs "http allow-listed" src t_http
if restore_ok "a body truncated once is fetched again" "$PY/truncate-once/cap.dump" t_trunc1; then
	compare_dbs "truncated once" src t_trunc1
	check_eq "... the server answered two GETs for it" "$(grep -c '"path": "/truncate-once/cap.dump"' "$HTTPS_LOG")" 2
	retries=$(q cat "SELECT string_agg(message, E'\n' ORDER BY logged_at) FROM pgbackups.logs WHERE job_id = '$LAST_R' AND message LIKE 'retry %'")
	log "the retry in $LAST_R's log: $retries"
	check "... the job's log has the retry: its number, the URL, the failure" \
		grep -qxE "retry 1 of the download of \"$PY/truncate-once/cap.dump\" after: .+" <<<"$retries"
	check_eq "... one retry line, for the one failed GET" "$(grep -c . <<<"$retries")" 1
fi
if restore_ok "a URL with a query string" "$NG/files/cap.dump?X-Amz-Signature=$QS&token=$QS" t_qs; then
	check_eq "... the catalog holds the URL without its query string" \
		"$(q cat "SELECT count(*) FROM pgbackups.restores WHERE id = '$LAST_R' AND backup LIKE '$NG/files/cap.dump%'")/$(q cat "SELECT count(*) FROM pgbackups.restores WHERE concat_ws(' ', backup, location, error) LIKE '%$QS%'")" "1/0"
	check "... and pgbackups.logs has no query string" test "$(q cat "SELECT count(*) FROM pgbackups.logs WHERE message LIKE '%$QS%'")" = 0
fi
restore_ok "a non-superuser operator into its own database" "$NG/files/simple.dump" t_op operator false &&
	check_eq "... the operator's database holds the data" "$(q t_op "SELECT count(*) || ' ' || sum(g) FROM t")" "3000 4501500"

# === refused ================================================================================
set_conf pgbackups.url_allowed_hosts ''
n0=$(nginx_lines)
refused "https to 127.0.0.1 without the allow-list" "$NG/files/cap.dump" 42501 postgres 127.0.0.1
check_eq "... no request reached nginx" "$(nginx_lines)" "$n0"
refused "http:// to 127.0.0.1 without the allow-list (the address rule comes first)" "$NGH/files/cap.dump" 42501 postgres 127.0.0.1
set_conf pgbackups.url_allowed_hosts '127.0.0.1'
refused "http://localhost (not allow-listed; resolves to loopback)" "http://localhost:$NGINX_HTTP_PORT/files/cap.dump" 42501 postgres localhost
n0=$(nginx_lines)
refused "https://localhost resolves to 127.0.0.1, only 127.0.0.1 allow-listed" "https://localhost:$NGINX_PORT/files/cap.dump" 42501 postgres localhost
check_eq "... no request reached nginx" "$(nginx_lines)" "$n0"
refused "file:///etc/passwd as a non-superuser" "file:///etc/passwd" 42501 operator
for u in "gopher://127.0.0.1:$NGINX_HTTP_PORT/_GET%20/" "ftp://127.0.0.1/cap.dump" "dict://127.0.0.1:$NGINX_HTTP_PORT/" "s3://pgb/cap.dump" "HTTPS-ish://127.0.0.1/"; do
	refused "scheme ${u%%:*}" "$u" 22023
done
refused "https redirecting to http:// (even to an allow-listed host)" "$NG/redirect/http/cap.dump" 22023
n0=$(nginx_lines)
refused "a redirect to https://169.254.169.254/" "$NG/redirect/metadata/cap.dump" 42501 postgres 169.254.169.254
if [ "$NETNS_METADATA" = 1 ]; then
	check_eq "... the trap at 169.254.169.254 got no request" "$(grep -c '169.254.169.254:443' "$NGINX_ACCESS_LOG" || true)" 0
fi
refused "a redirect to https://localhost" "$NG/redirect/localhost/cap.dump" 42501 postgres localhost
refused "a redirect loop" "$NG/redirect/loop/cap.dump" 08P01
refused "404" "$NG/files/missing.dump" 58P01 postgres
check "... the 404 error says 404" grep -q '404' <<<"$TRY_MSG"
refused "a truncated body (Content-Length larger than what is sent)" "$PY/truncate/cap.dump" 08006
refused "a body one byte short of the archive" "$PY/short-length/cap.dump" XX001
refused "a text file" "$NG/files/notes.txt" XX001
refused "random bytes" "$NG/files/random.bin" XX001
set_conf pgbackups.ca_file ''
refused "a certificate from a CA not in pgbackups.ca_file" "$NG/files/cap.dump" 28000
set_conf pgbackups.ca_file "$CA_FILE"
if [ "$CAP_SIZE" -gt 1048576 ]; then
	set_conf pgbackups.url_max_size 1
	refused "an archive over pgbackups.url_max_size (1 MB)" "$NG/files/cap.dump" 54000
	set_conf pgbackups.url_max_size 1048576
else
	skip "an archive over pgbackups.url_max_size" "cap.dump is under 1 MB ($CAP_SIZE bytes), the smallest limit"
fi

no_secret_in "error texts" "$W/errors.txt"
# the server log: nothing of ours may carry the query string; PostgreSQL's own
# STATEMENT lines echo the caller's SQL (the URL literal) unless the error is
# raised with errhidestmt
grep -v -E '(STATEMENT|DETAIL|CONTEXT):  ' "$SERVER_LOG" >"$W/server-log-own.txt" || true
NO_SECRET_EXTRA=$QS no_secret_in "server log, without STATEMENT lines" "$W/server-log-own.txt"
n_stmt=$(grep -c -F "$QS" "$SERVER_LOG" || true)
[ "$n_stmt" = 0 ] || log "note: $n_stmt STATEMENT lines of the server log echo a refused URL's query string (the caller's SQL)"
finish
