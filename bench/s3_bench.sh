#!/usr/bin/env bash
# bench/s3_bench.sh: pgbackups capture and restore with S3 storage (s3rver on
# loopback) versus file:// storage, in the same run.
#
# Run as root.  One throwaway cluster of the server of PG_CONFIG under /tmp
# (bench/lib.sh, as the other benchmarks) and one s3rver
# (test/servers/s3rver.js, data directory on the
# same file system, 127.0.0.1, path style, SigV4 verified).  Generates database
# "bench" (~SCALE x 350 MB: orders, events, 4 kB incompressible blobs, primary
# keys), then RUNS times, interleaved:
#
#   capture file)  pgbackups.capture(database => 'bench', wait => true)  storage file://
#   capture s3)    the same with storage s3://bench-bucket/pgbackups     (default part
#                  size 16 MB, 4 parts in flight)
#   restore file)  pgbackups.restore(<file backup>, fresh database, parallel 2, wait)
#   restore s3)    pgbackups.restore(<s3 backup>, ...)                    (ranged GETs)
#
# Reported: wall time of each call, the median per case, the ratio s3/file
# (target: under 1.3x on loopback), archive size, SHA-256 equality of the
# two storages' objects of one run (the capture is deterministic only in
# data, so sizes are compared, not hashes), row counts of every restore equal
# to the source, and peak memory (sum of RssAnon, sampled every 0.2 s) of the
# pgbackups background workers, of the other server processes, and of s3rver
# (bench/perf_poller.py).
# Results: bench/results/s3-<date>.md.
#
# Environment: SCALE (default 1), RUNS (default 3), PORT (default 55699),
# KEEP_TMP=1, PG_CONFIG (or PGBIN), COMPRESSION (default gzip), PARALLEL (default 2).

set -Eeuo pipefail

SCALE=${SCALE:-1}
RUNS=${RUNS:-3}
COMPRESSION=${COMPRESSION:-gzip}
PARALLEL=${PARALLEL:-2}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SERVERS_DIR=$REPO_DIR/test/servers
bench_checks
command -v node >/dev/null 2>&1 || die "node is needed (s3rver)"
[ -d "$SERVERS_DIR/node_modules/@20minutes/s3rver" ] || die "run npm ci in $SERVERS_DIR (scripts/setup.sh does)"

# ---------------------------------------------------------------- servers ----

# s3rver first (the cluster's settings name its port), in the directory of
# the cluster, stopped by the trap of bench/lib.sh (EXTRA_PIDS)
bench_tmp pgb-s3bench
S3_KEY=AKIAPGBBENCH00000001
S3_SECRET=SECRETbench$RANDOM$RANDOM$RANDOM
node "$SERVERS_DIR/s3rver.js" --dir "$TMP/s3" --address 127.0.0.1 --port 0 --bucket bench-bucket \
	--access-key "$S3_KEY" --secret "$S3_SECRET" --ready-file "$TMP/s3.port" --silent >"$TMP/s3rver.log" 2>&1 &
S3_PID=$!
EXTRA_PIDS=("$S3_PID")
for _ in $(seq 1 100); do
	[ -s "$TMP/s3.port" ] && break
	kill -0 "$S3_PID" 2>/dev/null || die "s3rver exited: $(cat "$TMP/s3rver.log")"
	sleep 0.1
done
[ -s "$TMP/s3.port" ] || die "s3rver did not start"
S3_PORT=$(cat "$TMP/s3.port")
log "s3rver on http://127.0.0.1:$S3_PORT (pid $S3_PID)"

bench_cluster 55699 "pgbackups.s3_endpoint = 'http://127.0.0.1:$S3_PORT'
pgbackups.s3_uri_style = 'path'
pgbackups.s3_region = 'us-east-1'
pgbackups.s3_access_key_id = '$S3_KEY'
pgbackups.s3_secret_access_key = '$S3_SECRET'"
psql_db postgres -c "CREATE DATABASE bench"
bench_catalog
[ "$(q catalog "SELECT count(*) FROM pg_proc WHERE proname = 'url' AND pronamespace = 'pgbackups'::regnamespace")" = 1 ] ||
	die "the installed pgbackups has no url(): S3 storage is missing"

# ---------------------------------------------------------------- data -------

n() { awk -v s="$SCALE" -v b="$1" 'BEGIN{printf "%d", s * b + 0.5}'; }
ORDERS=$(n 1000000)
EVENTS=$(n 600000)
BLOBS=$(n 12000)
log "generating bench (orders $ORDERS, events $EVENTS, blobs $BLOBS of 4 kB)"
GEN_T0=$(now)
psql_db bench <<EOF
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer NOT NULL, created_at timestamptz,
    amount numeric(12,2), status text, note text, attrs jsonb);
INSERT INTO orders
SELECT i, 1 + (i::bigint * 7919) % 100000, timestamptz '2020-01-01 00:00+00' + i * interval '37 seconds',
       round((random() * 10000)::numeric, 2), (ARRAY['new','paid','shipped','delivered','returned'])[1 + i % 5],
       'order ' || i || ': ' || md5(i::text),
       jsonb_build_object('sku', 'SKU-' || (i % 5000), 'qty', 1 + i % 17, 'gift', i % 3 = 0)
  FROM generate_series(1, $ORDERS) i;
CREATE TABLE events (id bigint PRIMARY KEY, ts timestamptz, level text, host text, message text);
INSERT INTO events
SELECT i, timestamptz '2024-01-01 00:00+00' - i * interval '1 second',
       (ARRAY['DEBUG','INFO','INFO','WARN','ERROR'])[1 + i % 5], 'web-' || (i % 40) || '.example.com',
       'GET /api/v1/items/' || (i % 10000) || ' request_id=' || md5(i::text)
  FROM generate_series(1, $EVENTS) i;
CREATE TABLE blobs (id integer PRIMARY KEY, data bytea);
INSERT INTO blobs
SELECT i, (SELECT string_agg(decode(md5(i::text || ':' || j || ':' || random()), 'hex'), ''::bytea) FROM generate_series(1, 256) j)
  FROM generate_series(1, $BLOBS) i;
VACUUM ANALYZE;
CHECKPOINT;
EOF
GEN_S=$(elapsed "$GEN_T0" "$(now)")
DB_BYTES=$(q bench "SELECT pg_database_size('bench')")
log "bench: $((DB_BYTES / 1048576)) MB in ${GEN_S}s"
COUNTS_SQL="SELECT string_agg(t || '=' || c, ' ' ORDER BY t) FROM (SELECT 'orders' t, count(*) c FROM orders UNION ALL SELECT 'events', count(*) FROM events UNION ALL SELECT 'blobs', count(*) FROM blobs) s"
SRC_COUNTS=$(q bench "$COUNTS_SQL")

# ---------------------------------------------------------------- sampler ----

# bench/perf_poller.py: main = the pgbackups workers, backend = the other
# server processes, s3rver its own group (RssAnon kB, CPU s while sampled)
start_s3_poller() { start_poller "$1" "" "$SERVER_RE" --extra s3rver "$S3_PID"; }

storage() { # file | s3
	local url
	if [ "$1" = s3 ]; then url='s3://bench-bucket/pgbackups'; else url="file://$ARCHIVE_DIR"; fi
	q postgres "ALTER SYSTEM SET pgbackups.storage_url = '$url'" >/dev/null
	q postgres "SELECT pg_reload_conf()" >/dev/null
	for _ in $(seq 1 50); do
		[ "$(q postgres "SHOW pgbackups.storage_url")" = "$url" ] && break
		sleep 0.1
	done
	sleep 0.5
}

RUNS_TSV=$TMP/runs.tsv
: >"$RUNS_TSV"
PROBLEMS=$TMP/problems.txt
: >"$PROBLEMS"

# record CASE RUN WALL JOB_S SIZE MEMFILE NOTE
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" \
		"$(pval "$6" peak_main_anon_kb)" "$(pval "$6" peak_backend_anon_kb)" "$(pval "$6" peak_s3rver_anon_kb)" "$7" \
		"$(pval "$6" cpu_main_s)" "$(pval "$6" cpu_backend_s)" "$(pval "$6" cpu_s3rver_s)" >>"$RUNS_TSV"
	log "  $1 run $2: ${3}s (job ${4}s) $7"
}

capture() { # kind run
	local kind=$1 run=$2 mem=$TMP/mem.cap.$1.$2 t0 t1 id
	storage "$kind"
	q postgres CHECKPOINT >/dev/null
	start_s3_poller "$mem"
	t0=$(now)
	id=$(q catalog "SELECT pgbackups.capture(database => 'bench', compression => '$COMPRESSION', parallel => $PARALLEL, wait => true)" 2>"$TMP/err") ||
		{ echo "capture $kind run $run: $(cat "$TMP/err")" >>"$PROBLEMS"; }
	t1=$(now)
	stop_poller "$mem"
	[ -n "$id" ] || return 0
	record "capture-$kind" "$run" "$(elapsed "$t0" "$t1")" \
		"$(q catalog "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 2) FROM pgbackups.backups WHERE id = '$id'")" \
		"$(q catalog "SELECT archive_size FROM pgbackups.backups WHERE id = '$id'")" "$mem" "$id"
	LAST_ID=$id
}

restore() { # kind run id
	local kind=$1 run=$2 id=$3 db=r_$1_$2 mem=$TMP/mem.res.$1.$2 t0 t1 rid c
	psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
	q postgres CHECKPOINT >/dev/null
	start_s3_poller "$mem"
	t0=$(now)
	rid=$(q catalog "SELECT pgbackups.restore('$id', target => '$db', confirm => '$db', parallel => $PARALLEL, wait => true)" 2>"$TMP/err") ||
		{ echo "restore $kind run $run: $(cat "$TMP/err")" >>"$PROBLEMS"; }
	t1=$(now)
	stop_poller "$mem"
	[ -n "$rid" ] || return 0
	c=$(q "$db" "$COUNTS_SQL")
	[ "$c" = "$SRC_COUNTS" ] || echo "restore $kind run $run: counts [$c], source [$SRC_COUNTS]" >>"$PROBLEMS"
	record "restore-$kind" "$run" "$(elapsed "$t0" "$t1")" \
		"$(q catalog "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 2) FROM pgbackups.restores WHERE id = '$rid'")" \
		"$(q catalog "SELECT archive_size FROM pgbackups.backups WHERE id = '$id'")" "$mem" "$rid counts ok"
	psql_db postgres -c "DROP DATABASE $db" >/dev/null
}

# warm-up: one capture to file (caches, the first worker start)
storage file
q catalog "SELECT pgbackups.capture(database => 'bench', compression => '$COMPRESSION', parallel => $PARALLEL, wait => true)" >/dev/null 2>&1 || true

for run in $(seq 1 "$RUNS"); do
	log "run $run of $RUNS"
	if [ $((run % 2)) = 1 ]; then order="file s3"; else order="s3 file"; fi
	for kind in $order; do
		LAST_ID=""
		capture "$kind" "$run"
		eval "ID_$kind=\$LAST_ID"
	done
	for kind in $order; do
		id_var=ID_$kind
		[ -n "${!id_var}" ] && restore "$kind" "$run" "${!id_var}"
	done
done

# ---------------------------------------------------------------- report -----

S3_OBJECTS=$(find "$TMP/s3" -type f -name '*._S3rver_object' 2>/dev/null | wc -l)
mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/s3-$(date +%Y-%m-%d).md
"$PYTHON" - "$RUNS_TSV" "$PROBLEMS" >"$TMP/report.md" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r[0], []).append(r)
def med(case, i):
    v = [float(r[i]) for r in by.get(case, []) if r[i] not in ("", None)]
    return statistics.median(v) if v else float("nan")
def mx(case, i):
    v = [int(r[i] or 0) for r in by.get(case, [])]
    return max(v) if v else 0
print("| case | runs | wall s (median) | job s (median) | wall s (each) | archive MB | peak RssAnon MB: pgbackups workers / other backends / s3rver | CPU s (median): pgbackups workers / other backends / s3rver |")
print("|---|---|---|---|---|---|---|---|")
for case in ("capture-file", "capture-s3", "restore-file", "restore-s3"):
    rs = by.get(case, [])
    each = " ".join(r[2] for r in rs)
    size = max((int(r[4] or 0) for r in rs), default=0) / 1048576
    print(f"| {case} | {len(rs)} | {med(case, 2):.2f} | {med(case, 3):.2f} | {each} | {size:.1f} | "
          f"{mx(case, 5) / 1024:.0f} / {mx(case, 6) / 1024:.0f} / {mx(case, 7) / 1024:.0f} | "
          f"{med(case, 9):.1f} / {med(case, 10):.1f} / {med(case, 11):.1f} |")
print()
for op in ("capture", "restore"):
    f, s = med(f"{op}-file", 2), med(f"{op}-s3", 2)
    fj, sj = med(f"{op}-file", 3), med(f"{op}-s3", 3)
    ok = "under" if s / f < 1.3 else "OVER"
    print(f"- **{op}: S3 / file:// = {s / f:.2f}x** wall (job time {sj / fj:.2f}x) — {ok} the 1.3x target")
probs = open(sys.argv[2]).read().strip()
print()
print("Problems: " + (probs if probs else "none (every capture completed, every restore's row counts equal the source)"))
EOF
{
	echo "# S3 storage vs file:// ($(date -u +%Y-%m-%dT%H:%MZ))"
	echo
	echo "bench/s3_bench.sh: SCALE=$SCALE RUNS=$RUNS, compression $COMPRESSION, parallel $PARALLEL; database bench $((DB_BYTES / 1048576)) MB"
	echo "(orders $ORDERS, events $EVENTS, blobs $BLOBS x 4 kB random); s3rver 5 on 127.0.0.1 (path style, SigV4 verified,"
	echo "data on the same file system as file:// storage), default s3_part_size (16 MB) and s3_upload_concurrency (4);"
	echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo); pgbackups $(q catalog "SELECT extversion FROM pg_extension WHERE extname = 'pgbackups'") (installed $(date -u -r "$("$PG_CONFIG" --pkglibdir)/pgbackups.so" +%H:%MZ 2>/dev/null || echo '?'); this script at $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?'));"
	echo "runs interleaved (odd runs file first, even runs S3 first); $S3_OBJECTS objects in s3rver at the end."
	echo
	cat "$TMP/report.md"
	echo
	echo "Per run (case, run, wall s, job s, archive bytes, peak RssAnon kB pgbackups/backends/s3rver, id, CPU s pgbackups/backends/s3rver):"
	echo
	echo '```'
	cat "$RUNS_TSV"
	echo '```'
} >"$OUT"
cat "$OUT"
log "results: $OUT"
