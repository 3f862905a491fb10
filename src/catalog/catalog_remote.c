/*-------------------------------------------------------------------------
 *
 * catalog_remote.c
 *	  Writes to the pgbackups.restores / pgbackups.copies / pgbackups.logs
 *	  tables of a catalog database over libpq.
 *
 * Restore and copy leaders connect to no database (a restore may replace
 * the very database that holds its catalog, which needs every session to
 * leave it), so they record their progress through a short-lived
 * superuser connection instead of SPI.  A connection is opened on demand
 * and dropped on any error, so a lost connection costs one log line, never
 * the job.  It commits with synchronous_commit on, like the workers' SPI
 * sessions (access.c): a job's state and outcome, once written, survive a
 * crash even on a server with synchronous_commit = off.
 *
 * src/catalog/catalog_remote.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog_remote.h"
#include "pq_util.h"
#include "job_kind.h"

static const char *
job_table(const char *id)
{
	return pgb_job_kind(id)->table;
}

/*
 * pgb_rcat_conn
 *		The connection to the catalog database, opened on demand and opened
 *		again when an engine's clean-up or an error closed it.
 */
PGconn *
pgb_rcat_conn(PgbRemoteCatalog *rc)
{
	if (rc->conn && !pgb_pq_is_open(rc->conn))
		rc->conn = NULL;		/* closed by an engine's clean-up */
	else if (rc->conn && PQtransactionStatus(rc->conn) != PQTRANS_IDLE)
	{
		/*
		 * Its statements run one by one, outside any transaction block, so
		 * a connection not idle was left by an error (a cancel) raised while
		 * a statement's result was awaited.  Its answer would be taken for
		 * the next statement's, and libpq refuses to send one meanwhile
		 * ("another command is already in progress"): start afresh.
		 */
		pgb_rcat_close(rc);
	}
	if (rc->conn == NULL)
	{
		rc->conn = pgb_pq_connect(pgb_pq_conninfo(rc->dbname));
		/* as pgb_pin_worker_settings for SPI: no recorded outcome is lost */
		pgb_pq_command(rc->conn, "SET synchronous_commit = on");
	}
	return rc->conn;
}

void
pgb_rcat_close(PgbRemoteCatalog *rc)
{
	if (rc->conn && pgb_pq_is_open(rc->conn))
		pgb_pq_disconnect(rc->conn);
	rc->conn = NULL;
}

/* run one statement; errors are raised unless quiet */
static PGresult *
rcat_exec(PgbRemoteCatalog *rc, const char *sql, int n, const char *const *params,
		  ExecStatusType expect, bool quiet)
{
	MemoryContext ctx = CurrentMemoryContext;
	PGresult   *volatile res = NULL;

	PG_TRY();
	{
		res = pgb_pq_exec_params(pgb_rcat_conn(rc), sql, n, params, expect);
	}
	PG_CATCH();
	{
		pgb_rcat_close(rc);
		if (!quiet)
			PG_RE_THROW();
		MemoryContextSwitchTo(ctx);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
	return res;
}

void
pgb_rcat_log(PgbRemoteCatalog *rc, const char *msg)
{
	const char *params[2] = {rc->job_id, msg};
	PGresult   *res;

	res = rcat_exec(rc, "INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, $2)",
					2, params, PGRES_COMMAND_OK, true);
	if (res)
		PQclear(res);
}

/* pending -> running; false if the job is no longer pending */
bool
pgb_rcat_mark_running(PgbRemoteCatalog *rc, int pid)
{
	char		pidtext[16];
	const char *params[2] = {rc->job_id, pidtext};
	PGresult   *res;
	bool		ok;

	snprintf(pidtext, sizeof(pidtext), "%d", pid);
	res = rcat_exec(rc, psprintf("UPDATE %s SET status = 'running', started_at = pg_catalog.now(), "
								 "worker_pid = $2::integer WHERE id = $1 AND status = 'pending'",
								 job_table(rc->job_id)),
					2, params, PGRES_COMMAND_OK, false);
	ok = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	return ok;
}

void
pgb_rcat_mark_ended(PgbRemoteCatalog *rc, const char *status, const char *error,
					const char *sqlstate, const PgbTransferStats *stats)
{
	char		tables[16];
	char		rows[32];
	char		bytes[32];
	const char *params[7];
	PGresult   *res;
	char	   *sql;

	snprintf(tables, sizeof(tables), "%d", stats ? stats->tables : 0);
	snprintf(rows, sizeof(rows), INT64_FORMAT, stats ? stats->rows : 0);
	snprintf(bytes, sizeof(bytes), INT64_FORMAT, stats ? stats->bytes : 0);
	params[0] = rc->job_id;
	params[1] = status;
	params[2] = error;
	params[3] = sqlstate;
	params[4] = stats ? tables : NULL;
	params[5] = stats ? rows : NULL;
	params[6] = stats ? bytes : NULL;
	sql = psprintf("UPDATE %s SET status = $2, finished_at = pg_catalog.now(), "
				   "error = $3, error_code = $4, tables = $5::integer, rows = $6::bigint, "
				   "bytes = $7::bigint WHERE id = $1",
				   job_table(rc->job_id));
	res = rcat_exec(rc, sql, 7, params, PGRES_COMMAND_OK, true);
	/* once more on a new connection (a failure closed this one) */
	if (res == NULL)
		res = rcat_exec(rc, sql, 7, params, PGRES_COMMAND_OK, true);
	if (res)
		PQclear(res);
}

/* one column of one row of the job's record (NULL if absent) */
char *
pgb_rcat_get(PgbRemoteCatalog *rc, const char *column)
{
	const char *params[1] = {rc->job_id};
	PGresult   *res;
	char	   *v = NULL;

	res = rcat_exec(rc, psprintf("SELECT %s::text FROM %s WHERE id = $1", column, job_table(rc->job_id)),
					1, params, PGRES_TUPLES_OK, false);
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}
