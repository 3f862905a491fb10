#!/bin/bash
# 90_scale: many objects.  5000 tables (each with a row, an index and a
# sequence) and 5000 large objects: the capture must finish in a time
# comparable to pg_dump's, list exactly pg_dump's TOC, and restore in parallel.
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

NT=${SCALE_TABLES:-5000}
NLO=${SCALE_LOS:-5000}
# a capture, like pg_dump, locks every table in one transaction
EXTRA_CONF="max_locks_per_transaction = 512" start_cluster
q postgres "CREATE DATABASE cat" >/dev/null
q cat "CREATE EXTENSION pgbackups" >/dev/null
q postgres "CREATE DATABASE many" >/dev/null
log "creating $NT tables and $NLO large objects"
psql_db many -v nt="$NT" -v nlo="$NLO" <<'SQL' >/dev/null
SELECT set_config('scale.nt', :'nt', false), set_config('scale.nlo', :'nlo', false);
DO $$
BEGIN
	FOR i IN 1..current_setting('scale.nt')::int LOOP
		EXECUTE format('CREATE TABLE t%s (id serial PRIMARY KEY, v text)', i);
		EXECUTE format('INSERT INTO t%s (v) VALUES (%L)', i, 'row of t' || i);
		IF i % 500 = 0 THEN COMMIT; END IF;
	END LOOP;
END
$$;
SELECT count(lo_from_bytea(0, convert_to('large object ' || g, 'UTF8'))) FROM generate_series(1, :nlo) g;
SQL

start=$(date +%s%N)
reference_pg_dump -d many -f "$TESTDIR/ref.dump"
ms_dump=$((($(date +%s%N) - start) / 1000000))
start=$(date +%s%N)
if id=$(q cat "SELECT pgbackups.capture(database => 'many', wait => true)" 2>"$TESTDIR/capture.err"); then
	ms_cap=$((($(date +%s%N) - start) / 1000000))
	log "pg_dump -Fc: $ms_dump ms; capture: $ms_cap ms; $(describe_backup cat "$id")"
	pass "capture of $NT tables and $NLO large objects completed"
	check "capture took at most 5 x pg_dump's time + 10 s ($ms_cap ms vs $ms_dump ms)" [ "$ms_cap" -le $((ms_dump * 5 + 10000)) ]
	arch=$(archive_path cat "$id")
	check_eq "tables column" "$(backup_field cat "$id" tables)" "$NT"
	check_eq "rows column" "$(backup_field cat "$id" rows)" "$NT"
	if diff -u <(pg_restore -l "$TESTDIR/ref.dump" | grep -v '^;' | sed -E 's/^[0-9]+; //' | sort) \
		<(pg_restore -l "$arch" | grep -v '^;' | sed -E 's/^[0-9]+; //' | sort) >"$TESTDIR/toc.diff"; then
		pass "TOC entries (without dump ids) = pg_dump -Fc's ($(pg_restore -l "$arch" | grep -vc '^;') entries)"
	else
		fail "TOC differs from pg_dump -Fc's ($(grep -c '^-[^-]' "$TESTDIR/toc.diff") only in pg_dump's, $(grep -c '^+[^+]' "$TESTDIR/toc.diff") only in the capture): $(grep '^[-+][^-+]' "$TESTDIR/toc.diff" | head -n 6 | tr '\n' ' ')"
	fi
	if restore_into "scale" "$arch" restored -j 2; then
		# (18 restores the source's reltuples, -1 for never analyzed tables:
		# the rows are counted below)
		check_eq "restored tables" \
			"$(q restored "SELECT count(*) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace")" "$NT"
		check_eq "restored: sum of ids over all tables" \
			"$(psql -X -At -d restored -c "SELECT format('SELECT count(*) FROM t%s', i) FROM generate_series(1, $NT) i" | sed 's/$/;/' | psql -X -At -d restored | awk '{ s += $1 } END { print s }')" "$NT"
		check_eq "restored large objects" "$(q restored "SELECT count(*) FROM pg_largeobject_metadata")" "$NLO"
		check_eq "large object contents" \
			"$(q restored "SELECT md5(string_agg(convert_from(lo_get(oid), 'UTF8'), ',' ORDER BY oid)) FROM pg_largeobject_metadata")" \
			"$(q many "SELECT md5(string_agg(convert_from(lo_get(oid), 'UTF8'), ',' ORDER BY oid)) FROM pg_largeobject_metadata")"
	fi
else
	fail "capture failed: $(cat "$TESTDIR/capture.err")"
fi
finish
