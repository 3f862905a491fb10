/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Defines the pgbackups.* configuration parameters.
 *
 * Settings that carry credentials (pgbackups.conninfo) are superuser-only
 * and hidden from SHOW ALL; everything else can be read by anyone but only
 * changed in postgresql.conf (SIGHUP) or by a superuser.
 *
 * pgbackups.debug_clock and pgbackups.debug_fault are for tests only; the
 * fault points of the latter are reached through pgb_debug_fault().
 *
 * src/module/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "compress.h"
#include "guc.h"
#include "job_slot.h"
#include "url_scheme.h"

char	   *pgb_storage_url = NULL;
int			pgb_max_workers = 4;
int			pgb_default_parallel = 2;
char	   *pgb_compression = NULL;
bool		pgb_statistics = true;
int			pgb_split_table_size = 16384;
int			pgb_lock_timeout = 5000;
int			pgb_max_job_time = 0;
bool		pgb_free_space_check = true;
int			pgb_manual_retention = 25;
int			pgb_max_decompressed_size = 1024 * 1024;
char	   *pgb_pg_dump_path = NULL;
char	   *pgb_connect_user = NULL;
char	   *pgb_conninfo = NULL;
char	   *pgb_s3_endpoint = NULL;
char	   *pgb_s3_region = NULL;
char	   *pgb_s3_uri_style = NULL;
char	   *pgb_s3_access_key_id = NULL;
char	   *pgb_s3_secret_access_key = NULL;
char	   *pgb_s3_session_token = NULL;
int			pgb_s3_part_size = 16;
int			pgb_s3_upload_concurrency = 4;
int			pgb_s3_list_page_size = 1000;
char	   *pgb_ca_file = NULL;
int			pgb_http_timeout = 30;
int			pgb_http_retry_time = 60;
char	   *pgb_url_allowed_hosts = NULL;
char	   *pgb_restore_extensions = NULL;
bool		pgb_restore_analyze = true;
bool		pgb_restore_check_foreign_keys = false;
int			pgb_restore_maintenance_mem = 1024;
int			pgb_restore_parallel_maintenance = -1;
int			pgb_url_max_size = 1024 * 1024;
bool		pgb_debug_clock = false;
char	   *pgb_debug_fault_point = NULL;
int			pgb_schedule_grace = 3600;
char	   *pgb_webhook_url = NULL;
bool		pgb_webhook_on_success = false;

/*
 * The fault points pgbackups.debug_fault may name (tests only): a point's
 * name alone stops any job that reaches it; "capture.", "restore." or
 * "copy." before it stops only the leader of a job of that kind (a copy
 * runs the capture's points and then the restore's).
 */
static const char *const fault_points[] = {
	/* capture (and a copy's capture half) */
	"after_snapshot", "pgdump_running", "streams", "pgdump_done", "assembly",
	"uploading", "before_commit", "after_commit", "after_archive",
	"after_manifest", "after_record", "retention",
	/* restore (and a copy's restore half) */
	"captured", "after_scan", "staging", "pre_data", "data", "post_data",
	"analyzed", "verified", "before_swap", "swap_committed", "after_swap",
	NULL
};
static const char *const fault_kinds[] = {"capture", "restore", "copy", NULL};

static bool
check_debug_fault(char **newval, void **extra, GucSource source)
{
	const char *point = *newval;
	int			i;

	if (point == NULL || point[0] == '\0')
		return true;
	for (i = 0; fault_kinds[i] != NULL; i++)
	{
		size_t		len = strlen(fault_kinds[i]);

		if (strncmp(point, fault_kinds[i], len) == 0 && point[len] == '.')
		{
			point += len + 1;
			break;
		}
	}
	for (i = 0; fault_points[i] != NULL; i++)
		if (strcmp(point, fault_points[i]) == 0)
			return true;
	GUC_check_errdetail("A fault point is one of pgbackups' named points (such as \"after_archive\"), "
						"optionally prefixed with \"capture.\", \"restore.\" or \"copy.\".");
	return false;
}

static bool
check_compression(char **newval, void **extra, GucSource source)
{
	PgbCompressionSpec spec;
	char	   *err;

	if (!pgb_compression_parse(*newval, &spec, &err))
	{
		GUC_check_errdetail("%s", err);
		return false;
	}
	return true;
}

static bool
check_storage_url(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0')
		return true;
	if (pgb_url_scheme(v) == PGB_URL_FILE)
	{
		if (v[7] != '/')
		{
			GUC_check_errdetail("A file:// storage URL must name an absolute directory, as in file:///var/lib/pgbackups.");
			return false;
		}
		return true;
	}
	if (pgb_url_scheme(v) == PGB_URL_S3)
		return true;			/* validated when used */
	GUC_check_errdetail("Supported storage URLs are file:///directory and s3://bucket/prefix.");
	return false;
}

static bool
check_s3_endpoint(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;

	if (v == NULL || v[0] == '\0')
		return true;
	if (!pgb_url_is_web(v))
	{
		GUC_check_errdetail("An S3 endpoint is an http:// or https:// URL, as in https://s3.eu-west-1.amazonaws.com.");
		return false;
	}
	if (strchr(v + 8, '?') || strchr(v + 8, '#') || strchr(v, '@'))
	{
		GUC_check_errdetail("An S3 endpoint has no user, query or fragment.");
		return false;
	}
	return true;
}

static bool
check_restore_extensions(char **newval, void **extra, GucSource source)
{
	char	   *copy;
	List	   *names;
	bool		ok;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	copy = pstrdup(*newval);
	ok = SplitIdentifierString(copy, ',', &names);
	list_free(names);
	pfree(copy);
	if (!ok)
		GUC_check_errdetail("A comma-separated list of extension names is expected, as in postgres_fdw, dblink.");
	return ok;
}

static bool
check_uri_style(char **newval, void **extra, GucSource source)
{
	if (strcmp(*newval, "host") == 0 || strcmp(*newval, "path") == 0)
		return true;
	GUC_check_errdetail("Valid values are \"host\" (virtual-hosted, bucket.endpoint) and \"path\" (endpoint/bucket).");
	return false;
}

/*
 * pgb_default_storage_url
 *		The embedded default: a directory "pgbackups" next to the data
 *		directory, so it works with no configuration and is not inside
 *		PGDATA (where a base backup would copy it).
 */
char *
pgb_default_storage_url(void)
{
	char		parent[MAXPGPATH];

	strlcpy(parent, DataDir, sizeof(parent));
	get_parent_directory(parent);
	if (parent[0] == '\0')
		strlcpy(parent, DataDir, sizeof(parent));
	return psprintf("file://%s/pgbackups", parent);
}

void
pgb_guc_define(void)
{
	DefineCustomStringVariable("pgbackups.storage_url",
							   "Where archives are stored: file:///directory or s3://bucket/prefix.",
							   "Empty means file://<parent of the data directory>/pgbackups.",
							   &pgb_storage_url,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_storage_url, NULL, NULL);

	DefineCustomIntVariable("pgbackups.max_workers",
							"Maximum number of background worker processes pgbackups jobs use at once.",
							"A job needs one process, plus one per extra parallel stream when available.",
							&pgb_max_workers,
							4, 1, 256,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.default_parallel",
							"Default number of parallel COPY streams of a capture.",
							NULL,
							&pgb_default_parallel,
							2, 1, PGB_MAX_PARALLEL,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.compression",
							   "Default archive compression: none, gzip, lz4 or zstd, optionally with :level.",
							   "lz4 and zstd archives need pg_restore 16 or later.",
							   &pgb_compression,
							   PGB_DEFAULT_COMPRESSION,
							   PGC_SUSET,
							   0,
							   check_compression, NULL, NULL);

	DefineCustomBoolVariable("pgbackups.statistics",
							 "Include planner statistics in new backups (PostgreSQL 18 and later).",
							 "A restore then loads them, so the restored database needs no ANALYZE before its first queries. No effect before 18.",
							 &pgb_statistics,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.split_table_size",
							"Tables larger than this are copied in parts of about this size by several streams at once.",
							"A capture with parallel > 1 splits such a table into ctid ranges read under the same snapshot; the archive still holds one TABLE DATA entry per table. 0 never splits.",
							&pgb_split_table_size,
							16384, 0, INT_MAX / 2,
							PGC_SIGHUP,
							GUC_UNIT_BLOCKS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.lock_timeout",
							"How long a capture waits for a table lock before it fails; 0 waits forever.",
							"Bounds the coordinator's ACCESS SHARE locks, pg_dump's (--lock-wait-timeout) and the streams' COPY: a capture behind a queued ACCESS EXCLUSIVE request fails instead of holding the application behind that request.",
							&pgb_lock_timeout,
							5000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.max_job_time",
							"Longest run of one capture, restore or copy; 0 = no limit.",
							"Counted from the start of the job's worker: a job still running after this long fails with 57014, cleaned up as a cancel is.",
							&pgb_max_job_time,
							0, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("pgbackups.free_space_check",
							 "Check free disk space before a restore or copy builds its staging database.",
							 "The estimate is the source database's size at capture plus 10% and 256 MB; without room the job fails with 53100 before anything is created.",
							 &pgb_free_space_check,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.manual_retention",
							"Number of completed manual backups kept per database; the oldest expire.",
							NULL,
							&pgb_manual_retention,
							25, 1, 100000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.max_decompressed_size",
							"Largest decompressed size of one archive data entry a restore accepts.",
							"A cap against decompression bombs in archives from URLs.",
							&pgb_max_decompressed_size,
							1024 * 1024, 1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.pg_dump_path",
							   "Path of the pg_dump used for DDL.",
							   "Empty means the pg_dump installed beside the postgres binary.",
							   &pgb_pg_dump_path,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.connect_user",
							   "Role the worker's libpq connections use.",
							   "Empty means the bootstrap superuser, which matches Debian's peer and trust setups.",
							   &pgb_connect_user,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.conninfo",
							   "Extra libpq connection parameters for the worker's connections.",
							   "For example \"host=/var/run/postgresql passfile=/etc/pgbackups/pgpass\".",
							   &pgb_conninfo,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.s3_endpoint",
							   "S3 endpoint URL, for S3-compatible services.",
							   "Empty means https://s3.<region>.amazonaws.com.",
							   &pgb_s3_endpoint,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_s3_endpoint, NULL, NULL);

	DefineCustomStringVariable("pgbackups.s3_region",
							   "S3 region used in request signatures.",
							   NULL,
							   &pgb_s3_region,
							   "us-east-1",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.s3_uri_style",
							   "S3 addressing: host (bucket.endpoint/key) or path (endpoint/bucket/key).",
							   NULL,
							   &pgb_s3_uri_style,
							   "host",
							   PGC_SIGHUP,
							   0,
							   check_uri_style, NULL, NULL);

	DefineCustomStringVariable("pgbackups.s3_access_key_id",
							   "S3 access key id.",
							   NULL,
							   &pgb_s3_access_key_id,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.s3_secret_access_key",
							   "S3 secret access key.",
							   NULL,
							   &pgb_s3_secret_access_key,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.s3_session_token",
							   "S3 session token of temporary credentials.",
							   NULL,
							   &pgb_s3_session_token,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.s3_part_size",
							"Smallest part size of S3 multipart uploads.",
							"Parts grow so that any archive fits in 10,000 parts.",
							&pgb_s3_part_size,
							16, 5, 5 * 1024,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.s3_upload_concurrency",
							"Number of parts of one S3 upload in flight at once.",
							NULL,
							&pgb_s3_upload_concurrency,
							4, 1, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.s3_list_page_size",
							"Number of keys asked for per page of an S3 listing.",
							"At most 1000, S3's own limit; listings always follow every page.",
							&pgb_s3_list_page_size,
							1000, 1, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.ca_file",
							   "CA certificates (PEM) trusted for HTTPS, instead of the system's.",
							   "Used for S3 and restore_from_url.",
							   &pgb_ca_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.http_timeout",
							"Connect timeout, and how long a transfer may stay below 1 kB/s.",
							NULL,
							&pgb_http_timeout,
							30, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.http_retry_time",
							"How long one HTTP request is retried after transient failures.",
							"5xx, 429, timeouts and resets are retried with exponential backoff; other 4xx fail at once.",
							&pgb_http_retry_time,
							60, 0, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.url_allowed_hosts",
							   "Hosts restore_from_url may reach over http:// and at private or loopback addresses.",
							   "Comma-separated host names or IP literals, as written in URLs.",
							   &pgb_url_allowed_hosts,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.restore_extensions",
							   "Untrusted extensions a restore may install for a database owner who is not a superuser.",
							   "Comma-separated extension names.  Untrusted extensions not listed are "
							   "installed only by restores and copies a superuser requested.",
							   &pgb_restore_extensions,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   check_restore_extensions, NULL, NULL);

	DefineCustomBoolVariable("pgbackups.restore_analyze",
							 "ANALYZE the tables a restore or copy loaded, in parallel, before the swap.",
							 "Tables whose statistics the archive carries (PostgreSQL 18 archives) are not analyzed. "
							 "Off: the restored database gets its statistics from autovacuum or a manual ANALYZE.",
							 &pgb_restore_analyze,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pgbackups.restore_check_foreign_keys",
							 "Check every row against each foreign key, also when the rows come from one snapshot.",
							 "Off: a restore of a pgbackups backup (its SHA-256 checked) or a copy creates the foreign keys "
							 "that were valid at the capture valid without reading their rows again.  Archives from URLs "
							 "are always checked.",
							 &pgb_restore_check_foreign_keys,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.restore_maintenance_work_mem",
							"Memory for the index and constraint builds of one restore or copy, shared by its workers.",
							"Each worker gets an equal share as its maintenance_work_mem, never less than the server's "
							"maintenance_work_mem.  0: the server's maintenance_work_mem.",
							&pgb_restore_maintenance_mem,
							1024, 0, INT_MAX / 1024,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.restore_parallel_maintenance_workers",
							"max_parallel_maintenance_workers of a restore's workers (parallel index builds).",
							"-1: the restore's other workers (parallel - 1), at most the server's "
							"max_parallel_maintenance_workers.",
							&pgb_restore_parallel_maintenance,
							-1, -1, 1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.url_max_size",
							"Largest archive restore_from_url downloads.",
							NULL,
							&pgb_url_max_size,
							1024 * 1024, 1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgbackups.schedule_grace",
							"How late a scheduled backup may still start.",
							"A slot missed by more (server down, scheduler stopped) is recorded as missed; "
							"the health view calls a schedule late this long after a slot without a backup.",
							&pgb_schedule_grace,
							3600, 0, 7 * 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.webhook_url",
							   "URL that receives a JSON POST when a job fails or a scheduled run is missed.",
							   "Empty: no webhook.  http:// and internal addresses are allowed (a superuser sets it).",
							   &pgb_webhook_url,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("pgbackups.webhook_on_success",
							 "Also POST to pgbackups.webhook_url when a job completes.",
							 NULL,
							 &pgb_webhook_on_success,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pgbackups.debug_clock",
							 "Lets a superuser set the scheduler's clock with pgbackups.set_clock() (tests only).",
							 NULL,
							 &pgb_debug_clock,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("pgbackups.debug_fault",
							   "A fault point where a pgbackups process stops until killed (tests only).",
							   "after_archive: a capture's job worker, once the archive is durable and before its manifest is stored. Empty: none.",
							   &pgb_debug_fault_point,
							   "",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE,
							   check_debug_fault, NULL, NULL);

	MarkGUCPrefixReserved("pgbackups");
}

/*
 * pgb_debug_fault
 *		Tests only: if pgbackups.debug_fault names point, log it and wait
 *		until the process is killed (kill -9 simulates a crash at this
 *		point; SIGTERM ends it as a FATAL error would).  Otherwise return at
 *		once.
 */
void
pgb_debug_fault(const char *point)
{
	const char *id = pgb_job_id();
	const char *kind = NULL;
	const char *set = pgb_debug_fault_point;

	if (set == NULL || set[0] == '\0')
		return;
	if (id != NULL)
		kind = id[0] == 'r' ? "restore" : id[0] == 'c' ? "copy" :
			(id[0] == 'b' || id[0] == 'a') ? "capture" : NULL;
	if (strcmp(set, point) != 0 &&
		(kind == NULL || strncmp(set, kind, strlen(kind)) != 0 ||
		 set[strlen(kind)] != '.' || strcmp(set + strlen(kind) + 1, point) != 0))
		return;
	ereport(LOG,
			(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
			 errmsg("pgbackups: process %d reached fault point \"%s\" of job %s, waiting to be killed",
					MyProcPid, set, id && id[0] ? id : "(none)")));
	for (;;)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
