#!/bin/bash
# test/run-e2e.sh: pgTAP (test/run-pgtap.sh), then every test/e2e/NN_*.sh in
# order; prints a summary and exits non-zero if any script failed.
# E2E_ONLY="10 30" runs only the scripts with those numbers; E2E_SKIP="87"
# leaves those out (scripts/test.sh runs 87 in the version matrix).  Run as root, the
# security scripts (45, 46, 47, 76, 77, 78) get REQUIRE_NO_SKIPS=1: a case they
# cannot set up fails instead of being counted as skipped.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOGDIR=$(mktemp -d /tmp/pgbackups-e2e-logs.XXXXXX)

scripts=("$HERE/run-pgtap.sh")
for f in "$HERE"/e2e/[0-9][0-9]_*.sh; do
	n=$(basename "$f" | cut -c1-2)
	if [ -n "${E2E_ONLY:-}" ] && ! grep -qw "$n" <<<"$E2E_ONLY"; then
		continue
	fi
	if [ -n "${E2E_SKIP:-}" ] && grep -qw "$n" <<<"$E2E_SKIP"; then
		continue
	fi
	scripts+=("$f")
done

ok=()
bad=()
checks_pass=0
checks_fail=0
checks_skip=0
for s in "${scripts[@]}"; do
	name=$(basename "$s" .sh)
	echo
	echo "----------------- $name -----------------"
	start=$SECONDS
	# the security scripts (45 restore privileges, 46 backup access, 47 restore
	# extensions and integrity, 76 URL restores, 77 SSRF, 78 secrets): as root
	# (CI) every case can be set up, so a skip is a failure
	no_skips=${REQUIRE_NO_SKIPS:-0}
	case "$name" in 45_* | 46_* | 47_* | 76_* | 77_* | 78_*) if [ "$(id -u)" -eq 0 ]; then no_skips=1; fi ;; esac
	REQUIRE_NO_SKIPS=$no_skips bash "$s" 2>&1 | tee "$LOGDIR/$name.log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$LOGDIR/$name.log" | tail -n 1 || true)
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
		checks_pass=$((checks_pass + BASH_REMATCH[1]))
		checks_fail=$((checks_fail + BASH_REMATCH[2]))
		checks_skip=$((checks_skip + ${BASH_REMATCH[4]:-0}))
	fi
	if [ "$rc" -eq 0 ]; then
		ok+=("$name ($((SECONDS - start)) s)")
	else
		bad+=("$name (exit $rc, $((SECONDS - start)) s)")
	fi
done

echo
echo "----------------- e2e summary (logs in $LOGDIR) -----------------"
for s in "${ok[@]}"; do echo "PASS  $s"; done
for s in "${bad[@]}"; do echo "FAIL  $s"; done
echo "checks: $checks_pass passed, $checks_fail failed, $checks_skip skipped"
echo "scripts: ${#ok[@]} passed, ${#bad[@]} failed"
[ "${#bad[@]}" -eq 0 ]
