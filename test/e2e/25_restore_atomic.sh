#!/bin/bash
# 25_restore_atomic: a restore that fails, is canceled or is killed leaves the
# target exactly as it was (database properties, pg_dump --schema-only, data
# digests), still accepting connections, with no pgbackups_* staging database
# left and the restore recorded failed/canceled with an error and an error
# code: (a) kill -9 of the restore's worker processes while data loads and
# while post-data runs, (b) cancel() while data loads and right after the
# start, (c) an archive whose 500th TOC entry fails and one whose last entry
# fails, (d) a backup whose recorded per-table row count does not match, (e)
# a swap that fails, (f) kill -9, cancel() and pg_terminate_backend of the
# leader while the swap waits on a lock (the job ends within 2 s).  Then
# a good restore into the same target succeeds, and terminates the sessions
# connected to the target; restoring into the catalog's own database keeps the
# catalog's history.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120} # seconds for one restore call

BIG_ROWS=${BIG_ROWS:-1500000}
CRAFT=$LIB_DIR/tools/craft-archive
CAT="cat"
TGT=victim

start_cluster
q postgres "CREATE DATABASE $CAT" >/dev/null
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
# tables whole: a table restored in parts gets VACUUM (FREEZE) before the
# swap, and VACUUM updates pg_database.datfrozenxid, so the SHARE lock on
# pg_database of (f) would catch the job there instead of in its swap
# (11_split_tables covers restores in parts)
set_conf pgbackups.split_table_size 0
WORK=$TESTDIR/work
mkdir -p "$WORK"
[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$WORK"

# --- the target: known content, database-level properties ---------------------
q postgres "CREATE DATABASE victim_tpl" >/dev/null
psql_db victim_tpl >/dev/null <<'SQL'
CREATE SCHEMA keep;
CREATE TABLE keep.t (id serial PRIMARY KEY, v text NOT NULL, at timestamptz DEFAULT '2024-01-01');
INSERT INTO keep.t (v) SELECT 'before ' || g FROM generate_series(1, 3000) g;
CREATE INDEX t_v ON keep.t (v);
CREATE VIEW keep.v AS SELECT count(*) AS n FROM keep.t;
CREATE MATERIALIZED VIEW keep.mv AS SELECT v FROM keep.t WHERE id < 10;
CREATE TABLE public.big (id bigint, note text);
INSERT INTO public.big SELECT g, 'victim row ' || g FROM generate_series(1, 500) g;
SELECT lo_from_bytea(90001, 'victim large object');
SQL
# make_victim: (re)create the target from its template, with database-level
# properties; after a case that went wrong, the next starts from the same state
make_victim() {
	q postgres "DROP DATABASE IF EXISTS $TGT WITH (FORCE)" >/dev/null
	q postgres "CREATE DATABASE $TGT TEMPLATE victim_tpl" >/dev/null
	q postgres "ALTER DATABASE $TGT SET work_mem = '3MB'" >/dev/null
	q postgres "COMMENT ON DATABASE $TGT IS 'the victim'" >/dev/null
	q postgres "ALTER DATABASE $TGT CONNECTION LIMIT 40" >/dev/null
	q postgres "REVOKE CONNECT, TEMP ON DATABASE $TGT FROM PUBLIC; GRANT CONNECT ON DATABASE $TGT TO conn_role" >/dev/null
}
q postgres "CREATE ROLE conn_role NOLOGIN" >/dev/null
make_victim
# a crash restart (the kill -9 below) replays sequence WAL logged ahead:
# checkpoint first, so that sequences keep their values
q postgres "CHECKPOINT" >/dev/null
db_fingerprint $TGT >"$WORK/before.txt"
log "target $TGT: $(wc -l <"$WORK/before.txt") fingerprint lines"

# --- a big source and its backup ----------------------------------------------------
q postgres "CREATE DATABASE bigsrc" >/dev/null
log "bigsrc: $BIG_ROWS rows"
psql_db bigsrc >/dev/null <<SQL
CREATE TABLE public.big (id bigint PRIMARY KEY, a text, b text, c integer);
INSERT INTO public.big SELECT g, md5(g::text), md5((-g)::text) || ' ' || g, g % 1000 FROM generate_series(1, $BIG_ROWS) g;
CREATE INDEX big_c ON public.big (c);
CREATE INDEX big_b ON public.big (b);
CREATE TABLE public.big2 AS SELECT * FROM public.big WHERE id % 3 = 0;
CREATE TABLE public.small AS SELECT g AS id FROM generate_series(1, 100) g;
SQL
log "bigsrc: $(q bigsrc "SELECT pg_size_pretty(pg_database_size('bigsrc'))")"
t0=$SECONDS
B_BIG=$(q $CAT "SELECT pgbackups.capture(database => 'bigsrc', compression => 'lz4', parallel => 2, wait => true)" 2>/dev/null) ||
	die "capture of bigsrc failed"
log "bigsrc backup: $(describe_backup $CAT "$B_BIG") in $((SECONDS - t0)) s"

# after_failure LABEL ID WANT_STATUS [WANT_CODE]: the checks every
# failed/canceled/killed restore must pass; WANT_CODE is the exact error_code
# (57P01 for a worker killed by kill -9: the scheduler marks the job
# "interrupted by server restart"; 57014 for a cancel)
after_failure() {
	local label=$1 id=$2 want=$3 wantcode=${4:-} err code
	if wait_for $CAT "SELECT status IN ('failed', 'canceled', 'completed') FROM pgbackups.restores WHERE id = '$id'" 90; then
		check_eq "$label: $id is $want" "$(job_field $CAT "$id" status)" "$want"
	else
		fail "$label: $id did not end within 90 s: $(describe_job $CAT "$id")"
	fi
	err=$(job_field $CAT "$id" error 2>/dev/null || true)
	code=$(job_field $CAT "$id" error_code 2>/dev/null || true)
	log "$label: error [$err] code [$code]"
	check "$label: an error is recorded" test -n "$err"
	if [ -n "$wantcode" ]; then
		check_eq "$label: error_code" "$code" "$wantcode"
	else
		check "$label: an error code is recorded ($code)" grep -qE '^[0-9A-Z]{5}$' <<<"$code"
	fi
	check_eq "$label: finished_at is set" "$(job_field $CAT "$id" "finished_at IS NOT NULL")" t
	if wait_for postgres "SELECT count(*) = 0 FROM pg_database WHERE datname LIKE 'pgbackups\_%'" 45; then
		pass "$label: no pgbackups_* staging database left"
	else
		fail "$label: staging databases left: $(staging_dbs | tr '\n' ' ')"
		# so that later cases are judged on their own
		for d in $(staging_dbs); do q postgres "DROP DATABASE \"$d\" WITH (FORCE)" >/dev/null; done
	fi
	check_eq "$label: $TGT accepts connections" "$(q $TGT "SELECT 'yes'" 2>&1)" yes
	db_fingerprint $TGT >"$WORK/after.txt" 2>&1
	if diff -u "$WORK/before.txt" "$WORK/after.txt" >"$WORK/after.diff"; then
		pass "$label: $TGT is exactly as it was"
	else
		fail "$label: $TGT changed: $(head -n 20 "$WORK/after.diff")"
		make_victim
	fi
	check_eq "$label: no session of the restore is left in any database" \
		"$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE (datname LIKE 'pgbackups\_%' OR backend_type LIKE 'pgbackups%' AND backend_type NOT IN ('pgbackups launcher', 'pgbackups scheduler'))")" 0
}

# wait_postdata ID TIMEOUT: until a session in the staging database builds an
# index (pg_stat_progress_create_index)
wait_postdata() {
	local id=$1 timeout=$2
	wait_for_ms postgres "SELECT count(*) > 0 FROM pg_stat_progress_create_index WHERE $(staging_match "$id")" $((timeout * 1000))
}

start_big_restore() {
	q $CAT "SELECT pgbackups.restore('$B_BIG', target => '$TGT', confirm => '$TGT', parallel => 2)"
}

# === (a) kill -9 of the restore's worker processes ==========================================
for phase in data postdata; do
	label="(a) kill -9 during $phase"
	rid=$(start_big_restore) || {
		fail "$label: restore() failed"
		continue
	}
	log "$label: $rid started"
	if [ $phase = data ]; then
		wait_loading $CAT "$rid" 12 120 || {
			fail "$label: $rid never loaded 12 MB into a staging database ($(describe_job $CAT "$rid")); raise BIG_ROWS"
			after_failure "$label" "$rid" completed
			continue
		}
	else
		wait_postdata "$rid" 60 || {
			fail "$label: never saw $rid build an index or add a constraint ($(describe_job $CAT "$rid"))"
			q $CAT "SELECT pgbackups.cancel('$rid')" >/dev/null 2>"$WORK/cancel.err" || log "$label: cancel: $(cat "$WORK/cancel.err")"
			after_failure "$label" "$rid" canceled
			continue
		}
	fi
	if [ $phase = data ]; then
		nload=$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE $(staging_match "$rid")")
		check "$label: data loads over parallel sessions ($nload sessions in the staging database, parallel => 2)" test "$nload" -ge 2
	fi
	log "$label: staging $(staging_size "$rid") bytes"
	# shellcheck disable=SC2046 # the worker PID, or nothing
	kill_job_workers "$label" $(job_field $CAT "$rid" worker_pid) || continue
	after_failure "$label" "$rid" failed 57P01
	check "$label: the server log shows the crash restart" grep -q 'terminated by signal 9' "$SERVER_LOG"
done

# === (b) cancel() =======================================================================
label="(b) cancel while data loads"
if rid=$(start_big_restore); then
	if wait_loading $CAT "$rid" 12 120; then
		t0=$(date +%s%N)
		check_eq "$label: cancel('$rid') returns the id" "$(q $CAT "SELECT pgbackups.cancel('$rid')" 2>&1)" "$rid"
		log "$label: cancel returned after $((($(date +%s%N) - t0) / 1000000)) ms"
		after_failure "$label" "$rid" canceled 57014
	else
		fail "$label: $rid never loaded 12 MB ($(describe_job $CAT "$rid"))"
	fi
else
	fail "$label: restore() failed"
fi
label="(b) cancel right after the start"
if rid=$(start_big_restore); then
	check_eq "$label: cancel('$rid')" "$(q $CAT "SELECT pgbackups.cancel('$rid')" 2>&1)" "$rid"
	after_failure "$label" "$rid" canceled 57014
	out=$(psql -X -q -At -v VERBOSITY=verbose -d $CAT -c "SELECT pgbackups.wait('$rid')" 2>&1) && fail "$label: wait('$rid') succeeded: $out"
	check "$label: wait('$rid') raises 57014" grep -q 'ERROR:  57014' <<<"$out"
else
	fail "$label: restore() failed"
fi

# a cancel at a random moment of the first half second: it may reach the job
# while its catalog connection waits for an answer (marking it running,
# reading the backup), which an error used to leave in flight, and the
# canceled outcome was then refused on that connection ("another command is
# already in progress"): the record stayed running until a restart
label="(b) cancels in the first half second"
stuck=""
ncanceled=0
for i in $(seq 1 25); do
	rid=$(q $CAT "SELECT pgbackups.restore('$B_BIG', target => '$TGT', confirm => '$TGT', parallel => 2)") || {
		fail "$label: restore() failed"
		break
	}
	sleep "0.$(printf '%03d' $((RANDOM % 500)))"
	q $CAT "SELECT pgbackups.cancel('$rid')" >/dev/null
	if wait_for $CAT "SELECT status IN ('failed', 'canceled', 'completed') FROM pgbackups.restores WHERE id = '$rid'" 60; then
		[ "$(job_field $CAT "$rid" status)" != canceled ] || ncanceled=$((ncanceled + 1))
	else
		stuck="$stuck $rid"
	fi
done
check_eq "$label: every one of 25 restores ended, $ncanceled of them canceled (none left running)" "$stuck" ""
check "$label: at least one was canceled" test "$ncanceled" -ge 1
check_eq "$label: no pgbackups_* staging database left" "$(staging_dbs)" ""

# === (c) an archive whose 500th entry fails, and one whose last entry fails ===========
q postgres "CREATE DATABASE many" >/dev/null
psql_db many >/dev/null <<'SQL'
SELECT format('CREATE TABLE public.t%s (id integer PRIMARY KEY, v text); INSERT INTO public.t%s VALUES (%s, ''x'');', g, g, g)
  FROM generate_series(1, 300) g
\gexec
SELECT format('CREATE VIEW public.v%s AS SELECT * FROM public.t%s;', g, g) FROM generate_series(1, 300) g
\gexec
SQL
pg_dump -Fc -d many -f "$WORK/many.dump"
"$CRAFT" "$WORK/many.dump" --list >"$WORK/many.list"
log "many.dump: $(tail -n 1 "$WORK/many.list")"
check "(c) the archive has more than 600 entries" test "$(grep -c '^[0-9]*;' "$WORK/many.list")" -gt 600
pos500=$(sed -n '500p' "$WORK/many.list")
log "(c) entry 500: $pos500"
"$CRAFT" "$WORK/many.dump" --defn pos:500 'SELECT 1/0;' -o "$WORK/fail500.dump"
"$CRAFT" "$WORK/many.dump" --defn pos:-1 'SELECT 1/0;' -o "$WORK/faillast.dump"
chmod 644 "$WORK"/*.dump
# the crafted archives are what we think: pg_restore runs the division
for f in fail500 faillast; do
	q postgres "CREATE DATABASE ctl_$f" >/dev/null
	# (the control must fail: pg_restore exits non-zero on the division)
	if pg_restore --no-owner -d "ctl_$f" "$WORK/$f.dump" >"$WORK/$f.ctl" 2>&1; then
		fail "(c) control: pg_restore of $f.dump succeeded"
	fi
	check "(c) control: pg_restore of $f.dump reports the division by zero" grep -q 'division by zero' "$WORK/$f.ctl"
done
check "(c) control: pg_restore of fail500.dump created the entries before the 500th" \
	test "$(q ctl_fail500 "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v')")" -gt 100
for f in fail500 faillast; do
	label="(c) $f"
	try_sql $CAT "SELECT pgbackups.restore_from_url('file://$WORK/$f.dump', target => '$TGT', confirm => '$TGT', wait => true)"
	check_eq "$label: restore_from_url(wait => true) raises the failing entry's error" "$TRY_STATE" 22012
	log "$label: $TRY_MSG"
	rid=$(q $CAT "SELECT max(id) FROM pgbackups.restores" 2>/dev/null || true)
	[ -n "$rid" ] || {
		fail "$label: no restore recorded"
		continue
	}
	after_failure "$label" "$rid" failed 22012
	check "$label: the error names the failure" grep -q 'division by zero' <<<"$(job_field $CAT "$rid" error)"
done

# === (d) a per-table row count that does not match ===========================================
q postgres "CREATE DATABASE counted" >/dev/null
q counted "CREATE TABLE public.c1 AS SELECT g AS id FROM generate_series(1, 40) g; CREATE TABLE public.c2 AS SELECT g AS id FROM generate_series(1, 7) g" >/dev/null
B_COUNTED=$(q $CAT "SELECT pgbackups.capture(database => 'counted', wait => true)" 2>/dev/null)
log "(d) $B_COUNTED table_rows: $(backup_field $CAT "$B_COUNTED" table_rows)"
key=$(q $CAT "SELECT k FROM jsonb_object_keys((SELECT table_rows FROM pgbackups.backups WHERE id = '$B_COUNTED')) k WHERE k LIKE '%c1%'")
check_eq "(d) table_rows records c1's 40 rows" "$(q $CAT "SELECT table_rows->'$key' FROM pgbackups.backups WHERE id = '$B_COUNTED'")" 40
q $CAT "UPDATE pgbackups.backups SET table_rows = jsonb_set(table_rows, ARRAY['$key'], '41') WHERE id = '$B_COUNTED'" >/dev/null
label="(d) row count mismatch"
try_sql $CAT "SELECT pgbackups.restore('$B_COUNTED', target => '$TGT', confirm => '$TGT', wait => true)"
log "$label: restore(wait => true): $TRY_STATE $TRY_MSG"
check_eq "$label: restore(wait => true) raises data_corrupted" "$TRY_STATE" XX001
check "$label: restore(wait => true) fails with an error that mentions the row count" grep -qi 'row count' <<<"$TRY_MSG"
rid=$(q $CAT "SELECT max(id) FROM pgbackups.restores" 2>/dev/null || true)
if [ -n "$rid" ]; then
	after_failure "$label" "$rid" failed XX001
	check "$label: the recorded error mentions the row count" grep -qi 'row count' <<<"$(job_field $CAT "$rid" error)"
else
	fail "$label: no restore recorded"
fi
# the control: the same backup with the right count restores
q $CAT "UPDATE pgbackups.backups SET table_rows = jsonb_set(table_rows, ARRAY['$key'], '40') WHERE id = '$B_COUNTED'" >/dev/null
q postgres "CREATE DATABASE counted_ok" >/dev/null
try_sql $CAT "SELECT pgbackups.restore('$B_COUNTED', target => 'counted_ok', confirm => 'counted_ok', wait => true)"
check_eq "$label: control: with the true count the same backup restores" "$TRY_STATE" OK
[ "$TRY_STATE" = OK ] && compare_dbs "$label: control" counted counted_ok

# === (e) the swap itself fails ================================================================
# The swap renames the target to pgbackups_<catalog oid>_<id>_old (src/restore/dbswap.c)
# in the same transaction that renames the staging database into its place: a
# database already holding that name makes the transaction fail.
label="(e) the swap fails"
catoid=$(q postgres "SELECT oid FROM pg_database WHERE datname = '$CAT'")
next=$(q $CAT "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM pgbackups.restore_num_seq" 2>/dev/null || echo 0)
oldname=$(printf 'pgbackups_%s_r%03d_old' "$catoid" "$next")
q postgres "CREATE DATABASE \"$oldname\"" >/dev/null
try_sql $CAT "SELECT pgbackups.restore('$B_COUNTED', target => '$TGT', confirm => '$TGT', wait => true)"
rid=$(q $CAT "SELECT id FROM pgbackups.restores ORDER BY num DESC LIMIT 1" 2>/dev/null || true)
log "$label: $oldname existed; $rid: $TRY_STATE $TRY_MSG"
if [ "$TRY_STATE" = OK ]; then
	fail "$label: $rid completed although $oldname existed (did the name of the replaced database change?)"
	make_victim
else
	# the rename's own error (42P04 duplicate_database) is not "in use", so the
	# swap gives up at once, with the server's own SQLSTATE (src/restore/dbswap.c;
	# it was XX000 before remote errors kept their code)
	check_eq "$label: restore(wait => true) raises the swap's error" "$TRY_STATE" 42P04
	check "$label: the error says the swap failed: $TRY_MSG" grep -q 'could not swap the restored database in' <<<"$TRY_MSG"
	check_eq "$label: the job that failed is $rid" "$rid" "$(printf 'r%03d' "$next")"
	# the database we created is not the engine's to drop: the failure check
	# counts it, so drop it first
	q postgres "DROP DATABASE \"$oldname\"" >/dev/null
	after_failure "$label" "$rid" failed 42P04
fi
q postgres "DROP DATABASE IF EXISTS \"$oldname\"" >/dev/null

# === (f) kill -9, cancel and pg_terminate_backend while the swap waits ====================
# A session holding SHARE on pg_database lets everyone read it but blocks
# the renames of the swap: the job is caught inside its swap transaction.
# Every wait of the swap is on the latch (src/restore/dbswap.c): cancel() and
# pg_terminate_backend of the restore's leader end the job within 2 s (the
# bound of issue 12), the swap's transaction canceled and rolled back, while
# the lock is still held; the target is as it was and no staging database is
# left.
for what in kill cancel terminate; do
	label="(f) $what while the swap waits"
	rid=$(start_big_restore) || {
		fail "$label: restore() failed"
		continue
	}
	if ! wait_postdata "$rid" 60; then
		fail "$label: $rid never reached post-data: $(describe_job $CAT "$rid")"
		after_failure "$label" "$rid" completed
		continue
	fi
	holder=""
	bg_psql holder postgres "SET application_name = 'pg_database_holder'; BEGIN; LOCK TABLE pg_catalog.pg_database IN SHARE MODE; SELECT pg_sleep(300); COMMIT;" "$WORK/holder.log"
	wait_for postgres "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'pg_database'::regclass AND mode = 'ShareLock' AND granted" 20 ||
		fail "$label: the lock on pg_database was not taken"
	# (the swap renames databases; autovacuum may wait on pg_database too)
	if wait_for postgres "SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = 'pg_database'::regclass AND NOT l.granted AND a.query ILIKE '%ALTER DATABASE%RENAME%'" 90; then
		log "$label: blocked on pg_database: $(q postgres "SELECT string_agg(a.backend_type || ' [' || left(a.query, 90) || ']', '; ') FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = 'pg_database'::regclass AND NOT l.granted")"
		pass "$label: $rid waits on pg_database ($(job_field $CAT "$rid" status))"
		case $what in
		kill)
			kill_job_workers "$label" || true
			stop_bg "$holder"
			after_failure "$label" "$rid" failed 57P01
			;;
		cancel | terminate)
			leader=$(job_field $CAT "$rid" worker_pid)
			t0=$(date +%s%N)
			if [ $what = cancel ]; then
				q $CAT "SELECT pgbackups.cancel('$rid')" >"$WORK/swapcancel.out" 2>&1 &
				want=canceled
			else
				q postgres "SELECT pg_terminate_backend($leader)" >"$WORK/swapcancel.out" 2>&1 &
				want=failed
			fi
			cpid=$!
			if wait_for_ms $CAT "SELECT status IN ('completed', 'failed', 'canceled') FROM pgbackups.restores WHERE id = '$rid'" 2000; then
				pass "$label: $rid ended $((($(date +%s%N) - t0) / 1000000)) ms after the $what of its leader $leader, the lock still held"
			else
				fail "$label: $rid did not end within 2 s of the $what of its leader $leader: $(describe_job $CAT "$rid")"
			fi
			check_eq "$label: the lock holder still holds pg_database (the swap did not go ahead)" \
				"$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_database_holder'")" 1
			wait "$cpid" || true
			log "$label: $(describe_job $CAT "$rid"); $what said: $(cat "$WORK/swapcancel.out")"
			check_eq "$label: no session still waits to rename a database" \
				"$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE '%ALTER DATABASE%RENAME%' AND state = 'active' AND pid <> pg_backend_pid()")" 0
			q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg_database_holder'" >/dev/null
			stop_bg "$holder"
			if [ $what = cancel ]; then
				after_failure "$label" "$rid" canceled 57014
			else
				after_failure "$label" "$rid" failed
			fi
			;;
		esac
	else
		fail "$label: $rid never waited on pg_database to rename: $(describe_job $CAT "$rid")"
		stop_bg "$holder"
		after_failure "$label" "$rid" completed
	fi
done

# === a good restore into the same target; sessions on the target are terminated =====
label="good restore"
bg_active=""
bg_psql bg_active $TGT "SET application_name = 'holder_active'; SELECT pg_sleep(600)" "$WORK/holder_active.log"
mkfifo "$WORK/idle.fifo"
PGAPPNAME=holder_idle psql -X -q -d $TGT <"$WORK/idle.fifo" >"$WORK/holder_idle.log" 2>&1 &
idle_pid=$!
track_bg "$idle_pid"
exec 7>"$WORK/idle.fifo"
echo "BEGIN; SELECT count(*) FROM keep.t;" >&7
wait_for postgres "SELECT count(*) = 2 FROM pg_stat_activity WHERE datname = '$TGT' AND application_name IN ('holder_active', 'holder_idle')" 20 ||
	fail "$label: the two holder sessions did not connect"
t0=$SECONDS
try_sql $CAT "SELECT pgbackups.restore('$B_BIG', target => '$TGT', confirm => '$TGT', parallel => 2, wait => true)"
if [ "$TRY_STATE" = OK ]; then
	rid=$TRY_OUT
	pass "$label: $rid completed in $((SECONDS - t0)) s although two sessions were connected to $TGT"
	check_eq "$label: status" "$(job_field $CAT "$rid" status)" completed
	compare_dbs "$label" bigsrc $TGT
	check_eq "$label: tables and rows recorded = the backup's" "$(job_field $CAT "$rid" "tables || ' ' || rows")" "$(backup_field $CAT "$B_BIG" "tables || ' ' || rows")"
	check_eq "$label: the sessions connected to $TGT are gone" \
		"$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('holder_active', 'holder_idle')")" 0
	if wait_for_ms postgres "SELECT true" 100 && ! kill -0 "$bg_active" 2>/dev/null; then
		if wait "$bg_active"; then
			fail "$label: the active session's pg_sleep(600) ended normally"
		else
			# pg_terminate_backend: FATAL 57P01, not any other way to fail
			check "$label: the active session was terminated: $(grep -m1 -E 'FATAL|terminat' "$WORK/holder_active.log" || head -n 1 "$WORK/holder_active.log")" \
				grep -q 'FATAL:  terminating connection due to administrator command' "$WORK/holder_active.log"
		fi
	else
		fail "$label: the active session's psql is still running"
	fi
	check_eq "$label: no staging database left" "$(staging_dbs)" ""
	check_eq "$label: $TGT keeps its owner, encoding, locale, connection limit, privileges, settings and comment" \
		"$(db_fingerprint $TGT | head -n 1)" "$(head -n 1 "$WORK/before.txt")"
else
	fail "$label: $TRY_STATE $TRY_MSG"
fi
exec 7>&-
stop_bg "$idle_pid"
stop_bg "$bg_active"

# === restoring into the catalog's own database keeps the history ========================
label="restore into the catalog database"
psql_db $CAT >/dev/null <<'SQL'
CREATE TABLE public.app_data AS SELECT g AS id FROM generate_series(1, 10) g;
SQL
B_SELF=$(q $CAT "SELECT pgbackups.capture(wait => true)" 2>/dev/null)
psql_db $CAT >/dev/null <<'SQL'
INSERT INTO public.app_data SELECT generate_series(11, 15);
CREATE TABLE public.after_capture (x int);
SQL
n_backups=$(q $CAT "SELECT count(*) FROM pgbackups.backups")
n_restores=$(q $CAT "SELECT count(*) FROM pgbackups.restores")
backup_ids=$(q $CAT "SELECT string_agg(id || ':' || status, ' ' ORDER BY id) FROM pgbackups.backups")
restore_ids=$(q $CAT "SELECT string_agg(id || ':' || status, ' ' ORDER BY id) FROM pgbackups.restores")
log "$label: $B_SELF; backups [$backup_ids]; restores [$restore_ids]"
if rid=$(q $CAT "SELECT pgbackups.restore('$B_SELF', confirm => '$CAT')" 2>"$WORK/self.err"); then
	pass "$label: restore('$B_SELF', confirm => '$CAT') returned $rid"
	if wait_for $CAT "SELECT status IN ('completed', 'failed', 'canceled') FROM pgbackups.restores WHERE id = '$rid'" 120; then
		check_eq "$label: $rid is listed completed in the restored catalog" "$(job_field $CAT "$rid" status)" completed
	else
		fail "$label: $rid not finished (or not listed) 120 s later: $(describe_job $CAT "$rid")"
	fi
	check_eq "$label: app_data is as captured" "$(q $CAT "SELECT count(*) FROM public.app_data" 2>&1)" 10
	check_eq "$label: the table created after the capture is gone" "$(q $CAT "SELECT to_regclass('public.after_capture') IS NULL" 2>&1)" t
	check_eq "$label: every earlier backup is still listed with its status" \
		"$(q $CAT "SELECT string_agg(id || ':' || status, ' ' ORDER BY id) FROM pgbackups.backups" 2>&1)" "$backup_ids"
	check_eq "$label: every earlier restore is still listed, and $rid" \
		"$(q $CAT "SELECT string_agg(id || ':' || status, ' ' ORDER BY id) FROM pgbackups.restores WHERE id <> '$rid'" 2>&1)" "$restore_ids"
	check "$label: the logs of earlier jobs are kept" test "$(q $CAT "SELECT count(*) FROM pgbackups.logs WHERE job_id = '$B_BIG'" 2>&1)" -gt 0
	check_eq "$label: the extension is there once" "$(q $CAT "SELECT count(*) FROM pg_extension WHERE extname = 'pgbackups'" 2>&1)" 1
	# the replaced database is dropped after the swap, by the job or (when the
	# swap had to be retried) by the catalog's scheduler: wait for that event
	if wait_for postgres "SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname LIKE 'pgbackups\_%')" 60; then
		pass "$label: no staging database left"
	else
		fail "$label: staging databases left 60 s later: $(staging_dbs | tr '\n' ' ')"
	fi
	# the catalog goes on: a new capture gets the next id
	maxnum=$(q $CAT "SELECT max(num) FROM pgbackups.backups WHERE kind = 'manual'")
	if nb=$(q $CAT "SELECT pgbackups.capture(wait => true)" 2>"$WORK/next.err"); then
		# (sequences may jump after the crash restarts above, never back)
		check "$label: the next capture gets a new id ($nb after b$maxnum: ids never reused)" test "$((10#${nb#b}))" -gt "$((10#$maxnum))"
	else
		fail "$label: capture after the restore failed: $(cat "$WORK/next.err")"
	fi
	check_eq "$label: $n_backups + 1 backups listed" "$(q $CAT "SELECT count(*) FROM pgbackups.backups")" $((n_backups + 1))
	check_eq "$label: $n_restores + 1 restores listed" "$(q $CAT "SELECT count(*) FROM pgbackups.restores")" $((n_restores + 1))
else
	fail "$label: restore() failed: $(cat "$WORK/self.err")"
fi

finish
