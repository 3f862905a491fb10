#!/usr/bin/env bash
# bench/scale_bench.sh: issue 16's scale target, side by side in one run:
# TABLES small tables and LOS large objects captured and restored by
# pgbackups' own engine with bounded memory, against pg_dump/pg_restore.
#
#   sudo PG_CONFIG=/opt/pgb-x/18/bin/pg_config bench/scale_bench.sh          # 50,000 tables, 500,000 LOs
#   sudo TABLES=5000 LOS=50000 PG_CONFIG=/opt/pgb-x/18/bin/pg_config bench/scale_bench.sh
#
# Run as root.  One throwaway cluster under /tmp (bench/lib.sh; server of
# PG_CONFIG, max_locks_per_transaction sized for TABLES, autovacuum off).
# Database "bench": TABLES tables (integer primary key, text, integer; 1 to 5
# rows each; every 10th has a serial id (a sequence) and an index on its
# integer column; every 1000th is in schema s1, s2 or s3 instead of public)
# and LOS large objects (about 50 bytes each; every 1000th about 20 kB).
# Then, once each:
#
#   capture  pg_dump -Fc (reference)  |  pgbackups.capture gzip, parallel 2
#   restore  pg_restore -j 2 of pg_dump's archive (reference)
#            |  pgbackups.restore of its own archive, parallel 2
#
# and reports wall and CPU seconds, peak memory (exact: /usr/bin/time's
# maximum RSS for pg_dump/pg_restore, the "peak memory (ru_maxrss)" line the
# engine writes in the job's log for its worker, its pg_dump child, stream
# helpers and restore workers; sampled every 0.2 s by bench/perf_poller.py:
# private memory (RssAnon) of the job's processes and of every backend),
# archive sizes, and correctness of both restores against bench: tables,
# rows of every table, number of large objects and a digest of their
# contents.  Report: stdout, bench/results/scale-latest.txt and
# bench/results/scale-<date>-<TABLES>t-<LOS>lo-pg<major>.txt.  bench/README.md
# ("Scale (issue 16)") explains the columns.
#
# PostgreSQL 15/16: a capture passes one --exclude-table-data argument per
# table to pg_dump (17+ writes a --filter file), so with tens of thousands of
# tables it may fail with SQLSTATE 54000 (argument list too long); the report
# then shows the capture failed and measures no pgbackups restore.
#
# Environment: TABLES (50000), LOS (500000), PG_CONFIG
# (/usr/lib/postgresql/15/bin/pg_config), PORT (55799), MLPT
# (max_locks_per_transaction, default from TABLES), KEEP_TMP=1.

set -Eeuo pipefail

TABLES=${TABLES:-50000}
LOS=${LOS:-500000}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $TABLES =~ ^[1-9][0-9]*$ ]] || die "TABLES must be a positive integer, got '$TABLES'"
[[ $LOS =~ ^[0-9]+$ ]] || die "LOS must be a non-negative integer, got '$LOS'"
# A capture holds about 3 locks per table at once (its coordinator's, pg_dump's,
# the COPY stream's; test/e2e/91_many_tables.sh), in a lock table of
# max_locks_per_transaction x (max_connections 60 + 32 worker slots + a few)
# entries: 4 x TABLES / 90 leaves a margin.
MLPT=${MLPT:-$((TABLES * 4 / 90 > 256 ? TABLES * 4 / 90 : 256))}
bench_checks pg_dump pg_restore

bench_tmp pgb-scale
bench_cluster 55799 "autovacuum = off
max_locks_per_transaction = $MLPT"
bench_catalog
SERVER_VERSION=$(q postgres "SELECT version()")
DATE=$(date -u +%Y-%m-%d)
REPORT=$TMP/report.txt
DETAILS=$TMP/details.txt
PROBLEMS=$TMP/problems.txt
LOGS=$TMP/logs.txt
ROWS_TSV=$TMP/rows.tsv
: >"$DETAILS"
: >"$PROBLEMS"
: >"$LOGS"
: >"$ROWS_TSV"

# ---------------------------------------------------------------- data -------

# tables_sql LO HI: tables LO..HI, a transaction per 250
tables_sql() {
	cat <<EOF
DO \$\$
DECLARE
    t text;
BEGIN
    FOR i IN $1..$2 LOOP
        t := format('%I.%I', CASE WHEN i % 1000 = 0 THEN 's' || (1 + (i / 1000) % 3) ELSE 'public' END, 't' || i);
        IF i % 10 = 0 THEN
            EXECUTE format('CREATE TABLE %s (id serial PRIMARY KEY, v text, n integer)', t);
            EXECUTE format('CREATE INDEX ON %s (n)', t);
            EXECUTE format('INSERT INTO %s (v, n) SELECT %L || g, g * %s FROM generate_series(1, %s) g',
                           t, 'row of ' || t || ' #', i, 1 + i % 5);
        ELSE
            EXECUTE format('CREATE TABLE %s (id integer PRIMARY KEY, v text, n integer)', t);
            EXECUTE format('INSERT INTO %s SELECT g, %L || g, g * %s FROM generate_series(1, %s) g',
                           t, 'row of ' || t || ' #', i, 1 + i % 5);
        END IF;
        IF i % 250 = 0 THEN COMMIT; END IF;
    END LOOP;
END
\$\$;
EOF
}

# los_sql LO HI: large objects LO..HI, a transaction per 50,000
los_sql() {
	[ "$2" -ge "$1" ] || return 0
	cat <<EOF
DO \$\$
BEGIN
    FOR c IN 0..($2 - $1) / 50000 LOOP
        PERFORM lo_from_bytea(0, convert_to(CASE WHEN g % 1000 = 0
                                     THEN repeat('large object ' || g || ' of the scale benchmark. ', 500)
                                     ELSE 'large object ' || g || ' ' || md5(g::text) END, 'UTF8'))
           FROM generate_series($1 + c * 50000, least($2, $1 + c * 50000 + 49999)) g;
        COMMIT;
    END LOOP;
END
\$\$;
EOF
}

generate() {
	local half=$((TABLES / 2)) lhalf=$((LOS / 2))
	psql_db bench -c "CREATE SCHEMA s1" -c "CREATE SCHEMA s2" -c "CREATE SCHEMA s3"
	log "generating $TABLES tables (two sessions)"
	tables_sql 1 "$half" >"$TMP/gen1.sql"
	tables_sql $((half + 1)) "$TABLES" >"$TMP/gen2.sql"
	parallel_sql "$TMP/gen1.sql" "$TMP/gen2.sql"
	log "generating $LOS large objects (two sessions)"
	los_sql 1 "$lhalf" >"$TMP/gen1.sql"
	los_sql $((lhalf + 1)) "$LOS" >"$TMP/gen2.sql"
	parallel_sql "$TMP/gen1.sql" "$TMP/gen2.sql"
	# hint bits and visibility map set, statistics present: neither tool pays for them
	log "VACUUM ANALYZE"
	psql_db bench -c "VACUUM ANALYZE"
	q postgres CHECKPOINT >/dev/null
}

# ---------------------------------------------------------------- checks -----

# "schema.table=rows" of every table of DB, sorted (one statement per table
# in one session: no lock table entry per table held to the end)
counts_db() {
	q "$1" "SELECT format('SELECT %L || ''='' || count(*) FROM %I.%I;', n.nspname || '.' || c.relname, n.nspname, c.relname)
	          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgbackups')" |
		psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" | LC_ALL=C sort
}
# "count digest" of the large objects: md5 over "oid:md5(content)" in oid order
LO_SQL="SELECT count(*) || ' ' || coalesce(md5(string_agg(oid::text || ':' || md5(lo_get(oid)), ',' ORDER BY oid)), '-')
          FROM pg_largeobject_metadata"
# NAME DB: tables, total rows, LOs and digest of DB; equal or DIFFERS against bench
check_db() {
	local name=$1 db=$2 f=$TMP/counts.$1 tables rows lo verdict=equal
	counts_db "$db" >"$f"
	tables=$(wc -l <"$f")
	rows=$(awk -F= '{s += $NF} END {print s + 0}' "$f")
	lo=$(q "$db" "$LO_SQL")
	if ! cmp -s "$f" "$TMP/counts.source"; then
		verdict=DIFFERS
		{
			echo "$name: tables or row counts differ from bench's (< bench, > $name):"
			LC_ALL=C diff "$TMP/counts.source" "$f" | head -n 20
		} >>"$PROBLEMS"
	fi
	if [ "$lo" != "$SRC_LO" ]; then
		verdict=DIFFERS
		echo "$name: large objects '$lo', bench has '$SRC_LO' (count digest)" >>"$PROBLEMS"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tables" "$rows" "${lo%% *}" "${lo#* }" "$verdict" >>"$ROWS_TSV"
	CHECK="$verdict ($tables tables, $rows rows, ${lo%% *} LOs)"
}

# ---------------------------------------------------------------- measure ----

CLIENT_RE="^$PGBIN/(pg_dump|pg_restore)( |\$)"
MEASURE_TSV=$TMP/measure.tsv
: >"$MEASURE_TSV"

# record OP METHOD STATUS WALL JOB CPU EXACT_KB MAIN_KB BACK_KB TOTAL_KB BYTES CHECK
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$MEASURE_TSV"
	log "  $1 $2: $3, ${4}s, peak ${7} kB"
}

# measure_client NAME 'command': /usr/bin/time (wall, user, system, max RSS
# of the process and of its waited-for children), the sampler for its backends;
# sets M_*
measure_client() {
	local name=$1 cmd=$2 mem=$TMP/mem.$1 tf=$TMP/time.$1
	M_RC=0
	q postgres CHECKPOINT >/dev/null
	start_poller "$mem" "$CLIENT_RE" "" --rss
	/usr/bin/time -f '%e %U %S %M' -o "$tf" bash -c "$cmd" 2>"$TMP/err.$name" || M_RC=$?
	stop_poller "$mem"
	read -r M_WALL M_USER M_SYS M_EXACT < <(tail -n 1 "$tf")
	M_CPU=$(awk -v u="$M_USER" -v s="$M_SYS" -v b="$(pval "$mem" cpu_backend_s)" 'BEGIN{printf "%.1f", u + s + b}')
	M_MAIN=$(pval "$mem" peak_main_anon_kb)
	M_BACK=$(pval "$mem" peak_backend_anon_kb)
	M_TOTAL=$(pval "$mem" peak_total_anon_kb)
	{
		echo "--- $name: exit $M_RC, /usr/bin/time '%e %U %S %M' (wall s, user s, system s, max RSS kB): $(tail -n 1 "$tf"), load $(cut -d' ' -f1-3 /proc/loadavg)"
		cat "$mem"
	} >>"$DETAILS"
	if [ "$M_RC" != 0 ]; then
		printf '%s: exit %s: %s\n' "$name" "$M_RC" "$(grep -v '^Command exited' "$TMP/err.$name" | tail -n 5)" >>"$PROBLEMS"
	fi
}

# measure_pgb NAME TABLE SQL: the pgbackups call with wait => true (SQL on
# psql's stdin, so psql's command line does not match the sampler); sets M_*,
# M_ID, M_JOB and M_PEAK (the job log's peak memory line)
measure_pgb() {
	local name=$1 table=$2 sql=$3 mem=$TMP/mem.$1 out=$TMP/out.$1 t0 t1 row status
	M_RC=0
	q postgres CHECKPOINT >/dev/null
	start_poller "$mem" "" "$SERVER_RE" --rss
	t0=$(now)
	psql -X -q -At -v ON_ERROR_STOP=1 -d catalog >"$out" 2>&1 <<<"$sql" || M_RC=$?
	t1=$(now)
	stop_poller "$mem"
	M_WALL=$(elapsed "$t0" "$t1")
	M_CPU=$(awk -v a="$(pval "$mem" cpu_main_s)" -v b="$(pval "$mem" cpu_backend_s)" 'BEGIN{printf "%.1f", a + b}')
	M_MAIN=$(pval "$mem" peak_main_anon_kb)
	M_BACK=$(pval "$mem" peak_backend_anon_kb)
	M_TOTAL=$(pval "$mem" peak_total_anon_kb)
	M_ID=$(grep -E '^[abrc][0-9]+$' "$out" | tail -n 1 || true)
	[ -n "$M_ID" ] || M_ID=$(q catalog "SELECT id FROM pgbackups.$table ORDER BY num DESC LIMIT 1")
	row=$(q catalog "SELECT status, coalesce(round(extract(epoch FROM finished_at - started_at)::numeric, 2)::text, '-')
	                   FROM pgbackups.$table WHERE id = '$M_ID'")
	IFS='|' read -r status M_JOB <<<"$row"
	[ -n "$M_JOB" ] || M_JOB=-
	M_PEAK=$(q catalog "SELECT message FROM pgbackups.logs('$M_ID') WHERE message LIKE 'peak memory%' ORDER BY 1 LIMIT 1" || true)
	# the highest of the processes the line names
	M_EXACT=$(grep -oE '[0-9]+ kB' <<<"$M_PEAK" | awk '$1 > m {m = $1} END {print m + 0}')
	if [ "$M_RC" != 0 ] || [ "$status" != completed ]; then
		[ "$M_RC" != 0 ] || M_RC=1
		{
			echo "=== $name ($M_ID) status ${status:-?}, psql exit $M_RC:"
			cat "$out"
			psql_db catalog -x -c "SELECT * FROM pgbackups.$table WHERE id = '$M_ID'" || true
			echo "--- server log tail:"
			tail -n 30 "$SERVER_LOG"
		} >>"$PROBLEMS"
	fi
	{
		echo "--- $name ($M_ID): status ${status:-?}, wall ${M_WALL}s, job ${M_JOB}s, load $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "job log: ${M_PEAK:-no peak memory line}"
		cat "$mem"
	} >>"$DETAILS"
	{
		echo "=== pgbackups.logs('$M_ID'): $name"
		psql_db catalog -P footer=off -c "SELECT * FROM pgbackups.logs('$M_ID')" || true
	} >>"$LOGS"
}

fresh() { psql_db postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
dropdb_() { psql_db postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1"; }

# ---------------------------------------------------------------- run --------

log "PostgreSQL $PGMAJOR ($PGBIN), TABLES=$TABLES, LOS=$LOS, max_locks_per_transaction=$MLPT; load average $(cat /proc/loadavg)"
T_ALL0=$(now)
psql_db postgres -c "CREATE DATABASE bench"
G0=$(now)
generate
GEN_S=$(elapsed "$G0" "$(now)")
DB_BYTES=$(q bench "SELECT pg_database_size('bench')")
log "bench is $((DB_BYTES / 1048576)) MB, generated in ${GEN_S}s; counting rows and large objects"
counts_db bench >"$TMP/counts.source"
SRC_LO=$(q bench "$LO_SQL")
SRC_TABLES=$(wc -l <"$TMP/counts.source")
SRC_ROWS=$(awk -F= '{s += $NF} END {print s + 0}' "$TMP/counts.source")
printf 'bench\t%s\t%s\t%s\t%s\tsource\n' "$SRC_TABLES" "$SRC_ROWS" "${SRC_LO%% *}" "${SRC_LO#* }" >>"$ROWS_TSV"
DATA_SUMMARY=$(psql_db bench -P footer=off <<'EOF'
SELECT n.nspname AS schema, count(*) FILTER (WHERE c.relkind = 'r') AS tables,
       count(*) FILTER (WHERE c.relkind = 'i') AS indexes, count(*) FILTER (WHERE c.relkind = 'S') AS sequences,
       pg_size_pretty(sum(pg_relation_size(c.oid))) AS "size (main forks)"
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('public', 's1', 's2', 's3')
 GROUP BY 1 ORDER BY 1;
SELECT count(*) AS "large objects", pg_size_pretty(pg_total_relation_size('pg_largeobject')) AS "pg_largeobject size"
  FROM pg_largeobject_metadata;
EOF
)
LOAD_BEFORE=$(cat /proc/loadavg)
T0=$(now)

FC=$OUT_DIR/bench.dump
# --- capture
log "capture: pg_dump -Fc"
measure_client pg_dump-Fc "$PGBIN/pg_dump -Fc -f $FC bench"
BYTES=0
[ "$M_RC" != 0 ] || BYTES=$(stat -c %s "$FC")
record capture pg_dump-Fc "$([ "$M_RC" = 0 ] && echo ok || echo failed)" "$M_WALL" - "$M_CPU" "$M_EXACT" "$M_MAIN" "$M_BACK" "$M_TOTAL" "$BYTES" -
log "capture: pgbackups gzip parallel 2"
measure_pgb pgbackups-gzip-p2 backups "SELECT pgbackups.capture(database => 'bench', wait => true, compression => 'gzip', parallel => 2);"
GZ_ID=
BYTES=0
if [ "$M_RC" = 0 ]; then
	GZ_ID=$M_ID
	BYTES=$(q catalog "SELECT archive_size FROM pgbackups.backups WHERE id = '$M_ID'")
fi
CAPTURE_PEAK=$M_PEAK
record capture pgbackups-gzip-p2 "$([ "$M_RC" = 0 ] && echo ok || echo failed)" "$M_WALL" "$M_JOB" "$M_CPU" "$M_EXACT" "$M_MAIN" "$M_BACK" "$M_TOTAL" "$BYTES" -

# --- restore
if [ -s "$FC" ]; then
	log "restore: pg_restore -j 2"
	fresh r_pgrestore
	measure_client pg_restore-j2 "$PGBIN/pg_restore -j 2 --no-owner --no-acl -d r_pgrestore $FC"
	rc=$M_RC
	check_db pg_restore-j2 r_pgrestore
	record restore pg_restore-j2 "$([ "$rc" = 0 ] && echo ok || echo failed)" "$M_WALL" - "$M_CPU" "$M_EXACT" "$M_MAIN" "$M_BACK" "$M_TOTAL" - "$CHECK"
	dropdb_ r_pgrestore
else
	echo "restore: no pg_dump -Fc archive, pg_restore not measured" >>"$PROBLEMS"
fi
RESTORE_PEAK=
if [ -n "$GZ_ID" ]; then
	log "restore: pgbackups parallel 2"
	fresh r_pgbackups
	measure_pgb pgbackups-restore-p2 restores "SELECT pgbackups.restore('$GZ_ID', target => 'r_pgbackups', confirm => 'r_pgbackups', parallel => 2, wait => true);"
	RESTORE_PEAK=$M_PEAK
	CHECK=-
	[ "$M_RC" != 0 ] || check_db pgbackups-restore-p2 r_pgbackups
	record restore pgbackups-restore-p2 "$([ "$M_RC" = 0 ] && echo ok || echo failed)" "$M_WALL" "$M_JOB" "$M_CPU" "$M_EXACT" "$M_MAIN" "$M_BACK" "$M_TOTAL" - "$CHECK"
	dropdb_ r_pgbackups
else
	echo "restore: no pgbackups archive, pgbackups restore not measured" >>"$PROBLEMS"
fi
MEASURE_S=$(elapsed "$T0" "$(now)")
LOAD_AFTER=$(cat /proc/loadavg)

# ---------------------------------------------------------------- report -----

table() {
	awk -F'\t' '
	function mb(kb) { return kb == "-" || kb == "" ? "-" : sprintf("%.0f", kb / 1024) }
	BEGIN {
		printf "%-8s %-22s %-7s %8s %8s %6s %7s %8s %8s %8s %8s %8s  %s\n", "op", "method", "status", "wall s", "job s", "ratio", "CPU s", "peak MB", "procs MB", "backs MB", "total MB", "arch MB", "restored (against bench)"
	}
	{
		k = $1; if (!(k in ref)) ref[k] = $4
		ratio = (ref[k] > 0 && $3 == "ok") ? sprintf("%.2f", $4 / ref[k]) : "-"
		arch = ($11 == "-" || $11 == 0) ? "-" : sprintf("%.1f", $11 / 1048576)
		printf "%-8s %-22s %-7s %8.2f %8s %6s %7s %8s %8s %8s %8s %8s  %s\n", $1, $2, $3, $4, $5, ratio, $6, mb($7), mb($8), mb($9), mb($10), arch, $12
	}' "$MEASURE_TSV"
}

{
	echo "===== pgbackups scale benchmark (issue 16): TABLES=$TABLES, LOS=$LOS, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "pgbackups commit: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_DIR" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'); library loaded at server start: $LIB_AT_START"
	echo "server: $SERVER_VERSION"
	echo "client tools: $("$PGBIN/pg_dump" --version), $PGBIN"
	echo "host: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo) RAM"
	echo "cluster: shared_buffers 512MB, max_locks_per_transaction $MLPT, fsync off, wal_level minimal, autovacuum off"
	echo "load average (/proc/loadavg) before the measurements: $LOAD_BEFORE"
	echo "load average (/proc/loadavg) after the measurements:  $LOAD_AFTER"
	echo "other PostgreSQL postmasters on the machine: $(other_postmasters)"
	echo "measurements took ${MEASURE_S}s"
	echo
	echo "data: pg_database_size('bench') = $DB_BYTES bytes ($((DB_BYTES / 1048576)) MB), generated in ${GEN_S}s"
	echo "$DATA_SUMMARY"
	echo
	table
	echo
	echo "peak MB: exact peak resident set of the largest process: /usr/bin/time %M for pg_dump/pg_restore (its -j workers"
	echo "  included), the job log's 'peak memory (ru_maxrss)' line for pgbackups (worker, pg_dump child, stream helpers,"
	echo "  restore workers); both count the shared memory a process touched, so they bound its private memory from above."
	echo "  procs MB / backs MB / total MB: sampled (0.2 s) highest sum of RssAnon (private memory) of the tool's processes /"
	echo "  of the backends (server sessions) of the cluster / of both in one sample."
	echo "peak memory lines of the jobs:"
	echo "  capture: ${CAPTURE_PEAK:-none}"
	echo "  restore: ${RESTORE_PEAK:-none}"
	echo
	echo "correctness (name, tables, rows, large objects, LO digest, verdict):"
	cat "$ROWS_TSV"
	echo
	echo "problems:"
	if [ -s "$PROBLEMS" ]; then cat "$PROBLEMS"; else echo "none"; fi
	echo
	echo "per run (op, method, status, wall s, job s, CPU s, exact peak kB, procs anon kB, backends anon kB, total anon kB, archive bytes, check):"
	cat "$MEASURE_TSV"
	echo
	echo "per-phase times of the pgbackups jobs (pgbackups.logs):"
	cat "$LOGS"
	echo
	echo "details (sampler output per measurement: peaks, and per process anon/hwm/rss kB and CPU):"
	cat "$DETAILS"
} >"$REPORT"
mkdir -p "$RESULTS_DIR"
cp "$REPORT" "$RESULTS_DIR/scale-$DATE-${TABLES}t-${LOS}lo-pg$PGMAJOR.txt"
cp "$REPORT" "$RESULTS_DIR/scale-latest.txt"
sed -n '1,/^per run /p' "$REPORT" | sed '$d'
log "done in $(elapsed "$T_ALL0" "$(now)")s; report: $RESULTS_DIR/scale-$DATE-${TABLES}t-${LOS}lo-pg$PGMAJOR.txt"
