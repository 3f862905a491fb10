/*-------------------------------------------------------------------------
 *
 * storage_check.h
 *	  The health of this cluster's storage (storage_check.c): what it holds
 *	  against the manifests and this catalog, and the removal of orphans.
 *
 * src/catalog/storage_check.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_STORAGE_CHECK_H
#define PGB_STORAGE_CHECK_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

typedef struct PgbStorageFinding
{
	const char *finding;		/* what it is: see storage_check.c */
	char	   *database;		/* the catalog database of its prefix; NULL: none */
	char	   *id;				/* the backup id, NULL if none */
	char	   *url;			/* the object, NULL for a summary */
	int64		size;			/* bytes; -1: none */
	int64		objects;		/* a summary's object count; -1: none */
	Interval   *age;			/* by the time in its name; NULL: unknown */
	char	   *detail;
	bool		removable;		/* an orphan the cleanup may remove once old enough */
	bool		removed;		/* the cleanup removed it */
} PgbStorageFinding;

/* the report under <root>/<system identifier>/ (a List of PgbStorageFinding *) */
extern List *pgb_storage_check(void);

/*
 * Remove (or, dry_run, only name) the orphans at least older_than old: what
 * was (or would be) removed, a List of PgbStorageFinding *.
 */
extern List *pgb_storage_cleanup(const Interval *older_than, bool dry_run);

#endif							/* PGB_STORAGE_CHECK_H */
