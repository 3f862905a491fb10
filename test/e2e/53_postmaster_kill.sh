#!/bin/bash
# 53_postmaster_kill: SIGKILL of the postmaster while pgbackups works leaves
# no orphan.  With S3 storage (s3rver behind the fault proxy), at the moment
# of the kill: a capture is uploading (one part went up, the next ones are
# held by the proxy, so its job worker waits on libcurl's sockets), a second
# capture's pg_dump waits for a lock (a pg_dump child of its job worker is
# alive), and a restore requested in another catalog database reads its
# archive (the proxy holds its GETs).  Every process of the cluster (the
# postmaster's descendants, collected from the process table just before
# the kill, compared by PID and start time) and every process whose command
# line names the cluster's directory (pg_dump) must be gone within 10 s,
# waited for with a bounded loop.  Then pg_ctl start works, reconciliation
# records the three jobs failed, the restore's target is unchanged (database
# properties, schema, data), no pgbackups_* staging database is left, and a
# new capture succeeds.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-180}
NOISE_ROWS=${NOISE_ROWS:-200000} # ~14 MB of md5 text: 3 parts of 5 MiB
ORPHAN_SECS=10

missing=$(servers_missing)
if [ -n "$missing" ]; then
	skip "postmaster kill with S3 transfers in flight" "missing: $(tr '\n' ' ' <<<"$missing")"
	finish
fi
start_s3rver "$S3_BUCKET"
start_fault_proxy "$S3_PORT"
EXTRA_CONF="$(s3_conf "$FP_ENDPOINT" backups/t53)
pgbackups.s3_part_size = 5
pgbackups.s3_upload_concurrency = 2
pgbackups.max_workers = 8
pgbackups.http_timeout = 600
pgbackups.http_retry_time = 600"
start_cluster # EXTRA_CONF not exported: the postmaster must not inherit the secrets

for db in cat cat2 src ddl small tgt; do q postgres "CREATE DATABASE $db" >/dev/null; done
q cat "CREATE EXTENSION pgbackups" >/dev/null
q cat2 "CREATE EXTENSION pgbackups" >/dev/null
log "loading $NOISE_ROWS rows of md5 text into src"
q src "CREATE TABLE noise AS SELECT g AS id, md5(random()::text) || md5(random()::text) AS h FROM generate_series(1, $NOISE_ROWS) g" >/dev/null
psql_db ddl >/dev/null <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'ddl ' || g FROM generate_series(1, 100) g;
CREATE TABLE parted (a integer) PARTITION BY RANGE (a);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
INSERT INTO parted VALUES (1);
SQL
psql_db small >/dev/null <<'SQL'
CREATE TABLE s (id int PRIMARY KEY, v text);
INSERT INTO s SELECT g, 'small ' || g FROM generate_series(1, 5000) g;
SQL
psql_db tgt >/dev/null <<'SQL'
CREATE TABLE keep (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO keep SELECT g, 'before ' || g FROM generate_series(1, 3000) g;
CREATE VIEW keep_n AS SELECT count(*) AS n FROM keep;
COMMENT ON DATABASE tgt IS 'the restore target';
SQL

# starttime_of PID: the start time of a live process (/proc/PID/stat field
# 22), empty when there is none or it is a zombie (dead, not yet reaped);
# bash builtins only, so that a poll of the process table is quick
starttime_of() {
	local line rest
	read -r line 2>/dev/null <"/proc/$1/stat" || return 0
	rest=${line##*) }
	# shellcheck disable=SC2086 # split into fields on purpose
	set -- $rest
	[ "$1" != Z ] && printf '%s\n' "${20}"
	return 0
}
# alive_in SNAPSHOT: the processes of SNAPSHOT ("pid starttime args" lines)
# that still exist with the same start time (a reused PID is another process)
alive_in() {
	local pid st args
	while read -r pid st args; do
		[ "$(starttime_of "$pid")" != "$st" ] || printf '%s %s\n' "$pid" "$args"
	done <"$1"
	return 0
}
# tree_of PID: PID and its descendants, one a line
tree_of() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			keep[root] = 1
			do {
				changed = 0
				for (p in parent)
					if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 }
			} while (changed)
			for (p in keep) print p
		}'
}
# naming_cluster: processes whose command line names the cluster's directory
# (the postmaster's -D, pg_dump's --file and socket directory); the pattern
# is passed in the environment so that awk's own command line does not match
naming_cluster() {
	ps -e -o pid=,args= | CLUSTER_DIR="$TESTDIR" awk 'index($0, ENVIRON["CLUSTER_DIR"]) { print }'
}
pg_dump_child() { ps -o pid=,args= --ppid "$1" 2>/dev/null | awk '$2 ~ /pg_dump$/ { print $1; exit }'; }
parts_done() { sed -n 's/^parts=//p' < <(reqlog parts --since "$mark"); }
some_part_done() { [ "$(parts_done)" -ge 1 ] 2>/dev/null; }

# === an earlier backup, in the second catalog database ================================
try_sql cat2 "SELECT pgbackups.capture(database => 'small', wait => true)"
if [ "$TRY_STATE" != OK ]; then
	fail "the earlier capture of small failed: $TRY_STATE $TRY_MSG"
	finish
fi
B0=$TRY_OUT
check_eq "earlier backup $B0 (cat2) completed" "$(backup_field cat2 "$B0" status)" completed
TGT_BEFORE=$(db_fingerprint tgt)

# === the work in flight ===============================================================
# the first part of an upload goes through (bytes move), the next ones and
# every GET (the restore's reads) are held for 10 minutes
fault_set '{"rules": [{"action": "delay", "seconds": 600, "method": "PUT", "query": "partNumber", "skip": 1},
                      {"action": "delay", "seconds": 600, "method": "GET"}]}'
mark=$(reqlog lines)
C1=$(q cat "SELECT pgbackups.capture(database => 'src', compression => 'none', parallel => 1)")
if wait_cmd 120 some_part_done; then
	pass "capture $C1 is uploading: $(parts_done) part(s) stored, the next held ($(describe_backup cat "$C1"))"
else
	fail "capture $C1 never stored a part: $(describe_backup cat "$C1"); $(reqlog parts --since "$mark" | tr '\n' ' ')"
fi
check_eq "capture $C1 is running" "$(backup_field cat "$C1" status)" running
W1=$(job_worker_pid cat "$C1" 10 || true)

bg_psql locker ddl "BEGIN; LOCK TABLE ONLY parted IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600); COMMIT;"
wait_for ddl "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'parted'::regclass AND mode = 'AccessExclusiveLock' AND granted" 20 ||
	die "the lock on parted was not taken"
C2=$(q cat "SELECT pgbackups.capture(database => 'ddl')")
wait_for ddl "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'parted'::regclass AND NOT granted" 60 ||
	fail "the pg_dump of $C2 never waited for parted: $(describe_backup cat "$C2")"
W2=$(job_worker_pid cat "$C2" 10 || true)
D2=""
[ -z "$W2" ] || D2=$(pg_dump_child "$W2")
if [ -n "$D2" ]; then
	pass "capture $C2: job worker $W2 has a pg_dump child $D2 (waiting for the lock on parted)"
else
	fail "capture $C2: no pg_dump child of job worker [$W2]"
fi

R1=$(q cat2 "SELECT pgbackups.restore('$B0', target => 'tgt', confirm => 'tgt', parallel => 1)")
if wait_for cat2 "SELECT status = 'running' FROM pgbackups.restores WHERE id = '$R1'" 60; then
	pass "restore $R1 (cat2) of $B0 into tgt is running"
else
	fail "restore $R1 is not running: $(describe_job cat2 "$R1")"
fi
WR=$(job_worker_pid_of cat2 "$R1" 10 || true)
check_eq "capture $C1 still running" "$(backup_field cat "$C1" status)" running
check_eq "capture $C2 still running" "$(backup_field cat "$C2" status)" running

# === kill -9 of the postmaster ========================================================
PM=$(head -n 1 "$PGDATA/postmaster.pid")
PM_PARENT=$(ps -o ppid= -p "$PM" | tr -d ' ')
SNAP=$TESTDIR/processes.before
: >"$SNAP"
for pid in $(tree_of "$PM"); do
	st=$(starttime_of "$pid")
	[ -n "$st" ] && printf '%s %s %s\n' "$pid" "$st" "$(ps -o args= -p "$pid" 2>/dev/null)" >>"$SNAP"
done
log "postmaster $PM and its $(($(wc -l <"$SNAP") - 1)) descendants:"
sed 's/^/    /' "$SNAP"
for p in "$W1" "$W2" "$D2" "$WR"; do
	if [ -n "$p" ] && awk -v p="$p" '$1 == p { f = 1 } END { exit !f }' "$SNAP"; then
		pass "process $p (job worker or pg_dump) is among the postmaster's descendants"
	else
		fail "process [$p] (job worker or pg_dump) is not among the postmaster's descendants"
	fi
done

log "kill -9 $PM (the postmaster)"
kill -9 "$PM"
t0=$(date +%s%N)
LEFT="" LAST=""
gone() {
	LEFT="$(alive_in "$SNAP")$(naming_cluster)"
	[ -z "$LEFT" ] && return 0
	LAST=$LEFT
	return 1
}
if wait_cmd "$ORPHAN_SECS" gone; then
	pass "within $ORPHAN_SECS s no process of the cluster is left ($((($(date +%s%N) - t0) / 1000000)) ms; the last to go: $(if [ -n "$LAST" ]; then tr '\n' ';' <<<"$LAST"; else echo 'none was left at the first look'; fi))"
else
	fail "$ORPHAN_SECS s after the postmaster's SIGKILL these processes remain: $(alive_in "$SNAP" | tr '\n' ';') $(naming_cluster | tr '\n' ';')"
	# end them (all started by this test's cluster, by PID) so that the cluster can start again
	alive_in "$SNAP" | awk '{ print $1 }' | xargs -r kill -9 2>/dev/null || true
	naming_cluster | awk '{ print $1 }' | xargs -r kill -9 2>/dev/null || true
fi
stop_bg "$locker"
# requests the proxy still holds are answered late or never; new ones
# (the start-up sweep of unfinished uploads, the next capture) pass
fault_clear

# === start again ======================================================================
# the dead postmaster stays a zombie until its parent (init) reaps it, and
# until then its PID in postmaster.pid looks alive to the new postmaster
pm_reaped() { ! kill -0 "$PM" 2>/dev/null; }
wait_cmd 60 pm_reaped || die "the killed postmaster $PM was not reaped by its parent $PM_PARENT in 60 s"
log "pg_ctl start"
_pg_ctl start
server_up || die "the server did not come back"
for j in "cat $C1" "cat $C2" "cat2 $R1"; do
	read -r db id <<<"$j"
	if wait_for "$db" "SELECT status = 'failed' FROM $(job_table "$id") WHERE id = '$id'" 60; then
		pass "after the restart $id ($db) is recorded failed: $(job_field "$db" "$id" error)"
	else
		fail "after the restart $id ($db) is not failed: $(q "$db" "SELECT status || ' ' || coalesce(error, '') FROM $(job_table "$id") WHERE id = '$id'")"
	fi
done
if wait_for postgres "SELECT count(*) = 0 FROM pg_database WHERE datname LIKE 'pgbackups\_%'" 60; then
	pass "no staging database is left"
else
	fail "staging databases left: $(staging_dbs | tr '\n' ' ')"
fi
TGT_AFTER=$(db_fingerprint tgt)
if [ "$TGT_BEFORE" = "$TGT_AFTER" ]; then
	pass "the restore's target tgt is unchanged (database properties, schema, data)"
else
	fail "the restore's target tgt changed: $(diff <(printf '%s\n' "$TGT_BEFORE") <(printf '%s\n' "$TGT_AFTER") | head -n 20)"
fi

try_sql cat "SELECT pgbackups.capture(database => 'src', compression => 'none', wait => true)"
if [ "$TRY_STATE" = OK ]; then
	check_eq "a new capture $TRY_OUT completes" "$(backup_field cat "$TRY_OUT" status)" completed
else
	fail "a new capture failed: $TRY_STATE $TRY_MSG"
fi
finish
