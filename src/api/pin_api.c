/*-------------------------------------------------------------------------
 *
 * pin_api.c
 *	  pgbackups.pin() and unpin(): keep a backup out of retention.
 *
 * A pin is configuration, written in the caller's transaction like a
 * schedule, as the bootstrap superuser after the read rule (access.c) was
 * checked for the caller: operators read the catalog but cannot write it.
 * The log line names the calling role.  A completed backup's manifest
 * (manifest.c) is rebuilt after the catalog change and stored when the
 * transaction commits: if storing fails, the transaction fails and the
 * catalog keeps the old value, as does the manifest; a rolled-back pin
 * stores nothing.
 *
 * src/api/pin_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/formatting.h"

#include "access.h"
#include "manifest.h"

PG_FUNCTION_INFO_V1(pgbackups_pin);
PG_FUNCTION_INFO_V1(pgbackups_unpin);

typedef struct PinWrite
{
	const char *id;
	bool		pinned;
	const char *message;
} PinWrite;

static void
write_pin(void *arg)
{
	PinWrite   *w = (PinWrite *) arg;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(w->id), CStringGetTextDatum(w->message)};

	SPI_connect();
	if (SPI_execute_with_args(w->pinned ?
							  "UPDATE pgbackups.backups b SET pinned = true WHERE b.id = $1" :
							  "UPDATE pgbackups.backups b SET pinned = false WHERE b.id = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_UPDATE ||
		SPI_execute_with_args("INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, $2)",
							  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the pin");
	pgb_manifest_write_at_commit(w->id);
	SPI_finish();
}

static Datum
set_pinned(FunctionCallInfo fcinfo, bool pinned)
{
	char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *id = str_tolower(given, strlen(given), DEFAULT_COLLATION_OID);
	char	   *role = GetUserNameFromId(GetUserId(), false);
	PinWrite	w;

	if (strspn(id, "ab") != 1 || id[1] == '\0' || strspn(id + 1, "0123456789") != strlen(id + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only backups can be pinned, not \"%s\"", given),
				 errdetail("Backup ids look like b001 (manual) or a001 (scheduled).")));
	pgb_check_job_access(id);

	w.id = id;
	w.pinned = pinned;
	w.message = psprintf(pinned ? "pinned by %s: kept until unpinned" :
						 "unpinned by %s: retention applies again", role);
	pgb_run_as_superuser(write_pin, &w);
	PG_RETURN_TEXT_P(cstring_to_text(id));
}

Datum
pgbackups_pin(PG_FUNCTION_ARGS)
{
	return set_pinned(fcinfo, true);
}

Datum
pgbackups_unpin(PG_FUNCTION_ARGS)
{
	return set_pinned(fcinfo, false);
}
