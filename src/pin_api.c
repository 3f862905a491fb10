/*-------------------------------------------------------------------------
 *
 * pin_api.c
 *	  pgbackups.pin() and unpin(): keep a backup out of retention.
 *
 * A pin is configuration, written in the caller's transaction like a
 * schedule, as the bootstrap superuser after the read rule (access.c) was
 * checked for the caller: operators read the catalog but cannot write it.
 * The log line names the calling role.
 *
 * src/pin_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/formatting.h"

#include "access.h"

PG_FUNCTION_INFO_V1(pgbackups_pin);
PG_FUNCTION_INFO_V1(pgbackups_unpin);

static Datum
set_pinned(FunctionCallInfo fcinfo, bool pinned)
{
	char	   *given = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *id = str_tolower(given, strlen(given), DEFAULT_COLLATION_OID);
	char	   *role = GetUserNameFromId(GetUserId(), false);
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	Oid			save_userid;
	int			save_sec;

	if (strspn(id, "ab") != 1 || id[1] == '\0' || strspn(id + 1, "0123456789") != strlen(id + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("only backups can be pinned, not \"%s\"", given),
				 errdetail("Backup ids look like b001 (manual) or a001 (scheduled).")));
	pgb_check_job_access(id);

	values[0] = CStringGetTextDatum(id);
	values[1] = CStringGetTextDatum(psprintf(pinned ? "pinned by %s: kept until unpinned" :
											 "unpinned by %s: retention applies again", role));
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		SPI_connect();
		if (SPI_execute_with_args(pinned ?
								  "UPDATE pgbackups.backups b SET pinned = true WHERE b.id OPERATOR(pg_catalog.=) $1" :
								  "UPDATE pgbackups.backups b SET pinned = false WHERE b.id OPERATOR(pg_catalog.=) $1",
								  1, types, values, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, $2)",
								  2, types, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the pin");
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
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
