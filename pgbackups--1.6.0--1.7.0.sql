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
 * The webhook outbox holds user state too (alerts waiting for delivery and
 * the delivered ones' history, and its id sequence): pg_dump of a database
 * with the extension dumps it, like every other catalog table.
 */
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alerts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.alerts_alert_id_seq', '');

/*
 * pg_restore of such a dump loads the job tables and schedule runs with
 * their triggers enabled: rows recorded before the loading transaction
 * began are history, neither announced (NOTIFY) nor queued as webhook
 * alerts again (the restored outbox already holds what was queued; a new
 * alert's id would also collide with the restored ones before the
 * sequence is set).  Every real event inserts a row stamped now() or later.
 */
CREATE OR REPLACE FUNCTION @extschema@._notify_event()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job jsonb := to_jsonb(NEW);
	payload jsonb;
BEGIN
	/* a finished job's history loaded by pg_restore (created before this transaction): no event */
	IF TG_OP = 'INSERT' AND NEW.created_at < pg_catalog.now() THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
		payload := jsonb_build_object('id', NEW.id,
									  'database', coalesce(job->>'database', job->>'target'),
									  'kind', CASE TG_TABLE_NAME
												  WHEN 'restores' THEN 'restore'
												  WHEN 'copies' THEN 'copy'
												  WHEN 'backups' THEN
													  CASE job->>'kind' WHEN 'manual' THEN 'backup'
																	   ELSE 'scheduled backup' END
											  END,
									  'status', NEW.status, 'error', NEW.error,
									  'at', clock_timestamp());
		IF TG_TABLE_NAME = 'backups' THEN
			payload := payload || jsonb_build_object('schedule', job->'schedule',
													 'scheduled_for', job->'scheduled_for');
		END IF;
		PERFORM pg_notify('pgbackups_events', payload::text);
		PERFORM @extschema@._enqueue_alert(NEW.status, payload);
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION @extschema@._notify_schedule_run()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	payload jsonb;
BEGIN
	/* a slot's history loaded by pg_restore (recorded before this transaction): no event */
	IF NEW.recorded_at < pg_catalog.now() THEN
		RETURN NULL;
	END IF;
	IF NEW.outcome IN ('skipped', 'missed') THEN
		payload := jsonb_build_object('id', NEW.backup_id,
									  'database', (SELECT s.database FROM @extschema@.schedule_defs s
													WHERE s.name = NEW.schedule),
									  'kind', 'schedule', 'status', NEW.outcome, 'error', NEW.detail,
									  'schedule', NEW.schedule, 'scheduled_for', NEW.slot,
									  'at', clock_timestamp());
		PERFORM pg_notify('pgbackups_events', payload::text);
		PERFORM @extschema@._enqueue_alert(NEW.outcome, payload);
	END IF;
	RETURN NULL;
END
$$;

/*
 * The scheduler of this database refused its jobs while the catalog was
 * older than the library: wake it, so jobs left pending or running and
 * schedule slots that fell due meanwhile are handled now (as in 1.5.0->1.6.0).
 * Keep this statement last.
 */
SELECT @extschema@._launcher_wakeup();
