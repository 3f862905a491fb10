#!/bin/bash
# 89_standby: schedules run only on a primary and carry on after a
# promotion.  A standby made with pg_basebackup from a primary that has a
# schedule runs no pgbackups worker, even with its clock past a slot; once
# the primary is gone and the standby is promoted, its launcher and
# scheduler start and the due slot becomes a scheduled backup there, with
# the schedule's history kept.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

EXTRA_CONF="wal_level = replica
max_wal_senders = 4
hot_standby = on"
start_cluster
DB=app
q postgres "CREATE DATABASE $DB" >/dev/null
q $DB "CREATE EXTENSION pgbackups" >/dev/null
q $DB "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 500) g" >/dev/null
q $DB "SELECT pgbackups.set_clock('2030-01-01 01:59:00+00')" >/dev/null
check_eq "schedule on the primary" "$(q $DB "SELECT pgbackups.schedule(at => '02:00 UTC')")" $DB
q $DB "SELECT pgbackups.set_clock('2030-01-01 02:00:20+00')" >/dev/null
wait_for $DB "SELECT count(*) = 1 FROM pgbackups.backups WHERE status = 'completed'" 30 || true
check_eq "the primary ran the 2030-01-01 slot" \
	"$(q $DB "SELECT id || ' ' || scheduled_for FROM pgbackups.backups WHERE status = 'completed'")" \
	"a001 2030-01-01 02:00:00+00"
q $DB "CHECKPOINT" >/dev/null

# the standby
PRIMARY_HOST=$PGHOST PRIMARY_PORT=$PGPORT PRIMARY_DATA=$PGDATA PRIMARY_LOG=$SERVER_LOG
new_tmpdir SBDIR
SBDATA=$SBDIR/data
SBPORT=$(_pick_port)
log "pg_basebackup -> $SBDATA (port $SBPORT)"
as_postgres "$PGBIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -D "$SBDATA" -R -X stream \
	>"$SBDIR/basebackup.log" 2>&1 || die "pg_basebackup failed: $(cat "$SBDIR/basebackup.log")"
{
	echo "port = $SBPORT"
	echo "unix_socket_directories = '$SBDIR'"
} >>"$SBDATA/postgresql.conf"
_LIB_CLUSTERS+=("$SBDATA")
(cd "$SBDIR" && as_postgres "$PGBIN/pg_ctl" -D "$SBDATA" -l "$SBDIR/server.log" -w -t 120 start >/dev/null) ||
	die "standby did not start: $(tail -n 20 "$SBDIR/server.log")"

sb() { PGHOST=$SBDIR PGPORT=$SBPORT q "$@"; }
wait_for_sb() { PGHOST=$SBDIR PGPORT=$SBPORT wait_for "$@"; }
check_eq "the standby is in recovery" "$(sb $DB "SELECT pg_is_in_recovery()")" t
wait_for_sb $DB "SELECT count(*) = 1 FROM pgbackups.backups" 30 || true
check_eq "the standby sees the schedule" "$(sb $DB "SELECT name || ' ' || next_run FROM pgbackups.schedules")" \
	"$DB 2030-01-02 02:00:00+00"
# the next slot is due on the standby's clock: nothing may run there
check_eq "set_clock on the standby" "$(sb $DB "SELECT pgbackups.set_clock('2030-01-02 02:00:30+00')")" "2030-01-02 02:00:30+00"
# exact, no wait: every pgbackups process but the launcher is started by the
# launcher, and the standby's counters (pgbackups.counters(), shared memory
# of the standby) show that no launcher took a round there and that no
# pgbackups process ever started there
check_eq "the standby's launcher never took a round (launcher_rounds)" \
	"$(sb $DB "SELECT value FROM pgbackups.counters() WHERE name = 'launcher_rounds'")" 0
check_eq "no pgbackups process ever started on the standby (sum of *_started)" \
	"$(sb $DB "SELECT sum(value) FROM pgbackups.counters() WHERE name LIKE '%\_started'")" 0
check_eq "no pgbackups worker runs on the standby" \
	"$(sb postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pgbackups%'")" 0
# (the control: the primary logs that line for its scheduler, so its absence
# on the standby means something)
check "control: the primary logged its scheduler start" grep -q "pgbackups scheduler started for database \"$DB\"" "$PRIMARY_LOG"
check "the standby logged no scheduler start" bash -c "test -s '$SBDIR/server.log' && ! grep -q 'pgbackups scheduler started' '$SBDIR/server.log'"

# failover: the primary goes away, the standby is promoted
log "stopping the primary, promoting the standby"
(cd "$PRIMARY_HOST" && as_postgres "$PGBIN/pg_ctl" -D "$PRIMARY_DATA" -m fast -w stop >/dev/null)
(cd "$SBDIR" && as_postgres "$PGBIN/pg_ctl" -D "$SBDATA" -w promote >/dev/null) || die "promote failed"
wait_for_sb postgres "SELECT NOT pg_is_in_recovery()" 30 || true
wait_for_sb $DB "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler' AND datname = '$DB'" 30 || true
check_eq "a scheduler runs after the promotion" \
	"$(sb postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbackups scheduler' AND datname = '$DB'")" 1
wait_for_sb $DB "SELECT count(*) = 2 FROM pgbackups.backups WHERE status = 'completed'" 60 || true
check_eq "the promoted server ran the 2030-01-02 slot" \
	"$(sb $DB "SELECT string_agg(id || ' ' || scheduled_for, ', ' ORDER BY num) FROM pgbackups.backups WHERE status = 'completed'")" \
	"a001 2030-01-01 02:00:00+00, a002 2030-01-02 02:00:00+00"
check_eq "its run is recorded" \
	"$(sb $DB "SELECT string_agg(outcome || ' ' || coalesce(backup_id, '-'), ', ' ORDER BY slot) FROM pgbackups.schedule_runs")" \
	"started a001, started a002"
check_eq "the schedule moved on" "$(sb $DB "SELECT next_run FROM pgbackups.schedules")" "2030-01-03 02:00:00+00"
loc=$(sb $DB "SELECT location FROM pgbackups.backups WHERE id = 'a002'")
check "a002's archive is a pg_dump archive" bash -c "\"$PGBIN/pg_restore\" -l '${loc#file://}' >/dev/null"

finish
