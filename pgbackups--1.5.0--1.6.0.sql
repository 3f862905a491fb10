/* pgbackups 1.5.0 -> 1.6.0: no job waits unseen (issue 16) */

\echo Use "ALTER EXTENSION pgbackups UPDATE TO '1.6.0'" to load this file. \quit

/*
 * Health: the schedules' rows as before, plus one row per job (backup,
 * restore, copy) that is pending or running beyond its expected time, on
 * the real clock (pg_catalog.now(): the jobs' times are real times):
 *	running		overdue after started_at + twice the run time of the last
 *				completed job of the same kind (backup, restore, copy) and
 *				database (a restore's or copy's target), plus
 *				pgbackups.schedule_grace; without such a job, after the
 *				grace alone
 *	pending		overdue after created_at + pgbackups.schedule_grace (it
 *				waits for a worker, or for the capture of its database
 *				that runs)
 * Such a row has name = the job's id, status 'overdue', expected_by, the
 * last completed job of its kind and database in last_success_id and
 * last_success_at, and what it is doing in error.  pgbackups.max_job_time,
 * when set, ends a running job outright (src/bgw/job_slot.c).
 */
CREATE OR REPLACE VIEW @extschema@.health WITH (security_invoker = true) AS
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
		FROM @extschema@.next_runs(s.cron, s.timezone, coalesce(last_ok.scheduled_for, s.created_at), 1) r) due
UNION ALL
SELECT j.id,
	   j.database,
	   'overdue',
	   prev.id,
	   NULL::timestamptz,
	   prev.finished_at,
	   w.expected_by,
	   NULL::text,
	   CASE j.status
		   WHEN 'running' THEN pg_catalog.format('%s running since %s, longer than expected (%s)',
												 j.noun, j.started_at,
												 CASE WHEN prev.id IS NULL THEN 'pgbackups.schedule_grace'
												 ELSE pg_catalog.format('twice the %s of %s, plus pgbackups.schedule_grace',
																		prev.finished_at - prev.started_at, prev.id) END)
		   ELSE pg_catalog.format('%s pending since %s, not started within pgbackups.schedule_grace%s',
								  j.noun, j.created_at,
								  CASE WHEN j.noun = 'backup' THEN ' (it waits for a worker, or for the capture of its database that runs)'
								  ELSE ' (it waits for a worker)' END)
	   END
  FROM (SELECT b.id, 'backup' AS noun, b.database, b.status, b.created_at, b.started_at
		  FROM @extschema@.backups b WHERE b.status IN ('pending', 'running')
		UNION ALL
		SELECT r.id, 'restore', r.target, r.status, r.created_at, r.started_at
		  FROM @extschema@.restores r WHERE r.status IN ('pending', 'running')
		UNION ALL
		SELECT c.id, 'copy', c.target, c.status, c.created_at, c.started_at
		  FROM @extschema@.copies c WHERE c.status IN ('pending', 'running')) j
  LEFT JOIN LATERAL (
	  SELECT d.id, d.started_at, d.finished_at
		FROM (SELECT b.id, 'backup' AS noun, b.database, b.started_at, b.finished_at
				FROM @extschema@.backups b WHERE b.status = 'completed'
			  UNION ALL
			  SELECT r.id, 'restore', r.target, r.started_at, r.finished_at
				FROM @extschema@.restores r WHERE r.status = 'completed'
			  UNION ALL
			  SELECT c.id, 'copy', c.target, c.started_at, c.finished_at
				FROM @extschema@.copies c WHERE c.status = 'completed') d
	   WHERE d.noun = j.noun AND d.database = j.database
		 AND d.started_at IS NOT NULL AND d.finished_at IS NOT NULL
	   ORDER BY d.finished_at DESC LIMIT 1) prev ON true
  CROSS JOIN LATERAL (
	  SELECT CASE j.status
				 WHEN 'running' THEN j.started_at
					 + 2 * coalesce(prev.finished_at - prev.started_at, '0'::interval)
				 ELSE j.created_at
			 END + pg_catalog.current_setting('pgbackups.schedule_grace')::interval AS expected_by) w
 WHERE w.expected_by < pg_catalog.now();
COMMENT ON VIEW @extschema@.health IS
	'pgbackups: each schedule ok, late, failing or never run; each job pending or running beyond its expected time (overdue)';

/*
 * The scheduler of this database refused its jobs while the catalog was
 * older than the library: wake it, so jobs left pending or running and
 * schedule slots that fell due meanwhile are handled now (as in 1.4.0->1.5.0).
 */
SELECT @extschema@._launcher_wakeup();
