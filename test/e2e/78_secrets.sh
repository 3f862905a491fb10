#!/bin/bash
# 78_secrets: no credential of pgbackups reaches a log, a view, a command line,
# a catalog row or an error text.  The server runs with log_statement = all,
# log_min_messages = debug5 and pg_stat_statements (track = all) loaded; its
# workers connect as pgbworker with password= in pgbackups.conninfo (scram
# over the socket); pgbackups.webhook_url carries a user:password and a token
# (test/servers/webhook_listener.py, first POST answered 500); S3 is s3rver
# over HTTPS (test CA in pgbackups.ca_file) with a distinctive access key id,
# secret key and session token, set in postgresql.conf before the server
# starts.  pgbackups.pg_dump_path is test/tools/pg_dump-recorder, which
# records the exact argv and environment of every pg_dump the server starts
# (and can hold or fail one) before it execs the real pg_dump.
#
# Exercised: captures, a restore from S3, url() as an operator,
# restore_from_url(url(...)) (the presigned URL never appears in SQL text), an
# expired and a tampered presigned URL, a capture into a missing bucket,
# copy() from postgres://pwsrc:PASSWORD@127.0.0.1:PORT/src (scram over TCP;
# the password has ':', '\' and a quote), the same with a wrong password
# (08001), a copy whose pg_dump is held and then canceled (57014) and one
# whose pg_dump fails (38000), and the webhook (one failed POST, then
# delivered).
#
# The caller's own statement: PostgreSQL logs (log_statement) and shows in
# the caller's pg_stat_activity row whatever literal a statement carries,
# and pg_stat_statements keeps utility statements verbatim.  So this test
# never writes a password literally in SQL: the roles' passwords are set in a
# session that first runs SET log_statement = none and SET
# pg_stat_statements.track_utility = off (as a superuser may), and copy()
# reads its source URL with pg_read_file() from a 0600 file.  Everything
# pgbackups itself does must then be clean, with no exception.
#
# Checked: the secrets (access key id, secret key, session token, every
# X-Amz-Signature handed out and any "Signature=<64 hex>", the copy source's
# password and the wrong one, the workers' password, the webhook's password
# and token) are absent from the server log, pg_stat_activity samples (every
# column: query, application_name...), pg_stat_statements, the command lines
# and environments of the server's processes (sampled), every argv and
# environment pg_dump got (exact, from the recorder), the pgbackups catalog
# (pg_dump --data-only --schema=pgbackups: copies, alerts, logs...), NOTIFY
# payloads, what an operator sees (pg_settings, SHOW ALL, info/logs/list)
# and every error text.  The PostgreSQL passwords are also absent from the
# command line of every process on the machine: exactly while a pg_dump is
# held, and sampled every 50 ms for the whole test.  Every pg_dump got
# passfile= naming a 0600 file of the server's OS user in
# <data directory>/pgbackups_tmp (0700), with one "*:*:*:*:" line, and no
# passfile is left once the jobs ended (completed, failed or canceled).  The
# operator cannot read the credential settings (42501).  Passfiles left by
# processes that no longer exist (SIGKILL) are removed at the next pg_dump
# start.
# (PostgreSQL itself logs a reloaded setting's new value, hidden or not, so a
# secret changed by reload would be logged: the README says to put them in
# postgresql.conf; this test does not reload them.)
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}

require_servers
make_test_ca
S3_TLS=1 start_s3rver pgb

# the secrets of this test, besides lib.sh's S3 ones (shell variables, never
# exported: the postmaster must not inherit them in its environment).  Each
# starts with a distinctive fragment that any escaping keeps intact.
COPY_PW='PgbCopyPw7Zq:a\b'"'"'c' # PgbCopyPw7Zq:a\b'c
COPY_PW_URL='PgbCopyPw7Zq%3Aa%5Cb%27c'
WRONG_PW='PgbWrongPw3Kd'
WORKER_PW='PgbWkrPw5Tq:9'
HOOK_PW='PgbHookPw2Xc'
HOOK_TOKEN='PgbHookTok8Vn'
PG_SECRETS=(PgbCopyPw7Zq "$COPY_PW" "$COPY_PW_URL" "$WRONG_PW" PgbWkrPw5Tq "$WORKER_PW" "$HOOK_PW" "$HOOK_TOKEN")

# the webhook listener: its first POST gets a 500 (an error path), then 200s
WH_DIR=""
new_tmpdir WH_DIR
WH_LOG=$WH_DIR/requests.jsonl
: >"$WH_LOG"
echo '{"fail": 1, "status": 500}' >"$WH_DIR/control.json"
"$SYS_PYTHON" "$SERVERS_DIR/webhook_listener.py" --listen 127.0.0.1 --port 0 --log "$WH_LOG" \
	--control "$WH_DIR/control.json" --ready-file "$WH_DIR/ready" >"$WH_DIR/out" 2>&1 &
WH_PID=$!
track_bg "$WH_PID"
_wait_ready "$WH_DIR/ready" "$WH_PID" webhook_listener "$WH_DIR/out"
HOOK_URL="http://pgbhook:$HOOK_PW@127.0.0.1:$(cat "$WH_DIR/ready")/hook?token=$HOOK_TOKEN"

# pg_dump-recorder as pgbackups.pg_dump_path
BIN=""
new_tmpdir BIN
cp "$REPO_DIR/test/tools/pg_dump-recorder" "$BIN/pg_dump"
chmod 755 "$BIN/pg_dump"
ln -s "$PGBIN/pg_dump" "$BIN/pg_dump.real"
mkdir "$BIN/calls"
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$BIN/calls"; fi

EXTRA_CONF="shared_preload_libraries = 'pgbackups,pg_stat_statements'
pg_stat_statements.track = all
log_statement = 'all'
log_min_messages = debug5
listen_addresses = '127.0.0.1'
pgbackups.pg_dump_path = '$BIN/pg_dump'
pgbackups.webhook_url = '$HOOK_URL'
pgbackups.webhook_on_success = on
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

# --- password authentication: pwsrc over TCP (copy's source), pgbworker over the socket (the workers) ---
# The passwords are set in a session that logs no statement and keeps no
# utility statement in pg_stat_statements (what the README recommends).
{
	printf '%s\n' "local all pgbworker scram-sha-256" "host all pwsrc 127.0.0.1/32 scram-sha-256" \
		"host all pgbworker 127.0.0.1/32 scram-sha-256"
	cat "$PGDATA/pg_hba.conf"
} >"$PGDATA/pg_hba.conf.new"
mv -f "$PGDATA/pg_hba.conf.new" "$PGDATA/pg_hba.conf"
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$PGDATA/pg_hba.conf"; fi
sqlq() { # a string as the inside of an SQL literal
	local sq="'"
	printf '%s' "${1//$sq/$sq$sq}"
}
psql_db postgres >/dev/null <<SQL
SET log_statement = none;
SET pg_stat_statements.track_utility = off;
CREATE ROLE pwsrc LOGIN SUPERUSER PASSWORD '$(sqlq "$COPY_PW")';
CREATE ROLE pgbworker LOGIN SUPERUSER PASSWORD '$(sqlq "$WORKER_PW")';
SQL
# the workers' credentials in postgresql.conf, read at the restart (not a reload)
printf '%s\n' "pgbackups.connect_user = 'pgbworker'" "pgbackups.conninfo = 'password=$WORKER_PW'" >>"$PGDATA/postgresql.conf"
restart_cluster
# the precondition of everything below: these roles cannot log in without their password
out=$(psql -X -w -At -d "host=127.0.0.1 port=$PGPORT user=pwsrc dbname=postgres" -c "SELECT 1" 2>&1) && out=""
check "setup: pwsrc over TCP needs a password ($(head -n 1 <<<"$out"))" grep -q 'no password supplied' <<<"$out"
out=$(psql -X -w -At -d "host=$PGHOST port=$PGPORT user=pgbworker dbname=postgres" -c "SELECT 1" 2>&1) && out=""
check "setup: pgbworker over the socket needs a password ($(head -n 1 <<<"$out"))" grep -q 'no password supplied' <<<"$out"

psql_db postgres >/dev/null <<'SQL'
CREATE EXTENSION pg_stat_statements;
CREATE DATABASE cat;
CREATE DATABASE src;
CREATE DATABASE dst;
CREATE DATABASE dst2;
CREATE DATABASE dst3;
CREATE DATABASE dst4;
CREATE DATABASE victim;
CREATE ROLE operator LOGIN;
SQL
q cat "CREATE EXTENSION pgbackups" >/dev/null
# the operator owns src, so that it may read src's backups (url())
q postgres "GRANT pgbackups_admin TO operator; GRANT CONNECT ON DATABASE cat TO operator; ALTER DATABASE src OWNER TO operator" >/dev/null
q src "CREATE TABLE noise AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS h FROM generate_series(1, 100000) g; CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g" >/dev/null
# some DDL, so that pg_dump lives long enough for the process sampler to see it
q src "DO \$\$ BEGIN FOR i IN 1..300 LOOP EXECUTE format('CREATE VIEW v%s AS SELECT g, %s AS k FROM t', i, i); END LOOP; END \$\$" >/dev/null
# copy()'s source URLs, read by the caller with pg_read_file(): no password in any SQL text
printf '%s' "postgres://pwsrc:$COPY_PW_URL@127.0.0.1:$PGPORT/src" >"$W/src.url"
printf '%s' "postgres://pwsrc:$WRONG_PW@127.0.0.1:$PGPORT/src" >"$W/wrong.url"
chmod 600 "$W/src.url" "$W/wrong.url"
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$W/src.url" "$W/wrong.url"; fi
q victim "CREATE TABLE mine AS SELECT 1 AS x" >/dev/null
db_fingerprint victim >"$W/victim.before"

note_error() { printf '== %s\n%s\n' "$1" "$TRY_ERR" >>"$W/errors.txt"; }
# remember the signature of a URL we were handed
note_sig() { sed -n -E 's/.*X-Amz-Signature=([0-9a-f]{64}).*/\1/p' <<<"$1" >>"$W/sigs.txt"; }

# --- samplers: pg_stat_activity (every column), process command lines and environments, NOTIFYs --
activity_sampler() {
	set +e
	while :; do
		psql -X -q -At -d postgres -c "SELECT a::text FROM pg_stat_activity a" >>"$W/activity.txt" 2>/dev/null
		sleep 0.2
	done
}
activity_sampler &
SAMPLER=$!
track_bg "$SAMPLER"
# sampled, not exact: every 50 ms the command line of every process on the
# machine (procs-all.txt) and command line and environment of this server's
# processes, pg_dump included (procs.txt); the exact argv is the recorder's
"$SYS_PYTHON" "$REPO_DIR/test/tools/proc-sampler" --pidfile "$PGDATA/postmaster.pid" \
	--all "$W/procs-all.txt" --tree "$W/procs.txt" --interval 0.05 --stats "$W/procs.stats" &
PROC_SAMPLER=$!
track_bg "$PROC_SAMPLER"
for _ in $(seq 1 2400); do echo "SELECT pg_sleep(0.25);"; done | { echo "LISTEN pgbackups_events;"; cat; } |
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
	# the link goes to curl on stdin: the all-process sampler must not find it on curl's command line
	check_eq "operator: url() downloads with curl" "$(printf 'url = "%s"\n' "$U" | curl -s -K - --cacert "$CA_FILE" -o "$W/u.dump" -w '%{http_code}')" 200
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
check_eq "restore_from_url of an expired link: SQLSTATE ($TRY_MSG)" "$TRY_STATE" 58030
check "... the error says 403" grep -q 403 <<<"$TRY_MSG"
# the signature shifted by one hex digit ('0' in front, last digit dropped)
try_sql cat "SELECT pgbackups.restore_from_url(regexp_replace(pgbackups.url('$B'), 'X-Amz-Signature=([0-9a-f]{63})[0-9a-f]', 'X-Amz-Signature=0\1'), target => 'victim', confirm => 'victim', wait => true)"
note_error "tampered link"
check_eq "restore_from_url of a link with a changed signature: SQLSTATE ($TRY_MSG)" "$TRY_STATE" 58030
check "victim is as it was" diff -q "$W/victim.before" <(db_fingerprint victim)

# a capture into a bucket that does not exist
set_conf pgbackups.storage_url 's3://no-such-bucket/x'
try_sql cat "SELECT pgbackups.capture(database => 'src', wait => true)"
note_error "missing bucket"
check_eq "capture into a missing bucket: SQLSTATE ($TRY_MSG)" "$TRY_STATE" 58P01
check "... the error names the bucket" grep -q 'no-such-bucket' <<<"$TRY_MSG"
set_conf pgbackups.storage_url "s3://$S3_BUCKET/backups/t78"

# a second capture with gzip (multipart or not) for the logs
try_sql cat "SELECT pgbackups.capture(database => 'src', wait => true)"
note_error "capture 2"
check_eq "a second capture" "$TRY_STATE" OK

# --- copy() from a URL with a password ---------------------------------------------------------------
# calls_with ARG_SUBSTRING: the recorder's call files whose --dbname holds it
calls_with() { grep -l -F -- "$1" "$BIN"/calls/*.txt 2>/dev/null || true; }
pass_left() { find "$PGDATA/pgbackups_tmp" -name 'pgdump-*.pass' 2>/dev/null | wc -l; }

try_sql cat "SELECT pgbackups.copy(pg_read_file('$W/src.url'), 'dst3', 'dst3', wait => true)"
note_error "copy from URL"
check_eq "copy from postgres://pwsrc:...@127.0.0.1/src (scram over TCP)" "$TRY_STATE" OK
check_eq "... rows" "$(q dst3 "SELECT count(*) FROM noise" 2>&1)" 100000
C1=$TRY_OUT
check_eq "... $C1's catalog row has the source without its password" \
	"$(q cat "SELECT source FROM pgbackups.copies WHERE id = '$C1'" 2>&1)" "postgres://pwsrc@127.0.0.1:$PGPORT/src"
f=$(calls_with "user='pwsrc'" | head -n 1)
if [ -n "$f" ]; then
	check_eq "... its pg_dump got user, dbname, host, port, and passfile= instead of the password" \
		"$(sed -n "s/^arg --dbname=//p" "$f" | sed -E "s/pgdump-[0-9]+-[0-9]+\.pass/pgdump-PID-N.pass/")" \
		"user='pwsrc' dbname='src' host='127.0.0.1' port='$PGPORT' passfile='$PGDATA/pgbackups_tmp/pgdump-PID-N.pass'"
else
	fail "no pg_dump call recorded for the copy from the URL"
fi
check_eq "... no passfile left once it completed" "$(pass_left)" 0

# a wrong password: the copy fails to connect, nothing of the password in the error
try_sql cat "SELECT pgbackups.copy(pg_read_file('$W/wrong.url'), 'dst4', 'dst4', wait => true)"
note_error "copy with a wrong password"
check_eq "copy from a URL with a wrong password: SQLSTATE" "$TRY_STATE" 08001
check "... the error names the source server ($TRY_MSG)" grep -q 'could not connect to the source server "127.0.0.1"' <<<"$TRY_MSG"
check "... its DETAIL says why" grep -q '^DETAIL: .*password authentication failed' <<<"$TRY_ERR"

# a copy whose pg_dump is held: an exact look at every command line while it lives, then cancel
n_before=$(find "$BIN/calls" -name '*.blocked' | wc -l)
: >"$BIN/block"
try_sql cat "SELECT pgbackups.copy(pg_read_file('$W/src.url'), 'dst4', 'dst4')"
C2=$TRY_OUT
check_eq "copy $C2 with its pg_dump held: submitted" "$TRY_STATE" OK
deadline=$((SECONDS + 60))
while [ "$(find "$BIN/calls" -name '*.blocked' | wc -l)" -le "$n_before" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
held=$(find "$BIN/calls" -name '*.blocked' -newer "$BIN/block" | head -n 1)
if [ -n "$held" ]; then
	hp=$(basename "$held" .blocked)
	check "... the held pg_dump (pid $hp) is alive" test -r "/proc/$hp/cmdline"
	tr '\0' ' ' <"/proc/$hp/cmdline" >"$W/held.cmdline"
	check "... its command line has passfile=" grep -q -F "passfile='$PGDATA/pgbackups_tmp/pgdump-" "$W/held.cmdline"
	tr '\0' '\n' <"/proc/$hp/environ" >"$W/held.environ"
	check "... its environment has no PGPASSWORD" bash -c "! grep -q '^PGPASSWORD' '$W/held.environ'"
	pf=$(sed -n "s/^passfile \([^ ]*\) .*/\1/p" "$BIN/calls/$hp.txt")
	check_eq "... its passfile: mode, owner, directory mode, one *:*:*:*: line" \
		"$(sed -n 's/^passfile [^ ]* //p' "$BIN/calls/$hp.txt")" "mode 600 owner postgres dirmode 700 lines 1 format ok"
	check "... the passfile exists while pg_dump runs" test -f "$pf"
	# exact: every process on the machine, right now
	for p in /proc/[0-9]*; do { tr '\0' ' ' <"$p/cmdline" && echo; } 2>/dev/null; done >"$W/procs-held.txt"
	check "... every command line on the machine was read ($(wc -l <"$W/procs-held.txt") processes)" grep -q -F "$BIN/pg_dump" "$W/procs-held.txt"
	try_sql cat "SELECT pgbackups.cancel('$C2')"
	check_eq "cancel($C2)" "$TRY_STATE" OK
	expect_sqlstate "wait('$C2') after the cancel" cat 57014 "SELECT pgbackups.wait('$C2')"
	wait_for postgres "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'pgbackups job')" 30 || true
	check "... the held pg_dump was ended" bash -c "! test -e /proc/$hp/cmdline || grep -q Z /proc/$hp/stat"
	check "... its passfile was removed" test ! -e "$pf"
else
	fail "copy $C2: its pg_dump was not started within 60 s: $(describe_job cat "$C2")"
	q cat "SELECT pgbackups.cancel('$C2')" >/dev/null 2>&1 || true
fi
rm -f "$BIN/block"
: >"$BIN/release"
check_eq "no passfile left after the canceled copy" "$(pass_left)" 0

# a process killed with SIGKILL cannot remove its passfile: the next pg_dump
# start removes those of processes that no longer exist (stand-ins here: one
# of a pid that just exited, one of the live postmaster, which is kept)
true &
dead=$!
wait "$dead" || true
pm=$(head -n 1 "$PGDATA/postmaster.pid")
for p in "$dead" "$pm"; do
	as_postgres bash -c "umask 077 && echo '*:*:*:*:stale' >'$PGDATA/pgbackups_tmp/pgdump-$p-0.pass'"
done

# a copy whose pg_dump fails: the error path removes the passfile too
: >"$BIN/fail"
try_sql cat "SELECT pgbackups.copy(pg_read_file('$W/src.url'), 'dst4', 'dst4', wait => true)"
note_error "copy with a failing pg_dump"
rm -f "$BIN/fail"
check_eq "copy whose pg_dump fails: SQLSTATE" "$TRY_STATE" 38000
check "... the error quotes pg_dump's stderr" grep -q 'failing on purpose' <<<"$TRY_MSG"
check "... its pg_dump start removed the passfile of the exited process $dead" test ! -e "$PGDATA/pgbackups_tmp/pgdump-$dead-0.pass"
check "... and logged it" grep -q -F "removed passfile \"$PGDATA/pgbackups_tmp/pgdump-$dead-0.pass\" of process $dead, which no longer exists" "$SERVER_LOG"
check "... and kept the one of the live process $pm" test -e "$PGDATA/pgbackups_tmp/pgdump-$pm-0.pass"
rm -f "$PGDATA/pgbackups_tmp/pgdump-$pm-0.pass"
check_eq "no passfile left after the failed copy" "$(pass_left)" 0

# --- the webhook: one failed POST, then delivered ----------------------------------------------------
if wait_for cat "SELECT count(*) > 0 AND bool_and(delivered_at IS NOT NULL) AND max(attempts) >= 2 FROM pgbackups.alerts" 60; then
	pass "webhook: every alert delivered, one after a failed attempt"
else
	fail "webhook: alerts not delivered: $(q cat "SELECT string_agg(concat_ws('|', event, attempts, delivered_at, last_error), '; ') FROM pgbackups.alerts" 2>&1)"
fi
# (the token goes to jq in its environment: the all-process sampler reads command lines)
check "... the listener got a 500 and then 200s with the token in the query string" \
	test "$(HT=$HOOK_TOKEN jq -r 'select(.query == "token=" + env.HT) | .status' "$WH_LOG" | sort -u | tr '\n' ' ')" = "200 500 "

# --- every pg_dump the server started ----------------------------------------------------------------
ncalls=$(find "$BIN/calls" -name '*.txt' | wc -l)
check "pg_dump-recorder recorded the pg_dump calls ($ncalls)" test "$ncalls" -ge 5
check_eq "every pg_dump got passfile= in --dbname (the workers' conninfo has a password)" \
	"$(grep -L -E "^arg --dbname=.*passfile='$PGDATA/pgbackups_tmp/pgdump-[0-9]+-[0-9]+\.pass'" "$BIN"/calls/*.txt | wc -l)" 0
check_eq "every passfile: 0600, the server's OS user, in a 0700 directory, one *:*:*:*: line" \
	"$(grep -h '^passfile ' "$BIN"/calls/*.txt | sed 's/^passfile [^ ]* //' | sort | uniq -c | sed 's/^ *//')" \
	"$ncalls mode 600 owner postgres dirmode 700 lines 1 format ok"
check "no pg_dump argument has password=" bash -c "! grep -h '^arg ' '$BIN'/calls/*.txt | grep -q -i 'password='"
check "no pg_dump environment has PGPASSWORD" bash -c "! grep -h '^env PGPASSWORD' '$BIN'/calls/*.txt | grep -q ."
check_eq "no passfile left in pgbackups_tmp" "$(pass_left)" 0

# --- what an operator can see ---------------------------------------------------------------------
for g in s3_secret_access_key s3_session_token s3_access_key_id conninfo webhook_url; do
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
# absent_in NAME FILE STRING...: none of the strings is in FILE
absent_in() {
	local name=$1 file=$2 hits="" x
	shift 2
	for x in "$@"; do
		# (-f: the string is not put on grep's own command line)
		if grep -a -q -F -f <(printf '%s\n' "$x") "$file"; then hits+=" '${x:0:12}...'"; fi
	done
	if [ -z "$hits" ]; then pass "$name: none of the $# passwords and tokens"; else fail "$name: found$hits"; fi
}
wait_for postgres "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'pgbackups job')" 30 || true
stop_bg "$SAMPLER"
stop_bg "$PROC_SAMPLER"
stop_bg "$LISTENER"
log "process sampler: $(cat "$W/procs.stats" 2>/dev/null)"
psql -X -q -At -d postgres -c "SELECT s::text FROM pg_stat_statements s" >"$W/pgss.txt"
check "pg_stat_statements tracked the copy calls (normalized)" grep -q -F 'pgbackups.copy(pg_read_file($1)' "$W/pgss.txt"
check "pg_stat_statements tracked the workers' statements" \
	test "$(psql -X -q -At -d postgres -c "SELECT count(*) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'pgbworker'")" -gt 0
pg_dump --data-only --schema=pgbackups -d cat -f "$W/catalog.sql"
check "the catalog dump holds the backups" grep -q "$B" "$W/catalog.sql"
check "the catalog dump holds the copies and the alerts" grep -q -E "$C1|copy.completed" "$W/catalog.sql"
check "pg_stat_activity was sampled" test -s "$W/activity.txt"
check "... with pgbackups' sessions" grep -q 'pgbworker' "$W/activity.txt"
check "pgbackups workers' command lines were sampled" grep -q 'postgres: pgbackups' "$W/procs.txt"
check "pg_dump children's command lines were sampled" grep -q 'pg_dump' "$W/procs.txt"
check "the NOTIFY listener got events" grep -q 'pgbackups_events' "$W/notify.txt"
check "the server log is at debug5" grep -q 'DEBUG:' "$SERVER_LOG"
cat "$BIN"/calls/*.txt >"$W/pg_dump-calls.txt"
NO_SECRET_EXTRA=$(
	cat "$W/sigs.txt"
	printf '%s\n' "$S3_ACCESS_KEY" "${PG_SECRETS[@]}"
)
export NO_SECRET_EXTRA
no_secret_in "server log (log_statement = all, log_min_messages = debug5)" "$SERVER_LOG"
no_secret_in "pg_stat_activity samples" "$W/activity.txt"
no_secret_in "pg_stat_statements" "$W/pgss.txt"
no_secret_in "server processes' command lines and environments (sampled)" "$W/procs.txt"
no_secret_in "every pg_dump's argv and environment (exact)" "$W/pg_dump-calls.txt"
no_secret_in "the held pg_dump's /proc cmdline and environ" "$W/held.cmdline" "$W/held.environ"
no_secret_in "pgbackups_events notifications" "$W/notify.txt"
no_secret_in "catalog (pg_dump --data-only --schema=pgbackups)" "$W/catalog.sql"
no_secret_in "error texts" "$W/errors.txt"
# the S3 credentials are on the command line of the test's own s3rver: for
# all the machine's processes, only the PostgreSQL passwords and webhook secrets
absent_in "every process's command line while pg_dump was held (exact)" "$W/procs-held.txt" "${PG_SECRETS[@]}"
absent_in "every process's command line during the test (sampled every 50 ms)" "$W/procs-all.txt" "${PG_SECRETS[@]}"
# contains FILE STRING: grep -F without the string on grep's command line
contains() { grep -a -q -F -f <(printf '%s\n' "$2") "$1"; }
secrets_where_expected() {
	contains "$PGDATA/postgresql.conf" "$S3_SECRET" && contains "$PGDATA/postgresql.conf" "password=$WORKER_PW" &&
		contains "$PGDATA/postgresql.conf" "$HOOK_TOKEN" && contains "$W/src.url" "$COPY_PW_URL"
}
check "the secrets are in the files the server read (so the checks look for the right strings)" secrets_where_expected
finish
