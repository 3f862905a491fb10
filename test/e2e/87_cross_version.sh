#!/bin/bash
# 87_cross_version: upgrade with a backup (issue "Upgrade with a backup").
# Two clusters side by side: the "old" one is Debian's PostgreSQL 15, the
# "new" one is the server under test (PGBIN / PG_CONFIG, 17 or later; run by
# scripts/test.sh in the version matrix).  Both preload pgbackups and share
# one s3rver bucket (same prefix; keys start with each cluster's system
# identifier).
#   15 -> new: test/data/rich.sql (plus a table of NULLs, bytea, jsonb and
#   arrays) captured on 15 (capture(wait => true): archive 1.14, gzip, pg_dump
#   15) is restored on the new server with restore_from_url() of the 15
#   cluster's url(): (a) the file:// URL, (b) the presigned S3 URL (the new
#   server also lists the 15 backup with stored_backups(cluster => ...)).
#   Oracle: the same 15 database dumped by the 15 pg_dump -Fc and restored by
#   the new pg_restore into another database; schema (the new pg_dump
#   --schema-only) and data (data_digest: rows and md5 per table, sequences,
#   large objects) of each pgbackups restore equal the oracle's, and the data
#   equals the 15 source's.
#   new -> 15: a simple database captured on the new server (archive 1.16,
#   zstd) is restored into 15 by restore_from_url(url()): pgbackups' own
#   reader reads it there; rows, relations, constraints and the view's
#   output arrive.  The same archive with its version bytes patched to 1.17
#   ("needs a newer reader"), by file:// URL into a 15 database with a marker
#   table: 0A000 (unsupported archive version), the database exactly as it
#   was, no staging database.
# With a server under test older than 17 (the default 15), or without 15
# installed, the script counts one skip and ends.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TRY_TIMEOUT=${TRY_TIMEOUT:-120}
T_START=$SECONDS

OLD_BIN=/usr/lib/postgresql/15/bin
NEW_BIN=$PGBIN
server_major() { "$1/postgres" -V | sed -E 's/^[^)]*\) ([0-9]+).*/\1/'; }
NEW_MAJOR=$(server_major "$NEW_BIN")

if [ ! -x "$OLD_BIN/postgres" ]; then
	skip "cross-version" "run with scripts/test.sh --pg 18 (PostgreSQL 15 is not installed at $OLD_BIN)"
	finish
fi
if [ "$NEW_MAJOR" -lt 17 ]; then
	skip "cross-version" "run with scripts/test.sh --pg 18 (the server under test, $NEW_BIN, is PostgreSQL $NEW_MAJOR: no server newer than 15)"
	finish
fi
for b in "$OLD_BIN" "$NEW_BIN"; do
	if [ ! -f "$("$b/pg_config" --pkglibdir)/pgbackups.so" ]; then
		skip "cross-version" "pgbackups is not installed for $b (scripts/test.sh installs it)"
		finish
	fi
done
require_servers

# timings: lap NAME records the seconds since the previous lap
TIMINGS=()
T_LAP=$SECONDS
lap() {
	TIMINGS+=("$1 $((SECONDS - T_LAP)) s")
	T_LAP=$SECONDS
}

# --- two clusters, one bucket ------------------------------------------------------------
start_s3rver "$S3_BUCKET"
PREFIX=backups/t87
S3CONF=$(s3_conf "$S3_ENDPOINT" "$PREFIX")
URLCONF="pgbackups.url_allowed_hosts = '127.0.0.1'
pgbackups.http_timeout = 20
pgbackups.http_retry_time = 30"

# the old cluster: 15's initdb and pg_ctl (start_cluster uses the global
# PGBIN); file:// storage first, S3 settings ready for the S3 capture.  The
# cleanup trap stops both clusters (pg_ctl -D of each data directory).
PGBIN=$OLD_BIN
EXTRA_CONF="$(grep -v '^pgbackups.storage_url' <<<"$S3CONF")
$URLCONF" start_cluster # EXTRA_CONF not exported: the postmaster must not inherit the secrets
PGBIN=$NEW_BIN
O_HOST=$PGHOST O_PORT=$PGPORT O_DATA=$PGDATA O_DIR=$TESTDIR O_STORAGE=$STORAGE_DIR O_LOG=$SERVER_LOG
# on_old CMD...: a lib.sh command against the old cluster (psql and pg_dump are
# the new server's: newer than 15)
on_old() { PGHOST=$O_HOST PGPORT=$O_PORT PGDATA=$O_DATA TESTDIR=$O_DIR STORAGE_DIR=$O_STORAGE SERVER_LOG=$O_LOG "$@"; }
qo() { on_old q "$@"; }

# the new cluster: the server under test, S3 storage in the same bucket and prefix
EXTRA_CONF="$S3CONF
$URLCONF" start_cluster
N_HOST=$PGHOST N_PORT=$PGPORT
W=$TESTDIR/w
mkdir -p "$W"
log "old cluster: PostgreSQL 15 at $O_HOST:$O_PORT ($O_DATA); new cluster: PostgreSQL $NEW_MAJOR at $N_HOST:$N_PORT ($PGDATA)"
check_eq "old cluster's server_version_num is 15xxxx" "$(qo postgres "SHOW server_version_num" | cut -c1-2)" 15
check_eq "new cluster's server_version_num is ${NEW_MAJOR}xxxx" "$(q postgres "SHOW server_version_num" | cut -c1-2)" "$NEW_MAJOR"
O_SYSID=$(qo postgres "SELECT system_identifier FROM pg_control_system()")
N_SYSID=$(q postgres "SELECT system_identifier FROM pg_control_system()")
check "the two clusters have their own system identifiers ($O_SYSID, $N_SYSID)" test "$O_SYSID" != "$N_SYSID"
lap "start s3rver and both clusters"

# --- 15: the rich database -------------------------------------------------------------------
qo postgres "CREATE DATABASE cat" >/dev/null
qo cat "CREATE EXTENSION pgbackups" >/dev/null
qo postgres "CREATE DATABASE rich" >/dev/null
log "loading test/data/rich.sql into rich on 15"
on_old psql_db rich -v ROWS_BIG="${ROWS_BIG:-20000}" <"$LIB_DIR/data/rich.sql" >/dev/null
on_old psql_db rich >/dev/null <<'SQL'
CREATE TABLE "Schema Two".mixed (
	id		integer PRIMARY KEY,
	b		bytea,
	j		jsonb,
	ia		integer[],
	t		text,
	ts		timestamptz
);
INSERT INTO "Schema Two".mixed
SELECT g,
       CASE WHEN g % 7 = 0 THEN NULL ELSE decode(md5(g::text) || 'ff00', 'hex') END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'a', jsonb_build_array(g, g * 2, NULL), 's', 'é' || g) END,
       CASE WHEN g % 13 = 0 THEN NULL ELSE ARRAY[g, NULL, g + 1] END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE E'line\t' || g END,
       CASE WHEN g % 3 = 0 THEN NULL ELSE timestamptz '2024-02-29 12:00:00+00' + g * interval '1 minute' END
  FROM generate_series(1, 5000) g;
CREATE INDEX mixed_j_gin ON "Schema Two".mixed USING gin (j);
CREATE INDEX mixed_t_partial ON "Schema Two".mixed (t) WHERE t IS NOT NULL;
ANALYZE "Schema Two".mixed;
SQL
log "rich on 15: $(qo rich "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('app', 'audit', 'Schema Two')") relations, $(qo rich "SELECT pg_size_pretty(pg_database_size('rich'))")"
lap "build rich on 15"

# the new cluster: a catalog database, and the role rich.sql grants to (kept ACLs)
q postgres "CREATE DATABASE cat" >/dev/null
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE ROLE rich_reader NOLOGIN" >/dev/null

# the oracle: the 15 pg_dump -Fc, restored by the new pg_restore
"$OLD_BIN/pg_dump" -h "$O_HOST" -p "$O_PORT" -Fc -d rich -f "$W/oracle15.dump"
check_eq "oracle: the archive is written by pg_dump 15 (header version 1.14)" "$(od -An -tu1 -j5 -N3 "$W/oracle15.dump" | tr -s ' ' | sed 's/^ //')" "1 14 0"
restore_into "oracle: pg_dump 15 -Fc of rich, pg_restore $NEW_MAJOR" "$W/oracle15.dump" oracle || die "the oracle could not be restored"
# the source's data as the 15 server reads it
on_old data_digest rich >"$W/rich15.data.txt"
lap "oracle (pg_dump 15, pg_restore $NEW_MAJOR)"

# restored_ok NAME DB: the pgbackups-restored DB equals the oracle (schema and
# data) and its data equals the 15 source's
restored_ok() {
	local name=$1 db=$2
	compare_dbs "$name" oracle "$db"
	data_digest "$db" >"$W/$db.data.txt"
	if diff -u "$W/rich15.data.txt" "$W/$db.data.txt" >"$W/$db.data15.diff"; then
		pass "$name: data of $db on $NEW_MAJOR equals rich on 15 ($(grep -c '|' "$W/rich15.data.txt") relations/sequences/LOs by row count and md5)"
	else
		fail "$name: data of $db on $NEW_MAJOR differs from rich on 15"
		head -n 40 "$W/$db.data15.diff"
	fi
}

# restore_url NAME URL TARGET [more restore_from_url arguments]: on the new
# cluster, restore_from_url into a fresh TARGET, from the catalog database cat
restore_url() {
	local name=$1 url=$2 tgt=$3 more=${4:-}
	q postgres "CREATE DATABASE $tgt" >/dev/null
	try_sql cat "SELECT pgbackups.restore_from_url('$url', target => '$tgt', confirm => '$tgt'$more, wait => true)"
	if [ "$TRY_STATE" = OK ]; then
		pass "$name: restore_from_url into $tgt ($(describe_job cat "$TRY_OUT"))"
		return 0
	fi
	fail "$name: restore_from_url into $tgt: $TRY_STATE $TRY_MSG"
	return 1
}

# --- (a) 15 -> new by file:// --------------------------------------------------------------
on_old try_sql cat "SELECT pgbackups.capture(database => 'rich', wait => true)"
[ "$TRY_STATE" = OK ] || die "capture of rich on 15: $TRY_STATE $TRY_MSG"
B_FILE=$TRY_OUT
log "15: $(on_old describe_backup cat "$B_FILE")"
check_eq "15 capture $B_FILE: status, archive_version, compression" \
	"$(qo cat "SELECT concat_ws(' ', status, archive_version, compression) FROM pgbackups.backups WHERE id = '$B_FILE'")" "completed 1.14 gzip"
check_eq "15 capture $B_FILE: pg_dump and server major versions" \
	"$(qo cat "SELECT split_part(pg_dump_version, '.', 1) || ' ' || split_part(server_version, '.', 1) FROM pgbackups.backups WHERE id = '$B_FILE'")" "15 15"
lap "capture on 15 (file://)"
U_FILE=$(qo cat "SELECT pgbackups.url('$B_FILE')")
check "15 url('$B_FILE') is a file:// URL under the 15 cluster's storage ($U_FILE)" grep -q "^file://$O_STORAGE/$O_SYSID/cat/$B_FILE-" <<<"$U_FILE"
if restore_url "15 -> $NEW_MAJOR by file://" "$U_FILE" from_file ", keep_owner => true, keep_acl => true"; then
	restored_ok "15 -> $NEW_MAJOR by file://" from_file
fi
lap "restore_from_url file:// on $NEW_MAJOR + compare"

# --- (b) 15 -> new by S3 (url() of the 15 cluster: a presigned GET) ---------------------------------
on_old set_conf pgbackups.storage_url "s3://$S3_BUCKET/$PREFIX"
on_old try_sql cat "SELECT pgbackups.capture(database => 'rich', wait => true)"
if [ "$TRY_STATE" = OK ]; then
	B_S3=$TRY_OUT
	log "15: $(on_old describe_backup cat "$B_S3")"
	S3_LOC=$(qo cat "SELECT location FROM pgbackups.backups WHERE id = '$B_S3'")
	check "15 capture $B_S3 went to the shared bucket: s3://$S3_BUCKET/$PREFIX/<15 system id>/cat/$B_S3-... ($S3_LOC)" \
		grep -q "^s3://$S3_BUCKET/$PREFIX/$O_SYSID/cat/$B_S3-" <<<"$S3_LOC"
	check_eq "the new cluster lists the 15 cluster's S3 backup: stored_backups(cluster => 15's system id) id and location" \
		"$(q cat "SELECT id || ' ' || location FROM pgbackups.stored_backups(cluster => '$O_SYSID') WHERE location LIKE 's3:%'")" "$B_S3 $S3_LOC"
	lap "capture on 15 (S3)"
	U_S3=$(qo cat "SELECT pgbackups.url('$B_S3', valid_for => '15 minutes')")
	check "15 url('$B_S3') is a presigned GET at the s3rver endpoint" grep -q "^$S3_ENDPOINT/$S3_BUCKET/${S3_LOC#s3://"$S3_BUCKET"/}?.*X-Amz-Signature=" <<<"$U_S3"
	if restore_url "15 -> $NEW_MAJOR by S3 url()" "$U_S3" from_s3 ", keep_owner => true, keep_acl => true"; then
		restored_ok "15 -> $NEW_MAJOR by S3 url()" from_s3
	fi
	lap "restore_from_url S3 on $NEW_MAJOR + compare"
else
	fail "capture of rich on 15 to S3: $TRY_STATE $TRY_MSG"
fi
on_old set_conf pgbackups.storage_url "file://$O_STORAGE"

# same_on_both NAME SQL: SQL gives the same, non-empty result in simple (new
# cluster) and from_new (15)
same_on_both() {
	local name=$1 sql=$2 got want
	if ! want=$(q simple "$sql" 2>&1) || [ -z "$want" ]; then
		fail "$name: no result on $NEW_MAJOR: $want"
		return 0
	fi
	if ! got=$(qo from_new "$sql" 2>&1); then
		fail "$name: on 15: $got"
		return 0
	fi
	check_eq "$name: on 15 = on $NEW_MAJOR" "$got" "$want"
}

# --- new -> 15: pgbackups' own reader reads archive 1.16 and zstd on 15 ---------------------
q postgres "CREATE DATABASE simple" >/dev/null
psql_db simple >/dev/null <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, note text);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id integer NOT NULL REFERENCES customers (id), amount numeric(10, 2) CHECK (amount >= 0),
	tags text[], meta jsonb);
INSERT INTO customers (name, email, note)
SELECT 'customer ' || g, CASE WHEN g % 9 = 0 THEN NULL ELSE 'c' || g || '@example.com' END,
       CASE WHEN g % 4 = 0 THEN NULL ELSE E'note é\t' || g END
  FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, amount, tags, meta)
SELECT 1 + g % 2000, (g % 1000) / 7.0, CASE WHEN g % 6 = 0 THEN NULL ELSE ARRAY['t' || g % 5, NULL] END,
       CASE WHEN g % 8 = 0 THEN NULL ELSE jsonb_build_object('g', g) END
  FROM generate_series(1, 6000) g;
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE VIEW customer_totals AS
	SELECT c.id, c.name, count(o.id) AS n, coalesce(sum(o.amount), 0) AS total
	  FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name;
ANALYZE;
SQL
try_sql cat "SELECT pgbackups.capture(database => 'simple', wait => true)"
[ "$TRY_STATE" = OK ] || die "capture of simple on $NEW_MAJOR: $TRY_STATE $TRY_MSG"
B_NEW=$TRY_OUT
log "$NEW_MAJOR: $(describe_backup cat "$B_NEW")"
want_av=1.16
[ "$NEW_MAJOR" -le 18 ] || want_av=$(backup_field cat "$B_NEW" archive_version) # a later pg_dump may write a later version
check_eq "$NEW_MAJOR capture $B_NEW: status, archive_version, default compression" \
	"$(backup_field cat "$B_NEW" "concat_ws(' ', status, archive_version, compression)")" "completed $want_av zstd"
check_eq "$NEW_MAJOR capture $B_NEW: pg_dump major version" "$(backup_field cat "$B_NEW" "split_part(pg_dump_version, '.', 1)")" "$NEW_MAJOR"
U_NEW=$(q cat "SELECT pgbackups.url('$B_NEW', valid_for => '15 minutes')")
lap "capture simple on $NEW_MAJOR"

qo postgres "CREATE DATABASE from_new" >/dev/null
on_old try_sql cat "SELECT pgbackups.restore_from_url('$U_NEW', target => 'from_new', confirm => 'from_new', wait => true)"
if [ "$TRY_STATE" = OK ]; then
	pass "$NEW_MAJOR -> 15: restore_from_url of the $NEW_MAJOR S3 url() into from_new on 15 ($(on_old describe_job cat "$TRY_OUT"))"
	data_digest simple >"$W/simple.data.txt"
	on_old data_digest from_new >"$W/from_new.data.txt"
	if diff -u "$W/simple.data.txt" "$W/from_new.data.txt" >"$W/from_new.data.diff"; then
		pass "$NEW_MAJOR -> 15: data of from_new on 15 equals simple on $NEW_MAJOR ($(grep -c '|' "$W/simple.data.txt") tables/sequences by row count and md5)"
	else
		fail "$NEW_MAJOR -> 15: data of from_new on 15 differs from simple on $NEW_MAJOR"
		head -n 20 "$W/from_new.data.diff"
	fi
	same_on_both "$NEW_MAJOR -> 15: relations of public (tables, indexes, sequences, view: name and relkind)" \
		"SELECT string_agg(relname || ':' || relkind::text, ' ' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
	# 18 records NOT NULL constraints in pg_constraint (contype n), 15 does not
	same_on_both "$NEW_MAJOR -> 15: constraints (pk, unique, fk, check: name and definition)" \
		"SELECT string_agg(conrelid::regclass::text || '.' || conname || ' ' || pg_get_constraintdef(oid), '; ' ORDER BY conrelid::regclass::text, conname) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype <> 'n'"
	same_on_both "$NEW_MAJOR -> 15: NOT NULL columns" \
		"SELECT string_agg(attrelid::regclass::text || '.' || attname, ' ' ORDER BY attrelid::regclass::text, attname) FROM pg_attribute WHERE attnotnull AND attnum > 0 AND attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r')"
	same_on_both "$NEW_MAJOR -> 15: column defaults and identity columns" \
		"SELECT string_agg(a.attrelid::regclass::text || '.' || a.attname || ' ' || a.attidentity::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-'), '; ' ORDER BY a.attrelid::regclass::text, a.attname) FROM pg_attribute a LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum) WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r')"
	same_on_both "$NEW_MAJOR -> 15: index definitions" \
		"SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'"
	same_on_both "$NEW_MAJOR -> 15: the view customer_totals gives the same rows (count, md5)" \
		"SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY id)) FROM customer_totals t"
	same_on_both "$NEW_MAJOR -> 15: sequence values" \
		"SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'null'), ' ' ORDER BY sequencename) FROM pg_sequences"
	check_eq "$NEW_MAJOR -> 15: the foreign key works on 15 (an order for customer 999999 is refused)" \
		"$(qo from_new "DO \$\$ BEGIN INSERT INTO orders (customer_id, amount) VALUES (999999, 1); RAISE EXCEPTION 'inserted'; EXCEPTION WHEN foreign_key_violation THEN RAISE NOTICE 'fk'; END \$\$" 2>&1)" "NOTICE:  fk"
else
	fail "$NEW_MAJOR -> 15: restore_from_url of the $NEW_MAJOR S3 url() into from_new on 15: $TRY_STATE $TRY_MSG"
	grep -E 'ERROR|FATAL' "$O_LOG" | tail -n 5 || true
fi
check_eq "$NEW_MAJOR -> 15: no staging database left on 15" "$(on_old staging_dbs)" ""
lap "restore_from_url $NEW_MAJOR -> 15 + compare"

# --- new -> 15: an archive that needs a newer reader (version 1.17) -----------------------------
new_tmpdir FILES
code=$(curl -s -o "$FILES/new.dump" -w '%{http_code}' "$U_NEW")
check_eq "curl downloads the $NEW_MAJOR url('$B_NEW')" "$code" 200
check_eq "... SHA-256 of the download = backups.sha256 of $B_NEW" "$(sha256sum "$FILES/new.dump" | cut -d' ' -f1)" "$(backup_field cat "$B_NEW" sha256)"
cp "$FILES/new.dump" "$FILES/v117.dump"
printf '\x11' | dd of="$FILES/v117.dump" bs=1 seek=6 conv=notrunc status=none
chmod 644 "$FILES"/*
check_eq "patched copy: header bytes 5..7 (major minor rev) were 1 16 0, are 1 17 0" \
	"$(od -An -tu1 -j5 -N3 "$FILES/new.dump" | tr -s ' ' | sed 's/^ //') -> $(od -An -tu1 -j5 -N3 "$FILES/v117.dump" | tr -s ' ' | sed 's/^ //')" "1 16 0 -> 1 17 0"
check_eq "patched copy: only one byte differs from the $NEW_MAJOR archive" "$(cmp -l "$FILES/new.dump" "$FILES/v117.dump" | wc -l)" 1

qo postgres "CREATE DATABASE victim" >/dev/null
qo victim "CREATE TABLE marker AS SELECT g AS id, 'keep me ' || g AS s FROM generate_series(1, 500) g; ALTER TABLE marker ADD PRIMARY KEY (id)" >/dev/null
on_old db_fingerprint victim >"$W/victim.before"
on_old expect_sqlstate "archive 1.17 by file:// into victim on 15: unsupported archive version" cat 0A000 \
	"SELECT pgbackups.restore_from_url('file://$FILES/v117.dump', target => 'victim', confirm => 'victim', wait => true)"
check_eq "... the 15 catalog records the restore's error (code and message)" \
	"$(qo cat "SELECT error_code || ' ' || split_part(error, ':', 1) FROM pgbackups.restores WHERE backup LIKE '%/v117.dump' ORDER BY id DESC LIMIT 1" 2>&1)" \
	"0A000 unsupported archive version 1.17"
check_eq "... the marker table is still in victim with its rows (count, sum)" "$(qo victim "SELECT count(*) || ' ' || sum(id) FROM marker" 2>&1)" "500 125250"
if on_old db_fingerprint victim | diff -u "$W/victim.before" - >"$W/victim.diff"; then
	pass "... victim is as it was (database properties, pg_dump --schema-only, data_digest)"
else
	fail "... victim changed: $(head -n 20 "$W/victim.diff")"
fi
check_eq "... no staging database left on 15" "$(on_old staging_dbs)" ""
lap "archive 1.17 refused on 15"

log "timings: $(printf '%s; ' "${TIMINGS[@]}")total $((SECONDS - T_START)) s"
finish
