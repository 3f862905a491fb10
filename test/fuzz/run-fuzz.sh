#!/bin/bash
# test/fuzz/run-fuzz.sh [SECONDS] [reader|compress]
#
# Build the libFuzzer target test/fuzz/fuzz_reader (build.sh fuzz) and fuzz
# the archive reader for SECONDS (default 60), starting from a copy of the
# committed corpus; the committed corpus is never changed.  "compress" runs
# test/fuzz/fuzz_compress instead: compressor round trips of arbitrary data.
#
#   FUZZ_WORK     work directory (default test/fuzz/build/fuzz-work[-compress], ignored
#                 by git): corpus/ grows there across runs, crash, leak,
#                 timeout and oom inputs land in artifacts/
#   FUZZ_MAX_LEN  -max_len (default 262144: every seed fits)
#   FUZZ_FORK     run N fuzzing processes (-fork=N); default 1 process
#
# Replay a finding with the ASan driver: test/fuzz/run-asan.sh ARTIFACT
# (it will be reported as unexpected unless it is rejected cleanly).
# Exit status non-zero if libFuzzer found anything.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECS=${1:-60}
TARGET=${2:-reader}
case "$TARGET" in
	reader)
		WORK=${FUZZ_WORK:-$HERE/build/fuzz-work}
		BIN=$("$HERE/build.sh" fuzz | tail -n 1)
		seeds=("$HERE"/corpus/good/*.dump "$HERE"/corpus/bad/*.dump)
		extra=(-dict="$HERE/archive.dict")
		;;
	compress)
		WORK=${FUZZ_WORK:-$HERE/build/fuzz-work-compress}
		BIN=$("$HERE/build.sh" fuzz-compress | tail -n 1)
		seeds=("$HERE"/corpus/good/*.dump)
		extra=()
		;;
	*)
		echo "run-fuzz.sh: unknown target $TARGET (reader or compress)" >&2
		exit 2
		;;
esac

mkdir -p "$WORK/corpus" "$WORK/artifacts"
cp -n "${seeds[@]}" "$WORK/corpus/" 2>/dev/null || true

args=(-max_total_time="$SECS" -max_len="${FUZZ_MAX_LEN:-262144}" -timeout=10 -rss_limit_mb=2048
	-print_final_stats=1 -artifact_prefix="$WORK/artifacts/" "${extra[@]}")
if [ -n "${FUZZ_FORK:-}" ]; then
	args+=(-fork="$FUZZ_FORK" -ignore_crashes=0)
fi

echo "run-fuzz.sh: $BIN for $SECS s, corpus $WORK/corpus ($(find "$WORK/corpus" -type f | wc -l) inputs)"
before=$(find "$WORK/artifacts" -type f | wc -l)
rc=0
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"$BIN" "${args[@]}" "$WORK/corpus" || rc=$?
after=$(find "$WORK/artifacts" -type f | wc -l)
echo "run-fuzz.sh: libFuzzer exit $rc; corpus now $(find "$WORK/corpus" -type f | wc -l) inputs;" \
	"$((after - before)) new artifact(s) in $WORK/artifacts"
if [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ]; then
	exit 1
fi
