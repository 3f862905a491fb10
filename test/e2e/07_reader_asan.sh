#!/bin/bash
# 07_reader_asan: the archive reader and decompressors (src/archive/archive_reader.c,
# src/archive/compress*.c) outside the server, under sanitizers.  test/fuzz/run-asan.sh
# walks every archive of test/fuzz/corpus and test/data/archives with
# ASan/UBSan/LeakSanitizer: real archives must be read, each malformed one
# rejected with a clean error (test/fuzz/corpus/expected.tsv).  The same
# under valgrind, then 30 seconds of libFuzzer from a copy of the corpus.
# No cluster needed; needs clang, libclang-rt-14-dev and valgrind.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FUZZ=$LIB_DIR/fuzz
OUT=$(mktemp -d /tmp/pgbackups-fuzz.XXXXXX)
_LIB_TMPDIRS+=("$OUT")
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

if ! command -v clang >/dev/null 2>&1; then
	fail "clang is not installed (scripts/setup.sh installs clang and libclang-rt-14-dev)"
	finish
fi

# one check per archive, from the driver's "NAME: ok|error ..." lines
count_archives() {
	local mode=$1 log=$2 line
	while IFS= read -r line; do
		case "$line" in
			*"<- UNEXPECTED"*) fail "$mode: $line" ;;
			*) pass "$mode: $line" ;;
		esac
	done < <(grep -E '^[^ ]+\.dump: (ok|error) ' "$log" || true)
}

rc=0
"$FUZZ/run-asan.sh" >"$OUT/asan.log" 2>&1 || rc=$?
count_archives asan "$OUT/asan.log"
if [ "$rc" -eq 0 ]; then
	pass "run-asan.sh: $(tail -n 1 "$OUT/asan.log"), no sanitizer report"
else
	tail -n 40 "$OUT/asan.log" >&2
	fail "run-asan.sh exit $rc (sanitizer report, crash or unexpected outcome; see above)"
fi

if command -v valgrind >/dev/null 2>&1; then
	rc=0
	"$FUZZ/run-asan.sh" --valgrind >"$OUT/valgrind.log" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "run-asan.sh --valgrind: $(tail -n 1 "$OUT/valgrind.log"), no valgrind error or leak"
	else
		tail -n 40 "$OUT/valgrind.log" >&2
		fail "run-asan.sh --valgrind exit $rc"
	fi
else
	fail "valgrind is not installed (scripts/setup.sh installs it)"
fi

rc=0
FUZZ_WORK=$OUT/fuzz "$FUZZ/run-fuzz.sh" "$FUZZ_SECONDS" >"$OUT/fuzz.log" 2>&1 || rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/fuzz.log" | tail -n 1)
if [ "$rc" -eq 0 ]; then
	pass "libFuzzer ${FUZZ_SECONDS} s: ${execs:-?} executions, nothing found"
else
	keep=/tmp/pgbackups-fuzz-findings.$$
	cp -r "$OUT/fuzz/artifacts" "$keep" 2>/dev/null || true
	grep -E -A 30 '==ERROR|runtime error|pgb_shim:|unexpected error|Timeout|out-of-memory' "$OUT/fuzz.log" | head -n 60 >&2 || true
	fail "libFuzzer found something in ${FUZZ_SECONDS} s (exit $rc); inputs kept in $keep, replay with test/fuzz/run-asan.sh FILE"
fi
finish
