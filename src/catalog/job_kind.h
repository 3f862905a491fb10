/*-------------------------------------------------------------------------
 *
 * job_kind.h
 *	  The kinds of pgbackups jobs, known by the first letter of their id:
 *	  b### manual and a### scheduled backups, r### restores, c### copies.
 *
 * src/catalog/job_kind.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_JOB_KIND_H
#define PGB_JOB_KIND_H

typedef struct PgbJobKind
{
	char		prefix;			/* first letter of the id */
	const char *noun;			/* "backup", "restore", "copy" in messages */
	const char *table;			/* the catalog table that records it */
	bool		transfer;		/* a restore or copy (runs the restore engine) */
	const char *units;			/* what its progress counts */
	const char *entry;			/* its worker's entry point in pgbackups.so */
} PgbJobKind;

/* the kind of job id; an unknown prefix answers the backup kind */
extern const PgbJobKind *pgb_job_kind(const char *id);

#endif							/* PGB_JOB_KIND_H */
