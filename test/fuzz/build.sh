#!/bin/bash
# test/fuzz/build.sh MODE [OUTDIR]: build the archive-reader harness out of
# tree.  Nothing is written outside OUTDIR (default test/fuzz/build/MODE,
# ignored by git); the repository's own build is not touched.
#
#   asan      reader_driver with -fsanitize=address,undefined
#   valgrind  reader_driver without sanitizers, for valgrind
#   fuzz      fuzz_reader, the libFuzzer target (-fsanitize=fuzzer,address,undefined)
#   fuzz-compress  fuzz_compress, compressor round trips (same flags)
#
# src/archive/archive_reader.c and src/archive/compress*.c (the shared part and one file
# per algorithm) are compiled unmodified against
# the PostgreSQL 15 server headers; test/fuzz/shim supplies the backend
# runtime (see shim/pgb_shim.h), libpgcommon/libpgport the rest.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MODE=${1:?usage: build.sh asan|valgrind|fuzz|fuzz-compress [OUTDIR]}
OUT=${2:-$HERE/build/$MODE}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CC=${CC:-clang}

mkdir -p "$OUT"
INC=(-I"$REPO/src/archive" -I"$REPO/src/module" -I"$HERE" -I"$HERE/shim"
	-I"$("$PG_CONFIG" --includedir-server)" -I"$("$PG_CONFIG" --includedir)")
# as the server build (minus -fwrapv, so that UBSan reports signed overflow)
CFLAGS=(-std=gnu99 -g -fno-omit-frame-pointer -fno-strict-aliasing -D_GNU_SOURCE
	-Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
	-Wno-sign-compare -Wno-ignored-attributes)
# libpgcommon.a/libpgport.a: Debian puts them in pkglibdir, a source build in libdir
PGLIBDIR=$("$PG_CONFIG" --pkglibdir)
[ -f "$PGLIBDIR/libpgcommon.a" ] || PGLIBDIR=$("$PG_CONFIG" --libdir)
LIBS=("$PGLIBDIR/libpgcommon.a" "$PGLIBDIR/libpgport.a"
	-lzstd -llz4 -lz -lisal -lm)
SRCS=("$REPO/src/archive/archive_reader.c" "$REPO"/src/archive/compress*.c "$HERE/shim/pgb_shim.c" "$HERE/walk.c")

case "$MODE" in
	asan)
		SAN=(-O1 "-fsanitize=address,undefined" -fno-sanitize-recover=all)
		MAIN="$HERE/reader_driver.c"
		BIN=reader_driver
		;;
	valgrind)
		SAN=(-O1 -gdwarf-4)	# valgrind 3.19 cannot read clang 14's default DWARF 5
		MAIN="$HERE/reader_driver.c"
		BIN=reader_driver
		;;
	fuzz)
		SAN=(-O1 "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=all)
		MAIN="$HERE/fuzz_reader.c"
		BIN=fuzz_reader
		;;
	fuzz-compress)
		SAN=(-O1 "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=all)
		MAIN="$HERE/fuzz_compress.c"
		BIN=fuzz_compress
		;;
	*)
		echo "build.sh: unknown mode $MODE (asan, valgrind, fuzz or fuzz-compress)" >&2
		exit 2
		;;
esac

"$CC" "${CFLAGS[@]}" "${SAN[@]}" "${INC[@]}" -o "$OUT/$BIN" "${SRCS[@]}" "$MAIN" "${LIBS[@]}"
echo "$OUT/$BIN"
