#!/bin/bash
# test/run-pgtap.sh: the pgTAP tests (test/pgtap/*.sql) with pg_prove,
# against a harness cluster with pgbackups preloaded.
#   PGTAP_ONLY="03"   runs only the files whose names start with these prefixes
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_cluster
q postgres "CREATE DATABASE pgtap_db" >/dev/null
q pgtap_db "CREATE EXTENSION pgtap" >/dev/null
q pgtap_db "CREATE EXTENSION pgbackups" >/dev/null
# a second database (without the extension), a target for captures
q postgres "CREATE DATABASE pgtap_other" >/dev/null
# roles for test/pgtap/02_permissions.sql (SET ROLE needs them committed,
# and the job worker must be able to see them)
q postgres "CREATE ROLE pgtap_operator LOGIN IN ROLE pgbackups_admin" >/dev/null
q postgres "CREATE ROLE pgtap_nobody LOGIN" >/dev/null

# ---- test/pgtap/03_security.sql -------------------------------------------------
# pgtap_usage: no pgbackups_admin, but USAGE on schema pgbackups in the
# per-version databases (so that each function's own ACL is what refuses it).
# pgtap_dbowner: an operator that owns a database (pgtap_sec_shadow) and so
# may CREATE in its public schema and ALTER DATABASE ... SET search_path.
q postgres "CREATE ROLE pgtap_usage LOGIN" >/dev/null
q postgres "CREATE ROLE pgtap_dbowner LOGIN IN ROLE pgbackups_admin" >/dev/null
q pgtap_db "CREATE EXTENSION dblink" >/dev/null
# databases owned by the two roles, for ALTER DATABASE ... SET
q postgres "CREATE DATABASE pgtap_sec_nobody_db OWNER pgtap_nobody" >/dev/null
q postgres "CREATE DATABASE pgtap_sec_operator_db OWNER pgtap_operator" >/dev/null
# every available version of the extension, freshly installed (pgtap_sec_v_X),
# and every older version updated to the default one (pgtap_sec_u_X)
default_version=$(q postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'pgbackups'")
for v in $(q postgres "SELECT version FROM pg_available_extension_versions WHERE name = 'pgbackups' ORDER BY version"); do
	for how in v u; do
		[ "$how" = u ] && [ "$v" = "$default_version" ] && continue
		db="pgtap_sec_${how}_${v//./_}"
		q postgres "CREATE DATABASE $db" >/dev/null
		q "$db" "CREATE EXTENSION pgbackups VERSION '$v'" >/dev/null
		[ "$how" = u ] && q "$db" "ALTER EXTENSION pgbackups UPDATE" >/dev/null
		q "$db" "GRANT USAGE ON SCHEMA pgbackups TO pgtap_usage" >/dev/null
	done
done
# the database of the shadowing test: its owner's search_path puts public
# first for every new session, including pgbackups' background workers
q postgres "CREATE DATABASE pgtap_sec_shadow OWNER pgtap_dbowner" >/dev/null
q postgres "ALTER DATABASE pgtap_sec_shadow SET search_path = public, pg_catalog" >/dev/null
q pgtap_sec_shadow "CREATE EXTENSION pgbackups" >/dev/null
# every pgbackups.* setting the C sources define: name, context, flags (the
# hidden ones are not in pg_settings, even for a superuser)
q pgtap_db "CREATE TABLE pgtap_guc_source (name text PRIMARY KEY, context text NOT NULL,
	superuser_only boolean NOT NULL, no_show_all boolean NOT NULL)" >/dev/null
q pgtap_db "GRANT SELECT ON pgtap_guc_source TO PUBLIC" >/dev/null
perl -0777 -ne 'while (/DefineCustom\w+Variable\(\s*"(pgbackups\.\w+)"(.*?)\);/sg) {
		my ($n, $b) = ($1, $2);
		my ($c) = $b =~ /\b(PGC_[A-Z_]+)\b/;
		printf "%s\t%s\t%s\t%s\n", $n, $c // "?", ($b =~ /GUC_SUPERUSER_ONLY/ ? "t" : "f"),
			($b =~ /GUC_NO_SHOW_ALL/ ? "t" : "f");
	}' "$REPO_DIR"/src/*/*.c |
	psql_db pgtap_db -c "COPY pgtap_guc_source FROM STDIN" >/dev/null

files=()
for f in "$LIB_DIR"/pgtap/*.sql; do
	if [ -n "${PGTAP_ONLY:-}" ]; then
		keep=0
		for p in $PGTAP_ONLY; do
			case $(basename "$f") in "$p"*) keep=1 ;; esac
		done
		[ "$keep" = 1 ] || continue
	fi
	files+=("$f")
done
log "pg_prove ${files[*]}"
if pg_prove -v -d pgtap_db "${files[@]}"; then
	pass "pg_prove test/pgtap"
else
	fail "pg_prove test/pgtap"
fi
finish
