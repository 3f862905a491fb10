#!/bin/bash
# test/unit/run.sh: build and run the unit tests of src/storage/sigv4.c (the AWS
# Signature Version 4 signer), out of tree: nothing is written outside
# test/unit/build (ignored by git) or SIGV4_BUILD_DIR.
#
#   1. sigv4_test built with the server's warning flags (gcc) and run: the
#      AWS SigV4 test suite (header and query variants), the two Amazon S3
#      API Reference examples, encoding and canonicalisation properties
#   2. the botocore cross-check: sigv4_test --presign-cases cases.tsv
#      against botocore_presign.py (botocore's own Python signer, and its
#      awscrt/aws-c-auth signer when python3-awscrt is installed); each
#      presigned URL and Authorization header must match
#   3. the same binary built with clang -fsanitize=address,undefined
#      (LeakSanitizer on: the test frees everything the signer returns),
#      run on the known answers and on cases.tsv (output byte-identical to
#      step 1's)
#
# Prints TAP-style lines and, last, "sigv4: N checks, M failed"; exits 1 on
# any failure.  PG_CONFIG, CC, PYTHON (default /usr/bin/python3: Debian's
# python3-botocore), SIGV4_BUILD_DIR (default test/unit/build) and SKIP_ASAN=1
# can be set.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=pg_config
CC=${CC:-gcc}
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD=${SIGV4_BUILD_DIR:-$HERE/build}

CHECKS=0
FAILED=0
FAILURES=()

ok() {
	CHECKS=$((CHECKS + 1))
	echo "ok - $1"
}
not_ok() {
	CHECKS=$((CHECKS + 1))
	FAILED=$((FAILED + 1))
	FAILURES+=("$1")
	echo "not ok - $1"
}

# tally FILE LABEL: FILE's TAP lines ("ok N - ..." / "not ok N - ...") as our
# own checks, prefixed with LABEL; its "#" diagnostics are shown as they are
tally() {
	local file=$1 label=$2 line
	while IFS= read -r line; do
		if [[ $line =~ ^ok\ [0-9]*\ ?-\ (.*)$ ]]; then
			ok "$label: ${BASH_REMATCH[1]}"
		elif [[ $line =~ ^not\ ok\ [0-9]*\ ?-\ (.*)$ ]]; then
			not_ok "$label: ${BASH_REMATCH[1]}"
		elif [[ $line == "#"* ]]; then
			echo "$line"
		fi
	done <"$file"
}

INC=(-I"$REPO/src/storage" -I"$("$PG_CONFIG" --includedir-server)" -I"$("$PG_CONFIG" --includedir)")
# libpgcommon.a/libpgport.a: Debian puts them in pkglibdir, a source build in libdir
PGLIBDIR=$("$PG_CONFIG" --pkglibdir)
[ -f "$PGLIBDIR/libpgcommon.a" ] || PGLIBDIR=$("$PG_CONFIG" --libdir)
LIBS=("$PGLIBDIR/libpgcommon.a" "$PGLIBDIR/libpgport.a" -lcrypto -lm)
# the server build's warning flags (Makefile, pg_config), FRONTEND for libpgcommon
WARN=(-std=gnu99 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
	-Wno-sign-compare -Wno-ignored-attributes -Wdeclaration-after-statement -Wmissing-prototypes
	-DFRONTEND -D_GNU_SOURCE)
SRCS=("$REPO/src/storage/sigv4.c" "$HERE/sigv4_test.c")

build() { # build NAME CC FLAGS...: into $BUILD/NAME/sigv4_test
	local name=$1 cc=$2
	shift 2
	mkdir -p "$BUILD/$name"
	if "$cc" "${WARN[@]}" "$@" "${INC[@]}" -o "$BUILD/$name/sigv4_test" "${SRCS[@]}" "${LIBS[@]}" \
		>"$BUILD/$name/build.log" 2>&1; then
		ok "build sigv4_test ($name: $cc $*)"
		return 0
	fi
	cat "$BUILD/$name/build.log"
	not_ok "build sigv4_test ($name: $cc $*)"
	return 1
}

# run_known NAME: the known-answer run of build NAME
run_known() {
	local name=$1 out=$BUILD/$1/known.out rc=0
	"$BUILD/$name/sigv4_test" >"$out" 2>&1 || rc=$?
	tally "$out" "known answers ($name)"
	if [ "$rc" -eq 0 ]; then
		ok "sigv4_test ($name) exited 0"
	else
		grep -v -E '^(not )?ok ' "$out" | tail -n 30
		not_ok "sigv4_test ($name) exited $rc"
	fi
}

# ---- 1. plain build, known answers
if build plain "$CC" -O2 -g; then
	run_known plain

	# ---- 2. botocore cross-check
	CASES=$HERE/cases.tsv
	if "$BUILD/plain/sigv4_test" --presign-cases "$CASES" >"$BUILD/plain/cases.out" 2>"$BUILD/plain/cases.err"; then
		ok "sigv4_test --presign-cases: $(wc -l <"$BUILD/plain/cases.out") cases"
	else
		cat "$BUILD/plain/cases.err"
		not_ok "sigv4_test --presign-cases"
	fi
	impls=(python)
	if "$PYTHON" "$HERE/botocore_presign.py" --has-crt; then
		impls+=(crt)
	else
		echo "# python3-awscrt not installed: only botocore's Python signer is compared"
	fi
	for impl in "${impls[@]}"; do
		boto=$BUILD/plain/botocore-$impl.out
		if "$PYTHON" "$HERE/botocore_presign.py" --impl "$impl" "$CASES" >"$boto" 2>"$boto.err"; then
			"$PYTHON" "$HERE/botocore_presign.py" --compare "$boto" "$BUILD/plain/cases.out" \
				>"$BUILD/plain/compare-$impl.out" 2>&1 || true
			tally "$BUILD/plain/compare-$impl.out" "botocore ($impl signer) vs sigv4.c"
		else
			tail -n 5 "$boto.err"
			not_ok "botocore_presign.py --impl $impl (is python3-botocore installed for $PYTHON?)"
		fi
	done
fi

# ---- 3. ASan + UBSan
if [ "${SKIP_ASAN:-0}" = 1 ]; then
	echo "# SKIP_ASAN=1: no sanitizer run"
elif build asan clang -O1 -g -fno-omit-frame-pointer "-fsanitize=address,undefined" -fno-sanitize-recover=all; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	run_known asan
	if "$BUILD/asan/sigv4_test" --presign-cases "$HERE/cases.tsv" >"$BUILD/asan/cases.out" 2>"$BUILD/asan/cases.err"; then
		if [ -f "$BUILD/plain/cases.out" ] && cmp -s "$BUILD/plain/cases.out" "$BUILD/asan/cases.out"; then
			ok "sigv4_test --presign-cases (asan): clean, output identical to the plain build's"
		else
			not_ok "sigv4_test --presign-cases (asan): output differs from the plain build's"
		fi
	else
		tail -n 30 "$BUILD/asan/cases.err"
		not_ok "sigv4_test --presign-cases (asan) failed"
	fi
fi

for f in "${FAILURES[@]}"; do echo "# failed: $f"; done
echo "sigv4: $CHECKS checks, $FAILED failed"
[ "$FAILED" -eq 0 ]
