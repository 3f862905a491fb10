# bench/lib.sh: what the benchmarks in bench/ share, sourced by each of them.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_checks initdb pg_ctl psql ...       # root, postgres user, PG_CONFIG/PGBIN, pgbackups installed, python3, /usr/bin/time
#   bench_tmp PREFIX                          # /tmp/PREFIX.XXXXXX and the trap that cleans up
#   bench_cluster PORT [CONF_LINES]           # throwaway cluster in it, started
#   bench_catalog                             # database catalog with the extension, scheduler running
#   start_poller OUT CLIENT_RE SERVER_RE [perf_poller.py options] / stop_poller OUT / pval FILE KEY
#   psql_db DB ARGS..., q DB SQL, now, elapsed T0 T1, log, die, other_postmasters
#   orders_sql, events_blobs_sql, small_tables_sql, large_objects_sql, parallel_sql, topup_orders
#                                             # the "many" data of perf_bench.sh and capture_bench.sh
#
# Sets BENCH_DIR, REPO_DIR, RESULTS_DIR; bench_checks sets PG_CONFIG, PGBIN,
# PGMAJOR, PYTHON; bench_tmp sets TMP, PGDATA, SERVER_LOG, ARCHIVE_DIR,
# OUT_DIR, PGHOST; bench_cluster PGPORT, POSTMASTER_PID, LIB_AT_START.  The trap (EXIT, INT,
# TERM) stops the sampler, the PIDs in BGPIDS and EXTRA_PIDS (each waited
# for), then the cluster (pg_ctl stop -m fast), and removes TMP unless
# KEEP_TMP=1.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
RESULTS_DIR=$BENCH_DIR/results
BENCH_SCRIPT=bench/$(basename "$0")

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "FATAL: $*"
	exit 1
}
psql_db() {
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b - a}'; }
# PostgreSQL postmasters on the machine other than ours
other_postmasters() { ps -eo pid=,args= | awk -v me="$POSTMASTER_PID" '$1 != me && $2 ~ /\/postgres$/ && $3 == "-D"' | wc -l; }

# ---------------------------------------------------------------- checks -----

# bench_checks BINARY...: the server of PG_CONFIG (or, when only PGBIN is set,
# of PGBIN/pg_config; default Debian's 15) with pgbackups installed, the
# client binaries named, python3 for the sampler, /usr/bin/time (installed
# when missing); exports PATH and the libpq variables.
bench_checks() {
	[ "$(id -u)" -eq 0 ] || die "run as root (the server runs as postgres through runuser)"
	if [ -z "${PG_CONFIG:-}" ] && [ -n "${PGBIN:-}" ]; then PG_CONFIG=$PGBIN/pg_config; fi
	PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
	[ -x "$PG_CONFIG" ] || die "PG_CONFIG $PG_CONFIG not found"
	PGBIN=$("$PG_CONFIG" --bindir)
	PGMAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
	[ -e "$("$PG_CONFIG" --pkglibdir)/pgbackups.so" ] && [ -e "$("$PG_CONFIG" --sharedir)/extension/pgbackups.control" ] ||
		die "pgbackups is not installed for $PG_CONFIG (make install PG_CONFIG=$PG_CONFIG)"
	id postgres >/dev/null 2>&1 || die "no postgres OS user"
	local b
	for b in initdb pg_ctl psql "$@"; do
		[ -x "$PGBIN/$b" ] || die "$PGBIN/$b not found"
	done
	PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || die "python3 is needed for the sampler"
	if [ ! -x /usr/bin/time ]; then
		log "installing package time (for /usr/bin/time)"
		apt-get install -y -q time >/dev/null || die "could not install package time"
	fi
	export PATH="$PGBIN:$PATH"
	export PGUSER=postgres PGDATABASE=postgres PGCONNECT_TIMEOUT=10
	unset PGSERVICE PGPASSWORD PGOPTIONS PGSSLMODE PGHOSTADDR || true
}

# ---------------------------------------------------------------- cluster ----

STARTED=0
POLLER_PID=
BGPIDS=()
EXTRA_PIDS=()
TMP=

bench_cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	if [ -n "$POLLER_PID" ]; then kill "$POLLER_PID" 2>/dev/null || true; fi
	for p in "${BGPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${EXTRA_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "$STARTED" = 1 ]; then
		log "stopping the benchmark cluster ($PGDATA)"
		(cd "$TMP" && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 120 stop >/dev/null 2>&1) ||
			log "pg_ctl stop failed; see $SERVER_LOG"
	fi
	if [ -n "$TMP" ]; then
		if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	fi
	exit "$rc"
}

# bench_tmp PREFIX: the temporary directory /tmp/PREFIX.XXXXXX (PREFIX without
# "pgbackups": the sampler matches command lines) and the trap
bench_tmp() {
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 755 "$TMP"
	chown postgres:postgres "$TMP"
	PGDATA=$TMP/data
	SERVER_LOG=$TMP/server.log
	ARCHIVE_DIR=$TMP/archives
	OUT_DIR=$TMP/out # client outputs (written by root)
	mkdir -p "$ARCHIVE_DIR" "$OUT_DIR"
	chown postgres:postgres "$ARCHIVE_DIR"
	export PGHOST=$TMP
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# bench_cluster PORT [CONF_LINES]: initdb of a throwaway cluster in TMP/data,
# socket in TMP, no TCP, the first free port from PORT (or $PORT), the
# settings below plus CONF_LINES, archives in file://TMP/archives; started as
# postgres through runuser.
bench_cluster() {
	PORT=${PORT:-$1}
	while ss -ltnH 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$PORT\$" || ls /tmp/.s.PGSQL."$PORT" >/dev/null 2>&1; do PORT=$((PORT + 1)); done
	export PGPORT=$PORT

	log "initdb $PGDATA (PostgreSQL $PGMAJOR, port $PGPORT)"
	(cd "$TMP" && runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$TMP/initdb.log" 2>&1) || {
		cat "$TMP/initdb.log" >&2
		die "initdb failed"
	}
	cat >>"$PGDATA/postgresql.conf" <<EOF

# $BENCH_SCRIPT
port = $PGPORT
listen_addresses = ''
unix_socket_directories = '$TMP'
shared_preload_libraries = 'pgbackups'
max_worker_processes = 32
max_connections = 60
shared_buffers = 512MB
maintenance_work_mem = 256MB
work_mem = 16MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
checkpoint_timeout = 30min
max_wal_size = 8GB
log_line_prefix = '%m [%p] %b %d '
lc_messages = 'C'
timezone = 'UTC'
pgbackups.storage_url = 'file://$ARCHIVE_DIR'
pgbackups.max_workers = 12
pgbackups.manual_retention = 1000
${2:-}
EOF
	(cd "$TMP" && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$SERVER_LOG" -w -t 120 start >/dev/null 2>&1) || {
		tail -n 40 "$SERVER_LOG" >&2 || true
		die "pg_ctl start failed"
	}
	STARTED=1
	POSTMASTER_PID=$(head -n 1 "$PGDATA/postmaster.pid")
	# the library the server loaded (a later make install does not change it)
	local so
	so=$("$PG_CONFIG" --pkglibdir)/pgbackups.so
	LIB_AT_START="$so of $(date -u -r "$so" '+%Y-%m-%d %H:%M:%S UTC'), $(sha256sum "$so" | cut -c1-12)"
}

# bench_catalog: database catalog with the extension; waits for its scheduler
bench_catalog() {
	psql_db postgres -c "CREATE DATABASE catalog"
	psql_db catalog -c "CREATE EXTENSION pgbackups"
	for _ in $(seq 1 100); do
		[ "$(q catalog "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler'")" -ge 1 ] && break
		sleep 0.1
	done
}

# ---------------------------------------------------------------- sampler ----

# start_poller OUT CLIENT_RE SERVER_RE [OPTION...]: bench/perf_poller.py (see
# its header for the groups, the figures and the options) until stop_poller
# OUT; a missing output file reads as zeros.
start_poller() {
	local out=$1 client=$2 server=$3
	shift 3
	rm -f "$out" "$out.ready"
	"$PYTHON" "$BENCH_DIR/perf_poller.py" "$out" "$POSTMASTER_PID" "$$" "$client" "$server" "$PGDATA" "$ARCHIVE_DIR" "$@" &
	POLLER_PID=$!
	for _ in $(seq 1 200); do
		[ -e "$out.ready" ] && return 0
		sleep 0.05
	done
	die "sampler did not start"
}
stop_poller() { # out
	kill -TERM "$POLLER_PID" 2>/dev/null || true
	wait "$POLLER_PID" 2>/dev/null || true
	POLLER_PID=
	[ -s "$1" ] || printf 'peak_main_anon_kb 0\n' >"$1"
}
pval() { awk -v k="$2" '$1 == k {print $2; f = 1} END {if (!f) print 0}' "$1"; }

# the pgbackups workers doing a job (and, by the sampler, their pg_dump child)
SERVER_RE='^postgres: pgbackups (job|stream|restore)'

# ---------------------------------------------------------------- data -------

# n BASE: BASE x SIZE_GB rows, at least 1
n() { awk -v s="$SIZE_GB" -v b="$1" 'BEGIN{v = s * b + 0.5; if (v < 1) v = 1; printf "%d", v}'; }

# run two psql sessions on bench in parallel, each reading its SQL from a file
parallel_sql() { # file1 file2
	psql_db bench -f "$1" &
	local p1=$!
	psql_db bench -f "$2" &
	local p2=$!
	BGPIDS=("$p1" "$p2")
	local rc=0
	wait "$p1" || rc=1
	wait "$p2" || rc=1
	BGPIDS=()
	[ "$rc" = 0 ] || die "data generation failed"
}

orders_sql() { # lo hi
	cat <<EOF
INSERT INTO public.orders
SELECT i, (i * 7919) % 100000,
       timestamptz '2020-01-01 00:00+00' + (i % 2000000) * interval '37 seconds',
       round((random() * 10000)::numeric, 2),
       (ARRAY['new','paid','shipped','delivered','returned'])[1 + i % 5],
       'order ' || i || ' for customer ' || (i * 7919) % 100000 || ': ' || md5(i::text),
       jsonb_build_object('sku', 'SKU-' || (i % 5000), 'qty', 1 + i % 17,
                          'tags', jsonb_build_array('t' || i % 7, 'c' || i % 11),
                          'price', round((random() * 1000)::numeric, 2), 'gift', i % 3 = 0,
                          'addr', jsonb_build_object('city', 'City ' || i % 500,
                                                     'zip', lpad((i % 99999)::text, 5, '0'))),
       gen_random_uuid()
  FROM generate_series($1::bigint, $2::bigint) i;
EOF
}

# the tables orders, events, blobs (no keys yet)
many_tables_sql() {
	cat <<'EOF'
CREATE TABLE public.orders (id bigint NOT NULL, customer_id integer, created_at timestamptz,
    amount numeric(12,2), status text, note text, attrs jsonb, ref uuid);
CREATE TABLE public.events (id bigint NOT NULL, ts timestamptz, level text, host text,
    message text, duration_ms numeric);
CREATE TABLE public.blobs (id integer NOT NULL, kind text, created_at timestamptz, data bytea);
EOF
}

# events (log lines) and blobs: BR x 4 kB random, BT x ~6 kB repetitive text, BH x 2 kB md5 hex
events_blobs_sql() { # events br bt bh
	cat <<EOF
INSERT INTO public.events
SELECT i, timestamptz '2024-01-01 00:00+00' - i * interval '1 second',
       (ARRAY['DEBUG','INFO','INFO','INFO','WARN','ERROR'])[1 + i % 6],
       'web-' || lpad((i % 40)::text, 2, '0') || '.example.com',
       'GET /api/v1/items/' || (i % 10000) || '?page=' || (i % 50) || ' status=' ||
           (ARRAY[200,200,200,304,404,500])[1 + i % 6] ||
           ' user_agent="Mozilla/5.0 (X11; Linux x86_64) bench/1.0" request_id=' || md5(i::text),
       round((random() * 2000)::numeric, 3)
  FROM generate_series(1, $1) i;
INSERT INTO public.blobs
SELECT i, 'random', now(),
       gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024)
  FROM generate_series(1, $2) i;
INSERT INTO public.blobs
SELECT $2 + i, 'text', now(),
       convert_to(repeat('row ' || i || ' lorem ipsum dolor sit amet, consectetur; ', 120), 'UTF8')
  FROM generate_series(1, $3) i;
INSERT INTO public.blobs
SELECT $2 + $3 + i, 'hex', now(),
       convert_to((SELECT string_agg(md5((i * 64 + j)::text), '') FROM generate_series(1, 64) j), 'UTF8')
  FROM generate_series(1, $4) i;
EOF
}

small_tables_sql() { # count rows
	cat <<EOF
CREATE SCHEMA small;
DO \$\$
BEGIN
    FOR t IN 1..$1 LOOP
        EXECUTE format('CREATE TABLE small.t%s (id integer PRIMARY KEY, name text, qty integer,
                            price numeric(10,2), updated_at timestamptz, props jsonb, token uuid)',
                       lpad(t::text, 3, '0'));
        EXECUTE format('INSERT INTO small.t%s
                        SELECT i, %L || i, i %% 100, round((random() * 500)::numeric, 2),
                               timestamptz ''2024-01-01 00:00+00'' - i * interval ''1 minute'',
                               jsonb_build_object(''k'', i, ''table'', %s, ''flag'', i %% 2 = 0),
                               gen_random_uuid()
                          FROM generate_series(1, %s) i',
                       lpad(t::text, 3, '0'), 'item of table ' || t || ' #', t, $2);
    END LOOP;
END
\$\$;
EOF
}

large_objects_sql() { # count: 256 kB each, even ids random bytes, odd ids repetitive text
	cat <<EOF
CREATE TABLE public.documents (id integer PRIMARY KEY, name text, content oid);
INSERT INTO public.documents
SELECT i, 'doc-' || i,
       lo_from_bytea(0, CASE WHEN i % 2 = 0
           THEN (SELECT string_agg(gen_random_bytes(1024), ''::bytea) FROM generate_series(1, 256 + 0 * i) j)
           ELSE substring(convert_to(repeat('document ' || i || ' line of compressible text. ', 8000), 'UTF8')
                          FROM 1 FOR 262144) END)
  FROM generate_series(1, $1) i;
EOF
}

# topup_orders NEXT: orders from id NEXT on, in chunks, until bench has
# TARGET_BYTES; sets ORDERS_NEXT to the first id not inserted
topup_orders() {
	local next=$1 chunk size
	chunk=$(n 100000)
	[ "$chunk" -ge 1000 ] || chunk=1000
	while :; do
		size=$(q bench "SELECT pg_database_size('bench')")
		[ "$size" -lt "$TARGET_BYTES" ] || break
		log "  bench is $((size / 1048576)) MB < $((TARGET_BYTES / 1048576)) MB: $chunk more orders"
		orders_sql "$next" $((next + chunk - 1)) | psql_db bench
		next=$((next + chunk))
	done
	ORDERS_NEXT=$next
}
