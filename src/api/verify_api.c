/*-------------------------------------------------------------------------
 *
 * verify_api.c
 *	  pgbackups.verify(id, strict): a completed backup's stored archive read
 *	  end to end without being restored (restore/verify.c), in the caller's
 *	  own backend; the outcome is recorded in the catalog row (verified_at,
 *	  verify_result, verify_error_code) and returned as one row.
 *
 * Refusals are raised and not recorded: 42704 (no such backup), 42501 (the
 * read rule, pgb_check_job_access), 55000 (not completed).  A cancel
 * (57014) or shutdown is raised and not recorded either: it is no verdict.
 * Any other failure is recorded as 'failed: <message>' with its SQLSTATE;
 * then strict (the default) raises it with that SQLSTATE (XX001 for a
 * SHA-256 or row-count mismatch), strict => false returns it as the row.
 *
 * The outcome is written over a libpq connection of its own to this
 * database (as the bootstrap superuser, like the job workers), so it is
 * committed whatever the caller's transaction does next: a raised failure
 * stays recorded.  That write waits at most 10 s for a lock on the row
 * (held only when the caller's own open transaction changed it); after
 * that the verdict is still returned or raised, with a warning.
 *
 * pgb_verify_backup() (verify.h) is that verification and its record
 * without the caller's checks: verify() calls it, and so does the job
 * worker of a scheduled backup whose schedule has verify on (right after
 * the backup completed; a failure then also queues a webhook alert).
 *
 * src/api/verify_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/timestamp.h"

#include "access.h"
#include "guc.h"
#include "pq_util.h"
#include "shmem.h"
#include "verify.h"

PG_FUNCTION_INFO_V1(pgbackups_verify);

typedef struct VerifyRow
{
	const char *id;
	char	   *status;
	char	   *location;
	char	   *sha256;
	char	   *table_rows;
	bool		found;
} VerifyRow;

static char *
copy_value(int col, MemoryContext ctx)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	return v ? MemoryContextStrdup(ctx, v) : NULL;
}

/* the catalog row, read as the bootstrap superuser (pgb_run_as_superuser) */
static void
load_row(void *arg)
{
	VerifyRow  *row = (VerifyRow *) arg;
	MemoryContext outer = CurrentMemoryContext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(row->id)};

	SPI_connect();
	if (SPI_execute_with_args("SELECT status, location, sha256, table_rows::text "
							  "FROM pgbackups.backups WHERE id = $1",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read backup %s", row->id);
	row->found = SPI_processed == 1;
	if (row->found)
	{
		row->status = copy_value(1, outer);
		row->location = copy_value(2, outer);
		row->sha256 = copy_value(3, outer);
		row->table_rows = copy_value(4, outer);
	}
	SPI_finish();
}

/*
 * The outcome, committed over a connection of its own; its verified_at.
 * With alert, a failure also queues a webhook alert (kind 'verify'; the
 * catalog's _enqueue_alert does nothing without pgbackups.webhook_url).
 */
static char *
record_outcome(const char *id, const char *by, const char *result, const char *sqlstate,
			   bool alert)
{
	char	   *message = psprintf("verified by %s: %s", by, result);
	const char *params[4] = {id, result, sqlstate, message};
	PGconn	   *volatile conn = NULL;
	char	   *at = NULL;

	PG_TRY();
	{
		PGresult   *res;

		conn = pgb_pq_connect(pgb_pq_conninfo(get_database_name(MyDatabaseId)));
		PQclear(pgb_pq_exec(conn, "SET lock_timeout = '10s'", PGRES_COMMAND_OK));
		res = pgb_pq_exec_params(conn,
								 "WITH u AS (UPDATE pgbackups.backups SET verified_at = pg_catalog.now(), "
								 "verify_result = $2, verify_error_code = $3 WHERE id = $1 RETURNING verified_at), "
								 "l AS (INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, $4)) "
								 "SELECT verified_at FROM u",
								 4, params, PGRES_TUPLES_OK);
		if (PQntuples(res) == 1)
			at = pstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (alert && sqlstate != NULL)
			PQclear(pgb_pq_exec_params(conn,
									   "SELECT pgbackups._enqueue_alert('failed', pg_catalog.jsonb_build_object("
									   "'id', b.id, 'database', b.database, 'kind', 'verify', 'status', 'failed', "
									   "'error', $2::text, 'schedule', b.schedule, 'scheduled_for', b.scheduled_for, "
									   "'at', pg_catalog.clock_timestamp())) FROM pgbackups.backups b WHERE b.id = $1",
									   2, params, PGRES_TUPLES_OK));
	}
	PG_FINALLY();
	{
		if (conn)
			pgb_pq_disconnect(conn);
	}
	PG_END_TRY();
	return at;
}

typedef struct RecordCall
{
	const char *id;
	const char *by;
	const char *result;
	const char *sqlstate;
	bool		alert;
	char	   *at;
} RecordCall;

static void
record_call(void *arg)
{
	RecordCall *c = (RecordCall *) arg;

	c->at = record_outcome(c->id, c->by, c->result, c->sqlstate, c->alert);
}

/* the same, but a failure to record becomes a warning (the verdict wins) */
static char *
record_outcome_or_warn(const char *id, const char *by, const char *result,
					   const char *sqlstate, bool alert)
{
	RecordCall	c = {id, by, result, sqlstate, alert, NULL};
	ErrorData  *edata = pgb_verify_try(record_call, &c);

	if (edata)
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not record the verification of backup %s: %s", id, edata->message)));
	return c.at;
}

typedef struct VerifyCall
{
	const PgbVerifyTarget *t;
	PgbVerifyResult *res;
} VerifyCall;

static void
verify_call(void *arg)
{
	VerifyCall *c = (VerifyCall *) arg;

	pgb_verify_archive(c->t, c->res);
}

/* the verification itself; NULL when it passed, else the error (not raised) */
static ErrorData *
run_verify(const PgbVerifyTarget *t, PgbVerifyResult *res)
{
	VerifyCall	c = {t, res};

	memset(res, 0, sizeof(PgbVerifyResult));
	return pgb_verify_try(verify_call, &c);
}

static char *
checked_id(text *arg)
{
	char	   *given = text_to_cstring(arg);
	char	   *id = str_tolower(given, strlen(given), DEFAULT_COLLATION_OID);

	if (strspn(id, "ab") != 1 || id[1] == '\0' || strspn(id + 1, "0123456789") != strlen(id + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only backups can be verified, not \"%s\"", given),
				 errdetail("Backup ids look like b001 (manual) or a001 (scheduled).")));
	return id;
}

/*
 * pgb_verify_backup
 *		Verify completed backup id and record the outcome (see verify.h).
 *		No access check: the caller made it (verify()) or is a job worker.
 */
void
pgb_verify_backup(const char *id, const char *by, bool alert, PgbVerifyOutcome *out)
{
	VerifyRow	row;
	PgbVerifyTarget t;

	memset(&row, 0, sizeof(row));
	memset(out, 0, sizeof(PgbVerifyOutcome));
	row.id = id;
	pgb_run_as_superuser(load_row, &row);
	if (!row.found || strcmp(row.status, "completed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("backup %s is not completed", row.id),
				 errdetail("Its status is %s; only a completed backup has an archive to verify.",
						   row.found ? row.status : "unknown")));

	t.id = row.id;
	t.location = row.location;
	t.sha256 = row.sha256;
	t.table_rows = row.table_rows;
	t.max_decompressed = (int64) pgb_max_decompressed_size * 1024 * 1024;
	out->failure = run_verify(&t, &out->res);
	if (out->failure)
	{
		out->code = pstrdup(unpack_sql_state(out->failure->sqlerrcode));
		out->at = record_outcome_or_warn(row.id, by, psprintf("failed: %s", out->failure->message),
										 out->code, alert);
	}
	else
		out->at = record_outcome(row.id, by, "ok", NULL, false);
}

Datum
pgbackups_verify(PG_FUNCTION_ARGS)
{
	bool		strict = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	char	   *id;
	PgbVerifyOutcome out;
	ErrorData  *failure;
	PgbVerifyResult *res = &out.res;
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {false};

	if (PgbShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbackups must be loaded via shared_preload_libraries")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("verify() needs a backup id")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	id = checked_id(PG_GETARG_TEXT_PP(0));
	pgb_check_job_access(id);
	pgb_verify_backup(id, GetUserNameFromId(GetUserId(), false), false, &out);
	failure = out.failure;
	if (failure && strict)
		ReThrowError(failure);

	values[0] = CStringGetTextDatum(id);
	values[1] = CStringGetTextDatum(failure ? "failed" : "ok");
	nulls[2] = out.code == NULL;
	values[2] = out.code ? CStringGetTextDatum(out.code) : (Datum) 0;
	nulls[3] = failure == NULL;
	values[3] = failure ? CStringGetTextDatum(failure->message) : (Datum) 0;
	nulls[4] = out.at == NULL;
	values[4] = out.at ? DirectFunctionCall3(timestamptz_in, CStringGetDatum(out.at),
											 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)) : (Datum) 0;
	nulls[5] = res->sha256 == NULL;
	values[5] = res->sha256 ? CStringGetTextDatum(res->sha256) : (Datum) 0;
	nulls[6] = res->sha256 == NULL;
	values[6] = Int64GetDatum((int64) res->bytes);
	nulls[7] = failure != NULL;
	values[7] = Int32GetDatum(res->tables);
	nulls[8] = failure != NULL;
	values[8] = Int64GetDatum(res->rows);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
