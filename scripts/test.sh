#!/bin/bash
# scripts/test.sh: the pgbackups test suite.  Run as root.
#
#   bash scripts/test.sh            the whole suite on PostgreSQL 15, then the
#                                   version matrix (17, 18, 19)
#   bash scripts/test.sh --pg 18    the whole suite on one version only
#
# One version's suite: pg_regress (sql/ + expected/) through `make
# installcheck`, then pgTAP (test/pgtap/*.sql) and the end-to-end scripts
# test/e2e/*.sh through test/run-e2e.sh.  The matrix runs, on each of
# MATRIX (default "17 18 19"), pg_regress, pgTAP and the e2e scripts numbered
# in MATRIX_E2E (capture round trip, tables in parts, restore, lock timeouts (the in-process helper streams of 16+), copy, constraints, S3, URL restore,
# schedules, cross-version, restore speed).  15 is Debian's package (scripts/setup.sh);
# 17, 18 and 19 are built from Debian's source packages by
# scripts/build-pg.sh, cached in /var/cache/pgbackups-pg; the extension is
# built for them in a copy of the tree (/tmp/pgbackups-build-N).  A version
# whose source package the registry does not serve is counted as skipped.
#
# Prints one line per version, "PostgreSQL N: P passed, F failed, S skipped"
# (pg_regress tests, pgTAP and e2e checks), and exits non-zero if any failed.
# E2E_ONLY="10 30" limits the e2e scripts of the 15 (or --pg) suite;
# SKIP_SETUP=1 skips setup.sh.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG15_CONFIG=/usr/lib/postgresql/15/bin/pg_config
MATRIX=${MATRIX-17 18 19}
MATRIX_E2E=${MATRIX_E2E:-10 11 15 26 55 56 72 76 82 87 91 92 93}
ONLY_PG=
while [ $# -gt 0 ]; do
	case "$1" in
	--pg)
		ONLY_PG=${2:?--pg needs a version}
		shift 2
		;;
	*)
		echo "usage: test.sh [--pg N]" >&2
		exit 2
		;;
	esac
done

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

LOGS=$(mktemp -d /tmp/pgbackups-test.XXXXXX)
passed=()
failed=()
version_lines=()
tot_pass=0
tot_fail=0
tot_skip=0

stage() {
	local name=$1
	shift
	echo
	echo "=================== $name ==================="
	local start=$SECONDS
	if "$@"; then
		passed+=("$name")
		echo "=== $name: PASS ($((SECONDS - start)) s)"
		return 0
	else
		failed+=("$name")
		echo "=== $name: FAIL ($((SECONDS - start)) s)"
		return 1
	fi
}

# pg_regress runs as postgres (initdb refuses root) and writes results/ and
# tmp_check/ next to the tests, so it runs in a copy of the repository that
# postgres owns.  The Makefile sets NO_INSTALLCHECK (its tests need their own
# preloaded temp instance); it is cleared here to get PGXS's installcheck
# target with the Makefile's REGRESS and REGRESS_OPTS.
run_regress() {
	local pgc=$1 log=$2 work rc
	work=$(mktemp -d /tmp/pgbackups-regress.XXXXXX)
	tar -C "$REPO" --exclude=.git --exclude=./results --exclude=./tmp_check \
		--exclude=./regression.diffs --exclude=./regression.out \
		--exclude='*.o' --exclude='*.bc' --exclude='*.so' -cf - . | tar -C "$work" -xf -
	chown -R postgres:postgres "$work"
	chmod 755 "$work"
	(cd "$work" && runuser -u postgres -- make -s installcheck NO_INSTALLCHECK= PG_CONFIG="$pgc") 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ]; then
		[ -f "$work/regression.diffs" ] && cat "$work/regression.diffs"
		[ -d "$work/tmp_check/log" ] && tail -n 50 "$work"/tmp_check/log/postmaster.log 2>/dev/null
		echo "test.sh: pg_regress output kept in $work"
	else
		rm -rf "$work"
	fi
	return "$rc"
}

# build and install the extension for a server other than Debian's 15, in a
# copy of the tree (the checkout keeps 15's objects)
install_for() {
	local pgc=$1 major=$2 build=/tmp/pgbackups-build-$2
	rm -rf "$build"
	mkdir -p "$build"
	tar -C "$REPO" --exclude=.git --exclude='*.o' --exclude='*.bc' --exclude='*.so' \
		--exclude=./results --exclude=./tmp_check --exclude=./test/servers/node_modules \
		-cf - . | tar -C "$build" -xf -
	make -C "$build" -s -j"$(nproc)" PG_CONFIG="$pgc" && make -C "$build" -s install PG_CONFIG="$pgc"
}

# one version: pg_regress, then pgTAP and the e2e scripts (E2E_ONLY limits
# them); adds "PostgreSQL N: ..." to version_lines
suite() {
	local major=$1 pgc=$2 e2e_only=$3 e2e_skip=${4:-}
	local p=0 f=0 s=0 line log_r=$LOGS/regress-$major.log log_e=$LOGS/e2e-$major.log
	export PG_CONFIG=$pgc
	PGBIN=$("$pgc" --bindir)
	export PGBIN
	stage "PostgreSQL $major: pg_regress" run_regress "$pgc" "$log_r"
	if line=$(grep -E '^# All [0-9]+ tests passed|All [0-9]+ tests passed' "$log_r" | tail -n 1) &&
		[[ $line =~ All\ ([0-9]+)\ tests\ passed ]]; then
		p=$((p + BASH_REMATCH[1]))
	elif line=$(grep -E '[0-9]+ of [0-9]+ tests failed' "$log_r" | tail -n 1) &&
		[[ $line =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
		f=$((f + BASH_REMATCH[1]))
		p=$((p + BASH_REMATCH[2] - BASH_REMATCH[1]))
	else
		f=$((f + 1))
	fi
	export E2E_ONLY=$e2e_only E2E_SKIP=$e2e_skip
	stage "PostgreSQL $major: pgTAP + end-to-end" \
		bash -c 'bash "$1/test/run-e2e.sh" 2>&1 | tee "$2"; exit "${PIPESTATUS[0]}"' _ "$REPO" "$log_e"
	if line=$(grep -E '^checks: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log_e" | tail -n 1) &&
		[[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]]; then
		p=$((p + BASH_REMATCH[1]))
		f=$((f + BASH_REMATCH[2]))
		s=$((s + BASH_REMATCH[3]))
	fi
	# a script that died before its summary line counts as a failure
	if line=$(grep -E '^scripts: [0-9]+ passed, [0-9]+ failed$' "$log_e" | tail -n 1) &&
		[[ $line =~ ([0-9]+)\ failed ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] && [ "$f" -eq 0 ]; then
		f=${BASH_REMATCH[1]}
	fi
	version_lines+=("PostgreSQL $major: $p passed, $f failed, $s skipped")
	tot_pass=$((tot_pass + p))
	tot_fail=$((tot_fail + f))
	tot_skip=$((tot_skip + s))
}

# a version built from source: build (cached), install, run
other_version() {
	local major=$1 e2e_only=$2 pgc rc=0
	echo
	echo "=================== PostgreSQL $major: server build ==================="
	pgc=$(bash "$REPO/scripts/build-pg.sh" "$major") || rc=$?
	if [ "$rc" -eq 2 ]; then
		echo "test.sh: PostgreSQL $major skipped: Debian's postgresql-$major source package is not served by the package registry here"
		version_lines+=("PostgreSQL $major: 0 passed, 0 failed, 1 skipped (no source package)")
		tot_skip=$((tot_skip + 1))
		return
	elif [ "$rc" -ne 0 ]; then
		failed+=("PostgreSQL $major: server build")
		version_lines+=("PostgreSQL $major: 0 passed, 1 failed, 0 skipped (server build failed)")
		tot_fail=$((tot_fail + 1))
		return
	fi
	if ! stage "PostgreSQL $major: build and install pgbackups" install_for "$pgc" "$major"; then
		version_lines+=("PostgreSQL $major: 0 passed, 1 failed, 0 skipped (extension build failed)")
		tot_fail=$((tot_fail + 1))
		return
	fi
	suite "$major" "$pgc" "$e2e_only"
}

if [ -n "$ONLY_PG" ]; then
	if [ "$ONLY_PG" = 15 ]; then
		suite 15 "$PG15_CONFIG" "${E2E_ONLY:-}"
	else
		other_version "$ONLY_PG" "${E2E_ONLY:-}"
	fi
else
	# 87 (upgrade from 15 to a newer server) and 92 (statistics, 18+) need a
	# newer server: they run in the matrix
	suite 15 "$PG15_CONFIG" "${E2E_ONLY:-}" "87 92"
	for major in $MATRIX; do
		other_version "$major" "$MATRIX_E2E"
	done
fi

echo
echo "=================== summary ==================="
for s in "${passed[@]}"; do echo "PASS  $s"; done
for s in "${failed[@]}"; do echo "FAIL  $s"; done
echo "stages: ${#passed[@]} passed, ${#failed[@]} failed"
for l in "${version_lines[@]}"; do echo "$l"; done
echo "total: $tot_pass passed, $tot_fail failed, $tot_skip skipped"
[ "${#failed[@]}" -eq 0 ]
