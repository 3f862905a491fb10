/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Allocation of and lookups in the pgbackups shared state.
 *
 * Lookups here expect the caller to hold PgbShared->lock (shared for
 * reads, exclusive for changes); see shmem.h for what the lock protects.
 *
 * src/bgw/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "shmem.h"

PgbSharedState *PgbShared = NULL;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;

static void
pgb_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	PgbShared = ShmemInitStruct("pgbackups", sizeof(PgbSharedState), &found);
	if (!found)
	{
		memset(PgbShared, 0, sizeof(PgbSharedState));
		PgbShared->lock = &(GetNamedLWLockTranche("pgbackups"))->lock;
		PgbShared->next_generation = 1;
		ConditionVariableInit(&PgbShared->db_cv);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
pgb_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(PgbSharedState)));
	RequestNamedLWLockTranche("pgbackups", 1);
}

void
pgb_shmem_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pgb_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pgb_shmem_startup;
}

/* caller holds the lock exclusively when create is true */
PgbDbSlot *
pgb_db_slot(Oid dboid, bool create)
{
	int			i;
	PgbDbSlot  *free_slot = NULL;

	for (i = 0; i < PGB_MAX_DATABASES; i++)
	{
		PgbDbSlot  *s = &PgbShared->dbs[i];

		if (s->dboid == dboid)
			return s;
		if (s->dboid == InvalidOid && free_slot == NULL)
			free_slot = s;
	}
	if (!create || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(PgbDbSlot));
	free_slot->dboid = dboid;
	free_slot->state = PGB_DB_UNKNOWN;
	return free_slot;
}

PgbJobSlot *
pgb_job_find(Oid dboid, const char *id)
{
	int			i;

	for (i = 0; i < PGB_MAX_JOBS; i++)
	{
		PgbJobSlot *j = &PgbShared->jobs[i];

		if (j->in_use && j->dboid == dboid && strcmp(j->id, id) == 0)
			return j;
	}
	return NULL;
}

/* caller holds the lock */
int
pgb_procs_in_use(void)
{
	int			i,
				n = 0;

	for (i = 0; i < PGB_MAX_JOBS; i++)
	{
		PgbJobSlot *j = &PgbShared->jobs[i];

		if (j->in_use && j->launched && !j->exited)
			n += j->nprocs;
	}
	return n;
}

void
pgb_wake_launcher(void)
{
	Latch	   *l = PgbShared ? PgbShared->launcher_latch : NULL;

	if (l)
		SetLatch(l);
}
