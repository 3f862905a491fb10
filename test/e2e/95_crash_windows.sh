#!/bin/bash
# 95_crash_windows: every crash window of a capture, a restore and a copy
# converges (issue 16, item 1).  For each named point of
# pgbackups.debug_fault (guc.c), prefixed with the job's kind so that only
# that job's leader stops: start the job, wait for the server log's
# "reached fault point" line naming the point and the job, then kill -9 that
# process (a crash restart), or for a few points shut the server down with
# -m immediate and start it again.  After the restart and the scheduler's
# start-up reconciliation (and the maintenance worker's rescan):
#   - the record tells the truth: a capture interrupted before its manifest
#     is failed and nothing of it is left in storage; one whose manifest was
#     written is completed; a restore or copy whose swap committed is
#     completed and the target holds the source's schema and data;
#     otherwise it is failed and the target is unchanged (database
#     properties, schema, data);
#   - the earlier backups' files are untouched (same SHA-256), the files in
#     storage are exactly the archives and manifests of the completed
#     backups (no orphan, no temporary file), the directory of temporary
#     files beside the data directory is empty, and no pgbackups_* staging
#     or replaced database survives;
#   - the next job of the same kind succeeds.
# Retention (rows deleted, files not yet): after the restart the rescan
# imports the expired backup again from its manifest (nothing is orphaned),
# and the next capture's retention expires it for good.
# Points can be chosen: CAPTURE_POINTS, RESTORE_POINTS, COPY_POINTS
# ("name" or "name:immediate").
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-180}

CAPTURE_POINTS=${CAPTURE_POINTS:-"after_snapshot pgdump_running streams:immediate pgdump_done assembly uploading before_commit after_commit after_archive after_manifest:immediate after_record retention"}
RESTORE_POINTS=${RESTORE_POINTS:-"after_scan staging pre_data data:immediate post_data analyzed verified before_swap swap_committed after_swap:immediate after_record"}
COPY_POINTS=${COPY_POINTS:-"after_snapshot pgdump_running streams assembly before_commit:immediate captured after_scan pre_data data before_swap swap_committed:immediate after_swap after_record"}

# The captures run with synchronous_commit = on, as a production server
# commits.  The restores and copies run with synchronous_commit = off and a
# WAL writer that flushes every 10 s (set before them): their swap, catalog
# records and outcome commit synchronously whatever the setting, so an
# immediate shutdown right after the swap must not undo it.
EXTRA_CONF="synchronous_commit = on"
start_cluster
SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")
CATDIR=$STORAGE_DIR/$SYSID/cat
TMPFILES=$PGDATA/pgbackups_tmp

for db in cat src tgt ctgt; do q postgres "CREATE DATABASE $db" >/dev/null; done
q cat "CREATE EXTENSION pgbackups" >/dev/null
psql_db src >/dev/null <<'SQL'
CREATE TABLE a (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO a SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a, w numeric);
INSERT INTO b SELECT g, 1 + g % 20000, g / 7.0 FROM generate_series(1, 20000) g;
CREATE TABLE c (k text PRIMARY KEY);
INSERT INTO c SELECT 'k' || g FROM generate_series(1, 500) g;
CREATE INDEX ON b (a_id);
CREATE VIEW ab AS SELECT a.id, a.v, b.w FROM a JOIN b ON b.a_id = a.id;
-- most of the data, split in parts (below): with wal_level minimal a restore
-- or copy loads them without WAL and syncs the table before the swap
-- (restore_nowal.c), which the immediate shutdown after the swap tests
CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO big SELECT g, md5(g::text) || md5((-g)::text) FROM generate_series(1, 100000) g;
SQL
set_conf pgbackups.split_table_size 64
for db in tgt ctgt; do
	psql_db "$db" >/dev/null <<SQL
CREATE TABLE keep (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO keep SELECT g, 'before ' || g FROM generate_series(1, 1000) g;
COMMENT ON DATABASE $db IS 'the target $db';
SQL
done
SRC_SCHEMA=$(schema_text src | md5sum)
SRC_DATA=$(data_digest src)

# wait_log PATTERN SECS: until the server log has a line matching PATTERN (grep -F)
wait_log() {
	local deadline=$((SECONDS + $2))
	until grep -qF -- "$1" "$SERVER_LOG"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}
# storage_files: the files under the catalog's storage directory, one a line
storage_files() { [ -d "$CATDIR" ] && (cd "$CATDIR" && find . -type f | sed 's|^\./||' | sort) || true; }
# catalog_files: the files the completed backups of cat should have
catalog_files() {
	q cat "SELECT f FROM pgbackups.backups b,
	              LATERAL (VALUES (regexp_replace(b.location, '^.*/', '')),
	                              (regexp_replace(b.location, '^.*/', '') || '.manifest.json')) v(f)
	        WHERE b.status = 'completed' ORDER BY 1"
}
storage_matches_catalog() { [ "$(storage_files)" = "$(catalog_files)" ]; }
tmp_files() { [ -d "$TMPFILES" ] && find "$TMPFILES" -type f | sort || true; }
no_tmp_files() { [ -z "$(tmp_files)" ]; }
digests() { [ -d "$CATDIR" ] && (cd "$CATDIR" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) || true; }
# unchanged_since FILE: every file listed in FILE (sha256sum output) still has its digest
unchanged_since() { [ ! -s "$1" ] || (cd "$CATDIR" && sha256sum --quiet -c "$1" >/dev/null 2>&1); }
job_status() { q cat "SELECT status FROM $(job_table "$1") WHERE id = '$1'"; }

# crash KIND POINT MODE ID: the job ID stops at KIND.POINT; end it by MODE
# (kill: kill -9 of the stopped process; immediate: pg_ctl stop -m immediate)
# and bring the server back.  Returns non-zero when the point was not reached.
crash() {
	local kind=$1 point=$2 mode=$3 id=$4 line pid
	if ! wait_log "reached fault point \"$kind.$point\" of job $id," 120; then
		fail "$kind.$point: job $id never reached the point: $(describe_job cat "$id")"
		psql -X -q -d postgres -c "ALTER SYSTEM RESET pgbackups.debug_fault" >/dev/null
		q postgres "SELECT pg_reload_conf()" >/dev/null
		return 1
	fi
	line=$(grep -F "reached fault point \"$kind.$point\" of job $id," "$SERVER_LOG" | head -n 1)
	pid=$(sed -E 's/.*process ([0-9]+) reached.*/\1/' <<<"$line")
	pass "$kind.$point: job $id stopped there (process $pid, status $(job_status "$id"))"
	# no later job may stop anywhere
	psql -X -q -d postgres -c "ALTER SYSTEM RESET pgbackups.debug_fault" >/dev/null
	q postgres "SELECT pg_reload_conf()" >/dev/null
	if [ "$mode" = immediate ]; then
		log "$kind.$point: pg_ctl stop -m immediate, then start"
		stop_cluster immediate
		_pg_ctl start
	else
		log "$kind.$point: kill -9 $pid"
		kill -9 "$pid"
		wait_log "PID $pid) was terminated by signal 9" 30 || fail "$kind.$point: the postmaster did not see the kill of $pid"
	fi
	server_up 120 || die "the server did not come back after $kind.$point"
}

# settle ID WANT: wait until job ID is recorded WANT (after the reconciliation)
settle() {
	local id=$1 want=$2 name=$3
	if wait_for cat "SELECT status = '$want' FROM $(job_table "$id") WHERE id = '$id'" 90; then
		pass "$name: $id is recorded $want ($(job_field cat "$id" "coalesce(error, 'no error')"))"
	else
		fail "$name: $id is not $want: $(describe_job cat "$id"); log: $(q cat "SELECT string_agg(message, ' | ' ORDER BY logged_at) FROM pgbackups.logs WHERE job_id = '$id'" 2>&1 | tail -c 600)"
	fi
}

# converged NAME BEFORE_DIGESTS: what must hold after every crash
converged() {
	local name=$1 before=$2
	if wait_cmd 60 storage_matches_catalog; then
		pass "$name: the files in storage are exactly the completed backups' archives and manifests"
	else
		fail "$name: storage and catalog differ: $(diff <(catalog_files) <(storage_files) | tr '\n' ' ')"
	fi
	check "$name: the earlier backups' files are untouched (SHA-256)" unchanged_since "$before"
	if wait_cmd 60 no_tmp_files; then
		pass "$name: no temporary file beside the data directory"
	else
		fail "$name: temporary files left: $(tmp_files | tr '\n' ' ')"
	fi
	if wait_for postgres "SELECT count(*) = 0 FROM pg_database WHERE datname LIKE 'pgbackups\_%'" 90; then
		pass "$name: no staging or replaced database is left"
	else
		fail "$name: databases left: $(staging_dbs | tr '\n' ' ')"
	fi
}

# next_job NAME SQL: the next job of the kind completes
next_job() {
	try_sql cat "$2"
	if [ "$TRY_STATE" = OK ]; then
		check_eq "$1: the next job $TRY_OUT completes" "$(job_status "$TRY_OUT")" completed
	else
		fail "$1: the next job failed: $TRY_STATE $TRY_MSG"
	fi
}

try_sql cat "SELECT pgbackups.capture(database => 'src', wait => true)"
[ "$TRY_STATE" = OK ] || die "the first capture failed: $TRY_STATE $TRY_MSG"
B0=$TRY_OUT
check_eq "the first backup $B0 completed" "$(job_status "$B0")" completed
check "after a clean capture there is no temporary file" no_tmp_files
check "after a clean capture storage matches the catalog" storage_matches_catalog

declare -A OUTCOME
# === capture =============================================================================
for spec in $CAPTURE_POINTS; do
	point=${spec%%:*}
	mode=kill
	[ "$spec" = "$point" ] || mode=${spec#*:}
	name="capture.$point ($mode)"
	before=$TESTDIR/digests.before
	digests >"$before"
	expired=""
	if [ "$point" = retention ]; then
		n=$(q cat "SELECT count(*) FROM pgbackups.backups WHERE status = 'completed' AND kind = 'manual' AND NOT pinned")
		expired=$(q cat "SELECT id FROM pgbackups.backups WHERE status = 'completed' AND kind = 'manual' AND NOT pinned ORDER BY num LIMIT 1")
		set_conf pgbackups.manual_retention "$n"
	fi
	set_conf pgbackups.debug_fault "capture.$point"
	id=$(q cat "SELECT pgbackups.capture(database => 'src')")
	crash capture "$point" "$mode" "$id" || continue
	case $point in
	after_manifest | after_record | retention) want=completed ;;
	*) want=failed ;;
	esac
	settle "$id" "$want" "$name"
	OUTCOME[$id]=$want
	# the reconciliation (before it records the job) logs only a removal that happened
	loc=$(q cat "SELECT coalesce(location, '') FROM pgbackups.backups WHERE id = '$id'")
	removed=$(grep -cF "removed archive \"$loc\" of an interrupted capture" "$SERVER_LOG" || true)
	case $point in
	after_commit | after_archive) check_eq "$name: the removal of $id's archive, which had no manifest, is logged once" "$removed" 1 ;;
	after_manifest | after_record | retention) check_eq "$name: no removal is logged for $id (it is whole)" "$removed" 0 ;;
	*) check_eq "$name: no removal is logged for $id, which stored no archive" "$removed" 0 ;;
	esac
	if [ "$want" = completed ]; then
		check "$name: $id has its archive and manifest" test -f "$CATDIR/$(q cat "SELECT regexp_replace(location, '^.*/', '') FROM pgbackups.backups WHERE id = '$id'").manifest.json"
	else
		check_eq "$name: nothing of $id is left in storage" "$(job_files cat "$id")" ""
	fi
	if [ -n "$expired" ]; then
		if wait_for cat "SELECT status = 'completed' FROM pgbackups.backups WHERE id = '$expired'" 60; then
			pass "$name: the expired backup $expired, whose files were not yet removed, is imported again by the rescan"
		else
			fail "$name: the expired backup $expired is not back: $(describe_backup cat "$expired")"
		fi
	fi
	converged "$name" "$before"
	next_job "$name" "SELECT pgbackups.capture(database => 'src', wait => true)"
	if [ -n "$expired" ]; then
		check_eq "$name: the next capture's retention expires $expired" "$(q cat "SELECT count(*) FROM pgbackups.backups WHERE id = '$expired'")" 0
		check_eq "$name: ... and removes its files" "$(job_files cat "$expired")" ""
		check "$name: storage matches the catalog" storage_matches_catalog
		set_conf pgbackups.manual_retention 100
	fi
done

# === restore =============================================================================
# from here on the server commits asynchronously (see above); the test's own
# writes to a target commit synchronously (SET in the same statement list)
set_conf wal_writer_delay 10000 synchronous_commit off
BR=$(q cat "SELECT id FROM pgbackups.backups WHERE status = 'completed' ORDER BY num DESC LIMIT 1")
log "restores of $BR into tgt (catalog in cat)"
# run_transfer KIND POINTS TARGET SQL NEXT_SQL
run_transfer() {
	local kind=$1 points=$2 target=$3 sql=$4 next_sql=$5 spec point mode name id want fp
	for spec in $points; do
		point=${spec%%:*}
		mode=kill
		[ "$spec" = "$point" ] || mode=${spec#*:}
		name="$kind.$point ($mode)"
		digests >"$TESTDIR/digests.before"
		# the target differs from the source in a way each outcome shows
		q "$target" "SET synchronous_commit = on; CREATE TABLE IF NOT EXISTS crash_marker (p text); INSERT INTO crash_marker VALUES ('$point')" >/dev/null
		fp=$(db_fingerprint "$target")
		set_conf pgbackups.debug_fault "$kind.$point"
		id=$(q cat "$sql")
		crash "$kind" "$point" "$mode" "$id" || continue
		case $point in
		swap_committed | after_swap | after_record) want=completed ;;
		*) want=failed ;;
		esac
		settle "$id" "$want" "$name"
		OUTCOME[$id]=$want
		converged "$name" "$TESTDIR/digests.before"
		if [ "$want" = completed ]; then
			check_eq "$name: $target has the source's schema" "$(schema_text "$target" | md5sum)" "$SRC_SCHEMA"
			check_eq "$name: $target has the source's data" "$(data_digest "$target")" "$SRC_DATA"
			check "$name: big was loaded in parts ($(q cat "SELECT string_agg(message, ' | ') FROM pgbackups.logs('$id') WHERE message ~ '(loaded whole|loaded in parts)'"))" \
				test "$(q cat "SELECT count(*) FROM pgbackups.logs('$id') WHERE message ~ '^vacuum freeze: [0-9]+ tables? loaded in parts'")" = 1
			check_eq "$name: $target kept its properties (comment)" \
				"$(q postgres "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$target'")" "the target $target"
		else
			if [ "$(db_fingerprint "$target")" = "$fp" ]; then
				pass "$name: $target is unchanged (database properties, schema, data)"
			else
				fail "$name: $target changed: $(diff <(printf '%s\n' "$fp") <(db_fingerprint "$target") | head -n 10 | tr '\n' ' ')"
			fi
		fi
		next_job "$name" "$next_sql"
	done
}
run_transfer restore "$RESTORE_POINTS" tgt \
	"SELECT pgbackups.restore('$BR', target => 'tgt', confirm => 'tgt')" \
	"SELECT pgbackups.restore('$BR', target => 'tgt', confirm => 'tgt', wait => true)"

# === copy ================================================================================
run_transfer copy "$COPY_POINTS" ctgt \
	"SELECT pgbackups.copy('src', 'ctgt', confirm => 'ctgt')" \
	"SELECT pgbackups.copy('src', 'ctgt', confirm => 'ctgt', wait => true)"

# === nothing changed its mind later ======================================================
for id in "${!OUTCOME[@]}"; do
	check_eq "in the end $id is still ${OUTCOME[$id]}" "$(job_status "$id")" "${OUTCOME[$id]}"
done
check "in the end storage matches the catalog" storage_matches_catalog
check "in the end no temporary file is left" no_tmp_files
finish
