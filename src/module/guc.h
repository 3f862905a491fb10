/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  pgbackups configuration parameters (pgbackups.*).
 *
 * src/module/guc.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_GUC_H
#define PGB_GUC_H

extern char *pgb_storage_url;
extern int	pgb_max_workers;
extern int	pgb_default_parallel;
extern char *pgb_compression;
extern bool pgb_statistics;
extern int	pgb_split_table_size;
extern int	pgb_lock_timeout;
extern int	pgb_max_job_time;
extern bool pgb_free_space_check;
extern int	pgb_manual_retention;
extern int	pgb_max_decompressed_size;	/* MB */
extern char *pgb_pg_dump_path;
extern char *pgb_connect_user;
extern char *pgb_conninfo;
extern char *pgb_s3_endpoint;
extern char *pgb_s3_region;
extern char *pgb_s3_uri_style;
extern char *pgb_s3_access_key_id;
extern char *pgb_s3_secret_access_key;
extern char *pgb_s3_session_token;
extern int	pgb_s3_part_size;		/* MB */
extern int	pgb_s3_upload_concurrency;
extern int	pgb_s3_list_page_size;
extern char *pgb_ca_file;
extern int	pgb_http_timeout;		/* s */
extern int	pgb_http_retry_time;	/* s */
extern char *pgb_url_allowed_hosts;
extern char *pgb_restore_extensions;
extern bool pgb_restore_analyze;
extern bool pgb_restore_check_foreign_keys;
extern int	pgb_restore_maintenance_mem;	/* MB, per restore */
extern int	pgb_restore_parallel_maintenance;	/* -1: automatic */
extern int	pgb_url_max_size;		/* MB */
extern bool pgb_debug_clock;
extern char *pgb_debug_fault_point;	/* pgbackups.debug_fault (tests only) */
extern int	pgb_schedule_grace;		/* s */
extern char *pgb_webhook_url;
extern bool pgb_webhook_on_success;

#define PGB_MAX_PARALLEL 64

extern void pgb_guc_define(void);
extern char *pgb_default_storage_url(void);

/* tests only: stop here until killed when pgbackups.debug_fault names point */
extern void pgb_debug_fault(const char *point);

#endif							/* PGB_GUC_H */
