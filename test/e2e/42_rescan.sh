#!/bin/bash
# 42_rescan: the catalog is an index of storage (issue 13).  In "app": three
# backups (one pinned, one scheduled); then the accident: DROP DATABASE app,
# CREATE DATABASE app, CREATE EXTENSION pgbackups.  Without any call, the
# maintenance worker's rescan brings back the same ids, kinds, times, sizes,
# SHA-256 and pins (waited for on the catalog, not with a sleep);
# restore('b002') reproduces that backup exactly (schema and per-table
# digests against the database it was taken from, kept aside as app_ref);
# the next capture gets b004 and its archive is new.  rescan() is
# idempotent (a second call reports nothing); an archive deleted behind
# pgbackups' back is reported and marked 'missing' (never deleted), and a
# restore of it is refused (55000); a manifest with invalid JSON, an unknown
# format version, or a size that disagrees with its archive is reported as
# rejected and never imported; a manifest-less archive (a 1.4.0 backup, or
# a crash leftover) moves the id sequence past its id.  As a role without
# pgbackups_admin rescan() is 42501.  A dropped database's backups are
# listed by stored_backups() (to superusers; an operator sees none) and
# restore('gone::b001') finds the backup in storage and reproduces it; an
# operator's is 42501, an id storage lacks 42704.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

EXTRA_CONF="pgbackups.debug_clock = on" start_cluster
SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")
DIR=$STORAGE_DIR/$SYSID/app

psql_db postgres >/dev/null <<'SQL'
CREATE DATABASE app;
SQL
psql_db app >/dev/null <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
CREATE EXTENSION pgbackups;
SQL
q app "SELECT pgbackups.capture(wait => true)" >/dev/null
q app "INSERT INTO t SELECT g, 'second' FROM generate_series(5001, 6000) g" >/dev/null
q app "SELECT pgbackups.capture(wait => true, label => 'second')" >/dev/null
q app "SELECT pgbackups.capture(wait => true, label => 'third')" >/dev/null
# the reference for b002: app as it was then
q postgres "CREATE DATABASE app_ref TEMPLATE app" >/dev/null 2>&1 || {
	q app "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'app' AND pid <> pg_backend_pid()" >/dev/null
	q postgres "CREATE DATABASE app_ref TEMPLATE app" >/dev/null
}
q app "SELECT pgbackups.pin('b002')" >/dev/null
q app "SELECT pgbackups.set_clock('2030-01-01 00:00 UTC')" >/dev/null
q app "SELECT pgbackups.schedule(at => '03:00 UTC')" >/dev/null
q app "SELECT pgbackups.set_clock('2030-01-01 03:00:05 UTC')" >/dev/null
wait_for app "SELECT status = 'completed' FROM pgbackups.backups WHERE id = 'a001'" 60 || fail "a001 did not complete"
q app "SELECT pgbackups.set_clock(NULL)" >/dev/null

fields="id || ' ' || kind || ' ' || status || ' ' || created_at || ' ' || finished_at || ' ' || archive_size || ' ' || sha256 || ' ' || pinned || ' ' || coalesce(label, '-') || ' ' || coalesce(schedule, '-')"
before=$(q app "SELECT string_agg($fields, E'\n' ORDER BY id) FROM pgbackups.backups")
check "four backups before the accident" test "$(wc -l <<<"$before")" = 4
check "each has a manifest beside its archive" test "$(find "$DIR" -name '*.dump.manifest.json' | wc -l)" = 4

# --- the accident -------------------------------------------------------------------------
q postgres "DROP DATABASE app WITH (FORCE)" >/dev/null
q postgres "CREATE DATABASE app" >/dev/null
q app "CREATE EXTENSION pgbackups" >/dev/null
if wait_for app "SELECT count(*) = 4 FROM pgbackups.backups" 60; then
	pass "after CREATE EXTENSION the rescan found the four backups"
else
	fail "the catalog of the new app has $(q app "SELECT count(*) FROM pgbackups.backups") backups"
fi
check_eq "ids, kinds, times, sizes, SHA-256, pins, labels and schedules are those of before" \
	"$(q app "SELECT string_agg($fields, E'\n' ORDER BY id) FROM pgbackups.backups")" "$before"
check "list() shows b002" grep -q b002 <<<"$(q app "SELECT * FROM pgbackups.list()")"
check "the server log names the imports" grep -q 'rescan of database "app": b002 imported' "$SERVER_LOG"

q postgres "CREATE DATABASE r2" >/dev/null
try_sql app "SELECT pgbackups.restore('b002', target => 'r2', confirm => 'r2', wait => true)"
check_eq "restore('b002') after the accident" "$TRY_STATE" OK
compare_dbs "b002 restored equals the database it was taken from" app_ref r2

id=$(q app "SELECT pgbackups.capture(wait => true)")
check_eq "the next manual capture continues after the ids in storage" "$id" b004
check_eq "its archive is a new file" "$(find "$DIR" -name 'b004-*.dump' | wc -l)" 1

# --- rescan() on demand ---------------------------------------------------------------------
check_eq "a second rescan reports nothing" "$(q app "SELECT count(*) FROM pgbackups.rescan()")" 0
b1=$(q app "SELECT location FROM pgbackups.backups WHERE id = 'b001'")
rm -f "${b1#file://}"
check_eq "an archive deleted behind pgbackups' back is reported" "$(q app "SELECT string_agg(id || ' ' || outcome, ',') FROM pgbackups.rescan()")" "b001 missing"
check_eq "... and its row is kept, as missing" "$(q app "SELECT status FROM pgbackups.backups WHERE id = 'b001'")" missing
q postgres "CREATE DATABASE r1" >/dev/null
expect_sqlstate "restore of a missing backup" app 55000 "SELECT pgbackups.restore('b001', target => 'r1', confirm => 'r1', wait => true)"

# --- bad manifests are rejected, never imported ------------------------------------------------
m4=$(find "$DIR" -name 'b004-*.dump.manifest.json')
a4=${m4%.manifest.json}
python3 - "$m4" "$DIR" <<'PY'
import json, sys, os
m = json.load(open(sys.argv[1]))
d = sys.argv[2]
def put(num, doc):
    name = "b%03d-20300101T000000Z.dump.manifest.json" % num
    open(os.path.join(d, name), "w").write(doc)
bad = dict(m); bad["id"] = "b094"; bad["version"] = 99
put(94, json.dumps(bad))
bad = dict(m); bad["id"] = "b095"; bad["archive_size"] = m["archive_size"] + 1
put(95, json.dumps(bad))
put(96, '{"format": "pgbackups-manifest", "version": 1, "id": ')
PY
for n in 94 95 96; do [ -e "$DIR/b0$n-20300101T000000Z.dump" ] || cp "$a4" "$DIR/b0$n-20300101T000000Z.dump"; done
chown -R postgres "$DIR"
out=$(q app "SELECT string_agg(id || ': ' || outcome, E'\n' ORDER BY id) FROM pgbackups.rescan()")
log "rescan of bad manifests: $out"
check "unknown format version: rejected" grep -q '^b094: rejected: its format version 99 is not one this pgbackups reads' <<<"$out"
check "size disagreeing with the archive: rejected" grep -q '^b095: rejected: its archive has [0-9]* bytes, the manifest says' <<<"$out"
check "invalid JSON: rejected" grep -q ': rejected: invalid input syntax for type json' <<<"$out"
check_eq "none of them was imported" "$(q app "SELECT count(*) FROM pgbackups.backups WHERE id IN ('b094', 'b095', 'b096')")" 0
id=$(q app "SELECT pgbackups.capture(wait => true)")
check_eq "ids continue after every id in storage, manifest or not" "$id" b097

# --- a dropped database's backups: listed and restored from storage --------------------------
q postgres "CREATE DATABASE gone" >/dev/null
psql_db gone >/dev/null <<'SQL'
CREATE TABLE g (id int PRIMARY KEY, v text);
INSERT INTO g SELECT x, repeat('g', x % 50) FROM generate_series(1, 3000) x;
CREATE EXTENSION pgbackups;
SELECT pgbackups.capture(wait => true);
SQL
q postgres "CREATE DATABASE gone_ref TEMPLATE gone" >/dev/null
q postgres "DROP DATABASE gone WITH (FORCE)" >/dev/null
check_eq "stored_backups('gone') lists the dropped database's backup" \
	"$(q app "SELECT string_agg(id || ' ' || kind || ' ' || source_database || ' ' || (archive_size > 0)::text, ',') FROM pgbackups.stored_backups('gone')")" "b001 manual gone true"
check "stored_backups() of the whole cluster lists app's and gone's" \
	test "$(q app "SELECT count(DISTINCT catalog_database) FROM pgbackups.stored_backups() WHERE catalog_database IN ('app', 'gone')")" = 2
q postgres "CREATE ROLE op LOGIN IN ROLE pgbackups_admin; CREATE ROLE stranger LOGIN" >/dev/null
q postgres "CREATE DATABASE g2; ALTER DATABASE g2 OWNER TO op" >/dev/null 2>&1 || { q postgres "CREATE DATABASE g2" >/dev/null; q postgres "ALTER DATABASE g2 OWNER TO op" >/dev/null; }
check_eq "an operator sees no backup of a dropped database" \
	"$(psql -X -At -U op -d app -c "SELECT count(*) FROM pgbackups.stored_backups('gone')")" 0
expect_sqlstate "an operator's restore of a dropped database's backup" app 42501 \
	"SET ROLE op; SELECT pgbackups.restore('gone::b001', target => 'g2', confirm => 'g2', wait => true)"
q postgres "CREATE DATABASE g3" >/dev/null
try_sql app "SELECT pgbackups.restore('gone::b001', target => 'g3', confirm => 'g3', wait => true)"
check_eq "restore('gone::b001') after DROP DATABASE gone" "$TRY_STATE" OK
compare_dbs "gone::b001 restored equals the dropped database" gone_ref g3
check "its log says it was found in storage" grep -q 'found in storage' <<<"$(q app "SELECT string_agg(message, ' ') FROM pgbackups.logs WHERE job_id = '$TRY_OUT'")"
expect_sqlstate "restore of an id storage does not have" app 42704 \
	"SELECT pgbackups.restore('gone::b999', target => 'g2', confirm => 'g2', wait => true)"

# --- privileges ---------------------------------------------------------------------------------
expect_sqlstate "rescan() by a role without pgbackups_admin" "app" 42501 "SET ROLE stranger; SELECT * FROM pgbackups.rescan()"
expect_sqlstate "stored_backups() by a role without pgbackups_admin" "app" 42501 "SET ROLE stranger; SELECT * FROM pgbackups.stored_backups()"
finish
