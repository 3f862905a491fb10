#!/bin/bash
# 70_settings: a database whose own settings (ALTER DATABASE ... SET) would
# break a naive dump: short statement/lock/idle-in-transaction timeouts, a
# client_encoding other than the database's, DMY dates, sql_standard
# intervals, few float digits, escape bytea, an empty search_path.  pg_dump
# overrides all of these for its session; a capture must too, so that its
# archive restores to exactly the same data.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ROWS=${SETTINGS_ROWS:-500000}
start_cluster
q postgres "CREATE DATABASE cat" >/dev/null
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE tricky" >/dev/null
psql_db tricky -v rows="$ROWS" <<'SQL' >/dev/null
CREATE TABLE vals (
	id integer PRIMARY KEY,
	d date, ts timestamp, tstz timestamptz, iv interval,
	f8 double precision, f4 real, b bytea, t text, n numeric
);
INSERT INTO vals VALUES
	(1, '2024-03-04', '2024-03-04 05:06:07.891', '2024-03-04 05:06:07.891+00', '-1 day +02:03:04',
	 0.1, 0.1, '\x00ff5c', 'é à 日本 🎉', 1.5),
	(2, '2001-02-03', '2001-02-03 00:00:00', '2001-02-03 23:59:59+05:30', '1 year -2 mons +3 days -04:05:06',
	 1.0 / 3, 1.0 / 3, '\x5c2e', 'naïve', -0.000001),
	(3, '1999-12-31', NULL, NULL, '-1 year -2 mons', 2.718281828459045, 3.14159265, '', 'Ωmega', NULL),
	(4, '2000-01-02', '2000-01-02 03:04:05', '2000-01-02 03:04:05-08', '3 days 04:05:06.789', 1e-300, 1e-30, NULL, 'plain', 42);
CREATE TABLE big AS
	SELECT g AS id, md5(g::text) AS h, g * 0.1::float8 AS f, DATE '2000-01-01' + (g % 5000) AS d
	  FROM generate_series(1, :rows) g;
SQL
psql_db postgres <<'SQL' >/dev/null
ALTER DATABASE tricky SET statement_timeout = '200ms';
ALTER DATABASE tricky SET lock_timeout = '200ms';
ALTER DATABASE tricky SET idle_in_transaction_session_timeout = '300ms';
ALTER DATABASE tricky SET client_encoding = 'LATIN1';
ALTER DATABASE tricky SET DateStyle = 'SQL, DMY';
ALTER DATABASE tricky SET IntervalStyle = 'sql_standard';
ALTER DATABASE tricky SET extra_float_digits = -15;
ALTER DATABASE tricky SET bytea_output = 'escape';
ALTER DATABASE tricky SET search_path = '';
ALTER DATABASE tricky SET timezone = 'Pacific/Chatham';
ALTER DATABASE tricky SET default_transaction_isolation = 'serializable';
SQL
log "tricky: $(psql -X -At -d tricky -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE source = 'database'")"

# Clients that compare data use fixed settings (startup options win over the
# database's).
FIXED="-c statement_timeout=0 -c lock_timeout=0 -c idle_in_transaction_session_timeout=0 -c client_encoding=UTF8 -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c search_path=public -c timezone=UTC"
fq() { PGOPTIONS="$FIXED" q "$@"; }
NONTEXT="SELECT string_agg(concat_ws(' ', id, d, ts, tstz, iv, f8, f4, encode(b, 'hex'), n), E'\n' ORDER BY id) FROM vals"
TEXT="SELECT string_agg(id || ' ' || t, E'\n' ORDER BY id) FROM vals"

# Reference: pg_dump copes with every setting but client_encoding (it dumps in
# the client encoding, and LATIN1 cannot hold 日本), so it gets -E UTF8.
REF=$TESTDIR/ref.dump
pg_dump -E UTF8 -Fc -d tricky -f "$REF"
PGOPTIONS="$FIXED" restore_into "reference pg_dump -E UTF8 -Fc" "$REF" ref_restored
PGOPTIONS="$FIXED" compare_dbs "reference pg_dump -E UTF8 -Fc" tricky ref_restored

if id=$(q cat "SELECT pgbackups.capture(database => 'tricky', wait => true, parallel => 2)" 2>"$TESTDIR/capture.err"); then
	pass "capture of tricky completed despite its timeouts: $(describe_backup cat "$id")"
	arch=$(archive_path cat "$id")
	log "archive ENCODING entry: $(pg_restore -f - -s "$arch" | grep -m1 "client_encoding")"
	if PGOPTIONS="$FIXED" restore_into "settings" "$arch" restored; then
		check_eq "dates, intervals, floats, bytea survive DMY/sql_standard/extra_float_digits/escape settings" \
			"$(fq restored "$NONTEXT")" "$(fq tricky "$NONTEXT")"
		check_eq "non-ASCII text survives a database-level client_encoding = LATIN1" \
			"$(fq restored "$TEXT")" "$(fq tricky "$TEXT")"
		PGOPTIONS="$FIXED" compare_dbs "settings" tricky restored
	fi
else
	fail "capture of tricky failed: $(cat "$TESTDIR/capture.err")"
	q cat "SELECT string_agg(message, ' | ') FROM pgbackups.logs((SELECT max(id) FROM pgbackups.backups))" || true
fi
check_eq "no .tmp file left in storage" "$(find "$STORAGE_DIR" -name '*.tmp' | wc -l)" 0
finish
