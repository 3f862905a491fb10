#!/bin/bash
# 91_many_tables: a database with 30,000 tables captures and restores (no
# argument-length failure).
#
# A capture runs the server's own pg_dump for the DDL and excludes the data of
# every table it copies itself.  Up to 16 that is one
# --exclude-table-data="schema"."table" argument per table; on 17+ pgbackups
# writes a --filter file instead.  The tables here have long names (54
# characters, in three schemas of 35), so on 15/16 pg_dump's argument list
# would be about 30,000 x 125 bytes = 3.7 MB, over Linux's limit for argv +
# environ (a quarter of the stack limit: 2 MiB with the usual 8 MiB).  One
# table in 100 has 3 rows; three have names that need quoting (mixed case, a
# double quote, spaces, dots).
#
#   17+: the capture completes; the archive is read by the server's own
#        pg_restore -l (30,000 TABLE and 30,000 TABLE DATA entries) and
#        restored with pgbackups.restore() into a new database: 30,000 tables,
#        the same total rows, the same contents (a digest over every table's
#        rows, and a sample compared table by table).
#   15/16: the documented limit (README: "databases with very many tables
#        (tens of thousands) may exceed the OS argument limit").  When the
#        argument list is over the postmaster's limit (computed from
#        /proc/<postmaster>/limits) the capture may fail, but cleanly: the
#        error raised by capture(wait => true) has SQLSTATE 54000
#        (program_limit_exceeded) and names the cause (argument list too
#        long), the backup row is 'failed' with that SQLSTATE, no archive, no
#        pg_dump left over, the server up.  A capture that completes anyway
#        (under the limit, or pgbackups found another way) is checked like 17+.
#
# Timings of each phase are logged (create, capture with the job's own log
# lines, pg_restore -l, restore with its log, verification).
#
# MANY_TABLES (default 30000) and MANY_LOCKS (max_locks_per_transaction,
# default 1024) may be changed for experiments.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

NT=${MANY_TABLES:-30000}
TRY_TIMEOUT=${TRY_TIMEOUT:-900}
# Locks held at once during a capture: the coordinator's ACCESS SHARE on every
# table (one transaction), pg_dump's own on every table it dumps (another
# transaction), and each COPY stream's on the tables it has copied so far
# (one transaction per stream): about 3 x NT entries in the shared lock
# table, whose size is max_locks_per_transaction x (max_connections +
# worker slots), about 85 to 100 processes here.  With the default 64 even
# the digest below fails ("out of shared memory"); 512 was enough for the
# capture on 18; 1024 leaves a margin.
MLPT=${MANY_LOCKS:-1024}
SCHEMAS=(ledger_entries_archive_region_north ledger_entries_archive_region_south ledger_entries_archive_region_west)
# Table i is t<5 digits>_<SUFFIX> (54 characters).  The number comes first:
# 18 names each NOT NULL constraint <table>_<column>_not_null, cut to 63
# characters from the table name's end, and a name that collides is retried
# with 1, 2, 3, ... appended (ChooseConstraintName), so long names that
# differ only at their end make CREATE TABLE O(tables in the schema):
# 30,000 such tables took 7 minutes to create on 18 instead of 40 s.
SUFFIX=monthly_customer_account_balance_snapshot_history

EXTRA_CONF="max_locks_per_transaction = $MLPT" start_cluster
PM_PID=$(head -n 1 "$PGDATA/postmaster.pid")
# Every server process started from now on (backends, jobs, restore workers,
# pg_dump) gets at most MANY_MEM_BYTES of address space (default 4 GiB; a
# soft limit on the postmaster, inherited at fork, set as its OS user since
# root lacks CAP_SYS_RESOURCE here; runuser's pam_limits would reset one set
# before start_cluster), so a job whose memory grows with
# the square of the table count fails with "out of memory" (53200) instead
# of calling the kernel's OOM killer on this whole machine.
MEM_BYTES=${MANY_MEM_BYTES:-4294967296}
as_postgres prlimit --pid "$PM_PID" --as="$MEM_BYTES:" ||
	log "could not limit the server's address space (prlimit as root): a runaway job may meet the OOM killer"
q postgres "CREATE DATABASE cat" >/dev/null
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE many" >/dev/null
VNUM=$(q postgres "SHOW server_version_num")
log "server $(q postgres "SHOW server_version") ($VNUM), max_locks_per_transaction = $MLPT, $NT tables; server processes: $(grep -E '^Max (address space|stack size)' "/proc/$PM_PID/limits" | tr -s ' ' | tr '\n' ';')"

ms_now() { echo $(($(date +%s%N) / 1000000)); }

# --- 1. create NT tables --------------------------------------------------------------
# Table i (1..NT) is in schema i % 3; every 100th gets 3 rows; every 10000th has
# an odd name (mixed case, a double quote, spaces, dots) that needs quoting in
# pg_dump's patterns.  2000 tables a transaction.
t0=$(ms_now)
psql_db many -v nt="$NT" -v suffix="$SUFFIX" \
	-v s0="${SCHEMAS[0]}" -v s1="${SCHEMAS[1]}" -v s2="${SCHEMAS[2]}" <<'SQL' >/dev/null
SELECT set_config('many.nt', :'nt', false), set_config('many.suffix', :'suffix', false),
       set_config('many.schemas', concat_ws(',', :'s0', :'s1', :'s2'), false);
DO $$
DECLARE
	nt int := current_setting('many.nt')::int;
	sch text[] := string_to_array(current_setting('many.schemas'), ',');
	s text;
	t text;
BEGIN
	FOREACH s IN ARRAY sch LOOP
		EXECUTE format('CREATE SCHEMA %I', s);
	END LOOP;
	COMMIT;
	FOR i IN 1..nt LOOP
		s := sch[i % 3 + 1];
		IF i % 10000 = 0 THEN
			t := format('Odd "Quoted" table. with spaces.and dots %s', i);
		ELSE
			t := 't' || lpad(i::text, 5, '0') || '_' || current_setting('many.suffix');
		END IF;
		EXECUTE format('CREATE TABLE %I.%I (id integer NOT NULL, amount numeric(12,2), note text)', s, t);
		IF i % 100 = 0 THEN
			EXECUTE format('INSERT INTO %I.%I SELECT g, g * 1.25 + %s, %L || g FROM generate_series(1, 3) g',
						   s, t, i, 'row of table ' || i || ' #');
		END IF;
		IF i % 2000 = 0 THEN COMMIT; END IF;
	END LOOP;
END
$$;
SQL
ms_create=$(($(ms_now) - t0))
log "TIMING create: $NT tables in $ms_create ms"

# The tables of the three schemas: count, total rows, and a digest of every
# table's name, row count and rows (one statement; query_to_xml runs the
# per-table query inside the server).
SCHEMA_LIST="'${SCHEMAS[0]}', '${SCHEMAS[1]}', '${SCHEMAS[2]}'"
summary() {
	q "$1" "WITH per AS (
	          SELECT c.oid::regclass::text AS name,
	                 query_to_xml(format('SELECT count(*) AS n, md5(coalesce(string_agg(t::text, E''\\n'' ORDER BY t::text), '''')) AS h FROM ONLY %s t', c.oid::regclass), false, true, '') AS x
	            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	           WHERE c.relkind = 'r' AND n.nspname IN ($SCHEMA_LIST))
	        SELECT count(*) || ' tables, ' || coalesce(sum((xpath('/row/n/text()', x))[1]::text::bigint), 0) || ' rows, digest '
	               || md5(string_agg(name || ' ' || x::text, E'\n' ORDER BY name))
	          FROM per"
}
# one table's contents, for the sample
table_text() {
	q "$1" "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '')) FROM ONLY $2 t"
}

t0=$(ms_now)
SRC_SUMMARY=$(summary many)
ms_sum=$(($(ms_now) - t0))
log "source: $SRC_SUMMARY ($ms_sum ms)"
ROWS_WANT=$(((NT / 100) * 3))
check_eq "source: $NT tables with $ROWS_WANT rows" "${SRC_SUMMARY%%, digest*}" "$NT tables, $ROWS_WANT rows"

# For comparison (where a capture's time goes): the server's own pg_dump of
# the DDL alone, and on 17+ pg_dump as the capture runs it, with a --filter
# file excluding every table's data (pg_dump resolves each pattern with a
# catalog query of its own).
t0=$(ms_now)
pg_dump --format=custom --compress=0 --schema-only -d many -f "$TESTDIR/ref.dump"
ms_ref=$(($(ms_now) - t0))
log "TIMING reference: pg_dump --schema-only -Fc of $NT tables: $ms_ref ms"
ms_ref_filter=-
if [ "$VNUM" -ge 170000 ]; then
	q many "SELECT 'exclude table_data \"' || replace(n.nspname, '\"', '\"\"') || '\".\"' || replace(c.relname, '\"', '\"\"') || '\"'
	          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	         WHERE c.relkind = 'r' AND n.nspname IN ($SCHEMA_LIST)" >"$TESTDIR/ref.filter"
	t0=$(ms_now)
	pg_dump --format=custom --compress=0 --filter="$TESTDIR/ref.filter" -d many -f "$TESTDIR/ref.dump"
	ms_ref_filter=$(($(ms_now) - t0))
	log "TIMING reference: pg_dump -Fc --filter with $(wc -l <"$TESTDIR/ref.filter") 'exclude table_data' lines: $ms_ref_filter ms"
fi
rm -f "$TESTDIR/ref.dump" "$TESTDIR/ref.filter"

# --- 2. capture -----------------------------------------------------------------------
# The argument list pg_dump 15/16 would get (what pgb_pgdump_start builds:
# one --exclude-table-data="nsp"."rel" per table plus "pgbackups".*, each with
# its terminating NUL and its argv pointer) against the postmaster's limit.
ARGV_BYTES=$(q many "SELECT sum(length('--exclude-table-data=' || '\"' || replace(n.nspname, '\"', '\"\"') || '\".\"' || replace(c.relname, '\"', '\"\"') || '\"') + 1 + 8)
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.relkind = 'r' AND n.nspname IN ($SCHEMA_LIST)")
STACK_SOFT=$(awk '/^Max stack size/ { print $4 }' "/proc/$PM_PID/limits")
# fs/exec.c: max(128 KiB, min(3/4 of 8 MiB, stack limit / 4)) for argv + environ
ARG_LIMIT=$((6 * 1024 * 1024))
if [ "$STACK_SOFT" != unlimited ] && [ $((STACK_SOFT / 4)) -lt "$ARG_LIMIT" ]; then
	ARG_LIMIT=$((STACK_SOFT / 4))
fi
[ "$ARG_LIMIT" -ge 131072 ] || ARG_LIMIT=131072
log "pg_dump 15/16 would get $ARGV_BYTES bytes of --exclude-table-data arguments; postmaster stack limit $STACK_SOFT, argv+environ limit $ARG_LIMIT"
if [ "$VNUM" -lt 170000 ] && [ "$ARGV_BYTES" -gt "$ARG_LIMIT" ]; then
	OVER_LIMIT=1
	log "pg_dump $VNUM with one argument per table would be over the limit: the capture may fail (the documented limit of 15/16)"
else
	OVER_LIMIT=0
fi

t0=$(ms_now)
try_sql cat "SELECT pgbackups.capture(database => 'many', wait => true)"
ms_capture=$(($(ms_now) - t0))
ID=$(q cat "SELECT id FROM pgbackups.backups WHERE database = 'many' ORDER BY created_at DESC LIMIT 1")
log "TIMING capture: $ms_capture ms ($TRY_STATE) $(describe_backup cat "$ID")"
log "capture log of $ID:"
q cat "SELECT to_char(logged_at, 'HH24:MI:SS.MS') || '  ' || message FROM pgbackups.logs WHERE job_id = '$ID' ORDER BY logged_at" | sed 's/^/    /'

COMPLETED=0
if [ "$TRY_STATE" = OK ] && [ "$TRY_OUT" = "$ID" ] && [ "$(backup_field cat "$ID" status)" = completed ]; then
	pass "capture of $NT tables completed ($ID, $ms_capture ms)"
	COMPLETED=1
	[ "$OVER_LIMIT" = 0 ] || log "15/16: completed although one argument per table would be over the limit"
elif [ "$OVER_LIMIT" = 0 ]; then
	fail "capture of $NT tables: $TRY_STATE $TRY_MSG ($(describe_backup cat "$ID"))"
	grep -E 'ERROR|FATAL|PANIC|out of shared memory' "$SERVER_LOG" | tail -n 8 | sed 's/^/    /'
else
	# the documented limit of 15/16: the capture fails, cleanly
	log "15/16: capture(wait => true) failed with $TRY_STATE: $TRY_MSG"
	check_eq "15/16: capture(wait => true) over the argument limit fails with SQLSTATE 54000 (program_limit_exceeded)" "$TRY_STATE" 54000
	check_eq "15/16: the backup is recorded failed with that SQLSTATE" \
		"$(backup_field cat "$ID" "status || ' ' || coalesce(error_code, '(none)')")" "failed 54000"
	err=$(backup_field cat "$ID" error)
	log "15/16: the recorded error: $err"
	check "15/16: the error names the cause (the argument list / command line is too long) [$err]" \
		grep -q -i -E 'argument list too long|command line|too many arguments|arguments? (limit|size)' <<<"$err"
	check_eq "15/16: no archive and no temporary file of $ID" "$(job_files cat "$ID")" ""
	# pg_dump's --file= is under this test's directory
	check_eq "15/16: no pg_dump process of this cluster left" \
		"$(pgrep -a -f -- "--file=$TESTDIR/" | grep -c '^[0-9]* [^ ]*pg_dump ' || true)" 0
	check_eq "15/16: the server is up and the source unchanged" "$(summary many)" "$SRC_SUMMARY"
fi

# --- 3. the archive: pg_restore -l and a restore -----------------------------------------
if [ "$COMPLETED" = 1 ]; then
	check_eq "backup row: tables, rows" "$(backup_field cat "$ID" "tables || ' ' || rows")" "$NT $ROWS_WANT"
	ARCH=$(archive_path cat "$ID")
	log "archive $ARCH: $(stat -c %s "$ARCH") bytes"

	t0=$(ms_now)
	if pg_restore -l "$ARCH" >"$TESTDIR/toc.txt" 2>"$TESTDIR/toc.err"; then
		ms_list=$(($(ms_now) - t0))
		pass "the server's own pg_restore -l reads the archive ($(pg_restore --version), $ms_list ms)"
		# "id; catalog oid TABLE schema name owner", "... TABLE DATA schema name owner"
		check_eq "pg_restore -l: TABLE entries" "$(awk '$4 == "TABLE" && $5 != "DATA"' "$TESTDIR/toc.txt" | wc -l)" "$NT"
		check_eq "pg_restore -l: TABLE DATA entries" "$(awk '$4 == "TABLE" && $5 == "DATA"' "$TESTDIR/toc.txt" | wc -l)" "$NT"
		check_eq "pg_restore -l: nothing in schema pgbackups" "$(grep -c ' pgbackups ' "$TESTDIR/toc.txt" || true)" 0
	else
		fail "pg_restore -l of $ARCH: $(head -c 600 "$TESTDIR/toc.err")"
	fi

	q postgres "CREATE DATABASE many_restored" >/dev/null
	t0=$(ms_now)
	try_sql cat "SELECT pgbackups.restore('$ID', target => 'many_restored', confirm => 'many_restored', wait => true)"
	ms_restore=$(($(ms_now) - t0))
	# the restore's id (also when the call failed: the newest restore)
	server_up 60 || true
	RID=$(q cat "SELECT id FROM pgbackups.restores ORDER BY created_at DESC LIMIT 1" 2>/dev/null || true)
	log "TIMING restore: $ms_restore ms ($TRY_STATE) $(describe_job cat "$RID")"
	log "restore log of $RID:"
	q cat "SELECT to_char(logged_at, 'HH24:MI:SS.MS') || '  ' || message FROM pgbackups.logs WHERE job_id = '$RID' ORDER BY logged_at" 2>&1 | sed 's/^/    /'
	if [ "$TRY_STATE" = OK ] && [ "$TRY_OUT" = "$RID" ]; then
		check_eq "restore $RID completed with $NT tables and $ROWS_WANT rows" \
			"$(job_field cat "$RID" "status || ' ' || tables || ' ' || rows")" "completed $NT $ROWS_WANT"
		check_eq "no pgbackups_* staging database left" "$(staging_dbs)" ""
		t0=$(ms_now)
		DST_SUMMARY=$(summary many_restored)
		log "restored: $DST_SUMMARY ($(($(ms_now) - t0)) ms)"
		check_eq "restored: table count and total rows" "${DST_SUMMARY%%, digest*}" "${SRC_SUMMARY%%, digest*}"
		check_eq "restored: digest of every table's name and rows = the source's" "${DST_SUMMARY##*digest }" "${SRC_SUMMARY##*digest }"
		# a sample, table by table: first, last, odd names, with and without rows
		sample=()
		for i in 1 2 99 100 4321 9999 10000 15000 20000 29900 "$((NT - 1))" "$NT"; do
			if [ "$i" -lt 1 ] || [ "$i" -gt "$NT" ]; then continue; fi
			if [ $((i % 10000)) -eq 0 ]; then
				t="Odd \"Quoted\" table. with spaces.and dots $i"
			else
				t=$(printf 't%05d_%s' "$i" "$SUFFIX")
			fi
			sample+=("$(q many "SELECT format('%I.%I', '${SCHEMAS[$((i % 3))]}', '${t//\'/\'\'}')")")
		done
		bad=0
		for t in "${sample[@]}"; do
			a=$(table_text many "$t")
			b=$(table_text many_restored "$t" 2>&1)
			[ "$a" = "$b" ] || {
				bad=$((bad + 1))
				log "sample $t: source [$a], restored [$b]"
			}
		done
		check_eq "restored: ${#sample[@]} sample tables (first, last, odd names, with and without rows) equal the source" "$bad" 0
		[ "$NT" -lt 10000 ] || check_eq "restored: the odd-named table's rows" \
			"$(q many_restored "SELECT string_agg(id || ':' || amount || ':' || note, ' ' ORDER BY id) FROM ${SCHEMAS[$((10000 % 3))]}.\"Odd \"\"Quoted\"\" table. with spaces.and dots 10000\"" 2>&1)" \
			"1:10001.25:row of table 10000 #1 2:10002.50:row of table 10000 #2 3:10003.75:row of table 10000 #3"
	else
		fail "restore of $ID into many_restored: $TRY_STATE $TRY_MSG"
		grep -E 'ERROR|FATAL|PANIC|out of (shared )?memory|terminated by signal' "$SERVER_LOG" | tail -n 8 | sed 's/^/    /'
	fi
else
	# nothing to restore: either 15/16's refusal, checked above, or a capture
	# that should have completed, already counted as a failure
	log "no archive of $NT tables to restore: the capture on server $VNUM did not complete"
fi

log "TIMING summary (ms): create=$ms_create pg_dump-schema-only=$ms_ref pg_dump-filter=$ms_ref_filter capture=$ms_capture pg_restore-l=${ms_list:--} restore=${ms_restore:--}"
finish
