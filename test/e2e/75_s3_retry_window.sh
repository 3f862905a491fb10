#!/bin/bash
# 75_s3_retry_window: pgbackups.http_retry_time is how long one request keeps
# being retried.  With http_retry_time = 6 and the fault proxy answering 503
# to every matching request, each of these must keep retrying for (nearly) the
# whole window, then fail: at least 5 s and at most 6 s + http_timeout + slack
# (20 s): a multipart part upload, a single PUT, and the GETs of a restore.
# The backoff draws a full-jitter delay (up to 10 s) and cuts the last one to
# end at the deadline, where one last attempt is made (pgb_http_backoff,
# the writer's retry_at), so the whole window is used whatever is drawn.
# The error's detail says how many times the request was sent.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}
MIN=5
MAX=20

require_servers
start_s3rver "$S3_BUCKET"
start_fault_proxy "$S3_PORT"
EXTRA_CONF="$(s3_conf "$FP_ENDPOINT" backups/t75)
pgbackups.s3_part_size = 5
pgbackups.http_timeout = 3
pgbackups.http_retry_time = 6"
start_cluster # EXTRA_CONF not exported: the postmaster must not inherit the secrets in its environment
psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE cat;
CREATE DATABASE big;
CREATE DATABASE tiny;
CREATE DATABASE dst;
SQL
q cat "CREATE EXTENSION pgbackups" >/dev/null
q big "CREATE TABLE noise AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS h FROM generate_series(1, 120000) g" >/dev/null
q tiny "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g" >/dev/null

# window NAME SQL RULES: SQL fails through RULES after MIN..MAX seconds, with
# io_error (58030: src/storage/storage_s3.c s3_fail for an HTTP error status)
window() {
	local name=$1 sql=$2 rules=$3 t0 t
	fault_set "$rules"
	t0=$(date +%s.%N)
	try_sql cat "$sql"
	t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	fault_clear
	if [ "$TRY_STATE" = OK ]; then
		fail "$name: succeeded through endless faults"
		return 0
	fi
	check_eq "$name: SQLSTATE" "$TRY_STATE" 58030
	check "$name: the detail says the request was sent several times" \
		grep -q -E "DETAIL:  The request went to endpoint $FP_ENDPOINT, region \"us-east-1\"; it was sent ([2-9]|[1-9][0-9]+) times\." <<<"$TRY_ERR"
	if awk -v t="$t" -v lo="$MIN" -v hi="$MAX" 'BEGIN { exit !(t >= lo && t <= hi) }'; then
		pass "$name: retried for $t s, then failed: $TRY_MSG"
	else
		fail "$name: failed after $t s, want $MIN..$MAX s (http_retry_time = 6 s): $TRY_MSG"
	fi
}

for i in 1 2 3; do
	window "503 on every part upload ($i)" \
		"SELECT pgbackups.capture(database => 'big', compression => 'none', wait => true)" \
		'{"rules": [{"action": "status", "status": 503, "method": "PUT", "query": "partNumber"}]}'
	window "503 on a single PUT ($i)" \
		"SELECT pgbackups.capture(database => 'tiny', wait => true)" \
		'{"rules": [{"action": "status", "status": 503, "method": "PUT"}]}'
done
try_sql cat "SELECT pgbackups.capture(database => 'tiny', wait => true)"
[ "$TRY_STATE" = OK ] || die "capture of tiny: $TRY_MSG"
B=$TRY_OUT
for i in 1 2 3; do
	window "503 on every GET of a restore ($i)" \
		"SELECT pgbackups.restore('$B', target => 'dst', confirm => 'dst', wait => true)" \
		'{"rules": [{"action": "status", "status": 503, "method": "GET"}]}'
done
finish
