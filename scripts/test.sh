#!/bin/bash
# scripts/test.sh: the whole pgbackups test suite.  Run as root:
#   1. scripts/setup.sh (packages, make, make install)
#   2. pg_regress (sql/ + expected/) through `make installcheck`
#   3. pgTAP (test/pgtap/*.sql) with pg_prove, then the end-to-end scripts
#      test/e2e/*.sh, through test/run-e2e.sh
# Exits non-zero if any stage fails.  E2E_ONLY="10 30" limits the e2e
# scripts to those numbers; SKIP_SETUP=1 skips setup.sh.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: run as root (the servers run as the postgres OS user through runuser)" >&2
	exit 1
fi

if [ "${SKIP_SETUP:-0}" != 1 ]; then
	bash "$REPO/scripts/setup.sh" || {
		echo "test.sh: setup failed" >&2
		exit 1
	}
fi

passed=()
failed=()
stage() {
	local name=$1
	shift
	echo
	echo "=================== $name ==================="
	local start=$SECONDS
	if "$@"; then
		passed+=("$name")
		echo "=== $name: PASS ($((SECONDS - start)) s)"
	else
		failed+=("$name")
		echo "=== $name: FAIL ($((SECONDS - start)) s)"
	fi
}

# pg_regress runs as postgres (initdb refuses root) and writes results/ and
# tmp_check/ next to the tests, so it runs in a copy of the repository that
# postgres owns.  The Makefile sets NO_INSTALLCHECK (its tests need their own
# preloaded temp instance); it is cleared here to get PGXS's installcheck
# target with the Makefile's REGRESS and REGRESS_OPTS.
run_regress() {
	local work rc
	work=$(mktemp -d /tmp/pgbackups-regress.XXXXXX)
	tar -C "$REPO" --exclude=.git --exclude=./results --exclude=./tmp_check \
		--exclude=./regression.diffs --exclude=./regression.out -cf - . | tar -C "$work" -xf -
	chown -R postgres:postgres "$work"
	chmod 755 "$work"
	(cd "$work" && runuser -u postgres -- make -s installcheck NO_INSTALLCHECK= PG_CONFIG="$PG_CONFIG")
	rc=$?
	if [ "$rc" -ne 0 ]; then
		[ -f "$work/regression.diffs" ] && cat "$work/regression.diffs"
		[ -d "$work/tmp_check/log" ] && tail -n 50 "$work"/tmp_check/log/postmaster.log 2>/dev/null
		echo "test.sh: pg_regress output kept in $work"
	else
		rm -rf "$work"
	fi
	return "$rc"
}

stage "pg_regress (make installcheck)" run_regress
stage "pgTAP + end-to-end (test/run-e2e.sh)" bash "$REPO/test/run-e2e.sh"

echo
echo "=================== summary ==================="
for s in "${passed[@]}"; do echo "PASS  $s"; done
for s in "${failed[@]}"; do echo "FAIL  $s"; done
echo "stages: ${#passed[@]} passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]
