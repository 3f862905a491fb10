#!/bin/bash
# test/fuzz/run-asan.sh [--valgrind] [ARCHIVE...]
#
# Build test/fuzz/reader_driver out of tree (build.sh) and run every archive
# through the reader walk (walk.c): the committed corpus (corpus/good,
# corpus/bad) and the fixtures in test/data/archives, unless archives are
# named.  One line per archive, "NAME: ok (...)" or "NAME: error SQLSTATE
# message"; corpus/expected.tsv says which must be read and which rejected
# (and why).  Exit status non-zero on any sanitizer report, leak, crash, or
# outcome that does not match the expectations.
#
#   default     -fsanitize=address,undefined (LeakSanitizer included)
#   --valgrind  built without sanitizers, run under
#               valgrind --error-exitcode=1 --leak-check=full
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=asan
if [ "${1:-}" = --valgrind ]; then
	MODE=valgrind
	shift
fi

BIN=$("$HERE/build.sh" "$MODE" | tail -n 1)
if [ "$#" -gt 0 ]; then
	files=("$@")
else
	files=("$HERE"/corpus/good/*.dump "$HERE"/corpus/bad/*.dump "$HERE"/../data/archives/*.dump)
fi

echo "run-asan.sh: $MODE build $BIN, ${#files[@]} archives"
case "$MODE" in
	asan)
		ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1} \
			UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
			"$BIN" --expect "$HERE/corpus/expected.tsv" "${files[@]}"
		;;
	valgrind)
		valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible \
			--errors-for-leak-kinds=definite,indirect,possible --track-origins=yes \
			"$BIN" --expect "$HERE/corpus/expected.tsv" "${files[@]}"
		;;
esac
