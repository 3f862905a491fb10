#!/bin/bash
# 80_extensions: databases using other extensions.  Contrib types (hstore,
# citext) in table data, and extension configuration tables (one whole, one
# with a WHERE filter, and a configuration sequence) whose data pg_dump writes
# itself: the capture must carry exactly the rows pg_dump would.  The test
# extension pgbackups_testcfg is installed into PostgreSQL's share directory
# (needs root: as root a failure to install it fails the script; otherwise the
# configuration-table cases are counted as skipped).  The capture is then
# restored by the engine into a database a superuser owns (every extension
# created as superuser) and into one owned by an operator who is no
# superuser: hstore and citext (trusted) are created by the operator, the
# untrusted pgbackups_testcfg refuses the operator's own request with 42501
# and nothing changed, and goes in when a superuser requests the restore
# (its tables and the other extensions' types in public pass the check that
# an extension's schema holds only extension members).
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

EXTDIR=$("$PGBIN/pg_config" --sharedir)/extension
HAVE_CFG=0
if [ -w "$EXTDIR" ]; then
	cat >"$EXTDIR/pgbackups_testcfg.control" <<'EOF'
comment = 'pgbackups tests: an extension with configuration tables'
default_version = '1.0'
relocatable = false
schema = public
EOF
	cat >"$EXTDIR/pgbackups_testcfg--1.0.sql" <<'EOF'
CREATE TABLE cfg_whole (k text PRIMARY KEY, v text);
SELECT pg_catalog.pg_extension_config_dump('cfg_whole', '');
CREATE TABLE cfg_filtered (k text PRIMARY KEY, v text, user_row boolean NOT NULL DEFAULT true);
INSERT INTO cfg_filtered VALUES ('builtin', 'shipped with the extension', false);
SELECT pg_catalog.pg_extension_config_dump('cfg_filtered', 'WHERE user_row');
CREATE SEQUENCE cfg_seq;
SELECT pg_catalog.pg_extension_config_dump('cfg_seq', '');
CREATE TABLE not_config (k text);
INSERT INTO not_config VALUES ('member table data is never dumped');
EOF
	# untrusted, no configuration tables: a member type (with its array
	# type), a table (row type, index), a function and an operator
	cat >"$EXTDIR/pgbackups_testplain.control" <<'EOF'
comment = 'pgbackups tests: an untrusted extension with types, a table and functions'
default_version = '1.0'
relocatable = true
EOF
	cat >"$EXTDIR/pgbackups_testplain--1.0.sql" <<'EOF'
CREATE TYPE plain_pair AS (a integer, b text);
CREATE TABLE plain_member (id integer PRIMARY KEY, p plain_pair);
CREATE FUNCTION plain_fn(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 3';
CREATE OPERATOR ### (LEFTARG = integer, RIGHTARG = integer, FUNCTION = int4pl);
EOF
	HAVE_CFG=1
elif [ "$(id -u)" -eq 0 ]; then
	fail "as root, cannot write $EXTDIR to install pgbackups_testcfg"
else
	skip "extension configuration tables (pgbackups_testcfg)" "cannot write $EXTDIR (not root)"
fi

start_cluster
q postgres "CREATE DATABASE cat" >/dev/null
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE exts" >/dev/null
psql_db exts <<'SQL' >/dev/null
CREATE EXTENSION hstore;
CREATE EXTENSION citext;
CREATE TABLE profiles (id integer PRIMARY KEY, email citext UNIQUE, attrs hstore);
INSERT INTO profiles VALUES
	(1, 'Alice@Example.com', 'a=>1, "b c"=>"d\"e", n=>NULL'),
	(2, 'BOB@example.com', ''),
	(3, 'élodie@exemple.fr', 'k=>"日本"');
SQL
if [ "$HAVE_CFG" = 1 ]; then
	psql_db exts <<'SQL' >/dev/null
CREATE EXTENSION pgbackups_testcfg;
INSERT INTO cfg_whole VALUES ('theme', 'dark'), ('lang', 'fr');
INSERT INTO cfg_filtered (k, v) VALUES ('mine', 'set by the user');
SELECT nextval('cfg_seq'), nextval('cfg_seq'), nextval('cfg_seq');
INSERT INTO not_config VALUES ('added later, still not dumped');
SQL
fi

# the schema without ownership lines (objects are created by the target's owner) and the data
same_content() {
	local name=$1 src=$2 dst=$3
	if diff -u <(pg_dump --schema-only --no-owner -d "$src" | grep -v -E '^\\(un)?restrict ') \
		<(pg_dump --schema-only --no-owner -d "$dst" | grep -v -E '^\\(un)?restrict ') >"$TESTDIR/$dst.schema.diff" &&
		diff -u <(data_digest "$src") <(data_digest "$dst") >"$TESTDIR/$dst.data.diff"; then
		pass "$name: schema (without owners) and data of $dst equal $src"
	else
		fail "$name: $dst differs from $src: $(head -n 30 "$TESTDIR/$dst.schema.diff" "$TESTDIR/$dst.data.diff")"
	fi
}
ext_owners() { q "$1" "SELECT string_agg(extname || ':' || pg_get_userbyid(extowner), ' ' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'"; }

REF=$TESTDIR/ref.dump
reference_pg_dump -d exts -f "$REF"
restore_into "reference pg_dump -Fc" "$REF" ref_restored
compare_dbs "reference pg_dump -Fc" exts ref_restored

if id=$(q cat "SELECT pgbackups.capture(database => 'exts', wait => true)" 2>"$TESTDIR/capture.err"); then
	pass "capture: $(describe_backup cat "$id")"
	arch=$(archive_path cat "$id")
	if diff -u <(pg_restore -l "$REF" | grep -v '^;' | sed -E 's/^[0-9]+; //' | sort) \
		<(pg_restore -l "$arch" | grep -v '^;' | sed -E 's/^[0-9]+; //' | sort) >"$TESTDIR/toc.diff"; then
		pass "TOC entries (without dump ids) = pg_dump -Fc's ($(grep -c 'TABLE DATA' <(pg_restore -l "$arch")) TABLE DATA)"
	else
		fail "TOC differs from pg_dump's: $(cat "$TESTDIR/toc.diff")"
	fi
	# the order of the data items may differ; their lines may not
	if diff -u <(pg_restore -f - -a "$REF" | grep -v -E '^(--|\\(un)?restrict |$)' | sort) \
		<(pg_restore -f - -a "$arch" | grep -v -E '^(--|\\(un)?restrict |$)' | sort) >"$TESTDIR/data.diff"; then
		pass "data section as SQL (pg_restore -a -f -, lines sorted) = pg_dump's"
	else
		fail "data section differs from pg_dump's: $(head -n 30 "$TESTDIR/data.diff")"
	fi
	restore_into "extensions" "$arch" restored && compare_dbs "extensions" exts restored
	if [ "$HAVE_CFG" = 1 ]; then
		check_eq "restored cfg_filtered: the built-in row once, the user's row" \
			"$(q restored "SELECT string_agg(k, ' ' ORDER BY k) FROM cfg_filtered")" "builtin mine"
		check_eq "restored cfg_seq" "$(q restored "SELECT last_value FROM cfg_seq")" 3
		check_eq "restored not_config holds only the extension's row" "$(q restored "SELECT count(*) FROM not_config")" 1
	fi

	# --- the restore engine into a database a superuser owns: every extension as superuser ---
	q postgres "CREATE DATABASE su_tgt" >/dev/null
	try_sql cat "SELECT pgbackups.restore('$id', target => 'su_tgt', confirm => 'su_tgt', wait => true)"
	check_eq "engine: restore into a database a superuser owns" "$TRY_STATE" OK
	[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
	[ "$TRY_STATE" = OK ] && same_content "engine, superuser's database" exts su_tgt
	if [ "$HAVE_CFG" = 1 ]; then
		check_eq "engine: every extension of su_tgt belongs to the superuser" "$(ext_owners su_tgt)" \
			"citext:postgres hstore:postgres pgbackups_testcfg:postgres"
		check_eq "engine: su_tgt cfg_filtered: the built-in row once, the user's row" \
			"$(q su_tgt "SELECT string_agg(k, ' ' ORDER BY k) FROM cfg_filtered")" "builtin mine"
	fi
else
	fail "capture of exts failed: $(cat "$TESTDIR/capture.err")"
fi

# --- the engine into a database an operator (no superuser) owns ---
# exts_op: trusted hstore and citext and the untrusted pgbackups_testplain,
# all in public; the operator owns the source and the target
psql_db postgres >/dev/null <<'SQL'
CREATE ROLE extop LOGIN;
GRANT pgbackups_admin TO extop;
CREATE DATABASE exts_op OWNER extop;
CREATE DATABASE op_tgt OWNER extop;
SQL
q op_tgt "CREATE TABLE kept AS SELECT 1 AS x" >/dev/null
psql_db exts_op >/dev/null <<'SQL'
CREATE EXTENSION hstore;
CREATE EXTENSION citext;
CREATE TABLE profiles (id integer PRIMARY KEY, email citext UNIQUE, attrs hstore);
INSERT INTO profiles VALUES (1, 'Alice@Example.com', 'a=>1'), (2, 'BOB@example.com', '');
SQL
if [ "$HAVE_CFG" = 1 ]; then
	psql_db exts_op >/dev/null <<'SQL'
CREATE EXTENSION pgbackups_testplain;
CREATE TABLE uses_plain (id integer PRIMARY KEY, p plain_pair, n integer DEFAULT plain_fn(2));
INSERT INTO uses_plain (id, p) VALUES (1, (3, 'three'));
SQL
fi
if id2=$(psql -X -q -At -v ON_ERROR_STOP=1 -U extop -d cat -c "SELECT pgbackups.capture(database => 'exts_op', wait => true)" 2>"$TESTDIR/capture2.err"); then
	pass "the operator captures exts_op ($id2)"
else
	fail "the operator's capture of exts_op failed: $(cat "$TESTDIR/capture2.err")"
fi
if [ "$HAVE_CFG" = 1 ]; then
	# pgbackups_testplain is not trusted: refused for the operator, before any change
	db_fingerprint op_tgt >"$TESTDIR/op_tgt.before"
	try_sql "dbname=cat user=extop" "SELECT pgbackups.restore('$id2', target => 'op_tgt', confirm => 'op_tgt', wait => true)"
	check_eq "engine: the operator's restore with the untrusted pgbackups_testplain is refused" "$TRY_STATE" 42501
	check "engine: ... naming the extension ($TRY_MSG)" grep -q 'pgbackups_testplain' <<<"$TRY_MSG"
	check "engine: ... with a hint naming pgbackups.restore_extensions" \
		grep -qE '^HINT:  .*pgbackups\.restore_extensions' <<<"$TRY_ERR"
	check "engine: ... op_tgt as it was" diff -q "$TESTDIR/op_tgt.before" <(db_fingerprint op_tgt)
	check_eq "engine: ... no staging database" "$(staging_dbs)" ""
	# requested by a superuser: the member type, table, function and operator
	# of pgbackups_testplain go in after hstore and citext in public (they are
	# extension members: the schema check passes)
	try_sql cat "SELECT pgbackups.restore('$id2', target => 'op_tgt', confirm => 'op_tgt', wait => true)"
	check_eq "engine: a superuser restores it into the operator's database" "$TRY_STATE" OK
	[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
	if [ "$TRY_STATE" = OK ]; then
		same_content "engine, operator's database" exts_op op_tgt
		check_eq "engine: the trusted extensions belong to the operator, the untrusted one to the superuser" \
			"$(ext_owners op_tgt)" "citext:extop hstore:extop pgbackups_testplain:postgres"
	fi
else
	skip "engine: an untrusted extension refused for an operator" "pgbackups_testplain is not installed"
	try_sql "dbname=cat user=extop" "SELECT pgbackups.restore('$id2', target => 'op_tgt', confirm => 'op_tgt', wait => true)"
	check_eq "engine: the operator restores hstore and citext (trusted)" "$TRY_STATE" OK
	[ "$TRY_STATE" = OK ] && same_content "engine, operator's database" exts_op op_tgt
fi
finish
