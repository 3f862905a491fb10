/*-------------------------------------------------------------------------
 *
 * access.h
 *	  The read rule for databases and the backups of them.
 *
 * src/api/access.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_ACCESS_H
#define PGB_ACCESS_H

#include "fmgr.h"

/* owner, pg_read_all_data or superuser; a missing database: the last two */
extern bool pgb_role_may_read_database(Oid roleid, const char *dbname);
extern bool pgb_role_may_read_database_tx(Oid roleid, const char *dbname);
extern bool pgb_may_read_database(Oid dboid);

/* fn(arg) as the bootstrap superuser with search_path = pg_catalog, pg_temp */
extern void pgb_run_as_superuser(void (*fn) (void *arg), void *arg);

/* a background worker's search_path: pg_catalog, pg_temp, over any default */
extern void pgb_pin_worker_settings(void);

/* 42704 if job id is not in this catalog, 42501 if the caller may not read it */
extern void pgb_check_job_access(const char *id);

#endif							/* PGB_ACCESS_H */
