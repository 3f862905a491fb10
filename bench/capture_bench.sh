#!/usr/bin/env bash
# bench/capture_bench.sh [SIZE_GB]: pgbackups capture versus pg_dump.
#
# Run as root.  Creates a throwaway PostgreSQL 15 cluster under /tmp (socket in
# its own directory, no TCP), generates at least SIZE_GB (default 1) of mixed
# data in database "bench", then measures, in the same run and twice each:
#
#   a) pg_dump -Fc                       (custom format, gzip, 1 process)
#   b) pg_dump -Fd -j 2                  (directory format, 2 workers)
#   c) pgbackups.capture gzip, parallel 2
#   d) pgbackups.capture zstd, parallel 2
#   e) pgbackups.capture gzip, parallel 1
#
# and prints wall time, ratio against pg_dump -Fc, archive size and peak private
# memory (RssAnon, sampled every 0.2 s).  Results go to bench/results/latest.txt
# and bench/results/<date>-<SIZE>GB.txt.  A trap stops the cluster it started
# (pg_ctl -D ... stop) and removes its temporary directory.
#
# Environment: RUNS (default 2), PORT (default 55499), KEEP_TMP=1 keeps the
# temporary directory, PGBIN (default /usr/lib/postgresql/15/bin).

set -Eeuo pipefail

SIZE_GB=${1:-1}
RUNS=${RUNS:-2}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
RESULTS_DIR=$BENCH_DIR/results

export PATH="$PGBIN:$PATH"
export PGUSER=postgres PGDATABASE=postgres PGCONNECT_TIMEOUT=10
unset PGSERVICE PGPASSWORD PGOPTIONS PGSSLMODE PGHOSTADDR || true

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "FATAL: $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (the server runs as postgres through runuser)"
if ! [[ $SIZE_GB =~ ^[0-9]+([.][0-9]+)?$ ]] || ! awk -v s="$SIZE_GB" 'BEGIN{exit !(s > 0)}'; then
	die "SIZE_GB must be a positive number, got '$SIZE_GB'"
fi
id postgres >/dev/null 2>&1 || die "no postgres OS user"
for b in initdb pg_ctl pg_dump pg_restore psql; do
	[ -x "$PGBIN/$b" ] || die "$PGBIN/$b not found"
done
PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || die "python3 is needed for the memory poller"
if [ ! -x /usr/bin/time ]; then
	log "installing package time (for /usr/bin/time -v)"
	apt-get install -y -q time >/dev/null || die "could not install package time"
fi

# ---------------------------------------------------------------- cluster ----

TMP=$(mktemp -d /tmp/pgbackups-bench.XXXXXX)
chmod 755 "$TMP"
chown postgres:postgres "$TMP"
PGDATA=$TMP/data
SERVER_LOG=$TMP/server.log
ARCHIVE_DIR=$TMP/archives
OUT_DIR=$TMP/out # pg_dump outputs (written by root)
mkdir -p "$ARCHIVE_DIR" "$OUT_DIR"
chown postgres:postgres "$ARCHIVE_DIR"
export PGHOST=$TMP
STARTED=0
POLLER_PID=
BGPIDS=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$POLLER_PID" ]; then kill "$POLLER_PID" 2>/dev/null || true; fi
	for p in "${BGPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ "$STARTED" = 1 ]; then
		log "stopping the benchmark cluster ($PGDATA)"
		(cd "$TMP" && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 120 stop >/dev/null 2>&1) ||
			log "pg_ctl stop failed; see $SERVER_LOG"
	fi
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port whose socket we can own: the socket lives in $TMP, so only a TCP
# listener or a stale lock on the same number could get in the way.
PORT=${PORT:-55499}
while ss -ltnH 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$PORT\$"; do PORT=$((PORT + 1)); done
export PGPORT=$PORT

log "initdb $PGDATA (port $PGPORT)"
(cd "$TMP" && runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 \
	--locale=C.UTF-8 --no-sync >"$TMP/initdb.log" 2>&1) || {
	cat "$TMP/initdb.log" >&2
	die "initdb failed"
}
cat >>"$PGDATA/postgresql.conf" <<EOF

# bench/capture_bench.sh
port = $PGPORT
listen_addresses = ''
unix_socket_directories = '$TMP'
shared_preload_libraries = 'pgbackups'
max_worker_processes = 20
max_connections = 50
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
pgbackups.max_workers = 8
pgbackups.manual_retention = 1000
EOF
(cd "$TMP" && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$SERVER_LOG" -w -t 120 start >/dev/null 2>&1) || {
	tail -n 40 "$SERVER_LOG" >&2 || true
	die "pg_ctl start failed"
}
STARTED=1
POSTMASTER_PID=$(head -n 1 "$PGDATA/postmaster.pid")

psql_db() {
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

psql_db postgres -c "CREATE DATABASE bench" -c "CREATE DATABASE catalog"
psql_db catalog -c "CREATE EXTENSION pgbackups"
# the scheduler of database catalog starts asynchronously
for _ in $(seq 1 100); do
	[ "$(q catalog "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler'")" -ge 1 ] && break
	sleep 0.1
done

# ---------------------------------------------------------------- data -------

# Row counts scale with SIZE_GB; the base set is about 85% of the target, and
# orders are topped up until pg_database_size('bench') >= SIZE_GB GiB.
S=$SIZE_GB
n() { awk -v s="$S" -v b="$1" 'BEGIN{printf "%d", s * b + 0.5}'; }
ORDERS=$(n 1200000)
EVENTS=$(n 1200000)
BLOB_RANDOM=$(n 40000)  # 4 kB of random bytes each
BLOB_TEXT=$(n 30000)    # ~6 kB of very compressible text each
BLOB_HEX=$(n 30000)     # 2 kB of md5 hex each (compresses about 2:1)
SMALL_TABLES=200
SMALL_ROWS=$(n 1000)
LOS=200                 # large objects of 256 kB, half random, half text
TARGET_BYTES=$(awk -v s="$S" 'BEGIN{printf "%d", s * 1073741824}')

orders_sql() { # lo hi
	cat <<EOF
INSERT INTO public.orders
SELECT i,
       (i * 7919) % 100000,
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

generate() {
	log "generating data in bench (orders $ORDERS, events $EVENTS, blobs $((BLOB_RANDOM + BLOB_TEXT + BLOB_HEX)), $SMALL_TABLES small tables x $SMALL_ROWS, $LOS large objects)"
	psql_db bench <<'EOF'
CREATE EXTENSION pgcrypto;
CREATE TABLE public.orders (id bigint NOT NULL, customer_id integer, created_at timestamptz,
    amount numeric(12,2), status text, note text, attrs jsonb, ref uuid);
CREATE TABLE public.events (id bigint NOT NULL, ts timestamptz, level text, host text,
    message text, duration_ms numeric);
CREATE TABLE public.blobs (id integer NOT NULL, kind text, created_at timestamptz, data bytea);
CREATE TABLE public.documents (id integer PRIMARY KEY, name text, content oid);
CREATE SCHEMA small;
EOF
	# two sessions in parallel: orders | events + blobs
	{ orders_sql 1 "$ORDERS" | psql_db bench; } &
	local p1=$!
	BGPIDS+=("$p1")
	{
		psql_db bench <<EOF
INSERT INTO public.events
SELECT i, timestamptz '2024-01-01 00:00+00' - i * interval '1 second',
       (ARRAY['DEBUG','INFO','INFO','INFO','WARN','ERROR'])[1 + i % 6],
       'web-' || lpad((i % 40)::text, 2, '0') || '.example.com',
       'GET /api/v1/items/' || (i % 10000) || '?page=' || (i % 50) || ' status=' ||
           (ARRAY[200,200,200,304,404,500])[1 + i % 6] ||
           ' user_agent="Mozilla/5.0 (X11; Linux x86_64) bench/1.0" request_id=' || md5(i::text),
       round((random() * 2000)::numeric, 3)
  FROM generate_series(1, $EVENTS) i;
INSERT INTO public.blobs
SELECT i, 'random', now(),
       gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024)
  FROM generate_series(1, $BLOB_RANDOM) i;
INSERT INTO public.blobs
SELECT $BLOB_RANDOM + i, 'text', now(),
       convert_to(repeat('row ' || i || ' lorem ipsum dolor sit amet, consectetur; ', 120), 'UTF8')
  FROM generate_series(1, $BLOB_TEXT) i;
INSERT INTO public.blobs
SELECT $BLOB_RANDOM + $BLOB_TEXT + i, 'hex', now(),
       convert_to((SELECT string_agg(md5((i * 64 + j)::text), '') FROM generate_series(1, 64) j), 'UTF8')
  FROM generate_series(1, $BLOB_HEX) i;
EOF
	} &
	local p2=$!
	BGPIDS+=("$p2")
	local rc=0
	wait "$p1" || rc=1
	wait "$p2" || rc=1
	BGPIDS=()
	[ "$rc" = 0 ] || die "data generation failed"

	psql_db bench <<EOF
DO \$\$
BEGIN
    FOR t IN 1..$SMALL_TABLES LOOP
        EXECUTE format('CREATE TABLE small.t%s (id integer PRIMARY KEY, name text, qty integer,
                            price numeric(10,2), updated_at timestamptz, props jsonb, token uuid)',
                       lpad(t::text, 3, '0'));
        EXECUTE format('INSERT INTO small.t%s
                        SELECT i, %L || i, i %% 100, round((random() * 500)::numeric, 2),
                               timestamptz ''2024-01-01 00:00+00'' - i * interval ''1 minute'',
                               jsonb_build_object(''k'', i, ''table'', %s, ''flag'', i %% 2 = 0),
                               gen_random_uuid()
                          FROM generate_series(1, %s) i',
                       lpad(t::text, 3, '0'), 'item of table ' || t || ' #', t, $SMALL_ROWS);
    END LOOP;
END
\$\$;
-- large objects of 256 kB: even ids random bytes, odd ids repetitive text
INSERT INTO public.documents
SELECT i, 'doc-' || i,
       lo_from_bytea(0, CASE WHEN i % 2 = 0
           THEN (SELECT string_agg(gen_random_bytes(1024), ''::bytea) FROM generate_series(1, 256 + 0 * i) j)
           ELSE substring(convert_to(repeat('document ' || i || ' line of compressible text. ', 8000), 'UTF8')
                          FROM 1 FOR 262144) END)
  FROM generate_series(1, $LOS) i;
ALTER TABLE public.orders ADD PRIMARY KEY (id);
ALTER TABLE public.events ADD PRIMARY KEY (id);
ALTER TABLE public.blobs ADD PRIMARY KEY (id);
CREATE INDEX orders_customer_idx ON public.orders (customer_id);
EOF

	# top up orders until the database reaches the target size
	local next=$((ORDERS + 1)) chunk size
	chunk=$(n 100000)
	[ "$chunk" -ge 1000 ] || chunk=1000
	while :; do
		size=$(q bench "SELECT pg_database_size('bench')")
		[ "$size" -lt "$TARGET_BYTES" ] || break
		log "  bench is $((size / 1048576)) MB < $((TARGET_BYTES / 1048576)) MB: $chunk more orders"
		orders_sql "$next" $((next + chunk - 1)) | psql_db bench
		next=$((next + chunk))
	done
	ORDERS_TOTAL=$((next - 1))
	psql_db bench -c "VACUUM ANALYZE"
	q postgres "CHECKPOINT" >/dev/null
}

GEN_T0=$(date +%s.%N)
generate
GEN_T1=$(date +%s.%N)
GEN_SECONDS=$(awk -v a="$GEN_T0" -v b="$GEN_T1" 'BEGIN{printf "%.1f", b - a}')
DB_BYTES=$(q bench "SELECT pg_database_size('bench')")
log "generated $((DB_BYTES / 1048576)) MB in ${GEN_SECONDS}s"

DATA_SUMMARY=$(psql_db bench -P footer=off <<'EOF'
SELECT n.nspname || '.' || c.relname AS "table",
       c.reltuples::bigint AS rows,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname = 'public'
UNION ALL
SELECT 'small.* (' || count(*) || ' tables)', sum(c.reltuples)::bigint,
       pg_size_pretty(sum(pg_total_relation_size(c.oid)))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname = 'small'
UNION ALL
SELECT 'large objects (' || (SELECT count(*) FROM pg_largeobject_metadata) || ')', NULL,
       pg_size_pretty(pg_total_relation_size('pg_largeobject'))
ORDER BY 1;
EOF
)

# ---------------------------------------------------------------- poller -----

# poller OUT MAIN_REGEX BACKEND_REGEX ROOT_PID: every 0.2 s, sum RssAnon of
# processes whose cmdline matches MAIN_REGEX (and their descendants), and
# separately of the server backends matching BACKEND_REGEX; only descendants of
# ROOT_PID (our postmaster) count for the regexes that name server processes,
# since other clusters on the machine have pgbackups workers too.  On SIGTERM
# write the peaks.
cat >"$TMP/poller.py" <<'EOF'
import os, re, signal, sys, time
out, main_re, be_re, root = sys.argv[1], re.compile(sys.argv[2]), re.compile(sys.argv[3]), int(sys.argv[4])
main_in_root = sys.argv[5] == "1"
me = os.getpid()
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
procs = {}          # pid -> [group, label, peak RssAnon, peak VmHWM, peak VmRSS]
peak = {"main": 0, "backend": 0}
samples = 0
def status(pid):
    v = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("RssAnon", "VmHWM", "VmRSS", "RssShmem"):
                v[k] = int(rest.split()[0])
    return v
open(out + ".ready", "w").close()
while True:
    last = stop
    snap = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, ValueError, IndexError):
            continue
        if cmd and "poller.py" not in cmd:
            snap[int(d)] = (cmd, ppid, ticks)
    def descendants(roots):
        found = set(roots)
        grew = True
        while grew:
            grew = False
            for p, (c, pp, _) in snap.items():
                if p not in found and pp in found:
                    found.add(p)
                    grew = True
        return found
    ours = descendants({root}) if root in snap else set()
    main = descendants({p for p, (c, _, _) in snap.items()
                        if main_re.search(c) and (not main_in_root or p in ours)})
    backend = {p for p in ours if p not in main and be_re.search(snap[p][0])}
    for group, pids in (("main", main), ("backend", backend)):
        total = 0
        for p in pids:
            try:
                v = status(p)
            except OSError:
                continue
            anon = v.get("RssAnon", 0)
            total += anon
            r = procs.setdefault(p, [group, snap[p][0][:70], 0, 0, 0, 0])
            r[5] = max(r[5], snap[p][2])
            r[2] = max(r[2], anon)
            r[3] = max(r[3], v.get("VmHWM", 0))
            r[4] = max(r[4], v.get("VmRSS", 0))
        peak[group] = max(peak[group], total)
    samples += 1
    if last:
        break
    time.sleep(0.2)
with open(out, "w") as f:
    hz = os.sysconf("SC_CLK_TCK")
    cpu = {g: sum(r[5] for r in procs.values() if r[0] == g) / hz for g in ("main", "backend")}
    f.write(f"peak_main_anon_kb {peak['main']}\npeak_backend_anon_kb {peak['backend']}\nsamples {samples}\n")
    f.write(f"cpu_main_s {cpu['main']:.2f}\ncpu_backend_s {cpu['backend']:.2f}\n")
    for p, (g, label, anon, hwm, rss, ticks) in sorted(procs.items()):
        f.write(f"proc {g} {p} anon_kb={anon} hwm_kb={hwm} rss_kb={rss} cpu_s={ticks / hz:.2f} {label}\n")
EOF

start_poller() { # out main_regex main_is_a_server_process(0/1)
	rm -f "$1" "$1.ready"
	"$PYTHON" "$TMP/poller.py" "$1" "$2" '^postgres: \S+ bench ' "$POSTMASTER_PID" "$3" &
	POLLER_PID=$!
	for _ in $(seq 1 100); do
		[ -e "$1.ready" ] && return 0
		sleep 0.05
	done
	die "memory poller did not start"
}
stop_poller() { # out
	kill -TERM "$POLLER_PID" 2>/dev/null || true
	wait "$POLLER_PID" 2>/dev/null || true
	POLLER_PID=
	[ -s "$1" ] || echo "peak_main_anon_kb 0" >"$1"
}
cpu_total() { awk '$1 == "cpu_main_s" || $1 == "cpu_backend_s" {t += $2} END {printf "%.1f", t}' "$1"; }
pval() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b - a}'; }

# ---------------------------------------------------------------- runs -------

RUNS_TSV=$TMP/runs.tsv # method run status wall job_s bytes main_kb backend_kb maxrss_kb id cpu_s
DETAILS=$TMP/details.txt
PROBLEMS=$TMP/problems.txt
: >"$RUNS_TSV"
: >"$DETAILS"
: >"$PROBLEMS"
REF_TOC=$TMP/ref.toc

toc_summary() { # archive: counts of TOC entry kinds that carry data
	"$PGBIN/pg_restore" -l "$1" | awk '/^[0-9]+;/ { if (/ TABLE DATA /) t++; else if (/ BLOB /) b++; else if (/ BLOBS /) bs++; n++ }
		END { printf "%d entries, %d TABLE DATA, %d BLOB, %d BLOBS", n, t, b, bs }'
}

run_pg_dump() { # method run
	local method=$1 run=$2 target args t0 t1 rc=0 bytes mem=$TMP/mem.$1.$2
	case $method in
	pg_dump-Fc)
		target=$OUT_DIR/out.dump
		args=(-Fc -f "$target" bench)
		;;
	pg_dump-Fd-j2)
		target=$OUT_DIR/outdir
		args=(-Fd -j 2 -f "$target" bench)
		;;
	esac
	rm -rf "$target"
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	start_poller "$mem" "^$PGBIN/pg_dump .*$target" 0
	t0=$(now)
	/usr/bin/time -v -o "$TMP/time.$method.$run" "$PGBIN/pg_dump" "${args[@]}" 2>"$TMP/err.$method.$run" || rc=$?
	t1=$(now)
	stop_poller "$mem"
	local wall maxrss
	wall=$(elapsed "$t0" "$t1")
	maxrss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/time.$method.$run")
	if [ "$rc" != 0 ]; then
		printf '%s run %s: pg_dump exit %s: %s\n' "$method" "$run" "$rc" "$(tail -n 5 "$TMP/err.$method.$run")" >>"$PROBLEMS"
		printf '%s\t%s\tfailed\t%s\t-\t0\t0\t0\t0\t-\t0\n' "$method" "$run" "$wall" >>"$RUNS_TSV"
		return
	fi
	bytes=$(du -sb "$target" | awk '{print $1}')
	printf '%s\t%s\tok\t%s\t-\t%s\t%s\t%s\t%s\t-\t%s\n' "$method" "$run" "$wall" "$bytes" \
		"$(pval "$mem" peak_main_anon_kb)" "$(pval "$mem" peak_backend_anon_kb)" "$maxrss" "$(cpu_total "$mem")" >>"$RUNS_TSV"
	{
		echo "--- $method run $run: wall ${wall}s, $bytes bytes, /usr/bin/time max RSS ${maxrss} kB; load average before: $load"
		cat "$mem"
		if [ "$method" = pg_dump-Fc ]; then echo "pg_restore -l: $(toc_summary "$target")"; fi
	} >>"$DETAILS"
	if [ "$method" = pg_dump-Fc ] && [ ! -e "$REF_TOC" ]; then toc_summary "$target" >"$REF_TOC"; fi
	log "  $method run $run: ${wall}s, $((bytes / 1048576)) MB"
	rm -rf "$target"
}

record_failure() { # method run id psql-output
	local method=$1 run=$2 id=$3
	{
		echo "=== $method run $run: pgbackups capture $id did not complete"
		echo "--- psql output:"
		cat "$4"
		if [ -n "$id" ]; then
			echo "--- catalog row:"
			psql_db catalog -x -c "SELECT id, status, started_at, finished_at, error, error_code, worker_pid FROM pgbackups.backups WHERE id = '$id'" || true
			echo "--- pgbackups.logs('$id'):"
			psql_db catalog -P footer=off -c "SELECT * FROM pgbackups.logs('$id')" || true
		fi
		echo "--- server log tail:"
		tail -n 40 "$SERVER_LOG" || true
		echo
	} >>"$PROBLEMS"
}

run_capture() { # method run compression parallel
	local method=$1 run=$2 comp=$3 par=$4 mem=$TMP/mem.$1.$2 out=$TMP/capture.$1.$2 t0 t1 rc=0 id
	local before load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	before=$(q catalog "SELECT coalesce(max(num), 0) FROM pgbackups.backups WHERE kind = 'manual'")
	start_poller "$mem" '^postgres: pgbackups (job|stream)' 1
	t0=$(now)
	# SQL on stdin, so that this psql's own command line does not match the poller
	psql -X -q -At -v ON_ERROR_STOP=1 -d catalog >"$out" 2>&1 <<EOF || rc=$?
SELECT pgbackups.capture(database => 'bench', wait => true, compression => '$comp', parallel => $par);
EOF
	t1=$(now)
	stop_poller "$mem"
	local wall
	wall=$(elapsed "$t0" "$t1")
	id=$(grep -E '^[ab][0-9]+$' "$out" | tail -n 1 || true)
	[ -n "$id" ] || id=$(q catalog "SELECT id FROM pgbackups.backups WHERE kind = 'manual' AND num > $before ORDER BY num DESC LIMIT 1")
	local row status job_s bytes location
	row=$(q catalog "SELECT status, coalesce(round(extract(epoch FROM finished_at - started_at)::numeric, 2)::text, '-'),
	                        coalesce(archive_size, 0), coalesce(location, '')
	                   FROM pgbackups.backups WHERE id = '$id'")
	IFS='|' read -r status job_s bytes location <<<"$row"
	if [ "$rc" != 0 ] || [ "$status" != completed ]; then
		log "  $method run $run: FAILED ($id status ${status:-?}); details in the results"
		record_failure "$method" "$run" "$id" "$out"
		printf '%s\t%s\tfailed\t%s\t%s\t0\t0\t0\t0\t%s\t0\n' "$method" "$run" "$wall" "$job_s" "$id" >>"$RUNS_TSV"
		return
	fi
	local path=${location#file://} check
	if [ ! -s "$path" ]; then
		check="MISSING archive $path"
		echo "$method run $run ($id): archive $path is missing or empty (catalog says $bytes bytes)" >>"$PROBLEMS"
	elif [ "$comp" = zstd ]; then
		local hdr
		hdr=$(head -c 8 "$path" | od -An -tu1 | tr -s ' ')
		# "PGDMP" then version 1.15.x: pg_restore 15 cannot read zstd archives
		if [ "$(head -c 5 "$path")" = PGDMP ] && [[ $hdr == " 80 71 68 77 80 1 15 "* ]]; then
			check="PGDMP 1.15 header, $(stat -c %s "$path") bytes on disk (pg_restore 15 cannot read zstd)"
		else
			check="BAD header:$hdr"
			echo "$method run $run ($id): unexpected archive header:$hdr" >>"$PROBLEMS"
		fi
	else
		local toc err
		if toc=$(toc_summary "$path" 2>"$TMP/restore.err"); then
			check="pg_restore -l: $toc"
			if [ -e "$REF_TOC" ] && [ "$toc" != "$(cat "$REF_TOC")" ]; then
				check="$check (pg_dump -Fc: $(cat "$REF_TOC"))"
			fi
			# read every data block too, once per method
			if [ "$run" = 1 ]; then
				if "$PGBIN/pg_restore" -f /dev/null "$path" 2>"$TMP/restore.err"; then
					check="$check; pg_restore -f /dev/null OK"
				else
					err=$(head -n 5 "$TMP/restore.err")
					check="$check; pg_restore -f /dev/null FAILED"
					echo "$method run $run ($id): pg_restore -f /dev/null failed: $err" >>"$PROBLEMS"
				fi
			fi
		else
			err=$(head -n 5 "$TMP/restore.err")
			check="pg_restore -l FAILED: $err"
			echo "$method run $run ($id): pg_restore -l failed: $err" >>"$PROBLEMS"
		fi
	fi
	[ "$(stat -c %s "$path" 2>/dev/null || echo 0)" = "$bytes" ] ||
		echo "$method run $run ($id): archive_size $bytes differs from the file size $(stat -c %s "$path" 2>/dev/null || echo 0)" >>"$PROBLEMS"
	printf '%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$method" "$run" "$wall" "$job_s" "$bytes" \
		"$(pval "$mem" peak_main_anon_kb)" "$(pval "$mem" peak_backend_anon_kb)" 0 "$id" "$(cpu_total "$mem")" >>"$RUNS_TSV"
	{
		echo "--- $method run $run ($id): client wall ${wall}s, job ${job_s}s, $bytes bytes; load average before: $load; $check"
		cat "$mem"
	} >>"$DETAILS"
	log "  $method run $run ($id): client ${wall}s, job ${job_s}s, $((bytes / 1048576)) MB"
	# Keep the disk use flat by removing the file only: pgbackups.delete() drops
	# the catalog row, the next capture then reuses the id (max(num) + 1), and
	# capture(wait => true) returns at once on the finished job slot of the
	# deleted backup while the new job stays pending (see bench/README.md).
	rm -f "$path"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
OTHER_CLUSTERS=$(ps -eo pid=,args= | awk -v me="$POSTMASTER_PID" '$1 != me && $2 ~ /\/bin\/postgres$/ && $3 == "-D"' | wc -l)
METHODS=(pg_dump-Fc pg_dump-Fd-j2 pgbackups-gzip-p2 pgbackups-zstd-p2 pgbackups-gzip-p1)
for run in $(seq 1 "$RUNS"); do
	log "round $run of $RUNS"
	for m in "${METHODS[@]}"; do
		case $m in
		pg_dump-*) run_pg_dump "$m" "$run" ;;
		pgbackups-gzip-p2) run_capture "$m" "$run" gzip 2 ;;
		pgbackups-zstd-p2) run_capture "$m" "$run" zstd 2 ;;
		pgbackups-gzip-p1) run_capture "$m" "$run" gzip 1 ;;
		esac
	done
done

# ---------------------------------------------------------------- report -----

# best = the completed run with the smallest wall time; memory = the highest
# peak over all completed runs (the conservative figure)
SUMMARY=$(awk -F'\t' -v methods="${METHODS[*]}" '
	$3 == "ok" {
		if (!($1 in best) || $4 + 0 < best[$1] + 0) { best[$1] = $4; job[$1] = $5; bytes[$1] = $6; cpu[$1] = $11 }
		if ($7 + 0 > mem[$1] + 0) mem[$1] = $7
		if ($8 + 0 > bmem[$1] + 0) bmem[$1] = $8
		if ($9 + 0 > rss[$1] + 0) rss[$1] = $9
		ok[$1]++
	}
	{ total[$1]++ }
	END {
		n = split(methods, m, " ")
		ref = best["pg_dump-Fc"]; refb = bytes["pg_dump-Fc"]
		printf "%-20s %8s %8s %7s %10s %9s %13s %11s %6s %6s\n", "method", "wall s", "job s", "ratio", "archive MB", "size/Fc", "peak priv MB", "backends MB", "CPU s", "runs"
		for (i = 1; i <= n; i++) {
			k = m[i]
			if (!(k in best)) { printf "%-20s %8s %8s %7s %10s %9s %13s %11s %6s %3d/%-2d\n", k, "FAILED", "-", "-", "-", "-", "-", "-", "-", 0, total[k]; continue }
			printf "%-20s %8.2f %8s %7s %10.1f %9s %13.1f %11.1f %6s %3d/%-2d\n", k, best[k], job[k],
				(ref > 0 ? sprintf("%.2f", best[k] / ref) : "-"), bytes[k] / 1048576,
				(refb > 0 ? sprintf("%.2f", bytes[k] / refb) : "-"), mem[k] / 1024, bmem[k] / 1024, cpu[k], ok[k], total[k]
		}
	}' "$RUNS_TSV")

target_line() { # method factor label
	awk -F'\t' -v m="$1" -v f="$2" -v label="$3" '
		$3 == "ok" && (!($1 in best) || $4 + 0 < best[$1] + 0) { best[$1] = $4; bytes[$1] = $6 }
		END {
			ref = best["pg_dump-Fc"]
			if (!(m in best) || ref == "") { printf "%-40s UNKNOWN (no completed run)\n", label; exit }
			r = best[m] / ref; s = bytes[m] / bytes["pg_dump-Fc"]
			printf "%-40s %s: %.2fs / %.2fs = %.2f x (archive %.2f x the pg_dump -Fc size)\n", label,
				(r <= f ? "MET" : "NOT MET"), best[m], ref, r, s
		}' "$RUNS_TSV"
}
TARGETS=$(
	target_line pgbackups-gzip-p2 0.75 "gzip parallel 2 <= 0.75 x pg_dump -Fc:"
	target_line pgbackups-zstd-p2 0.40 "zstd parallel 2 <= 0.40 x pg_dump -Fc:"
)

REPORT=$TMP/report.txt
{
	echo "pgbackups capture benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "pgbackups commit: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_DIR" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
	echo "server: $(q postgres 'SHOW server_version'), pg_dump: $("$PGBIN/pg_dump" --version)"
	echo "host: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
	echo "cluster: shared_buffers 512MB, fsync off, wal_level minimal; runs per method: $RUNS"
	echo "machine load before the measurements: load average $LOAD_START; other PostgreSQL clusters running: $OTHER_CLUSTERS"
	echo
	echo "data: SIZE_GB=$SIZE_GB, pg_database_size('bench') = $DB_BYTES bytes ($((DB_BYTES / 1048576)) MB), generated in ${GEN_SECONDS}s"
	echo "orders rows: $ORDERS_TOTAL (base $ORDERS + top-up to reach the target size)"
	echo "$DATA_SUMMARY"
	echo
	echo "wall s      best wall time of the runs (pgbackups: client-side capture(wait => true) call)"
	echo "job s       pgbackups only: finished_at - started_at from pgbackups.backups, of that run"
	echo "ratio       wall s / pg_dump -Fc wall s"
	echo "size/Fc     archive size / pg_dump -Fc archive size"
	echo "peak priv   highest sum of RssAnon (0.2 s samples) of the dumping processes: pg_dump and its"
	echo "            -j workers; pgbackups job + stream workers + their pg_dump child for DDL"
	echo "backends    highest sum of RssAnon of the server backends connected to bench (COPY)"
	echo "CPU s       user+system CPU seconds of those processes and backends, in the best run (a"
	echo "            figure less sensitive than wall time to other load on the machine)"
	echo
	echo "$SUMMARY"
	echo
	echo "targets (issue):"
	echo "$TARGETS"
	echo
	echo "problems:"
	if [ -s "$PROBLEMS" ]; then cat "$PROBLEMS"; else echo "none"; fi
	echo
	echo "per run (method, run, status, wall s, job s, bytes, peak priv kB, backends kB, /usr/bin/time max RSS kB, id, CPU s):"
	cat "$RUNS_TSV"
	echo
	echo "details:"
	cat "$DETAILS"
} >"$REPORT"

mkdir -p "$RESULTS_DIR"
cp "$REPORT" "$RESULTS_DIR/latest.txt"
cp "$REPORT" "$RESULTS_DIR/$(date +%Y-%m-%d)-${SIZE_GB}GB.txt"
echo
sed -n '/^wall s /,/^problems:/p' "$REPORT" | sed '$d'
if [ -s "$PROBLEMS" ]; then
	echo "PROBLEMS:"
	cat "$PROBLEMS"
fi
echo "full report: $RESULTS_DIR/latest.txt"
