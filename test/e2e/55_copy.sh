#!/bin/bash
# 55_copy: pgbackups.copy(source, target, confirm).  A copy of test/data/rich.sql
# (parallel 1 and 4, source by name and as postgres:// and postgresql:// URLs
# over the unix socket) equals pg_dump | pg_restore --no-owner --no-acl of the
# source (schema and data digests) and holds the source's data; copies are
# recorded c001, c002... with tables and rows; a password in a source URL is
# never recorded; onto itself (by name or by URL), a confirm mismatch (22023)
# and a target URL (0A000) are refused; a copy killed with kill -9 or canceled
# midway leaves the target as it was; a copy taken while pgbench writes to the
# source is one consistent snapshot.  Copies stream: the rows are read at the
# source by the restore's workers (the temporary archive holds the schema and
# large objects only; binary COPY for tables of built-in types, text for the
# others), a large table in ctid ranges loaded side by side
# (pgbackups.split_table_size forced small, under pgbench), and the source's
# snapshot is released when the rows are loaded (no pgbackups session left on
# the source after a copy).  A copy's temporary archive (kept aside at its
# "captured" fault point) given to restore_from_url is refused with XX001
# before anything changes.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120} # seconds for one copy call

ROWS_BIG=${ROWS_BIG:-20000}
BIG_ROWS=${BIG_ROWS:-700000}
SCALE=${PGBENCH_SCALE:-5}
DURATION=${PGBENCH_SECONDS:-20}
CAT="cat"

start_cluster
q postgres "CREATE DATABASE $CAT" >/dev/null
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
W=$TESTDIR/copy
mkdir -p "$W"

q postgres "CREATE DATABASE rich" >/dev/null
log "loading test/data/rich.sql into rich (ROWS_BIG=$ROWS_BIG)"
psql_db rich -v ROWS_BIG="$ROWS_BIG" <"$LIB_DIR/data/rich.sql" >/dev/null
pg_dump -Fc -d rich -f "$W/rich.dump"
restore_into "oracle: pg_dump | pg_restore --no-owner --no-acl" "$W/rich.dump" o_rich --no-acl
RICH_ROWS=$(table_rows_total rich | awk '{ s += $1 } END { print s }')
RICH_TABLES=$(pg_restore -l "$W/rich.dump" | grep -c ' TABLE DATA ')
log "rich: $RICH_TABLES TABLE DATA entries, $RICH_ROWS rows"
{
	schema_text rich
	data_digest rich
} >"$W/rich.schema_data"

# data digest without the ACL column of large objects (a copy, like
# pg_restore --no-acl, does not carry ACLs)
data_noacl() { data_digest "$1" | awk -F'|' -v OFS='|' '$1 == "large object" { $4 = "" } { print }'; }

LAST_CID=""
CID=""
# run_copy LABEL TARGET CALL: SELECT CALL (with wait => true); checks the id
# and the catalog row; sets CID
run_copy() {
	local label=$1 target=$2 call=$3 t0=$SECONDS
	CID=""
	try_sql $CAT "SELECT $call"
	if [ "$TRY_STATE" != OK ]; then
		fail "$label: $call failed: $TRY_STATE $TRY_MSG"
		server_up 60 || die "the server is not up"
		return 1
	fi
	CID=$TRY_OUT
	if [[ $CID =~ ^c[0-9]{3,}$ ]] && { { [ -z "$LAST_CID" ] && [ "$CID" = c001 ]; } || { [ -n "$LAST_CID" ] && [ $((10#${CID#c})) -gt $((10#${LAST_CID#c})) ]; }; }; then
		pass "$label: returned copy id $CID"
	else
		fail "$label: returned [$CID], want a new id c### after [${LAST_CID:-none}] (the first c001)"
	fi
	LAST_CID=$CID
	check_eq "$label: $CID is completed with its target recorded" \
		"$(job_field $CAT "$CID" "status || ' ' || target || ' ' || (finished_at >= started_at)::text")" "completed $target true"
	log "$label: $(describe_job $CAT "$CID") in $((SECONDS - t0)) s"
}

# === copies of rich ==========================================================================
URL_PQ="postgresql:///rich?host=$PGHOST&port=$PGPORT&user=postgres"
URL_PG="postgres://postgres@/rich?host=$PGHOST&port=$PGPORT"
URL_PW="postgresql://postgres:s3cr3t-pw@/rich?host=$PGHOST&port=$PGPORT"
for v in "name 1 rich" "name 4 rich" "postgresql-url 2 $URL_PQ" "postgres-url 2 $URL_PG" "password-url 1 $URL_PW"; do
	read -r kind par src <<<"$v"
	tgt="c_${kind//-/_}_p$par"
	q postgres "CREATE DATABASE $tgt" >/dev/null
	q "$tgt" "CREATE TABLE old_stuff AS SELECT 1 AS x" >/dev/null
	if run_copy "copy ($kind, parallel $par)" "$tgt" "pgbackups.copy('$src', '$tgt', '$tgt', parallel => $par, wait => true)"; then
		compare_dbs "copy ($kind, parallel $par) vs pg_dump | pg_restore --no-owner --no-acl" o_rich "$tgt"
		check "copy ($kind, parallel $par): data = the source's (large object ACLs aside)" diff -q <(data_noacl rich) <(data_noacl "$tgt")
		check_eq "copy ($kind, parallel $par): what the target held before is gone" "$(q "$tgt" "SELECT to_regclass('public.old_stuff') IS NULL")" t
		check_eq "copy ($kind, parallel $par): parallel, tables and rows recorded" "$(job_field $CAT "$CID" "parallel || ' ' || tables || ' ' || rows")" "$par $RICH_TABLES $RICH_ROWS"
		check_eq "copy ($kind, parallel $par): the rows were streamed from the source (no data in the temporary archive), its snapshot released after" \
			"$(q $CAT "SELECT count(*) FILTER (WHERE message LIKE 'leaving the data of % tables % at the source for the restore''s workers%') || ' ' || count(*) FILTER (WHERE message = 'every table''s rows read at the source; its snapshot released') FROM pgbackups.logs('$CID')")" "1 1"
		# binary COPY for tables of built-in types only (same server, same
		# encoding); rich has tables of enums, domains and composites: text
		read -r nloads nbinary <<<"$(q $CAT "SELECT substring(message from 'read at the source: ([0-9]+) loads') || ' ' || substring(message from ', ([0-9]+) of them in binary') FROM pgbackups.logs('$CID') WHERE message LIKE 'rows read at the source: %'")"
		check "copy ($kind, parallel $par): some tables read in binary COPY format, the ones with user-defined types as text ($nbinary of $nloads loads in binary)" \
			test "${nbinary:-0}" -gt 0 -a "${nbinary:-0}" -lt "${nloads:-0}"
		if wait_for postgres "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'rich' AND application_name = 'pgbackups'" 30; then
			pass "copy ($kind, parallel $par): no pgbackups session left on the source"
		else
			fail "copy ($kind, parallel $par): pgbackups sessions left on the source: $(q postgres "SELECT string_agg(pid || ' ' || state || ' ' || left(query, 60), '; ') FROM pg_stat_activity WHERE datname = 'rich' AND application_name = 'pgbackups'")"
		fi
		if [ "$kind" = password-url ]; then
			check_eq "copy with a password in the URL: the password is in no catalog row or log line" \
				"$(q $CAT "SELECT count(*) FROM pgbackups.copies c WHERE c::text LIKE '%s3cr3t%'") $(q $CAT "SELECT count(*) FROM pgbackups.logs WHERE message LIKE '%s3cr3t%'")" "0 0"
			check "copy with a password in the URL: not in the server log" bash -c "test -s '$SERVER_LOG' && ! grep -q s3cr3t '$SERVER_LOG'"
		fi
	fi
done
if [ -n "$CID" ]; then
	check_eq "info('$CID') reports the copy" "$(q $CAT "SELECT value FROM pgbackups.info('$CID') WHERE field = 'ID'" 2>&1)" "$CID"
	check "logs('$CID') has lines" test "$(q $CAT "SELECT count(*) FROM pgbackups.logs('$CID')" 2>/dev/null || echo 0)" -gt 0
	check_eq "wait('$CID') of a completed copy" "$(q $CAT "SELECT pgbackups.wait('$CID')" 2>/dev/null)" completed
fi
check "the source is untouched by the copies" diff -q "$W/rich.schema_data" <(schema_text rich; data_digest rich)
check_eq "no staging database left" "$(staging_dbs)" ""

# === refused copies =================================================================================
q postgres "CREATE DATABASE c_refused" >/dev/null
q c_refused "CREATE TABLE keep AS SELECT 7 AS x" >/dev/null
db_fingerprint c_refused >"$W/refused.before"
db_fingerprint rich >"$W/rich.before"
n0=$(q $CAT "SELECT count(*) FROM pgbackups.copies" 2>/dev/null || echo '?')
expect_sqlstate "copy of a database onto itself" $CAT 22023 "SELECT pgbackups.copy('rich', 'rich', 'rich', wait => true)"
expect_sqlstate "copy onto itself through a URL" $CAT 22023 "SELECT pgbackups.copy('postgresql:///c_refused?host=$PGHOST&port=$PGPORT&user=postgres', 'c_refused', 'c_refused', wait => true)"
expect_sqlstate "confirm mismatch" $CAT 22023 "SELECT pgbackups.copy('rich', 'c_refused', 'rich', wait => true)"
expect_sqlstate "confirm NULL" $CAT 22023 "SELECT pgbackups.copy('rich', 'c_refused', NULL, wait => true)"
expect_sqlstate "a target URL" $CAT 0A000 "SELECT pgbackups.copy('rich', 'postgresql:///c_refused?host=$PGHOST&port=$PGPORT', 'postgresql:///c_refused?host=$PGHOST&port=$PGPORT', wait => true)"
check_eq "confirm mismatches record no copy" "$(q $CAT "SELECT count(*) FROM pgbackups.copies WHERE target = 'c_refused' AND source = 'rich'" 2>&1)" 0
log "copies recorded by refused calls: $(q $CAT "SELECT coalesce(string_agg(id || ' ' || status || ' ' || coalesce(error_code, ''), ', '), 'none') FROM pgbackups.copies WHERE status <> 'completed'" 2>&1) (rows before: $n0)"
if db_fingerprint c_refused | diff -u "$W/refused.before" - >"$W/refused.diff"; then
	pass "refused copies leave the target as it was"
else
	fail "refused copies leave the target as it was: $(grep '^[-+][^-+]' "$W/refused.diff" | head -n 6)"
fi
check "refused copies leave the source as it was" diff -q "$W/rich.before" <(db_fingerprint rich)
check_eq "refused copies leave no staging database" "$(staging_dbs)" ""

# === kill -9 and cancel midway =========================================================================
q postgres "CREATE DATABASE bigsrc" >/dev/null
log "bigsrc: $BIG_ROWS rows"
psql_db bigsrc >/dev/null <<SQL
CREATE TABLE public.big (id bigint PRIMARY KEY, a text, b text, c integer);
INSERT INTO public.big SELECT g, md5(g::text), md5((-g)::text) || ' ' || g, g % 1000 FROM generate_series(1, $BIG_ROWS) g;
CREATE INDEX big_b ON public.big (b);
CREATE TABLE public.big2 AS SELECT * FROM public.big WHERE id % 2 = 0;
SQL
q postgres "CREATE DATABASE victim_tpl" >/dev/null
psql_db victim_tpl >/dev/null <<'SQL'
CREATE TABLE public.precious (id integer PRIMARY KEY, v text);
INSERT INTO public.precious SELECT g, 'precious ' || g FROM generate_series(1, 2000) g;
CREATE TABLE public.big (id bigint, note text);
INSERT INTO public.big VALUES (1, 'victim');
SELECT lo_from_bytea(5151, 'victim lo');
SQL
make_victim() {
	q postgres "DROP DATABASE IF EXISTS victim WITH (FORCE)" >/dev/null
	q postgres "CREATE DATABASE victim TEMPLATE victim_tpl" >/dev/null
}
make_victim
q postgres "CHECKPOINT" >/dev/null
db_fingerprint victim >"$W/victim.before"

# after_failure LABEL ID WANT_STATUS WANT_CODE: a killed (57P01: the scheduler
# marks it "interrupted by server restart") or canceled (57014) copy
after_failure() {
	local label=$1 id=$2 want=$3 wantcode=$4
	if wait_for $CAT "SELECT status IN ('failed', 'canceled', 'completed') FROM pgbackups.copies WHERE id = '$id'" 90; then
		check_eq "$label: $id is $want" "$(job_field $CAT "$id" status)" "$want"
	else
		fail "$label: $id did not end within 90 s: $(describe_job $CAT "$id")"
	fi
	log "$label: $(describe_job $CAT "$id")"
	check "$label: an error is recorded" test -n "$(job_field $CAT "$id" error 2>/dev/null)"
	check_eq "$label: error_code" "$(job_field $CAT "$id" error_code 2>/dev/null)" "$wantcode"
	if wait_for postgres "SELECT count(*) = 0 FROM pg_database WHERE datname LIKE 'pgbackups\_%'" 45; then
		pass "$label: no staging database left"
	else
		fail "$label: staging databases left: $(staging_dbs | tr '\n' ' ')"
	fi
	if db_fingerprint victim | diff -u "$W/victim.before" - >"$W/victim.diff"; then
		pass "$label: the target is exactly as it was"
	else
		fail "$label: the target changed: $(head -n 20 "$W/victim.diff")"
		make_victim
	fi
	check "$label: the source is as it was" test "$(q bigsrc "SELECT count(*) FROM public.big")" = "$BIG_ROWS"
}

label="kill -9 of the copy's workers"
if cid=$(q $CAT "SELECT pgbackups.copy('bigsrc', 'victim', 'victim', parallel => 2)" 2>"$W/kill.err"); then
	if wait_loading $CAT "$cid" 20 120; then
		log "$label: $cid staging $(staging_size "$cid") bytes"
		kill_job_workers "$label" || true
		after_failure "$label" "$cid" failed 57P01
	else
		fail "$label: $cid never loaded 20 MB into a staging database: $(describe_job $CAT "$cid")"
		after_failure "$label" "$cid" failed 57P01
	fi
else
	fail "$label: copy() failed: $(cat "$W/kill.err")"
fi
label="cancel of a copy"
if cid=$(q $CAT "SELECT pgbackups.copy('bigsrc', 'victim', 'victim', parallel => 2)" 2>"$W/cancel.err"); then
	if wait_loading $CAT "$cid" 20 120; then
		check_eq "$label: cancel('$cid')" "$(q $CAT "SELECT pgbackups.cancel('$cid')" 2>&1)" "$cid"
		after_failure "$label" "$cid" canceled 57014
	else
		fail "$label: $cid never loaded 20 MB into a staging database: $(describe_job $CAT "$cid")"
		after_failure "$label" "$cid" canceled 57014
	fi
else
	fail "$label: copy() failed: $(cat "$W/cancel.err")"
fi
# === a copy's temporary archive (its rows at the source) restored: refused ===============================
# The copy stops at its "captured" fault point (the archive of the schema is
# written, the rows not read yet); its archive is kept aside and the copy
# canceled.  restore_from_url of that archive must refuse it (XX001) before
# anything changes: without the copy's source its tables would come out empty.
label="a copy's temporary archive given to restore_from_url"
set_conf pgbackups.debug_fault "copy.captured"
pos=$(log_pos)
if cid=$(q $CAT "SELECT pgbackups.copy('bigsrc', 'victim', 'victim', parallel => 2)" 2>"$W/src.err"); then
	if wait_log "$pos" "reached fault point \"copy\.captured\" of job $cid," 120; then
		tmpf=$(find "$PGDATA/pgbackups_tmp" -name "copy-*-$cid.dump" 2>/dev/null | head -n 1)
		if [ -n "$tmpf" ] && cp "$tmpf" "$W/at_source.dump" && chmod 0644 "$W/at_source.dump"; then
			pass "$label: $cid's temporary archive kept aside ($(stat -c %s "$W/at_source.dump") bytes)"
		else
			fail "$label: no temporary archive of $cid under $PGDATA/pgbackups_tmp"
		fi
		set_conf pgbackups.debug_fault ""
		# the fault point waits for its process to end: pg_terminate_backend's
		# FATAL ends it there before it records anything, and the scheduler
		# records the job's end ("job worker exited unexpectedly", XX000)
		leader=$(log_since "$pos" | grep -F "reached fault point \"copy.captured\" of job $cid," | head -n 1 | sed -E 's/.*process ([0-9]+) reached.*/\1/')
		check_eq "$label: pg_terminate_backend of its leader $leader" "$(q postgres "SELECT pg_terminate_backend($leader)" 2>&1)" t
		after_failure "$label: the copy stopped at its fault point" "$cid" failed XX000
		if [ -s "$W/at_source.dump" ]; then
			check "$label: its TABLE DATA entries carry the source note" grep -q -a -- "-- pgbackups data at source: " "$W/at_source.dump"
			expect_sqlstate "$label: refused" $CAT XX001 \
				"SELECT pgbackups.restore_from_url('file://$W/at_source.dump', target => 'victim', confirm => 'victim', wait => true)"
			if db_fingerprint victim | diff -u "$W/victim.before" - >"$W/victim.diff"; then
				pass "$label: the target is exactly as it was"
			else
				fail "$label: the target changed: $(head -n 20 "$W/victim.diff")"
				make_victim
			fi
			check_eq "$label: no staging database left" "$(staging_dbs)" ""
		fi
	else
		fail "$label: $cid never reached its fault point: $(describe_job $CAT "$cid")"
		set_conf pgbackups.debug_fault ""
	fi
else
	fail "$label: copy() failed: $(cat "$W/src.err")"
	set_conf pgbackups.debug_fault ""
fi

label="a good copy into the same target"
if run_copy "$label" victim "pgbackups.copy('bigsrc', 'victim', 'victim', wait => true)"; then
	compare_dbs "$label" bigsrc victim
fi

# === consistency under pgbench =========================================================================
q postgres "CREATE DATABASE benchsrc" >/dev/null
q postgres "CREATE DATABASE benchcopy" >/dev/null
log "pgbench -i -s $SCALE"
pgbench -i -q -s "$SCALE" benchsrc >"$W/pgbench-init.log" 2>&1 || die "pgbench -i failed: $(tail -n 5 "$W/pgbench-init.log")"
pgbench -n -c 4 -j 2 -T "$DURATION" benchsrc >"$W/pgbench.log" 2>&1 &
bench_pid=$!
track_bg "$bench_pid"
wait_for benchsrc "SELECT count(*) > 100 FROM pgbench_history" 30 || die "pgbench wrote nothing: $(cat "$W/pgbench.log")"
h0=$(q benchsrc "SELECT count(*) FROM pgbench_history")
label="copy under pgbench"
# pgbench_accounts (about 1,640 blocks per scale unit) is read in ctid ranges
set_conf pgbackups.split_table_size 1024
if run_copy "$label" benchcopy "pgbackups.copy('benchsrc', 'benchcopy', 'benchcopy', parallel => 2, wait => true)"; then
	h1=$(q benchsrc "SELECT count(*) FROM pgbench_history")
	running=no
	kill -0 "$bench_pid" 2>/dev/null && running=yes
	check_eq "$label: pgbench was still writing when the copy finished" "$running" yes
	read -r sa sb st sd <<<"$(q benchcopy "SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' || (SELECT sum(bbalance) FROM pgbench_branches) || ' ' || (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' || (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")"
	hr=$(q benchcopy "SELECT count(*) FROM pgbench_history")
	log "$label: sum(abalance)=$sa sum(bbalance)=$sb sum(tbalance)=$st sum(delta)=$sd history=$hr (source: $h0 before, $h1 after)"
	check_eq "$label: sum(abalance) = sum(delta)" "$sa" "$sd"
	check_eq "$label: sum(bbalance) = sum(delta)" "$sb" "$sd"
	check_eq "$label: sum(tbalance) = sum(delta)" "$st" "$sd"
	check "$label: history rows lie between the counts before and after ($h0 <= $hr <= $h1)" test "$hr" -ge "$h0" -a "$hr" -le "$h1"
	check_eq "$label: accounts" "$(q benchcopy "SELECT count(*) FROM pgbench_accounts")" $((SCALE * 100000))
	nparts=$(q $CAT "SELECT substring(message from 'pgbench_accounts: ([0-9]+) parts') FROM pgbackups.logs('$CID') WHERE message LIKE 'table public.pgbench_accounts: % parts of %'")
	check "$label: pgbench_accounts was read at the source in ctid ranges ([$nparts] parts, want at least 2)" test "${nparts:-0}" -ge 2
	check_eq "$label: pgbench_accounts was loaded by parts side by side and frozen after" \
		"$(q $CAT "SELECT count(*) > 0 FROM pgbackups.logs('$CID') WHERE message LIKE 'vacuum freeze: % loaded in parts%'")" t
	check_eq "$label: pgbench_accounts (loaded in parts) = the source's at the copy's snapshot: its sum is the tellers' (above) and no id twice" \
		"$(q benchcopy "SELECT count(DISTINCT aid) = count(*) FROM pgbench_accounts")" t
fi
set_conf pgbackups.split_table_size 16384
wait "$bench_pid" || log "pgbench: $(tail -n 3 "$W/pgbench.log")"
check_eq "no staging database left" "$(staging_dbs)" ""

finish
