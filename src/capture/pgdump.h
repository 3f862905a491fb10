/*-------------------------------------------------------------------------
 *
 * pgdump.h
 *	  Runs the server's own pg_dump for the DDL of a capture.
 *
 * src/capture/pgdump.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_PGDUMP_H
#define PGB_PGDUMP_H

#include "nodes/pg_list.h"

typedef struct PgbPgDump
{
	pid_t		pid;
	char	   *out_path;
	char	   *err_path;
	char	   *pass_path;		/* passfile while pg_dump runs, or NULL */
	char	   *filter_path;	/* --filter file while pg_dump runs (17+) */
	bool		exited;
	int			status;			/* waitpid status once exited */
} PgbPgDump;

extern char *pgb_pgdump_path(void);
extern PgbPgDump *pgb_pgdump_start(const char *conninfo, const char *snapshot,
								   const char *encoding, List *exclude_patterns,
								   const char *out_path);
extern bool pgb_pgdump_poll(PgbPgDump *d);
extern void pgb_pgdump_finish(PgbPgDump *d);
extern void pgb_pgdump_kill(PgbPgDump *d);

#endif							/* PGB_PGDUMP_H */
