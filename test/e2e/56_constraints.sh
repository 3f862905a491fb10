#!/bin/bash
# 56_constraints: how a restore and a copy build the post-data constraints
# (restore_constraints.c), with the result pg_restore gives.
# Foreign keys: the rows of a pgbackups backup (its SHA-256 checked against
# its record) and of a copy come from one snapshot in which the keys held, so
# the keys valid at the capture are created valid without re-reading their
# rows; an archive from a URL is checked as pg_restore checks it, and so is
# everything with pgbackups.restore_check_foreign_keys = on.  The source has
# valid keys (plain, composite, multi-key ALTER, ON DELETE CASCADE
# DEFERRABLE, on a partitioned table, on a table in another schema), one NOT
# VALID key, and one valid key whose rows a superuser made violate it
# (triggers disabled while inserting: the source says "valid" and is not).
# Primary keys and unique constraints of plain tables are built as CREATE
# UNIQUE INDEX, then attached with ADD CONSTRAINT ... USING INDEX: the
# source has them with INCLUDE, WITH (fillfactor), NULLS NOT DISTINCT,
# DEFERRABLE INITIALLY DEFERRED, on a column without NOT NULL of its own, on
# partitions (attached to the partitioned table's key), and a partitioned
# table's own key (built as written).
# 1. A restore of the backup: every key exists with the source's validity
#    (pg_constraint.convalidated, pg_dump's schema equal), every index and
#    constraint has the source's flags (pg_index, pg_constraint, internal
#    triggers), the job's log names the keys created unchecked and the keys
#    built as an index, the rows equal the source's (the violating row
#    included, as in the source), and the keys work (23503, 23505; the
#    deferred unique key at commit).
# 2. restore_check_foreign_keys = on: the same restore fails with 23503
#    naming the key, before the swap: the target is as it was.
# 3. restore_from_url of the same archive (file://): checked, 23503.
# 4. A source without the violating row: restore_from_url and the checked
#    restore succeed with every key valid; a copy creates them unchecked.
# 5. A unique key whose rows are not unique (its index dropped and
#    duplicates inserted in the source): the restore fails with 23505 naming
#    it, the target as it was.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CAT=catalog
start_cluster
q postgres "CREATE DATABASE $CAT" >/dev/null
q $CAT "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE app" >/dev/null
psql_db app >/dev/null <<'SQL'
CREATE SCHEMA other;
CREATE TABLE accounts (id int PRIMARY KEY, region int NOT NULL, UNIQUE (id, region));
INSERT INTO accounts SELECT g, g % 7 FROM generate_series(1, 2000) g;
CREATE TABLE orders (id int PRIMARY KEY, account_id int, region int, parent int);
INSERT INTO orders SELECT g, 1 + g % 2000, (1 + g % 2000) % 7, NULLIF(g - 1, 0) FROM generate_series(1, 20000) g;
ALTER TABLE orders ADD CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
	ADD CONSTRAINT orders_acct_region_fk FOREIGN KEY (account_id, region) REFERENCES accounts (id, region)
		ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE orders ADD CONSTRAINT orders_parent_fk FOREIGN KEY (parent) REFERENCES orders (id);
CREATE TABLE other.items (id int PRIMARY KEY, order_id int REFERENCES orders (id));
INSERT INTO other.items SELECT g, 1 + g % 20000 FROM generate_series(1, 5000) g;
CREATE TABLE events (id int, account_id int REFERENCES accounts (id), at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events SELECT g, 1 + g % 2000, date '2025-06-01' + g % 400 FROM generate_series(1, 8000) g;
CREATE TABLE notes (id int, account_id int);
INSERT INTO notes SELECT g, g FROM generate_series(1, 100) g;
INSERT INTO notes VALUES (101, 999999);
ALTER TABLE notes ADD CONSTRAINT notes_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;
CREATE TABLE keys_t (a int, b text COLLATE "C", c int, d int, e int,
	CONSTRAINT keys_t_pkey PRIMARY KEY (a) INCLUDE (b) WITH (fillfactor = 70),
	CONSTRAINT keys_t_cd_key UNIQUE NULLS NOT DISTINCT (c, d),
	CONSTRAINT keys_t_b_key UNIQUE (b) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO keys_t SELECT g, 'k' || g, g % 100, g / 100, g FROM generate_series(1, 5000) g;
INSERT INTO keys_t VALUES (5001, 'k5001', NULL, NULL, 1);
ALTER TABLE events ADD PRIMARY KEY (id, at);
CREATE UNIQUE INDEX events_2025_id_at ON events_2025 (id, at);
-- a valid key that does not hold: triggers disabled by a superuser
CREATE TABLE broken (id int, account_id int REFERENCES accounts (id));
INSERT INTO broken SELECT g, g FROM generate_series(1, 50) g;
ALTER TABLE broken DISABLE TRIGGER ALL;
INSERT INTO broken VALUES (51, 888888);
ALTER TABLE broken ENABLE TRIGGER ALL;
SQL

# key name -> convalidated, over every foreign key of a database
fk_state() {
	q "$1" "SELECT string_agg(conrelid::regclass || '.' || conname || '=' || convalidated, ' ' ORDER BY conrelid::regclass::text, conname) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0"
}
rows_of() {
	q "$1" "SELECT (SELECT count(*) FROM accounts) || ' ' || (SELECT count(*) FROM orders) || ' ' || (SELECT count(*) FROM other.items) || ' ' || (SELECT count(*) FROM events) || ' ' || (SELECT count(*) FROM notes) || ' ' || (SELECT count(*) FROM broken)"
}
restore_log() {
	q $CAT "SELECT string_agg(message, E'\n') FROM pgbackups.logs('$1')"
}
# every index and constraint with its flags, and the internal triggers
key_state() {
	q "$1" "SELECT string_agg(x, ' ' ORDER BY x) FROM (
		SELECT i.indrelid::regclass || '.' || i.indexrelid::regclass || ':' || concat_ws(',', i.indisprimary, i.indisunique, i.indimmediate, i.indnullsnotdistinct, i.indisvalid, i.indnkeyatts, i.indnatts, c.reloptions::text, c.relkind) AS x
		  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname IN ('public', 'other')
		UNION ALL
		SELECT conrelid::regclass || '.' || conname || ':' || concat_ws(',', contype, condeferrable, condeferred, convalidated, conindid::regclass, conparentid <> 0)
		  FROM pg_constraint WHERE connamespace IN ('public'::regnamespace, 'other'::regnamespace)
		UNION ALL
		SELECT 'triggers:' || count(*) FROM pg_trigger WHERE tgisinternal) s"
}
SRC_FK=$(fk_state app)
SRC_KEYS=$(key_state app)
log "source keys: $SRC_FK"
check "the source has 7 keys, one NOT VALID" test "$(wc -w <<<"$SRC_FK")" = 7 -a "$(grep -o '=false' <<<"$SRC_FK" | wc -l)" = 1

try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => true)"
B1=$TRY_OUT
check_eq "capture completed" "$TRY_STATE $(backup_field $CAT "$B1" status)" "OK completed"
schema_text app >"$TESTDIR/src.schema"

# --- 1. restore of the backup: keys created unchecked -------------------------
q postgres "CREATE DATABASE r1" >/dev/null
try_sql $CAT "SELECT pgbackups.restore('$B1', target => 'r1', confirm => 'r1', parallel => 2, wait => true)"
check_eq "restore of the backup completes (the broken key is not re-checked)" "$TRY_STATE" OK
R1=$TRY_OUT
check_eq "restore: every key with the source's validity" "$(fk_state r1)" "$SRC_FK"
check_eq "restore: indexes, constraints and internal triggers as the source's" "$(key_state r1)" "$SRC_KEYS"
# plain tables' keys (accounts 2, orders, other.items, keys_t 3, the two
# partitions), not the partitioned table's
check_eq "restore: the log says 9 keys were built as an index, then attached" \
	"$(grep -o 'indexes and constraints: [0-9]* built ([0-9]* keys as an index, then attached)' <<<"$(restore_log "$R1")")" \
	"indexes and constraints: 20 built (9 keys as an index, then attached)"
expect_sqlstate "restore: the primary key works" r1 23505 "INSERT INTO keys_t VALUES (1, 'new', 1000, 1000, 1)"
expect_sqlstate "restore: NULLS NOT DISTINCT works" r1 23505 "INSERT INTO keys_t VALUES (6000, 'new', NULL, NULL, 1)"
expect_sqlstate "restore: the deferred unique key works at commit" r1 23505 \
	"BEGIN; INSERT INTO keys_t VALUES (6001, 'k1', 1000, 1000, 1); COMMIT"
check_eq "restore: the deferred unique key is deferred" \
	"$(q r1 "BEGIN; UPDATE keys_t SET b = 'k' || (a + 1) WHERE a <= 4999; UPDATE keys_t SET b = 'k1' WHERE a = 5000; COMMIT; SELECT count(DISTINCT b) FROM keys_t")" 5001
expect_sqlstate "restore: a partition's primary key works" r1 23505 "INSERT INTO events VALUES (1, 5, date '2025-06-02')"
check_eq "restore: the partitions' keys valid too" \
	"$(q r1 "SELECT count(*) || ' ' || bool_and(convalidated) FROM pg_constraint WHERE contype = 'f' AND conparentid <> 0")" "2 true"
schema_text r1 >"$TESTDIR/r1.schema"
check "restore: pg_dump's schema of the restored database equals the source's" \
	diff -q "$TESTDIR/src.schema" "$TESTDIR/r1.schema"
check_eq "restore: rows equal the source's, the violating row included" "$(rows_of r1)" "$(rows_of app)"
check "restore: the log says 6 keys were created unchecked" \
	grep -q "foreign keys: 6 created valid without re-reading their rows" <<<"$(restore_log "$R1")"
expect_sqlstate "restore: the keys work (a new violating row)" r1 23503 "INSERT INTO orders VALUES (999999, 424242, 1, NULL)"
expect_sqlstate "restore: a partition's key works" r1 23503 "INSERT INTO events VALUES (1, 424242, '2026-02-01')"
expect_sqlstate "restore: the deferred key works at commit" r1 23503 \
	"BEGIN; INSERT INTO orders VALUES (999998, 5, 6, NULL); COMMIT"

# --- 2. restore_check_foreign_keys = on ---------------------------------------
q postgres "CREATE DATABASE r2" >/dev/null
q r2 "CREATE TABLE mine AS SELECT generate_series(1, 10) g" >/dev/null
db_fingerprint r2 >"$TESTDIR/r2.before"
set_conf pgbackups.restore_check_foreign_keys on
try_sql $CAT "SELECT pgbackups.restore('$B1', target => 'r2', confirm => 'r2', parallel => 2, wait => true)"
check_eq "checked restore: fails with 23503" "$TRY_STATE" 23503
check "checked restore: the error names the broken key ($TRY_MSG)" grep -q 'broken_account_id_fkey' <<<"$TRY_MSG"
db_fingerprint r2 >"$TESTDIR/r2.after"
check "checked restore: the target is as it was" cmp -s "$TESTDIR/r2.before" "$TESTDIR/r2.after"
check_eq "checked restore: no staging database left" "$(q postgres "SELECT count(*) FROM pg_database WHERE $(staging_match "$(q $CAT "SELECT max(id) FROM pgbackups.restores")")")" 0
set_conf pgbackups.restore_check_foreign_keys off

# --- 3. restore_from_url: always checked -------------------------------------
ARCH=$(archive_path $CAT "$B1")
q postgres "CREATE DATABASE r3" >/dev/null
db_fingerprint r3 >"$TESTDIR/r3.before"
try_sql $CAT "SELECT pgbackups.restore_from_url('file://$ARCH', target => 'r3', confirm => 'r3', parallel => 2, wait => true)"
check_eq "restore_from_url: the keys are checked, 23503" "$TRY_STATE" 23503
db_fingerprint r3 >"$TESTDIR/r3.after"
check "restore_from_url: the target is as it was" cmp -s "$TESTDIR/r3.before" "$TESTDIR/r3.after"

# --- 4. a source whose keys hold -----------------------------------------------
q app "DELETE FROM broken WHERE id = 51" >/dev/null
try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => true)"
B2=$TRY_OUT
check_eq "second capture completed" "$TRY_STATE $(backup_field $CAT "$B2" status)" "OK completed"
try_sql $CAT "SELECT pgbackups.restore_from_url('file://$(archive_path $CAT "$B2")', target => 'r3', confirm => 'r3', parallel => 2, wait => true)"
check_eq "restore_from_url of a consistent archive: completes" "$TRY_STATE" OK
check_eq "restore_from_url: keys as the source's" "$(fk_state r3)" "$SRC_FK"
check "restore_from_url: the log names no key created unchecked" \
	bash -c "! grep -q 'created valid without' <<<\"\$1\"" _ "$(restore_log "$(q $CAT "SELECT max(id) FROM pgbackups.restores")")"
set_conf pgbackups.restore_check_foreign_keys on
try_sql $CAT "SELECT pgbackups.restore('$B2', target => 'r2', confirm => 'r2', parallel => 2, wait => true)"
check_eq "checked restore of a consistent backup: completes" "$TRY_STATE" OK
check_eq "checked restore: keys as the source's" "$(fk_state r2)" "$SRC_FK"
set_conf pgbackups.restore_check_foreign_keys off
q postgres "CREATE DATABASE c1" >/dev/null
try_sql $CAT "SELECT pgbackups.copy('app', target => 'c1', confirm => 'c1', parallel => 2, wait => true)"
check_eq "copy: completes" "$TRY_STATE" OK
C1=$TRY_OUT
check_eq "copy: keys as the source's" "$(fk_state c1)" "$SRC_FK"
check_eq "copy: rows equal the source's" "$(rows_of c1)" "$(rows_of app)"
check_eq "copy: indexes, constraints and internal triggers as the source's" "$(key_state c1)" "$SRC_KEYS"
check "copy: the log says 6 keys were created unchecked" \
	grep -q "foreign keys: 6 created valid without re-reading their rows" <<<"$(restore_log "$C1")"


# --- 5. a unique key whose rows are not unique ---------------------------------
# the source's index stops checking for a moment (a superuser's catalog edit)
psql_db app >/dev/null <<'SQL'
SET allow_system_table_mods = on;
UPDATE pg_index SET indisunique = false WHERE indexrelid = 'keys_t_cd_key'::regclass;
SQL
q app "INSERT INTO keys_t VALUES (7000, 'k7000', 1, 0, 1), (7001, 'k7001', 1, 0, 1)" >/dev/null
psql_db app >/dev/null <<'SQL'
SET allow_system_table_mods = on;
UPDATE pg_index SET indisunique = true WHERE indexrelid = 'keys_t_cd_key'::regclass;
SQL
try_sql $CAT "SELECT pgbackups.capture(database => 'app', wait => true)"
B3=$TRY_OUT
check_eq "duplicates: capture completed" "$TRY_STATE $(backup_field $CAT "$B3" status)" "OK completed"
q postgres "CREATE DATABASE r5" >/dev/null
q r5 "CREATE TABLE mine AS SELECT generate_series(1, 5) g" >/dev/null
db_fingerprint r5 >"$TESTDIR/r5.before"
try_sql $CAT "SELECT pgbackups.restore('$B3', target => 'r5', confirm => 'r5', parallel => 2, wait => true)"
check_eq "duplicates: the restore fails with 23505" "$TRY_STATE" 23505
check "duplicates: the error names the key ($TRY_MSG)" grep -q 'keys_t_cd_key' <<<"$TRY_MSG"
db_fingerprint r5 >"$TESTDIR/r5.after"
check "duplicates: the target is as it was" cmp -s "$TESTDIR/r5.before" "$TESTDIR/r5.after"
check_eq "duplicates: no staging database left" "$(q postgres "SELECT count(*) FROM pg_database WHERE datname LIKE 'pgbackups\_%'")" 0

finish
