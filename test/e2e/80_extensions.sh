#!/bin/bash
# 80_extensions: databases using other extensions.  Contrib types (hstore,
# citext) in table data, and extension configuration tables (one whole, one
# with a WHERE filter, and a configuration sequence) whose data pg_dump writes
# itself: the capture must carry exactly the rows pg_dump would.  The test
# extension pgbackups_testcfg is installed into PostgreSQL's share directory
# (needs root; skipped otherwise).
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
	HAVE_CFG=1
else
	log "cannot write $EXTDIR: the configuration-table part is skipped"
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

REF=$TESTDIR/ref.dump
pg_dump -Fc -d exts -f "$REF"
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
else
	fail "capture of exts failed: $(cat "$TESTDIR/capture.err")"
fi
finish
