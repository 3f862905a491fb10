#!/bin/bash
# 49_restore_keeps_catalog: restoring or copying into a database never loses
# that database's own pgbackups catalog, whichever catalog issued it (issue
# 13, the seeds' "migrate between apps" and "revert" journeys).  "staging"
# has its own backups (one pinned, a safety backup taken just before), a
# daily schedule and an alert waiting for delivery; prod's backup is
# restored into staging from prod's catalog; staging then still lists its
# backups with their pins, its schedule and next run are unchanged, the
# alert is still pending, its data is prod's, and restoring the safety
# backup (from staging's own catalog) brings staging back exactly.  A
# copy() into staging keeps the catalog too.  No duplicate alert or event
# is created by carrying the rows.  A target whose pgbackups extension is
# older than the library (created at 1.5.0, ALTER EXTENSION ... UPDATE not
# run) is refused before anything is created (55000, the hint names the
# update), by a restore and by a copy; once updated it is restored and keeps
# its catalog.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

EXTRA_CONF="pgbackups.debug_clock = on" start_cluster
psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE prod;
CREATE DATABASE staging;
SQL
psql_db prod >/dev/null <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, item text);
INSERT INTO orders SELECT g, 'prod ' || g FROM generate_series(1, 4000) g;
CREATE EXTENSION pgbackups;
SQL
psql_db staging >/dev/null <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, item text);
INSERT INTO orders SELECT g, 'staging ' || g FROM generate_series(1, 300) g;
CREATE TABLE staging_only (x int);
CREATE EXTENSION pgbackups;
SQL
q prod "SELECT pgbackups.capture(wait => true)" >/dev/null
q staging "SELECT pgbackups.capture(wait => true)" >/dev/null
q staging "SELECT pgbackups.pin('b001')" >/dev/null
q staging "SELECT pgbackups.set_clock('2030-01-01 00:00 UTC')" >/dev/null
q staging "SELECT pgbackups.schedule(at => '03:00 UTC')" >/dev/null
q staging "SELECT pgbackups.set_clock(NULL)" >/dev/null
safety=$(q staging "SELECT pgbackups.capture(wait => true, label => 'safety')")
q postgres "CREATE DATABASE staging_ref TEMPLATE staging" >/dev/null 2>&1 || {
	q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'staging' AND pid <> pg_backend_pid()" >/dev/null
	q postgres "CREATE DATABASE staging_ref TEMPLATE staging" >/dev/null
}
# an alert waiting for delivery (as a failed job with a webhook configured would leave)
q staging "INSERT INTO pgbackups.alerts (event, payload, next_attempt) VALUES ('backup.failed', '{\"id\": \"b099\"}', now() + interval '1 hour')" >/dev/null

catalog() {
	q staging "SELECT string_agg(id || ' ' || status || ' ' || pinned || ' ' || coalesce(label, '-') || ' ' || sha256, E'\n' ORDER BY id) FROM pgbackups.backups"
}
sched() { q staging "SELECT name || ' ' || cron || ' ' || timezone || ' ' || next_run FROM pgbackups.schedule_defs"; }
alerts() { q staging "SELECT count(*) || ' ' || string_agg(event, ',') FROM pgbackups.alerts WHERE delivered_at IS NULL"; }
cat_before=$(catalog)
sched_before=$(sched)
alerts_before=$(alerts)
check "staging has two backups before (one pinned, the safety one)" test "$(wc -l <<<"$cat_before")" = 2

# --- prod's backup into staging, from prod's catalog ------------------------------------------
try_sql prod "SELECT pgbackups.restore('b001', target => 'staging', confirm => 'staging', wait => true)"
check_eq "restore of prod's b001 into staging" "$TRY_STATE" OK
check_eq "staging holds prod's data" "$(q staging "SELECT count(*) || ' ' || min(item) FROM orders")" "4000 prod 1"
check_eq "staging_only is gone (the contents are prod's)" "$(q staging "SELECT to_regclass('staging_only') IS NULL")" t
check_eq "staging still lists its own backups, pins, labels and hashes" "$(catalog)" "$cat_before"
check_eq "its schedule and next run are unchanged" "$(sched)" "$sched_before"
check_eq "its pending alert is still pending, no new one" "$(alerts)" "$alerts_before"
check "the restore's log says staging kept its catalog" \
	grep -q 'keeps its own pgbackups catalog' <<<"$(q prod "SELECT string_agg(message, ' ') FROM pgbackups.logs WHERE job_id = '$TRY_OUT'")"

# --- revert: the safety backup brings staging back --------------------------------------------
# (not wait => true: the caller's own session in staging ends at the swap)
rid=$(q staging "SELECT pgbackups.restore('$safety', target => 'staging', confirm => 'staging')")
wait_for staging "SELECT status = 'completed' FROM pgbackups.restores WHERE id = '$rid'" 120 ||
	fail "the revert $rid did not complete: $(q staging "SELECT status || ' ' || coalesce(error, '') FROM pgbackups.restores WHERE id = '$rid'" 2>&1)"
compare_dbs "staging after the revert equals staging before" staging_ref staging
check_eq "... and its catalog still lists its two backups" \
	"$(q staging "SELECT string_agg(id, ' ' ORDER BY id) FROM pgbackups.backups")" "b001 b002"

# --- copy() into staging keeps the catalog too ----------------------------------------------------
try_sql prod "SELECT pgbackups.copy('prod', 'staging', 'staging', wait => true)"
check_eq "copy of prod into staging" "$TRY_STATE" OK
check_eq "after the copy staging still lists its backups" \
	"$(q staging "SELECT string_agg(id, ' ' ORDER BY id) FROM pgbackups.backups")" "b001 b002"
check_eq "... and its schedule" "$(sched)" "$sched_before"

# --- a target whose catalog is older than the library ---------------------------------------------
q postgres "CREATE DATABASE oldcat" >/dev/null
psql_db oldcat >/dev/null <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, item text);
INSERT INTO orders SELECT g, 'oldcat ' || g FROM generate_series(1, 50) g;
CREATE EXTENSION pgbackups VERSION '1.5.0';
INSERT INTO pgbackups.backups (id, num, kind, database, status, requested_by, compression, parallel, sha256)
VALUES ('b001', 1, 'manual', 'oldcat', 'completed', 'postgres', 'gzip', 2, repeat('ab', 32));
SQL
q postgres "CHECKPOINT" >/dev/null
oldcat_before=$(db_fingerprint oldcat)
oldcat_rows() { q oldcat "SELECT string_agg(id || ' ' || status, ',' ORDER BY id) FROM pgbackups.backups"; }
for how in restore copy; do
	if [ $how = restore ]; then
		sql="SELECT pgbackups.restore('b001', target => 'oldcat', confirm => 'oldcat', wait => true)"
	else
		sql="SELECT pgbackups.copy('prod', 'oldcat', 'oldcat', wait => true)"
	fi
	pos=$(log_pos)
	expect_sqlstate "$how into a target with pgbackups 1.5.0 is refused" prod 55000 "$sql"
	jid=$(q prod "SELECT id FROM $( [ $how = restore ] && echo pgbackups.restores || echo pgbackups.copies) ORDER BY num DESC LIMIT 1")
	check_eq "$how: $jid is recorded failed with 55000" "$(job_field prod "$jid" "status || ' ' || error_code")" "failed 55000"
	check "$how: the error names both versions" grep -q 'database "oldcat" is version 1.5.0, but the loaded library needs' <<<"$(job_field prod "$jid" error)"
	check "$how: the job's log has the hint" grep -q 'Run ALTER EXTENSION pgbackups UPDATE in database "oldcat"' <<<"$(q prod "SELECT string_agg(message, ' ') FROM pgbackups.logs WHERE job_id = '$jid'")"
	check "$how: refused before anything was created (no staging database, no capture)" \
		test -z "$(log_since "$pos" | grep -E 'CREATE DATABASE|pgbackups_[0-9]+_'"$jid"'|capturing the source')$(q prod "SELECT string_agg(message, ' ') FROM pgbackups.logs WHERE job_id = '$jid' AND (message LIKE 'building the restore%' OR message LIKE 'copy started%' OR message LIKE 'archive SHA-256%')")"
	check_eq "$how: no staging database is left" "$(staging_dbs)" ""
	check "$how: oldcat is as it was (properties, schema, data)" test "$(db_fingerprint oldcat)" = "$oldcat_before"
	check_eq "$how: its catalog is still 1.5.0 with its row" \
		"$(q oldcat "SELECT extversion FROM pg_extension WHERE extname = 'pgbackups'") $(oldcat_rows)" "1.5.0 b001 completed"
done
q oldcat "ALTER EXTENSION pgbackups UPDATE" >/dev/null
try_sql prod "SELECT pgbackups.restore('b001', target => 'oldcat', confirm => 'oldcat', wait => true)"
check_eq "after ALTER EXTENSION pgbackups UPDATE the restore into oldcat works" "$TRY_STATE" OK
check_eq "oldcat holds prod's data" "$(q oldcat "SELECT count(*) || ' ' || min(item) FROM orders")" "4000 prod 1"
check_eq "... and kept its own catalog" "$(oldcat_rows)" "b001 completed"
finish
