#!/bin/bash
# 05_fixtures: the reference archives in test/data/archives and the test
# tools.  pg_restore 15 reads the 1.14 archives and refuses the 1.16 ones
# (17 and later read both);
# pgdmp-inspect walks every archive; archive-digest gives the same data items
# for archives of the same data in different compressions and framings, which
# is what 10_roundtrip relies on for lz4/zstd captures.  No cluster needed.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

A=$LIB_DIR/data/archives
INSPECT=$LIB_DIR/tools/pgdmp-inspect
DIGEST=$LIB_DIR/tools/archive-digest
OUT=$(mktemp -d /tmp/pgbackups-fixtures.XXXXXX)
_LIB_TMPDIRS+=("$OUT")

for f in "$A"/*.dump; do
	n=$(basename "$f" .dump)
	if "$INSPECT" "$f" >"$OUT/$n.inspect" 2>&1; then
		pass "pgdmp-inspect $n: $(head -n 1 "$OUT/$n.inspect")"
	else
		fail "pgdmp-inspect $n: $(tail -n 2 "$OUT/$n.inspect")"
	fi
done

# the pg_restore under test (PGBIN): 15 refuses 1.16, 17 and later read it
PGR_MAJOR=$(pg_restore --version | sed -E 's/.* ([0-9]+)(\.|beta|rc|devel).*/\1/')
for n in pg15_seek pg15_pipe pg15_nocomp pg15_bigoid_lo writer_1.14_gzip writer_split_tabledata; do
	check "pg_restore $PGR_MAJOR -l reads $n" pg_restore -l -f /dev/null "$A/$n.dump"
done
for n in pg18_gzip pg18_none pg18_lz4 pg18_zstd; do
	if [ "$PGR_MAJOR" -ge 17 ]; then
		check "pg_restore $PGR_MAJOR -l reads the 1.16 archive $n" pg_restore -l -f /dev/null "$A/$n.dump"
	elif out=$(pg_restore -l "$A/$n.dump" 2>&1); then
		fail "pg_restore $PGR_MAJOR read the 1.16 archive $n"
	else
		check "pg_restore $PGR_MAJOR refuses $n: $out" grep -q 'unsupported version (1.16)' <<<"$out"
	fi
done

for n in pg15_seek pg15_pipe pg15_nocomp pg18_gzip pg18_none pg18_lz4 pg18_lz4_pipe pg18_zstd pg15_bigoid_lo; do
	if ! "$DIGEST" "$A/$n.dump" >"$OUT/$n.digest" 2>&1; then
		fail "archive-digest $n: $(tail -n 2 "$OUT/$n.digest")"
	fi
done
for n in pg15_pipe pg15_nocomp pg18_none pg18_gzip pg18_lz4 pg18_lz4_pipe pg18_zstd; do
	check "archive-digest: $n holds the same data items as pg15_seek ($(wc -l <"$OUT/pg15_seek.digest") items)" \
		diff -q "$OUT/pg15_seek.digest" "$OUT/$n.digest"
done
check_eq "archive-digest: large objects of pg15_bigoid_lo (OIDs as unsigned)" \
	"$(awk '$1 == "BLOB" { print $2 }' "$OUT/pg15_bigoid_lo.digest" | sort -n | tr '\n' ' ')" "1 2147483648 3000000000 "
finish
