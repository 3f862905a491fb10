#!/bin/bash
# 10_roundtrip: capture a rich database (test/data/rich.sql) with each
# compression pg_restore 15 reads, restore it with the real pg_restore
# (serial, -j 2, from a pipe) and compare schema and data with the source and
# with a real pg_dump -Fc restored the same way.  Also: lz4/zstd headers, and
# the catalog database's own capture holds no catalog rows.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

INSPECT=$LIB_DIR/tools/pgdmp-inspect
DIGEST=$LIB_DIR/tools/archive-digest

start_cluster
q postgres "CREATE DATABASE catalog" >/dev/null
q catalog "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE rich" >/dev/null
log "loading test/data/rich.sql into rich"
psql_db rich -v ROWS_BIG="${ROWS_BIG:-300000}" <"$LIB_DIR/data/rich.sql" >/dev/null

# TABLE DATA entries of an archive as "schema name", sorted
table_data_entries() {
	pg_restore -l "$1" | awk '$4 == "TABLE" && $5 == "DATA" { $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); sub(/ [^ ]+$/, ""); print }' | sort
}

# The TOC without dump ids, sorted: "catalogid oid desc schema name owner"
toc_lines() {
	pg_restore -l "$1" | grep -v '^;' | sed -E 's/^[0-9]+; //' | sort
}

# COPY lines and "-- load via partition root" markers of the data section
copy_lines() {
	pg_restore -f - --data-only "$1" | grep -E '^(COPY .* FROM stdin;$|-- load via partition root )' | sort
}

# --- reference: the real pg_dump -Fc -------------------------------------------
REF=$TESTDIR/ref.dump
reference_pg_dump -d rich -f "$REF"
restore_into "reference pg_dump -Fc" "$REF" ref_restored
compare_dbs "reference pg_dump -Fc" rich ref_restored
table_data_entries "$REF" >"$TESTDIR/ref.tabledata"
log "reference archive: $(stat -c %s "$REF") bytes, $(wc -l <"$TESTDIR/ref.tabledata") TABLE DATA entries"

# the archive version this server's own pg_dump writes: 1.14 up to 15, 1.15 on
# 16, 1.16 on 17 and later (lz4 and zstd need at least 1.15)
SVN=$(q postgres "SHOW server_version_num")
if [ "$SVN" -ge 170000 ]; then VMIN=16; elif [ "$SVN" -ge 160000 ]; then VMIN=15; else VMIN=14; fi
log "server $SVN: native archive version 1.$VMIN"

# --- captures with compressions pg_restore 15 reads ----------------------------------
for comp in none gzip gzip:9; do
	tag=${comp//:/_}
	log "capture(database => 'rich', wait => true, compression => '$comp', parallel => 2)"
	start=$SECONDS
	if ! id=$(q catalog "SELECT pgbackups.capture(database => 'rich', wait => true, compression => '$comp', parallel => 2)" 2>"$TESTDIR/capture-$tag.err"); then
		fail "$comp: capture failed: $(cat "$TESTDIR/capture-$tag.err")"
		continue
	fi
	log "$comp: $(describe_backup catalog "$id") in $((SECONDS - start)) s"
	check_eq "$comp: status of $id" "$(backup_field catalog "$id" status)" completed
	check_eq "$comp: database recorded" "$(backup_field catalog "$id" database)" rich
	arch=$(archive_path catalog "$id")
	if [ ! -f "$arch" ]; then
		fail "$comp: archive $arch does not exist"
		continue
	fi
	pass "$comp: archive exists: $arch"
	check_eq "$comp: archive_size = file size" "$(backup_field catalog "$id" archive_size)" "$(stat -c %s "$arch")"
	check_eq "$comp: sha256 = sha256sum of the file" "$(backup_field catalog "$id" sha256)" "$(sha256sum "$arch" | cut -d' ' -f1)"
	case "$arch" in
	"$STORAGE_DIR"/*/catalog/"$id"-*.dump) pass "$comp: key is <system_identifier>/catalog/$id-<time>.dump" ;;
	*) fail "$comp: unexpected archive path $arch (storage $STORAGE_DIR)" ;;
	esac
	sysid=$(q catalog "SELECT system_identifier FROM pg_control_system()")
	check_eq "$comp: system identifier directory" "$(basename "$(dirname "$(dirname "$arch")")")" "$sysid"

	# header: the native version; before 1.15 the gzip level as an Int, from
	# 1.15 on the algorithm as one byte (the level is not stored)
	hdr=$("$INSPECT" "$arch" 2>&1 | head -n 1) || true
	if [ "$VMIN" -eq 14 ]; then
		case "$comp" in
		none) want="compression=('level', 0)" ;;
		gzip) want="compression=('level', -1)" ;;
		gzip:9) want="compression=('level', 9)" ;;
		esac
	else
		case "$comp" in
		none) want="compression=('alg', 0)" ;;
		gzip*) want="compression=('alg', 1)" ;;
		esac
	fi
	if [[ $hdr == "version 1.$VMIN.0 intSize=4 offSize=8 fmt=1 $want" ]]; then
		pass "$comp: header $hdr"
	else
		fail "$comp: header is [$hdr], want version 1.$VMIN.0 ... $want"
	fi
	if "$INSPECT" "$arch" >"$TESTDIR/inspect-$tag.txt" 2>&1; then
		pass "$comp: pgdmp-inspect walks the whole archive"
	else
		fail "$comp: pgdmp-inspect failed: $(tail -n 3 "$TESTDIR/inspect-$tag.txt")"
	fi
	if "$DIGEST" "$arch" >"$TESTDIR/digest-$tag.txt" 2>&1; then
		pass "$comp: archive-digest decodes $(wc -l <"$TESTDIR/digest-$tag.txt") data items (gzip: exactly one zlib stream each)"
	else
		fail "$comp: archive-digest: $(tail -n 3 "$TESTDIR/digest-$tag.txt")"
	fi
	if [ "$tag" != none ] && [ -f "$TESTDIR/digest-none.txt" ]; then
		check "$comp: data items decompress to the bytes of the 'none' archive" diff -q "$TESTDIR/digest-none.txt" "$TESTDIR/digest-$tag.txt"
	fi

	# TOC: exactly one TABLE DATA per table, the same set pg_dump writes
	if pg_restore -l "$arch" >"$TESTDIR/list-$tag.txt" 2>"$TESTDIR/list-$tag.err"; then
		pass "$comp: pg_restore -l reads it ($(grep -vc '^;' "$TESTDIR/list-$tag.txt") entries)"
	else
		fail "$comp: pg_restore -l: $(cat "$TESTDIR/list-$tag.err")"
	fi
	table_data_entries "$arch" >"$TESTDIR/$tag.tabledata"
	dups=$(uniq -d "$TESTDIR/$tag.tabledata")
	check_eq "$comp: no table has two TABLE DATA entries" "$dups" ""
	if diff -u "$TESTDIR/ref.tabledata" "$TESTDIR/$tag.tabledata" >"$TESTDIR/$tag.tabledata.diff"; then
		pass "$comp: TABLE DATA entries = pg_dump's ($(wc -l <"$TESTDIR/$tag.tabledata"))"
	else
		fail "$comp: TABLE DATA entries differ from pg_dump's: $(cat "$TESTDIR/$tag.tabledata.diff")"
	fi
	if diff -u <(toc_lines "$REF") <(toc_lines "$arch") >"$TESTDIR/$tag.toc.diff"; then
		pass "$comp: TOC entries (without dump ids) = pg_dump -Fc's"
	else
		fail "$comp: TOC differs from pg_dump -Fc's: $(head -n 30 "$TESTDIR/$tag.toc.diff")"
	fi
	# the COPY statements (and load-via-partition-root markers) of the data
	# entries are pg_dump's
	if diff -u <(copy_lines "$REF") <(copy_lines "$arch") >"$TESTDIR/$tag.copy.diff"; then
		pass "$comp: COPY statements of the data entries = pg_dump's ($(copy_lines "$arch" | grep -c '^COPY'))"
	else
		fail "$comp: COPY statements differ from pg_dump's: $(grep '^[-+][^-+]' "$TESTDIR/$tag.copy.diff" | head -n 10 | tr '\n' ' ')"
	fi
	check_eq "$comp: tables column = number of TABLE DATA entries" \
		"$(backup_field catalog "$id" tables)" "$(wc -l <"$TESTDIR/$tag.tabledata")"
	want_rows=$(table_rows_total rich | awk '{ s += $1 } END { print s }')
	check_eq "$comp: rows column = rows in the source tables" "$(backup_field catalog "$id" rows)" "$want_rows"

	# restores
	if restore_into "$comp" "$arch" "r_${tag}_serial"; then
		compare_dbs "$comp serial" rich "r_${tag}_serial"
	fi
	if restore_into "$comp" "$arch" "r_${tag}_j2" -j 2; then
		compare_dbs "$comp -j 2" rich "r_${tag}_j2"
	fi
	# a real pipe (a redirected file would be seekable)
	if restore_into "$comp" - "r_${tag}_pipe" < <(cat "$arch"); then
		compare_dbs "$comp from a pipe" rich "r_${tag}_pipe"
	fi
	# pg_restore -f - must produce a script psql can run
	if pg_restore -f "$TESTDIR/$tag.script.sql" "$arch" 2>"$TESTDIR/$tag.script.err"; then
		q postgres "CREATE DATABASE r_${tag}_script" >/dev/null
		# the roles exist in this cluster; ownership is postgres anyway
		if psql -X -q -v ON_ERROR_STOP=1 -d "r_${tag}_script" -f "$TESTDIR/$tag.script.sql" >/dev/null 2>"$TESTDIR/$tag.script.psql.err"; then
			pass "$comp: pg_restore -f - script runs in psql"
			compare_dbs "$comp via script" rich "r_${tag}_script"
		else
			fail "$comp: psql of the pg_restore -f script failed: $(head -c 600 "$TESTDIR/$tag.script.psql.err")"
		fi
	else
		fail "$comp: pg_restore -f: $(cat "$TESTDIR/$tag.script.err")"
	fi
done

check_eq "the captured database needs no extension (no schema pgbackups in rich)" \
	"$(q rich "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgbackups'")" 0
check_eq "the records live in the calling database's catalog" \
	"$(q catalog "SELECT count(*) FROM pgbackups.backups WHERE database = 'rich' AND status = 'completed'")" 3

# --- lz4 and zstd: archive 1.15 or later, which pg_restore 15 cannot read; on 16
# and later the server's own pg_restore restores them ------------------------------
VLZ=$((VMIN > 15 ? VMIN : 15))
for comp in lz4 lz4:3 zstd zstd:19; do
	case "$comp" in lz4*) alg=2 ;; zstd*) alg=3 ;; esac
	if ! id=$(q catalog "SELECT pgbackups.capture(database => 'rich', wait => true, compression => '$comp')" 2>"$TESTDIR/capture.err"); then
		fail "$comp: capture failed: $(cat "$TESTDIR/capture.err")"
		continue
	fi
	log "$comp: $(describe_backup catalog "$id")"
	check_eq "$comp: status" "$(backup_field catalog "$id" status)" completed
	check_eq "$comp: compression/level recorded" "$(backup_field catalog "$id" "compression || coalesce(':' || compression_level, '')")" "$comp"
	arch=$(archive_path catalog "$id")
	[ -f "$arch" ] || {
		fail "$comp: no archive file $arch"
		continue
	}
	# bytes 5..7 = version, byte 11 = algorithm (1.15+: one byte)
	bytes=$(od -An -tu1 -j5 -N7 "$arch" | tr -s ' ' | sed 's/^ //')
	check_eq "$comp: header bytes 5..11 (vmaj vmin vrev intSize offSize format algorithm)" "$bytes" "1 $VLZ 0 4 8 1 $alg"
	check_eq "$comp: archive_version column" "$(backup_field catalog "$id" archive_version)" "1.$VLZ"
	# zstd is the default from 16 on: the server's own pg_restore reads it
	# serially, with -j 2 and from a pipe, and restores the same database
	if [ "$comp" = zstd ] && [ "$SVN" -ge 160000 ]; then
		if pg_restore -l "$arch" >"$TESTDIR/list-zstd.txt" 2>"$TESTDIR/list-zstd.err"; then
			pass "$comp: pg_restore -l reads it ($(grep -vc '^;' "$TESTDIR/list-zstd.txt") entries)"
		else
			fail "$comp: pg_restore -l: $(cat "$TESTDIR/list-zstd.err")"
		fi
		if restore_into "$comp" "$arch" r_zstd_serial; then
			compare_dbs "$comp serial" rich r_zstd_serial
		fi
		if restore_into "$comp" "$arch" r_zstd_j2 -j 2; then
			compare_dbs "$comp -j 2" rich r_zstd_j2
		fi
		if restore_into "$comp" - r_zstd_pipe < <(cat "$arch"); then
			compare_dbs "$comp from a pipe" rich r_zstd_pipe
		fi
	fi
	if "$INSPECT" "$arch" >"$TESTDIR/inspect.txt" 2>&1; then
		pass "$comp: pgdmp-inspect decodes every block ($(grep -c 'TABLE DATA' "$TESTDIR/inspect.txt") TABLE DATA lines)"
	else
		fail "$comp: pgdmp-inspect: $(tail -n 3 "$TESTDIR/inspect.txt")"
	fi
	check_eq "$comp: sha256" "$(backup_field catalog "$id" sha256)" "$(sha256sum "$arch" | cut -d' ' -f1)"
	# the decompressed data items equal those of the uncompressed archive,
	# which pg_restore restored above
	if "$DIGEST" "$arch" >"$TESTDIR/digest-${comp//:/_}.txt" 2>&1; then
		if diff -u "$TESTDIR/digest-none.txt" "$TESTDIR/digest-${comp//:/_}.txt" >"$TESTDIR/digest.diff"; then
			pass "$comp: every data item decompresses to the bytes of the 'none' archive ($(wc -l <"$TESTDIR/digest-none.txt") items)"
		else
			fail "$comp: data items differ from the 'none' archive: $(head -n 20 "$TESTDIR/digest.diff")"
		fi
	else
		fail "$comp: archive-digest: $(tail -n 3 "$TESTDIR/digest-${comp//:/_}.txt")"
	fi
done

# --- the catalog database's own backup holds no catalog rows ------------------
q catalog "CREATE TABLE public.app_data AS SELECT g AS id FROM generate_series(1, 10) g" >/dev/null
if id=$(q catalog "SELECT pgbackups.capture(wait => true)" 2>"$TESTDIR/capture.err"); then
	log "catalog self-capture: $(describe_backup catalog "$id")"
	arch=$(archive_path catalog "$id")
	n_rows=$(q catalog "SELECT count(*) FROM pgbackups.backups")
	log "pgbackups.backups has $n_rows rows now"
	pg_restore -f "$TESTDIR/catalog.sql" "$arch"
	for tbl in pgbackups.backups pgbackups.logs; do
		# data lines between "COPY <tbl> ..." and "\."
		lines=$(awk -v t="COPY $tbl " 'index($0, t) == 1 { on = 1; next } on && /^\\\.$/ { on = 0 } on { n++ } END { print n + 0 }' "$TESTDIR/catalog.sql")
		check_eq "self-capture: data rows of $tbl in the archive" "$lines" 0
	done
	check "self-capture: other data is there (COPY public.app_data)" grep -q '^COPY public.app_data ' "$TESTDIR/catalog.sql"
	check "self-capture: CREATE EXTENSION pgbackups is in the archive" grep -q 'CREATE EXTENSION IF NOT EXISTS pgbackups' "$TESTDIR/catalog.sql"
else
	fail "catalog self-capture failed: $(cat "$TESTDIR/capture.err")"
fi

check_eq "no .tmp file left in storage" "$(find "$STORAGE_DIR" -name '*.tmp' | wc -l)" 0
finish
