#!/bin/bash
# test/run-pgtap.sh: the pgTAP tests (test/pgtap/*.sql) with pg_prove,
# against a harness cluster with pgbackups preloaded.
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

log "pg_prove $LIB_DIR/pgtap/*.sql"
if pg_prove -v -d pgtap_db "$LIB_DIR"/pgtap/*.sql; then
	pass "pg_prove test/pgtap"
else
	fail "pg_prove test/pgtap"
fi
finish
