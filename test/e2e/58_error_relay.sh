#!/bin/bash
# 58_error_relay: an error raised in a job worker reaches the backend that
# waits for the job whole: the same SQLSTATE, the worker's message (after
# "backup b001 failed: "), its DETAIL and its HINT, each its own line of the
# caller's error (psql VERBOSITY verbose), and equal to what the job's log
# (pgbackups.logs: "... failed: MESSAGE", then "DETAIL: ", "HINT: " lines)
# and its catalog row (error_code) recorded in the worker.  The same from
# capture(wait => true), restore(..., wait => true) and from wait('<id>')
# once the job has ended.  After a restart (no job slots), wait('<id>')
# raises the catalog's error_code and error, and points to the job's log.  Real errors, each asserted to the letter:
#   capture, pgbackups.pg_dump_path names a missing file: 58P01 with a hint;
#   capture, pg_dump exits 3 with a message: 38000 with a detail (and the
#     caller's hint, when the worker gave none, points to the job's log);
#   restore by an operator of an archive that creates an untrusted
#     extension: 42501 with a detail and a hint naming
#     pgbackups.restore_extensions;
#   restore_from_url of an archive crafted to create an extension the
#     server does not have: 42704 with a detail and a hint.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-180}

CRAFT=$LIB_DIR/tools/craft-archive
A=$LIB_DIR/data/archives
CAT=cat

start_cluster
W=$TESTDIR/w
mkdir -p "$W"
psql_db postgres >/dev/null <<SQL
CREATE ROLE op LOGIN;
CREATE DATABASE $CAT;
SQL
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
q postgres "GRANT pgbackups_admin TO op" >/dev/null
for db in src_untrusted tgt_op tgt_url; do
	q postgres "CREATE DATABASE $db OWNER op" >/dev/null
done
q src_untrusted "CREATE EXTENSION postgres_fdw" >/dev/null
q src_untrusted "CREATE TABLE public.t AS SELECT g AS id FROM generate_series(1, 10) g" >/dev/null

# error_part ERRFILE PART: one part of the error psql printed (VERBOSITY
# verbose) in ERRFILE: sqlstate, message, or the text of the DETAIL, HINT
# or CONTEXT line (empty when absent)
error_part() {
	local f=$1 part=$2
	case "$part" in
	sqlstate) sed -n -E 's/^(psql:[^ ]* )?ERROR:  ([0-9A-Z]{5}): .*/\2/p' "$f" | head -n 1 ;;
	message) sed -n -E 's/^(psql:[^ ]* )?ERROR:  [0-9A-Z]{5}: //p' "$f" | head -n 1 ;;
	*) sed -n -E "/ERROR:  /,\$ s/^${part}:  //p" "$f" | head -n 1 ;;
	esac
}
# log_part ID PART: the worker's failure entry in the job's log: message
# (after "... failed: "), or the text of its DETAIL/HINT/CONTEXT line
log_part() {
	local id=$1 part=$2 entry
	entry=$(q $CAT "SELECT message FROM pgbackups.logs WHERE job_id = '$id' AND message ~ '^(backup|restore|copy) failed: ' ORDER BY 1 LIMIT 1")
	case "$part" in
	message) sed -n -E '1s/^(backup|restore|copy) failed: //p' <<<"$entry" ;;
	*) sed -n -E "2,\$ s/^${part}: //p" <<<"$entry" | head -n 1 ;;
	esac
}

# relayed NAME DB SQL IDFUNC WANT_STATE WANT_MSG WANT_DETAIL WANT_HINT:
# SQL (run in DB) waits for a job that fails; IDFUNC prints the job's id.
# The caller's SQLSTATE, message, DETAIL and HINT are exactly the wanted
# ones (WANT_MSG without the "<kind> <id> failed: " prefix; an empty
# WANT_DETAIL means no DETAIL line, an empty WANT_HINT the pointer to the
# job's log) and equal what the worker recorded; wait('<id>') raises the
# same error.
relayed() {
	local name=$1 db=$2 sql=$3 idfunc=$4 state=$5 msg=$6 detail=$7 whint=$8 hint=$8 id kind part
	local err=$W/$name.err
	psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" -c "$sql" >/dev/null 2>"$err" &&
		{
			fail "$name: succeeded"
			return 0
		}
	id=$($idfunc)
	case "$id" in r*) kind=restore ;; c*) kind=copy ;; *) kind=backup ;; esac
	log "$name ($id): $(grep -E '^(psql:[^ ]* )?(ERROR|DETAIL|HINT|CONTEXT):' "$err" | tr '\n' ' ')"
	[ -n "$hint" ] || hint="SELECT * FROM pgbackups.logs('$id') shows the job's log."
	check_eq "$name: SQLSTATE" "$(error_part "$err" sqlstate)" "$state"
	check_eq "$name: message" "$(error_part "$err" message)" "$kind $id failed: $msg"
	check_eq "$name: DETAIL" "$(error_part "$err" DETAIL)" "$detail"
	check_eq "$name: HINT" "$(error_part "$err" HINT)" "$hint"
	# what the worker recorded
	check_eq "$name: the catalog's error_code is the SQLSTATE" "$(job_field $CAT "$id" "status || ' ' || error_code")" "failed $state"
	check_eq "$name: the job's log has the worker's message" "$(log_part "$id" message)" "$msg"
	check_eq "$name: the job's log has the worker's DETAIL" "$(log_part "$id" DETAIL)" "$detail"
	check_eq "$name: the job's log has the worker's HINT" "$(log_part "$id" HINT)" "$whint"
	check_eq "$name: CONTEXT as in the job's log" "$(error_part "$err" CONTEXT)" "$(log_part "$id" CONTEXT)"
	# wait('<id>') of the ended job raises the same error
	psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" -c "SELECT pgbackups.wait('$id')" >/dev/null 2>"$W/$name.wait.err" &&
		fail "$name: wait('$id') succeeded"
	for part in sqlstate message DETAIL HINT CONTEXT; do
		check_eq "$name: wait('$id') raises the same $part" "$(error_part "$W/$name.wait.err" $part)" "$(error_part "$err" $part)"
	done
}
last_backup() { q $CAT "SELECT id FROM pgbackups.backups ORDER BY num DESC LIMIT 1"; }
last_restore() { q $CAT "SELECT id FROM pgbackups.restores ORDER BY num DESC LIMIT 1"; }
set_conf() {
	q postgres "ALTER SYSTEM SET $1 = '$2'" >/dev/null
	q postgres "SELECT pg_reload_conf()" >/dev/null
	wait_for $CAT "SELECT current_setting('$1') = '$2'" 10 || fail "$1 = '$2' did not take effect"
}
reset_conf() {
	q postgres "ALTER SYSTEM RESET $1" >/dev/null
	q postgres "SELECT pg_reload_conf()" >/dev/null
}

# ====== captures =============================================================================
# the backup the restores below use, taken by the operator before pg_dump goes
try_sql "dbname=$CAT user=op" "SELECT pgbackups.capture(database => 'src_untrusted', wait => true)"
check_eq "op captures src_untrusted ($TRY_OUT)" "$TRY_STATE" OK
B_U=$TRY_OUT

set_conf pgbackups.pg_dump_path "$W/no/such/pg_dump"
relayed "capture, missing pg_dump" $CAT "SELECT pgbackups.capture(wait => true)" last_backup \
	58P01 "pg_dump not found at \"$W/no/such/pg_dump\"" "" \
	"Install the PostgreSQL client of the server's major version, or set pgbackups.pg_dump_path."
B_MISSING=$(last_backup)

FAKE=$W/bin/pg_dump
mkdir -p "$W/bin"
printf '#!/bin/sh\necho "pg_dump: error: relay test: the dump broke" >&2\nexit 3\n' >"$FAKE"
chmod 755 "$W" "$W/bin" "$FAKE"
set_conf pgbackups.pg_dump_path "$FAKE"
relayed "capture, pg_dump exits 3" $CAT "SELECT pgbackups.capture(wait => true)" last_backup \
	38000 "pg_dump failed: pg_dump: error: relay test: the dump broke" "pg_dump exited with code 3." ""
reset_conf pgbackups.pg_dump_path

# ====== restores =============================================================================
# an untrusted extension, the restore requested by the operator
relayed "restore, untrusted extension" "dbname=$CAT user=op" \
	"SELECT pgbackups.restore('$B_U', target => 'tgt_op', confirm => 'tgt_op', wait => true)" last_restore \
	42501 "the archive creates extension \"postgres_fdw\", which only a superuser may create" \
	"The owner of database \"tgt_op\", role \"op\", is not a superuser, the extension is not trusted, and this job was requested by role \"op\"; nothing was changed." \
	"A superuser can run the restore, or allow the extension with pgbackups.restore_extensions."

# an archive that creates an extension this server does not have
cp "$A/pg15_seek.dump" "$W/"
if "$CRAFT" "$W/pg15_seek.dump" --insert-before pos:5 EXTENSION pre \
	'CREATE EXTENSION IF NOT EXISTS pgbackups_no_such_ext WITH SCHEMA public;' \
	--field pos:5 tag pgbackups_no_such_ext -o "$W/no_ext.dump" 2>"$W/craft.err"; then
	chmod 644 "$W/no_ext.dump"
	[ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$W"
	relayed "restore_from_url, missing extension" $CAT \
		"SELECT pgbackups.restore_from_url('file://$W/no_ext.dump', target => 'tgt_url', confirm => 'tgt_url', wait => true)" last_restore \
		42704 "extension \"pgbackups_no_such_ext\" is not available on this server" \
		"The archive creates it; nothing was changed." \
		"Install the extension's package on the server, then restore again."
else
	fail "craft-archive: $(cat "$W/craft.err")"
fi

# ====== after a restart: the job slots are gone, wait() reads the catalog ======================
# (its error and error_code; the whole error stays in the job's log)
restart_cluster
server_up || die "the server did not come back"
psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d $CAT -c "SELECT pgbackups.wait('$B_MISSING')" >/dev/null 2>"$W/restart.err" &&
	fail "wait('$B_MISSING') after a restart succeeded"
check_eq "after a restart, wait('$B_MISSING') raises the recorded SQLSTATE" "$(error_part "$W/restart.err" sqlstate)" 58P01
check_eq "after a restart, wait('$B_MISSING') raises the recorded message" "$(error_part "$W/restart.err" message)" \
	"backup $B_MISSING failed: pg_dump not found at \"$W/no/such/pg_dump\""
check_eq "after a restart, wait('$B_MISSING') points to the job's log" "$(error_part "$W/restart.err" HINT)" \
	"SELECT * FROM pgbackups.logs('$B_MISSING') shows the job's log."

finish
