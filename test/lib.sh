# shellcheck shell=bash
# test/lib.sh: harness for pgbackups end-to-end tests.  Source it from bash.
#
#   start_cluster            initdb + start a throwaway cluster (sets PGDATA,
#                            PGHOST, PGPORT, TESTDIR, STORAGE_DIR)
#   psql_db DB [args]        psql on DB, ON_ERROR_STOP, no psqlrc
#   q DB SQL                 one unaligned, tuples-only result
#   wait_for DB SQL [secs]   poll SQL until it returns t (default 30 s)
#   wait_cmd SECS CMD...     run CMD until it succeeds (every 0.2 s, at most SECS)
#   restart_cluster [mode]   pg_ctl restart (default -m fast)
#   stop_cluster             pg_ctl stop of the cluster this script started
#   bg_psql VAR DB SQL       run psql in the background, its PID into VAR
#   check NAME CMD...        run CMD; count a pass or a failure
#   check_eq NAME GOT WANT   compare two strings
#   skip NAME REASON         a case that could not be set up: counted as
#                            skipped in the summary line (never a pass)
#   expect_sqlstate NAME DB STATE SQL
#   finish                   print the summary and exit non-zero on failure
#   set_conf NAME VALUE...   ALTER SYSTEM SET + reload, wait until visible
#   reload_conf SQL          ALTER SYSTEM ... + reload, wait for the postmaster's log line
#   log_pos / wait_log POS REGEX [secs] / crash_restarted POS [secs]
#                            events in the server log (see "the server log as a
#                            source of events" below)
#   bounded_negative SECS WHAT  a negative no event can prove: a logged, bounded wait
#   counter NAME [DB]        one value of pgbackups.counters() (exact counters, 1.7.0+)
#   workers_reloaded         after a reload: wait until the launcher, schedulers and
#                            maintenance workers loaded the configuration again
#   counters_db              a database with pgbackups.counters() (empty: none)
#
# Server processes run as the postgres OS user (runuser when we are root);
# clients connect through the unix socket in the cluster's own temp dir, as the
# database user postgres (trust authentication).  The cleanup trap stops only
# the clusters and background processes this script started, by pg_ctl -D and
# by PID.

set -Eeuo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LIB_DIR/.." && pwd)
export LIB_DIR REPO_DIR
# the server under test: PGBIN, else PG_CONFIG's bindir, else Debian's 15
if [ -z "${PGBIN:-}" ]; then
	PGBIN=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)
fi
export PGBIN
export PATH="$PGBIN:$PATH"
export PGUSER=postgres
export PGDATABASE=postgres
export PGCONNECT_TIMEOUT=10
unset PGSERVICE PGPASSWORD PGOPTIONS PGSSLMODE PGHOSTADDR || true

_LIB_CLUSTERS=()
_LIB_BGPIDS=()
_LIB_TMPDIRS=()
_LIB_MOUNTS=()
PASS_COUNT=0
FAIL_COUNT=0
SKIP_COUNT=0
FAILED_CHECKS=()
SKIPPED_CHECKS=()

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "$(basename "$0")" "$*"; }
die() {
	log "FATAL: $*" >&2
	exit 1
}

# Run a command as the postgres OS user.
as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# new_tmpdir VAR: a fresh temporary directory owned by postgres, into VAR;
# the cleanup trap removes it (not called in a subshell, so that it can
# register the directory).
new_tmpdir() {
	local __d
	__d=$(mktemp -d /tmp/pgbackups-test.XXXXXX)
	chmod 755 "$__d"
	if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$__d"; fi
	_LIB_TMPDIRS+=("$__d")
	printf -v "$1" '%s' "$__d"
}

# A port number: the socket lives in our private directory, so the only
# requirement is that it is not used by another cluster in the same
# directory; a random one avoids confusing people reading ps output.
_pick_port() {
	echo $((20000 + (RANDOM * 32768 + RANDOM) % 30000))
}

start_cluster() {
	new_tmpdir TESTDIR
	PGDATA=$TESTDIR/data
	PGHOST=$TESTDIR
	PGPORT=$(_pick_port)
	STORAGE_DIR=$TESTDIR/pgbackups # default pgbackups.storage_url: parent of data_directory
	SERVER_LOG=$TESTDIR/server.log
	export TESTDIR PGDATA PGHOST PGPORT STORAGE_DIR SERVER_LOG
	log "initdb $PGDATA (port $PGPORT)"
	(cd "$TESTDIR" && as_postgres "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$TESTDIR/initdb.log" 2>&1) ||
		{
			cat "$TESTDIR/initdb.log" >&2
			die "initdb failed"
		}
	{
		echo
		echo "# test/pgbackups.conf"
		cat "$LIB_DIR/pgbackups.conf"
		echo
		echo "# test/lib.sh"
		echo "port = $PGPORT"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$TESTDIR'"
		echo "max_connections = 60"
		# extra settings from the caller, e.g. EXTRA_CONF="log_min_messages = debug1"
		[ -z "${EXTRA_CONF:-}" ] || printf '%s\n' "$EXTRA_CONF"
	} >>"$PGDATA/postgresql.conf"
	_LIB_CLUSTERS+=("$PGDATA")
	_pg_ctl start
}

_pg_ctl() {
	local action=$1
	shift
	(cd "$TESTDIR" && as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$SERVER_LOG" -w -t 120 "$action" "$@" >>"$TESTDIR/pg_ctl.log" 2>&1) || {
		tail -n 40 "$SERVER_LOG" >&2 || true
		die "pg_ctl $action failed"
	}
}

restart_cluster() {
	local mode=${1:-fast}
	log "pg_ctl restart -m $mode"
	_pg_ctl restart -m "$mode"
}

stop_cluster() {
	local mode=${1:-fast}
	_pg_ctl stop -m "$mode"
}

psql_db() {
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# q DB SQL: the result as unaligned tuples-only text.
q() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# wait_for DB SQL [timeout_seconds]: poll until SQL returns t.
wait_for() {
	local db=$1 sql=$2 timeout=${3:-30}
	local deadline=$((SECONDS + timeout)) out
	while :; do
		out=$(q "$db" "$sql" 2>/dev/null || true)
		[ "$out" = t ] && return 0
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}

# wait_cmd SECS CMD...: run CMD every 0.2 s until it succeeds (true) or SECS pass
wait_cmd() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# wait_for_ms DB SQL MILLISECONDS: like wait_for, for short deadlines.
wait_for_ms() {
	local db=$1 sql=$2 ms=$3
	local start now out
	start=$(date +%s%N)
	while :; do
		out=$(q "$db" "$sql" 2>/dev/null || true)
		[ "$out" = t ] && return 0
		now=$(date +%s%N)
		[ $(((now - start) / 1000000)) -ge "$ms" ] && return 1
		sleep 0.05
	done
}

# bg_psql VAR DB SQL [logfile]: start psql in the background.
bg_psql() {
	local __var=$1 db=$2 sql=$3 logf=${4:-/dev/null}
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "$sql" >"$logf" 2>&1 &
	local pid=$!
	_LIB_BGPIDS+=("$pid")
	printf -v "$__var" '%s' "$pid"
}

# mount_tmpfs DIR SIZE: a small tmpfs (for disk-full tests), owned by
# postgres; returns non-zero when mounting is not possible (not root, or no
# permission).  The cleanup trap unmounts it.
mount_tmpfs() {
	local dir=$1 size=$2
	[ "$(id -u)" -eq 0 ] || return 1
	mkdir -p "$dir"
	mount -t tmpfs -o "size=$size,mode=0755" tmpfs "$dir" 2>/dev/null || return 1
	_LIB_MOUNTS+=("$dir")
	chown postgres:postgres "$dir"
}

# track_bg PID: let the cleanup trap end a background job started elsewhere.
track_bg() { _LIB_BGPIDS+=("$1"); }

# stop_bg PID: end one background job we started, and reap it.
stop_bg() {
	local pid=$1
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

check() {
	local name=$1
	shift
	if "$@"; then
		pass "$name"
	else
		fail "$name"
	fi
}

pass() {
	PASS_COUNT=$((PASS_COUNT + 1))
	log "ok   - $1"
}

fail() {
	FAIL_COUNT=$((FAIL_COUNT + 1))
	FAILED_CHECKS+=("$1")
	log "FAIL - $1"
}

# skip NAME REASON: the case could not be set up here (not root, no network
# namespace, no tmpfs, ...).  It is counted and named in the summary line,
# and REQUIRE_NO_SKIPS=1 (set by CI for the security scripts) makes it a
# failure instead.
skip() {
	if [ "${REQUIRE_NO_SKIPS:-0}" = 1 ]; then
		fail "$1: could not be set up: $2"
		return 0
	fi
	SKIP_COUNT=$((SKIP_COUNT + 1))
	SKIPPED_CHECKS+=("$1: $2")
	log "SKIP - $1: $2"
}

check_eq() {
	local name=$1 got=$2 want=$3
	if [ "$got" = "$want" ]; then
		pass "$name ($got)"
	else
		fail "$name: got [$got], want [$want]"
	fi
}

# expect_sqlstate NAME DB STATE SQL: SQL must fail with SQLSTATE STATE.
expect_sqlstate() {
	local name=$1 db=$2 want=$3 sql=$4 out
	if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" -c "$sql" 2>&1); then
		fail "$name: succeeded, want SQLSTATE $want (output: $out)"
		return 0
	fi
	if grep -q "ERROR:  $want:" <<<"$out"; then
		pass "$name (SQLSTATE $want)"
	else
		fail "$name: want SQLSTATE $want, got: $(head -n 3 <<<"$out")"
	fi
}

# Files of job ID of catalog database DB in the storage directory (final or .tmp).
job_files() {
	local db=$1 id=$2 dir=${3:-$STORAGE_DIR}
	[ -d "$dir" ] || return 0
	find "$dir" -path "*/$db/$id-*" 2>/dev/null || true
}

# The local path of a completed backup's archive (location is file:///...).
archive_path() {
	local db=$1 id=$2 loc
	loc=$(q "$db" "SELECT location FROM pgbackups.backups WHERE id = '$id'")
	printf '%s\n' "${loc#file://}"
}

backup_field() {
	q "$1" "SELECT $3 FROM pgbackups.backups WHERE id = '$2'"
}

# A one-line description of a backup, for logs.
describe_backup() {
	q "$1" "SELECT concat_ws(' ', id, status, compression, 'parallel=' || parallel, 'tables=' || tables, 'rows=' || rows, 'size=' || archive_size, 'raw=' || raw_size, 'err=' || error, 'code=' || error_code) FROM pgbackups.backups WHERE id = '$2'"
}

# job_worker_pid DB ID [timeout]: wait until the job worker of backup ID has a
# live pid; print it (job_worker_pid_of below)
job_worker_pid() { job_worker_pid_of "$@"; }

# schema_text DB: pg_dump --schema-only, without the lines that differ
# between two dumps of equal databases (\restrict keys).
schema_text() {
	pg_dump --schema-only -d "$1" | grep -v -E '^\\(un)?restrict '
}

# data_digest DB: one line per table and materialized view (row count and
# an md5 of the sorted rows), per partitioned table (all its rows), sequences,
# and large objects.  Partitions of hash-partitioned tables are compared only
# through their root: a restore may route rows differently (hash of an enum
# depends on its OIDs, which is why pg_dump loads those via the root).
data_digest() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT format(
	CASE WHEN c.relkind = 'm' AND NOT c.relispopulated
		THEN 'SELECT %L || '' (not populated)'''
		WHEN c.relkind = 'p'
		THEN 'SELECT %L || '' (all partitions)'', count(*), md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %s t'
		ELSE 'SELECT %L, count(*), md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM ONLY %s t'
	END, c.oid::regclass::text, c.oid::regclass)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ((c.relkind IN ('r', 'm')
         AND NOT (c.relispartition AND (SELECT p.partstrat FROM pg_partitioned_table p
                                         WHERE p.partrelid = pg_partition_root(c.oid)) = 'h'))
        OR (c.relkind = 'p' AND NOT c.relispartition))
   -- tables of extensions: only configuration tables have dumped data
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
                      AND NOT EXISTS (SELECT 1 FROM pg_extension e WHERE c.oid = ANY (e.extconfig)))
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgbackups')
   AND n.nspname !~ '^pg_(toast|temp)'
 ORDER BY c.oid::regclass::text
\gexec
SELECT 'sequence', schemaname, sequencename, last_value FROM pg_sequences
 WHERE schemaname <> 'pgbackups' ORDER BY 2, 3;
SELECT 'large object', m.oid, md5(lo_get(m.oid)), m.lomacl, obj_description(m.oid, 'pg_largeobject')
  FROM pg_largeobject_metadata m ORDER BY m.oid;
SQL
}

# compare_dbs NAME SRC DST: schema and data of DST must equal SRC's.
compare_dbs() {
	local name=$1 src=$2 dst=$3 d=$TESTDIR/compare
	mkdir -p "$d"
	schema_text "$src" >"$d/$src.schema.sql"
	schema_text "$dst" >"$d/$dst.schema.sql"
	if diff -u "$d/$src.schema.sql" "$d/$dst.schema.sql" >"$d/$dst.schema.diff"; then
		pass "$name: schema of $dst equals $src ($(wc -l <"$d/$src.schema.sql") lines of pg_dump --schema-only)"
	else
		fail "$name: schema of $dst differs from $src"
		head -n 40 "$d/$dst.schema.diff"
	fi
	data_digest "$src" >"$d/$src.data.txt"
	data_digest "$dst" >"$d/$dst.data.txt"
	if diff -u "$d/$src.data.txt" "$d/$dst.data.txt" >"$d/$dst.data.diff"; then
		pass "$name: data of $dst equals $src ($(grep -c '|' "$d/$src.data.txt") relations/sequences/LOs)"
	else
		fail "$name: data of $dst differs from $src"
		head -n 40 "$d/$dst.data.diff"
	fi
}

# restore_into NAME ARCHIVE DB [pg_restore options]: createdb DB and
# pg_restore --no-owner into it (ARCHIVE - reads stdin); any error or
# message fails the check.
restore_into() {
	local name=$1 archive=$2 db=$3
	shift 3
	local err=$TESTDIR/restore-$db.err
	q postgres "CREATE DATABASE \"$db\"" >/dev/null
	local src=("$archive")
	[ "$archive" = - ] && src=()
	if pg_restore --no-owner -d "$db" "$@" "${src[@]}" 2>"$err"; then
		if [ -s "$err" ]; then
			fail "$name: pg_restore $* into $db printed: $(head -c 600 "$err")"
			return 1
		fi
		pass "$name: pg_restore --no-owner $* into $db"
	else
		fail "$name: pg_restore $* into $db failed: $(head -c 1200 "$err")"
		return 1
	fi
}

# fixtures_accept_pg_attver: true if this server takes the "pg_attver"
# column option that the pg18 fixtures carry (they were dumped from a Debian
# 15 server that has it; 18 refuses it, and so does its own pg_restore)
fixtures_accept_pg_attver() {
	try_sql postgres "DO \$\$ BEGIN CREATE TEMP TABLE attver_probe (a int); ALTER TABLE attver_probe ALTER COLUMN a SET (pg_attver = 1); END \$\$"
	log "this server accepts the pg_attver column option: $TRY_STATE"
	[ "$TRY_STATE" = OK ]
}

# load_source_schema DB: createdb DB with test/data/archives/source_schema.sql,
# the script the pg15/pg18 fixtures were dumped from (role r1 created once)
load_source_schema() {
	q postgres "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'r1') THEN CREATE ROLE r1; END IF; END \$\$" >/dev/null
	q postgres "CREATE DATABASE \"$1\"" >/dev/null
	sed -e '/^CREATE DATABASE specdb;$/d' -e '/^\\c specdb$/d' -e '/^CREATE ROLE r1;$/d' \
		"$LIB_DIR/data/archives/source_schema.sql" | psql_db "$1" >/dev/null
}

# reference_pg_dump ARGS...: pg_dump -Fc ARGS as pgbackups' archives are made:
# with planner statistics on 18 and later (pgbackups.statistics is on)
reference_pg_dump() {
	local opts=()
	[ "$(q postgres "SHOW server_version_num")" -ge 180000 ] && opts=(--statistics)
	pg_dump -Fc "${opts[@]}" "$@"
}

# table_rows_total DB: rows in all ordinary tables (FROM ONLY each), which
# is what the TABLE DATA of a backup holds
table_rows_total() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT format('SELECT count(*) FROM ONLY %s', c.oid::regclass)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgbackups')
   AND n.nspname !~ '^pg_'
\gexec
SQL
}

finish() {
	local c
	for c in "${SKIPPED_CHECKS[@]}"; do log "  skipped: $c"; done
	log "$PASS_COUNT passed, $FAIL_COUNT failed, $SKIP_COUNT skipped"
	if [ "$FAIL_COUNT" -gt 0 ]; then
		for c in "${FAILED_CHECKS[@]}"; do log "  failed: $c"; done
		exit 1
	fi
	exit 0
}

_lib_cleanup() {
	local rc=$?
	set +e
	local pid d
	for pid in "${_LIB_BGPIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
	done
	if [ "$rc" -ne 0 ] && [ -n "${SERVER_LOG:-}" ] && [ -f "$SERVER_LOG" ]; then
		echo "----- last lines of $SERVER_LOG -----" >&2
		tail -n 60 "$SERVER_LOG" >&2
		echo "-----" >&2
	fi
	for d in "${_LIB_MOUNTS[@]}"; do
		umount "$d" 2>/dev/null
	done
	for d in "${_LIB_CLUSTERS[@]}"; do
		if [ -f "$d/postmaster.pid" ]; then
			(cd / && as_postgres "$PGBIN/pg_ctl" -D "$d" -m immediate -w -t 60 stop >/dev/null 2>&1)
		fi
	done
	for d in "${_LIB_TMPDIRS[@]}"; do
		if [ "${KEEP_TMP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ "${KEEP_TMP_ON_FAILURE:-0}" = 1 ]; }; then
			log "kept $d"
		else
			# the storage dir may have been made read-only by a test
			chmod -R u+w "$d" 2>/dev/null
			rm -rf "$d"
		fi
	done
	exit "$rc"
}
trap _lib_cleanup EXIT
trap 'exit 130' INT TERM

# ---- restore and copy jobs (test/e2e/15..65) ------------------------------------
# job_table ID: the catalog table of a job id (r001 -> restores, c001 ->
# copies, else backups)
job_table() {
	case "$1" in
	r*) echo pgbackups.restores ;;
	c*) echo pgbackups.copies ;;
	*) echo pgbackups.backups ;;
	esac
}

# job_field DB ID EXPR: a column (or expression) of job ID's catalog row
job_field() {
	q "$1" "SELECT $3 FROM $(job_table "$2") WHERE id = '$2'"
}

# describe_job DB ID: a one-line description of a restore or copy, for logs
describe_job() {
	q "$1" "SELECT concat_ws(' ', id, status, 'target=' || target, 'parallel=' || parallel, 'tables=' || tables, 'rows=' || rows, 'bytes=' || bytes, 'err=' || error, 'code=' || error_code) FROM $(job_table "$2") WHERE id = '$2'" 2>&1
}

# staging_dbs: the names of pgbackups staging databases (pgbackups_*), one a line.
# A restore or copy reports completed once recorded, then its worker drops the
# replaced database (pgbackups_*_old): that drop is waited for first (30 s).
staging_dbs() {
	wait_for postgres "SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname LIKE 'pgbackups\_%\_old')" 30 || true
	q postgres "SELECT datname FROM pg_database WHERE datname LIKE 'pgbackups\_%' ORDER BY 1"
}

# db_fingerprint DB: everything "the database is as it was" compares: the
# database's own properties (owner, encoding, locale, connection limit, ACL,
# ALTER DATABASE settings, comment), pg_dump --schema-only and data_digest
db_fingerprint() {
	q postgres "SELECT d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, d.datconnlimit, d.datacl, d.datallowconn,
	                   (SELECT string_agg(array_to_string(s.setconfig, ','), ';' ORDER BY s.setrole) FROM pg_db_role_setting s WHERE s.setdatabase = d.oid),
	                   shobj_description(d.oid, 'pg_database')
	              FROM pg_database d WHERE d.datname = '$1'"
	schema_text "$1"
	data_digest "$1"
}

# job_worker_pid_of DB ID [timeout]: the live worker_pid of running job ID,
# any kind (backups, restores, copies), once it has one
job_worker_pid_of() {
	local db=$1 id=$2 timeout=${3:-30} pid
	local deadline=$((SECONDS + timeout))
	while [ "$SECONDS" -lt "$deadline" ]; do
		pid=$(q "$db" "SELECT j.worker_pid FROM $(job_table "$id") j JOIN pg_stat_activity a ON a.pid = j.worker_pid WHERE j.id = '$id' AND j.status = 'running' AND a.backend_type = 'pgbackups job'" 2>/dev/null || true)
		if [ -n "$pid" ]; then
			printf '%s\n' "$pid"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# staging_size ID: bytes of the staging database of restore or copy ID (0 if none)
staging_size() {
	q postgres "SELECT coalesce(sum(pg_database_size(oid)), 0) FROM pg_database WHERE $(staging_match "$1")" 2>/dev/null || echo 0
}

# wait_loading CATDB ID MB TIMEOUT: until the staging database of job ID (of
# catalog CATDB) is bigger than MB megabytes (data is loading); fails if the
# job ends first
wait_loading() {
	local cat=$1 id=$2 mb=$3 timeout=$4 deadline st
	deadline=$((SECONDS + timeout))
	while [ "$SECONDS" -lt "$deadline" ]; do
		[ "$(staging_size "$id")" -gt $((mb * 1024 * 1024)) ] && return 0
		st=$(job_field "$cat" "$id" status 2>/dev/null || true)
		case "$st" in completed | failed | canceled) return 1 ;; esac
		sleep 0.1
	done
	return 1
}

# kill_job_workers LABEL [PID...]: kill -9 every pgbackups process but the
# launcher and the schedulers (job workers, their restore and stream
# helpers), and the PIDs given, then wait for the crash restart; a failed
# check LABEL (and 1) when there is no such process
kill_job_workers() {
	local label=$1 pids pos
	shift
	pids=$(q postgres "SELECT string_agg(DISTINCT pid::text, ' ') FROM (SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'pgbackups%' AND backend_type NOT IN ('pgbackups launcher', 'pgbackups scheduler') UNION ALL SELECT unnest('{$(tr ' ' ',' <<<"$*")}'::int[])) p")
	if [ -z "$pids" ]; then
		fail "$label: no pgbackups worker process to kill"
		return 1
	fi
	log "$label: killing $pids ($(q postgres "SELECT string_agg(pid || '=' || backend_type, ', ') FROM pg_stat_activity WHERE pid IN (${pids// /,})"))"
	pos=$(log_pos)
	# shellcheck disable=SC2086 # one PID a word
	kill -9 $pids
	crash_restarted "$pos" 60 || die "no crash restart in the server log within 60 s of kill -9 (or the server did not come back)"
}

# try_sql DB SQL: run SQL, never fail; sets TRY_STATE (OK, the SQLSTATE of
# the error, or TIMEOUT after TRY_TIMEOUT seconds, default 300), TRY_OUT
# (stdout: the result), TRY_ERR (stderr: notices and the error) and TRY_MSG
# (the first ERROR line without its SQLSTATE).  Call it directly, not in $(...).
try_sql() {
	local errf=${TESTDIR:-/tmp}/try_sql.$$.err rc=0
	TRY_MSG=""
	TRY_OUT=$(timeout -k 5 "${TRY_TIMEOUT:-300}" psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" -c "$2" 2>"$errf") || rc=$?
	if [ "$rc" -eq 0 ]; then
		TRY_STATE=OK
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		TRY_STATE=TIMEOUT
		TRY_MSG="no answer within ${TRY_TIMEOUT:-300} s: $2"
	else
		TRY_STATE=$(grep -m1 -oE 'ERROR:  [0-9A-Z]{5}' "$errf" | cut -c9- || true)
		TRY_MSG=$(grep -m1 'ERROR:' "$errf" | sed -E 's/^.*ERROR:  ([0-9A-Z]{5}: )?//' || true)
		[ -n "$TRY_STATE" ] || TRY_STATE="?"
		[ -n "$TRY_MSG" ] || TRY_MSG=$(grep -v -E '^(NOTICE|LOCATION|CONTEXT):' "$errf" | tail -n 2 | tr '\n' ' ')
	fi
	TRY_ERR=$(cat "$errf")
	rm -f "$errf"
}

# server_up [SECS]: wait until the server accepts connections (after a crash
# restart); crash_count: how many times a server process crashed so far
# (the server log's "terminated by signal" lines; kill -9 by a test counts)
server_up() { wait_for postgres "SELECT true" "${1:-60}"; }
crash_count() { grep -c 'was terminated by signal' "$SERVER_LOG" || true; }

# staging_match ID: an SQL condition on datname matching the staging database
# of job ID (pgbackups_r001_<target>, or with the catalog's oid in front,
# pgbackups_16384_r001_<target>)
staging_match() { printf "(datname LIKE 'pgbackups\\\\_%%' AND datname LIKE '%%\\\\_%s\\\\_%%')" "$1"; }

# ---- S3 and HTTP(S) servers for the storage/URL tests (test/servers, e2e 72..78) -------
# Every server binds 127.0.0.1 on a port the kernel picks (or free_port), writes
# a ready file, and is stopped by the cleanup trap (its PID is in _LIB_BGPIDS).
#   start_s3rver [BUCKET...]        s3rver (node library API); S3_PORT, S3_ENDPOINT, S3_DIR, S3_LOG
#   start_fault_proxy UPSTREAM_PORT fault_proxy.py; FP_PORT, FP_ENDPOINT, FP_CONTROL, FP_LOG
#   fault_set JSON / fault_clear    the proxy's rules (see fault_proxy.py)
#   make_test_ca                    CA_DIR, CA_FILE (+ server.crt/key for 127.0.0.1, localhost)
#   start_nginx_https ROOT          nginx: NGINX_PORT (https), NGINX_HTTP_PORT, NGINX_DIR, NGINX_ACCESS_LOG
#   start_https_server ROOT         https_server.py: HTTPS_PORT, HTTPS_LOG
#   s3cli ARGS...                   test/servers/s3cli.py against s3rver (boto3), the independent client
#   s3_conf ENDPOINT [PREFIX]       postgresql.conf lines for s3 storage on that endpoint
SERVERS_DIR=$LIB_DIR/servers
SYS_PYTHON=/usr/bin/python3 # Debian's python3 (boto3, botocore), not a pyenv one on PATH
S3_BUCKET=${S3_BUCKET:-pgb}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-AKIAPGBTESTKEYID0001}
S3_SECRET=${S3_SECRET:-SECRETxyzPgbS3key/9Qw+2Zr7Lk0Vb}
S3_TOKEN=${S3_TOKEN:-TOKENxyzPgbSessionQ7v3Mm1Yt5Rr8Nn}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now
free_port() {
	"$SYS_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# servers_missing: what the server helpers need and this machine lacks (empty: all there)
servers_missing() {
	local m=()
	[ -x /usr/bin/node ] || command -v node >/dev/null 2>&1 || m+=(node)
	[ -d "$SERVERS_DIR/node_modules/@20minutes/s3rver" ] || m+=("test/servers/node_modules (npm ci in test/servers)")
	[ -x "$SYS_PYTHON" ] || m+=("$SYS_PYTHON")
	"$SYS_PYTHON" -c 'import boto3' 2>/dev/null || m+=(python3-boto3)
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || m+=(nginx-light)
	command -v openssl >/dev/null 2>&1 || m+=(openssl)
	command -v curl >/dev/null 2>&1 || m+=(curl)
	printf '%s\n' "${m[@]}"
}

# require_servers: die (failing the script) when a server dependency is missing
require_servers() {
	local m
	m=$(servers_missing)
	[ -z "$m" ] || die "missing for the S3/HTTPS test servers (run scripts/setup.sh): $(tr '\n' ' ' <<<"$m")"
}

# _wait_ready FILE PID NAME LOG [secs]: wait for a server's ready file while its PID lives
_wait_ready() {
	local f=$1 pid=$2 name=$3 logf=$4 secs=${5:-30}
	local deadline=$((SECONDS + secs))
	while [ ! -s "$f" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$logf" >&2 || true
			die "$name exited before it was ready"
		fi
		[ "$SECONDS" -lt "$deadline" ] || die "$name not ready after $secs s"
		sleep 0.1
	done
}

# start_s3rver [BUCKET...]: s3rver on 127.0.0.1 with the buckets (default $S3_BUCKET),
# credentials $S3_ACCESS_KEY / $S3_SECRET (the built-in S3RVER key is revoked).
# S3_TLS=1 serves HTTPS with make_test_ca's server certificate (then
# S3_ENDPOINT is https://127.0.0.1:PORT and pgbackups.ca_file must be $CA_FILE).
start_s3rver() {
	local buckets=("$@") args=() b dir
	[ "${#buckets[@]}" -gt 0 ] || buckets=("$S3_BUCKET")
	new_tmpdir dir
	S3_DIR=$dir
	S3_LOG=$dir/s3rver.log
	for b in "${buckets[@]}"; do args+=(--bucket "$b"); done
	local scheme=http
	if [ "${S3_TLS:-0}" = 1 ]; then
		[ -n "${CA_DIR:-}" ] || make_test_ca
		args+=(--cert "$CA_DIR/server.crt" --key "$CA_DIR/server.key")
		scheme=https
	fi
	# s3rver makes ListObjectsV2 continuation tokens with DES, which Node 20
	# allows only with OpenSSL's legacy provider (else a second page fails)
	NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--openssl-legacy-provider" \
		node "$SERVERS_DIR/s3rver.js" --dir "$dir/data" --address 127.0.0.1 --port 0 \
		--access-key "$S3_ACCESS_KEY" --secret "$S3_SECRET" --ready-file "$dir/ready" \
		"${args[@]}" >"$S3_LOG" 2>&1 &
	S3_PID=$!
	track_bg "$S3_PID"
	_wait_ready "$dir/ready" "$S3_PID" s3rver "$S3_LOG"
	S3_PORT=$(cat "$dir/ready")
	S3_ENDPOINT=$scheme://127.0.0.1:$S3_PORT
	export S3_DIR S3_LOG S3_PID S3_PORT S3_ENDPOINT
	log "s3rver on $S3_ENDPOINT (pid $S3_PID, buckets ${buckets[*]}, data $dir/data)"
}

# start_fault_proxy UPSTREAM_PORT: fault_proxy.py in front of 127.0.0.1:UPSTREAM_PORT
start_fault_proxy() {
	local up=$1 dir
	new_tmpdir dir
	FP_DIR=$dir
	FP_CONTROL=$dir/control.json
	FP_LOG=$dir/requests.jsonl
	: >"$FP_LOG"
	echo '{"rules": []}' >"$FP_CONTROL"
	"$SYS_PYTHON" "$SERVERS_DIR/fault_proxy.py" --listen 127.0.0.1 --port 0 --upstream "127.0.0.1:$up" \
		--control "$FP_CONTROL" --log "$FP_LOG" --ready-file "$dir/ready" >"$dir/proxy.out" 2>&1 &
	FP_PID=$!
	track_bg "$FP_PID"
	_wait_ready "$dir/ready" "$FP_PID" fault_proxy "$dir/proxy.out"
	FP_PORT=$(cat "$dir/ready")
	FP_ENDPOINT=http://127.0.0.1:$FP_PORT
	export FP_DIR FP_CONTROL FP_LOG FP_PID FP_PORT FP_ENDPOINT
	log "fault proxy on $FP_ENDPOINT -> 127.0.0.1:$up (pid $FP_PID)"
}

# fault_set JSON: replace the proxy's rules (atomically; counters restart)
fault_set() {
	printf '%s\n' "$1" >"$FP_CONTROL.tmp"
	mv -f "$FP_CONTROL.tmp" "$FP_CONTROL"
}
fault_clear() { fault_set '{"rules": []}'; }

# make_test_ca: a CA and a server certificate (IP:127.0.0.1, DNS:localhost) in
# a fresh directory; sets CA_DIR and CA_FILE (readable by the postgres OS user)
make_test_ca() {
	local dir
	new_tmpdir dir
	"$SERVERS_DIR/make_ca.sh" "$dir" >/dev/null || die "make_ca.sh failed"
	CA_DIR=$dir
	CA_FILE=$dir/ca.crt
	export CA_DIR CA_FILE
}

# start_nginx_https ROOT [EXTRA_CONF]: our own nginx serving ROOT under /files/
# on https://127.0.0.1:NGINX_PORT and http://127.0.0.1:NGINX_HTTP_PORT, plus the
# redirects of test/servers/nginx.conf.in; EXTRA_CONF (nginx text) is included
# in http {}.  Files under ROOT must be world-readable (workers run as nobody).
start_nginx_https() {
	local root=$1 extra=${2:-} dir
	[ -n "${CA_DIR:-}" ] || make_test_ca
	new_tmpdir dir
	NGINX_DIR=$dir
	mkdir -p "$dir/tmp"
	printf '%s\n' "$extra" >"$dir/extra.conf"
	for _ in 1 2 3 4 5; do
		NGINX_PORT=$(free_port)
		NGINX_HTTP_PORT=$(free_port)
		[ "$NGINX_PORT" != "$NGINX_HTTP_PORT" ] || continue
		sed -e "s|@PREFIX@|$dir|g" -e "s|@ROOT@|$root|g" -e "s|@LISTEN@|127.0.0.1|g" \
			-e "s|@PORT@|$NGINX_PORT|g" -e "s|@HTTP_PORT@|$NGINX_HTTP_PORT|g" \
			-e "s|@CERT@|$CA_DIR/server.crt|g" -e "s|@KEY@|$CA_DIR/server.key|g" \
			"$SERVERS_DIR/nginx.conf.in" >"$dir/nginx.conf"
		nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/nginx.out" 2>&1 &
		NGINX_PID=$!
		local deadline=$((SECONDS + 15)) up=0
		while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$NGINX_PID" 2>/dev/null; do
			if curl -s -o /dev/null --cacert "$CA_FILE" "https://127.0.0.1:$NGINX_PORT/" &&
				curl -s -o /dev/null "http://127.0.0.1:$NGINX_HTTP_PORT/"; then
				up=1
				break
			fi
			sleep 0.1
		done
		if [ "$up" = 1 ]; then
			track_bg "$NGINX_PID"
			NGINX_ACCESS_LOG=$dir/access.log
			export NGINX_DIR NGINX_PORT NGINX_HTTP_PORT NGINX_PID NGINX_ACCESS_LOG
			log "nginx on https://127.0.0.1:$NGINX_PORT and http://127.0.0.1:$NGINX_HTTP_PORT (pid $NGINX_PID, root $root)"
			return 0
		fi
		stop_bg "$NGINX_PID"
		# a port taken between free_port and bind: try others
		grep -q 'Address already in use' "$dir/error.log" "$dir/nginx.out" 2>/dev/null || break
	done
	cat "$dir/error.log" "$dir/nginx.out" >&2 2>/dev/null || true
	die "nginx did not start"
}

# start_https_server ROOT: test/servers/https_server.py (truncated bodies) on
# https://127.0.0.1:HTTPS_PORT with make_test_ca's certificate
start_https_server() {
	local root=$1 dir
	[ -n "${CA_DIR:-}" ] || make_test_ca
	new_tmpdir dir
	HTTPS_LOG=$dir/requests.jsonl
	"$SYS_PYTHON" "$SERVERS_DIR/https_server.py" --root "$root" --cert "$CA_DIR/server.crt" --key "$CA_DIR/server.key" \
		--log "$HTTPS_LOG" --listen 127.0.0.1 --port 0 --ready-file "$dir/ready" >"$dir/out" 2>&1 &
	HTTPS_PID=$!
	track_bg "$HTTPS_PID"
	_wait_ready "$dir/ready" "$HTTPS_PID" https_server "$dir/out"
	HTTPS_PORT=$(cat "$dir/ready")
	export HTTPS_LOG HTTPS_PID HTTPS_PORT
	log "https_server.py on https://127.0.0.1:$HTTPS_PORT (pid $HTTPS_PID, root $root)"
}

# s3cli ARGS...: the independent S3 client (boto3) against s3rver itself,
# with the test credentials; see test/servers/s3cli.py
s3cli() {
	local ca=()
	[ "${S3_ENDPOINT#https:}" = "$S3_ENDPOINT" ] || ca=(--ca "$CA_FILE")
	S3CLI_ACCESS_KEY=$S3_ACCESS_KEY S3CLI_SECRET=$S3_SECRET \
		"$SYS_PYTHON" "$SERVERS_DIR/s3cli.py" --endpoint "$S3_ENDPOINT" "${ca[@]}" "$@"
}

# s3_conf ENDPOINT [PREFIX]: postgresql.conf lines for s3://$S3_BUCKET/PREFIX
# storage at ENDPOINT (path style, the test credentials and session token)
s3_conf() {
	local ep=$1 prefix=${2:-backups}
	cat <<CONF
pgbackups.storage_url = 's3://$S3_BUCKET/$prefix'
pgbackups.s3_endpoint = '$ep'
pgbackups.s3_region = 'us-east-1'
pgbackups.s3_uri_style = 'path'
pgbackups.s3_access_key_id = '$S3_ACCESS_KEY'
pgbackups.s3_secret_access_key = '$S3_SECRET'
pgbackups.s3_session_token = '$S3_TOKEN'
CONF
}

# set_conf NAME VALUE...: ALTER SYSTEM SET each NAME = 'VALUE' pair, reload, and
# wait until a new session sees the last one (PGC_SIGHUP settings)
set_conf() {
	local cmds=() last_name="" last_val=""
	while [ "$#" -ge 2 ]; do
		# one -c each: ALTER SYSTEM cannot run in the transaction of a statement list
		cmds+=(-c "ALTER SYSTEM SET $1 = '${2//\'/\'\'}'")
		last_name=$1
		last_val=$2
		shift 2
	done
	psql -X -q -v ON_ERROR_STOP=1 -d postgres "${cmds[@]}" >/dev/null
	q postgres "SELECT pg_reload_conf()" >/dev/null
	# pg_settings.setting is in the base unit ('6' for '6s'); hidden settings are
	# not in pg_settings: current_setting() then
	wait_for postgres "SELECT coalesce((SELECT setting FROM pg_settings WHERE name = '$last_name'), current_setting('$last_name')) = '${last_val//\'/\'\'}'" 10 ||
		die "set_conf: $last_name = '$last_val' not visible 10 s after the reload"
	# A new session sees the value only after the postmaster reloaded, and
	# the postmaster signals SIGHUP to every child before it forks again: job
	# workers started from now on have the new value.  The long-lived launcher,
	# schedulers and maintenance workers reload at the top of their next loop.
	workers_reloaded
}

# workers_reloaded: after a reload the postmaster has done (a new session sees
# the new value), wait until the launcher and every running scheduler and
# maintenance worker loaded the configuration files at or after the
# postmaster's last reload (pgbackups.counters() 'config_loaded_at' against
# pg_conf_load_time() of a new session, which has the postmaster's); without
# a database with the 1.7.0 extension, a bounded wait of 0.3 s (logged)
workers_reloaded() {
	local db
	counters_db >/dev/null
	db=$_LIB_COUNTERS_DB
	if [ -z "$db" ]; then
		log "no database with pgbackups.counters(): bounded wait (0.3 s) for the workers' reload"
		sleep 0.3
		return 0
	fi
	wait_for "$db" "SELECT (SELECT value FROM pgbackups.counters() WHERE name = 'config_loaded_at') >= (extract(epoch FROM pg_conf_load_time()) * 1000000)::bigint" 10 ||
		log "WARNING: the pgbackups workers did not show the reload within 10 s (config_loaded_at $(counter config_loaded_at "$db"))"
}

# counters_db: a database where pgbackups.counters() exists (COUNTERS_DB if
# set, else the newest database that has it), printed and left in
# _LIB_COUNTERS_DB (call it directly to keep it); empty when none
_LIB_COUNTERS_DB=""
counters_db() {
	local d have='SELECT to_regprocedure($$pgbackups.counters(boolean)$$) IS NOT NULL'
	if [ -n "${COUNTERS_DB:-}" ]; then
		_LIB_COUNTERS_DB=$COUNTERS_DB
	elif [ -z "$_LIB_COUNTERS_DB" ] || [ "$(q "$_LIB_COUNTERS_DB" "$have" 2>/dev/null)" != t ]; then
		_LIB_COUNTERS_DB=""
		while IFS= read -r d; do
			if [ "$(q "$d" "$have" 2>/dev/null)" = t ]; then
				_LIB_COUNTERS_DB=$d
				break
			fi
		done < <(q postgres "SELECT datname FROM pg_database WHERE datallowconn AND datname NOT LIKE 'pgbackups\_%' ORDER BY oid DESC LIMIT 20" 2>/dev/null)
	fi
	[ -z "$_LIB_COUNTERS_DB" ] || printf '%s\n' "$_LIB_COUNTERS_DB"
}

# counter NAME [DB]: the value of counter NAME (pgbackups.counters(); per-database
# ones are DB's, default counters_db)
counter() {
	q "${2:-$(counters_db)}" "SELECT value FROM pgbackups.counters() WHERE name = '$1'"
}

# reload_conf SQL: run SQL (ALTER SYSTEM ...) and reload, like set_conf;
# for RESET, whose value a test cannot name
reload_conf() {
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "$1" >/dev/null
	local pos
	pos=$(log_pos)
	q postgres "SELECT pg_reload_conf()" >/dev/null
	# the postmaster's LOG line "received SIGHUP, reloading configuration
	# files" comes before it signals the children and forks again
	wait_log "$pos" 'received SIGHUP, reloading configuration files' 10 ||
		die "reload_conf: the postmaster did not log the reload within 10 s"
	workers_reloaded
}

# ---- the server log as a source of events -----------------------------------------------
#   log_pos                    the server log's size now: a mark taken before the cause
#   log_since POS              the server log written after the mark
#   wait_log POS REGEX [secs]  wait until a line matching REGEX (grep -E) follows the mark
#   crash_restarted POS [secs] after a kill -9 (mark taken before it): the postmaster
#                              reinitialized and accepts connections again
#   bounded_negative SECS WHAT a negative that no event can prove: wait SECS (logged)
# "The launcher and schedulers have reloaded their settings" and "the scheduler
# has looked at the clock and decided nothing" are events in
# pgbackups.counters() (config_loaded_at, schedules_decided: see set_conf and
# 82_schedules.sh); bounded_negative is left for negatives no counter pins.
log_pos() { stat -c %s "$SERVER_LOG" 2>/dev/null || echo 0; }
log_since() { tail -c +$(($1 + 1)) "$SERVER_LOG" 2>/dev/null || true; }
wait_log() {
	local pos=$1 re=$2 timeout=${3:-30}
	local deadline=$((SECONDS + timeout))
	while :; do
		log_since "$pos" | grep -q -E -- "$re" && return 0
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}
crash_restarted() {
	local pos=$1 timeout=${2:-60}
	wait_log "$pos" 'all server processes terminated; reinitializing' "$timeout" &&
		wait_log "$pos" 'database system is ready to accept connections' "$timeout" &&
		server_up "$timeout"
}
# bounded_negative SECS WHAT: the check that follows is a bounded negative
# check: it shows WHAT did not happen within SECS seconds, and would miss it
# happening later.  Use it only where no later positive event pins it down.
bounded_negative() {
	log "bounded negative check ($1 s): $2"
	sleep "$1"
}

# in_netns_with_metadata_address "$@": re-run the calling script (once, as root)
# in a new network namespace whose loopback also carries 169.254.169.254, so
# that a test of "redirect to the cloud metadata address" can put a trap
# server there and never sends a packet off this machine.  Sets
# NETNS_METADATA=1 inside; without root or unshare the script runs as is
# (NETNS_METADATA=0, counted as one skipped case).  Call it right after
# sourcing lib.sh.
in_netns_with_metadata_address() {
	if [ "${PGB_IN_NETNS:-0}" = 1 ]; then
		ip link set lo up 2>/dev/null || true
		if ip addr add 169.254.169.254/32 dev lo 2>/dev/null || ip addr show dev lo | grep -q 169.254.169.254; then
			NETNS_METADATA=1
		else
			NETNS_METADATA=0
			skip "the 169.254.169.254 trap" "could not add 169.254.169.254 to the namespace's loopback"
		fi
		export NETNS_METADATA
		return 0
	fi
	NETNS_METADATA=0
	export NETNS_METADATA
	if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null 2>&1 && unshare --net true 2>/dev/null; then
		trap - EXIT
		PGB_IN_NETNS=1 exec unshare --net -- bash "$0" "$@"
	fi
	# counted in the summary line: the cases that use the trap are left out
	skip "the 169.254.169.254 trap" "no private network namespace (not root or no unshare)"
}

# reqlog ARGS...: test/servers/reqlog.py on the fault proxy's request log
# (uploads, parts, count, lines; see that file)
reqlog() { "$SYS_PYTHON" "$SERVERS_DIR/reqlog.py" "$FP_LOG" "$@"; }

# no_secret_in NAME FILE...: none of the test's S3 secrets (secret key, session
# token) and no SigV4 signature value (X-Amz-Signature=<64 hex>, Signature=<64 hex>)
# appears in the files; extra strings to look for in NO_SECRET_EXTRA (one a line)
no_secret_in() {
	local name=$1 f hits="" s
	shift
	local pats=("$S3_SECRET" "$S3_TOKEN")
	while IFS= read -r s; do [ -z "$s" ] || pats+=("$s"); done <<<"${NO_SECRET_EXTRA:-}"
	for f in "$@"; do
		[ -e "$f" ] || continue
		for s in "${pats[@]}"; do
			if grep -a -q -F -- "$s" "$f"; then hits+=" $(basename "$f"):'${s:0:12}...'"; fi
		done
		if grep -a -q -E '[Ss]ignature=[0-9a-f]{64}' "$f"; then hits+=" $(basename "$f"):Signature=<hex>"; fi
	done
	if [ -z "$hits" ]; then
		pass "$name: no secret, token or signature"
	else
		fail "$name: found$hits"
	fi
}

# ---- private network namespace with its own DNS, trap listeners (e2e 77) -------------
#   in_netns_with_dns PREFIX HOSTS "$@"   re-run the script in a named network namespace
#   start_trap_listener LOG ADDR:PORT...   test/servers/trap_listener.py; TRAP_PID
#   start_dns_server LOG ARGS...           test/servers/dns_rebind.py on 127.0.0.1:53; DNS_PID
#   trap_accepts LOG                       how many connections the trap accepted so far

# in_netns_with_dns PREFIX HOSTS "$@": re-run the calling script (as root) in a
# new named network namespace PREFIX-<pid> (ip netns add), where `ip netns
# exec` bind-mounts /etc/netns/PREFIX-<pid>/hosts (HOSTS, one "ADDR NAME..."
# a line; localhost is added) and resolv.conf (nameserver 127.0.0.1: the
# script starts its own DNS server there) over /etc, so that the server
# started inside resolves names as the test says and nothing leaves the
# machine.  The outer process waits, then deletes the namespace and its
# /etc/netns directory, and exits with the inner run's status.  Inside:
# NETNS_DNS=1, NETNS_NAME, loopback up.  Without root or `ip netns`: the
# script runs as is with NETNS_DNS=0 and NETNS_SKIP_REASON (for skip).  Call it
# right after sourcing lib.sh.
in_netns_with_dns() {
	local prefix=$1 hosts=$2 ns rc=0
	shift 2
	if [ "${PGB_IN_NETNS_DNS:-0}" = 1 ]; then
		NETNS_DNS=1
		NETNS_SKIP_REASON=""
		if ! ip link set lo up; then
			NETNS_DNS=0
			NETNS_SKIP_REASON="could not bring up loopback in network namespace $NETNS_NAME"
		fi
		export NETNS_DNS NETNS_NAME NETNS_SKIP_REASON
		return 0
	fi
	NETNS_DNS=0
	export NETNS_DNS
	if [ "$(id -u)" -ne 0 ]; then
		NETNS_SKIP_REASON="not root: no network namespace"
	elif ! command -v ip >/dev/null 2>&1; then
		NETNS_SKIP_REASON="no ip command (iproute2)"
	else
		ns=$prefix-$$
		if ! ip netns add "$ns" 2>/dev/null; then
			NETNS_SKIP_REASON="ip netns add $ns failed"
		else
			local rm_parent=""
			[ -d /etc/netns ] || rm_parent="rmdir /etc/netns 2>/dev/null;"
			mkdir -p "/etc/netns/$ns"
			printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n%s\n' "$hosts" >"/etc/netns/$ns/hosts"
			printf 'nameserver 127.0.0.1\noptions timeout:2 attempts:2\n' >"/etc/netns/$ns/resolv.conf"
			chmod 755 "/etc/netns/$ns"
			chmod 644 "/etc/netns/$ns/hosts" "/etc/netns/$ns/resolv.conf"
			trap - EXIT
			# shellcheck disable=SC2064 # the name is fixed now
			trap "ip netns del '$ns' 2>/dev/null; rm -rf '/etc/netns/$ns'; $rm_parent" EXIT
			log "running in network namespace $ns (own /etc/hosts and resolv.conf)"
			PGB_IN_NETNS_DNS=1 NETNS_NAME=$ns ip netns exec "$ns" bash "$0" "$@" || rc=$?
			exit "$rc"
		fi
	fi
	export NETNS_SKIP_REASON
	log "no private network namespace: $NETNS_SKIP_REASON"
}

# start_trap_listener LOG ADDR:PORT...: test/servers/trap_listener.py on those
# addresses ([v6]:port for IPv6); one JSON line per connection in LOG
start_trap_listener() {
	local logf=$1 dir a
	shift
	local args=()
	for a in "$@"; do args+=(--listen "$a"); done
	new_tmpdir dir
	: >"$logf"
	"$SYS_PYTHON" "$SERVERS_DIR/trap_listener.py" --log "$logf" --ready-file "$dir/ready" "${args[@]}" >"$dir/out" 2>&1 &
	TRAP_PID=$!
	track_bg "$TRAP_PID"
	_wait_ready "$dir/ready" "$TRAP_PID" trap_listener "$dir/out"
	export TRAP_PID
	log "trap listener on $* (pid $TRAP_PID, log $logf)"
}

# trap_accepts LOG: connections the trap listener accepted so far
trap_accepts() { grep -c '"event": "accept"' "$1" || true; }

# start_dns_server LOG ARGS...: test/servers/dns_rebind.py on 127.0.0.1:53 (the
# resolv.conf of in_netns_with_dns) with ARGS (--static NAME=ADDR, --rebind
# NAME=FIRST,LATER); one JSON line per query in LOG
start_dns_server() {
	local logf=$1 dir
	shift
	new_tmpdir dir
	: >"$logf"
	"$SYS_PYTHON" "$SERVERS_DIR/dns_rebind.py" --log "$logf" --listen 127.0.0.1 --port 53 \
		--ready-file "$dir/ready" "$@" >"$dir/out" 2>&1 &
	DNS_PID=$!
	track_bg "$DNS_PID"
	_wait_ready "$dir/ready" "$DNS_PID" dns_rebind "$dir/out"
	export DNS_PID
	log "DNS server on 127.0.0.1:53 (pid $DNS_PID, log $logf)"
}
