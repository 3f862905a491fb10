/* pgbackups 1.6.0 -> 1.7.0 (issues 15 and 16) */

\echo Use "ALTER EXTENSION pgbackups UPDATE TO '1.7.0'" to load this file. \quit

/* ---- exact counters (src/bgw/counters.c): superusers only ---- */

CREATE FUNCTION @extschema@.counters(reset boolean DEFAULT false)
RETURNS TABLE (name text, value bigint)
AS 'MODULE_PATHNAME', 'pgbackups_counters'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.counters(boolean)
	IS 'exact counters in shared memory: processes by kind (running, high-water mark, started), scheduler turns, launcher rounds, set_clock() generations, configuration load times; reset => true lowers the high-water marks to the current values (superusers only)';
REVOKE ALL ON FUNCTION @extschema@.counters(boolean) FROM PUBLIC;

/*
 * The scheduler of this database refused its jobs while the catalog was
 * older than the library: wake it, so jobs left pending or running and
 * schedule slots that fell due meanwhile are handled now (as in 1.5.0->1.6.0).
 * Keep this statement last.
 */
SELECT @extschema@._launcher_wakeup();
