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
	PgbDbSlot  *s;
	pid_t		pid = 0;
	int			waited = 0;

	LWLockAcquire(PgbShared->lock, LW_EXCLUSIVE);
	s = pgb_db_slot(dboid, false);
	if (s)
	{
		s->paused_until = pause ? TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 60000) : 0;
		if (pause && (s->state == PGB_DB_RUNNING || s->state == PGB_DB_STARTING))
			pid = s->pid;
	}
	LWLockRelease(PgbShared->lock);
	if (!pause)
	{
		pgb_wake_launcher();
		return;
	}
	if (pid > 0)
		kill(pid, SIGTERM);
	/* wait up to 5 s for the scheduler (or a probe) to leave */
	while (waited < 5000)
	{
		bool		gone;

		LWLockAcquire(PgbShared->lock, LW_SHARED);
		gone = s == NULL || (s->state != PGB_DB_RUNNING && s->state != PGB_DB_STARTING);
		LWLockRelease(PgbShared->lock);
		if (gone)
			break;
		if (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 20,
					  PG_WAIT_EXTENSION) & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		waited += 20;
	}
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
