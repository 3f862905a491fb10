#!/bin/bash
# 47_restore_extensions_integrity: extensions in restored archives follow
# PostgreSQL's rules for the target database's owner, and a pgbackups
# archive is checked against its recorded SHA-256 before anything is created.
#
# The operator op (pgbackups_admin, no superuser) owns its source and target
# databases.  Extensions: an archive creating trusted extensions (hstore,
# citext, pgcrypto) restores for op, the extensions then belong to op (they
# ran as op, not as a superuser); an archive creating an untrusted one
# (postgres_fdw) is refused for op with 42501 and a hint naming
# pgbackups.restore_extensions before anything is created (target
# fingerprint unchanged, no staging database, the job never got to create
# one), restores when a superuser requests it, and for op once a superuser
# lists it in pgbackups.restore_extensions (a list naming only another
# extension does not count); copy() follows the same rules for its caller.
# Schemas: pg_dump archives with a user function beside an extension in its
# schema restore (control); an archive crafted so that a function is
# created in the schema before the extension (test/tools/craft-archive) is
# refused with 42501 before anything is created, and one whose TOC hides the
# function's schema is refused in the staging database (42501): target
# unchanged, staging database dropped, the function never ran.
# Integrity: a capture with one byte of table data changed in its archive
# (the archive still parses; restore_from_url of the same file, which has no
# recorded hash, restores the altered row: the control) is refused with
# XX001 naming the backup and both hashes, target unchanged; the intact
# archive then restores.  The same for a backup in S3 (s3rver), where the
# whole object is read once for the check.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-180}

CRAFT=$LIB_DIR/tools/craft-archive
CAT=cat
OP="user=op"

start_cluster
W=$TESTDIR/w
mkdir -p "$W"
psql_db postgres >/dev/null <<SQL
CREATE ROLE op LOGIN;
CREATE DATABASE $CAT;
CREATE DATABASE cat2;
SQL
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
q cat2 "CREATE EXTENSION pgbackups" >/dev/null
q postgres "GRANT pgbackups_admin TO op" >/dev/null
for db in src_trusted src_untrusted src_order src_int tgt_a tgt_b tgt_c tgt_d tgt_e tgt_i; do
	q postgres "CREATE DATABASE $db OWNER op" >/dev/null
done

# as_op DB SQL: try_sql as the operator
as_op() { try_sql "dbname=$1 user=op" "$2"; }
last_restore() { q $CAT "SELECT id FROM pgbackups.restores ORDER BY num DESC LIMIT 1"; }
last_copy() { q $CAT "SELECT id FROM pgbackups.copies ORDER BY num DESC LIMIT 1"; }
# staged JOB: 1 if job JOB got as far as creating its staging database
staged() { q $CAT "SELECT count(*) FROM pgbackups.logs WHERE job_id = '$1' AND message LIKE 'building the restore in database %'"; }
# the target data of each restore below: unchanged by a refusal
prep_target() {
	psql -X -q -v ON_ERROR_STOP=1 -U op -d "$1" >/dev/null <<'SQL'
CREATE TABLE public.precious (id integer PRIMARY KEY, v text);
INSERT INTO public.precious SELECT g, 'target row ' || g FROM generate_series(1, 50) g;
SQL
}
for db in tgt_a tgt_b tgt_c tgt_d tgt_e tgt_i; do prep_target $db; done

# refused NAME DB STATE SQL TARGET [MSG_RE]: SQL (as in DB) fails with STATE, TARGET
# keeps its fingerprint, no staging database is left
refused() {
	local name=$1 db=$2 want=$3 sql=$4 tgt=$5 re=${6:-}
	db_fingerprint "$tgt" >"$W/$tgt.before"
	try_sql "$db" "$sql"
	check_eq "$name: SQLSTATE" "$TRY_STATE" "$want"
	[ "$TRY_STATE" = "$want" ] || log "$name: $TRY_MSG"
	[ -z "$re" ] || check "$name: the error says /$re/ ($(grep -E 'ERROR|DETAIL|HINT' <<<"$TRY_ERR" | tr '\n' ' ' | head -c 600))" grep -qE "$re" <<<"$TRY_ERR"
	wait_for postgres "SELECT count(*) = 0 FROM pg_database WHERE datname LIKE 'pgbackups\_%'" 30 ||
		fail "$name: staging database left: $(staging_dbs | tr '\n' ' ')"
	if db_fingerprint "$tgt" | diff -q "$W/$tgt.before" - >/dev/null; then
		pass "$name: $tgt is as it was, no staging database"
	else
		fail "$name: $tgt changed: $(db_fingerprint "$tgt" | diff "$W/$tgt.before" - | head -n 10)"
	fi
}

# ====== 1. extensions ======================================================================
psql -X -q -v ON_ERROR_STOP=1 -U op -d src_trusted >/dev/null <<'SQL'
CREATE EXTENSION hstore;
CREATE EXTENSION citext;
CREATE EXTENSION pgcrypto;
CREATE TABLE public.profiles (id integer PRIMARY KEY, email citext UNIQUE, attrs hstore, token bytea);
INSERT INTO public.profiles VALUES
	(1, 'Alice@Example.com', 'a=>1, "b c"=>"d"', public.digest('alice', 'sha256')),
	(2, 'BOB@example.com', '', public.digest('bob', 'sha256'));
SQL
check_eq "trusted in PG 15: hstore, citext, pgcrypto; untrusted: postgres_fdw" \
	"$(q postgres "SELECT string_agg(v.name || '=' || v.trusted, ' ' ORDER BY v.name) FROM pg_available_extension_versions v JOIN pg_available_extensions a ON a.name = v.name AND a.default_version = v.version WHERE v.name IN ('hstore', 'citext', 'pgcrypto', 'postgres_fdw')")" \
	"citext=true hstore=true pgcrypto=true postgres_fdw=false"
q src_untrusted "CREATE EXTENSION postgres_fdw" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -U op -d src_untrusted >/dev/null <<'SQL'
CREATE TABLE public.t (id integer PRIMARY KEY, v text);
INSERT INTO public.t SELECT g, 'untrusted source ' || g FROM generate_series(1, 30) g;
SQL

as_op $CAT "SELECT pgbackups.capture(database => 'src_trusted', wait => true)"
B_T=$TRY_OUT
check_eq "op captures src_trusted ($B_T)" "$TRY_STATE" OK
as_op $CAT "SELECT pgbackups.capture(database => 'src_untrusted', wait => true)"
B_U=$TRY_OUT
check_eq "op captures src_untrusted ($B_U)" "$TRY_STATE" OK

# --- trusted: op restores ---
as_op $CAT "SELECT pgbackups.restore('$B_T', target => 'tgt_a', confirm => 'tgt_a', wait => true)"
check_eq "trusted extensions: op restores $B_T into tgt_a" "$TRY_STATE" OK
[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
compare_dbs "trusted extensions" src_trusted tgt_a
check_eq "hstore, citext, pgcrypto in tgt_a belong to op (created in op's session)" \
	"$(q tgt_a "SELECT string_agg(extname || ':' || pg_get_userbyid(extowner), ' ' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'")" \
	"citext:op hstore:op pgcrypto:op"
rid=$(last_restore)
check_eq "the job log says who created them" \
	"$(q $CAT "SELECT count(*) FROM pgbackups.logs WHERE job_id = '$rid' AND message LIKE 'extension % is trusted: role \"op\" creates it'")" 3

# --- untrusted: refused for op, before anything is created ---
refused "untrusted extension, op requests" "dbname=$CAT user=op" 42501 \
	"SELECT pgbackups.restore('$B_U', target => 'tgt_b', confirm => 'tgt_b', wait => true)" tgt_b \
	'^DETAIL:  .*nothing was changed\.$'
check "untrusted extension: the error names postgres_fdw" grep -q postgres_fdw <<<"$TRY_MSG"
check "untrusted extension: its hint names pgbackups.restore_extensions" grep -qE '^HINT:  .*pgbackups\.restore_extensions' <<<"$TRY_ERR"
rid=$(last_restore)
check_eq "untrusted extension: $rid failed with 42501" "$(job_field $CAT "$rid" "status || ' ' || error_code")" "failed 42501"
check_eq "untrusted extension: $rid never created a staging database" "$(staged "$rid")" 0
check_eq "postgres_fdw is nowhere" "$(q postgres "SELECT count(*) FROM pg_extension WHERE extname = 'postgres_fdw'")" 0

# --- untrusted: a superuser requests it ---
try_sql $CAT "SELECT pgbackups.restore('$B_U', target => 'tgt_b', confirm => 'tgt_b', wait => true)"
check_eq "untrusted extension: a superuser restores $B_U into op's tgt_b" "$TRY_STATE" OK
[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
compare_dbs "untrusted, superuser request" src_untrusted tgt_b
check_eq "postgres_fdw in tgt_b belongs to the superuser" \
	"$(q tgt_b "SELECT pg_get_userbyid(extowner) FROM pg_extension WHERE extname = 'postgres_fdw'")" postgres
check_eq "the owner of tgt_b is still op, no superuser" "$(q postgres "SELECT pg_get_userbyid(datdba) || ' ' || (SELECT rolsuper FROM pg_roles WHERE rolname = 'op') FROM pg_database WHERE datname = 'tgt_b'")" "op false"

# --- untrusted: listed in pgbackups.restore_extensions ---
set_conf pgbackups.restore_extensions 'dblink, file_fdw'
refused "untrusted extension, op requests, only other extensions listed" "dbname=$CAT user=op" 42501 \
	"SELECT pgbackups.restore('$B_U', target => 'tgt_c', confirm => 'tgt_c', wait => true)" tgt_c 'pgbackups\.restore_extensions'
expect_sqlstate "op cannot SET pgbackups.restore_extensions (server-wide)" "dbname=$CAT user=op" 55P02 "SET pgbackups.restore_extensions = 'postgres_fdw'"
expect_sqlstate "op cannot read pgbackups.restore_extensions" "dbname=$CAT user=op" 42501 "SHOW pgbackups.restore_extensions"
expect_sqlstate "op cannot ALTER SYSTEM SET pgbackups.restore_extensions" "dbname=$CAT user=op" 42501 "ALTER SYSTEM SET pgbackups.restore_extensions = 'postgres_fdw'"
expect_sqlstate "a malformed list is rejected" $CAT 22023 "ALTER SYSTEM SET pgbackups.restore_extensions = 'dblink,,'"
set_conf pgbackups.restore_extensions 'dblink, "postgres_fdw"'
as_op $CAT "SELECT pgbackups.restore('$B_U', target => 'tgt_c', confirm => 'tgt_c', wait => true)"
check_eq "untrusted extension listed in pgbackups.restore_extensions: op restores $B_U" "$TRY_STATE" OK
[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
compare_dbs "untrusted, listed" src_untrusted tgt_c
rid=$(last_restore)
check_eq "the job log names the setting" \
	"$(q $CAT "SELECT count(*) FROM pgbackups.logs WHERE job_id = '$rid' AND message LIKE '%postgres_fdw%pgbackups.restore_extensions lists it%'")" 1

# --- copy(): the same rules, for the copy's caller ---
set_conf pgbackups.restore_extensions ''
refused "copy of an untrusted extension by op" "dbname=$CAT user=op" 42501 \
	"SELECT pgbackups.copy('src_untrusted', 'tgt_d', 'tgt_d', wait => true)" tgt_d 'pgbackups\.restore_extensions'
cid=$(last_copy)
check_eq "copy: $cid never created a staging database" "$(staged "$cid")" 0
as_op $CAT "SELECT pgbackups.copy('src_trusted', 'tgt_d', 'tgt_d', wait => true)"
check_eq "copy of trusted extensions by op" "$TRY_STATE" OK
[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
check_eq "copy: the extensions belong to op" \
	"$(q tgt_d "SELECT string_agg(extname || ':' || pg_get_userbyid(extowner), ' ' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'")" \
	"citext:op hstore:op pgcrypto:op"
try_sql $CAT "SELECT pgbackups.copy('src_untrusted', 'tgt_d', 'tgt_d', wait => true)"
check_eq "copy of an untrusted extension requested by a superuser" "$TRY_STATE" OK
[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
check_eq "copy: postgres_fdw in tgt_d" "$(q tgt_d "SELECT count(*) FROM pg_extension WHERE extname = 'postgres_fdw'")" 1

# ====== 2. the extension's schema ==========================================================
q src_order "CREATE SCHEMA fdw AUTHORIZATION op; CREATE EXTENSION postgres_fdw SCHEMA fdw" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -U op -d src_order >/dev/null <<'SQL'
CREATE SCHEMA ext;
CREATE EXTENSION hstore SCHEMA ext;
CREATE FUNCTION ext.user_fn(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
CREATE FUNCTION fdw.user_fn2(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 2';
CREATE TABLE public.t (id integer PRIMARY KEY, h ext.hstore, n integer DEFAULT ext.user_fn(1));
INSERT INTO public.t (id, h) VALUES (1, 'k=>v'), (2, 'x=>y');
SQL
pg_dump -Fc -d src_order -f "$W/order.dump"
"$CRAFT" "$W/order.dump" --list >"$W/order.list"
# control: pg_dump's order (schema, extension, then the schema's other objects)
try_sql $CAT "SELECT pgbackups.restore_from_url('file://$W/order.dump', target => 'tgt_e', confirm => 'tgt_e', wait => true)"
check_eq "control: pg_dump's archive with user functions beside hstore and postgres_fdw in their schemas restores into op's tgt_e" "$TRY_STATE" OK
[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
compare_dbs "control: extension schemas" src_order tgt_e

PW=/tmp/pgbackups_t47_pwned_$$
EVIL="CREATE FUNCTION ext.evil() RETURNS integer LANGUAGE plpgsql AS \$\$ BEGIN COPY (SELECT 1) TO PROGRAM 'touch $PW'; RETURN 1; END \$\$;"
EVIL_FDW="CREATE FUNCTION fdw.evil() RETURNS integer LANGUAGE plpgsql AS \$\$ BEGIN COPY (SELECT 1) TO PROGRAM 'touch $PW'; RETURN 1; END \$\$;"
# (a) a function of the archive in schema ext, before CREATE EXTENSION hstore
"$CRAFT" "$W/order.dump" --insert-before tag:EXTENSION:hstore FUNCTION pre "$EVIL" \
	--field desc:FUNCTION:1 namespace ext -o "$W/before_ext.dump"
# (b) the same, its TOC entry claiming no schema: only the staging database tells
"$CRAFT" "$W/order.dump" --insert-before tag:EXTENSION:hstore FUNCTION pre "$EVIL" \
	--field desc:FUNCTION:1 namespace '\N' -o "$W/hidden_ns.dump"
# (c) an untrusted extension (created as superuser): a function in its schema first
"$CRAFT" "$W/order.dump" --insert-before tag:EXTENSION:postgres_fdw FUNCTION pre "$EVIL_FDW" \
	--field desc:FUNCTION:1 namespace fdw -o "$W/before_fdw.dump"
"$CRAFT" "$W/order.dump" --insert-before tag:EXTENSION:postgres_fdw FUNCTION pre "$EVIL_FDW" \
	--field desc:FUNCTION:1 namespace public -o "$W/hidden_fdw.dump"
chmod 644 "$W"/*.dump
[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$W"
log "before_ext.dump: $("$CRAFT" "$W/before_ext.dump" --list | grep -E 'SCHEMA|EXTENSION|FUNCTION' | tr '\n' ';')"

for c in before_ext:first hidden_ns:staging before_fdw:first hidden_fdw:staging; do
	name=${c%%:*}
	where=${c#*:}
	refused "schema filled before its extension ($name)" $CAT 42501 \
		"SELECT pgbackups.restore_from_url('file://$W/$name.dump', target => 'tgt_e', confirm => 'tgt_e', wait => true)" tgt_e \
		'(before extension|not extension members)'
	rid=$(last_restore)
	if [ "$where" = first ]; then
		check_eq "$name: refused in the first pass, no staging database was created" "$(staged "$rid")" 0
	else
		check_eq "$name: refused in the staging database (dropped)" "$(staged "$rid")" 1
	fi
	check "$name: the planted function never ran" test ! -e "$PW"
done
rm -f "$PW"

# ====== 3. integrity ============================================================================
psql -X -q -v ON_ERROR_STOP=1 -U op -d src_int >/dev/null <<'SQL'
CREATE TABLE public.accounts (id integer PRIMARY KEY, owner text NOT NULL, balance integer NOT NULL);
INSERT INTO public.accounts SELECT g, 'holder-' || g || '-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', g * 10 FROM generate_series(1, 2000) g;
SQL

# corrupt_copy ARCHIVE OUT: OUT = ARCHIVE with one byte of the accounts data changed
# ('a' -> 'b' inside a row), so the archive still parses; prints the offset
corrupt_copy() {
	"$SYS_PYTHON" - "$1" "$2" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
i = data.index(b"holder-1000-aaaa") + 12
assert data[i] == ord("a")
data[i] = ord("b")
open(sys.argv[2], "wb").write(data)
print(i)
PY
}

as_op $CAT "SELECT pgbackups.capture(database => 'src_int', compression => 'none', wait => true)"
B_I=$TRY_OUT
check_eq "op captures src_int uncompressed ($B_I)" "$TRY_STATE" OK
ARCH=$(archive_path $CAT "$B_I")
SHA=$(backup_field $CAT "$B_I" sha256)
check_eq "the recorded sha256 is the file's" "$(sha256sum <"$ARCH" | cut -d' ' -f1)" "$SHA"
cp -p "$ARCH" "$W/intact.dump"
off=$(corrupt_copy "$W/intact.dump" "$W/corrupt.dump")
cat "$W/corrupt.dump" >"$ARCH"
BAD_SHA=$(sha256sum <"$ARCH" | cut -d' ' -f1)
log "$B_I: byte $off changed in $ARCH ($SHA -> $BAD_SHA)"
check "the changed archive still parses (pg_restore -l)" pg_restore -l "$ARCH" >/dev/null

# control: read without a recorded hash, the change goes through
chmod 644 "$W/corrupt.dump"
[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$W/corrupt.dump"
q postgres "CREATE DATABASE int_ctl OWNER op" >/dev/null
try_sql $CAT "SELECT pgbackups.restore_from_url('file://$W/corrupt.dump', target => 'int_ctl', confirm => 'int_ctl', wait => true)"
check_eq "control: the changed archive restores when nothing checks its hash" "$TRY_STATE" OK
check_eq "control: ... with the changed row" "$(q int_ctl "SELECT owner FROM accounts WHERE id = 1000")" "holder-1000-b$(printf 'a%.0s' $(seq 31))"

refused "one byte changed in $B_I (file)" "dbname=$CAT user=op" XX001 \
	"SELECT pgbackups.restore('$B_I', target => 'tgt_i', confirm => 'tgt_i', wait => true)" tgt_i \
	"$B_I.*SHA-256"
check "file: the error gives the expected and the actual hash" grep -q "Expected SHA-256 $SHA, the archive has $BAD_SHA" <<<"$TRY_ERR"
rid=$(last_restore)
check_eq "file: $rid carries the recorded hash" "$(job_field $CAT "$rid" sha256)" "$SHA"
check_eq "file: $rid failed XX001 without creating a staging database" "$(job_field $CAT "$rid" "status || ' ' || error_code") $(staged "$rid")" "failed XX001 0"
# the latest backup and db::id take the same path
refused "one byte changed, the latest backup" "dbname=$CAT user=op" XX001 \
	"SELECT pgbackups.restore(NULL, target => 'tgt_i', confirm => 'tgt_i', wait => true)" tgt_i "$B_I.*SHA-256"
refused "one byte changed, $CAT::$B_I from cat2" "dbname=cat2 user=op" XX001 \
	"SELECT pgbackups.restore('$CAT::$B_I', target => 'tgt_i', confirm => 'tgt_i', wait => true)" tgt_i "SHA-256"
cat "$W/intact.dump" >"$ARCH"
as_op $CAT "SELECT pgbackups.restore('$B_I', target => 'tgt_i', confirm => 'tgt_i', wait => true)"
check_eq "file: the intact archive restores" "$TRY_STATE" OK
[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
compare_dbs "file: intact" src_int tgt_i
rid=$(last_restore)
check_eq "file: $rid logged the verified hash" "$(q $CAT "SELECT count(*) FROM pgbackups.logs WHERE job_id = '$rid' AND message = 'archive SHA-256 verified: $SHA, $(stat -c %s "$ARCH") bytes'")" 1

# --- S3 ---
missing=$(servers_missing)
if [ -n "$missing" ]; then
	skip "S3: one byte changed in a backup in S3" "no S3 test server: $(tr '\n' ' ' <<<"$missing")"
else
	start_s3rver "$S3_BUCKET"
	# storage moves to S3 for the captures from here on (the earlier backups keep their file:// location)
	s3_conf "$S3_ENDPOINT" backups/t47 | while IFS= read -r line; do
		printf '%s\n' "ALTER SYSTEM SET ${line%% = *} = ${line#* = };"
	done | psql_db postgres >/dev/null
	set_conf pgbackups.storage_url "s3://$S3_BUCKET/backups/t47"
	q src_int "CREATE TABLE public.noise AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS h FROM generate_series(1, ${S3_NOISE_ROWS:-150000}) g" >/dev/null
	q src_int "ALTER TABLE public.noise OWNER TO op" >/dev/null
	as_op $CAT "SELECT pgbackups.capture(database => 'src_int', compression => 'none', wait => true)"
	B_S=$TRY_OUT
	check_eq "op captures src_int to S3 ($B_S)" "$TRY_STATE" OK
	LOC=$(backup_field $CAT "$B_S" location)
	KEY=${LOC#s3://"$S3_BUCKET"/}
	SHA=$(backup_field $CAT "$B_S" sha256)
	SIZE=$(backup_field $CAT "$B_S" archive_size)
	log "$B_S: $LOC, $SIZE bytes"
	s3cli get "$KEY" "$W/s3_intact.dump"
	check_eq "S3: the object's sha256 is the recorded one" "$(sha256sum <"$W/s3_intact.dump" | cut -d' ' -f1)" "$SHA"
	corrupt_copy "$W/s3_intact.dump" "$W/s3_corrupt.dump" >/dev/null
	s3cli put "$KEY" "$W/s3_corrupt.dump"
	BAD_SHA=$(s3cli sha256 "$KEY")
	check "S3: the object now differs ($BAD_SHA)" test "$BAD_SHA" != "$SHA"
	refused "one byte changed in $B_S (S3)" "dbname=$CAT user=op" XX001 \
		"SELECT pgbackups.restore('$B_S', target => 'tgt_i', confirm => 'tgt_i', wait => true)" tgt_i \
		"$B_S.*SHA-256"
	check "S3: the error gives the expected and the actual hash" grep -q "Expected SHA-256 $SHA, the archive has $BAD_SHA" <<<"$TRY_ERR"
	rid=$(last_restore)
	check_eq "S3: $rid failed without creating a staging database" "$(staged "$rid")" 0
	s3cli put "$KEY" "$W/s3_intact.dump"
	as_op $CAT "SELECT pgbackups.restore('$B_S', target => 'tgt_i', confirm => 'tgt_i', wait => true)"
	check_eq "S3: the intact object restores" "$TRY_STATE" OK
	[ "$TRY_STATE" = OK ] || log "$TRY_MSG"
	compare_dbs "S3: intact" src_int tgt_i
	rid=$(last_restore)
	read_line=$(q $CAT "SELECT message FROM pgbackups.logs WHERE job_id = '$rid' AND message LIKE 'the whole object was read once%'")
	check "S3: the object was read whole once for the check ($read_line)" grep -q "read once for its SHA-256: $SIZE bytes" <<<"$read_line"
fi

finish
