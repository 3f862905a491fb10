#!/bin/bash
# 27_disk_space: disks.
# 1. A restore whose staging database would not fit (the backup's recorded
#    source size larger than the free space) fails with 53100 before
#    anything is created; the target keeps its rows; with
#    pgbackups.free_space_check = off the same restore runs.
# 2. A capture to file:// storage on a small tmpfs: the spools beside the
#    archive give their blocks back as the archive is written (holes
#    punched), so an archive that fits, but not twice, is captured.
# 3. A capture that does not fit at all fails with 53100 (ENOSPC), leaves no
#    file on that file system, and the cluster keeps running.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CAT=catalog
start_cluster
q postgres "CREATE DATABASE $CAT" >/dev/null
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE app" >/dev/null
q app "CREATE TABLE t AS SELECT g, md5(g::text) AS m FROM generate_series(1, 10000) g" >/dev/null
check_eq "free_space_check default" "$(q postgres "SHOW pgbackups.free_space_check")" on

# --- 1. the staging database's room -----------------------------------------------
B1=$(q $CAT "SELECT pgbackups.capture(database => 'app', wait => true)")
q postgres "CREATE DATABASE target" >/dev/null
q target "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('before')" >/dev/null
q $CAT "UPDATE pgbackups.backups SET source_size = 1000000000000000 WHERE id = '$B1'" >/dev/null
try_sql $CAT "SELECT pgbackups.restore('$B1', target => 'target', confirm => 'target', wait => true)"
check_eq "no room: the restore fails with 53100" "$TRY_STATE" 53100
check "no room: the message gives free and needed space ($TRY_MSG)" \
	grep -qE 'not enough free disk space for the staging database of r[0-9]+: .* free in ".*/base", about .* needed' <<<"$TRY_MSG"
R1=$(q $CAT "SELECT max(id) FROM pgbackups.restores")
check_eq "no room: the restore is recorded failed with 53100" "$(job_field $CAT "$R1" "status || ' ' || error_code")" "failed 53100"
check_eq "no room: no staging database was created" "$(staging_dbs)" ""
check_eq "no room: the target keeps its rows" "$(q target "SELECT string_agg(v, ',') FROM marker")" before
set_conf pgbackups.free_space_check off
try_sql $CAT "SELECT pgbackups.restore('$B1', target => 'target', confirm => 'target', wait => true)"
check_eq "check off: the restore runs" "$TRY_STATE $(job_field $CAT "$TRY_OUT" status)" "OK completed"
check_eq "check off: the target holds the backup's rows" "$(q target "SELECT count(*) FROM t")" 10000
set_conf pgbackups.free_space_check on
q $CAT "UPDATE pgbackups.backups SET source_size = 1 WHERE id = '$B1'" >/dev/null
try_sql $CAT "SELECT pgbackups.restore('$B1', target => 'target', confirm => 'target', wait => true)"
check_eq "room: the restore runs" "$TRY_STATE" OK
check "room: its log gives the free space" grep -q '^free disk space: ' \
	<<<"$(q $CAT "SELECT string_agg(message, E'\n') FROM pgbackups.logs('$TRY_OUT')")"

# --- 2./3. captures on a small file system ---------------------------------------
# 48 MB of incompressible bytea: about 96 MB of COPY text, an archive of about
# 100 MB with compression none
q app "CREATE TABLE blob AS SELECT g, decode(string_agg(md5(random()::text || h), ''), 'hex') AS b FROM generate_series(1, 48000) g, generate_series(1, 64) h GROUP BY g" >/dev/null
FS=$TESTDIR/small
if mount_tmpfs "$FS" 150m; then
	set_conf pgbackups.storage_url "file://$FS"
	try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => true, compression => 'none', parallel => 2)"
	B2=$TRY_OUT
	check_eq "fits once: the capture completes on a 150 MB file system" "$TRY_STATE $(backup_field $CAT "$B2" status)" "OK completed"
	size=$(backup_field $CAT "$B2" archive_size)
	log "fits once: archive of $((size / 1048576)) MB on a 150 MB tmpfs"
	check "fits once: the archive is more than half the file system ($size bytes): two copies would not fit" test "$size" -gt $((75 * 1048576))
	check_eq "fits once: no spool or temporary file is left" "$(find "$FS" -type f -name '*.tmp' | wc -l)" 0
	restore_into "fits once: pg_restore reads it" "$(archive_path $CAT "$B2")" blob_check &&
		check_eq "fits once: rows" "$(q blob_check "SELECT count(*) FROM blob")" 48000
	rm -f "$(archive_path $CAT "$B2")"
	q $CAT "DELETE FROM pgbackups.backups WHERE id = '$B2'" >/dev/null

	# 3: a second table of the same size: does not fit
	q app "CREATE TABLE blob2 AS SELECT * FROM blob" >/dev/null
	try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => true, compression => 'none', parallel => 2)"
	B3=$(q $CAT "SELECT max(id) FROM pgbackups.backups")
	check_eq "full: the capture fails with 53100 (ENOSPC)" "$TRY_STATE" 53100
	check_eq "full: recorded failed 53100" "$(backup_field $CAT "$B3" "status || ' ' || error_code")" "failed 53100"
	check_eq "full: no spool, temporary or archive file is left" "$(find "$FS" -type f \( -name '*.tmp' -o -name '*.dump' \) | wc -l)" 0
	check_eq "full: the cluster keeps running" "$(q postgres "SELECT 1")" 1
	q app "DROP TABLE blob2" >/dev/null
	try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => true, compression => 'none', parallel => 2)"
	check_eq "full: once there is room, the next capture completes" "$TRY_STATE" OK
else
	skip "captures on a small file system" "cannot mount a tmpfs here (not root, or no permission)"
fi

finish
