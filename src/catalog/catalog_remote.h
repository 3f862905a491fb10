/*-------------------------------------------------------------------------
 *
 * catalog_remote.h
 *	  Catalog writes of restore and copy jobs, over libpq.
 *
 * src/catalog/catalog_remote.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_CATALOG_REMOTE_H
#define PGB_CATALOG_REMOTE_H

#include "libpq-fe.h"

typedef struct PgbRemoteCatalog
{
	char	   *dbname;			/* the catalog database */
	char	   *job_id;			/* r### or c### */
	PGconn	   *conn;
} PgbRemoteCatalog;

typedef struct PgbTransferStats
{
	int			tables;
	int64		rows;
	int64		bytes;
} PgbTransferStats;

extern PGconn *pgb_rcat_conn(PgbRemoteCatalog *rc);
extern void pgb_rcat_close(PgbRemoteCatalog *rc);
extern void pgb_rcat_log(PgbRemoteCatalog *rc, const char *msg);
extern bool pgb_rcat_mark_running(PgbRemoteCatalog *rc, int pid);
extern void pgb_rcat_mark_ended(PgbRemoteCatalog *rc, const char *status, const char *error,
								const char *sqlstate, const PgbTransferStats *stats);
extern char *pgb_rcat_get(PgbRemoteCatalog *rc, const char *column);

#endif							/* PGB_CATALOG_REMOTE_H */
