#!/bin/bash
# 57_second_cluster: another server can restore a cluster's backups (issue 13).
# Cluster A captures "app" into file:// storage; cluster B (its own initdb,
# so another system identifier) is configured with the same storage.  B
# lists A's backup with stored_backups(cluster => 'all') (by cluster and
# database; its own cluster's listing does not show it), restores it with
# restore_from_url() into a database of its own (identical to A's app: row
# counts and a digest of every row), a same-named "app" catalog on B imports
# nothing of A's on rescan(), and B's retention expires its own backups
# only: A's archive and manifest are untouched.  A bad cluster argument is
# 22023; an operator without pg_read_all_data sees none of A's backups.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

start_cluster
A_PORT=$PGPORT A_HOST=$PGHOST A_STORAGE=$STORAGE_DIR
qa() { PGPORT=$A_PORT PGHOST=$A_HOST q "$@"; }
A_SYSID=$(qa postgres "SELECT system_identifier FROM pg_control_system()")
qa postgres "CREATE DATABASE app" >/dev/null
qa app "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 7000) g" >/dev/null
qa app "CREATE EXTENSION pgbackups" >/dev/null
check_eq "A: capture of app" "$(qa app "SELECT pgbackups.capture(wait => true)")" b001
A_ARCHIVE=$(qa app "SELECT location FROM pgbackups.backups WHERE id = 'b001'")
digest="SELECT count(*) || ' ' || md5(string_agg(id || ':' || h, ',' ORDER BY id)) FROM t"
A_DIGEST=$(qa app "$digest")

EXTRA_CONF="pgbackups.storage_url = 'file://$A_STORAGE'" start_cluster
B_SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")
check "B is another cluster" test "$A_SYSID" != "$B_SYSID"
q postgres "CREATE DATABASE ops" >/dev/null
q ops "CREATE EXTENSION pgbackups" >/dev/null
check_eq "B: its own cluster's listing does not show A's backups" \
	"$(q ops "SELECT count(*) FROM pgbackups.stored_backups()")" 0
check_eq "B: stored_backups(cluster => 'all') lists A's app backup by cluster and database" \
	"$(q ops "SELECT cluster || ' ' || catalog_database || ' ' || id || ' ' || location FROM pgbackups.stored_backups(cluster => 'all')")" \
	"$A_SYSID app b001 $A_ARCHIVE"
check_eq "B: the same by A's system identifier and database" \
	"$(q ops "SELECT id FROM pgbackups.stored_backups('app', '$A_SYSID')")" b001
expect_sqlstate "B: a cluster that is not a system identifier" ops 22023 "SELECT * FROM pgbackups.stored_backups(cluster => 'x1')"
q postgres "CREATE ROLE op LOGIN IN ROLE pgbackups_admin" >/dev/null
check_eq "B: an operator without pg_read_all_data sees none of A's backups" \
	"$(psql -X -At -U op -d ops -c "SELECT count(*) FROM pgbackups.stored_backups(cluster => 'all')")" 0

q postgres "CREATE DATABASE restored" >/dev/null
url=$(q ops "SELECT location FROM pgbackups.stored_backups(cluster => 'all') WHERE id = 'b001'")
try_sql ops "SELECT pgbackups.restore_from_url('$url', target => 'restored', confirm => 'restored', wait => true)"
check_eq "B: restore_from_url of A's backup" "$TRY_STATE" OK
check_eq "B: the restored database equals A's app (rows and digest)" "$(q restored "$digest")" "$A_DIGEST"

# a catalog named like A's on B imports nothing of A's
q postgres "CREATE DATABASE app" >/dev/null
q app "CREATE EXTENSION pgbackups" >/dev/null
check_eq "B: rescan() of B's app imports nothing of A's app" \
	"$(q app "SELECT count(*) FROM pgbackups.rescan()")/$(q app "SELECT count(*) FROM pgbackups.backups")" "0/0"

# B's retention expires only B's
set_conf pgbackups.manual_retention 1
for _ in 1 2 3; do q ops "SELECT pgbackups.capture(wait => true)" >/dev/null; done
check_eq "B: retention kept one backup of its own" "$(q ops "SELECT count(*) FROM pgbackups.backups")" 1
check "A's archive is untouched" test -f "${A_ARCHIVE#file://}"
check "A's manifest is untouched" test -f "${A_ARCHIVE#file://}.manifest.json"
check_eq "A still lists its backup" "$(qa app "SELECT status FROM pgbackups.backups WHERE id = 'b001'")" completed
finish
