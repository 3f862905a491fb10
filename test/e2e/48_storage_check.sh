#!/bin/bash
# 48_storage_check: storage health on file:// (issue 13, item 6).  The crash
# window: with pgbackups.debug_fault = after_archive the capture's job worker
# stops once its archive is durable, before the manifest is stored; list()
# shows it running, never completed; kill -9 of that worker (a crash
# restart) leaves the job failed after the reconciliation, which removes the
# archive without a manifest.  An archive without manifest put back at that
# key (b001's bytes): rescan() does not import it, storage_check()
# reports it as an archive without manifest (with its age), the default
# cleanup (1 day, dry run) removes nothing, older_than => '0' names it in a
# dry run (nothing removed) and removes it with dry_run => false; the earlier
# backups' archives and manifests are untouched (same SHA-256).  Then: a
# manifest without archive, an invalid manifest, a dropped database's old
# orphan, a completed backup whose manifest is gone (a catalog row without
# manifest: the cleanup keeps its archive, rescan() writes the manifest back)
# and a completed backup whose archive is gone (catalog row without
# archive); the cleanup removes exactly the orphans past the grace period;
# objects and sizes per database.  Refusals: both functions as an operator
# and as a stranger 42501, NULL arguments 22004, a negative grace 22023;
# debug_fault: an unknown point 22023, SET 55P02.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

start_cluster
SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")
DIR=$STORAGE_DIR/$SYSID/app

# wait_log PATTERN SECS: until the server log has a line matching PATTERN
wait_log() {
	local deadline=$((SECONDS + $2))
	until grep -q "$1" "$SERVER_LOG"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}
# findings: storage_check() as "finding id" lines, without the summaries
findings() {
	q app "SELECT coalesce(string_agg(finding || ' ' || coalesce(database, '-') || ' ' || coalesce(id, '-'), E'\n' ORDER BY finding, database, id), '')
	         FROM pgbackups.storage_check() WHERE finding <> 'database'"
}
# digests of the files under DIR but those matching $1
digests() { (cd "$DIR" && find . -type f ! -name "$1" -print0 | sort -z | xargs -0 sha256sum); }

q postgres "CREATE DATABASE app" >/dev/null
psql_db app >/dev/null <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
CREATE EXTENSION pgbackups;
SQL
q app "SELECT pgbackups.capture(wait => true)" >/dev/null
q app "SELECT pgbackups.capture(wait => true, label => 'second')" >/dev/null
check_eq "no finding with two good backups" "$(findings)" ""
check_eq "the summary of app: 4 objects and their size" \
	"$(q app "SELECT objects || ' ' || size FROM pgbackups.storage_check() WHERE finding = 'database' AND database = 'app'")" \
	"4 $(find "$DIR" -type f -printf '%s\n' | awk '{s += $1} END {print s}')"
before=$(digests 'b003-*')

# --- the crash window ----------------------------------------------------------------------
expect_sqlstate "debug_fault: an unknown fault point" postgres 22023 "ALTER SYSTEM SET pgbackups.debug_fault = 'nowhere'"
expect_sqlstate "debug_fault: SET in a session" postgres 55P02 "SET pgbackups.debug_fault = 'after_archive'"
set_conf pgbackups.debug_fault after_archive
id=$(q app "SELECT pgbackups.capture()")
check_eq "the capture under the fault point" "$id" b003
if wait_log 'reached fault point "after_archive"' 60; then
	pass "the job worker stopped at after_archive"
else
	fail "the job worker never reached after_archive: $(describe_backup app b003)"
fi
pid=$(grep -m1 'reached fault point "after_archive"' "$SERVER_LOG" | sed -E 's/.*process ([0-9]+) reached.*/\1/')
arch=$(archive_path app b003)
check "its archive is durable under its final name" test -f "$arch"
check "... and has no manifest" test ! -e "$arch.manifest.json"
line=$(q app "SELECT l FROM pgbackups.list() l WHERE l LIKE 'b003 %'")
log "list() at the fault point: $line"
check "list() shows it running, not completed" grep -qv -i completed <<<"$line"
check_eq "... its committed status is running" "$(backup_field app b003 status)" running
kill -9 "$pid"
log "killed job worker $pid of b003; waiting for the crash restart"
wait_log "PID $pid) was terminated by signal 9" 30 || fail "the postmaster did not see the kill of $pid"
server_up 60 || die "the server did not come back after kill -9"
psql -X -q -d postgres -c "ALTER SYSTEM RESET pgbackups.debug_fault" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
if wait_for app "SELECT status = 'failed' FROM pgbackups.backups WHERE id = 'b003'" 60; then
	pass "b003 is failed after the reconciliation"
else
	fail "b003 is not failed 60 s after kill -9: $(describe_backup app b003)"
fi
line=$(q app "SELECT l FROM pgbackups.list() l WHERE l LIKE 'b003 %'")
log "list() after the crash: $line"
check "list() does not show it completed" grep -q -i failed <<<"$line"
check "the reconciliation removed its archive, which has no manifest" wait_cmd 30 test ! -e "$arch"
check "... and logged it" grep -q "removed archive .*b003-.* it has no manifest" "$SERVER_LOG"
# an archive without manifest for the checks below: b001's bytes under b003's name
cp "$(archive_path app b001)" "$arch"
chown postgres:postgres "$arch" 2>/dev/null || true
check_eq "rescan() does not import it" "$(q app "SELECT count(*) FROM pgbackups.rescan() WHERE id = 'b003'")" 0
check_eq "... it stays failed" "$(backup_field app b003 status)" failed
check_eq "storage_check() reports the orphan" "$(findings)" "archive without manifest app b003"
check "... with its age and size" test "$(q app "SELECT age >= '0' AND age < '1 hour' AND size = $(stat -c %s "$arch") FROM pgbackups.storage_check() WHERE id = 'b003'")" = t
check_eq "the default cleanup (1 day, dry run) removes nothing" "$(q app "SELECT count(*) FROM pgbackups.storage_cleanup()")" 0
check_eq "a dry run with older_than => '0' names it" \
	"$(q app "SELECT string_agg(action || ' ' || id || ' ' || url, ',') FROM pgbackups.storage_cleanup(older_than => '0', dry_run => true)")" \
	"would remove b003 file://$arch"
check "... and removes nothing" test -f "$arch"
check_eq "storage_cleanup(older_than => '0', dry_run => false) removes it" \
	"$(q app "SELECT string_agg(action || ' ' || id, ',') FROM pgbackups.storage_cleanup(older_than => '0', dry_run => false)")" \
	"removed b003"
check "... the archive is gone" test ! -e "$arch"
check_eq "the earlier backups are untouched" "$(digests 'b003-*')" "$before"
check_eq "no finding left" "$(findings)" ""
# (after a crash the id sequence jumps, as PostgreSQL's sequences do: b004 is not promised)
b4=$(q app "SELECT pgbackups.capture(wait => true)")
check_eq "the next capture completes" "$(backup_field app "$b4" status)" completed

# --- other findings -------------------------------------------------------------------------
m2=$(archive_path app b002).manifest.json
cp "$m2" "$DIR/b090-20200101T000000Z.dump.manifest.json"              # manifest without archive
printf '{"format": "pgbackups-manifest", ' >"$DIR/b091-20200101T000000Z.dump.manifest.json"
cp "$(archive_path app b002)" "$DIR/b091-20200101T000000Z.dump"       # invalid manifest
mkdir -p "$STORAGE_DIR/$SYSID/gone%20db"                              # a dropped database's orphan
printf 'x%.0s' {1..100} >"$STORAGE_DIR/$SYSID/gone%20db/b007-20200101T000000Z.dump"
printf 'x%.0s' {1..10} >"$STORAGE_DIR/$SYSID/gone%20db/b008-29990101T000000Z.dump" # newer than any grace
a1=$(archive_path app b001)
mv "$a1.manifest.json" "$TESTDIR/b001.manifest.json"                  # catalog row without manifest
a4=$(archive_path app "$b4")
rm "$a4"                                                              # catalog row without archive
chown -R postgres "$STORAGE_DIR"
check_eq "storage_check() reports each" "$(findings)" "archive without manifest gone db b007
archive without manifest gone db b008
catalog row without archive app $b4
catalog row without manifest app b001
invalid manifest app b091
manifest without archive app $b4
manifest without archive app b090"
log "$(q app "SELECT finding, database, id, detail FROM pgbackups.storage_check() WHERE finding <> 'database'")"
check "the invalid manifest's detail names the JSON error" \
	grep -q 'invalid input syntax for type json' <<<"$(q app "SELECT detail FROM pgbackups.storage_check() WHERE id = 'b091'")"
check_eq "summary of the dropped database" \
	"$(q app "SELECT objects || ' ' || size FROM pgbackups.storage_check() WHERE finding = 'database' AND database = 'gone db'")" "2 110"
check_eq "the cleanup removes the orphans past the grace period, nothing of this catalog's backups" \
	"$(q app "SELECT string_agg(action || ' ' || finding || ' ' || id, ',' ORDER BY id) FROM pgbackups.storage_cleanup(dry_run => false)")" \
	"removed archive without manifest b007,removed manifest without archive b090"
check "b001's archive is kept" test -f "$a1"
check "$b4's manifest is kept (its row is completed)" test -f "$a4.manifest.json"
check "the invalid manifest is kept" test -f "$DIR/b091-20200101T000000Z.dump.manifest.json"
check "the newer orphan is kept" test -f "$STORAGE_DIR/$SYSID/gone%20db/b008-29990101T000000Z.dump"
check_eq "rescan() writes b001's manifest and marks $b4 missing" \
	"$(q app "SELECT string_agg(id || ' ' || outcome, ',' ORDER BY id) FROM pgbackups.rescan() WHERE id IN ('b001', '$b4')")" \
	"b001 manifest written,$b4 missing"
check_eq "... then $b4 is a catalog row without archive (missing)" \
	"$(q app "SELECT detail FROM pgbackups.storage_check() WHERE id = '$b4' AND finding = 'catalog row without archive'")" \
	"rescan() marked it missing"

# --- refusals ---------------------------------------------------------------------------------
q postgres "CREATE ROLE op LOGIN IN ROLE pgbackups_admin; CREATE ROLE stranger LOGIN" >/dev/null
for r in op stranger; do
	expect_sqlstate "storage_check() as $r" app 42501 "SET ROLE $r; SELECT * FROM pgbackups.storage_check()"
	expect_sqlstate "storage_cleanup() as $r" app 42501 "SET ROLE $r; SELECT * FROM pgbackups.storage_cleanup()"
done
q app "GRANT USAGE ON SCHEMA pgbackups TO op; GRANT EXECUTE ON FUNCTION pgbackups.storage_cleanup(interval, boolean) TO op" >/dev/null
expect_sqlstate "storage_cleanup() as an operator granted EXECUTE" app 42501 "SET ROLE op; SELECT * FROM pgbackups.storage_cleanup()"
expect_sqlstate "storage_cleanup(NULL)" app 22004 "SELECT * FROM pgbackups.storage_cleanup(NULL)"
expect_sqlstate "storage_cleanup(dry_run => NULL)" app 22004 "SELECT * FROM pgbackups.storage_cleanup(dry_run => NULL)"
expect_sqlstate "storage_cleanup('-1 day')" app 22023 "SELECT * FROM pgbackups.storage_cleanup('-1 day')"
finish
