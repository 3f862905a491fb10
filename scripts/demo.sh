#!/bin/bash
# scripts/demo.sh: a throwaway cluster under /tmp with pgbackups preloaded:
# sample data, CREATE EXTENSION, a capture, the report, pg_restore -l of the
# archive, a restore into a new database with pg_restore, then pgbackups'
# own restore and copy; then the cluster is stopped.
# Run as root (setup.sh installs packages; the server runs as postgres).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin

if [ "${SKIP_SETUP:-0}" != 1 ]; then
	bash "$REPO/scripts/setup.sh"
fi

DEMO=$(mktemp -d /tmp/pgbackups-demo.XXXXXX)
chown postgres:postgres "$DEMO"
chmod 755 "$DEMO"
PORT=$((20000 + RANDOM % 20000))
export PGHOST=$DEMO PGPORT=$PORT PGUSER=postgres
pg() { (cd "$DEMO" && runuser -u postgres -- "$@"); }
run() {
	echo
	echo "\$ $*"
	"$@"
}
sql() {
	echo
	echo "demo=# $1"
	psql -X -v ON_ERROR_STOP=1 -d demo -c "$1"
}

stop() {
	if [ -f "$DEMO/data/postmaster.pid" ]; then
		pg "$PGBIN/pg_ctl" -D "$DEMO/data" -m fast -w stop >/dev/null
		echo "cluster stopped; files are in $DEMO"
	fi
}
trap stop EXIT

pg "$PGBIN/initdb" -D "$DEMO/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$DEMO/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pgbackups'
max_worker_processes = 20
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DEMO'
CONF
pg "$PGBIN/pg_ctl" -D "$DEMO/data" -l "$DEMO/server.log" -w start >/dev/null
echo "demo cluster: $DEMO/data (socket $DEMO, port $PORT)"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE demo"
psql -X -q -v ON_ERROR_STOP=1 -d demo <<'SQL'
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id bigint REFERENCES customers, amount numeric(10, 2));
INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 1000) g;
INSERT INTO orders (customer_id, amount) SELECT 1 + g % 1000, (g % 500) / 3.0 FROM generate_series(1, 50000) g;
SQL

sql "CREATE EXTENSION pgbackups"
sql "SELECT pgbackups.capture(wait => true)"
sql "SELECT * FROM pgbackups.list()"
sql "SELECT * FROM pgbackups.info('b001')"
ARCHIVE=$(psql -X -At -d demo -c "SELECT substr(location, 8) FROM pgbackups.backups WHERE id = 'b001'")
run "$PGBIN/pg_restore" -l "$ARCHIVE"
# the archive is a real pg_dump archive: pg_restore reads it ...
run psql -X -q -d postgres -c "CREATE DATABASE demo_restored"
run "$PGBIN/pg_restore" --no-owner -d demo_restored "$ARCHIVE"
run psql -X -d demo_restored -c "SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM orders) AS orders, (SELECT sum(amount) FROM orders) AS total"
# ... and pgbackups restores it itself (heroku pg:backups:restore): damage the
# demo database, then put b001 back, atomically, in a background worker
sql "DELETE FROM orders WHERE id % 2 = 0"
sql "SELECT count(*) AS orders_after_delete FROM orders"
run psql -X -q -d postgres -c "CREATE DATABASE demo_staging"
sql "SELECT pgbackups.restore('b001', target => 'demo_staging', confirm => 'demo_staging', wait => true)"
run psql -X -d demo_staging -c "SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM orders) AS orders, (SELECT sum(amount) FROM orders) AS total"
sql "SELECT pgbackups.copy('demo_staging', 'demo', confirm => 'demo', wait => true)" || true
# the copy replaced the database this session was connected to, which ends
# the session (as on Heroku); the job goes on: wait until it has completed
for _ in $(seq 1 120); do
	[ "$(psql -X -At -d demo -c "SELECT status FROM pgbackups.copies WHERE id = 'c001'" 2>/dev/null)" = completed ] && break
	sleep 0.5
done
run psql -X -d demo -c "SELECT (SELECT count(*) FROM orders) AS orders_after_copy"
run psql -X -d demo -c "SELECT * FROM pgbackups.list()"
# heroku pg:backups:schedule: a daily backup at 02:00 Los Angeles time, kept
# as a grandfather-father-son set; the health view says whether it is on time
sql "SELECT pgbackups.schedule(at => '02:00 America/Los_Angeles')"
sql "SELECT name, rule, next_run, keep_daily, keep_weekly, keep_monthly FROM pgbackups.schedules"
sql "SELECT * FROM pgbackups.next_runs('30 2 * * *', 'America/Los_Angeles', '2027-03-13', 3)"
sql "SELECT name, status, expected_by FROM pgbackups.health"
