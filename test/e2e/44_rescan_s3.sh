#!/bin/bash
# 44_rescan_s3: 42_rescan's accident on S3 (s3rver behind the fault proxy,
# whose request log counts the listing's pages), in a catalog database named
# 'a&b c é' (a key with %26, %20 and UTF-8 bytes encoded), with
# pgbackups.s3_list_page_size = 2: four backups (one pinned) make 8 objects;
# DROP DATABASE, CREATE DATABASE, CREATE EXTENSION: the maintenance worker's
# rescan brings back the same ids, kinds, times, sizes, SHA-256 and pins;
# rescan() on demand lists at least three pages and reports nothing (all
# imported); restore('b002') equals the database it was taken from; the next
# capture gets b005.  Then the crash window on S3: with
# pgbackups.debug_fault = after_archive the job worker is killed (-9) after
# its archive is uploaded, before its manifest: failed after the restart,
# never completed, its archive removed by the reconciliation.  An archive
# put back at that key without manifest (b005's bytes): not imported by
# rescan(); storage_check() names the orphan under the decoded database name; storage_cleanup(older_than => '0',
# dry_run => false) deletes it (boto3 no longer finds it) and nothing else.
# As a role without pgbackups_admin rescan() is 42501; storage_check() and
# storage_cleanup() are 42501 for it and for an operator.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}

require_servers
start_s3rver "$S3_BUCKET"
start_fault_proxy "$S3_PORT"
EXTRA_CONF="$(s3_conf "$FP_ENDPOINT" backups/t44)
pgbackups.s3_list_page_size = 2
pgbackups.http_timeout = 20"
start_cluster
SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")
WEIRD='a&b c é'
WEIRD_KEY='a%26b%20c%20%C3%A9' # the name as keys carry it (catalog.c)
KEYS=backups/t44/$SYSID/$WEIRD_KEY/

# wait_log PATTERN SECS: until the server log has a line matching PATTERN
wait_log() {
	local deadline=$((SECONDS + $2))
	until grep -q "$1" "$SERVER_LOG"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}
w() { q "$WEIRD" "$1"; }
# the objects of the catalog, as boto3 lists them (key, size), and their digests
objects() { s3cli ls "$KEYS" | LC_ALL=C sort; }
digests() {
	local k
	while IFS=$'\t' read -r k _; do
		[ -n "$k" ] && printf '%s %s\n' "$k" "$(s3cli sha256 "$k")"
	done <<<"$(objects)"
}

q postgres "CREATE DATABASE \"$WEIRD\"" >/dev/null
psql_db "$WEIRD" >/dev/null <<'SQL'
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 3000) g;
CREATE EXTENSION pgbackups;
SQL
w "SELECT pgbackups.capture(wait => true)" >/dev/null
w "INSERT INTO t SELECT g, 'second' FROM generate_series(3001, 4000) g" >/dev/null
w "SELECT pgbackups.capture(wait => true, label => 'second')" >/dev/null
q postgres "CREATE DATABASE ref TEMPLATE \"$WEIRD\"" >/dev/null 2>&1 || {
	q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$WEIRD'" >/dev/null
	q postgres "CREATE DATABASE ref TEMPLATE \"$WEIRD\"" >/dev/null
}
w "UPDATE t SET v = 'third' WHERE id <= 10" >/dev/null
w "SELECT pgbackups.capture(wait => true, label => 'third & last?')" >/dev/null
w "SELECT pgbackups.capture(wait => true, label => 'fourth')" >/dev/null
w "SELECT pgbackups.pin('b002')" >/dev/null

fields="id || ' ' || kind || ' ' || status || ' ' || created_at || ' ' || finished_at || ' ' || archive_size || ' ' || sha256 || ' ' || pinned || ' ' || coalesce(label, '-')"
before=$(w "SELECT string_agg($fields, E'\n' ORDER BY id) FROM pgbackups.backups")
check_eq "four backups before the accident" "$(wc -l <<<"$before")" 4
check_eq "8 objects in S3 under the encoded name (boto3)" "$(objects | wc -l)" 8

# --- the accident -----------------------------------------------------------------------------
q postgres "DROP DATABASE \"$WEIRD\" WITH (FORCE)" >/dev/null
q postgres "CREATE DATABASE \"$WEIRD\"" >/dev/null
w "CREATE EXTENSION pgbackups" >/dev/null
if wait_for "$WEIRD" "SELECT count(*) = 4 FROM pgbackups.backups" 60; then
	pass "after CREATE EXTENSION the rescan found the four backups in S3"
else
	fail "the new catalog has $(w "SELECT count(*) FROM pgbackups.backups") backups"
fi
check_eq "ids, kinds, times, sizes, SHA-256, pins and labels are those of before" \
	"$(w "SELECT string_agg($fields, E'\n' ORDER BY id) FROM pgbackups.backups")" "$before"
mark=$(reqlog lines)
check_eq "rescan() on demand reports nothing (all imported)" "$(w "SELECT count(*) FROM pgbackups.rescan()")" 0
pages=$(reqlog count --since "$mark" method=GET query=list-type)
check "its listing took at least three pages of 2 keys ($pages)" test "$pages" -ge 3
check "list() shows b002" grep -q '^b002 ' <<<"$(w "SELECT * FROM pgbackups.list()")"

q postgres "CREATE DATABASE r2" >/dev/null
try_sql "$WEIRD" "SELECT pgbackups.restore('b002', target => 'r2', confirm => 'r2', wait => true)"
check_eq "restore('b002') from S3 after the accident" "$TRY_STATE" OK
compare_dbs "b002 restored equals the database it was taken from" ref r2
check_eq "the next capture continues after the ids in storage" "$(w "SELECT pgbackups.capture(wait => true)")" b005
check_eq "no storage finding" "$(w "SELECT count(*) FROM pgbackups.storage_check() WHERE finding <> 'database'")" 0
check_eq "the summary names the database and counts 10 objects" \
	"$(w "SELECT database || ' ' || objects FROM pgbackups.storage_check() WHERE finding = 'database'")" "$WEIRD 10"

# --- the crash window on S3 -------------------------------------------------------------------------
before_objs=$(digests)
set_conf pgbackups.debug_fault after_archive
id=$(w "SELECT pgbackups.capture()")
if wait_log 'reached fault point "after_archive"' 60; then
	pass "the job worker of $id stopped after its upload"
else
	fail "the job worker never reached after_archive: $(describe_backup "$WEIRD" "$id")"
fi
pid=$(grep -m1 'reached fault point "after_archive"' "$SERVER_LOG" | sed -E 's/.*process ([0-9]+) reached.*/\1/')
loc=$(backup_field "$WEIRD" "$id" location)
key=${loc#"s3://$S3_BUCKET/"}
check "its archive is in S3 (boto3)" s3cli head "$key"
check "... without manifest" test "$(s3cli head "$key.manifest.json" 2>&1)" = missing
kill -9 "$pid"
log "killed job worker $pid of $id"
wait_log "PID $pid) was terminated by signal 9" 30 || fail "the postmaster did not see the kill of $pid"
server_up 60 || die "the server did not come back after kill -9"
psql -X -q -d postgres -c "ALTER SYSTEM RESET pgbackups.debug_fault" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
if wait_for "$WEIRD" "SELECT status = 'failed' FROM pgbackups.backups WHERE id = '$id'" 60; then
	pass "$id is failed after the reconciliation"
else
	fail "$id is not failed 60 s after kill -9: $(describe_backup "$WEIRD" "$id")"
fi
check "list() does not show it completed" grep -q -i failed <<<"$(w "SELECT l FROM pgbackups.list() l WHERE l LIKE '$id %'")"
s3_missing() { [ "$(s3cli head "$1" 2>&1)" = missing ]; }
check "the reconciliation removed its archive, which has no manifest (boto3)" wait_cmd 30 s3_missing "$key"
# an archive without manifest for the checks below: b005's bytes under the key
b5=$(backup_field "$WEIRD" b005 location)
s3cli get "${b5#"s3://$S3_BUCKET/"}" "$TESTDIR/orphan.dump"
s3cli put "$key" "$TESTDIR/orphan.dump"
check_eq "rescan() does not import it" "$(w "SELECT count(*) FROM pgbackups.rescan() WHERE id = '$id'")" 0
check_eq "storage_check() reports the orphan under the database's name" \
	"$(w "SELECT string_agg(finding || '|' || database || '|' || id || '|' || url, ',') FROM pgbackups.storage_check() WHERE finding <> 'database'")" \
	"archive without manifest|$WEIRD|$id|$loc"
check_eq "storage_cleanup(older_than => '0', dry_run => false) deletes it" \
	"$(w "SELECT string_agg(action || ' ' || url, ',') FROM pgbackups.storage_cleanup(older_than => '0', dry_run => false)")" \
	"removed $loc"
check_eq "boto3 no longer finds it" "$(s3cli head "$key" 2>&1)" missing
check_eq "every earlier object is untouched (keys, sizes, SHA-256)" "$(digests)" "$before_objs"

# --- privileges -----------------------------------------------------------------------------------
q postgres "CREATE ROLE op LOGIN IN ROLE pgbackups_admin; CREATE ROLE stranger LOGIN" >/dev/null
expect_sqlstate "rescan() by a role without pgbackups_admin" "$WEIRD" 42501 "SET ROLE stranger; SELECT * FROM pgbackups.rescan()"
for r in op stranger; do
	expect_sqlstate "storage_check() as $r" "$WEIRD" 42501 "SET ROLE $r; SELECT * FROM pgbackups.storage_check()"
	expect_sqlstate "storage_cleanup() as $r" "$WEIRD" 42501 "SET ROLE $r; SELECT * FROM pgbackups.storage_cleanup()"
done
finish
