/*-------------------------------------------------------------------------
 *
 * restore_plan.h
 *	  What a restore runs and in which order: the selection of TOC entries,
 *	  pg_restore's three passes, the dependency graph of the parallel phase
 *	  and the archive's session settings (encoding, strings, search_path).
 *
 * src/restore/restore_plan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_RESTORE_PLAN_H
#define PGB_RESTORE_PLAN_H

#include "archive.h"

typedef enum PgbRestorePass
{
	PGB_PASS_MAIN = 0,
	PGB_PASS_ACL,
	PGB_PASS_POST_ACL
} PgbRestorePass;

typedef enum PgbItemAction
{
	PGB_ACT_SKIP = 0,			/* not restored (see skip_reason) */
	PGB_ACT_WORKER,				/* archive SQL and data, run as the owner */
	PGB_ACT_EXTENSION			/* CREATE EXTENSION, run by the leader as
								 * superuser (restore.c turns the ones the
								 * owner may create into PGB_ACT_WORKER) */
} PgbItemAction;

typedef enum PgbItemState
{
	PGB_ITEM_WAITING = 0,
	PGB_ITEM_RUNNING,
	PGB_ITEM_DONE
} PgbItemState;

typedef struct PgbRestoreItem
{
	int			toc_index;		/* index into the archive's TOC */
	PgbTocEntry *te;
	PgbItemAction action;
	const char *skip_reason;
	PgbRestorePass pass;
	bool		pre_data;		/* restored serially, in TOC order, first */
	bool		has_data;		/* a data block follows in the archive */
	uint64		data_size;		/* stored size of the data block */
	uint64		priority;		/* hand-out order: largest data near it first */
	/* dependency graph of the parallel phase (item indices) */
	int			ndeps;
	int		   *deps;
	int			nrevdeps;
	int		   *revdeps;
	int			depcount;		/* unfinished dependencies */
	int			nlocks;
	int		   *locks;			/* dumpIds of tables it locks exclusively */
	PgbItemState state;
	/*
	 * TABLE DATA written in parts (data_parts.c): each part is handed to a
	 * worker of its own, and the item is done when every part is
	 */
	int			nparts;			/* 0: one item */
	bool		at_source;		/* a copy's: read at the source (data_source.c) */
	int			parts_started;
	int			parts_done;
	int64		parts_rows;
	int64		parts_bytes;
	struct PgbPartResult *parts; /* per part, for the gzip check */
} PgbRestoreItem;

/* an item in parts with a part not yet handed out */
static inline bool
pgb_restore_part_left(const PgbRestoreItem *it)
{
	return it->nparts > 1 && it->state == PGB_ITEM_RUNNING &&
		it->parts_started < it->nparts;
}

typedef struct PgbRestorePlan
{
	const PgbArchive *ar;
	int			nitems;			/* == ar->ntoc */
	PgbRestoreItem *items;
	int			nskipped;
} PgbRestorePlan;

/* session settings an archive asks for */
typedef struct PgbArchiveSession
{
	int			encoding;		/* PG_* encoding id of the archive's text */
	bool		std_strings;
	char	   *searchpath;		/* the SEARCHPATH entry's SQL, or NULL */
} PgbArchiveSession;

extern void pgb_archive_session(const PgbArchive *ar, PgbArchiveSession *s);

/* whether an entry has type desc ("TABLE DATA"...), and how logs name it */
extern bool pgb_toc_is(const PgbTocEntry *te, const char *desc);
extern char *pgb_restore_entry_name(const PgbTocEntry *te);

extern PgbRestorePlan *pgb_restore_plan_build(const PgbArchive *ar, bool keep_acl);

/* split tables loaded whole when no WAL is written for them; their number */
extern int	pgb_restore_plan_whole_tables(PgbRestorePlan *plan, int nworkers);

/* parallel phase: the next item a worker may start, or -1 */
extern int	pgb_restore_plan_next(PgbRestorePlan *plan, PgbRestorePass pass,
								  const int *running, int nrunning);
extern void pgb_restore_plan_done(PgbRestorePlan *plan, int item);
extern bool pgb_restore_plan_pass_left(PgbRestorePlan *plan, PgbRestorePass pass);

/* the "TYPE name" part of ALTER ... OWNER TO for an entry, or NULL */
extern char *pgb_restore_owner_target(const PgbTocEntry *te);

/* a CREATE EXTENSION entry: its parsed name and schema, and the SQL run */
extern void pgb_restore_parse_extension(const PgbTocEntry *te, char **name, char **schema);
extern char *pgb_restore_extension_sql(const char *name, const char *schema);

#endif							/* PGB_RESTORE_PLAN_H */
