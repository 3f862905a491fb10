/*-------------------------------------------------------------------------
 *
 * disk_space.c
 *	  Free space checks before a job writes a lot to a local file system:
 *	  a restore's or copy's staging database (a second copy of the target
 *	  and its WAL), a copy's temporary archive.  A clear DISK_FULL error
 *	  before anything is created beats a full pg_wal, which stops the whole
 *	  cluster.  pgbackups.free_space_check = off skips them.
 *
 * src/storage/disk_space.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/statvfs.h>

#include "catalog/pg_tablespace_d.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "disk_space.h"
#include "guc.h"

/* beyond the estimate: WAL segments, indexes' sort files, the catalog */
#define PGB_FREE_SPACE_MARGIN_BYTES ((int64) 256 * 1024 * 1024)

char *
pgb_database_dir_for_tablespace(Oid spcoid)
{
	if (spcoid == InvalidOid || spcoid == DEFAULTTABLESPACE_OID)
		return psprintf("%s/base", DataDir);
	return psprintf("%s/pg_tblspc/%u", DataDir, spcoid);
}

static char *
pretty(int64 bytes)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
															  Int64GetDatum(bytes))));
}

int64
pgb_check_free_space(const char *path, int64 need, const char *what)
{
	struct statvfs st;
	int64		avail;
	int64		want;

	if (statvfs(path, &st) != 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not read the free space of \"%s\": %m", path)));
		return -1;
	}
	avail = (int64) st.f_bavail * (int64) st.f_frsize;
	if (!pgb_free_space_check || need <= 0)
		return avail;
	want = need + need / 10 + PGB_FREE_SPACE_MARGIN_BYTES;
	if (avail < want)
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("not enough free disk space for %s: %s free in \"%s\", about %s needed",
						what, pretty(avail), path, pretty(want)),
				 errdetail("The estimate is %s of data plus 10%% and %s for WAL and sort files.",
						   pretty(need), pretty(PGB_FREE_SPACE_MARGIN_BYTES)),
				 errhint("Free space on that file system, or set pgbackups.free_space_check = off if the estimate is wrong.")));
	return avail;
}
