/*-------------------------------------------------------------------------
 *
 * dbswap.h
 *	  Database-level steps of an atomic restore or copy, done over a
 *	  superuser libpq connection to a maintenance database: read the
 *	  target's properties, create the staging database like it, lock the
 *	  target out, swap the two by renaming, drop what is left.
 *
 * src/restore/dbswap.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_DBSWAP_H
#define PGB_DBSWAP_H

#include "libpq-fe.h"

typedef struct PgbDbInfo
{
	char	   *name;
	Oid			oid;
	char	   *owner;
	bool		owner_can_login;
	bool		owner_is_superuser;
	char	   *create_options; /* ENCODING ... LC_COLLATE ... for CREATE DATABASE */
	int			connlimit;
	char	   *props_sql;		/* GRANTs, settings, comment, for the new database */
} PgbDbInfo;

extern PGconn *pgb_db_maintenance_connect(const char *avoid1, const char *avoid2);
extern PgbDbInfo *pgb_db_info(PGconn *m, const char *name);
extern char *pgb_db_staging_name(Oid catalog_db, const char *job_id, const char *target);
extern char *pgb_db_old_name(Oid catalog_db, const char *job_id);

extern void pgb_db_create_staging(PGconn *m, const PgbDbInfo *target, const char *staging);
extern void pgb_db_drop(PGconn *m, const char *name);
extern bool pgb_db_try_drop(PGconn *m, const char *name, int timeout_ms);
extern void pgb_db_terminate_sessions(PGconn *m, const char *name, int keep_pid);
extern void pgb_db_end_sessions(PGconn *m, const char *name, int keep_pid);
extern void pgb_db_swap(PGconn *m, const PgbDbInfo *target, const char *staging,
						const char *old);

#endif							/* PGB_DBSWAP_H */
