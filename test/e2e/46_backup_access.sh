#!/bin/bash
# 46_backup_access: the read rule (issue 11).  A role reaches a backup's
# contents or metadata only if it may read the backup's source database:
# its owner, a member of pg_read_all_data, or a superuser (a dropped
# database: only the last two).
#
# The scenario of the issue: appdb is owned by app_op (pgbackups_admin, no
# CONNECT on secretdb); a superuser captures secretdb from appdb's catalog
# (b001).  As app_op: url, restore (id, appdb::id), info, logs, delete, pin,
# unpin, wait, cancel each give 42501 and change nothing; list(), the
# tables and the views show app_op no row of secretdb (backups, logs,
# restores, copies, schedules, health, alerts); restore() with no backup
# restores app_op's own latest backup, never secretdb's; secretdb's rows
# never reach appdb.  The same calls as a superuser and as a member of
# pg_read_all_data work.  Restores and copies carry the rule of their
# source; unschedule() of secretdb's schedule is 42501; a backup of a
# dropped database is readable only by superusers and pg_read_all_data.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}

start_cluster
psql_db postgres >/dev/null <<'SQL'
CREATE ROLE app_op LOGIN;
CREATE ROLE reader LOGIN IN ROLE pg_read_all_data;
CREATE ROLE other_op LOGIN;
CREATE DATABASE appdb OWNER app_op;
CREATE DATABASE secretdb;
CREATE DATABASE gone;
CREATE DATABASE scratch OWNER app_op;
REVOKE CONNECT ON DATABASE secretdb FROM PUBLIC;
SQL
q appdb "CREATE EXTENSION pgbackups" >/dev/null
q postgres "GRANT pgbackups_admin TO app_op, reader, other_op" >/dev/null
q secretdb "CREATE TABLE secrets AS SELECT g AS id, 'top secret ' || g AS s FROM generate_series(1, 500) g" >/dev/null
q gone "CREATE TABLE t AS SELECT g FROM generate_series(1, 10) g" >/dev/null
psql -X -q -U app_op -d appdb -c "CREATE TABLE mine AS SELECT g AS id, 'app row ' || g AS s FROM generate_series(1, 300) g" >/dev/null

as_role() { # as_role ROLE DB SQL: one unaligned result, as ROLE
	psql -X -q -At -v ON_ERROR_STOP=1 -U "$1" -d "$2" -c "$3"
}
expect_as() { # expect_as NAME ROLE STATE SQL (in appdb)
	expect_sqlstate "$1" "postgresql:///appdb?host=$PGHOST&port=$PGPORT&user=$2" "$3" "$4"
}

# ---- set-up: the superuser's backups of secretdb and gone, app_op's of appdb ----
try_sql appdb "SELECT pgbackups.capture('secretdb', wait => true)"
check_eq "superuser captures secretdb from appdb's catalog" "$TRY_STATE $TRY_OUT" "OK b001"
APP_ID=$(as_role app_op appdb "SELECT pgbackups.capture(wait => true)")
check_eq "app_op captures appdb (its owner)" "$APP_ID" b002
try_sql appdb "SELECT pgbackups.capture('gone', wait => true)"
check_eq "superuser captures gone" "$TRY_STATE $TRY_OUT" "OK b003"
q appdb "SELECT pgbackups.schedule('secretdb', at => '03:00 UTC')" >/dev/null
try_sql appdb "SELECT pgbackups.copy('secretdb', 'scratch', confirm => 'scratch', wait => true)"
check_eq "superuser copies secretdb into scratch (c001)" "$TRY_STATE $TRY_OUT" "OK c001"
try_sql appdb "SELECT pgbackups.restore('b001', target => 'scratch', confirm => 'scratch', wait => true)"
check_eq "superuser restores b001 into scratch (r001)" "$TRY_STATE $TRY_OUT" "OK r001"
q postgres "DROP DATABASE gone" >/dev/null

catalog_state() { q appdb "SELECT string_agg(id || ':' || status || ':' || pinned, ' ' ORDER BY id) FROM pgbackups.backups"; }
BEFORE_CAT=$(catalog_state)
db_fingerprint appdb >"$TESTDIR/appdb.before"

# ---- app_op: every function on secretdb's backup is 42501, nothing changes ----
expect_as "app_op: url('b001')" app_op 42501 "SELECT pgbackups.url('b001')"
expect_as "app_op: url('B001') (case folded)" app_op 42501 "SELECT pgbackups.url('B001')"
expect_as "app_op: restore('b001') into appdb" app_op 42501 "SELECT pgbackups.restore('b001', target => 'appdb', confirm => 'appdb')"
expect_as "app_op: restore('appdb::b001')" app_op 42501 "SELECT pgbackups.restore('appdb::b001', target => 'appdb', confirm => 'appdb')"
expect_as "app_op: restore('appdb::b001', wait)" app_op 42501 "SELECT pgbackups.restore('appdb::b001', target => 'scratch', confirm => 'scratch', wait => true)"
expect_as "app_op: info('b001')" app_op 42501 "SELECT * FROM pgbackups.info('b001')"
expect_as "app_op: logs('b001')" app_op 42501 "SELECT * FROM pgbackups.logs('b001')"
expect_as "app_op: delete('b001')" app_op 42501 "SELECT pgbackups.delete('b001')"
expect_as "app_op: pin('b001')" app_op 42501 "SELECT pgbackups.pin('b001')"
expect_as "app_op: unpin('b001')" app_op 42501 "SELECT pgbackups.unpin('b001')"
expect_as "app_op: wait('b001')" app_op 42501 "SELECT pgbackups.wait('b001')"
expect_as "app_op: cancel('b001')" app_op 42501 "SELECT pgbackups.cancel('b001')"
expect_as "app_op: info('r001') (a restore of secretdb's data)" app_op 42501 "SELECT * FROM pgbackups.info('r001')"
expect_as "app_op: logs('c001') (a copy of secretdb)" app_op 42501 "SELECT * FROM pgbackups.logs('c001')"
expect_as "app_op: wait('c001')" app_op 42501 "SELECT pgbackups.wait('c001')"
expect_as "app_op: unschedule('secretdb')" app_op 42501 "SELECT pgbackups.unschedule('secretdb')"
expect_as "app_op: capture('secretdb')" app_op 42501 "SELECT pgbackups.capture('secretdb')"
expect_as "app_op: copy('secretdb', ...)" app_op 42501 "SELECT pgbackups.copy('secretdb', 'scratch', confirm => 'scratch')"
expect_as "app_op: schedule('secretdb')" app_op 42501 "SELECT pgbackups.schedule('secretdb', at => '04:00')"
expect_as "app_op: url('b003') (a dropped database)" app_op 42501 "SELECT pgbackups.url('b003')"
expect_as "app_op: info('b003') (a dropped database)" app_op 42501 "SELECT * FROM pgbackups.info('b003')"
expect_as "app_op: url('b999') is unknown, not forbidden" app_op 42704 "SELECT pgbackups.url('b999')"
expect_as "other_op (owns nothing): url('b002')" other_op 42501 "SELECT pgbackups.url('b002')"
expect_as "other_op: capture() of appdb, which it may not read" other_op 42501 "SELECT pgbackups.capture()"
expect_as "other_op: url() (latest of appdb)" other_op 42501 "SELECT pgbackups.url()"
expect_as "other_op: restore() latest into its own database is still 42501 (does not own appdb)" other_op 42501 "SELECT pgbackups.restore(target => 'appdb', confirm => 'appdb')"
check_eq "the catalog is unchanged by the refusals" "$(catalog_state)" "$BEFORE_CAT"
check_eq "no restore or copy was recorded by the refusals" "$(q appdb "SELECT string_agg(id, ' ' ORDER BY id) FROM (SELECT id FROM pgbackups.restores UNION ALL SELECT id FROM pgbackups.copies) x")" "c001 r001"
check_eq "secretdb's schedule is still there" "$(q appdb "SELECT count(*) FROM pgbackups.schedule_defs WHERE database = 'secretdb'")" 1

# ---- listings: app_op sees no row of secretdb (or gone) ----
check_eq "app_op: backups table rows" "$(as_role app_op appdb "SELECT string_agg(id, ' ' ORDER BY id) FROM pgbackups.backups")" b002
check_eq "app_op: list() names only b002" "$(as_role app_op appdb "SELECT string_agg(substr(l, 1, 4), ' ') FROM pgbackups.list() l WHERE l ~ '^[abrc][0-9]{3} '")" b002
check_eq "app_op: list() never says secretdb or gone" "$(as_role app_op appdb "SELECT count(*) FROM pgbackups.list() l WHERE l ~ '(secretdb|gone)'")" 0
check_eq "app_op: log lines only of b002" "$(as_role app_op appdb "SELECT string_agg(DISTINCT job_id, ' ') FROM pgbackups.logs")" b002
check_eq "app_op: no restore rows (r001 carries secretdb's data)" "$(as_role app_op appdb "SELECT count(*) FROM pgbackups.restores")" 0
check_eq "app_op: no copy rows (c001 is of secretdb)" "$(as_role app_op appdb "SELECT count(*) FROM pgbackups.copies")" 0
check_eq "app_op: schedules view hides secretdb's" "$(as_role app_op appdb "SELECT count(*) FROM pgbackups.schedules")" 0
check_eq "app_op: health view hides secretdb's" "$(as_role app_op appdb "SELECT count(*) FROM pgbackups.health")" 0
check_eq "app_op: schedule_runs/schedule_defs hide secretdb's" "$(as_role app_op appdb "SELECT (SELECT count(*) FROM pgbackups.schedule_defs) + (SELECT count(*) FROM pgbackups.schedule_runs)")" 0
check_eq "app_op: info() of the newest backup it may read is b002" "$(as_role app_op appdb "SELECT value FROM pgbackups.info() WHERE field = 'ID'")" b002
expect_as "app_op: unschedule() sees no schedule" app_op 42704 "SELECT pgbackups.unschedule()"
expect_as "app_op: cancel() sees no running job" app_op 55000 "SELECT pgbackups.cancel()"
check_eq "superuser: backups table rows" "$(q appdb "SELECT string_agg(id, ' ' ORDER BY id) FROM pgbackups.backups")" "b001 b002 b003"

# ---- the same calls as a superuser and as a pg_read_all_data member work ----
for who in postgres reader; do
	check "$who: url('b001') is a link" grep -q '^file://' <<<"$(as_role $who appdb "SELECT pgbackups.url('b001')" 2>&1)"
	check_eq "$who: info('b001') database" "$(as_role $who appdb "SELECT value FROM pgbackups.info('b001') WHERE field = 'Database'" 2>&1)" secretdb
	check "$who: logs('b001') has lines" test "$(as_role $who appdb "SELECT count(*) FROM pgbackups.logs('b001')" 2>&1)" -gt 2
	check_eq "$who: wait('b001')" "$(as_role $who appdb "SELECT pgbackups.wait('b001')" 2>&1)" completed
	check_eq "$who: pin('b001')" "$(as_role $who appdb "SELECT pgbackups.pin('b001')" 2>&1)" b001
	check_eq "$who: unpin('b001')" "$(as_role $who appdb "SELECT pgbackups.unpin('b001')" 2>&1)" b001
	check_eq "$who: info('b003') of the dropped database" "$(as_role $who appdb "SELECT value FROM pgbackups.info('b003') WHERE field = 'Database'" 2>&1)" gone
	check_eq "$who: sees r001 and c001" "$(as_role $who appdb "SELECT (SELECT count(*) FROM pgbackups.restores) + (SELECT count(*) FROM pgbackups.copies)" 2>&1)" 2
	check_eq "$who: sees secretdb's schedule in the views" "$(as_role $who appdb "SELECT (SELECT count(*) FROM pgbackups.schedules) + (SELECT count(*) FROM pgbackups.health)" 2>&1)" 2
done
check_eq "the pin log lines name the calling roles" "$(q appdb "SELECT string_agg(message, ' | ' ORDER BY logged_at) FROM pgbackups.logs WHERE job_id = 'b001' AND message ~ 'pinned'")" \
	"pinned by postgres: kept until unpinned | unpinned by postgres: retention applies again | pinned by reader: kept until unpinned | unpinned by reader: retention applies again"
# reader may read secretdb but does not own scratch: the target rule still applies
expect_as "reader: restore('b001') into scratch it does not own" reader 42501 "SELECT pgbackups.restore('b001', target => 'scratch', confirm => 'scratch')"

# ---- secretdb's data never reached appdb ----
check_eq "appdb is unchanged by everything app_op tried" "$(db_fingerprint appdb | md5sum)" "$(md5sum <"$TESTDIR/appdb.before")"
check_eq "appdb has no table secrets" "$(q appdb "SELECT to_regclass('public.secrets') IS NULL")" t

# ---- app_op restores its own backups: latest = b002 (never secretdb's b001) ----
try_sql appdb "SET ROLE app_op; SELECT pgbackups.restore(target => 'scratch', confirm => 'scratch', wait => true)"
check_eq "app_op: restore() of the latest backup it may read into scratch" "$TRY_STATE $TRY_OUT" "OK r002"
check_eq "r002 restored b002, app_op's appdb backup" "$(q appdb "SELECT backup || ' ' || source_database FROM pgbackups.restores WHERE id = 'r002'")" "b002 appdb"
check_eq "scratch holds appdb's rows" "$(q scratch "SELECT count(*) FROM mine")" 300
# appdb holds pgbackups' catalog, so its archive creates the (untrusted) extension pgbackups:
# the restore creates its own catalog for a non-superuser owner
check_eq "r002: the archive's CREATE EXTENSION pgbackups is the restore's own" \
	"$(q appdb "SELECT count(*) FROM pgbackups.logs WHERE job_id = 'r002' AND message = 'extension pgbackups (this catalog) is created by the restore'")" 1
check_eq "scratch holds no secrets" "$(q scratch "SELECT to_regclass('public.secrets') IS NULL")" t
check_eq "app_op sees r002 and its logs" "$(as_role app_op appdb "SELECT (SELECT string_agg(id, ' ') FROM pgbackups.restores) || ' ' || (SELECT count(*) > 0 FROM pgbackups.logs WHERE job_id = 'r002')")" "r002 true"
try_sql appdb "SET ROLE app_op; SELECT pgbackups.restore('appdb::b002', target => 'scratch', confirm => 'scratch', wait => true)"
check_eq "app_op: restore('appdb::b002') of its own database" "$TRY_STATE $TRY_OUT" "OK r003"
try_sql appdb "SET ROLE app_op; SELECT pgbackups.delete('b002')"
check_eq "app_op: delete('b002') of its own database" "$TRY_STATE $TRY_OUT" "OK b002"

# ---- a caller's search_path never reaches a query run as the superuser ----
# app_op owns a schema whose = (text, text) and lower(text) would run with
# the rights of whoever executes them; put first in its search_path (before
# pg_catalog), they would capture the API's superuser queries.
psql -X -q -U app_op -d appdb >/dev/null <<'SQL'
CREATE SCHEMA evil;
CREATE TABLE evil.ran (who name, fn text);
GRANT INSERT ON evil.ran TO PUBLIC;
CREATE FUNCTION evil.texteq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO evil.ran VALUES (current_user, '='); RETURN pg_catalog.texteq(a, b); END$$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq);
CREATE FUNCTION evil.lower(t text) RETURNS text LANGUAGE plpgsql AS
$$BEGIN INSERT INTO evil.ran VALUES (current_user, 'lower'); RETURN pg_catalog.lower(t); END$$;
CREATE FUNCTION evil.to_jsonb(r anyelement) RETURNS jsonb LANGUAGE plpgsql AS
$$BEGIN INSERT INTO evil.ran VALUES (current_user, 'to_jsonb'); RETURN pg_catalog.to_jsonb(r); END$$;
SQL
shadowed() { # shadowed NAME SQL: SQL as app_op with evil first in search_path
	try_sql "postgresql:///appdb?host=$PGHOST&port=$PGPORT&user=app_op" "SET search_path = evil, pg_catalog, public; $2"
	check_eq "$1 with a planted search_path: $TRY_MSG" "$TRY_STATE" "${3:-OK}"
}
try_sql appdb "SET ROLE app_op; SELECT pgbackups.capture(wait => true)"
APP2=$TRY_OUT
shadowed "pin($APP2)" "SELECT pgbackups.pin('$APP2')"
shadowed "unpin($APP2)" "SELECT pgbackups.unpin('$APP2')"
shadowed "schedule()" "SELECT pgbackups.schedule(at => '05:00 UTC')"
shadowed "schedule() again (replaces)" "SELECT pgbackups.schedule(at => '06:00 UTC')"
shadowed "unschedule('appdb')" "SELECT pgbackups.unschedule('appdb')"
shadowed "url($APP2)" "SELECT pgbackups.url('$APP2')"
shadowed "info($APP2)" "SELECT count(*) FROM pgbackups.info('$APP2')"
shadowed "url('b001') still refused" "SELECT pgbackups.url('b001')" 42501
check_eq "no planted function ran as a superuser (rows: who|fn)" \
	"$(q appdb "SELECT coalesce(string_agg(DISTINCT who || '|' || fn, ' '), 'none') FROM evil.ran WHERE who <> 'app_op'")" none

# ---- a restore or copy requested through another catalog names its source ----
check_eq "r001 records source_database secretdb and the backup's SHA-256" "$(q appdb "SELECT source_database || ' ' || (sha256 = (SELECT sha256 FROM pgbackups.backups WHERE id = 'b001'))::text FROM pgbackups.restores WHERE id = 'r001'")" "secretdb true"
check_eq "c001 records source_database secretdb" "$(q appdb "SELECT source_database FROM pgbackups.copies WHERE id = 'c001'")" secretdb

finish
