/*-------------------------------------------------------------------------
 *
 * disk_space.h
 *	  Free space checks before a job writes a lot to a local file system.
 *
 * src/storage/disk_space.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_DISK_SPACE_H
#define PGB_DISK_SPACE_H

/* the directory a database's files go to (its tablespace's, or base/) */
extern char *pgb_database_dir_for_tablespace(Oid spcoid);

/*
 * ERRCODE_DISK_FULL unless the file system of path has need bytes free and
 * a margin; what names the job step for the message.  Returns the free
 * bytes (-1 when they could not be read: nothing is checked then).
 */
extern int64 pgb_check_free_space(const char *path, int64 need, const char *what);

#endif							/* PGB_DISK_SPACE_H */
