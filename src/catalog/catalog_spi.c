/*-------------------------------------------------------------------------
 *
 * catalog_spi.c
 *	  Transactions and SPI statements of the catalog modules (catalog.c,
 *	  catalog_schedule.c): one transaction per call, text arguments,
 *	  results copied into the caller's memory context.
 *
 * src/catalog/catalog_spi.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "catalog_spi.h"

#define MAX_ARGS 24

/* the caller's memory context: results are copied there, and restored */
MemoryContext pgb_cat_caller_ctx = NULL;

void
pgb_cat_begin(const char *what)
{
	pgb_cat_caller_ctx = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
}

void
pgb_cat_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(pgb_cat_caller_ctx);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* run sql with text arguments ($1.. may be NULL); returns SPI_processed */
uint64
pgb_cat_run(const char *sql, int nargs, const char *const *args)
{
	Oid			types[MAX_ARGS];
	Datum		values[MAX_ARGS];
	char		nulls[MAX_ARGS + 1] = {0};
	int			i,
				rc;

	for (i = 0; i < nargs; i++)
	{
		types[i] = TEXTOID;
		values[i] = args[i] ? CStringGetTextDatum(args[i]) : (Datum) 0;
		nulls[i] = args[i] ? ' ' : 'n';
	}
	rc = SPI_execute_with_args(sql, nargs, nargs > 0 ? types : NULL, nargs > 0 ? values : NULL,
							   nargs > 0 ? nulls : NULL, false, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

char *
pgb_cat_get(uint64 row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

char *
pgb_cat_copy(const char *s)
{
	/* SPI results die with the transaction; copy into the caller's context */
	return s ? MemoryContextStrdup(pgb_cat_caller_ctx, s) : NULL;
}


/* append to a list that lives in the caller's context */
List *
pgb_cat_lappend(List *list, void *datum)
{
	MemoryContext old = MemoryContextSwitchTo(pgb_cat_caller_ctx);

	list = lappend(list, datum);
	MemoryContextSwitchTo(old);
	return list;
}

bool
pgb_cat_try(void (*fn) (void *arg), void *arg, char **errmsg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		*errmsg = pstrdup(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}
