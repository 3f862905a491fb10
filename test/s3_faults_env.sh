# test/s3_faults_env.sh: the set-up 74_s3_faults and 94_s3_faults_more share
# (sourced after lib.sh).  s3rver behind test/servers/fault_proxy.py, a
# cluster whose storage is the proxy (5 MB parts, 3 in flight,
# pgbackups.http_timeout = $TIMEOUT, http_retry_time = $RETRY, prefix
# backups/$S3_TAG), databases cat (the catalog), src (NOISE_ROWS rows of md5
# text: several parts) and tiny (one part); W a scratch directory with
# errors.txt; PREFIX the catalog's key prefix; helpers newest_id and key_of.
s3_faults_setup() {
	require_servers
	start_s3rver "$S3_BUCKET"
	start_fault_proxy "$S3_PORT"
	EXTRA_CONF="$(s3_conf "$FP_ENDPOINT" "backups/$S3_TAG")
pgbackups.s3_part_size = 5
pgbackups.s3_upload_concurrency = 3
pgbackups.http_timeout = $TIMEOUT
pgbackups.http_retry_time = $RETRY"
	start_cluster # EXTRA_CONF not exported: the postmaster must not inherit the secrets in its environment
	W=$TESTDIR/w
	mkdir -p "$W"
	: >"$W/errors.txt"
	SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")
	PREFIX="backups/$S3_TAG/$SYSID/cat"

	psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE cat;
CREATE DATABASE src;
CREATE DATABASE tiny;
SQL
	q cat "CREATE EXTENSION pgbackups" >/dev/null
	q src "CREATE TABLE noise AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS h FROM generate_series(1, $NOISE_ROWS) g; ALTER TABLE noise ADD PRIMARY KEY (id); CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g" >/dev/null
	q tiny "CREATE TABLE t AS SELECT g, 'tiny ' || g AS s FROM generate_series(1, 500) g" >/dev/null
}

newest_id() { q cat "SELECT id FROM pgbackups.backups ORDER BY num DESC LIMIT 1"; }
key_of() {
	local loc
	loc=$(backup_field cat "$1" location)
	printf '%s\n' "${loc#s3://"$S3_BUCKET"/}"
}
