#!/bin/bash
# 11_split_tables: large tables copied in parts (ctid ranges read by several
# streams under one snapshot, pgbackups.split_table_size forced small) still
# make exactly one TABLE DATA entry per table, which the real pg_restore reads
# (serially, -j 2 and from a pipe) and pgbackups' own restore reads, for every
# compression: gzip parts are pieces of one zlib stream, lz4 and zstd parts
# frames of their own (pg_restore 16+; on 15 only the engine reads them).
# Tables with TOAST, a dropped column, no columns at all, empty ranges (rows
# deleted), an empty table.  Then a capture under pgbench load: the restored
# database satisfies the TPC-B balance invariant and holds exactly the rows
# of one snapshot (history rows written during the capture are absent).
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CAT=catalog
start_cluster
q postgres "CREATE DATABASE $CAT" >/dev/null
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
SVN=$(q postgres "SHOW server_version_num")
# on 15, lz4/zstd archives (1.15) are read with 18's pg_restore when it was built
PGR18=${PGR18:-/var/cache/pgbackups-pg/18/bin/pg_restore}

# --- the source ---------------------------------------------------------------
q postgres "CREATE DATABASE split" >/dev/null
psql_db split >/dev/null <<'SQL'
CREATE TABLE big (id int PRIMARY KEY, gone text, label text, doc jsonb, blob text);
INSERT INTO big SELECT g, 'x', md5(g::text), jsonb_build_object('g', g, 'sq', g * g),
       CASE WHEN g % 19 = 0 THEN (SELECT string_agg(md5((g * 1000 + i)::text), '') FROM generate_series(1, 200) i) END
  FROM generate_series(1, 40000) g;
ALTER TABLE big DROP COLUMN gone;
-- whole ranges of blocks without a visible row: some parts are empty
DELETE FROM big WHERE id BETWEEN 10001 AND 20000;
CREATE TABLE "Mixed Case" ("a b" int, "c""d" text, e numeric, f bytea, g timestamptz, h int[]);
INSERT INTO "Mixed Case" SELECT g, 'tab' || E'\t' || g || E'\n' || 'line', g / 7.0, decode(md5(g::text), 'hex'),
       '2026-01-01'::timestamptz + g * interval '1 minute', ARRAY[g, -g]
  FROM generate_series(1, 20000) g;
CREATE TABLE nocols ();
INSERT INTO nocols SELECT FROM generate_series(1, 5000);
CREATE TABLE gen (a int, b int GENERATED ALWAYS AS (a * 2) STORED);
INSERT INTO gen (a) SELECT generate_series(1, 20000);
CREATE TABLE empty (a int);
CREATE TABLE small (a int);
INSERT INTO small VALUES (1), (2);
SQL
blocks() { q split "SELECT pg_relation_size('$1') / current_setting('block_size')::int"; }
# the heap's and its TOAST table's blocks: what a table's number of parts counts
data_blocks() { q split "SELECT (pg_relation_size(c.oid) + coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0)) / current_setting('block_size')::int FROM pg_class c WHERE c.oid = '$1'::regclass"; }
log "heap blocks: big $(blocks big) (with TOAST: $(data_blocks big)), Mixed Case $(blocks '"Mixed Case"'), nocols $(blocks nocols), gen $(blocks gen)"

# 16 blocks (128 kB) per part
set_conf pgbackups.split_table_size 16
# an autovacuum ANALYZE in the staging database while the parts load holds
# the xmin horizon back, and the restore's VACUUM (FREEZE) then leaves rows
# newer than it unfrozen (README, Known limits): the freeze checks below
# need no autovacuum running
set_conf autovacuum off
check_eq "split_table_size in blocks" "$(q postgres "SELECT setting || ' ' || unit FROM pg_settings WHERE name = 'pgbackups.split_table_size'")" "16 8kB"

# TABLE DATA entries of an archive, one line each: "schema name"
table_data_entries() {
	pg_restore -l "$1" | grep ' TABLE DATA ' | sed -E 's/^[0-9]+; [0-9]+ [0-9]+ TABLE DATA //; s/ [^ ]+$//' | sort
}

if [ "$SVN" -ge 160000 ]; then COMPS="none gzip lz4 zstd"; else COMPS="none gzip gzip:1 lz4 zstd"; fi
for comp in $COMPS; do
	tag=${comp//:/_}
	try_sql $CAT "SELECT pgbackups.capture(database => 'split', wait => true, compression => '$comp', parallel => 2)"
	if [ "$TRY_STATE" != OK ]; then
		fail "$comp: capture failed: $TRY_STATE $TRY_MSG"
		continue
	fi
	id=$TRY_OUT
	check_eq "$comp: $id completed" "$(backup_field $CAT "$id" status)" completed
	arch=$(archive_path $CAT "$id")
	logs=$(q $CAT "SELECT string_agg(message, E'\n' ORDER BY logged_at) FROM pgbackups.logs('$id')")
	nparts_big=$(sed -n 's/^table public\.big: \([0-9]*\) parts .*/\1/p' <<<"$logs")
	want_big=$(($(data_blocks big) / 16 + ($(data_blocks big) % 16 > 0)))
	[ "$want_big" -gt "$(blocks big)" ] && want_big=$(blocks big)
	check_eq "$comp: the log says big was copied in ceil((heap + TOAST blocks)/16) parts, at most one per heap block" "$nparts_big" "$want_big"
	check "$comp: Mixed Case was split too" grep -q 'public\."Mixed Case": [0-9]* parts' <<<"$logs"
	check "$comp: nocols (no columns) was split too" grep -q 'public\.nocols: 2 parts' <<<"$logs"
	check "$comp: two streams ran" grep -q 'over 2 streams' <<<"$logs"
	if grep -q 'public\.small: ' <<<"$logs"; then fail "$comp: a 1-block table was split"; else pass "$comp: small tables stay whole"; fi

	table_rows=$(q $CAT "SELECT table_rows->>'public.big' FROM pgbackups.backups WHERE id = '$id'")
	check_eq "$comp: table_rows of big = its rows" "$table_rows" "$(q split "SELECT count(*) FROM big")"

	PGR=pg_restore
	if [ "$SVN" -lt 160000 ] && { [ "$comp" = lz4 ] || [ "$comp" = zstd ]; } && [ -x "$PGR18" ]; then
		PGR=$PGR18
		log "$comp: archive version 1.15 read with $PGR18 (pg_restore $((SVN / 10000)) cannot)"
	elif [ "$SVN" -lt 160000 ] && { [ "$comp" = lz4 ] || [ "$comp" = zstd ]; }; then
		skip "$comp: pg_restore of the archive" "pg_restore $((SVN / 10000)) cannot read archive version 1.15 (lz4/zstd); the engine reads it below"
	else
		PATH=$(dirname "$(command -v "$PGR")"):$PATH table_data_entries "$arch" >"$TESTDIR/$tag.entries"
		check_eq "$comp: one TABLE DATA entry per table" "$(tr '\n' ',' <"$TESTDIR/$tag.entries")" \
			'public Mixed Case,public big,public empty,public gen,public nocols,public small,'
		PATH=$(dirname "$(command -v "$PGR")"):$PATH restore_into "$comp serial" "$arch" "pr_${tag}_1" &&
			compare_dbs "$comp: pg_restore serial" split "pr_${tag}_1"
		PATH=$(dirname "$(command -v "$PGR")"):$PATH restore_into "$comp -j 2" "$arch" "pr_${tag}_j" -j 2 &&
			compare_dbs "$comp: pg_restore -j 2" split "pr_${tag}_j"
		# shellcheck disable=SC2002
		cat "$arch" | PATH=$(dirname "$(command -v "$PGR")"):$PATH restore_into "$comp pipe" - "pr_${tag}_p" &&
			compare_dbs "$comp: pg_restore from a pipe" split "pr_${tag}_p"
	fi
	q postgres "CREATE DATABASE \"en_$tag\"" >/dev/null
	try_sql $CAT "SELECT pgbackups.restore('$id', target => 'en_$tag', confirm => 'en_$tag', parallel => 2, wait => true)"
	if [ "$TRY_STATE" = OK ]; then
		rid=$TRY_OUT
		check_eq "$comp: restore $rid completed" "$(job_field $CAT "$rid" status)" completed
		compare_dbs "$comp: pgbackups restore" split "en_$tag"
		# the tables captured in parts were loaded in parts, then frozen
		nsplit=$(grep -c ' parts of [0-9]* blocks' <<<"$logs")
		rlogs=$(q $CAT "SELECT string_agg(message, E'\n' ORDER BY logged_at) FROM pgbackups.logs('$rid')")
		# with wal_level minimal the split tables that are not the bulk of the
		# archive load whole (no WAL for their rows); big, most of the data,
		# stays in parts
		nwhole=$(sed -n 's/^\([0-9]*\) tables\{0,1\} split in the archive loaded whole, each in one transaction.*/\1/p' <<<"$rlogs")
		if [ "$(q postgres "SHOW wal_level")" = minimal ]; then
			check "$comp: wal_level minimal: some split tables loaded whole (${nwhole:-none} of $nsplit), big in parts" \
				test "${nwhole:-0}" -ge 1 -a "${nwhole:-0}" -lt "$nsplit"
		else
			check_eq "$comp: wal_level $(q postgres "SHOW wal_level"): every split table loaded in parts" "${nwhole:-0}" 0
		fi
		nparts=$((nsplit - ${nwhole:-0}))
		check "$comp: the restore loaded the other $nparts split tables in parts and froze them" \
			grep -Eq "vacuum freeze: $nparts tables? loaded in parts by several workers" <<<"$rlogs"
		# every table, the ones loaded in parts included, with its rows frozen as inserted
		check "$comp: every table loaded with COPY FREEZE, the parts too ($(grep -o 'data: [0-9]* tables, [0-9]* rows, [0-9]* loaded with COPY FREEZE' <<<"$rlogs"))" \
			grep -Eq '^data: ([0-9]+) tables, [0-9]+ rows, \1 loaded with COPY FREEZE' <<<"$rlogs"
		q "en_$tag" "CREATE EXTENSION IF NOT EXISTS pg_visibility" >/dev/null
		for t in big '"Mixed Case"' nocols gen; do
			# pages a bulk extension added and no row reached stay new (no tuple,
			# nothing to freeze; VACUUM leaves them as they are)
			check_eq "$comp: $t: every page holding rows is all-frozen (pg_visibility_map)" \
				"$(q "en_$tag" "SELECT count(*) FROM pg_visibility_map('$t') v WHERE NOT v.all_frozen AND v.blkno IN (SELECT DISTINCT (ctid::text::point)[0]::bigint FROM $t)")" 0
			check_eq "$comp: $t: no tuple needs freezing (pg_check_frozen)" \
				"$(q "en_$tag" "SELECT count(*) FROM pg_check_frozen('$t')")" 0
		done
	else
		fail "$comp: restore failed: $TRY_STATE $TRY_MSG"
	fi
	try_sql $CAT "SELECT result FROM pgbackups.verify('$id')"
	check_eq "$comp: verify() reads every part" "$TRY_STATE $TRY_OUT" "OK ok"

	# a part's offset that is not where a part starts: the restore fails with
	# XX001 and the target stays as it was (a copy restored by URL: no SHA-256
	# stands in the way)
	if [ "$tag" = gzip ] || [ "$tag" = none ]; then
		bad="$TESTDIR/bad_parts_$tag.dump"
		python3 - "$arch" "$bad" <<'PY'
import sys
data = bytearray(open(sys.argv[1], 'rb').read())
note = b'-- pgbackups data in parts at:'
# big's note (the bulk of the data: loaded in parts), before its COPY
at = data.rindex(note, 0, data.index(b'COPY public.big (')) + len(note) + 21 + 1  # the second offset's digits
old = int(data[at:at + 20])
data[at:at + 20] = b'%020d' % (old + 1)
open(sys.argv[2], 'wb').write(data)
PY
		q postgres "CREATE DATABASE \"bad_$tag\"" >/dev/null
		q "bad_$tag" "CREATE TABLE keep (a int); INSERT INTO keep VALUES (42)" >/dev/null
		expect_sqlstate "$comp: a part offset off a chunk boundary" $CAT XX001 \
			"SELECT pgbackups.restore_from_url('file://$bad', target => 'bad_$tag', confirm => 'bad_$tag', parallel => 2, wait => true)"
		check_eq "$comp: the target of the failed restore is as it was" "$(q "bad_$tag" "SELECT string_agg(a::text, ',') FROM keep")" 42
	fi
done

# --- one snapshot under load --------------------------------------------------
q postgres "CREATE DATABASE bank" >/dev/null
pgbench -i -s 2 -q bank >/dev/null 2>&1 || die "pgbench -i failed"
psql_db bank >/dev/null <<'SQL'
CREATE TABLE churn (id bigserial PRIMARY KEY, v int);
INSERT INTO churn (v) SELECT g FROM generate_series(1, 1000) g;
SQL
cat >"$TESTDIR/tx.sql" <<'SQL'
\set aid random(1, 100000 * :scale)
\set bid random(1, 1 * :scale)
\set tid random(1, 10 * :scale)
\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
DELETE FROM churn WHERE id = (SELECT min(id) FROM churn);
INSERT INTO churn (v) VALUES (:delta);
END;
SQL
invariant() {
	q "$1" "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches)
	           AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(bbalance) FROM pgbench_branches)
	           AND (SELECT coalesce(sum(delta), 0) FROM pgbench_history) = (SELECT sum(bbalance) FROM pgbench_branches)
	           AND (SELECT count(*) FROM churn) = 1000"
}
set_conf pgbackups.split_table_size 64
pgbench -n -c 2 -T 600 -f "$TESTDIR/tx.sql" bank >"$TESTDIR/pgbench.log" 2>&1 &
PGBENCH_PID=$!
track_bg $PGBENCH_PID
wait_for bank "SELECT count(*) >= 200 FROM pgbench_history" 60 || fail "pgbench wrote no history"
before=$(q bank "SELECT count(*) FROM pgbench_history")
try_sql $CAT "SELECT pgbackups.capture(database => 'bank', wait => true, compression => 'gzip', parallel => 2)"
BID=$TRY_OUT
after=$(q bank "SELECT count(*) FROM pgbench_history")
kill "$PGBENCH_PID" 2>/dev/null
wait "$PGBENCH_PID" 2>/dev/null || true
check_eq "load: capture $BID completed" "$TRY_STATE $(backup_field $CAT "$BID" status)" "OK completed"
check "load: pgbench_accounts was split" grep -q 'public\.pgbench_accounts: [0-9]* parts' \
	<<<"$(q $CAT "SELECT string_agg(message, E'\n') FROM pgbackups.logs('$BID')")"
q postgres "CREATE DATABASE bank_r" >/dev/null
try_sql $CAT "SELECT pgbackups.restore('$BID', target => 'bank_r', confirm => 'bank_r', parallel => 2, wait => true)"
check_eq "load: restore completed" "$TRY_STATE" OK
check_eq "load: the restored database keeps the balance invariant" "$(invariant bank_r)" t
check_eq "load: the source keeps it too" "$(invariant bank)" t
got=$(q bank_r "SELECT count(*) FROM pgbench_history")
check_eq "load: history rows = table_rows recorded" "$got" "$(q $CAT "SELECT table_rows->>'public.pgbench_history' FROM pgbackups.backups WHERE id = '$BID'")"
log "load: history rows before the capture $before, in the backup $got, after the capture $after"
check "load: the backup holds rows written after the capture started ($got >= $before)" test "$got" -ge "$before"
check "load: rows written during the capture are not in it ($got < $after)" test "$got" -lt "$after"
restore_into "load: pg_restore -j 2" "$(archive_path $CAT "$BID")" bank_pr -j 2 &&
	check_eq "load: pg_restore's copy keeps the invariant and equals ours" \
		"$(invariant bank_pr) $(data_digest bank_pr | md5sum)" "t $(data_digest bank_r | md5sum)"

finish
