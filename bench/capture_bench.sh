#!/usr/bin/env bash
# bench/capture_bench.sh [SIZE_GB]: pgbackups capture versus pg_dump.
#
# Run as root.  Creates a throwaway cluster (bench/lib.sh) of the server of
# PG_CONFIG under /tmp (socket in its own directory, no TCP), generates at least SIZE_GB (default 1) of mixed
# data in database "bench", then measures, in the same run and twice each:
#
#   a) pg_dump -Fc                       (custom format, gzip, 1 process)
#   b) pg_dump -Fd -j 2                  (directory format, 2 workers)
#   c) pgbackups.capture gzip, parallel 2
#   d) pgbackups.capture zstd, parallel 2
#   e) pgbackups.capture gzip, parallel 1
#
# and prints wall time, ratio against pg_dump -Fc, archive size and peak private
# memory (RssAnon, sampled every 0.2 s by bench/perf_poller.py).  Results go to
# bench/results/latest.txt and bench/results/<date>-<SIZE>GB.txt.  A trap stops the cluster it started
# (pg_ctl -D ... stop) and removes its temporary directory.
#
# Environment: RUNS (default 2), PORT (default 55499), KEEP_TMP=1 keeps the
# temporary directory, PG_CONFIG (default /usr/lib/postgresql/15/bin/pg_config;
# or PGBIN: PGBIN/pg_config).

set -Eeuo pipefail

SIZE_GB=${1:-1}
RUNS=${RUNS:-2}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! [[ $SIZE_GB =~ ^[0-9]+([.][0-9]+)?$ ]] || ! awk -v s="$SIZE_GB" 'BEGIN{exit !(s > 0)}'; then
	die "SIZE_GB must be a positive number, got '$SIZE_GB'"
fi
bench_checks pg_dump pg_restore

# ---------------------------------------------------------------- cluster ----

bench_tmp pgb-cbench
bench_cluster 55499
psql_db postgres -c "CREATE DATABASE bench"
bench_catalog

# ---------------------------------------------------------------- data -------

# Row counts scale with SIZE_GB; the base set is about 85% of the target, and
# orders are topped up until pg_database_size('bench') >= SIZE_GB GiB.
ORDERS=$(n 1200000)
EVENTS=$(n 1200000)
BLOB_RANDOM=$(n 40000)  # 4 kB of random bytes each
BLOB_TEXT=$(n 30000)    # ~6 kB of very compressible text each
BLOB_HEX=$(n 30000)     # 2 kB of md5 hex each (compresses about 2:1)
SMALL_TABLES=200
SMALL_ROWS=$(n 1000)
LOS=200                 # large objects of 256 kB, half random, half text
TARGET_BYTES=$(awk -v s="$SIZE_GB" 'BEGIN{printf "%d", s * 1073741824}')

generate() {
	log "generating data in bench (orders $ORDERS, events $EVENTS, blobs $((BLOB_RANDOM + BLOB_TEXT + BLOB_HEX)), $SMALL_TABLES small tables x $SMALL_ROWS, $LOS large objects)"
	{
		echo "CREATE EXTENSION pgcrypto;"
		many_tables_sql
	} | psql_db bench
	# two sessions in parallel: orders | events + blobs
	orders_sql 1 "$ORDERS" >"$TMP/gen1.sql"
	events_blobs_sql "$EVENTS" "$BLOB_RANDOM" "$BLOB_TEXT" "$BLOB_HEX" >"$TMP/gen2.sql"
	parallel_sql "$TMP/gen1.sql" "$TMP/gen2.sql"
	{
		small_tables_sql "$SMALL_TABLES" "$SMALL_ROWS"
		large_objects_sql "$LOS"
		cat <<'EOF'
ALTER TABLE public.orders ADD PRIMARY KEY (id);
ALTER TABLE public.events ADD PRIMARY KEY (id);
ALTER TABLE public.blobs ADD PRIMARY KEY (id);
CREATE INDEX orders_customer_idx ON public.orders (customer_id);
EOF
	} | psql_db bench
	# top up orders until the database reaches the target size
	topup_orders $((ORDERS + 1))
	ORDERS_TOTAL=$((ORDERS_NEXT - 1))
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

# ---------------------------------------------------------------- sampler ----

# the dumping processes (pg_dump and its -j workers; pgbackups job and stream
# workers and their pg_dump child) and the backends connected to bench
BACKEND_RE='^postgres: \S+ bench '
cpu_total() { awk '$1 == "cpu_main_s" || $1 == "cpu_backend_s" {t += $2} END {printf "%.1f", t}' "$1"; }

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
	start_poller "$mem" "^$PGBIN/pg_dump( |\$)" "" --rss --backend-re "$BACKEND_RE"
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
	start_poller "$mem" "" '^postgres: pgbackups (job|stream)' --rss --backend-re "$BACKEND_RE"
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
	elif [ "$comp" = zstd ] && [ "$PGMAJOR" -lt 16 ]; then
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
OTHER_CLUSTERS=$(other_postmasters)
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
