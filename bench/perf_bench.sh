#!/usr/bin/env bash
# bench/perf_bench.sh: the performance targets of issue 15, side by side in one run.
#
#   sudo bench/perf_bench.sh                         # both shapes, 2 GB each, Debian's PostgreSQL 15
#   sudo SHAPE=onebig SIZE_GB=0.3 PG_CONFIG=/opt/pgb-x/18/bin/pg_config bench/perf_bench.sh
#
# Run as root.  One throwaway cluster under /tmp (server of PG_CONFIG, run as
# postgres through runuser, socket in its own directory, no TCP).  For each
# shape ("many": several large tables, 200 small, mixed types, large objects;
# "onebig": one table holds ~85% of the database) it generates database
# "bench" of at least SIZE_GB GiB, then measures, RUNS times each:
#
#   capture  pg_dump -Fc (reference), pg_dump -Fd -j 2, pg_dump -Fc -Z zstd (16+),
#            pgbackups.capture gzip parallel 2, zstd parallel 2
#   restore  pg_restore -j 2 of pg_dump -Fc's archive (reference), then
#            vacuumdb -j 2 --analyze-only ("ready for queries" reference),
#            pgbackups.restore of its own gzip archive, parallel 2
#   copy     pg_dump -Fc bench | pg_restore (reference), pgbackups.copy parallel 2
#
# and reports wall seconds, ratios, archive size ratios, CPU seconds, peak
# private memory, temporary disk (spool files and staging database, sampled),
# row counts per table against the source, and pgbackups.logs() of every job.
# Report: stdout, bench/results/perf-latest.txt and
# bench/results/perf-<date>-<shape>-<SIZE>GB.txt.  bench/README.md explains
# every column.  A trap stops the cluster (pg_ctl) and the sampler (by PID)
# and removes the temporary directory.
#
# After the rounds, bench/floor.py measures what the server alone needs for the
# same data (COPY FREEZE and index builds in one and in two sessions, COPY TO
# /dev/null, zstd -3 of the text) and the report sets the targets beside it.
#
# Environment: SHAPE=many|onebig|both (both), SIZE_GB (2), RUNS (1),
# PG_CONFIG (/usr/lib/postgresql/15/bin/pg_config), PORT (55699), KEEP_TMP=1,
# FLOOR=0 (skip the floor).

set -Eeuo pipefail

SHAPE=${SHAPE:-both}
SIZE_GB=${SIZE_GB:-2}
RUNS=${RUNS:-1}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case $SHAPE in
many) SHAPES=(many) ;;
onebig) SHAPES=(onebig) ;;
both) SHAPES=(many onebig) ;;
*) die "SHAPE must be many, onebig or both, got '$SHAPE'" ;;
esac
if ! [[ $SIZE_GB =~ ^[0-9]+([.][0-9]+)?$ ]] || ! awk -v s="$SIZE_GB" 'BEGIN{exit !(s > 0)}'; then
	die "SIZE_GB must be a positive number, got '$SIZE_GB'"
fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
bench_checks pg_dump pg_restore vacuumdb

# ---------------------------------------------------------------- cluster ----

bench_tmp pgb-perf
bench_cluster 55699 "autovacuum = off"
bench_catalog
SERVER_VERSION=$(q postgres "SELECT version()")

# ---------------------------------------------------------------- data -------

TARGET_BYTES=$(awk -v s="$SIZE_GB" 'BEGIN{printf "%d", s * 1073741824}')

# "many": like bench/capture_bench.sh (orders, events, blobs, 200 small tables,
# 200 large objects) plus customers with a foreign key from orders and
# secondary indexes; orders are topped up until the size is reached.
generate_many() {
	local ORDERS EVENTS BR BT BH
	ORDERS=$(n 1200000)
	EVENTS=$(n 1200000)
	BR=$(n 40000)
	BT=$(n 30000)
	BH=$(n 30000)
	log "generating many: orders $ORDERS, events $EVENTS, blobs $((BR + BT + BH)), customers 100000, 200 small tables x $(n 1000), 200 large objects"
	psql_db bench <<'EOF'
CREATE EXTENSION pgcrypto;
CREATE TABLE public.customers (id integer PRIMARY KEY, name text NOT NULL, email text, country text, created_at timestamptz);
INSERT INTO public.customers
SELECT i, 'customer ' || i, 'c' || i || '@example.com', (ARRAY['DE','FR','US','JP','BR'])[1 + i % 5],
       timestamptz '2019-01-01 00:00+00' + i * interval '5 minutes'
  FROM generate_series(0, 99999) i;
EOF
	many_tables_sql | psql_db bench
	orders_sql 1 "$ORDERS" >"$TMP/gen1.sql"
	events_blobs_sql "$EVENTS" "$BR" "$BT" "$BH" >"$TMP/gen2.sql"
	parallel_sql "$TMP/gen1.sql" "$TMP/gen2.sql"
	{
		small_tables_sql 200 "$(n 1000)"
		large_objects_sql 200
		cat <<'EOF'
ALTER TABLE public.orders ADD PRIMARY KEY (id);
ALTER TABLE public.events ADD PRIMARY KEY (id);
ALTER TABLE public.blobs ADD PRIMARY KEY (id);
ALTER TABLE public.orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES public.customers (id);
CREATE INDEX orders_customer_idx ON public.orders (customer_id);
CREATE INDEX orders_created_idx ON public.orders (created_at);
CREATE INDEX events_ts_idx ON public.events (ts);
EOF
	} | psql_db bench
	topup_orders $((ORDERS + 1))
}

events_log_sql() { # lo hi
	cat <<EOF
INSERT INTO public.events_log
SELECT i, timestamptz '2023-01-01 00:00+00' + i * interval '250 milliseconds',
       1 + (i * 7919) % $1,
       (ARRAY['login','view','click','purchase','logout','error'])[1 + i % 6],
       jsonb_build_object('session', md5((i / 20)::text), 'page', '/p/' || (i % 3000),
                          'ms', (i * 31) % 5000, 'ok', i % 13 <> 0,
                          'tags', jsonb_build_array('a' || i % 9, 'b' || i % 17)),
       'user ' || (i * 7919) % $1 || ' did ' || (ARRAY['login','view','click','purchase','logout','error'])[1 + i % 6] ||
           ' from ' || ((i * 13) % 223)::text || '.' || ((i * 7) % 251)::text || '.0.1 request ' || md5(i::text),
       round((random() * 500)::numeric, 2),
       gen_random_uuid()
  FROM generate_series($2::bigint, $3::bigint) i;
EOF
}

# "onebig": accounts, invoices, 50 small tables and large objects make ~15%;
# events_log is loaded (two sessions) to ~75% of the target before its
# indexes are built, then topped up until the database reaches the target and
# events_log (with its indexes and TOAST) holds about 85% of it (86% before the final VACUUM ANALYZE).
generate_onebig() {
	local ACCOUNTS INVOICES LOS
	ACCOUNTS=$(n 250000)
	INVOICES=$(n 400000)
	LOS=$(n 40)
	[ "$LOS" -ge 2 ] || LOS=2
	log "generating onebig: accounts $ACCOUNTS, invoices $INVOICES, 50 small tables x $(n 1000), $LOS large objects, events_log to the size"
	{
		cat <<EOF
CREATE EXTENSION pgcrypto;
CREATE TABLE public.accounts (id integer PRIMARY KEY, name text NOT NULL, email text, plan text,
    created_at timestamptz, settings jsonb);
INSERT INTO public.accounts
SELECT i, 'account ' || i, 'a' || i || '@example.com', (ARRAY['free','pro','team','enterprise'])[1 + i % 4],
       timestamptz '2018-01-01 00:00+00' + i * interval '3 minutes',
       jsonb_build_object('tz', 'UTC+' || i % 12, 'beta', i % 5 = 0)
  FROM generate_series(1, $ACCOUNTS) i;
CREATE TABLE public.invoices (id bigint PRIMARY KEY, account_id integer NOT NULL REFERENCES public.accounts,
    issued_at timestamptz, amount numeric(12,2), currency text, lines jsonb, note text);
INSERT INTO public.invoices
SELECT i, 1 + (i::bigint * 104729) % $ACCOUNTS, timestamptz '2021-01-01 00:00+00' + i * interval '61 seconds',
       round((random() * 3000)::numeric, 2), (ARRAY['EUR','USD','JPY'])[1 + i % 3],
       jsonb_build_array(jsonb_build_object('sku', 'SKU-' || i % 900, 'qty', 1 + i % 5)),
       'invoice ' || i || ' ' || md5(i::text)
  FROM generate_series(1, $INVOICES) i;
CREATE INDEX invoices_account_idx ON public.invoices (account_id);
CREATE TABLE public.events_log (id bigint NOT NULL, ts timestamptz NOT NULL, account_id integer NOT NULL,
    kind text, payload jsonb, message text, amount numeric(10,2), ref uuid);
EOF
		small_tables_sql 50 "$(n 1000)"
		large_objects_sql "$LOS"
	} | psql_db bench
	# rows of events_log for 75% of the target, from the size of a first 20,000
	local per_row rows half
	events_log_sql "$ACCOUNTS" 1 20000 | psql_db bench
	per_row=$(q bench "SELECT pg_relation_size('public.events_log') / 20000.0")
	rows=$(awk -v t="$TARGET_BYTES" -v b="$(q bench "SELECT pg_database_size('bench')")" -v r="$per_row" \
		'BEGIN{v = (t * 0.75 - (b - 20000 * r)) / r; if (v < 20000) v = 20000; printf "%d", v}')
	half=$((20000 + (rows - 20000) / 2))
	log "  events_log: $rows rows (~$(awk -v r="$per_row" 'BEGIN{printf "%.0f", r}') bytes each) in two sessions"
	events_log_sql "$ACCOUNTS" 20001 "$half" >"$TMP/gen1.sql"
	events_log_sql "$ACCOUNTS" $((half + 1)) "$rows" >"$TMP/gen2.sql"
	parallel_sql "$TMP/gen1.sql" "$TMP/gen2.sql"
	psql_db bench <<'EOF'
ALTER TABLE public.events_log ADD PRIMARY KEY (id);
ALTER TABLE public.events_log ADD CONSTRAINT events_log_account_fk FOREIGN KEY (account_id) REFERENCES public.accounts (id);
CREATE INDEX events_log_ts_idx ON public.events_log (ts);
EOF
	local next=$((rows + 1)) chunk size
	chunk=$(n 200000)
	[ "$chunk" -ge 2000 ] || chunk=2000
	local share
	while :; do
		IFS='|' read -r size share <<<"$(q bench "SELECT pg_database_size('bench'), round(100.0 * pg_total_relation_size('public.events_log') / pg_database_size('bench'))")"
		[ "$size" -lt "$TARGET_BYTES" ] || [ "$share" -lt 86 ] || break
		log "  bench is $((size / 1048576)) MB (target $((TARGET_BYTES / 1048576)) MB), events_log $share%: $chunk more events_log rows"
		events_log_sql "$ACCOUNTS" "$next" $((next + chunk - 1)) | psql_db bench
		next=$((next + chunk))
	done
}

# "schema.table=rows" of every table of a database, sorted
COUNTS_SQL="SELECT table_schema || '.' || table_name || '=' || (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text
  FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema', 'pgbackups') ORDER BY 1"
counts_db() { q "$1" "$COUNTS_SQL"; }
# the same from an archive, as the server's pg_restore reads it (rows of each COPY block)
counts_archive() {
	"$PGBIN/pg_restore" -a -f - "$1" | LC_ALL=C awk '
		inc && /^\\\.$/ { print t "=" n; inc = 0; next }
		inc { n++; next }
		/^COPY / { t = $2; n = 0; inc = 1 }' | LC_ALL=C sort
}
# compare a counts file with the source's: "equal (N tables)" or "DIFFERS (...)"
compare_counts() { # file label
	local src=$SHAPE_DIR/source.counts
	if cmp -s "$1" "$src"; then
		echo "equal ($(wc -l <"$src") tables)"
	else
		local nd
		nd=$(LC_ALL=C comm -3 "$src" "$1" | wc -l)
		echo "DIFFERS ($nd lines)"
		{
			echo "$2: row counts differ from bench's (< source, > $2):"
			LC_ALL=C diff "$src" "$1" | head -n 20
		} >>"$PROBLEMS"
	fi
}
# "k/N": of the N tables that have rows (COUNTS file of DB), k have no
# statistics (no pg_statistic row): pg_restore leaves them so, ANALYZE or
# loaded statistics (pg_dump 18 --statistics) fill them
nostats_db() { # db counts_file
	q "$1" "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgbackups')
	           AND NOT EXISTS (SELECT 1 FROM pg_statistic s WHERE s.starelid = c.oid)" |
		awk -F'=' 'NR == FNR { if ($2 + 0 > 0) { rows[$1] = 1; n++ } next } ($1 in rows) { k++ } END { printf "%d/%d", k, n }' "$2" -
}

# ---------------------------------------------------------------- sampler ----

CLIENT_RE="^$PGBIN/(pg_dump|pg_restore|vacuumdb)( |\$)"

# measure_client NAME 'shell command': sets M_WALL M_RC M_CPU M_MAIN M_BACK M_SPOOL M_STAGE M_MEM
measure_client() {
	local name=$1 cmd=$2 mem=$SHAPE_DIR/mem.$1 tf=$SHAPE_DIR/time.$1 t0 t1
	M_RC=0
	M_MEM=$mem
	M_NAME=$name
	q postgres CHECKPOINT >/dev/null
	start_poller "$mem" "$CLIENT_RE" ""
	t0=$(now)
	/usr/bin/time -f '%U %S %M' -o "$tf" bash -o pipefail -c "$cmd" 2>"$SHAPE_DIR/err.$name" || M_RC=$?
	t1=$(now)
	stop_poller "$mem"
	M_WALL=$(elapsed "$t0" "$t1")
	# client CPU from rusage (exact, pg_dump -j workers and pipe members
	# included); server backends sampled
	M_CPU=$(awk -v b="$(pval "$mem" cpu_backend_s)" 'NF == 3 && $1 ~ /^[0-9.]+$/ {c = $1 + $2} END {printf "%.1f", c + b}' "$tf")
	M_MAIN=$(pval "$mem" peak_main_anon_kb)
	M_BACK=$(pval "$mem" peak_backend_anon_kb)
	M_SPOOL=$(pval "$mem" peak_spool_bytes)
	M_STAGE=$(pval "$mem" peak_staging_bytes)
	if [ "$M_RC" != 0 ]; then
		printf '%s: exit %s: %s\n' "$name" "$M_RC" "$(grep -v '^Command exited' "$SHAPE_DIR/err.$name" | tail -n 5)" >>"$PROBLEMS"
	fi
}

# measure_pgb NAME TABLE SQL: the pgbackups call with wait => true, SQL on stdin
# (psql's command line must not match the sampler); sets M_* and M_ID M_JOB
measure_pgb() {
	local name=$1 table=$2 sql=$3 mem=$SHAPE_DIR/mem.$1 out=$SHAPE_DIR/out.$1 t0 t1 row status
	M_RC=0
	M_MEM=$mem
	M_NAME=$name
	q postgres CHECKPOINT >/dev/null
	start_poller "$mem" "" "$SERVER_RE"
	t0=$(now)
	psql -X -q -At -v ON_ERROR_STOP=1 -d catalog >"$out" 2>&1 <<<"$sql" || M_RC=$?
	t1=$(now)
	stop_poller "$mem"
	M_WALL=$(elapsed "$t0" "$t1")
	M_CPU=$(awk -v a="$(pval "$mem" cpu_main_s)" -v b="$(pval "$mem" cpu_backend_s)" 'BEGIN{printf "%.1f", a + b}')
	M_MAIN=$(pval "$mem" peak_main_anon_kb)
	M_BACK=$(pval "$mem" peak_backend_anon_kb)
	M_SPOOL=$(pval "$mem" peak_spool_bytes)
	M_STAGE=$(pval "$mem" peak_staging_bytes)
	M_ID=$(grep -E '^[abrc][0-9]+$' "$out" | tail -n 1 || true)
	[ -n "$M_ID" ] || M_ID=$(q catalog "SELECT id FROM pgbackups.$table ORDER BY num DESC LIMIT 1")
	row=$(q catalog "SELECT status, coalesce(round(extract(epoch FROM finished_at - started_at)::numeric, 2)::text, '-')
	                   FROM pgbackups.$table WHERE id = '$M_ID'")
	IFS='|' read -r status M_JOB <<<"$row"
	[ -n "$M_JOB" ] || M_JOB=-
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
		echo "=== pgbackups.logs('$M_ID'): $name run $RUN"
		psql_db catalog -P footer=off -c "SELECT * FROM pgbackups.logs('$M_ID')" || true
	} >>"$LOGS"
}

# record OP METHOD BYTES ROWS NOSTATS: one line of runs.tsv from M_*
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$RUN" \
		"$([ "$M_RC" = 0 ] && echo ok || echo failed)" "$M_WALL" "${M_JOB:--}" "$3" "$M_CPU" \
		"$M_MAIN" "$M_BACK" "$M_SPOOL" "$M_STAGE" "$4" "$5" "${M_ID:--}" >>"$RUNS_TSV"
	{
		echo "--- $1 $2 run $RUN: wall ${M_WALL}s, job ${M_JOB:--}s, id ${M_ID:--}, bytes $3, rows $4, tables without statistics $5, load $(cut -d' ' -f1-3 /proc/loadavg)"
		[ ! -e "$M_MEM" ] || cat "$M_MEM"
		[ ! -e "$SHAPE_DIR/time.$M_NAME" ] || echo "client /usr/bin/time -f '%U %S %M' (user s, system s, max RSS kB): $(tr '\n' ' ' <"$SHAPE_DIR/time.$M_NAME")"
	} >>"$DETAILS"
	log "  $1 $2 run $RUN: ${M_WALL}s (job ${M_JOB:--}s), rows $4"
}

fresh() { psql_db postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
dropdb_() { psql_db postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1"; }

# ---------------------------------------------------------------- shape ------

ZSTD_REF=0
[ "$PGMAJOR" -ge 16 ] && ZSTD_REF=1
DATE=$(date -u +%Y-%m-%d)
LATEST=$TMP/latest.txt
: >"$LATEST"
LOAD_BEGIN=$(cat /proc/loadavg)

run_shape() {
	local shape=$1 method
	SHAPE_DIR=$TMP/$shape
	mkdir -p "$SHAPE_DIR"
	RUNS_TSV=$SHAPE_DIR/runs.tsv
	DETAILS=$SHAPE_DIR/details.txt
	PROBLEMS=$SHAPE_DIR/problems.txt
	LOGS=$SHAPE_DIR/logs.txt
	: >"$RUNS_TSV"
	: >"$DETAILS"
	: >"$PROBLEMS"
	: >"$LOGS"
	M_JOB=- M_ID=-

	dropdb_ bench
	psql_db postgres -c "CREATE DATABASE bench"
	local g0 g1
	g0=$(now)
	"generate_$shape"
	psql_db bench -c "VACUUM ANALYZE"
	q postgres CHECKPOINT >/dev/null
	g1=$(now)
	local gen_s db_bytes
	gen_s=$(elapsed "$g0" "$g1")
	db_bytes=$(q bench "SELECT pg_database_size('bench')")
	log "$shape: bench is $((db_bytes / 1048576)) MB, generated in ${gen_s}s"
	counts_db bench >"$SHAPE_DIR/source.counts"
	local data_summary
	data_summary=$(psql_db bench -P footer=off <<'EOF'
SELECT n.nspname || '.' || c.relname AS "table", c.reltuples::bigint AS rows,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS "total size",
       round(100.0 * pg_total_relation_size(c.oid) / pg_database_size(current_database()), 1) AS "% of db"
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname = 'public'
UNION ALL
SELECT 'small.* (' || count(*) || ' tables)', sum(c.reltuples)::bigint,
       pg_size_pretty(sum(pg_total_relation_size(c.oid))),
       round(100.0 * sum(pg_total_relation_size(c.oid)) / pg_database_size(current_database()), 1)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname = 'small'
UNION ALL
SELECT 'large objects (' || (SELECT count(*) FROM pg_largeobject_metadata) || ')', NULL,
       pg_size_pretty(pg_total_relation_size('pg_largeobject')),
       round(100.0 * pg_total_relation_size('pg_largeobject') / pg_database_size(current_database()), 1)
ORDER BY 1;
EOF
)
	local load_before
	load_before=$(cat /proc/loadavg)
	local t_shape0
	t_shape0=$(now)

	local fc_archive=$OUT_DIR/$shape.Fc.dump gz_id gz_path
	for RUN in $(seq 1 "$RUNS"); do
		# row counts of the archives are read in round 1; pg_dump -Fc's and
		# pgbackups' gzip archive of each round are restored in that round
		local verify=0
		[ "$RUN" = 1 ] && verify=1
		gz_id="" gz_path=""
		rm -f "$fc_archive"
		log "$shape round $RUN of $RUNS: capture"
		# --- capture
		local methods=(pg_dump-Fc pg_dump-Fd-j2)
		[ "$ZSTD_REF" = 1 ] && methods+=(pg_dump-Fc-zstd)
		for method in "${methods[@]}"; do
			local target args
			case $method in
			pg_dump-Fc) target=$OUT_DIR/Fc.dump args="-Fc -f $target bench" ;;
			pg_dump-Fd-j2) target=$OUT_DIR/Fd args="-Fd -j 2 -f $target bench" ;;
			pg_dump-Fc-zstd) target=$OUT_DIR/Fczstd.dump args="-Fc -Z zstd -f $target bench" ;;
			esac
			rm -rf "$target"
			M_JOB=- M_ID=-
			measure_client "$method.$RUN" "$PGBIN/pg_dump $args"
			local bytes=0 rows=-
			if [ "$M_RC" = 0 ]; then
				bytes=$(du -sb "$target" | awk '{print $1}')
				if [ "$verify" = 1 ]; then
					counts_archive "$target" >"$SHAPE_DIR/counts.$method" 2>>"$PROBLEMS" || true
					rows=$(compare_counts "$SHAPE_DIR/counts.$method" "$method archive")
				fi
			fi
			record capture "$method" "$bytes" "$rows" -
			if [ "$method" = pg_dump-Fc ] && [ "$M_RC" = 0 ]; then mv "$target" "$fc_archive"; else rm -rf "$target"; fi
		done
		for method in pgbackups-gzip-p2 pgbackups-zstd-p2; do
			local comp=${method#pgbackups-}
			comp=${comp%-p2}
			M_JOB=- M_ID=-
			measure_pgb "$method.$RUN" backups "SELECT pgbackups.capture(database => 'bench', wait => true, compression => '$comp', parallel => 2);"
			local bytes=0 rows=- path=""
			if [ "$M_RC" = 0 ]; then
				path=$(q catalog "SELECT location FROM pgbackups.backups WHERE id = '$M_ID'")
				path=${path#file://}
				bytes=$(stat -c %s "$path" 2>/dev/null || echo 0)
				[ "$bytes" = "$(q catalog "SELECT archive_size FROM pgbackups.backups WHERE id = '$M_ID'")" ] ||
					echo "$method ($M_ID): archive_size differs from the file size $bytes" >>"$PROBLEMS"
				if [ "$verify" = 1 ]; then
					if [ "$comp" = zstd ] && [ "$PGMAJOR" -lt 16 ]; then
						rows="n/a (pg_restore $PGMAJOR cannot read zstd)"
					else
						counts_archive "$path" >"$SHAPE_DIR/counts.$method" 2>>"$PROBLEMS" || true
						rows=$(compare_counts "$SHAPE_DIR/counts.$method" "$method archive")
					fi
				fi
			fi
			record capture "$method" "$bytes" "$rows" -
			if [ "$method" = pgbackups-gzip-p2 ] && [ "$M_RC" = 0 ]; then
				gz_id=$M_ID gz_path=$path
			elif [ -n "$path" ]; then
				rm -f "$path"
			fi
		done

		# --- restore
		log "$shape round $RUN of $RUNS: restore"
		M_JOB=- M_ID=-
		if [ -e "$fc_archive" ]; then
			fresh r_pgrestore
			measure_client "pg_restore-j2.$RUN" "$PGBIN/pg_restore -j 2 --no-owner --no-acl -d r_pgrestore $fc_archive"
			local w1=$M_WALL c1=$M_CPU mm1=$M_MAIN mb1=$M_BACK rc1=$M_RC rows
			counts_db r_pgrestore >"$SHAPE_DIR/counts.r_pgrestore"
			rows=$(compare_counts "$SHAPE_DIR/counts.r_pgrestore" "pg_restore-j2 run $RUN")
			record restore pg_restore-j2 0 "$rows" "$(nostats_db r_pgrestore "$SHAPE_DIR/counts.r_pgrestore")"
			measure_client "vacuumdb.$RUN" "$PGBIN/vacuumdb -j 2 --analyze-only -q -d r_pgrestore"
			# the "ready for queries" reference: pg_restore -j2, then vacuumdb
			M_WALL=$(awk -v a="$w1" -v b="$M_WALL" 'BEGIN{printf "%.2f", a + b}')
			M_CPU=$(awk -v a="$c1" -v b="$M_CPU" 'BEGIN{printf "%.1f", a + b}')
			[ "$mm1" -le "$M_MAIN" ] || M_MAIN=$mm1
			[ "$mb1" -le "$M_BACK" ] || M_BACK=$mb1
			[ "$rc1" = 0 ] || M_RC=$rc1
			record restore pg_restore-j2+vacuumdb 0 "$rows" "$(nostats_db r_pgrestore "$SHAPE_DIR/counts.r_pgrestore")"
			dropdb_ r_pgrestore
		else
			echo "restore: no pg_dump -Fc archive, pg_restore not measured" >>"$PROBLEMS"
		fi
		if [ -n "$gz_id" ]; then
			fresh r_pgbackups
			measure_pgb "pgbackups-restore-p2.$RUN" restores "SELECT pgbackups.restore('$gz_id', target => 'r_pgbackups', confirm => 'r_pgbackups', parallel => 2, wait => true);"
			local rows=-
			if [ "$M_RC" = 0 ]; then
				counts_db r_pgbackups >"$SHAPE_DIR/counts.r_pgbackups"
				rows=$(compare_counts "$SHAPE_DIR/counts.r_pgbackups" "pgbackups-restore-p2 run $RUN")
			fi
			record restore pgbackups-restore-p2 0 "$rows" "$([ "$M_RC" = 0 ] && nostats_db r_pgbackups "$SHAPE_DIR/counts.r_pgbackups" || echo -)"
			dropdb_ r_pgbackups
		else
			echo "restore: no pgbackups gzip archive, pgbackups restore not measured" >>"$PROBLEMS"
		fi

		# --- copy
		log "$shape round $RUN of $RUNS: copy"
		M_JOB=- M_ID=-
		fresh c_pipe
		measure_client "pg_dump-pipe-pg_restore.$RUN" "$PGBIN/pg_dump -Fc bench | $PGBIN/pg_restore --no-owner --no-acl -d c_pipe"
		counts_db c_pipe >"$SHAPE_DIR/counts.c_pipe"
		record copy "pg_dump|pg_restore" 0 "$(compare_counts "$SHAPE_DIR/counts.c_pipe" "pg_dump|pg_restore run $RUN")" "$(nostats_db c_pipe "$SHAPE_DIR/counts.c_pipe")"
		dropdb_ c_pipe
		fresh c_pgbackups
		measure_pgb "pgbackups-copy-p2.$RUN" copies "SELECT pgbackups.copy('bench', 'c_pgbackups', 'c_pgbackups', parallel => 2, wait => true);"
		local rows=-
		if [ "$M_RC" = 0 ]; then
			counts_db c_pgbackups >"$SHAPE_DIR/counts.c_pgbackups"
			rows=$(compare_counts "$SHAPE_DIR/counts.c_pgbackups" "pgbackups-copy-p2 run $RUN")
		fi
		record copy pgbackups-copy-p2 0 "$rows" "$([ "$M_RC" = 0 ] && nostats_db c_pgbackups "$SHAPE_DIR/counts.c_pgbackups" || echo -)"
		dropdb_ c_pgbackups
		rm -f "$fc_archive" "$gz_path"
	done
	local t_shape1 load_after
	t_shape1=$(now)
	load_after=$(cat /proc/loadavg)
	measure_floor

	report_shape "$shape" "$db_bytes" "$gen_s" "$data_summary" "$load_before" "$load_after" "$(elapsed "$t_shape0" "$t_shape1")"
	dropdb_ bench
}

# ---------------------------------------------------------------- report -----

# summary table of runs.tsv: per (op, method) the run with the lowest wall
# time; memory and temporary disk are the highest over the runs; rows and
# statistics from the last run.
summary() {
	awk -F'\t' -v zref="$ZSTD_REF" '
	function mb(b) { return sprintf("%.0f", b / 1048576) }
	$4 == "ok" {
		k = $1 "|" $2
		if (!(k in best) || $5 + 0 < best[k] + 0) { best[k] = $5; job[k] = $6; bytes[k] = $7; cpu[k] = $8 }
		if ($9 + 0 > mm[k] + 0) mm[k] = $9
		if ($10 + 0 > mb_[k] + 0) mb_[k] = $10
		if ($11 + 0 > sp[k] + 0) sp[k] = $11
		if ($12 + 0 > st[k] + 0) st[k] = $12
	}
	{
		k = $1 "|" $2
		if (!(k in seen)) { seen[k] = 1; order[++n] = k }
		total[k]++; if ($4 == "ok") ok[k]++
		if ($13 != "-") rows[k] = $13
		if ($14 != "-") nost[k] = $14
	}
	END {
		ref["capture"] = "capture|pg_dump-Fc"; ref["restore"] = "restore|pg_restore-j2"; ref["copy"] = "copy|pg_dump|pg_restore"
		printf "%-8s %-24s %8s %8s %6s %8s %6s %7s %9s %9s %8s %8s %5s %-9s %s\n", "op", "method", "wall s", "job s", "ratio", "arch MB", "size", "CPU s", "priv MB", "backs MB", "spool MB", "stage MB", "runs", "no stats", "rows"
		for (i = 1; i <= n; i++) {
			k = order[i]; split(k, a, "|"); op = a[1]; m = substr(k, length(op) + 2)
			if (!(k in best)) {
				printf "%-8s %-24s %8s %8s %6s %8s %6s %7s %9s %9s %8s %8s %2d/%-2d %-9s %s\n", op, m, "FAILED", "-", "-", "-", "-", "-", "-", "-", "-", "-", 0, total[k], "-", "-"
				continue
			}
			r = ref[op]
			ratio = (r in best && best[r] > 0) ? sprintf("%.2f", best[k] / best[r]) : "-"
			size = "-"; arch = "-"
			if (op == "capture") {
				arch = sprintf("%.1f", bytes[k] / 1048576)
				sref = (m ~ /zstd/) ? "capture|pg_dump-Fc-zstd" : "capture|pg_dump-Fc"
				if (sref in bytes && bytes[sref] > 0) size = sprintf("%.3f", bytes[k] / bytes[sref])
				else if (m ~ /zstd/) size = "n/a"
			}
			printf "%-8s %-24s %8.2f %8s %6s %8s %6s %7s %9s %9s %8s %8s %2d/%-2d %-9s %s\n", op, m, best[k], job[k], ratio, arch, size, cpu[k], mb(mm[k] * 1024), mb(mb_[k] * 1024), mb(sp[k]), mb(st[k]), ok[k], total[k], (k in nost ? nost[k] : "-"), (k in rows ? rows[k] : "-")
		}
	}' "$RUNS_TSV"
}

# ---------------------------------------------------------------- floor ------

# bench/floor.py on this shape's database (FLOOR=0 skips it): the server's own
# work for the same data, without pgbackups; "name value" lines in floor.txt
measure_floor() {
	FLOOR_OUT=$SHAPE_DIR/floor.txt
	rm -f "$FLOOR_OUT"
	[ "${FLOOR:-1}" = 1 ] || return 0
	log "$SHAPE_DIR: floor (bench/floor.py)"
	mkdir -p "$SHAPE_DIR/floor"
	chown postgres "$SHAPE_DIR/floor"
	if ! "$PYTHON" "$BENCH_DIR/floor.py" --bin "$PGBIN" --db bench --dir "$SHAPE_DIR/floor" >"$FLOOR_OUT" 2>"$SHAPE_DIR/floor.err"; then
		echo "floor.py failed: $(tail -n 3 "$SHAPE_DIR/floor.err")" >>"$PROBLEMS"
		rm -f "$FLOOR_OUT"
	fi
	rm -rf "$SHAPE_DIR/floor"
}

# the floor lines of the report, with the targets they bound
floor_report() {
	if [ -z "${FLOOR_OUT:-}" ] || [ ! -s "$FLOOR_OUT" ]; then
		echo "floor: not measured (FLOOR=0 or floor.py failed)"
		return
	fi
	awk -F'\t' -v cores="$(nproc)" '
		FILENAME == ARGV[1] { split($0, kv, " "); v[kv[1]] = kv[2]; next }
		$4 == "ok" { k = $1 "|" $2; if (!(k in best) || $5 + 0 < best[k] + 0) best[k] = $5 }
		END {
			print "floor (bench/floor.py: the server alone on the same data, no archive, no large objects, no foreign key checks):"
			printf "  restore: COPY FREEZE of every table in one session %.1f CPU s, then indexes and keys %.1f CPU s;\n", v["load_cpu"], v["post_cpu"]
			printf "           the same in two sessions at once (tables by size): %.2f s wall, %.1f CPU s\n", v["two_sessions_wall"], v["two_sessions_cpu"]
			if ("restore|pg_restore-j2" in best)
				printf "           restore target 0.7 x pg_restore -j2 = %.2f s: %.2f x the two-session floor\n", 0.7 * best["restore|pg_restore-j2"], 0.7 * best["restore|pg_restore-j2"] / v["two_sessions_wall"]
			if ("restore|pg_restore-j2+vacuumdb" in best)
				printf "           ready target 0.6 x (pg_restore -j2 + vacuumdb) = %.2f s: %.2f x the two-session floor (which does not analyze)\n", 0.6 * best["restore|pg_restore-j2+vacuumdb"], 0.6 * best["restore|pg_restore-j2+vacuumdb"] / v["two_sessions_wall"]
			printf "  capture: COPY TO /dev/null of every table %.1f CPU s, zstd -3 of its %d MB of text (one thread) %s CPU s;\n", v["copy_out_cpu"], v["copy_text_bytes"] / 1048576, v["zstd_cpu"]
			if (v["zstd_cpu"] != "-" && ("capture|pg_dump-Fc" in best)) {
				f = (v["copy_out_cpu"] + v["zstd_cpu"]) / cores
				printf "           their sum over %d cores, a bound no capture beats: %.2f s; zstd target 0.25 x pg_dump -Fc = %.2f s: %.2f x that bound\n", cores, f, 0.25 * best["capture|pg_dump-Fc"], 0.25 * best["capture|pg_dump-Fc"] / f
				if (v["zstd_two_cpu"] != "-" && v["zstd_two_cpu"] != "") {
					f2 = (v["copy_two_cpu"] + v["zstd_two_cpu"]) / cores
					printf "           two at once, as two streams run: COPY TO /dev/null in two sessions %.1f CPU s (%.2f s wall), two zstd -3 %.1f CPU s (%.2f s wall);\n", v["copy_two_cpu"], v["copy_two_wall"], v["zstd_two_cpu"], v["zstd_two_wall"]
					printf "           their sum over %d cores, the bound of a two-stream capture here: %.2f s; zstd target: %.2f x that bound\n", cores, f2, 0.25 * best["capture|pg_dump-Fc"] / f2
				}
			}
		}' "$FLOOR_OUT" "$RUNS_TSV"
}

# target METHOD_KEY REF_KEY FACTOR LABEL: MET / NOT MET on the best wall times
target() {
	awk -F'\t' -v m="$1" -v r="$2" -v f="$3" -v label="$4" '
		$4 == "ok" { k = $1 "|" $2; if (!(k in best) || $5 + 0 < best[k] + 0) best[k] = $5 }
		END {
			if (!(m in best) || !(r in best) || best[r] <= 0) { printf "  %-66s UNKNOWN (no completed run)\n", label; exit }
			x = best[m] / best[r]
			printf "  %-66s %-7s %.2f x (%.2fs / %.2fs)\n", label, (x <= f ? "MET" : "NOT MET"), x, best[m], best[r]
		}' "$RUNS_TSV"
}
size_target() { # METHOD_KEY REF_KEY LABEL
	awk -F'\t' -v m="$1" -v r="$2" -v label="$3" '
		$4 == "ok" { k = $1 "|" $2; if (!(k in best) || $5 + 0 < best[k] + 0) { best[k] = $5; b[k] = $7 } }
		END {
			if (!(m in b) || !(r in b) || b[r] <= 0) { printf "  %-66s UNKNOWN (no completed run)\n", label; exit }
			x = b[m] / b[r]
			printf "  %-66s %-7s %.3f x (%d / %d bytes)\n", label, (x <= 1.05 ? "MET" : "NOT MET"), x, b[m], b[r]
		}' "$RUNS_TSV"
}

report_shape() { # shape db_bytes gen_s data_summary load_before load_after measure_s
	local shape=$1 out=$SHAPE_DIR/report.txt
	{
		echo "===== pgbackups performance benchmark (issue 15): shape $shape, SIZE_GB=$SIZE_GB, RUNS=$RUNS, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "pgbackups commit: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_DIR" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'); library loaded at server start: $LIB_AT_START"
		echo "server: $SERVER_VERSION"
		echo "client tools: $("$PGBIN/pg_dump" --version), $PGBIN"
		echo "host: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo) RAM"
		echo "cluster: shared_buffers 512MB, maintenance_work_mem 256MB, fsync off, wal_level minimal, autovacuum off"
		echo "load average (/proc/loadavg) before the measurements: $5"
		echo "load average (/proc/loadavg) after the measurements:  $6"
		echo "other PostgreSQL postmasters on the machine: $(other_postmasters)"
		echo "measurements took ${7}s"
		echo
		echo "data: pg_database_size('bench') = $2 bytes ($(($2 / 1048576)) MB), generated in ${3}s"
		echo "$4"
		echo
		summary
		echo
		echo "targets (issue 15; best wall times):"
		target "capture|pgbackups-gzip-p2" "capture|pg_dump-Fc" 0.6 "capture gzip p2 <= 0.6 x pg_dump -Fc"
		target "capture|pgbackups-gzip-p2" "capture|pg_dump-Fd-j2" 0.8 "capture gzip p2 <= 0.8 x pg_dump -Fd -j2"
		target "capture|pgbackups-zstd-p2" "capture|pg_dump-Fc" 0.25 "capture zstd p2 <= 0.25 x pg_dump -Fc"
		size_target "capture|pgbackups-gzip-p2" "capture|pg_dump-Fc" "archive gzip p2 within 5% of pg_dump -Fc (gzip)"
		if [ "$ZSTD_REF" = 1 ]; then
			size_target "capture|pgbackups-zstd-p2" "capture|pg_dump-Fc-zstd" "archive zstd p2 within 5% of pg_dump -Fc -Z zstd"
		else
			printf '  %-66s n/a (pg_dump %s has no -Z zstd)\n' "archive zstd p2 within 5% of pg_dump -Fc -Z zstd" "$PGMAJOR"
		fi
		target "restore|pgbackups-restore-p2" "restore|pg_restore-j2" 0.7 "restore p2 <= 0.7 x pg_restore -j2"
		target "restore|pgbackups-restore-p2" "restore|pg_restore-j2+vacuumdb" 0.6 "ready for queries: restore p2 <= 0.6 x pg_restore -j2 + vacuumdb"
		local ns
		ns=$(awk -F'\t' '$1 == "restore" && $2 == "pgbackups-restore-p2" && $14 != "-" {v = $14} END {print v}' "$RUNS_TSV")
		if [ -n "$ns" ] && [ "${ns%%/*}" != 0 ]; then
			echo "    but pgbackups' restore left $ns tables without statistics: not ready for queries as the reference is"
		fi
		target "copy|pgbackups-copy-p2" "copy|pg_dump|pg_restore" 0.4 "copy p2 <= 0.4 x pg_dump -Fc | pg_restore"
		echo
		floor_report
		echo
		echo "problems:"
		if [ -s "$PROBLEMS" ]; then cat "$PROBLEMS"; else echo "none"; fi
		echo
		echo "per-phase times of the pgbackups jobs (pgbackups.logs):"
		cat "$LOGS"
		echo
		echo "per run (op, method, run, status, wall s, job s, bytes, CPU s, priv kB, backends kB, spool bytes, staging bytes, rows, no stats, id):"
		cat "$RUNS_TSV"
		echo
		echo "details (sampler output per measurement):"
		cat "$DETAILS"
		echo
	} >"$out"
	mkdir -p "$RESULTS_DIR"
	cp "$out" "$RESULTS_DIR/perf-$DATE-$shape-${SIZE_GB}GB.txt"
	cat "$out" >>"$LATEST"
	cp "$LATEST" "$RESULTS_DIR/perf-latest.txt"
	# the short part on stdout
	sed -n '1,/^per-phase times/p' "$out" | sed '$d'
	sed -n '/^per-phase times/,/^per run /p' "$out" | sed '$d'
}

log "PostgreSQL $PGMAJOR ($PGBIN), shapes ${SHAPES[*]}, SIZE_GB=$SIZE_GB, RUNS=$RUNS; load average $LOAD_BEGIN"
T_ALL0=$(now)
for s in "${SHAPES[@]}"; do run_shape "$s"; done
log "done in $(elapsed "$T_ALL0" "$(now)")s; reports: $RESULTS_DIR/perf-latest.txt, $RESULTS_DIR/perf-$DATE-<shape>-${SIZE_GB}GB.txt"
