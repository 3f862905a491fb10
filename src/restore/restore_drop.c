/*-------------------------------------------------------------------------
 *
 * restore_drop.c
 *	  Dropping the databases a restore leaves: the staging database after
 *	  an error or cancel, the replaced one after the swap.
 *
 * DROP DATABASE locks pg_database, and a session may hold a conflicting
 * lock for as long as it likes (the very lock a swap was canceled on).
 * The job's outcome is recorded only once the engine returns, so the
 * engine does not wait for that lock: if the drop cannot take it within
 * DROP_NOWAIT_MS, a "pgbackups restore cleanup" worker, connected to no
 * database, drops the database, waiting as long as it takes (on the
 * latch; SIGTERM and postmaster death end it, and the database then stays
 * for the maintenance worker's sweep of leftovers at the next start-up).
 * Without a free background worker slot, the engine drops it itself.
 *
 * src/restore/restore_drop.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"

#include "bgw_start.h"
#include "counters.h"
#include "pq_util.h"
#include "restore_int.h"

#define DROP_NOWAIT_MS 500

/* what the cleanup worker gets in bgw_extra */
typedef struct PgbDropArgs
{
	char		name[NAMEDATALEN];	/* the database to drop */
	char		avoid[NAMEDATALEN]; /* a database not to connect to */
} PgbDropArgs;

StaticAssertDecl(sizeof(PgbDropArgs) <= BGW_EXTRALEN,
				 "PgbDropArgs must fit in bgw_extra");

/* start the cleanup worker for name; false when no slot is free */
static bool
drop_in_background(const char *name, const char *avoid)
{
	PgbDropArgs args;
	PgbBgwSpec spec;
	char		bgw_name[BGW_MAXLEN];

	memset(&args, 0, sizeof(args));
	strlcpy(args.name, name, sizeof(args.name));
	strlcpy(args.avoid, avoid ? avoid : "", sizeof(args.avoid));
	snprintf(bgw_name, sizeof(bgw_name), "pgbackups restore cleanup %s", name);
	memset(&spec, 0, sizeof(spec));
	spec.function = "pgb_restore_drop_main";
	spec.type = "pgbackups restore cleanup";
	spec.name = bgw_name;
	spec.database = true;
	spec.extra = &args;
	spec.extra_len = sizeof(args);
	return pgb_bgw_start(&spec, NULL, NULL);
}

/*
 * pgb_restore_drop
 *		Drop database name over the leader's maintenance connection, or,
 *		when a session's lock on pg_database makes that wait, have the
 *		cleanup worker drop it.
 */
void
pgb_restore_drop(PgbRestore *r, const char *name)
{
	if (pgb_db_try_drop(r->maint, name, DROP_NOWAIT_MS))
		return;
	if (drop_in_background(name, r->params->target))
	{
		pgb_restore_log(r, "database \"%s\" is dropped in the background: a session holds a lock on pg_database",
						name);
		return;
	}
	pgb_restore_log(r, "waiting for a lock on pg_database to drop database \"%s\"", name);
	pgb_db_drop(r->maint, name);
}

/* the "pgbackups restore cleanup" worker */
void
pgb_restore_drop_main(Datum arg)
{
	PgbDropArgs args;
	PGconn	   *m;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pgb_count_process(PGB_PROC_OTHER);
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pgbackups");
	m = pgb_db_maintenance_connect(args.avoid[0] ? args.avoid : NULL, args.name);
	pgb_db_drop(m, args.name);
	pgb_pq_disconnect(m);
	ereport(LOG,
			(errmsg("pgbackups: dropped database \"%s\" left by a restore", args.name)));
	proc_exit(0);
}
