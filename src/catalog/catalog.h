/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Reads and writes of the pgbackups.* tables.  Every function runs its
 *	  own transaction, so it must be called outside one (background workers
 *	  only).
 *
 * src/catalog/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_CATALOG_H
#define PGB_CATALOG_H

#include "nodes/pg_list.h"

typedef struct PgbBackupRow
{
	char	   *id;
	char	   *kind;
	char	   *database;
	char	   *status;
	char	   *compression;
	int			level;			/* -1 = default */
	int			parallel;
	char	   *location;
	char	   *table_rows;		/* jsonb text: rows per table at capture */
	bool		pinned;			/* pgbackups.pin(): kept until unpinned */
	char	   *schedule;		/* a scheduled backup's schedule */
	char	   *sha256;			/* of the completed archive */
} PgbBackupRow;

/* a restore (kind 'r') or copy (kind 'c') to record */
typedef struct PgbTransferRecord
{
	char		kind;
	const char *source;			/* b001, db::b001, a URL, or the copy's source */
	const char *location;		/* a restore's archive */
	const char *target;
	int			parallel;
	bool		keep_owner;
	bool		keep_acl;
	const char *expected_rows;	/* jsonb text: the capture's row counts */
	const char *sha256;			/* the capture's SHA-256, checked by the restore */
	const char *source_database;	/* whose data it is (NULL: a URL) */
	const char *requested_by;
} PgbTransferRecord;

typedef struct PgbCaptureResult PgbCaptureResult;

/* the catalog version this library writes (the control file's default_version) */
#define PGB_CATALOG_VERSION "1.7.0"

extern char *pgb_catalog_extension_version(void);
extern char *pgb_catalog_storage_prefix(void);
extern char *pgb_catalog_storage_prefix_for(const char *dbname);
extern char *pgb_catalog_insert_backup(const char *kind, const char *database,
									   const char *compression, int level, int parallel,
									   const char *label, const char *requested_by);
/* the same inside an open catalog transaction (catalog_spi.h), for a schedule's slot */
extern char *pgb_catalog_insert_backup_in_tx(const char *kind, const char *database,
											 const char *compression, int level, int parallel,
											 const char *label, const char *requested_by,
											 const char *schedule, const char *scheduled_for);
extern PgbBackupRow *pgb_catalog_get_backup(const char *id);
extern char *pgb_catalog_latest_completed(Oid roleid);
extern char *pgb_catalog_insert_transfer(const PgbTransferRecord *t);
extern char *pgb_catalog_newest_unfinished(void);
extern List *pgb_catalog_running_backups(void);
extern List *pgb_catalog_pending_backups(void);
extern void pgb_catalog_mark_running(const char *id, int pid);
extern char *pgb_catalog_assign_location(const char *id);
extern void pgb_catalog_mark_completed(const char *id, const PgbCaptureResult *res);
/* the same inside an open catalog transaction (catalog_spi.h) */
extern void pgb_catalog_mark_completed_in_tx(const char *id, const PgbCaptureResult *res);
extern void pgb_catalog_mark_ended(const char *id, const char *status,
								   const char *error, const char *sqlstate);
extern char *pgb_catalog_delete_backup(const char *id);
extern List *pgb_catalog_expire_manual(int keep);
/* inside an open catalog transaction (catalog_spi.h), after DELETE ... RETURNING id, location */
extern List *pgb_catalog_take_expired(uint64 n);
extern void pgb_catalog_log(const char *id, const char *message);

#endif							/* PGB_CATALOG_H */
