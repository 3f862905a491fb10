#!/bin/bash
# 88_upgrade: extension upgrades.  Databases upgraded step by step from
# 1.0.0 and from 1.2.0 end with exactly the catalog of a fresh install
# (every column, constraint, index, view, function, trigger and privilege
# of schema pgbackups, the configuration tables and the extension's
# members).  Today a fresh install runs the same scripts; this guards the
# day a full pgbackups--X.sql install script is added.  While its catalog is older
# than the library, the scheduler refuses jobs with a clear error (55000)
# instead of failing; after ALTER EXTENSION UPDATE, captures and schedules
# work.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

start_cluster
q postgres "CREATE DATABASE fresh" >/dev/null
q postgres "CREATE DATABASE old" >/dev/null
q fresh "CREATE EXTENSION pgbackups" >/dev/null

# a 1.2.0 catalog with a backup, made while the catalog is current
q old "CREATE EXTENSION pgbackups VERSION '1.2.0'" >/dev/null
q old "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 100) g" >/dev/null
expect_sqlstate "capture with a 1.2.0 catalog is refused" old 55000 "SELECT pgbackups.capture(wait => true)"
check "the refusal says what to run" grep -q 'run ALTER EXTENSION pgbackups UPDATE' "$SERVER_LOG"
check "the scheduler warned about the old catalog" \
	grep -q "the extension in database \"old\" is version 1.2.0, but the loaded library needs" "$SERVER_LOG"
check_eq "no row was written into the old catalog" "$(q old "SELECT count(*) FROM pgbackups.backups")" 0

LATEST=$(q postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'pgbackups'")
# 1.0.0 -> 1.1.0 -> ... -> 1.7.0 in one database
q postgres "CREATE DATABASE steps" >/dev/null
q steps "CREATE EXTENSION pgbackups VERSION '1.0.0'" >/dev/null
q steps "ALTER EXTENSION pgbackups UPDATE TO '1.1.0'" >/dev/null
q steps "ALTER EXTENSION pgbackups UPDATE TO '1.2.0'" >/dev/null
q steps "ALTER EXTENSION pgbackups UPDATE TO '1.3.0'" >/dev/null
q steps "ALTER EXTENSION pgbackups UPDATE TO '1.4.0'" >/dev/null
q steps "ALTER EXTENSION pgbackups UPDATE TO '1.5.0'" >/dev/null
q steps "ALTER EXTENSION pgbackups UPDATE TO '1.6.0'" >/dev/null
q steps "ALTER EXTENSION pgbackups UPDATE TO '1.7.0'" >/dev/null
check_eq "steps is at the newest version" "$(q steps "SELECT extversion FROM pg_extension WHERE extname = 'pgbackups'")" "$LATEST"
q old "ALTER EXTENSION pgbackups UPDATE" >/dev/null
check_eq "old is at the newest version" "$(q old "SELECT extversion FROM pg_extension WHERE extname = 'pgbackups'")" "$LATEST"

# a populated 1.3.0 catalog (rows as the 1.3.0 workers wrote them): the
# update records each restore's and copy's source so the read rule applies
q postgres "CREATE DATABASE pop" >/dev/null
q pop "CREATE EXTENSION pgbackups VERSION '1.3.0'" >/dev/null
psql_db pop >/dev/null <<'SQL'
INSERT INTO pgbackups.backups (id, num, kind, database, status, requested_by, compression, parallel, sha256)
VALUES ('b001', 1, 'manual', 'fresh', 'completed', 'postgres', 'gzip', 2, repeat('ab', 32));
INSERT INTO pgbackups.restores (id, num, backup, target, requested_by, parallel, status)
VALUES ('r001', 1, 'b001', 'pop', 'postgres', 2, 'completed'),
       ('r002', 2, 'https://example.com/x.dump', 'pop', 'postgres', 2, 'failed'),
       ('r003', 3, 'steps::b007', 'pop', 'postgres', 2, 'failed');
INSERT INTO pgbackups.copies (id, num, source, target, requested_by, parallel, status)
VALUES ('c001', 1, 'fresh', 'pop', 'postgres', 2, 'completed'),
       ('c002', 2, 'postgres://u@h/db', 'pop', 'postgres', 2, 'failed');
SQL
q pop "ALTER EXTENSION pgbackups UPDATE" >/dev/null
check_eq "populated 1.3.0 catalog: restores' source and SHA-256 after the update" \
	"$(q pop "SELECT string_agg(id || ':' || coalesce(source_database, '-') || ':' || coalesce(left(sha256, 4), '-'), ' ' ORDER BY id) FROM pgbackups.restores")" \
	"r001:fresh:abab r002:-:- r003:-:-"
check_eq "populated 1.3.0 catalog: copies' source after the update" \
	"$(q pop "SELECT string_agg(id || ':' || coalesce(source_database, '-'), ' ' ORDER BY id) FROM pgbackups.copies")" \
	"c001:fresh c002:-"
q postgres "CREATE ROLE pop_owner LOGIN IN ROLE pgbackups_admin; ALTER DATABASE pop OWNER TO pop_owner" >/dev/null
check_eq "populated 1.3.0 catalog: pop's owner sees only the jobs whose source it may read" \
	"$(psql -X -At -U pop_owner -d pop -c "SELECT string_agg(id, ' ' ORDER BY id) FROM (SELECT id FROM pgbackups.backups UNION ALL SELECT id FROM pgbackups.restores UNION ALL SELECT id FROM pgbackups.copies) x")" \
	"c002 r002 r003"

# every definition in schema pgbackups, as text (pg_dump skips extension members)
catalog_schema() {
	q "$1" "
	SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
	       || ' ' || coalesce(column_default, '') || ' #' || ordinal_position
	  FROM information_schema.columns WHERE table_schema = 'pgbackups'
	UNION ALL
	SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
	  FROM pg_constraint WHERE connamespace = 'pgbackups'::regnamespace
	UNION ALL
	SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'pgbackups'
	UNION ALL
	SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'pgbackups'
	UNION ALL
	SELECT 'function ' || pg_get_functiondef(p.oid) || ' acl ' || coalesce(p.proacl::text, '')
	  FROM pg_proc p WHERE p.pronamespace = 'pgbackups'::regnamespace
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t
	  JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'pgbackups'::regnamespace
	UNION ALL
	SELECT 'relation ' || relname || ' ' || relkind::text || ' acl ' || coalesce(relacl::text, '')
	       || ' rls ' || relrowsecurity || ' options ' || coalesce(reloptions::text, '')
	  FROM pg_class WHERE relnamespace = 'pgbackups'::regnamespace
	UNION ALL
	SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || coalesce(qual, '')
	  FROM pg_policies WHERE schemaname = 'pgbackups'
	UNION ALL
	SELECT 'config ' || unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'pgbackups'
	ORDER BY 1"
}
members() {
	q "$1" "SELECT pg_describe_object(classid, objid, 0) FROM pg_depend
	         WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	           AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbackups') ORDER BY 1"
}
catalog_schema fresh >"$TESTDIR/fresh.sql"
for db in steps old; do
	catalog_schema $db >"$TESTDIR/$db.sql"
	check "$db: upgraded catalog schema = fresh install" diff "$TESTDIR/fresh.sql" "$TESTDIR/$db.sql"
	check_eq "$db: extension members = fresh install" "$(members $db)" "$(members fresh)"
done
check "the compared definitions are not empty" test "$(wc -l <"$TESTDIR/fresh.sql")" -gt 150

# after the update, the scheduler works on the old database again at once (a
# scheduler that saw the old version looks again before each turn)
id=$(q old "SELECT pgbackups.capture(wait => true)" 2>"$TESTDIR/cap.err") || fail "capture after update: $(cat "$TESTDIR/cap.err")"
check_eq "capture after the update" "$(q old "SELECT status FROM pgbackups.backups WHERE id = '$id'")" completed
check_eq "schedule after the update" "$(q old "SELECT pgbackups.schedule(at => '02:00 UTC')")" old

finish
