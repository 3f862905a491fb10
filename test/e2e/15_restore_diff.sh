#!/bin/bash
# 15_restore_diff: pgbackups.restore()/restore_from_url() against the real
# pg_restore.  Every pg_dump 15 fixture restored by the engine equals
# pg_restore --no-owner --no-acl of the same file (schema via pg_dump
# --schema-only, data via per-table digests, large objects); pg_dump 18
# fixtures (which pg_restore 15 cannot read) equal source_schema.sql; captures
# of test/data/rich.sql in gzip/zstd/lz4/none, restored with parallel 1 and 4,
# equal pg_restore's result and (with keep_owner/keep_acl) the source; an
# archive with two TABLE DATA entries for one table never loses rows under
# parallel 4; restore(NULL) takes the latest completed backup; 'db::b001' reads
# another database's catalog; a restore replaces what the target held;
# keep_owner/keep_acl against pg_restore with and without --no-owner/--no-acl,
# and a read-only table (ACLs after data); argument errors (22023, 42704,
# 55000, 3D000) change nothing; archives of many object kinds (ICU collation,
# text search, domain, aggregate, operator, extended statistics, deferrable
# FK, disabled trigger, rule, publication, event trigger, partitions) written
# with pg_dump --inserts, --column-inserts, --load-via-partition-root, -Z 0,
# -n, --quote-all-identifiers, --no-comments, -s, --exclude-table-data equal
# pg_restore's result.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120} # seconds for one restore call

A=$LIB_DIR/data/archives
ROWS_BIG=${ROWS_BIG:-20000}
CAT="cat"

start_cluster
q postgres "CREATE DATABASE $CAT" >/dev/null
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
# the fixtures, readable by the postgres OS user
ARCH=$TESTDIR/archives
mkdir -p "$ARCH"
cp "$A"/*.dump "$ARCH"/
chmod 755 "$ARCH"
chmod 644 "$ARCH"/*.dump
[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$ARCH"

LAST_RID=""
RID=""
# run_restore LABEL TARGET CALL: SELECT CALL in the catalog database (CALL
# must wait => true); checks the id and the catalog row; sets RID
run_restore() {
	local label=$1 target=$2 call=$3 t0=$SECONDS
	RID=""
	try_sql $CAT "SELECT $call"
	if [ "$TRY_STATE" != OK ]; then
		fail "$label: $call failed: $TRY_STATE $TRY_MSG"
		return 1
	fi
	RID=$TRY_OUT
	if [[ $RID =~ ^r[0-9]{3,}$ ]] && { { [ -z "$LAST_RID" ] && [ "$RID" = r001 ]; } || { [ -n "$LAST_RID" ] && [ $((10#${RID#r})) -gt $((10#${LAST_RID#r})) ]; }; }; then
		pass "$label: returned restore id $RID"
	else
		fail "$label: returned [$RID], want a new id r### after [$LAST_RID]"
	fi
	LAST_RID=$RID
	check_eq "$label: $RID is completed with its target recorded" \
		"$(job_field $CAT "$RID" "status || ' ' || target || ' ' || (finished_at >= started_at)::text")" "completed $target true"
	log "$label: $(describe_job $CAT "$RID") in $((SECONDS - t0)) s"
}

# url_restore LABEL FILE TARGET [EXTRA ARGS]: createdb TARGET, restore_from_url
url_restore() {
	local label=$1 file=$2 target=$3 extra=${4:-}
	q postgres "CREATE DATABASE \"$target\"" >/dev/null
	run_restore "$label" "$target" "pgbackups.restore_from_url('file://$file', target => '$target', confirm => '$target', wait => true$extra)"
}

# id_restore LABEL BACKUP TARGET [EXTRA ARGS]: createdb TARGET, restore(BACKUP)
id_restore() {
	local label=$1 backup=$2 target=$3 extra=${4:-}
	q postgres "CREATE DATABASE \"$target\"" >/dev/null
	run_restore "$label" "$target" "pgbackups.restore('$backup', target => '$target', confirm => '$target', wait => true$extra)"
}

no_staging() {
	local left
	left=$(staging_dbs)
	check_eq "$1: no pgbackups_* staging database left" "$left" ""
}

# === 1. pg_dump 15 fixtures: the engine vs pg_restore --no-owner --no-acl =====
for n in pg15_seek pg15_pipe pg15_nocomp pg15_bigoid_lo writer_1.14_gzip; do
	t=${n//./_}
	restore_into "$n oracle" "$ARCH/$n.dump" "b_$t" --no-acl || continue
	if url_restore "$n" "$ARCH/$n.dump" "a_$t"; then
		compare_dbs "$n: engine vs pg_restore" "b_$t" "a_$t"
	fi
done
check_eq "restores without parallel use pgbackups.default_parallel" \
	"$(q $CAT "SELECT string_agg(DISTINCT parallel::text, ',') FROM pgbackups.restores")" "$(q $CAT "SHOW pgbackups.default_parallel")"
check_eq "pg15_bigoid_lo: large objects 1, 2^31 and 3e9 (OIDs as unsigned)" \
	"$(q a_pg15_bigoid_lo "SELECT string_agg(oid::text, ' ' ORDER BY oid) FROM pg_largeobject_metadata" 2>&1)" "1 2147483648 3000000000"
check_eq "pg15_seek: the large object's bytes" \
	"$(q a_pg15_seek "SELECT convert_from(lo_get(424242), 'UTF8')" 2>&1)" "hello large object"
check_eq "pg15_seek: the ACL of the archive is skipped (no keep_acl)" \
	"$(q a_pg15_seek "SELECT relacl IS NULL FROM pg_class WHERE oid = 's1.t'::regclass" 2>&1)" t
no_staging "pg15 fixtures"

# === 2. pg_dump 18 fixtures: the oracle is source_schema.sql ==================
load_source_schema src18
pg_dump -Fc -d src18 -f "$TESTDIR/src18.dump"
restore_into "source_schema.sql oracle" "$TESTDIR/src18.dump" o18 --no-acl
# the oracle is right: the pg_dump 15 fixture holds exactly source_schema.sql
compare_dbs "oracle: pg15_seek fixture = source_schema.sql" o18 b_pg15_seek
# On a server that refuses the pg18 fixtures' pg_attver column option (18;
# its own pg_restore refuses it too) the engine must refuse the archive the
# same way (22023) and leave the target as it was.
attver_ok=1
fixtures_accept_pg_attver || attver_ok=0
for n in pg18_gzip pg18_lz4 pg18_zstd pg18_none pg18_lz4_pipe pg18_stats; do
	if [ "$attver_ok" = 1 ]; then
		if url_restore "$n" "$ARCH/$n.dump" "a_$n"; then
			compare_dbs "$n: engine vs source_schema.sql" o18 "a_$n"
		fi
		continue
	fi
	q postgres "CREATE DATABASE \"a_$n\"" >/dev/null
	q "a_$n" "CREATE TABLE keep_me AS SELECT 7 AS v" >/dev/null
	expect_sqlstate "$n: refused where pg_attver is unknown" $CAT 22023 \
		"SELECT pgbackups.restore_from_url('file://$ARCH/$n.dump', target => 'a_$n', confirm => 'a_$n', wait => true)"
	check_eq "$n: the target kept what it had" "$(q "a_$n" "SELECT string_agg(tablename || '=' || (SELECT v FROM keep_me), ',') FROM pg_tables WHERE schemaname = 'public'")" "keep_me=7"
	q postgres "CREATE DATABASE \"p_$n\"" >/dev/null
	check "$n: the server's own pg_restore refuses it too" \
		bash -c "pg_restore --no-owner --no-acl -e -d 'p_$n' '$ARCH/$n.dump' 2>&1 | grep -q 'unrecognized parameter \"pg_attver\"'"
done
no_staging "pg18 fixtures"

# === 3. two TABLE DATA entries for one table, parallel 4 =====================
restore_into "writer_split_tabledata oracle (serial pg_restore)" "$ARCH/writer_split_tabledata.dump" o_split --no-acl
want=$(q o_split "SELECT count(*) FROM public.w")
log "writer_split_tabledata: serial pg_restore loads $want rows"
check "writer_split_tabledata: both entries' rows are in the serial oracle ($want > 200000)" [ "$want" -gt 200000 ]
data_digest o_split >"$TESTDIR/split.want"
if url_restore "split serial" "$ARCH/writer_split_tabledata.dump" a_split_serial ", parallel => 1"; then
	check_eq "split serial: rows" "$(q a_split_serial "SELECT count(*) FROM public.w")" "$want"
fi
for k in 1 2 3 4 5; do
	if url_restore "split parallel 4 run $k" "$ARCH/writer_split_tabledata.dump" "a_split_p$k" ", parallel => 4"; then
		check_eq "split parallel 4 run $k: rows (the pg_restore -j TRUNCATE hazard)" "$(q "a_split_p$k" "SELECT count(*) FROM public.w")" "$want"
		check_eq "split parallel 4 run $k: parallel recorded" "$(job_field $CAT "$RID" parallel)" 4
		check "split parallel 4 run $k: data digest = serial pg_restore" diff -q "$TESTDIR/split.want" <(data_digest "a_split_p$k")
	fi
done

# === 4. captures of rich.sql ==================================================
q postgres "CREATE DATABASE rich" >/dev/null
log "loading test/data/rich.sql into rich (ROWS_BIG=$ROWS_BIG)"
psql_db rich -v ROWS_BIG="$ROWS_BIG" <"$LIB_DIR/data/rich.sql" >/dev/null
declare -A BID
# the default compression: gzip on 15, zstd on 16 and later
if [ "$(q postgres "SHOW server_version_num")" -ge 160000 ]; then want_default=zstd; else want_default=gzip; fi
for comp in gzip zstd lz4 none; do
	arg=", compression => '$comp'"
	[ "$comp" = "$want_default" ] && arg="" # the default
	if BID[$comp]=$(q $CAT "SELECT pgbackups.capture(database => 'rich', wait => true$arg)" 2>"$TESTDIR/capture.err"); then
		log "capture $comp: $(describe_backup $CAT "${BID[$comp]}")"
	else
		fail "capture $comp failed: $(cat "$TESTDIR/capture.err")"
		unset "BID[$comp]"
	fi
done
if [ -n "${BID[gzip]:-}" ]; then
	check_eq "the default compression is $want_default" "$(backup_field $CAT "${BID[$want_default]}" compression)" "$want_default"
	restore_into "rich oracle (pg_restore --no-owner --no-acl of ${BID[gzip]})" "$(archive_path $CAT "${BID[gzip]}")" o_rich --no-acl
	# the oracle is right: the pg_dump of the source restored the same way
	pg_dump -Fc -d rich -f "$TESTDIR/rich_pgdump.dump"
	restore_into "rich oracle 2 (pg_dump -Fc | pg_restore --no-owner --no-acl)" "$TESTDIR/rich_pgdump.dump" o_rich_pgdump --no-acl
	compare_dbs "oracles agree" o_rich_pgdump o_rich
fi
brows=""
for comp in gzip zstd lz4 none; do
	[ -n "${BID[$comp]:-}" ] || continue
	bid=${BID[$comp]}
	brows=$(backup_field $CAT "$bid" "tables || ' ' || rows")
	for par in 1 4; do
		tgt="r_${comp}_p$par"
		if id_restore "rich $comp parallel $par" "$bid" "$tgt" ", parallel => $par"; then
			compare_dbs "rich $comp parallel $par: engine vs pg_restore" o_rich "$tgt"
			check_eq "rich $comp parallel $par: backup and parallel recorded" "$(job_field $CAT "$RID" "backup || ' ' || parallel")" "$bid $par"
			check_eq "rich $comp parallel $par: tables and rows recorded = the backup's" "$(job_field $CAT "$RID" "tables || ' ' || rows")" "$brows"
		fi
	done
done
if [ -n "${BID[none]:-}" ]; then
	restore_into "rich oracle (pg_restore of the 'none' capture)" "$(archive_path $CAT "${BID[none]}")" o_rich_none --no-acl
	compare_dbs "rich none: pg_restore of the 'none' capture = of the gzip one" o_rich o_rich_none
fi
# keep_owner and keep_acl: equal to the source itself
if [ -n "${BID[gzip]:-}" ]; then
	if id_restore "rich keep_owner keep_acl" "${BID[gzip]}" r_keep ", parallel => 4, keep_owner => true, keep_acl => true"; then
		compare_dbs "rich keep_owner/keep_acl: engine vs the source" rich r_keep
		check_eq "rich keep_owner/keep_acl: recorded" "$(job_field $CAT "$RID" "keep_owner || ' ' || keep_acl")" "true true"
		# info(), logs() and wait() know restore ids
		check_eq "info('$RID') reports the restore" "$(q $CAT "SELECT value FROM pgbackups.info('$RID') WHERE field = 'ID'" 2>&1)" "$RID"
		check "logs('$RID') has lines" test "$(q $CAT "SELECT count(*) FROM pgbackups.logs('$RID')" 2>/dev/null || echo 0)" -gt 0
		check_eq "wait('$RID') of a completed restore" "$(q $CAT "SELECT pgbackups.wait('$RID')" 2>/dev/null)" completed
	fi
fi
no_staging "rich"

# === 5. restore(NULL), db::id, replacing existing content =====================
psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE one;
CREATE DATABASE two;
CREATE DATABASE three;
CREATE DATABASE cat2;
SQL
q one "CREATE TABLE one_t AS SELECT g AS id, 'one' AS src FROM generate_series(1, 111) g" >/dev/null
q two "CREATE TABLE two_t AS SELECT g AS id, 'two' AS src FROM generate_series(1, 222) g; CREATE TABLE locked (i int)" >/dev/null
q three "CREATE TABLE three_t AS SELECT g AS id, 'three' AS src FROM generate_series(1, 333) g" >/dev/null
q cat2 "CREATE EXTENSION pgbackups" >/dev/null
b_one=$(q $CAT "SELECT pgbackups.capture(database => 'one', wait => true)" 2>/dev/null)
b_two=$(q $CAT "SELECT pgbackups.capture(database => 'two', wait => true)" 2>/dev/null)
# a newer backup that is not completed: a capture of two canceled while it
# waits for a lock
locker=""
bg_psql locker two "BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;"
wait_for two "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'locked'::regclass AND granted" 20 || die "no lock"
b_canceled=$(q $CAT "SELECT pgbackups.capture(database => 'two')")
wait_for $CAT "SELECT status = 'running' FROM pgbackups.backups WHERE id = '$b_canceled'" 30 || true
q $CAT "SELECT pgbackups.cancel('$b_canceled')" >/dev/null
check_eq "setup: $b_canceled (newest) is canceled" "$(backup_field $CAT "$b_canceled" status)" canceled
q two "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 'locked'::regclass AND granted" >/dev/null
stop_bg "$locker"
c_three=$(q cat2 "SELECT pgbackups.capture(database => 'three', wait => true)" 2>/dev/null)
log "catalog $CAT: $b_one = one, $b_two = two, $b_canceled canceled; catalog cat2: $c_three = three"

# not completed -> 55000; unknown -> 42704; confirm -> 22023; no target -> 3D000
q postgres "CREATE DATABASE t_args" >/dev/null
q t_args "CREATE TABLE keep_me AS SELECT 1 AS x" >/dev/null
db_fingerprint t_args >"$TESTDIR/t_args.before"
expect_sqlstate "restore of a canceled backup" $CAT 55000 "SELECT pgbackups.restore('$b_canceled', target => 't_args', confirm => 't_args', wait => true)"
expect_sqlstate "restore of an unknown backup" $CAT 42704 "SELECT pgbackups.restore('b999', target => 't_args', confirm => 't_args', wait => true)"
expect_sqlstate "restore of an unknown backup of another catalog" $CAT 42704 "SELECT pgbackups.restore('cat2::b999', target => 't_args', confirm => 't_args', wait => true)"
n_before=$(q $CAT "SELECT count(*) FROM pgbackups.restores" 2>&1 || true)
expect_sqlstate "confirm missing" $CAT 22023 "SELECT pgbackups.restore('$b_one', target => 't_args', wait => true)"
expect_sqlstate "confirm names another database" $CAT 22023 "SELECT pgbackups.restore('$b_one', target => 't_args', confirm => 'one', wait => true)"
expect_sqlstate "confirm of restore_from_url" $CAT 22023 "SELECT pgbackups.restore_from_url('file://$ARCH/pg15_seek.dump', target => 't_args', confirm => 't_arg', wait => true)"
check_eq "a confirm mismatch records no restore (nothing happens)" "$(q $CAT "SELECT count(*) FROM pgbackups.restores" 2>&1 || true)" "$n_before"
expect_sqlstate "target database missing" $CAT 3D000 "SELECT pgbackups.restore('$b_one', target => 'no_such_db', confirm => 'no_such_db', wait => true)"
log "refused restores recorded: $(q $CAT "SELECT coalesce(string_agg(id || ' ' || status || ' ' || error_code, ', '), 'none') FROM pgbackups.restores WHERE status <> 'completed'" 2>&1)"
check "refused restores leave the target as it was" diff -q "$TESTDIR/t_args.before" <(db_fingerprint t_args)

q postgres "CREATE DATABASE t_null" >/dev/null
if run_restore "restore(NULL)" t_null "pgbackups.restore(NULL, target => 't_null', confirm => 't_null', wait => true)"; then
	check_eq "restore(NULL) took the latest completed backup ($b_two, not the canceled $b_canceled)" "$(job_field $CAT "$RID" backup)" "$b_two"
	compare_dbs "restore(NULL)" two t_null
fi
if id_restore "cat2::$c_three" "cat2::$c_three" t_other; then
	compare_dbs "cat2::$c_three is three, not $CAT's $c_three" three t_other
fi

# replacing: everything the target held is gone
q postgres "CREATE DATABASE t_replace" >/dev/null
psql_db t_replace >/dev/null <<'SQL'
CREATE TABLE one_t (id integer, src text, extra text);
INSERT INTO one_t SELECT g, 'old', 'old' FROM generate_series(1, 5000) g;
CREATE TABLE extra_table AS SELECT generate_series(1, 10) AS x;
CREATE SCHEMA extra_schema;
CREATE SEQUENCE extra_schema.s;
CREATE VIEW extra_view AS SELECT 1 AS one;
CREATE FUNCTION extra_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT lo_from_bytea(777, 'extra lo');
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL
t_replace_oid=$(q postgres "SELECT oid FROM pg_database WHERE datname = 't_replace'")
if run_restore "restore over existing content" t_replace "pgbackups.restore('$b_one', target => 't_replace', confirm => 't_replace', wait => true)"; then
	compare_dbs "restore over existing content" one t_replace
	check_eq "extra table, schema, view, function, LO, extension are gone" \
		"$(q t_replace "SELECT to_regclass('extra_table') IS NULL AND to_regnamespace('extra_schema') IS NULL AND to_regclass('extra_view') IS NULL AND to_regproc('extra_fn') IS NULL AND NOT EXISTS (SELECT 1 FROM pg_largeobject_metadata) AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")" t
	check_eq "one_t holds the backup's 111 rows" "$(q t_replace "SELECT count(*) || ' ' || min(src) FROM one_t")" "111 one"
	log "t_replace: database oid $t_replace_oid before, $(q postgres "SELECT oid FROM pg_database WHERE datname = 't_replace'") after (swapped in)"
fi
no_staging "restore(NULL), db::id, replace"

# === 6. keep_owner / keep_acl against pg_restore with/without --no-owner/--no-acl
psql_db postgres >/dev/null <<'SQL'
CREATE ROLE own1 NOLOGIN;
CREATE ROLE grantee1 NOLOGIN;
CREATE ROLE tgtowner LOGIN;
CREATE DATABASE owned;
SQL
psql_db owned >/dev/null <<'SQL'
CREATE SCHEMA s AUTHORIZATION own1;
CREATE TABLE s.t (id serial PRIMARY KEY, v text);
INSERT INTO s.t (v) SELECT 'v' || g FROM generate_series(1, 50) g;
ALTER TABLE s.t OWNER TO own1;
CREATE TABLE public.mine (id int);
INSERT INTO public.mine VALUES (1), (2);
CREATE VIEW s.v AS SELECT id FROM s.t;
ALTER VIEW s.v OWNER TO own1;
CREATE FUNCTION s.f() RETURNS int LANGUAGE sql AS 'SELECT 42';
ALTER FUNCTION s.f() OWNER TO own1;
CREATE TYPE s.colour AS ENUM ('red', 'green');
ALTER TYPE s.colour OWNER TO own1;
GRANT USAGE ON SCHEMA s TO grantee1;
GRANT SELECT, INSERT ON s.t TO grantee1;
GRANT SELECT (id) ON public.mine TO grantee1;
GRANT EXECUTE ON FUNCTION s.f() TO grantee1;
REVOKE EXECUTE ON FUNCTION s.f() FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE own1 IN SCHEMA s GRANT SELECT ON TABLES TO grantee1;
SELECT lo_from_bytea(4242, 'owned lo');
ALTER LARGE OBJECT 4242 OWNER TO own1;
GRANT SELECT ON LARGE OBJECT 4242 TO grantee1;
SQL
b_owned=$(q $CAT "SELECT pgbackups.capture(database => 'owned', wait => true)" 2>/dev/null)
arch_owned=$(archive_path $CAT "$b_owned")
for v in "false false" "true true" "true false" "false true"; do
	read -r ko ka <<<"$v"
	opts=()
	[ "$ko" = true ] || opts+=(--no-owner)
	[ "$ka" = true ] || opts+=(--no-acl)
	tag="o_${ko:0:1}${ka:0:1}"
	q postgres "CREATE DATABASE b_$tag" >/dev/null
	if pg_restore "${opts[@]}" -d "b_$tag" "$arch_owned" 2>"$TESTDIR/$tag.err"; then
		pass "keep_owner=$ko keep_acl=$ka: oracle pg_restore ${opts[*]}"
	else
		fail "keep_owner=$ko keep_acl=$ka: oracle pg_restore ${opts[*]}: $(head -c 500 "$TESTDIR/$tag.err")"
	fi
	if id_restore "keep_owner=$ko keep_acl=$ka" "$b_owned" "a_$tag" ", keep_owner => $ko, keep_acl => $ka"; then
		[ "$tag" != o_tt ] || compare_dbs "keep_owner keep_acl: engine vs the source" owned a_o_tt
		compare_dbs "keep_owner=$ko keep_acl=$ka: engine vs pg_restore ${opts[*]}" "b_$tag" "a_$tag"
		check_eq "keep_owner=$ko keep_acl=$ka: owner of s.t, grants on s.t" \
			"$(q "a_$tag" "SELECT pg_get_userbyid(relowner) || ' ' || (relacl IS NOT NULL)::text FROM pg_class WHERE oid = 's.t'::regclass")" \
			"$([ "$ko" = true ] && echo own1 || echo postgres) $ka"
	fi
done
# a target owned by an ordinary role: objects end up owned by it, as with
# pg_restore --no-owner --no-acl run as that role
q postgres "CREATE DATABASE b_tgtowner OWNER tgtowner" >/dev/null
if pg_restore --no-owner --no-acl -U tgtowner -d b_tgtowner "$arch_owned" 2>"$TESTDIR/tgtowner.err"; then
	pass "oracle: pg_restore --no-owner --no-acl as tgtowner"
else
	fail "oracle: pg_restore as tgtowner: $(head -c 500 "$TESTDIR/tgtowner.err")"
fi
q postgres "CREATE DATABASE a_tgtowner OWNER tgtowner" >/dev/null
if run_restore "target owned by tgtowner" a_tgtowner "pgbackups.restore('$b_owned', target => 'a_tgtowner', confirm => 'a_tgtowner', wait => true)"; then
	compare_dbs "target owned by tgtowner: engine vs pg_restore as tgtowner" b_tgtowner a_tgtowner
	check_eq "target owned by tgtowner: every restored schema, relation, function, type and LO is owned by tgtowner" \
		"$(q a_tgtowner "SELECT string_agg(DISTINCT o, ',') FROM (
			SELECT pg_get_userbyid(nspowner) o FROM pg_namespace WHERE nspname IN ('s')
			UNION ALL SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace IN ('s'::regnamespace, 'public'::regnamespace)
			UNION ALL SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE pronamespace = 's'::regnamespace
			UNION ALL SELECT pg_get_userbyid(typowner) FROM pg_type WHERE typnamespace = 's'::regnamespace
			UNION ALL SELECT pg_get_userbyid(lomowner) FROM pg_largeobject_metadata) x")" tgtowner
	check_eq "target owned by tgtowner: the database keeps its owner" "$(q postgres "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'a_tgtowner'")" tgtowner
fi
no_staging "keep_owner/keep_acl"

# ACLs come after the data: a table whose owner revoked its own INSERT still
# loads with keep_acl (a target owned by an ordinary role, so privileges count)
q postgres "CREATE DATABASE ro_src OWNER tgtowner" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -U tgtowner -d ro_src >/dev/null <<'SQL'
CREATE TABLE public.readonly (id integer, v text);
INSERT INTO public.readonly SELECT g, 'ro ' || g FROM generate_series(1, 100) g;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON public.readonly FROM tgtowner;
SQL
b_ro=$(q $CAT "SELECT pgbackups.capture(database => 'ro_src', wait => true)" 2>/dev/null)
q postgres "CREATE DATABASE a_ro OWNER tgtowner" >/dev/null
if run_restore "read-only table, keep_acl" a_ro "pgbackups.restore('$b_ro', target => 'a_ro', confirm => 'a_ro', keep_acl => true, wait => true)"; then
	compare_dbs "read-only table, keep_acl: engine vs the source" ro_src a_ro
fi

# === 7. pg_dump options and object kinds: the engine vs pg_restore =============================
q postgres "CREATE DATABASE kinds" >/dev/null
psql_db kinds >/dev/null <<'SQL'
CREATE SCHEMA k;
CREATE COLLATION k.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TEXT SEARCH CONFIGURATION k.simple2 (COPY = pg_catalog.simple);
CREATE DOMAIN k.pos AS integer CONSTRAINT pos_ok CHECK (VALUE > 0);
CREATE FUNCTION k.add3(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT a + b + 3';
CREATE AGGREGATE k.sum3(integer) (SFUNC = k.add3, STYPE = integer, INITCOND = '0');
CREATE OPERATOR k.### (LEFTARG = integer, RIGHTARG = integer, FUNCTION = k.add3);
CREATE TABLE k.t (id integer PRIMARY KEY, v k.pos, name text COLLATE k.ci, doc tsvector);
INSERT INTO k.t SELECT g, g, 'Name ' || g, to_tsvector('simple', 'word' || g) FROM generate_series(1, 500) g;
ALTER TABLE k.t REPLICA IDENTITY FULL;
CREATE STATISTICS k.t_stats (dependencies) ON id, v FROM k.t;
CREATE INDEX t_doc ON k.t USING gin (doc);
CREATE INDEX t_partial ON k.t (v) WHERE v > 100;
CREATE TABLE k.child (id integer REFERENCES k.t (id) DEFERRABLE INITIALLY DEFERRED, n integer);
INSERT INTO k.child SELECT g, g FROM generate_series(1, 300) g;
CREATE FUNCTION k.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.n := NEW.n * 2; RETURN NEW; END $$;
CREATE TRIGGER child_double BEFORE INSERT ON k.child FOR EACH ROW EXECUTE FUNCTION k.trg();
ALTER TABLE k.child DISABLE TRIGGER child_double;
CREATE RULE child_log AS ON DELETE TO k.child DO ALSO NOTHING;
CREATE PUBLICATION pub_k FOR TABLE k.t;
CREATE FUNCTION k.evt() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;
CREATE EVENT TRIGGER k_evt ON ddl_command_end EXECUTE FUNCTION k.evt();
CREATE MATERIALIZED VIEW k.mv AS SELECT count(*) AS n, k.sum3(v) AS s FROM k.t;
CREATE VIEW k.v AS SELECT id, id OPERATOR(k.###) 1 AS plus FROM k.t;
COMMENT ON TABLE k.t IS 'kinds';
COMMENT ON COLUMN k.t.v IS 'positive';
CREATE TABLE k.parted (id integer, at date) PARTITION BY RANGE (at);
CREATE TABLE k.parted_a PARTITION OF k.parted FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE k.parted_b PARTITION OF k.parted FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
INSERT INTO k.parted SELECT g, DATE '2020-01-01' + g FROM generate_series(0, 700) g;
CREATE SEQUENCE k.s START 77 CYCLE MAXVALUE 1000;
SELECT setval('k.s', 500);
SQL
for v in "default|" "inserts|--inserts" "column_inserts|--column-inserts --rows-per-insert=37" \
	"root|--load-via-partition-root" "z0|-Z 0" "only_k|-n k" "quote_all|--quote-all-identifiers" \
	"no_comments|--no-comments --no-publications" "schema_only|-s" "no_data_child|--exclude-table-data=k.child"; do
	IFS='|' read -r tag opts <<<"$v"
	# shellcheck disable=SC2086
	pg_dump -Fc $opts -d kinds -f "$ARCH/kinds_$tag.dump"
	chmod 644 "$ARCH/kinds_$tag.dump"
	[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$ARCH/kinds_$tag.dump"
	restore_into "kinds $tag oracle" "$ARCH/kinds_$tag.dump" "b_kinds_$tag" --no-acl || continue
	if url_restore "kinds $tag (pg_dump -Fc $opts)" "$ARCH/kinds_$tag.dump" "a_kinds_$tag"; then
		compare_dbs "kinds $tag (pg_dump -Fc $opts): engine vs pg_restore" "b_kinds_$tag" "a_kinds_$tag"
	fi
done
check_eq "kinds: the event trigger is restored" "$(q a_kinds_default "SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'k_evt'" 2>&1)" O
check_eq "kinds: the disabled trigger stays disabled" "$(q a_kinds_default "SELECT tgenabled FROM pg_trigger WHERE tgname = 'child_double'" 2>&1)" D
no_staging "pg_dump options"

finish
