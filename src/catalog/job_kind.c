/*-------------------------------------------------------------------------
 *
 * job_kind.c
 *	  The table of job kinds: what an id's first letter means everywhere
 *	  (its noun in messages, its catalog table, which worker runs it).
 *
 * src/catalog/job_kind.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "job_kind.h"

static const PgbJobKind kinds[] = {
	{'b', "backup", "pgbackups.backups", false, "tables", "pgb_job_worker_main"},
	{'a', "backup", "pgbackups.backups", false, "tables", "pgb_job_worker_main"},
	{'r', "restore", "pgbackups.restores", true, "entries", "pgb_transfer_job_main"},
	{'c', "copy", "pgbackups.copies", true, "entries", "pgb_transfer_job_main"},
};

const PgbJobKind *
pgb_job_kind(const char *id)
{
	int			i;

	for (i = 0; i < lengthof(kinds); i++)
		if (id != NULL && id[0] == kinds[i].prefix)
			return &kinds[i];
	return &kinds[0];
}
