#!/bin/bash
# 06_sigv4: the AWS Signature Version 4 signer (src/storage/sigv4.c) outside the
# server.  test/unit/run.sh builds test/unit/sigv4_test (frontend build,
# libpgcommon, -lcrypto) and checks the AWS SigV4 test suite's known answers
# (header and query variants), the Amazon S3 API Reference examples, URI
# encoding of every byte and query/header canonicalisation, then compares
# presigned URLs and header-signed PUTs with botocore's signers (Debian's
# python3-botocore; also awscrt's when python3-awscrt is installed), and runs
# it all again under ASan/UBSan/LeakSanitizer.  One check per run.sh check.
# No cluster needed; needs gcc, clang, libclang-rt-14-dev, libssl-dev and
# python3-botocore.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

OUT=$(mktemp -d /tmp/pgbackups-sigv4.XXXXXX)
_LIB_TMPDIRS+=("$OUT")

# the builds go to test/unit/build, or to our temp dir when the checkout is
# not writable (run as postgres on a root-owned clone)
if [ ! -w "$REPO_DIR/test/unit" ]; then
	export SIGV4_BUILD_DIR=$OUT/build
fi

rc=0
bash "$REPO_DIR/test/unit/run.sh" >"$OUT/run.log" 2>&1 || rc=$?

while IFS= read -r line; do
	case "$line" in
		"ok - "*) pass "${line#ok - }" ;;
		"not ok - "*) fail "${line#not ok - }" ;;
		"#"*) log "$line" ;;
	esac
done <"$OUT/run.log"

summary=$(grep -E '^sigv4: [0-9]+ checks, [0-9]+ failed$' "$OUT/run.log" | tail -n 1 || true)
if [ -z "$summary" ]; then
	tail -n 40 "$OUT/run.log" >&2
	fail "test/unit/run.sh printed no summary (exit $rc)"
elif [ "$rc" -ne 0 ] && [ "$FAIL_COUNT" -eq 0 ]; then
	tail -n 40 "$OUT/run.log" >&2
	fail "test/unit/run.sh exit $rc ($summary)"
else
	log "$summary (exit $rc)"
fi
finish
