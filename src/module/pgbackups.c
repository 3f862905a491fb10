/*-------------------------------------------------------------------------
 *
 * pgbackups.c
 *	  Module entry point: refuse to load unless preloaded, define the
 *	  settings, reserve shared memory, register the launcher, and install
 *	  the utility hook that steps the scheduler aside for DROP DATABASE and
 *	  friends.
 *
 * src/module/pgbackups.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "guc.h"
#include "launcher.h"
#include "sched_control.h"
#include "shmem.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static ProcessUtility_hook_type prev_utility_hook = NULL;

/*
 * Statements that need no other session connected to a database: our
 * scheduler holds a connection there, so pause it while they run.
 */
static char *
database_needing_exclusivity(Node *stmt)
{
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) stmt)->dbname;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				return ((RenameStmt *) stmt)->subname;
			break;
		case T_AlterDatabaseStmt:
			return ((AlterDatabaseStmt *) stmt)->dbname;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) stmt)->options)
			{
				DefElem    *d = lfirst(lc);

				if (strcmp(d->defname, "template") == 0 && d->arg)
					return defGetString(d);
			}
			break;
		default:
			break;
	}
	return NULL;
}

static void
pause_scheduler(Oid dboid, bool pause)
{
	if (pause)
		pgb_scheduler_pause(dboid, 60000, true);
	else
		pgb_scheduler_resume(dboid);
}

static void
pgb_utility_hook(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				 ProcessUtilityContext context, ParamListInfo params,
				 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	char	   *dbname = PgbShared ? database_needing_exclusivity(pstmt->utilityStmt) : NULL;
	Oid			dboid = dbname ? get_database_oid(dbname, true) : InvalidOid;

	if (OidIsValid(dboid))
		pause_scheduler(dboid, true);
	PG_TRY();
	{
		if (prev_utility_hook)
			prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
							  queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		if (OidIsValid(dboid))
			pause_scheduler(dboid, false);
	}
	PG_END_TRY();
}

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbackups must be loaded via shared_preload_libraries"),
				 errhint("Add pgbackups to shared_preload_libraries in postgresql.conf and restart the server.")));

	pgb_guc_define();
	pgb_shmem_install_hooks();
	pgb_launcher_register();

	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = pgb_utility_hook;
}
