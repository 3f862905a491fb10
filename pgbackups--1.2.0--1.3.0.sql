/* pgbackups 1.2.0 -> 1.3.0: schedules, GFS retention, pins, alerts and health (issue 5) */

\echo Use "ALTER EXTENSION pgbackups UPDATE TO '1.3.0'" to load this file. \quit

/*
 * Scheduled backups (a###) remember their schedule and the slot they were
 * taken for: retention buckets them by that slot in the schedule's zone.
 */
ALTER TABLE @extschema@.backups
	ADD COLUMN schedule text,
	ADD COLUMN scheduled_for timestamptz,
	ADD COLUMN pinned boolean NOT NULL DEFAULT false;
CREATE INDEX backups_schedule_idx ON @extschema@.backups (schedule, scheduled_for);

/*
 * One schedule per database (Heroku: pg:backups:schedule DB replaces the
 * database's schedule).  Written by schedule()/unschedule() in the caller's
 * transaction, like any configuration; next_run and last_* by the
 * scheduler.
 */
CREATE TABLE @extschema@.schedule_defs (
	name			text PRIMARY KEY,
	database		name NOT NULL UNIQUE,
	at				text,
	cron			text NOT NULL,
	timezone		text NOT NULL,
	keep_daily		integer NOT NULL CHECK (keep_daily BETWEEN 0 AND 10000),
	keep_weekly		integer NOT NULL CHECK (keep_weekly BETWEEN 0 AND 10000),
	keep_monthly	integer NOT NULL CHECK (keep_monthly BETWEEN 0 AND 10000),
	created_at		timestamptz NOT NULL,
	created_by		name NOT NULL,
	next_run		timestamptz NOT NULL,
	last_run		timestamptz,
	last_id			text,
	last_outcome	text CHECK (last_outcome IN ('started', 'skipped', 'missed'))
);
COMMENT ON TABLE @extschema@.schedule_defs IS 'pgbackups: backup schedules (see the view pgbackups.schedules)';

/* every decision the scheduler took about a slot: started, skipped (overlap) or missed */
CREATE TABLE @extschema@.schedule_runs (
	schedule		text NOT NULL,
	slot			timestamptz NOT NULL,
	outcome			text NOT NULL CHECK (outcome IN ('started', 'skipped', 'missed')),
	backup_id		text,
	detail			text,
	recorded_at		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
CREATE INDEX schedule_runs_idx ON @extschema@.schedule_runs (schedule, slot);
COMMENT ON TABLE @extschema@.schedule_runs IS 'pgbackups: what the scheduler did with each schedule slot';

/*
 * Webhook outbox: events waiting for (or done with) delivery to
 * pgbackups.webhook_url.  Filled in the same transaction as the state
 * change, delivered and retried by the scheduler.
 */
CREATE TABLE @extschema@.alerts (
	alert_id		bigserial PRIMARY KEY,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	event			text NOT NULL,
	payload			jsonb NOT NULL,
	attempts		integer NOT NULL DEFAULT 0,
	next_attempt	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	delivered_at	timestamptz,
	last_error		text
);
CREATE INDEX alerts_pending_idx ON @extschema@.alerts (next_attempt) WHERE delivered_at IS NULL;
COMMENT ON TABLE @extschema@.alerts IS 'pgbackups: webhook deliveries (pgbackups.webhook_url)';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.schedule_defs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.schedule_runs', '');

/* ---- time: the scheduler's clock (pgbackups.set_clock for tests) ---- */

CREATE FUNCTION @extschema@.now()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pgbackups_now'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.now()
	IS 'the scheduler''s clock: now(), or the time set by pgbackups.set_clock() when pgbackups.debug_clock is on';

CREATE FUNCTION @extschema@.set_clock(at timestamptz)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pgbackups_set_clock'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.set_clock(timestamptz)
	IS 'tests only (pgbackups.debug_clock = on, superuser): freeze the scheduler''s clock at a time; NULL = real time';

/* ---- rules (src/cron.c) ---- */

CREATE FUNCTION @extschema@.next_runs(cron text, timezone text DEFAULT 'UTC',
									  after timestamptz DEFAULT NULL, count integer DEFAULT 5)
RETURNS SETOF timestamptz
AS 'MODULE_PATHNAME', 'pgbackups_next_runs'
LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.next_runs(text, text, timestamptz, integer)
	IS 'the next run times of a cron expression in a time zone, after a time (default pgbackups.now())';

/* ---- schedules (src/schedule_api.c) ---- */

CREATE FUNCTION @extschema@.schedule(database text DEFAULT pg_catalog.current_database(),
									 at text DEFAULT NULL,
									 cron text DEFAULT NULL,
									 timezone text DEFAULT NULL,
									 keep_daily integer DEFAULT 7,
									 keep_weekly integer DEFAULT 4,
									 keep_monthly integer DEFAULT 12)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbackups_schedule'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.schedule(text, text, text, text, integer, integer, integer)
	IS 'heroku pg:backups:schedule: daily at ''HH:MM Zone'' or a cron expression; returns the schedule name';

CREATE FUNCTION @extschema@.unschedule(name_or_database text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer;
	found text;
BEGIN
	IF name_or_database IS NULL THEN
		SELECT count(*), min(s.name) INTO n, found FROM @extschema@.schedule_defs s;
		IF n = 0 THEN
			RAISE EXCEPTION 'no backup schedules'
				USING ERRCODE = 'undefined_object';
		ELSIF n > 1 THEN
			RAISE EXCEPTION 'there are % backup schedules; name the one to remove', n
				USING ERRCODE = 'ambiguous_parameter',
					  DETAIL = 'Schedules: ' || (SELECT string_agg(s.name, ', ' ORDER BY s.name)
												FROM @extschema@.schedule_defs s) || '.';
		END IF;
	ELSE
		SELECT s.name INTO found FROM @extschema@.schedule_defs s
		 WHERE s.name = name_or_database OR s.database = name_or_database;
		IF found IS NULL THEN
			RAISE EXCEPTION 'backup schedule "%" does not exist', name_or_database
				USING ERRCODE = 'undefined_object',
					  HINT = 'SELECT * FROM pgbackups.schedules lists the schedules.';
		END IF;
	END IF;
	DELETE FROM @extschema@.schedule_defs s WHERE s.name = found;
	RETURN found;
END
$$;
COMMENT ON FUNCTION @extschema@.unschedule(text)
	IS 'heroku pg:backups:unschedule: remove a schedule (by name or database; none given: the only one)';

CREATE VIEW @extschema@.schedules AS
SELECT s.name,
	   s.database,
	   CASE WHEN s.at IS NOT NULL THEN 'daily at ' || s.at || ' ' || s.timezone ELSE s.cron END AS rule,
	   s.cron,
	   s.timezone,
	   s.next_run,
	   s.last_run,
	   CASE s.last_outcome WHEN 'started' THEN coalesce(b.status, 'deleted') ELSE s.last_outcome END
		   AS last_status,
	   s.last_id,
	   s.keep_daily,
	   s.keep_weekly,
	   s.keep_monthly
  FROM @extschema@.schedule_defs s
  LEFT JOIN @extschema@.backups b ON b.id = s.last_id;
COMMENT ON VIEW @extschema@.schedules IS 'heroku pg:backups:schedules: backup schedules, next and last run';

/*
 * Health of each schedule, on the scheduler's clock:
 *	failing		the newest finished run failed
 *	late		no successful backup by the first slot after the last
 *				successful one (or after the schedule was made), plus
 *				pgbackups.schedule_grace
 *	never run	nothing finished yet, and not late
 *	ok			otherwise
 */
CREATE VIEW @extschema@.health AS
SELECT s.name,
	   s.database,
	   CASE
		   WHEN last_done.status = 'failed' THEN 'failing'
		   WHEN due.expected_by < @extschema@.now() THEN 'late'
		   WHEN last_done.id IS NULL THEN 'never run'
		   ELSE 'ok'
	   END AS status,
	   last_ok.id AS last_success_id,
	   last_ok.scheduled_for AS last_success_slot,
	   last_ok.finished_at AS last_success_at,
	   due.expected_by,
	   CASE WHEN last_done.status = 'failed' THEN last_done.id END AS failed_id,
	   CASE WHEN last_done.status = 'failed' THEN last_done.error END AS error
  FROM @extschema@.schedule_defs s
  LEFT JOIN LATERAL (
	  SELECT b.id, b.scheduled_for, b.finished_at FROM @extschema@.backups b
	   WHERE b.schedule = s.name AND b.status = 'completed'
	   ORDER BY b.scheduled_for DESC, b.num DESC LIMIT 1) last_ok ON true
  LEFT JOIN LATERAL (
	  SELECT b.id, b.status, b.error FROM @extschema@.backups b
	   WHERE b.schedule = s.name AND b.status IN ('completed', 'failed')
	   ORDER BY b.scheduled_for DESC, b.num DESC LIMIT 1) last_done ON true
  CROSS JOIN LATERAL (
	  SELECT r + pg_catalog.current_setting('pgbackups.schedule_grace')::interval AS expected_by
		FROM @extschema@.next_runs(s.cron, s.timezone, coalesce(last_ok.scheduled_for, s.created_at), 1) r) due;
COMMENT ON VIEW @extschema@.health IS 'pgbackups: each schedule ok, late, failing or never run';

/* ---- pins ---- */

CREATE FUNCTION @extschema@._set_pinned(id text, pinned boolean, by_role name)
RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	bid text := @extschema@._resolve_id(id);
BEGIN
	IF bid !~ '^[ab]' THEN
		RAISE EXCEPTION 'only backups can be pinned, not "%"', bid
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE @extschema@.backups b SET pinned = _set_pinned.pinned WHERE b.id = bid;
	INSERT INTO @extschema@.logs (job_id, message)
		VALUES (bid, CASE WHEN pinned THEN 'pinned by ' || by_role || ': kept until unpinned'
					 ELSE 'unpinned by ' || by_role || ': retention applies again' END);
	RETURN bid;
END
$$;

CREATE FUNCTION @extschema@.pin(id text)
RETURNS text
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@._set_pinned(id, true, current_user) $$;
COMMENT ON FUNCTION @extschema@.pin(text)
	IS 'keep a backup forever: retention never expires it and delete() refuses it until unpin()';

CREATE FUNCTION @extschema@.unpin(id text)
RETURNS text
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@._set_pinned(id, false, current_user) $$;
COMMENT ON FUNCTION @extschema@.unpin(text) IS 'let retention expire a pinned backup again';

/* ---- alerts: NOTIFY on every state change, webhook outbox on failures ---- */

CREATE FUNCTION @extschema@._enqueue_alert(status text, payload jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF coalesce(current_setting('pgbackups.webhook_url', true), '') = '' THEN
		RETURN;
	END IF;
	IF status IN ('failed', 'missed')
	   OR (status = 'completed' AND current_setting('pgbackups.webhook_on_success', true) = 'on') THEN
		INSERT INTO @extschema@.alerts (event, payload)
			VALUES ((payload->>'kind') || '.' || status, payload);
	END IF;
END
$$;

/*
 * One trigger function for every job table: NOTIFY pgbackups_events on
 * each state change, and the webhook outbox.  (1.0.0 and 1.1.0 had one
 * function for backups and another for restores and copies.)
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
DROP TRIGGER restores_notify ON @extschema@.restores;
DROP TRIGGER copies_notify ON @extschema@.copies;
CREATE TRIGGER restores_notify AFTER INSERT OR UPDATE ON @extschema@.restores
	FOR EACH ROW EXECUTE FUNCTION @extschema@._notify_event();
CREATE TRIGGER copies_notify AFTER INSERT OR UPDATE ON @extschema@.copies
	FOR EACH ROW EXECUTE FUNCTION @extschema@._notify_event();
DROP FUNCTION @extschema@._notify_transfer();

/* skipped and missed slots are announced too (kind 'schedule'); missed ones reach the webhook */
CREATE FUNCTION @extschema@._notify_schedule_run()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	payload jsonb;
BEGIN
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
CREATE TRIGGER schedule_runs_notify AFTER INSERT ON @extschema@.schedule_runs
	FOR EACH ROW EXECUTE FUNCTION @extschema@._notify_schedule_run();

/* ---- privileges ---- */

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
GRANT SELECT ON @extschema@.schedule_defs, @extschema@.schedule_runs, @extschema@.alerts,
	@extschema@.schedules, @extschema@.health TO pgbackups_admin;
GRANT EXECUTE ON FUNCTION
	@extschema@.now(),
	@extschema@.next_runs(text, text, timestamptz, integer),
	@extschema@.schedule(text, text, text, text, integer, integer, integer),
	@extschema@.unschedule(text),
	@extschema@.pin(text),
	@extschema@.unpin(text),
	@extschema@._set_pinned(text, boolean, name)
	TO pgbackups_admin;
