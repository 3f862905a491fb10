/*-------------------------------------------------------------------------
 *
 * storage_check_api.c
 *	  pgbackups.storage_check() and storage_cleanup(): the health of this
 *	  cluster's storage and the removal of crash leftovers
 *	  (catalog/storage_check.c).
 *
 * Both are for superusers only (42501 otherwise, even if EXECUTE was
 * granted): the report covers every database's prefix of this cluster,
 * dropped ones included, and the cleanup deletes objects.  They run with
 * search_path pinned to pg_catalog, pg_temp.
 *
 * src/api/storage_check_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "access.h"
#include "storage_check.h"

PG_FUNCTION_INFO_V1(pgbackups_storage_check);
PG_FUNCTION_INFO_V1(pgbackups_storage_cleanup);

typedef struct CleanupArgs
{
	const Interval *older_than;
	bool		dry_run;
	List	   *out;
} CleanupArgs;

static void
require_superuser(const char *fn)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", fn),
				 errdetail("Only superusers may check or clean up storage.")));
}

static void
run_check(void *arg)
{
	*(List **) arg = pgb_storage_check();
}

static void
run_cleanup(void *arg)
{
	CleanupArgs *a = arg;

	a->out = pgb_storage_cleanup(a->older_than, a->dry_run);
}

/* a text datum or NULL */
static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * pgbackups_storage_check
 *		storage_check(): finding, database, id, url, size, objects, age,
 *		detail; one row per finding, then per catalog database prefix.
 */
Datum
pgbackups_storage_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *findings = NIL;
	ListCell   *lc;

	require_superuser("storage_check");
	pgb_run_as_superuser(run_check, &findings);
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, findings)
	{
		PgbStorageFinding *f = lfirst(lc);
		Datum		values[8];
		bool		nulls[8];

		values[0] = text_or_null(f->finding, &nulls[0]);
		values[1] = text_or_null(f->database, &nulls[1]);
		values[2] = text_or_null(f->id, &nulls[2]);
		values[3] = text_or_null(f->url, &nulls[3]);
		values[4] = Int64GetDatum(f->size);
		nulls[4] = f->size < 0;
		values[5] = Int64GetDatum(f->objects);
		nulls[5] = f->objects < 0;
		values[6] = IntervalPGetDatum(f->age);
		nulls[6] = f->age == NULL;
		values[7] = text_or_null(f->detail, &nulls[7]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * pgbackups_storage_cleanup
 *		storage_cleanup(older_than interval, dry_run boolean): action
 *		('removed' or 'would remove'), finding, database, id, url, size, age.
 */
Datum
pgbackups_storage_cleanup(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CleanupArgs args;
	Interval	zero;
	ListCell   *lc;

	require_superuser("storage_cleanup");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("older_than and dry_run must not be null")));
	args.older_than = PG_GETARG_INTERVAL_P(0);
	args.dry_run = PG_GETARG_BOOL(1);
	args.out = NIL;
	memset(&zero, 0, sizeof(zero));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(args.older_than),
										  IntervalPGetDatum(&zero))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));
	pgb_run_as_superuser(run_cleanup, &args);
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, args.out)
	{
		PgbStorageFinding *f = lfirst(lc);
		Datum		values[7];
		bool		nulls[7];

		values[0] = CStringGetTextDatum(f->removed ? "removed" : "would remove");
		nulls[0] = false;
		values[1] = text_or_null(f->finding, &nulls[1]);
		values[2] = text_or_null(f->database, &nulls[2]);
		values[3] = text_or_null(f->id, &nulls[3]);
		values[4] = text_or_null(f->url, &nulls[4]);
		values[5] = Int64GetDatum(f->size);
		nulls[5] = f->size < 0;
		values[6] = IntervalPGetDatum(f->age);
		nulls[6] = f->age == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
