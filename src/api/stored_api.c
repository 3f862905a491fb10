/*-------------------------------------------------------------------------
 *
 * stored_api.c
 *	  pgbackups.stored_backups(database): the backups storage holds for the
 *	  databases of this cluster, including dropped ones and databases
 *	  without the extension (catalog/stored.c), filtered by the read rule.
 *
 * Storage is read in the caller's session with the server's storage
 * credentials; what the caller sees is only what the read rule allows it
 * (access.c): backups of databases it owns, or every one for members of
 * pg_read_all_data and superusers (a dropped database's backups: only
 * those).
 *
 * src/api/stored_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "access/xlog.h"

#include "access.h"
#include "shmem.h"
#include "stored.h"

PG_FUNCTION_INFO_V1(pgbackups_stored_backups);

#define NCOLS 13

static Datum
timestamp_or_null(const char *text, bool *isnull)
{
	*isnull = text == NULL;
	if (text == NULL)
		return (Datum) 0;
	return DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

static Datum
text_or_null(const char *text, bool *isnull)
{
	*isnull = text == NULL;
	return text ? CStringGetTextDatum(text) : (Datum) 0;
}

Datum
pgbackups_stored_backups(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *db = PG_ARGISNULL(0) ? NULL : NameStr(*PG_GETARG_NAME(0));
	char	   *cluster = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *own = psprintf(UINT64_FORMAT, GetSystemIdentifier());
	ListCell   *lc;

	if (PgbShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbackups must be loaded via shared_preload_libraries")));
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, pgb_stored_list(db, cluster))
	{
		PgbStoredBackup *b = lfirst(lc);
		Datum		values[NCOLS];
		bool		nulls[NCOLS];

		if (db != NULL && strcmp(b->catalog_database, db) != 0)
			continue;
		/* another cluster's database: as a dropped one (pg_read_all_data, superuser) */
		if (!pgb_role_may_read_database(GetUserId(), strcmp(b->cluster, own) == 0 ? b->database : NULL))
			continue;
		values[0] = text_or_null(b->catalog_database, &nulls[0]);
		values[1] = text_or_null(b->id, &nulls[1]);
		values[2] = text_or_null(b->kind, &nulls[2]);
		values[3] = text_or_null(b->database, &nulls[3]);
		values[4] = timestamp_or_null(b->created_at, &nulls[4]);
		values[5] = timestamp_or_null(b->finished_at, &nulls[5]);
		nulls[6] = b->archive_size == NULL;
		values[6] = nulls[6] ? (Datum) 0 : Int64GetDatum(strtoi64(b->archive_size, NULL, 10));
		values[7] = text_or_null(b->sha256, &nulls[7]);
		values[8] = BoolGetDatum(b->pinned);
		nulls[8] = false;
		values[9] = text_or_null(b->label, &nulls[9]);
		values[10] = text_or_null(b->archive_url, &nulls[10]);
		nulls[11] = b->table_rows == NULL;
		values[11] = nulls[11] ? (Datum) 0 :
			DirectFunctionCall1(jsonb_in, CStringGetDatum(b->table_rows));
		values[12] = text_or_null(b->cluster, &nulls[12]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
