#!/bin/bash
# 35_restore_badinput: restore_from_url() of damaged and hostile archives,
# made by test/tools/craft-archive from the fixtures: truncated at several
# points, wrong magic, version 1.17, negative and huge lengths and counts,
# unknown block types, dumpIds out of range or not matching, corrupt
# gzip/lz4/zstd payloads, zero chunks, concatenated zlib streams, a
# decompression bomb under pgbackups.max_decompressed_size, a missing, an
# unreadable and a directory file, http(s) URLs, and an archive that needs
# an extension the server does not have.  Each must fail with a
# clear error (XX001 data_corrupted, 0A000 for unsupported versions and
# schemes, 54000 over the cap), recorded with its error_code; the target stays
# exactly as it was and no staging database is left.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120} # seconds for one restore call

A=$LIB_DIR/data/archives
CRAFT=$LIB_DIR/tools/craft-archive
CAT="cat"
TGT=victim

start_cluster
q postgres "CREATE DATABASE $CAT" >/dev/null
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
W=$TESTDIR/bad
mkdir -p "$W"
cp "$A"/pg15_seek.dump "$A"/pg15_nocomp.dump "$A"/pg18_gzip.dump "$A"/pg18_lz4.dump "$A"/pg18_zstd.dump "$W"/
# On a server that refuses the pg18 fixtures' pg_attver column option (18),
# the 1.16 bases are this server's own pg_dump of the same source_schema.sql,
# with the same compressions.
if ! fixtures_accept_pg_attver; then
	log "pg18_{gzip,lz4,zstd}.dump are this server's own pg_dump of source_schema.sql"
	load_source_schema src_native
	for z in gzip lz4 zstd; do
		pg_dump -Fc -Z "$z" -d src_native -f "$W/pg18_$z.dump"
	done
fi

psql_db postgres -c "CREATE DATABASE $TGT" >/dev/null
psql_db $TGT >/dev/null <<'SQL'
CREATE SCHEMA s1;
CREATE TABLE s1.t (id integer PRIMARY KEY, name text);
INSERT INTO s1.t SELECT g, 'victim ' || g FROM generate_series(1, 1000) g;
CREATE TABLE public.empty_t (a int, b text);
INSERT INTO public.empty_t VALUES (1, 'not empty');
SELECT lo_from_bytea(424242, 'victim lo');
SQL
db_fingerprint $TGT >"$W/before.txt"

# layout_off FILE PATTERN: the offset of the first --layout line matching PATTERN
layout_off() {
	"$CRAFT" "$1" --layout | awk -v p="$2" '!f && $0 ~ p { print $1; f = 1 }'
}
T_ID=$("$CRAFT" "$W/pg15_seek.dump" --id 'tag:TABLE DATA:t')
SEEK_SIZE=$(stat -c %s "$W/pg15_seek.dump")

# --- the bad files (name | base | craft-archive edits | expected SQLSTATE) --------------
CASES=()
add() { CASES+=("$1|$2|$3|$4"); }
off_toc9=$(layout_off "$W/pg15_seek.dump" '^[0-9]+ toc 9 id=[0-9]+ defn')
off_tdata=$(layout_off "$W/pg15_seek.dump" "block id=$T_ID chunk 0")
off_blobs=$(layout_off "$W/pg15_seek.dump" 'block id=[0-9]+ type 3')
off_count=$(layout_off "$W/pg15_seek.dump" 'toc count')
log "pg15_seek.dump: $SEEK_SIZE bytes; toc count at $off_count, toc 9 defn at $off_toc9, s1.t data ($T_ID) at $off_tdata, BLOBS at $off_blobs"
add trunc_header pg15_seek "--truncate 20" XX001
add trunc_toc pg15_seek "--truncate $((off_toc9 + 30))" XX001
add trunc_data pg15_seek "--truncate $((off_tdata + 20))" XX001
add trunc_lastblock pg15_seek "--truncate $off_blobs" XX001
add trunc_lastbyte pg15_seek "--truncate -1" XX001
add trunc_pipe_data pg15_seek "--offsets unset --truncate $((off_tdata + 20))" XX001
add magic pg15_seek "--poke 0 5047444d51" XX001
add version_1_17 pg18_gzip "--version 1.17" 0A000
add version_2_0 pg15_seek "--version 2.0" 0A000
add defn_len_negative pg15_seek "--poke-int $off_toc9 -5" XX001
add defn_len_huge pg15_seek "--poke-int $off_toc9 2147483647" XX001
add defn_len_4g pg15_seek "--poke-int $off_toc9 4294967295" XX001
add toc_count_negative pg15_seek "--poke-int $off_count -3" XX001
add toc_count_huge pg15_seek "--poke-int $off_count 2147483647" XX001
add chunk_len_negative pg15_seek "--chunk-len tag:TABLE\\ DATA:t -5" XX001
add chunk_len_huge pg15_seek "--chunk-len tag:TABLE\\ DATA:t 2147483647" XX001
add chunk_len_4g pg15_seek "--chunk-len tag:TABLE\\ DATA:t 4294967295" XX001
add block_type_2 pg15_seek "--block-type tag:TABLE\\ DATA:t 2" XX001
add block_type_9 pg15_seek "--block-type tag:TABLE\\ DATA:t 9" XX001
add dumpid_zero pg15_seek "--int-field pos:9 dumpId 0" XX001
add dumpid_negative pg15_seek "--int-field pos:9 dumpId -7" XX001
add block_id_mismatch pg15_seek "--block-id tag:TABLE\\ DATA:t 99999" XX001
add block_id_missing_pipe pg15_seek "--offsets unset --block-id tag:TABLE\\ DATA:t 99999" XX001
add gzip_header pg15_seek "--corrupt-data tag:TABLE\\ DATA:t 0" XX001
add gzip_body pg15_seek "--corrupt-data tag:TABLE\\ DATA:t 20" XX001
add gzip_adler pg15_seek "--corrupt-data tag:TABLE\\ DATA:t -1" XX001
add gzip_zero_chunks pg15_seek "--no-chunks tag:TABLE\\ DATA:t" XX001
add gzip_two_streams pg15_seek "--data-bytes tag:TABLE\\ DATA:t $W/two_streams.bin" XX001
# refused before anything changes (src/restore/restore.c: "extension ... is not available
# on this server"): undefined_object
add missing_extension pg15_seek "--insert-before pos:5 EXTENSION pre CREATE\\ EXTENSION\\ IF\\ NOT\\ EXISTS\\ pgbackups_no_such_ext\\ WITH\\ SCHEMA\\ public\\; --field pos:5 tag pgbackups_no_such_ext" 42704
add lz4_magic pg18_lz4 "--corrupt-data tag:TABLE\\ DATA:t 0" XX001
add lz4_header_checksum pg18_lz4 "--corrupt-data tag:TABLE\\ DATA:t 6" XX001
add zstd_magic pg18_zstd "--corrupt-data tag:TABLE\\ DATA:t 0" XX001
add zstd_reserved_bit pg18_zstd "--corrupt-data tag:TABLE\\ DATA:t 4 0x08" XX001

# two complete zlib streams in one data item (pg_restore 15 loops forever on it)
python3 -c "
import sys, zlib
rows = b''.join(b'%d\trow%d\t\\\\N\n' % (i, i) for i in range(1, 4))
sys.stdout.buffer.write(zlib.compress(rows) + zlib.compress(b'4\trow4\t\\\\N\n\\\\.\n\n\n'))" >"$W/two_streams.bin"

for c in "${CASES[@]}"; do
	IFS='|' read -r name base edits want <<<"$c"
	args=()
	eval "args=($edits)"
	if ! "$CRAFT" "$W/$base.dump" "${args[@]}" -o "$W/$name.dump" 2>"$W/$name.craft.err"; then
		fail "$name: craft-archive $edits: $(cat "$W/$name.craft.err")"
	fi
done
chmod 755 "$W"
chmod 644 "$W"/*.dump
[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$W"

# controls: the bases restore, and pg_restore 15 refuses every 1.14 bad file
for base in pg15_seek pg18_gzip pg18_lz4 pg18_zstd; do
	q postgres "CREATE DATABASE ctl_$base" >/dev/null
	try_sql $CAT "SELECT pgbackups.restore_from_url('file://$W/$base.dump', target => 'ctl_$base', confirm => 'ctl_$base', wait => true)"
	check_eq "control: the undamaged $base restores" "$TRY_STATE" OK
done
for c in "${CASES[@]}"; do
	IFS='|' read -r name base _ _ <<<"$c"
	# pg_restore 15 cannot read 1.16, loops forever on two zlib streams, takes
	# a negative TOC count for an empty TOC, and goes on after a failed
	# CREATE EXTENSION
	case "$base:$name" in pg18* | *:version* | *:gzip_two_streams | *:toc_count_negative | *:missing_extension) continue ;; esac
	rc=0
	timeout 20 pg_restore -f /dev/null "$W/$name.dump" >"$W/$name.ctl" 2>&1 || rc=$?
	# refusing is exiting with an error or crashing on the file (pg_restore
	# 15 dies of SIGSEGV on some lengths, prints only "out of memory" on
	# others), never a timeout (124: the control would prove nothing)
	if [ "$rc" -eq 0 ]; then
		fail "control: pg_restore 15 accepts $name.dump"
	elif [ "$rc" -eq 124 ]; then
		fail "control: pg_restore 15 still reading $name.dump after 20 s"
	elif [ "$rc" -gt 128 ]; then
		pass "control: pg_restore 15 crashes on $name.dump (signal $((rc - 128)))"
	else
		pass "control: pg_restore 15 refuses $name.dump (exit $rc): $(grep -m1 -E 'error|memory' "$W/$name.ctl" | cut -c1-100)"
	fi
done

# expect_bad NAME URL WANT [MSG_REGEX]: restore_from_url fails with exactly
# SQLSTATE WANT, recorded if a job ran, target untouched
expect_bad() {
	local name=$1 url=$2 want=$3 re=${4:-} n0 n1 rid st code
	n0=$(q $CAT "SELECT count(*) FROM pgbackups.restores" 2>/dev/null || echo 0)
	try_sql $CAT "SELECT pgbackups.restore_from_url('$url', target => '$TGT', confirm => '$TGT', wait => true)"
	if [ "$TRY_STATE" = OK ]; then
		fail "$name: the restore succeeded ($TRY_OUT)"
	elif [ "$TRY_STATE" = "$want" ]; then
		pass "$name: fails with $TRY_STATE: $TRY_MSG"
	else
		fail "$name: want SQLSTATE $want, got $TRY_STATE: $TRY_MSG"
	fi
	[ -z "$re" ] || check "$name: the error matches /$re/" grep -qiE "$re" <<<"$TRY_MSG"
	n1=$(q $CAT "SELECT count(*) FROM pgbackups.restores" 2>/dev/null || echo 0)
	if [ "$n1" -gt "$n0" ]; then
		rid=$(q $CAT "SELECT id FROM pgbackups.restores ORDER BY num DESC LIMIT 1")
		st=$(job_field $CAT "$rid" status)
		code=$(job_field $CAT "$rid" error_code)
		check_eq "$name: $rid is failed with error_code = the raised SQLSTATE" "$st $code" "failed $TRY_STATE"
		check "$name: $rid has an error message" test -n "$(job_field $CAT "$rid" error)"
	else
		log "$name: refused before a job was recorded"
	fi
	if wait_for postgres "SELECT count(*) = 0 FROM pg_database WHERE datname LIKE 'pgbackups\_%'" 15; then
		:
	else
		fail "$name: staging database left: $(staging_dbs | tr '\n' ' ')"
	fi
	if db_fingerprint $TGT | diff -q "$W/before.txt" - >/dev/null; then
		pass "$name: $TGT unchanged, no staging database"
	else
		fail "$name: $TGT changed: $(db_fingerprint $TGT | diff "$W/before.txt" - | head -n 10)"
	fi
}

for c in "${CASES[@]}"; do
	IFS='|' read -r name _ _ want <<<"$c"
	re=""
	[ "$name" = missing_extension ] && re=pgbackups_no_such_ext
	expect_bad "$name" "file://$W/$name.dump" "$want" "$re"
done

# --- a decompression bomb: 4 MB of COPY rows in a few kB of zlib ---------------------
python3 -c "
import sys
sys.stdout.buffer.write(b'1\n' * 2000000 + b'\\\\.\n\n\n')" >"$W/bomb.rows"
"$CRAFT" "$W/pg15_seek.dump" --data 'tag:TABLE DATA:empty_t' "$W/bomb.rows" -o "$W/bomb.dump" 2>&1 || fail "craft bomb"
chmod 644 "$W/bomb.dump"
[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$W/bomb.dump"
log "bomb.dump: $(stat -c %s "$W/bomb.dump") bytes, $(stat -c %s "$W/bomb.rows") bytes of COPY data for empty_t"
default_cap=$(q $CAT "SHOW pgbackups.max_decompressed_size" 2>&1 || true)
log "pgbackups.max_decompressed_size default: $default_cap"
try_sql $CAT "ALTER SYSTEM SET pgbackups.max_decompressed_size = '1MB'"
check_eq "ALTER SYSTEM SET pgbackups.max_decompressed_size = '1MB'" "$TRY_STATE" OK
q $CAT "SELECT pg_reload_conf()" >/dev/null
wait_for $CAT "SELECT current_setting('pgbackups.max_decompressed_size') = '1MB'" 10 || fail "the cap did not take effect"
expect_bad "decompression bomb over the 1MB cap" "file://$W/bomb.dump" 54000 'max_decompressed_size|1 ?MB|1048576|limit'
q postgres "CREATE ROLE cap_setter LOGIN" >/dev/null
# a server-wide (PGC_SIGHUP) setting: SET is refused for every role with
# cant_change_runtime_param, before any privilege question
try_sql $CAT "SET ROLE cap_setter; SET pgbackups.max_decompressed_size = '1GB'"
check_eq "an ordinary role cannot change the cap ($TRY_MSG)" "$TRY_STATE" 55P02
q $CAT "ALTER SYSTEM RESET pgbackups.max_decompressed_size" >/dev/null
q $CAT "SELECT pg_reload_conf()" >/dev/null
wait_for $CAT "SELECT current_setting('pgbackups.max_decompressed_size') <> '1MB'" 10 || fail "the cap was not reset"
q postgres "CREATE DATABASE ctl_bomb" >/dev/null
try_sql $CAT "SELECT pgbackups.restore_from_url('file://$W/bomb.dump', target => 'ctl_bomb', confirm => 'ctl_bomb', wait => true)"
check_eq "control: under the default cap the same archive restores" "$TRY_STATE" OK
check_eq "control: all 2000000 rows of the bomb are loaded" "$(q ctl_bomb "SELECT count(*) FROM public.empty_t" 2>&1)" 2000000

# --- files that are not there or not readable, and URLs that are not files ----------------
expect_bad "missing file" "file://$W/no_such_file.dump" 58P01 'no_such_file'
if [ "$(id -u)" -eq 0 ]; then
	# owned by root, mode 600: the server (the postgres OS user) cannot read it
	cp "$W/pg15_seek.dump" "$W/unreadable.dump"
	chown root:root "$W/unreadable.dump"
	chmod 600 "$W/unreadable.dump"
	expect_bad "file the postgres OS user cannot read" "file://$W/unreadable.dump" 42501 'unreadable|permission'
else
	skip "file the postgres OS user cannot read" "not root: cannot make a file the server's OS user cannot read"
fi
expect_bad "a directory" "file://$W" 42809 'directory'
expect_bad "a relative file URL" "file://bad/pg15_seek.dump" 22023 'absolute'
: >"$W/empty.dump"
chmod 644 "$W/empty.dump"
expect_bad "an empty file" "file://$W/empty.dump" XX001
# (a host that resolves nowhere: no address rule applies, only the scheme's)
expect_bad "http URL (host not allow-listed)" "http://host.invalid:1/x.dump" 22023 'http://'
expect_bad "https URL to a loopback address" "https://127.0.0.1:1/x.dump" 42501 'loopback'
expect_bad "https URL to an unreachable host" "https://host.invalid/x.dump" 08006 'host.invalid'
expect_bad "an unknown scheme" "ftp://example.com/x.dump" 22023 'scheme'
expect_bad "an s3 URL" "s3://bucket/x.dump" 22023

finish
