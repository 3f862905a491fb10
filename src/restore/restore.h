/*-------------------------------------------------------------------------
 *
 * restore.h
 *	  The restore engine: an archive restored into a staging database by
 *	  parallel workers running as the target's owner, verified, then
 *	  swapped in for the target.
 *
 * src/restore/restore.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_RESTORE_H
#define PGB_RESTORE_H

#include "job_hooks.h"
#include "catalog_remote.h"

typedef struct PgbRestoreParams
{
	const char *job_id;
	Oid			catalog_db;
	const char *archive_path;	/* local file */
	const char *target;
	int			parallel;
	bool		keep_owner;
	bool		keep_acl;
	/* row counts recorded at capture (quoted qualified table names) */
	int			nexpected;
	char	  **expected_tables;
	int64	   *expected_rows;
	/* a pgbackups backup: its id and the SHA-256 the archive must have */
	const char *backup;
	const char *expected_sha256;	/* NULL: not checked */
	/* who requested the job: untrusted extensions need a superuser */
	const char *requester;
	bool		requester_superuser;
	PgbRemoteCatalog *rcat;

	/*
	 * copy(): the source its archive's data notes are read at
	 * (archive/data_source.c), under this exported snapshot; source_done
	 * is called once every such item is loaded (NULL: not called)
	 */
	const char *source_conninfo;
	const char *source_snapshot;
	void		(*source_done) (void);
} PgbRestoreParams;

/* true in stats->catalog_carried when the job's record moved with the swap */
typedef struct PgbRestoreResult
{
	PgbTransferStats stats;
	bool		catalog_carried;
} PgbRestoreResult;

extern void pgb_restore_check_target_catalog(PGconn *conn, const char *target);
extern void pgb_restore_finish(void);
extern void pgb_restore_run(const PgbRestoreParams *params, const PgbJobHooks *hooks,
							PgbRestoreResult *result);
extern void pgb_restore_cleanup(void);

#endif							/* PGB_RESTORE_H */
