#!/bin/bash
# 20_consistency: a capture taken while pgbench writes is one point in time:
# after restoring it, sum(abalance) = sum(bbalance) = sum(tbalance) =
# sum(delta), every pgbench_history row is accounted for, and each table's row
# count recorded at capture (table_rows) is what the restore loads.  The lock
# modes are sampled every 50 ms while the capture runs (a sample, not exact).
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SCALE=${PGBENCH_SCALE:-10}
DURATION=${PGBENCH_SECONDS:-20}

start_cluster
q postgres "CREATE DATABASE bench" >/dev/null
q bench "CREATE EXTENSION pgbackups" >/dev/null
log "pgbench -i -s $SCALE"
pgbench -i -q -s "$SCALE" bench >"$TESTDIR/pgbench-init.log" 2>&1 || die "pgbench -i failed: $(tail -n 5 "$TESTDIR/pgbench-init.log")"

log "pgbench -c 4 -T $DURATION in the background"
pgbench -n -c 4 -j 2 -T "$DURATION" bench >"$TESTDIR/pgbench.log" 2>&1 &
bench_pid=$!
track_bg "$bench_pid"
# let the load get going
wait_for bench "SELECT count(*) > 100 FROM pgbench_history" 30 || die "pgbench wrote nothing: $(cat "$TESTDIR/pgbench.log")"
h0=$(q bench "SELECT count(*) FROM pgbench_history")

log "capture(wait => true, parallel => 2) under load (history rows so far: $h0)"
start=$SECONDS
capt=""
bg_psql capt bench "SELECT pgbackups.capture(wait => true, parallel => 2)" "$TESTDIR/capture.err"
# meanwhile: every relation lock the capture's sessions hold on user tables
: >"$TESTDIR/locks.txt"
while kill -0 "$capt" 2>/dev/null; do
	q bench "SELECT l.mode || ' ' || l.relation::regclass::text
	           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
	           JOIN pg_class c ON c.oid = l.relation
	          WHERE l.locktype = 'relation' AND a.pid <> pg_backend_pid()
	            AND (a.application_name LIKE 'pgbackups%' OR a.application_name = 'pg_dump'
	                 OR a.backend_type LIKE 'pgbackups%')
	            AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'pgbackups'::regnamespace)" \
		>>"$TESTDIR/locks.txt" 2>/dev/null || true
	sleep 0.05
done
if wait "$capt"; then
	id=$(q bench "SELECT max(id) FROM pgbackups.backups")
	pass "capture under load: $id in $((SECONDS - start)) s"
else
	fail "capture under load failed: $(cat "$TESTDIR/capture.err")"
	finish
fi
modes=$(awk '{ print $1 }' "$TESTDIR/locks.txt" | sort -u | tr '\n' ' ')
log "lock samples: $(wc -l <"$TESTDIR/locks.txt"), modes: $modes"
check "the capture's sessions were seen holding locks on the pgbench tables" grep -q 'AccessShareLock pgbench_accounts' "$TESTDIR/locks.txt"
check_eq "the capture holds only ACCESS SHARE locks on user tables" "$modes" "AccessShareLock "
h1=$(q bench "SELECT count(*) FROM pgbench_history")
grep NOTICE "$TESTDIR/capture.err" | sed 's/^/    /'
check "capture(wait => true) reported progress NOTICEs naming $id" grep -q "NOTICE: .*$id" "$TESTDIR/capture.err"
check "the last NOTICE says completed" sh -c "grep NOTICE '$TESTDIR/capture.err' | tail -n 1 | grep -q completed"
still_running=no
kill -0 "$bench_pid" 2>/dev/null && still_running=yes
log "$(describe_backup bench "$id"); history rows after: $h1; pgbench still running: $still_running"
check "pgbench was still writing when the capture finished" [ "$still_running" = yes ]
wait "$bench_pid" || die "pgbench failed: $(tail -n 5 "$TESTDIR/pgbench.log")"
grep -E 'number of transactions actually processed|tps' "$TESTDIR/pgbench.log" | sed 's/^/    /'

check_eq "status" "$(backup_field bench "$id" status)" completed
check_eq "parallel recorded" "$(backup_field bench "$id" parallel)" 2
arch=$(archive_path bench "$id")

restore_into "consistency" "$arch" restored
sums=$(q restored "SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' || (SELECT sum(bbalance) FROM pgbench_branches) || ' ' || (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' || (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")
read -r sa sb st sd <<<"$sums"
hr=$(q restored "SELECT count(*) FROM pgbench_history")
log "restored: sum(abalance)=$sa sum(bbalance)=$sb sum(tbalance)=$st sum(delta)=$sd history rows=$hr (live: $h0 before, $h1 after)"
check_eq "sum(abalance) = sum(delta)" "$sa" "$sd"
check_eq "sum(bbalance) = sum(delta)" "$sb" "$sd"
check_eq "sum(tbalance) = sum(delta)" "$st" "$sd"
check "history rows in the backup lie between the counts before and after ($h0 <= $hr <= $h1)" test "$hr" -ge "$h0" -a "$hr" -le "$h1"
check "the backup holds some of the concurrent transactions ($hr > 0)" [ "$hr" -gt 0 ]
check_eq "restored accounts rows" "$(q restored "SELECT count(*) FROM pgbench_accounts")" "$((SCALE * 100000))"
check_eq "rows column = rows restored" "$(backup_field bench "$id" rows)" \
	"$(q restored "SELECT (SELECT count(*) FROM pgbench_accounts) + (SELECT count(*) FROM pgbench_branches) + (SELECT count(*) FROM pgbench_tellers) + (SELECT count(*) FROM pgbench_history)")"
# per-table counts recorded in table_rows must match the restored tables
tr=$(q bench "SELECT table_rows::text FROM pgbackups.backups WHERE id = '$id'")
log "table_rows: $tr"
want=$(q bench "SELECT string_agg(key || '=' || value, ' ' ORDER BY key)
                  FROM pgbackups.backups, jsonb_each_text(table_rows::jsonb) WHERE id = '$id'")
got=$(q restored "SELECT string_agg(t || '=' || n, ' ' ORDER BY t) FROM (VALUES
                    ('public.pgbench_accounts', (SELECT count(*) FROM pgbench_accounts)),
                    ('public.pgbench_branches', (SELECT count(*) FROM pgbench_branches)),
                    ('public.pgbench_history', (SELECT count(*) FROM pgbench_history)),
                    ('public.pgbench_tellers', (SELECT count(*) FROM pgbench_tellers))) v(t, n)")
check_eq "table_rows recorded at capture = rows of each restored table" "$want" "$got"
finish
