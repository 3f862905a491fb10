#!/bin/bash
# 78_secrets: S3 credentials and presigned signatures stay secret.  s3rver
# over HTTPS (test CA in pgbackups.ca_file) with a distinctive secret key and
# session token, set in postgresql.conf before the server starts, with
# log_statement = all and log_min_messages = debug1.  Captures, a restore from
# S3, url() as an operator, restore_from_url(url(...)) (the presigned URL
# never appears in SQL text), an expired and a tampered presigned URL, a
# capture into a missing bucket.  Meanwhile pg_stat_activity (every column),
# the command lines and environments of the server's processes, and
# pgbackups_events notifications are sampled.  Then the secret key, the
# session token and any SigV4 signature (every X-Amz-Signature seen, and any
# "Signature=<64 hex>") must be absent from: the server log, those samples,
# the pgbackups catalog (pg_dump --data-only --schema=pgbackups), what an
# operator (pgbackups_admin, not superuser) sees in pg_settings, SHOW ALL,
# info()/logs()/list() and the catalog tables, and every error text.  The
# operator cannot read the credential settings (42501).
# (PostgreSQL itself logs a reloaded setting's new value, hidden or not, so a
# secret changed by reload would be logged: the README says to put them in
# postgresql.conf; this test does not reload them.)
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}

require_servers
make_test_ca
S3_TLS=1 start_s3rver pgb
EXTRA_CONF="log_statement = 'all'
log_min_messages = debug1
$(s3_conf "$S3_ENDPOINT" backups/t78)
pgbackups.ca_file = '$CA_FILE'
pgbackups.url_allowed_hosts = '127.0.0.1'
pgbackups.s3_part_size = 5
pgbackups.http_timeout = 5
pgbackups.http_retry_time = 5"
start_cluster # EXTRA_CONF not exported: the postmaster must not inherit the secrets in its environment
W=$TESTDIR/w
mkdir -p "$W"
: >"$W/errors.txt"
: >"$W/sigs.txt"

psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE cat;
CREATE DATABASE src;
CREATE DATABASE dst;
CREATE DATABASE dst2;
CREATE DATABASE victim;
CREATE ROLE operator LOGIN;
SQL
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "GRANT pgbackups_admin TO operator; GRANT CONNECT ON DATABASE cat TO operator" >/dev/null
q src "CREATE TABLE noise AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS h FROM generate_series(1, 100000) g; CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g" >/dev/null
q victim "CREATE TABLE mine AS SELECT 1 AS x" >/dev/null
db_fingerprint victim >"$W/victim.before"

note_error() { printf '== %s\n%s\n' "$1" "$TRY_ERR" >>"$W/errors.txt"; }
# remember the signature of a URL we were handed
note_sig() { sed -n -E 's/.*X-Amz-Signature=([0-9a-f]{64}).*/\1/p' <<<"$1" >>"$W/sigs.txt"; }

# --- samplers: pg_stat_activity, this server's process command lines and environments, NOTIFYs --
sampler() {
	set +e
	while :; do
		psql -X -q -At -d postgres -c "SELECT a::text FROM pg_stat_activity a" >>"$W/activity.txt" 2>/dev/null
		# this cluster's processes: the postmaster, its children and theirs (pg_dump)
		pm=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null)
		kids=$(pgrep -P "$pm" 2>/dev/null | tr '\n' ' ')
		for p in $pm $kids $(for k in $kids; do pgrep -P "$k"; done 2>/dev/null); do
			{ tr '\0' ' ' <"/proc/$p/cmdline" && echo; } 2>/dev/null
			{ tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null
		done >>"$W/procs.txt"
		sleep 0.2
	done
}
sampler &
SAMPLER=$!
track_bg "$SAMPLER"
for _ in $(seq 1 400); do echo "SELECT pg_sleep(0.25);"; done | { echo "LISTEN pgbackups_events;"; cat; } |
	psql -X -q -d cat >"$W/notify.txt" 2>&1 &
LISTENER=$!
track_bg "$LISTENER"

# --- what the credentials are used for -------------------------------------------------------------
try_sql cat "SELECT pgbackups.capture(database => 'src', compression => 'none', wait => true)"
note_error capture
[ "$TRY_STATE" = OK ] || fail "capture to S3 over https: $TRY_STATE $TRY_MSG"
B=$TRY_OUT
check_eq "capture $B completed" "$(backup_field cat "$B" status)" completed
check_eq "the object is in s3rver (SHA-256)" "$(s3cli sha256 "$(backup_field cat "$B" location | sed "s|^s3://$S3_BUCKET/||")" 2>&1)" "$(backup_field cat "$B" sha256)"

try_sql cat "SELECT pgbackups.restore('$B', target => 'dst', confirm => 'dst', wait => true)"
note_error restore
check_eq "restore from S3 over https" "$TRY_STATE" OK
check_eq "... rows" "$(q dst "SELECT count(*) FROM noise" 2>&1)" 100000

# url() as the operator, downloaded with curl
U=$(PGUSER=operator q cat "SELECT pgbackups.url('$B')" 2>"$W/op-url.err") || true
note_sig "$U"
if [ -n "$U" ]; then
	check_eq "operator: url() downloads with curl" "$(curl -s --cacert "$CA_FILE" -o "$W/u.dump" -w '%{http_code}' "$U")" 200
	check "... the link carries the session token" grep -q 'X-Amz-Security-Token=' <<<"$U"
else
	fail "operator: url('$B'): $(cat "$W/op-url.err")"
fi

# restore_from_url of a presigned link: the link never appears in SQL text
try_sql cat "SELECT pgbackups.restore_from_url(pgbackups.url('$B'), target => 'dst2', confirm => 'dst2', wait => true)"
note_error "restore_from_url(url())"
if [ "$TRY_STATE" = OK ]; then
	pass "restore_from_url(url('$B')) over https"
	check_eq "... rows" "$(q dst2 "SELECT count(*) FROM noise" 2>&1)" 100000
	rid=$TRY_OUT
	check "... the restore's record has the URL without its query string" \
		test "$(q cat "SELECT count(*) FROM pgbackups.restores WHERE id = '$rid' AND backup NOT LIKE '%?%' AND backup LIKE 'https://127.0.0.1:$S3_PORT/$S3_BUCKET/%'")" = 1
else
	fail "restore_from_url(url('$B')): $TRY_STATE $TRY_MSG"
fi

# an expired link and a tampered one: 403 from s3rver, errors without the signature
try_sql cat "SELECT pgbackups.restore_from_url(u, target => 'victim', confirm => 'victim', wait => true) FROM (SELECT pgbackups.url('$B', valid_for => '1 second') AS u, pg_sleep(2.5)) s"
note_error "expired link"
if [ "$TRY_STATE" = OK ]; then fail "restore_from_url of an expired link succeeded"; else pass "restore_from_url of an expired link fails: $TRY_MSG"; fi
check "... the error says 403" grep -q 403 <<<"$TRY_MSG"
# the signature shifted by one hex digit ('0' in front, last digit dropped)
try_sql cat "SELECT pgbackups.restore_from_url(regexp_replace(pgbackups.url('$B'), 'X-Amz-Signature=([0-9a-f]{63})[0-9a-f]', 'X-Amz-Signature=0\1'), target => 'victim', confirm => 'victim', wait => true)"
note_error "tampered link"
if [ "$TRY_STATE" = OK ]; then fail "restore_from_url of a link with a changed signature succeeded"; else pass "restore_from_url of a link with a changed signature fails: $TRY_MSG"; fi
check "victim is as it was" diff -q "$W/victim.before" <(db_fingerprint victim)

# a capture into a bucket that does not exist
set_conf pgbackups.storage_url 's3://no-such-bucket/x'
try_sql cat "SELECT pgbackups.capture(database => 'src', wait => true)"
note_error "missing bucket"
if [ "$TRY_STATE" = OK ]; then fail "capture into a missing bucket succeeded"; else pass "capture into a missing bucket fails: $TRY_MSG"; fi
check "... the error names the bucket" grep -q 'no-such-bucket' <<<"$TRY_MSG"
set_conf pgbackups.storage_url "s3://$S3_BUCKET/backups/t78"

# a second capture with gzip (multipart or not) for the logs
try_sql cat "SELECT pgbackups.capture(database => 'src', wait => true)"
note_error "capture 2"
check_eq "a second capture" "$TRY_STATE" OK

# --- what an operator can see ---------------------------------------------------------------------
for g in s3_secret_access_key s3_session_token s3_access_key_id; do
	PGUSER=operator expect_sqlstate "operator: SHOW pgbackups.$g" cat 42501 "SHOW pgbackups.$g"
done
PGUSER=operator expect_sqlstate "operator: current_setting('pgbackups.s3_secret_access_key')" cat 42501 \
	"SELECT current_setting('pgbackups.s3_secret_access_key')"
{
	PGUSER=operator psql -X -At -d cat -c "SHOW ALL" || true
	PGUSER=operator psql -X -At -d cat -c "SELECT * FROM pg_settings" || true
	PGUSER=operator psql -X -At -d cat -c "SELECT * FROM pg_file_settings" || true
	PGUSER=operator psql -X -At -d cat -c "SELECT current_setting('pgbackups.s3_session_token', true)" || true
	PGUSER=operator psql -X -At -d cat -c "SELECT * FROM pgbackups.backups" || true
	PGUSER=operator psql -X -At -d cat -c "SELECT * FROM pgbackups.restores" || true
	PGUSER=operator psql -X -At -d cat -c "SELECT * FROM pgbackups.logs" || true
	PGUSER=operator psql -X -At -d cat -c "SELECT * FROM pgbackups.info('$B')" || true
	PGUSER=operator psql -X -At -d cat -c "SELECT * FROM pgbackups.logs('$B')" || true
	PGUSER=operator psql -X -At -d cat -c "SELECT * FROM pgbackups.list()" || true
} >"$W/operator.txt" 2>&1
check "operator's view was read (pgbackups settings visible in pg_settings)" grep -q 'pgbackups.s3_endpoint' "$W/operator.txt"
NO_SECRET_EXTRA=$(cat "$W/sigs.txt") no_secret_in "operator: SHOW ALL, pg_settings, catalog, info, logs, list" "$W/operator.txt"

# --- everything else ---------------------------------------------------------------------------------
sleep 0.5
stop_bg "$SAMPLER"
stop_bg "$LISTENER"
pg_dump --data-only --schema=pgbackups -d cat -f "$W/catalog.sql"
check "the catalog dump holds the backups" grep -q "$B" "$W/catalog.sql"
check "pg_stat_activity was sampled" test -s "$W/activity.txt"
check "pgbackups workers' command lines were sampled" grep -q 'postgres: pgbackups' "$W/procs.txt"
check "the NOTIFY listener got events" grep -q 'pgbackups_events' "$W/notify.txt"
export NO_SECRET_EXTRA
NO_SECRET_EXTRA=$(cat "$W/sigs.txt")
no_secret_in "server log (log_statement = all, log_min_messages = debug1)" "$SERVER_LOG"
no_secret_in "pg_stat_activity samples" "$W/activity.txt"
no_secret_in "server processes' command lines and environments" "$W/procs.txt"
no_secret_in "pgbackups_events notifications" "$W/notify.txt"
no_secret_in "catalog (pg_dump --data-only --schema=pgbackups)" "$W/catalog.sql"
no_secret_in "error texts" "$W/errors.txt"
check "the secret is in postgresql.conf (so the checks look for the right string)" \
	grep -q -F "$S3_SECRET" "$PGDATA/postgresql.conf"
finish
