#!/bin/bash
# test/e2e/92_statistics.sh: planner statistics travel with a backup on
# PostgreSQL 18 and later (pg_dump --statistics, pgbackups.statistics on by
# default): right after a restore, the target has the source's pg_class
# reltuples/relpages and pg_stats rows for every column, without an ANALYZE;
# with pgbackups.statistics = off the restore's own ANALYZE makes them.  The
# server's own pg_restore loads the same statistics from a pgbackups archive.
# Before 18 there is nothing to test: one skip.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# no autovacuum: an ANALYZE of the restored tables would make the check pass
# by itself
EXTRA_CONF="autovacuum = off" start_cluster
if [ "$(q postgres "SHOW server_version_num")" -lt 180000 ]; then
	skip "statistics in backups" "PostgreSQL $(q postgres "SHOW server_version") has no pg_dump --statistics (18+)"
	finish
fi

q postgres "CREATE DATABASE st_src" >/dev/null
q postgres "CREATE DATABASE st_off" >/dev/null
for db in st_src st_off; do
	q "$db" "CREATE EXTENSION pgbackups" >/dev/null
	psql_db "$db" >/dev/null <<'SQL'
CREATE TABLE items (id int PRIMARY KEY, kind text, price numeric, tags text[]);
INSERT INTO items SELECT g, 'kind ' || (g % 7), g * 1.5, ARRAY['t' || (g % 3)]
  FROM generate_series(1, 20000) g;
CREATE INDEX items_kind ON items (kind);
CREATE TABLE notes (id int, body text);
INSERT INTO notes SELECT g, repeat('x', g % 50) FROM generate_series(1, 3000) g;
ANALYZE;
SQL
done

# the statistics a restore should reproduce: pg_class and pg_stats
stats_of() {
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT 'class ' || relname || ' ' || reltuples || ' ' || relpages
  FROM pg_class WHERE relname IN ('items', 'notes', 'items_pkey', 'items_kind') ORDER BY relname;
SELECT 'stats ' || tablename || '.' || attname || ' null_frac=' || null_frac ||
       ' n_distinct=' || n_distinct || ' width=' || avg_width ||
       ' mcv=' || coalesce(most_common_vals::text, '-') ||
       ' hist=' || coalesce(md5(histogram_bounds::text), '-')
  FROM pg_stats WHERE schemaname = 'public' ORDER BY tablename, attname;
SQL
}
nstats() { q "$1" "SELECT count(*) FROM pg_stats WHERE schemaname = 'public'"; }

# statistics on (the default)
check_eq "pgbackups.statistics is on by default" "$(q st_src "SHOW pgbackups.statistics")" "on"
id=$(q st_src "SELECT pgbackups.capture(wait => true)")
check_eq "capture $id completed" "$(q st_src "SELECT status FROM pgbackups.backups WHERE id = '$id'")" completed
arch=$(archive_path st_src "$id")
n_entries=$(pg_restore -l "$arch" | grep -c 'STATISTICS DATA' || true)
check "the archive has STATISTICS DATA entries (pg_restore -l: $n_entries)" test "$n_entries" -ge 4

q postgres "CREATE DATABASE st_dst" >/dev/null
q st_src "SELECT pgbackups.restore('$id', target => 'st_dst', confirm => 'st_dst', wait => true)" >/dev/null
check_eq "st_dst: 6 columns have pg_stats rows right after the restore" "$(nstats st_dst)" 6
stats_of st_src >"$TESTDIR/src.stats"
stats_of st_dst >"$TESTDIR/dst.stats"
if diff -u "$TESTDIR/src.stats" "$TESTDIR/dst.stats" >"$TESTDIR/stats.diff"; then
	pass "st_dst: reltuples, relpages and pg_stats ($(wc -l <"$TESTDIR/src.stats") lines) equal the source's"
else
	fail "st_dst: statistics differ from the source's"
	head -n 30 "$TESTDIR/stats.diff"
fi
check_eq "st_dst: no ANALYZE ran (last_analyze is null)" \
	"$(q st_dst "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL")" 0
# the plan uses them: a row estimate from the restored histogram
check "st_dst: the planner's estimate for kind = 'kind 3' comes from the statistics (about 20000/7 rows)" \
	bash -c "psql -X -At -d st_dst -c \"EXPLAIN SELECT * FROM items WHERE kind = 'kind 3'\" | grep -Eq 'rows=(2[6-9][0-9][0-9]|30[0-9][0-9])'"

# the server's own pg_restore loads them from the same archive
restore_into "pg_restore of the pgbackups archive" "$arch" st_oracle
check_eq "st_oracle: pg_restore loaded the same pg_stats rows" "$(nstats st_oracle)" 6

# statistics off
q postgres "ALTER SYSTEM SET pgbackups.statistics = off" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
wait_for st_off "SELECT current_setting('pgbackups.statistics') = 'off'" 30
id2=$(q st_off "SELECT pgbackups.capture(wait => true)")
check_eq "capture $id2 (statistics off) completed" "$(q st_off "SELECT status FROM pgbackups.backups WHERE id = '$id2'")" completed
n2=$(pg_restore -l "$(archive_path st_off "$id2")" | grep -c 'STATISTICS DATA' || true)
check_eq "statistics off: the archive has no STATISTICS DATA entry" "$n2" 0
q postgres "CREATE DATABASE st_dst2" >/dev/null
q st_off "SELECT pgbackups.restore('$id2', target => 'st_dst2', confirm => 'st_dst2', wait => true)" >/dev/null
# without archived statistics the restore analyzes the tables itself
# (pgbackups.restore_analyze, on by default): the statistics are ANALYZE's
check_eq "statistics off: the restore's ANALYZE ran on both tables (last_analyze set)" \
	"$(q st_dst2 "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")" 2
check_eq "statistics off: st_dst2 has pg_stats rows from that ANALYZE" "$(nstats st_dst2)" 6
check_eq "statistics off: the data is all there" "$(q st_dst2 "SELECT count(*) FROM items") $(q st_dst2 "SELECT count(*) FROM notes")" "20000 3000"

finish
