/*-------------------------------------------------------------------------
 *
 * restore_swap.c
 *	  The last step of a restore: the take-over.  The target's scheduler is
 *	  paused and its sessions ended; when the target has a pgbackups
 *	  catalog, it is carried live into the staging database (backups and
 *	  pins, restores, copies, logs, schedules, pending alerts, the id
 *	  sequences; with this job recorded as completed when it is the job's
 *	  own catalog), so a restore never loses the target's own history; then
 *	  dbswap.c swaps the two databases in one transaction and the replaced
 *	  one is dropped once the job's outcome is recorded.  Before a job
 *	  starts, a target whose catalog could not be carried (an older
 *	  extension version) is refused.
 *
 * Cancel and shutdown are honoured until the swap's COMMIT is sent: the
 * swap's transaction is then canceled and rolled back (dbswap.c) and the
 * caller's clean-up drops the staging database, so the target is left as
 * it was.  Once the swap committed the restore has happened, and a later
 * cancel request is not honoured.
 *
 * src/restore/restore_swap.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "catalog.h"
#include "guc.h"
#include "job_kind.h"
#include "pq_util.h"
#include "restore_int.h"
#include "sched_control.h"

/* copy table's rows from one connection's database to the other's */
static void
pipe_copy(PGconn *from, PGconn *to, const char *table)
{
	PQclear(pgb_pq_exec(to, psprintf("TRUNCATE %s", table), PGRES_COMMAND_OK));
	PQclear(pgb_pq_exec(from, psprintf("COPY %s TO STDOUT", table), PGRES_COPY_OUT));
	PQclear(pgb_pq_exec(to, psprintf("COPY %s FROM STDIN", table), PGRES_COPY_IN));
	for (;;)
	{
		char	   *buf;
		int			n = PQgetCopyData(from, &buf, 1);

		if (n == 0)
		{
			pgb_pq_wait_socket(from, false);
			if (PQconsumeInput(from) == 0)
				pgb_pq_error(from, NULL, NULL);
			continue;
		}
		if (n == -1)
			break;
		if (n == -2)
			pgb_pq_error(from, NULL, NULL);
		while (PQputCopyData(to, buf, n) == 0)
			pgb_pq_wait_socket(to, true);
		PQfreemem(buf);
	}
	PQclear(pgb_pq_finish_command(from, PGRES_COMMAND_OK));
	while (PQputCopyEnd(to, NULL) == 0)
		pgb_pq_wait_socket(to, true);
	PQclear(pgb_pq_finish_command(to, PGRES_COMMAND_OK));
}

/*
 * The target has a pgbackups catalog: copy it, live, into the staging
 * database (every backup with its pin, restore, copy and log line, the
 * schedules and their runs, the alerts still to deliver, and the id
 * sequences), so that the target keeps its own history whatever catalog
 * issued the restore.  When the target holds this job's own catalog
 * (own), the restore is recorded there as completed as well.  The rows
 * are copied with triggers off: they are not new events.
 */
static void
carry_catalog(PgbRestore *r, bool own)
{
	static const char *const tables[] = {
		"pgbackups.backups", "pgbackups.restores", "pgbackups.copies", "pgbackups.logs",
		"pgbackups.schedule_defs", "pgbackups.schedule_runs", "pgbackups.alerts", NULL
	};
	static const char *const seqs[] = {
		"pgbackups.manual_num_seq", "pgbackups.scheduled_num_seq",
		"pgbackups.restore_num_seq", "pgbackups.copy_num_seq",
		"pgbackups.alerts_alert_id_seq", NULL
	};
	PGconn	   *t = r->target_conn;
	PGconn	   *s = r->staging_conn;
	int			i;
	char		tables_s[16];
	char		rows_s[32];
	char		bytes_s[32];
	const char *params[5];

	pgb_pq_command(s, "CREATE EXTENSION IF NOT EXISTS pgbackups");
	pgb_pq_command(t, "BEGIN ISOLATION LEVEL REPEATABLE READ");
	pgb_pq_command(t, "LOCK TABLE pgbackups.backups, pgbackups.restores, pgbackups.copies, "
				   "pgbackups.logs, pgbackups.schedule_defs, pgbackups.schedule_runs, "
				   "pgbackups.alerts IN EXCLUSIVE MODE");
	pgb_pq_command(s, "BEGIN");
	pgb_pq_command(s, "SET LOCAL session_replication_role = replica");
	for (i = 0; tables[i]; i++)
		pipe_copy(t, s, tables[i]);
	for (i = 0; seqs[i]; i++)
	{
		PGresult   *res = pgb_pq_exec(t, psprintf("SELECT last_value, is_called FROM %s", seqs[i]),
									  PGRES_TUPLES_OK);
		const char *sp[3];

		sp[0] = seqs[i];
		sp[1] = PQgetvalue(res, 0, 0);
		sp[2] = PQgetvalue(res, 0, 1);
		PQclear(pgb_pq_exec_params(s, "SELECT pg_catalog.setval($1::regclass, $2::bigint, $3::boolean)",
								   3, sp, PGRES_TUPLES_OK));
		PQclear(res);
	}
	if (!own)
	{
		pgb_pq_command(s, "COMMIT");
		pgb_pq_command(t, "COMMIT");
		return;
	}
	snprintf(tables_s, sizeof(tables_s), "%d", r->tables);
	snprintf(rows_s, sizeof(rows_s), INT64_FORMAT, r->rows);
	snprintf(bytes_s, sizeof(bytes_s), INT64_FORMAT, r->bytes);
	params[0] = r->params->job_id;
	params[1] = tables_s;
	params[2] = rows_s;
	params[3] = bytes_s;
	PQclear(pgb_pq_exec_params(s, psprintf("UPDATE %s SET status = 'completed', "
										   "finished_at = pg_catalog.now(), tables = $2::integer, rows = $3::bigint, "
										   "bytes = $4::bigint, error = NULL, error_code = NULL WHERE id = $1",
										   pgb_job_kind(r->params->job_id)->table),
							   4, params, PGRES_COMMAND_OK));
	params[1] = "completed; the new database took over and carries this catalog";
	PQclear(pgb_pq_exec_params(s, "INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, $2)",
							   2, params, PGRES_COMMAND_OK));
	pgb_pq_command(s, "COMMIT");
	pgb_pq_command(t, "COMMIT");
}

void
pgb_restore_pause_target(PgbRestore *r, bool pause)
{
	if (pause)
		pgb_scheduler_pause(r->target->oid, 120000, false);
	else
		pgb_scheduler_resume(r->target->oid);
	r->paused = pause;
}

/*
 * pgb_restore_check_target_catalog
 *		Before a restore or copy into target starts (conn: any connection to
 *		this server): a pgbackups catalog in the target must be of the
 *		version this library writes, since the take-over carries it into the
 *		restored database, whose extension is that version.  An older one
 *		(ALTER EXTENSION pgbackups UPDATE not run yet) has other tables and
 *		columns, and its update script's data changes would be skipped: it
 *		is refused here, before anything is created.  A target that does not
 *		exist is left to the restore engine to report.
 */
void
pgb_restore_check_target_catalog(PGconn *conn, const char *target)
{
	const char *params[1] = {target};
	PGresult   *res;
	PGconn	   *t;
	char	   *version = NULL;

	res = pgb_pq_exec_params(conn, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1 AND datallowconn",
							 1, params, PGRES_TUPLES_OK);
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		return;
	}
	PQclear(res);
	t = pgb_pq_connect(pgb_pq_conninfo(target));
	res = pgb_pq_exec(t, "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pgbackups'",
					  PGRES_TUPLES_OK);
	if (PQntuples(res) == 1)
		version = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	pgb_pq_disconnect(t);
	if (version && strcmp(version, PGB_CATALOG_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the pgbackups extension in database \"%s\" is version %s, but the loaded library needs %s",
						target, version, PGB_CATALOG_VERSION),
				 errdetail("The restored database carries the target's own pgbackups catalog, which must be updated first; nothing was changed."),
				 errhint("Run ALTER EXTENSION pgbackups UPDATE in database \"%s\", then start the job again.",
						 target)));
}

/* whether the target database has the pgbackups extension */
static bool
has_catalog(PGconn *conn)
{
	PGresult   *res = pgb_pq_exec(conn, "SELECT pg_catalog.to_regclass('pgbackups.backups') IS NOT NULL",
								  PGRES_TUPLES_OK);
	bool		yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	return yes;
}

/* the target's live catalog, if it has one, into the staging database */
static void
carry(PgbRestore *r, bool own)
{
	/* the catalog's own connection must not be counted as a session */
	if (own)
		pgb_rcat_close(r->params->rcat);
	r->target_conn = pgb_pq_connect(pgb_pq_conninfo(r->target->name));
	if (own || has_catalog(r->target_conn))
	{
		pgb_db_end_sessions(r->maint, r->target->name, PQbackendPID(r->target_conn));
		(void) pgb_restore_staging_conn(r);
		carry_catalog(r, own);
		if (!own)
			pgb_restore_log(r, "database \"%s\" keeps its own pgbackups catalog (history, pins, schedules)",
							r->target->name);
	}
	pgb_pq_disconnect(r->target_conn);
	r->target_conn = NULL;
}

/*
 * pgb_restore_drop_old
 *		Once the outcome is recorded: the replaced database goes (else the
 *		scheduler drops it).  Until then its existence tells a start-up
 *		reconciliation that the swap committed (job_queue.c).
 */
void
pgb_restore_drop_old(PgbRestore *r)
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		pgb_restore_drop(r, r->old);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		EmitErrorReport();
		FlushErrorState();
		pgb_restore_log(r, "could not drop the replaced database \"%s\"; the scheduler drops it later", r->old);
	}
	PG_END_TRY();
}

/*
 * pgb_restore_take_over
 *		Replace the target with the staging database, carrying the target's
 *		catalog first if it has one (own: it is this job's catalog).
 */
void
pgb_restore_take_over(PgbRestore *r, bool own)
{
	pgb_restore_log(r, "taking over database \"%s\"", r->target->name);
	pgb_restore_pause_target(r, true);
	carry(r, own);
	if (r->staging_conn)
	{
		pgb_pq_disconnect(r->staging_conn);
		r->staging_conn = NULL;
	}
	pgb_db_end_sessions(r->maint, r->target->name, 0);
	pgb_debug_fault("before_swap"); /* tests: crash windows */
	pgb_db_swap(r->maint, r->target, r->staging, r->old);
	r->swapped = true;
	pgb_debug_fault("swap_committed");

	/*
	 * The restore has happened: what is left (resuming the scheduler,
	 * dropping the replaced database, recording the outcome) is not
	 * canceled any more.
	 */
	r->hooks.check = NULL;
	pgb_pq_set_interrupt_check(NULL);
	pgb_restore_pause_target(r, false);
	pgb_restore_log(r, "database \"%s\" replaced; its earlier sessions were disconnected", r->target->name);
	pgb_debug_fault("after_swap");	/* tests: before the outcome is recorded */
}
