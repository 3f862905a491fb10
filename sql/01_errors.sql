--
-- pgbackups: bad input is refused with the right SQLSTATE and leaves the
-- catalog unchanged
--

-- try(sql): run sql, return 'ok' or the SQLSTATE and message it raised
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT count(*) AS backups_before FROM pgbackups.backups;

-- capture: a database that does not exist
SELECT pg_temp.try($$SELECT pgbackups.capture(database => 'no_such_database')$$);
SELECT pg_temp.try($$SELECT pgbackups.capture('no_such_database', true)$$);
SELECT count(*) AS backups FROM pgbackups.backups;

-- capture: unknown compression
SELECT pg_temp.try($$SELECT pgbackups.capture(compression => 'brotli')$$);
SELECT pg_temp.try($$SELECT pgbackups.capture(compression => 'gzip:10')$$);
SELECT pg_temp.try($$SELECT pgbackups.capture(compression => 'zstd:fast')$$);
SELECT count(*) AS backups FROM pgbackups.backups;

-- capture: parallel outside 1..64
SELECT pg_temp.try($$SELECT pgbackups.capture(parallel => 0)$$);
SELECT pg_temp.try($$SELECT pgbackups.capture(parallel => -1)$$);
SELECT pg_temp.try($$SELECT pgbackups.capture(parallel => 65)$$);
SELECT pg_temp.try($$SELECT pgbackups.capture(parallel => 1000)$$);
SELECT count(*) AS backups FROM pgbackups.backups;

-- unknown and malformed ids
SELECT pg_temp.try($$SELECT pgbackups.info('b999')$$);
SELECT pg_temp.try($$SELECT pgbackups.info('nonsense')$$);
SELECT pg_temp.try($$SELECT pgbackups.info(NULL)$$);
SELECT pg_temp.try($$SELECT pgbackups.logs('b999')$$);
SELECT pg_temp.try($$SELECT pgbackups.logs('b-1')$$);
SELECT pg_temp.try($$SELECT pgbackups.delete('b999')$$);
SELECT pg_temp.try($$SELECT pgbackups.delete('a999')$$);
SELECT pg_temp.try($$SELECT pgbackups.delete('x1')$$);
SELECT pg_temp.try($$SELECT pgbackups.delete('')$$);
SELECT pg_temp.try($$SELECT pgbackups.wait('b999')$$);
SELECT pg_temp.try($$SELECT pgbackups.wait('bogus')$$);
SELECT pg_temp.try($$SELECT pgbackups.cancel('b999')$$);
SELECT pg_temp.try($$SELECT pgbackups.cancel('bogus')$$);
-- nothing to cancel
SELECT pg_temp.try($$SELECT pgbackups.cancel()$$);
SELECT count(*) AS backups FROM pgbackups.backups;

-- a role that was not granted pgbackups_admin may not call anything
CREATE ROLE regress_pgbackups_nobody;
SET ROLE regress_pgbackups_nobody;
SELECT pg_temp.try($$SELECT pgbackups.capture()$$);
SELECT pg_temp.try($$SELECT pgbackups.capture(wait => true)$$);
SELECT pg_temp.try($$SELECT pgbackups.cancel()$$);
SELECT pg_temp.try($$SELECT pgbackups.delete('b001')$$);
SELECT pg_temp.try($$SELECT pgbackups.wait('b001')$$);
SELECT pg_temp.try($$SELECT pgbackups.list()$$);
SELECT pg_temp.try($$SELECT pgbackups.info('b001')$$);
SELECT pg_temp.try($$SELECT pgbackups.logs('b001')$$);
SELECT pg_temp.try($$SELECT pgbackups.pretty_size(1)$$);
SELECT pg_temp.try($$SELECT pgbackups._launcher_wakeup()$$);
SELECT pg_temp.try($$SELECT count(*) FROM pgbackups.backups$$);
RESET ROLE;
SELECT count(*) AS backups FROM pgbackups.backups;

-- even with USAGE on the schema, the functions themselves refuse PUBLIC
GRANT USAGE ON SCHEMA pgbackups TO regress_pgbackups_nobody;
SET ROLE regress_pgbackups_nobody;
SELECT pg_temp.try($$SELECT pgbackups.capture()$$);
SELECT pg_temp.try($$SELECT pgbackups.capture(database => 'postgres', wait => true)$$);
SELECT pg_temp.try($$SELECT pgbackups.cancel()$$);
SELECT pg_temp.try($$SELECT pgbackups.delete('b001')$$);
SELECT pg_temp.try($$SELECT pgbackups.wait('b001')$$);
SELECT pg_temp.try($$SELECT pgbackups.list()$$);
SELECT pg_temp.try($$SELECT pgbackups.info('b001')$$);
SELECT pg_temp.try($$SELECT pgbackups.logs('b001')$$);
SELECT pg_temp.try($$SELECT pgbackups.pretty_size(1)$$);
SELECT pg_temp.try($$SELECT pgbackups._resolve_id('b001')$$);
SELECT pg_temp.try($$SELECT pgbackups._launcher_wakeup()$$);
SELECT pg_temp.try($$SELECT count(*) FROM pgbackups.backups$$);
SELECT pg_temp.try($$SELECT count(*) FROM pgbackups.logs$$);
RESET ROLE;
REVOKE USAGE ON SCHEMA pgbackups FROM regress_pgbackups_nobody;
SELECT count(*) AS backups FROM pgbackups.backups;

-- the operator role may read but not write the catalog, and may not call
-- the launcher hook
CREATE ROLE regress_pgbackups_operator IN ROLE pgbackups_admin;
SET ROLE regress_pgbackups_operator;
SELECT pg_temp.try($$SELECT count(*) FROM pgbackups.backups$$);
SELECT pg_temp.try($$SELECT * FROM pgbackups.list()$$);
SELECT pg_temp.try($$SELECT pgbackups.pretty_size(2048)$$);
SELECT pg_temp.try($$INSERT INTO pgbackups.backups (id, num, kind, database, requested_by, compression, parallel) VALUES ('b900', 900, 'manual', 'x', 'x', 'none', 1)$$);
SELECT pg_temp.try($$DELETE FROM pgbackups.logs$$);
SELECT pg_temp.try($$SELECT pgbackups._launcher_wakeup()$$);
SELECT pg_temp.try($$SELECT pgbackups.capture(parallel => 0)$$);
SELECT pg_temp.try($$SELECT pgbackups.info('b999')$$);
RESET ROLE;
DROP ROLE regress_pgbackups_operator;
DROP ROLE regress_pgbackups_nobody;

SELECT count(*) AS backups_after FROM pgbackups.backups;
SELECT count(*) AS log_lines_after FROM pgbackups.logs;
