/*-------------------------------------------------------------------------
 *
 * rescan_api.c
 *	  pgbackups.rescan(): the catalog of this database rebuilt from the
 *	  manifests in storage (catalog/rescan.c), on demand.
 *
 * Executable by pgbackups_admin: it only indexes this catalog's own
 * backups (this cluster, this catalog database), and what it imports is
 * shown to each role by the catalog's row security.  The catalog writes
 * run as the bootstrap superuser with a pinned search_path.
 *
 * src/api/rescan_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "access.h"
#include "rescan.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(pgbackups_rescan);

static void
run_rescan(void *arg)
{
	*(List **) arg = pgb_rescan();
}

Datum
pgbackups_rescan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *items = NIL;
	ListCell   *lc;

	if (PgbShared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbackups must be loaded via shared_preload_libraries")));
	pgb_run_as_superuser(run_rescan, &items);
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, items)
	{
		PgbRescanItem *it = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(it->id);
		values[1] = CStringGetTextDatum(it->outcome);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
