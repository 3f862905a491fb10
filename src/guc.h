/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  pgbackups configuration parameters (pgbackups.*).
 *
 * src/guc.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_GUC_H
#define PGB_GUC_H

extern char *pgb_storage_url;
extern int	pgb_max_workers;
extern int	pgb_default_parallel;
extern char *pgb_compression;
extern int	pgb_manual_retention;
extern int	pgb_max_decompressed_size;	/* MB */
extern char *pgb_pg_dump_path;
extern char *pgb_connect_user;
extern char *pgb_conninfo;

#define PGB_MAX_PARALLEL 64

extern void pgb_guc_define(void);
extern char *pgb_default_storage_url(void);

#endif							/* PGB_GUC_H */
