/*-------------------------------------------------------------------------
 *
 * job_hooks.h
 *	  What a job's worker (bgw/) gives the engine it runs (capture/,
 *	  restore/): cancel checks, the job's log, progress, and process
 *	  accounting against pgbackups.max_workers.  The engines know nothing
 *	  else of the job machinery.
 *
 * src/module/job_hooks.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_JOB_HOOKS_H
#define PGB_JOB_HOOKS_H

typedef struct PgbJobHooks
{
	void		(*check) (void);	/* may raise the job's cancel error */
	void		(*log) (const char *msg);	/* a line of the job's log */
	void		(*progress) (const char *phase, int done, int total, int64 bytes);
	bool		(*reserve_proc) (void);	/* one more process under max_workers? */
	void		(*release_proc) (void);
} PgbJobHooks;

#endif							/* PGB_JOB_HOOKS_H */
