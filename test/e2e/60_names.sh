#!/bin/bash
# 60_names: awkward database names.  A source database whose name needs
# quoting (space, quote, double quote, non-ASCII) is captured and restored;
# catalog databases named "../escape" and "a/b" keep their archives inside the
# storage directory; a label with quotes and non-ASCII is kept verbatim.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

WEIRD="we ird's \"db\" é"
start_cluster
psql_db postgres <<'SQL' >/dev/null
CREATE DATABASE "we ird's ""db"" é";
CREATE DATABASE "../escape";
CREATE DATABASE "a/b";
CREATE DATABASE cat;
SQL
q cat "CREATE EXTENSION pgbackups" >/dev/null
psql_db "$WEIRD" <<'SQL' >/dev/null
CREATE TABLE "tab ""le""" (id integer, t text);
INSERT INTO "tab ""le""" SELECT g, 'row ' || g FROM generate_series(1, 500) g;
SQL

# capture a database whose name needs quoting, from another catalog
if id=$(psql -X -q -At -v ON_ERROR_STOP=1 -d cat 2>"$TESTDIR/capture.err" <<'SQL'
SELECT pgbackups.capture(database => 'we ird''s "db" é', wait => true,
                         label => 'it''s "quoted" — é 日本 🎉');
SQL
); then
	check_eq "capture of [$WEIRD]" "$(backup_field cat "$id" status)" completed
	check_eq "database recorded verbatim" "$(backup_field cat "$id" database)" "$WEIRD"
	check_eq "label kept verbatim" "$(backup_field cat "$id" label)" "it's \"quoted\" — é 日本 🎉"
	check_eq "info() shows the label" "$(q cat "SELECT value FROM pgbackups.info('$id') WHERE field = 'Label'")" "it's \"quoted\" — é 日本 🎉"
	arch=$(archive_path cat "$id")
	if restore_into "weird name" "$arch" weird_restored; then
		compare_dbs "weird name" "$WEIRD" weird_restored
	fi
	check_eq "the archive header names the database" "$("$LIB_DIR/tools/pgdmp-inspect" "$arch" | sed -n '2s/.* db=\(.*\) server=.*/\1/p')" "'we ird\\'s \"db\" é'"
else
	fail "capture of [$WEIRD] failed: $(cat "$TESTDIR/capture.err")"
fi

# catalog databases whose names are path-like
for db in "../escape" "a/b"; do
	q "$db" "CREATE EXTENSION pgbackups" >/dev/null
	if id=$(q "$db" "SELECT pgbackups.capture(wait => true)" 2>"$TESTDIR/capture.err"); then
		check_eq "[$db]: capture" "$(backup_field "$db" "$id" status)" completed
		arch=$(archive_path "$db" "$id")
		real=$(realpath -m "$arch")
		case "$real" in
		"$STORAGE_DIR"/*/*/"$id"-*.dump) pass "[$db]: archive stays inside the storage directory: ${real#"$STORAGE_DIR"/}" ;;
		*) fail "[$db]: archive outside <storage>/<sysid>/<db>/: $real" ;;
		esac
		check "[$db]: the archive exists" test -s "$arch"
		check "[$db]: pg_restore -l reads it" pg_restore -l -f /dev/null "$arch"
	else
		fail "[$db]: capture failed: $(cat "$TESTDIR/capture.err")"
	fi
done
check_eq "nothing was written outside the storage directory" "$(find "$TESTDIR" -name '*.dump' -not -path "$STORAGE_DIR/*" | wc -l)" 0
check_eq "one directory per catalog database" "$(find "$STORAGE_DIR" -mindepth 2 -maxdepth 2 -type d | wc -l)" 3
finish
