/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Expiry of old backups, run by a capture's job worker once its backup
 *	  is recorded completed: manual backups beyond
 *	  pgbackups.manual_retention (oldest first), and a schedule's backups
 *	  outside its grandfather-father-son set (catalog_schedule.c has the
 *	  rule).  Pinned backups are never expired, nor is the newest one.
 *
 * The rows go first (in one transaction), then for each backup its
 * manifest and then its archive; a failure to remove either is reported as
 * a WARNING and leaves an orphan (an archive whose manifest could not be
 * removed is kept, so no manifest ever names a missing archive), never a
 * row pointing at nothing.  Every expiry is logged on the new
 * backup's log and in the server log.
 *
 * src/sched/retention.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog.h"
#include "catalog_schedule.h"
#include "guc.h"
#include "manifest.h"
#include "retention.h"
#include "storage.h"

/* manifest, then archive; a failure is reported and does not stop the others */
static void
delete_archive(const char *location)
{
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		pgb_manifest_remove(location);
		pgb_storage_delete(location);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}

/* entries are "id location" */
static void
remove_expired(const char *job_id, List *expired, const char *why)
{
	ListCell   *lc;

	foreach(lc, expired)
	{
		char	   *entry = lfirst(lc);
		char	   *space = strchr(entry, ' ');

		*space = '\0';
		pgb_debug_fault("retention");	/* tests: rows deleted, files not yet */
		if (space[1] != '\0')
			delete_archive(space + 1);
		pgb_catalog_log(job_id, psprintf("expired backup %s (%s)", entry, why));
		ereport(LOG,
				(errmsg("pgbackups: expired backup %s (%s)", entry, why)));
	}
}

void
pgb_retention_manual(const char *job_id)
{
	remove_expired(job_id, pgb_catalog_expire_manual(pgb_manual_retention),
				   psprintf("pgbackups.manual_retention = %d", pgb_manual_retention));
}

void
pgb_retention_schedule(const char *job_id, const char *schedule)
{
	char	   *policy;
	List	   *expired = pgb_catalog_gfs_expire(schedule, &policy);

	if (policy)
		remove_expired(job_id, expired, psprintf("schedule \"%s\": %s", schedule, policy));
}
