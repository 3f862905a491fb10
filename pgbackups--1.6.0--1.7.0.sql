/* pgbackups 1.6.0 -> 1.7.0 (issues 15 and 16) */

\echo Use "ALTER EXTENSION pgbackups UPDATE TO '1.7.0'" to load this file. \quit

/*
 * The scheduler of this database refused its jobs while the catalog was
 * older than the library: wake it, so jobs left pending or running and
 * schedule slots that fell due meanwhile are handled now (as in 1.5.0->1.6.0).
 * Keep this statement last.
 */
SELECT @extschema@._launcher_wakeup();
