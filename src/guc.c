/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Defines the pgbackups.* configuration parameters.
 *
 * Settings that carry credentials (pgbackups.conninfo) are superuser-only
 * and hidden from SHOW ALL; everything else can be read by anyone but only
 * changed in postgresql.conf (SIGHUP) or by a superuser.
 *
 * src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "compress.h"
#include "guc.h"

char	   *pgb_storage_url = NULL;
int			pgb_max_workers = 4;
int			pgb_default_parallel = 2;
char	   *pgb_compression = NULL;
int			pgb_manual_retention = 25;
int			pgb_max_decompressed_size = 1024 * 1024;
char	   *pgb_pg_dump_path = NULL;
char	   *pgb_connect_user = NULL;
char	   *pgb_conninfo = NULL;

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
	if (strncmp(v, "file://", 7) == 0)
	{
		if (v[7] != '/')
		{
			GUC_check_errdetail("A file:// storage URL must name an absolute directory, as in file:///var/lib/pgbackups.");
			return false;
		}
		return true;
	}
	if (strncmp(v, "s3://", 5) == 0)
		return true;			/* validated when used */
	GUC_check_errdetail("Supported storage URLs are file:///directory and s3://bucket/prefix.");
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
							   "gzip",
							   PGC_SUSET,
							   0,
							   check_compression, NULL, NULL);

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

	MarkGUCPrefixReserved("pgbackups");
}
