#!/usr/bin/env bash
# bench/restore_bench.sh: pgbackups restore and copy versus pg_restore / pg_dump | pg_restore.
#
# Run as root.  One throwaway cluster of the server of PG_CONFIG under /tmp
# (bench/lib.sh: socket in its own directory, no TCP, started as postgres
# through runuser).  Generates database "bench" (~350 MB of tables: customers,
# orders (large, FK to customers), order_lines (FK to orders), events, blobs,
# 20 small tables; primary keys and secondary indexes), captures it with
# pgbackups (gzip, parallel 2), then, each into a freshly created empty database:
#
#   restore a) pg_restore -j 2 --no-owner --no-acl -d fresh1 ARCHIVE
#   restore b) pgbackups.restore_from_url('file://ARCHIVE', target => 'fresh2', parallel => 2)
#   restore c) the same with parallel => 4 (fresh5)
#   copy    a) pg_dump -Fc bench | pg_restore --no-owner --no-acl -d fresh3
#   copy    b) pgbackups.copy('bench', 'fresh4', 'fresh4', parallel => 2)
#
# Memory: bench/perf_poller.py samples /proc every 0.2 s (VmRSS and RssAnon) of
#   - pgbackups background workers of this cluster (cmdline "postgres: pgbackups job/restore/stream"),
#   - all other non-auxiliary children of this postmaster (backends: COPY, index builds,
#     including those connected to pgbackups' staging database),
#   - the client (pg_restore / pg_dump) processes,
# and reports the highest sum per group; for the clients also /usr/bin/time -v max RSS.
# Correctness: count(*) of every table equal in fresh1/fresh2/fresh5 and fresh3/fresh4
# (and bench).  Results: bench/results/restore-<date>.md.
#
# Environment: PORT (default 55599), KEEP_TMP=1, PG_CONFIG (or PGBIN), SCALE (default 0.8: ~350 MB of tables),
# SKIP_P4=1 skips the parallel 4 run.

set -Eeuo pipefail

SCALE=${SCALE:-0.8}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_checks pg_dump pg_restore

# ---------------------------------------------------------------- cluster ----

bench_tmp pgb-rbench
bench_cluster 55599 "log_min_duration_statement = 1000"
psql_db postgres -c "CREATE DATABASE bench"
bench_catalog
[ "$(q catalog "SELECT count(*) FROM pg_proc WHERE proname IN ('restore', 'restore_from_url', 'copy') AND pronamespace = 'pgbackups'::regnamespace")" = 3 ] ||
	die "pgbackups.restore/restore_from_url/copy missing from the installed extension"

# ---------------------------------------------------------------- data -------

n() { awk -v s="$SCALE" -v b="$1" 'BEGIN{printf "%d", s * b + 0.5}'; }
CUSTOMERS=$(n 100000)
ORDERS=$(n 700000)
LINES=$(n 1400000)
EVENTS=$(n 500000)
BLOBS=$(n 15000)

log "generating bench (customers $CUSTOMERS, orders $ORDERS, order_lines $LINES, events $EVENTS, blobs $BLOBS, 20 small tables)"
GEN_T0=$(date +%s.%N)
psql_db bench <<EOF
CREATE TABLE public.customers (id integer PRIMARY KEY, name text NOT NULL, email text, country text, created_at timestamptz);
INSERT INTO public.customers
SELECT i, 'customer ' || i, 'c' || i || '@example.com', (ARRAY['DE','FR','US','JP','BR'])[1 + i % 5],
       timestamptz '2019-01-01 00:00+00' + i * interval '5 minutes'
  FROM generate_series(1, $CUSTOMERS) i;
CREATE TABLE public.orders (id bigint NOT NULL, customer_id integer NOT NULL, created_at timestamptz,
    amount numeric(12,2), status text, note text, attrs jsonb, ref uuid);
CREATE TABLE public.order_lines (order_id bigint NOT NULL, line integer NOT NULL, sku text, qty integer, price numeric(10,2));
CREATE TABLE public.events (id bigint NOT NULL, ts timestamptz, level text, host text, message text, duration_ms numeric);
CREATE TABLE public.blobs (id integer NOT NULL, kind text, data bytea);
CREATE SCHEMA small;
EOF
{
	psql_db bench <<EOF
INSERT INTO public.orders
SELECT i, 1 + (i::bigint * 7919) % $CUSTOMERS,
       timestamptz '2020-01-01 00:00+00' + i * interval '37 seconds',
       round((random() * 10000)::numeric, 2),
       (ARRAY['new','paid','shipped','delivered','returned'])[1 + i % 5],
       'order ' || i || ': ' || md5(i::text),
       jsonb_build_object('sku', 'SKU-' || (i % 5000), 'qty', 1 + i % 17, 'tags', jsonb_build_array('t' || i % 7, 'c' || i % 11),
                          'gift', i % 3 = 0, 'addr', jsonb_build_object('city', 'City ' || i % 500, 'zip', lpad((i % 99999)::text, 5, '0'))),
       gen_random_uuid()
  FROM generate_series(1, $ORDERS) i;
INSERT INTO public.order_lines
SELECT 1 + (i - 1) / 2, 1 + i % 2, 'SKU-' || (i % 5000), 1 + i % 9, round((random() * 100)::numeric, 2)
  FROM generate_series(1, $LINES) i;
EOF
} &
P1=$!
psql_db bench <<EOF
INSERT INTO public.events
SELECT i, timestamptz '2024-01-01 00:00+00' - i * interval '1 second',
       (ARRAY['DEBUG','INFO','INFO','WARN','ERROR'])[1 + i % 5], 'web-' || (i % 40) || '.example.com',
       'GET /api/v1/items/' || (i % 10000) || ' status=' || (ARRAY[200,200,304,404,500])[1 + i % 5] || ' request_id=' || md5(i::text),
       round((random() * 2000)::numeric, 3)
  FROM generate_series(1, $EVENTS) i;
-- 4 kB of pseudo-random bytes each (md5 chains: incompressible for gzip)
INSERT INTO public.blobs
SELECT i, 'random', (SELECT string_agg(decode(md5(i::text || ':' || j || ':' || random()), 'hex'), ''::bytea) FROM generate_series(1, 256) j)
  FROM generate_series(1, $BLOBS) i;
DO \$\$
BEGIN
    FOR t IN 1..20 LOOP
        EXECUTE format('CREATE TABLE small.t%s (id integer PRIMARY KEY, name text, qty integer, props jsonb)', lpad(t::text, 2, '0'));
        EXECUTE format('INSERT INTO small.t%s SELECT i, %L || i, i %% 100, jsonb_build_object(''k'', i) FROM generate_series(1, 1000) i',
                       lpad(t::text, 2, '0'), 'item ' || t || ' #');
    END LOOP;
END
\$\$;
EOF
wait "$P1" || die "loading orders failed"
psql_db bench <<'EOF'
ALTER TABLE public.orders ADD PRIMARY KEY (id);
ALTER TABLE public.order_lines ADD PRIMARY KEY (order_id, line);
ALTER TABLE public.events ADD PRIMARY KEY (id);
ALTER TABLE public.blobs ADD PRIMARY KEY (id);
ALTER TABLE public.orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES public.customers (id);
ALTER TABLE public.order_lines ADD CONSTRAINT order_lines_order_fk FOREIGN KEY (order_id) REFERENCES public.orders (id);
CREATE INDEX orders_customer_idx ON public.orders (customer_id);
CREATE INDEX orders_created_idx ON public.orders (created_at);
CREATE INDEX events_ts_idx ON public.events (ts);
CREATE INDEX order_lines_sku_idx ON public.order_lines (sku);
VACUUM ANALYZE;
CHECKPOINT;
EOF
GEN_T1=$(date +%s.%N)
GEN_S=$(elapsed "$GEN_T0" "$GEN_T1")
DB_BYTES=$(q bench "SELECT pg_database_size('bench')")
TABLE_BYTES=$(q bench "SELECT sum(pg_table_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname IN ('public', 'small')")
INDEX_BYTES=$(q bench "SELECT sum(pg_indexes_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname IN ('public', 'small')")
log "bench: $((DB_BYTES / 1048576)) MB (tables $((TABLE_BYTES / 1048576)) MB, indexes $((INDEX_BYTES / 1048576)) MB) in ${GEN_S}s"
DATA_SUMMARY=$(q bench "SELECT '| ' || n.nspname || '.' || c.relname || ' | ' || c.reltuples::bigint || ' | ' || pg_size_pretty(pg_table_size(c.oid)) || ' | ' || pg_size_pretty(pg_indexes_size(c.oid)) || ' |'
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY pg_table_size(c.oid) DESC")

# ---------------------------------------------------------------- sampler ----

# bench/perf_poller.py with --rss: group "main" is the client (pg_restore and
# its -j workers, pg_dump) or the pgbackups workers, whichever the method runs
mb() { awk -v k="$1" 'BEGIN{printf "%.0f", k / 1024}'; }

COUNTS_SQL="SELECT table_schema || '.' || table_name || '=' || (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text
  FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
counts() { q "$1" "$COUNTS_SQL" | md5sum | cut -c1-12; }
ntables() { q "$1" "SELECT count(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"; }
objs() { q "$1" "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'small') AND c.relkind = 'i') || ' indexes, ' || (SELECT count(*) FROM pg_constraint WHERE contype = 'f') || ' FKs'"; }

ROWS_MD=$TMP/rows.md
: >"$ROWS_MD"
DETAILS=$TMP/details.txt
: >"$DETAILS"
PROBLEMS=$TMP/problems.txt
: >"$PROBLEMS"

# record LABEL DB WALL CLIENT_MAXRSS_KB MEMFILE JOB_ID JOB_S
record() {
	local label=$1 db=$2 wall=$3 crss=$4 mem=$5 id=$6 job=$7
	local c main pgb=(0 0) client=(0 0)
	c=$(counts "$db")
	main=("$(pval "$mem" peak_main_rss_kb)" "$(pval "$mem" peak_main_anon_kb)")
	if [ -n "$id" ]; then pgb=("${main[@]}"); else client=("${main[@]}"); fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$db" "$wall" "$job" "$crss" \
		"${pgb[0]}" "${pgb[1]}" "$(pval "$mem" peak_backend_rss_kb)" "$(pval "$mem" peak_backend_anon_kb)" \
		"${client[0]}" "${client[1]}" "$c" "$id" "$(pval "$mem" peak_total_anon_kb)" >>"$TMP/runs.tsv"
	{
		echo "--- $label -> $db: wall ${wall}s, job ${job}s, id ${id:--}, /usr/bin/time max RSS ${crss} kB, counts md5 $c, $(ntables "$db") tables, $(objs "$db"), load $(cut -d' ' -f1-3 /proc/loadavg)"
		cat "$mem"
	} >>"$DETAILS"
	log "  $label -> $db: ${wall}s (job ${job}s)"
}

fresh() { psql_db postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }

# run_client LABEL DB CMD...: time a client pipeline with /usr/bin/time -v
run_pgrestore() { # label db archive
	local label=$1 db=$2 mem=$TMP/mem.$1
	fresh "$db"
	q postgres CHECKPOINT >/dev/null
	start_poller "$mem" "^$PGBIN/pg_restore( |\$)" "" --rss
	local t0 t1 rc=0
	t0=$(now)
	/usr/bin/time -v -o "$TMP/time.$label" "$PGBIN/pg_restore" -j 2 --no-owner --no-acl -d "$db" "$3" 2>"$TMP/err.$label" || rc=$?
	t1=$(now)
	stop_poller "$mem"
	[ "$rc" = 0 ] || echo "$label: pg_restore exit $rc: $(tail -n 5 "$TMP/err.$label")" >>"$PROBLEMS"
	record "$label" "$db" "$(elapsed "$t0" "$t1")" "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/time.$label")" "$mem" "" "-"
}

run_pgdump_pipe() { # label db
	local label=$1 db=$2 mem=$TMP/mem.$1
	fresh "$db"
	q postgres CHECKPOINT >/dev/null
	start_poller "$mem" "^$PGBIN/pg_(dump|restore)( |\$)" "" --rss
	local t0 t1 rc=0
	t0=$(now)
	set +e
	/usr/bin/time -v -o "$TMP/time.$label.dump" "$PGBIN/pg_dump" -Fc bench 2>"$TMP/err.$label.dump" |
		/usr/bin/time -v -o "$TMP/time.$label.restore" "$PGBIN/pg_restore" --no-owner --no-acl -d "$db" 2>"$TMP/err.$label"
	local st=("${PIPESTATUS[@]}")
	set -e
	t1=$(now)
	stop_poller "$mem"
	[ "${st[0]}" = 0 ] && [ "${st[1]}" = 0 ] || echo "$label: exit ${st[*]}: $(tail -n 5 "$TMP/err.$label.dump" "$TMP/err.$label")" >>"$PROBLEMS"
	local r1 r2
	r1=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/time.$label.dump")
	r2=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/time.$label.restore")
	record "$label" "$db" "$(elapsed "$t0" "$t1")" "$((r1 + r2))" "$mem" "" "-"
}

# run_pgb LABEL DB TABLE SQL: SQL on stdin (so psql's cmdline does not contain "pgbackups")
run_pgb() {
	local label=$1 db=$2 table=$3 sql=$4 mem=$TMP/mem.$1 out=$TMP/out.$1
	fresh "$db"
	q postgres CHECKPOINT >/dev/null
	start_poller "$mem" "" "$SERVER_RE" --rss
	local t0 t1 rc=0
	t0=$(now)
	psql -X -q -At -v ON_ERROR_STOP=1 -d catalog >"$out" 2>&1 <<<"$sql" || rc=$?
	t1=$(now)
	stop_poller "$mem"
	local id row status job
	id=$(q catalog "SELECT id FROM pgbackups.$table WHERE target = '$db' ORDER BY num DESC LIMIT 1")
	row=$(q catalog "SELECT status, coalesce(round(extract(epoch FROM finished_at - started_at)::numeric, 2)::text, '-') FROM pgbackups.$table WHERE id = '$id'")
	IFS='|' read -r status job <<<"$row"
	if [ "$rc" != 0 ] || [ "$status" != completed ]; then
		{
			echo "=== $label ($id) status ${status:-?}, psql rc $rc:"
			cat "$out"
			psql_db catalog -x -c "SELECT * FROM pgbackups.$table WHERE id = '$id'" || true
			tail -n 30 "$SERVER_LOG"
		} >>"$PROBLEMS"
	fi
	{
		echo "=== pgbackups.logs('$id') ($label):"
		psql_db catalog -P footer=off -c "SELECT * FROM pgbackups.logs('$id')" || true
	} >>"$TMP/logs.txt"
	record "$label" "$db" "$(elapsed "$t0" "$t1")" "-" "$mem" "$id" "$job"
}

# ---------------------------------------------------------------- runs -------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
OTHER_CLUSTERS=$(other_postmasters)
: >"$TMP/runs.tsv"
: >"$TMP/logs.txt"

log "capture (gzip, parallel 2)"
T0=$(now)
CAP_ID=$(psql -X -q -At -v ON_ERROR_STOP=1 -d catalog <<<"SELECT pgbackups.capture(database => 'bench', wait => true, compression => 'gzip', parallel => 2);" | tail -n 1)
T1=$(now)
CAP_S=$(elapsed "$T0" "$T1")
LOCATION=$(q catalog "SELECT location FROM pgbackups.backups WHERE id = '$CAP_ID' AND status = 'completed'")
[ -n "$LOCATION" ] || die "capture $CAP_ID did not complete: $(q catalog "SELECT status, error FROM pgbackups.backups WHERE id = '$CAP_ID'")"
ARCHIVE=${LOCATION#file://}
ARCHIVE_BYTES=$(stat -c %s "$ARCHIVE")
log "capture $CAP_ID: ${CAP_S}s, $((ARCHIVE_BYTES / 1048576)) MB at $ARCHIVE"
BENCH_COUNTS=$(counts bench)

log "restore"
run_pgrestore pg_restore-j2 fresh1 "$ARCHIVE"
run_pgb pgbackups-restore-p2 fresh2 restores "SELECT pgbackups.restore_from_url('file://$ARCHIVE', target => 'fresh2', confirm => 'fresh2', parallel => 2, wait => true);"
if [ "${SKIP_P4:-0}" != 1 ]; then
	run_pgb pgbackups-restore-p4 fresh5 restores "SELECT pgbackups.restore_from_url('file://$ARCHIVE', target => 'fresh5', confirm => 'fresh5', parallel => 4, wait => true);"
fi
log "copy"
run_pgdump_pipe pg_dump-pipe-pg_restore fresh3
run_pgb pgbackups-copy-p2 fresh4 copies "SELECT pgbackups.copy('bench', 'fresh4', 'fresh4', parallel => 2, wait => true);"

# ---------------------------------------------------------------- report -----

wall_of() { awk -F'\t' -v l="$1" '$1 == l {print $3}' "$TMP/runs.tsv"; }
ratio() { awk -v a="$(wall_of "$1")" -v b="$(wall_of "$2")" 'BEGIN{ if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN{ if (r == "-") print "UNKNOWN"; else print (r <= t ? "MET" : "NOT MET") }'; }
R_RESTORE=$(ratio pgbackups-restore-p2 pg_restore-j2)
R_RESTORE4=$(ratio pgbackups-restore-p4 pg_restore-j2)
R_COPY=$(ratio pgbackups-copy-p2 pg_dump-pipe-pg_restore)

TABLE=$(awk -F'\t' -v bc="$BENCH_COUNTS" '
	function m(k) { return (k == "-" || k == "") ? "-" : sprintf("%.0f", k / 1024) }
	{
		ref = ($1 ~ /restore/) ? "pg_restore-j2" : "pg_dump-pipe-pg_restore"
		if ($1 == "pg_restore-j2" || $1 == "pg_dump-pipe-pg_restore") refw[$1] = $3
		r = ($1 in refw) ? "1.00" : sprintf("%.2f", $3 / refw[ref])
		pgb = ($6 + 0 > 0) ? m($6) " / " m($7) : "-"
		cl = ($10 + 0 > 0) ? m($10) " / " m($11) : "-"
		printf "| %s | %s | %.2f | %s | %s | %s | %s / %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, r, pgb, m($8), m($9), cl, m($5), m($14), ($12 == bc ? "equal to bench" : "DIFFERS (" $12 ")")
	}' "$TMP/runs.tsv")

DATE=$(date -u +%Y-%m-%d)
OUT=$RESULTS_DIR/restore-$DATE.md
mkdir -p "$RESULTS_DIR"
{
	echo "# pgbackups restore and copy benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- pgbackups commit $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown) (installed build; not rebuilt by the script)"
	echo "- server $(q postgres 'SHOW server_version'), $(pg_restore --version); host $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo) RAM"
	echo "- cluster: shared_buffers 512MB, maintenance_work_mem 256MB, fsync off, wal_level minimal, max_worker_processes 32"
	echo "- load average before the runs: $LOAD_START; other PostgreSQL postmasters on the machine: $OTHER_CLUSTERS (another agent ran test suites concurrently: numbers are noisy, single run each)"
	echo "- data: pg_database_size('bench') $((DB_BYTES / 1048576)) MB (tables $((TABLE_BYTES / 1048576)) MB, indexes $((INDEX_BYTES / 1048576)) MB), $(ntables bench) tables, $(objs bench), generated in ${GEN_S}s"
	echo "- archive: capture $CAP_ID (gzip, parallel 2) in ${CAP_S}s, $((ARCHIVE_BYTES / 1048576)) MB"
	echo
	echo "| table | rows | table size | index size |"
	echo "|---|---|---|---|"
	echo "$DATA_SUMMARY"
	echo "| small.t01..t20 | 20 x 1000 | | |"
	echo
	echo "| method | into | wall s | job s | ratio | pgbackups workers MB (RSS / anon) | backends MB (RSS / anon) | client MB sampled (RSS / anon) | client max RSS MB (time -v) | total anon MB | row counts |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	echo "$TABLE"
	echo
	echo "Targets: restore parallel 2 <= 0.8 x pg_restore -j 2: $(verdict "$R_RESTORE" 0.8) ($R_RESTORE x; parallel 4: $R_RESTORE4 x);"
	echo "copy <= 0.5 x pg_dump -Fc | pg_restore: $(verdict "$R_COPY" 0.5) ($R_COPY x)."
	echo
	echo "Method: wall s = date around the client command (pgbackups: around the \`wait => true\` call from database catalog);"
	echo "job s = finished_at - started_at of the restores/copies row; ratio against pg_restore -j 2 (restores) or the pg_dump | pg_restore pipe (copy)."
	echo "Memory: a poller reads /proc/PID/status every 0.2 s and keeps the highest *sum* over processes of each group:"
	echo "pgbackups workers = children of this cluster's postmaster titled \"postgres: pgbackups job/restore/stream ...\";"
	echo "backends = the other non-auxiliary children (the COPY / CREATE INDEX sessions of pg_restore, and those the pgbackups"
	echo "workers open on the staging database pgbackups_<oid>_<id>_<target>, plus autovacuum workers and the idle catalog session);"
	echo "client = pg_restore and its -j workers, pg_dump.  Checkpointer, bgwriter, walwriter, launchers and the pgbackups"
	echo "scheduler/launcher are excluded.  total anon = highest sum of the three groups in one sample (the comparable figure)."
	echo "RSS = VmRSS, which for server processes includes the shared buffers they touched (up to 512 MB, counted once per"
	echo "process), so RSS sums overstate memory; RssAnon (private anonymous memory) is what the method adds."
	echo "Processes living < 0.2 s can be missed.  time -v max RSS is per process (pg_restore's parent; pg_dump + pg_restore for the pipe)."
	echo "Row counts: md5 of count(*) of every table, compared with bench's."
	echo
	echo "## Problems"
	echo
	if [ -s "$PROBLEMS" ]; then echo '```'; cat "$PROBLEMS"; echo '```'; else echo "none"; fi
	echo
	echo "## Details"
	echo
	echo '```'
	cat "$DETAILS"
	echo
	cat "$TMP/logs.txt"
	echo
	echo "=== statements >= 1 s (log_min_duration_statement = 1000), server log:"
	grep -E 'duration: [0-9.]+ ms' "$SERVER_LOG" | cut -c1-220 || true
	echo '```'
} >"$OUT"
echo
sed -n '/^| method/,/^copy <=/p' "$OUT"
[ ! -s "$PROBLEMS" ] || { echo "PROBLEMS:"; cat "$PROBLEMS"; }
echo "results: $OUT"
