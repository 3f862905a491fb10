#!/bin/bash
# test/e2e/93_restore_speed.sh: what a restore does for speed and for a
# database ready for queries (issue 15, part 2).  A database with one large
# table (TOAST values, a dropped column, indexes, a foreign key), small
# tables, a range-partitioned table and an empty table is captured without
# planner statistics and restored with parallel 2; then:
#   - every table has the source's rows (count and md5 of the sorted rows,
#     per table: data_digest), and so has pg_restore -j 2 of the same archive;
#   - the large table was loaded with COPY FREEZE: every tuple of it has a
#     frozen xmin (pageinspect: no tuple without HEAP_XMIN_FROZEN), the
#     pages the visibility map marks all-frozen hold no unfrozen tuple
#     (pg_visibility's pg_check_frozen), and nearly all pages are marked;
#   - every table has statistics after the swap (pg_stats rows, pg_class
#     reltuples, pg_stat_user_tables.last_analyze), from the restore's own
#     ANALYZE (autovacuum is off);
#   - the job's log has the phase lines (pre-data, data per table with
#     rows and COPY FREEZE, indexes and constraints with the slowest, analyze,
#     swap) and the index settings;
#   - with pgbackups.restore_analyze = off no ANALYZE runs.
# Timings of both restores are logged for comparison, not asserted.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BIG_ROWS=${BIG_ROWS:-400000}

# no autovacuum: its ANALYZE or VACUUM would make the checks pass by itself
EXTRA_CONF="autovacuum = off
pgbackups.statistics = off" start_cluster
q postgres "CREATE DATABASE sp_src" >/dev/null
q sp_src "CREATE EXTENSION pgbackups" >/dev/null
psql_db sp_src >/dev/null <<SQL
CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(0, 999) g;
CREATE TABLE big (id bigint, gone int, at timestamptz, account int, payload text, doc text);
ALTER TABLE big DROP COLUMN gone;
INSERT INTO big (id, at, account, payload, doc)
SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute', g % 1000,
       md5(g::text) || repeat('p', g % 80),
       CASE WHEN g % 5000 = 0 THEN repeat(md5(g::text), 300) END
  FROM generate_series(1, $BIG_ROWS) g;
ALTER TABLE big ADD PRIMARY KEY (id);
CREATE INDEX big_account ON big (account);
CREATE INDEX big_day ON big ((date_trunc('day', at AT TIME ZONE 'UTC')));
ALTER TABLE big ADD CONSTRAINT big_account_fk FOREIGN KEY (account) REFERENCES accounts (id);
CREATE TABLE small_a (id int PRIMARY KEY, v text);
INSERT INTO small_a SELECT g, repeat('a', g % 20) FROM generate_series(1, 3000) g;
CREATE TABLE small_b (k text PRIMARY KEY, n numeric);
INSERT INTO small_b SELECT 'k' || g, g / 7.0 FROM generate_series(1, 2000) g;
CREATE TABLE parted (id int, part int) PARTITION BY RANGE (part);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (5);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (5) TO (10);
INSERT INTO parted SELECT g, g % 10 FROM generate_series(1, 5000) g;
CREATE TABLE empty_t (id int);
SQL
TABLES="accounts big empty_t parted_1 parted_2 small_a small_b"
NONEMPTY="accounts big parted_1 parted_2 small_a small_b"

id=$(q sp_src "SELECT pgbackups.capture(parallel => 2, wait => true)")
check_eq "capture $id completed" "$(backup_field sp_src "$id" status)" completed
arch=$(archive_path sp_src "$id")
check_eq "the archive carries no statistics (pgbackups.statistics = off)" \
	"$(pg_restore -l "$arch" | grep -c 'STATISTICS DATA' || true)" 0

# --- the restore, and pg_restore -j 2 of the same archive as the reference ---
q postgres "CREATE DATABASE sp_dst" >/dev/null
start=$(date +%s%N)
rid=$(q sp_src "SELECT pgbackups.restore('$id', target => 'sp_dst', confirm => 'sp_dst', parallel => 2, wait => true)")
ms_restore=$((($(date +%s%N) - start) / 1000000))
check_eq "restore $rid completed" "$(job_field sp_src "$rid" status)" completed
start=$(date +%s%N)
restore_into "reference" "$arch" sp_ref -j 2
ms_ref=$((($(date +%s%N) - start) / 1000000))
log "timings: pgbackups restore $ms_restore ms (with ANALYZE), pg_restore -j 2 $ms_ref ms (without)"

data_digest sp_src >"$TESTDIR/src.digest"
data_digest sp_dst >"$TESTDIR/dst.digest"
data_digest sp_ref >"$TESTDIR/ref.digest"
if diff -u "$TESTDIR/src.digest" "$TESTDIR/dst.digest" >"$TESTDIR/dst.diff"; then
	pass "sp_dst: rows (count and md5 per table) equal the source's ($(grep -c '|' "$TESTDIR/src.digest") lines)"
else
	fail "sp_dst: rows differ from the source's"
	head -n 20 "$TESTDIR/dst.diff"
fi
check "pg_restore -j 2 of the same archive has the same rows" cmp -s "$TESTDIR/src.digest" "$TESTDIR/ref.digest"
check_eq "sp_dst: big has $BIG_ROWS rows" "$(q sp_dst "SELECT count(*) FROM big")" "$BIG_ROWS"

# --- COPY FREEZE ---------------------------------------------------------------
if q sp_dst "CREATE EXTENSION pageinspect" >/dev/null 2>&1; then
	read -r ntup nunfrozen <<<"$(q sp_dst "SELECT count(*), count(*) FILTER (WHERE t_infomask & 768 <> 768)
	  FROM generate_series(0, pg_relation_size('big') / 8192 - 1) b,
	       heap_page_items(get_raw_page('big', b::int)) WHERE lp_flags = 1" | tr '|' ' ')"
	check_eq "big: tuples on its pages" "$ntup" "$BIG_ROWS"
	check_eq "big: tuples without a frozen xmin (HEAP_XMIN_FROZEN)" "$nunfrozen" 0
	# a table the restore did not load with FREEZE has them: the check can fail
	q sp_ref "CREATE EXTENSION pageinspect" >/dev/null
	check "pg_restore's big (plain COPY) has tuples without a frozen xmin" test "$(q sp_ref "SELECT count(*)
	  FROM heap_page_items(get_raw_page('big', 0)) WHERE lp_flags = 1 AND t_infomask & 768 <> 768")" -gt 0
else
	skip "big: every tuple frozen" "the pageinspect extension is not installed for this server"
fi
if q sp_dst "CREATE EXTENSION pg_visibility" >/dev/null 2>&1; then
	check_eq "big: pg_check_frozen finds no unfrozen tuple on pages marked all-frozen" \
		"$(q sp_dst "SELECT count(*) FROM pg_check_frozen('big')")" 0
	read -r pages all_frozen <<<"$(q sp_dst "SELECT pg_relation_size('big') / 8192, all_frozen FROM pg_visibility_map_summary('big')" | tr '|' ' ')"
	# COPY FREEZE marks the pages it fills from empty; a page one batch left
	# partly filled and the next completed stays unmarked (its tuples are
	# frozen all the same, checked above)
	check "big: the visibility map marks at least 98% of its pages all-frozen ($all_frozen of $pages)" \
		test $((all_frozen * 100)) -ge $((pages * 98))
	q sp_ref "CREATE EXTENSION pg_visibility" >/dev/null
	check_eq "pg_restore's big: no page marked all-frozen" \
		"$(q sp_ref "SELECT all_frozen FROM pg_visibility_map_summary('big')")" 0
else
	skip "big: visibility map all-frozen" "the pg_visibility extension is not installed for this server"
fi

# --- statistics after the swap --------------------------------------------------
for t in $NONEMPTY; do
	check "sp_dst: $t has pg_stats rows" test "$(q sp_dst "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = '$t'")" -gt 0
done
check_eq "sp_dst: big's reltuples" "$(q sp_dst "SELECT reltuples::bigint FROM pg_class WHERE oid = 'big'::regclass")" "$BIG_ROWS"
check_eq "sp_dst: the tables with last_analyze set" \
	"$(q sp_dst "SELECT string_agg(s.relname, ' ' ORDER BY s.relname) FROM pg_stat_user_tables s
	  JOIN pg_class c ON c.oid = s.relid WHERE c.relkind = 'r' AND s.last_analyze IS NOT NULL")" "$TABLES"
check "sp_dst: the expression index has statistics (ANALYZE ran after the index builds)" \
	test "$(q sp_dst "SELECT count(*) FROM pg_stats WHERE tablename = 'big_day'")" -gt 0
check_eq "reference: pg_restore leaves the tables unanalyzed" \
	"$(q sp_ref "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")" 0

# --- the job's log ----------------------------------------------------------------
q sp_src "SELECT message FROM pgbackups.logs('$rid')" >"$TESTDIR/restore.log"
sed 's/^/    | /' "$TESTDIR/restore.log"
has_line() { grep -Eq "$1" "$TESTDIR/restore.log"; }
check "log: the index builds' settings" has_line '^index builds: maintenance_work_mem [0-9]+ MB and max_parallel_maintenance_workers [0-9]+ per worker$'
check "log: started workers" has_line '^started 2 restore workers'
check "log: pre-data with its time" has_line '^pre-data done: [0-9]+ of [0-9]+ entries in [0-9.]+ s$'
check "log: big's data: rows, time, COPY FREEZE" has_line "^data public\.big: $BIG_ROWS rows, [0-9]+ bytes stored, [0-9.]+ s, COPY FREEZE$"
check "log: partitions loaded with COPY FREEZE" has_line '^data public\.parted_1: 2500 rows, .*, COPY FREEZE$'
check "log: data summary" has_line '^data: 7 tables, [0-9]+ rows, 7 loaded with COPY FREEZE, [0-9.]+ s of worker time, .*slowest: public\.big '
check "log: each index build with its wait" has_line '^INDEX public\.big_account: [0-9.]+ s, started [0-9.]+ s after it could$'
check "log: each constraint" has_line '^FK CONSTRAINT public\.big big_account_fk: [0-9.]+ s, started [0-9.]+ s after it could$'
check "log: index and constraint summary" has_line '^indexes and constraints: 7 built \(4 keys as an index, then attached\), [0-9.]+ s of worker time, .*slowest: '
check "log: data and post-data" has_line '^data and post-data done in [0-9.]+ s: 7 tables, '
check "log: analyze per table" has_line '^analyze public\.big: [0-9.]+ s$'
check "log: analyze summary" has_line '^analyze: 8 tables in [0-9.]+ s \([0-9.]+ s of worker time\), 0 with statistics from the archive; slowest: public\.big '
check "log: phases" has_line '^phases: pre-data [0-9.]+ s, data and post-data [0-9.]+ s, analyze [0-9.]+ s, swap [0-9.]+ s$'
# the empty table's TABLE DATA is loaded (0 rows) with FREEZE too
check "log: the empty table" has_line '^data public\.empty_t: 0 rows, .*COPY FREEZE$'

# --- pgbackups.restore_analyze = off ------------------------------------------
q postgres "ALTER SYSTEM SET pgbackups.restore_analyze = off" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
wait_for sp_src "SELECT current_setting('pgbackups.restore_analyze') = 'off'" 30
q postgres "CREATE DATABASE sp_off" >/dev/null
rid2=$(q sp_src "SELECT pgbackups.restore('$id', target => 'sp_off', confirm => 'sp_off', parallel => 2, wait => true)")
check_eq "restore $rid2 (restore_analyze off) completed" "$(job_field sp_src "$rid2" status)" completed
check_eq "restore_analyze off: the log says so" \
	"$(q sp_src "SELECT count(*) FROM pgbackups.logs('$rid2') WHERE message = 'analyze: skipped (pgbackups.restore_analyze is off)'")" 1
check_eq "restore_analyze off: no table analyzed, no pg_stats rows" \
	"$(q sp_off "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL") $(q sp_off "SELECT count(*) FROM pg_stats WHERE schemaname = 'public'")" "0 0"
data_digest sp_off >"$TESTDIR/off.digest"
check "restore_analyze off: rows equal the source's" cmp -s "$TESTDIR/src.digest" "$TESTDIR/off.digest"

finish
