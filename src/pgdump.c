/*-------------------------------------------------------------------------
 *
 * pgdump.c
 *	  Runs pg_dump (same major version, beside the postgres binary unless
 *	  pgbackups.pg_dump_path says otherwise) as a child process.
 *
 * pg_dump is the authority on DDL: it writes an uncompressed custom
 * archive of everything except the data of the tables the capture copies
 * itself, reading the capture's exported snapshot (--snapshot).  The
 * child is started with fork/execv (no shell), its stderr goes to a file
 * that is quoted in the error if it fails, and the parent polls it with
 * waitpid(WNOHANG) between latch waits so cancellation stays prompt.  The
 * child is killed on every error path (pgb_pgdump_kill).
 *
 * src/pgdump.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/fd.h"

#include "guc.h"
#include "pgdump.h"

char *
pgb_pgdump_path(void)
{
	char		dir[MAXPGPATH];

	if (pgb_pg_dump_path && pgb_pg_dump_path[0])
		return pstrdup(pgb_pg_dump_path);
	strlcpy(dir, my_exec_path, sizeof(dir));
	get_parent_directory(dir);
	return psprintf("%s/pg_dump", dir);
}

PgbPgDump *
pgb_pgdump_start(const char *conninfo, const char *snapshot,
				 const char *encoding, List *exclude_patterns, const char *out_path)
{
	PgbPgDump  *d = palloc0(sizeof(PgbPgDump));
	char	   *path = pgb_pgdump_path();
	int			nargs = list_length(exclude_patterns) + 16;
	char	  **argv = palloc0(sizeof(char *) * nargs);
	int			i = 0;
	ListCell   *lc;
	pid_t		pid;
	int			errfd;

	if (access(path, X_OK) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("pg_dump not found at \"%s\"", path),
				 errhint("Install the PostgreSQL client of the server's major version, or set pgbackups.pg_dump_path.")));

	d->out_path = pstrdup(out_path);
	d->err_path = psprintf("%s.err.tmp", out_path);

	argv[i++] = path;
	argv[i++] = "--format=custom";
	argv[i++] = "--compress=0";
	argv[i++] = "--no-sync";
	argv[i++] = psprintf("--file=%s", out_path);
	argv[i++] = psprintf("--snapshot=%s", snapshot);
	/* the archive's ENCODING must match the COPY streams' client_encoding */
	argv[i++] = psprintf("--encoding=%s", encoding);
	argv[i++] = psprintf("--dbname=%s", conninfo);
	foreach(lc, exclude_patterns)
		argv[i++] = psprintf("--exclude-table-data=%s", (char *) lfirst(lc));
	argv[i] = NULL;

	errfd = open(d->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (errfd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", d->err_path)));

	fflush(NULL);
	pid = fork();
	if (pid < 0)
	{
		close(errfd);
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start pg_dump: %m")));
	}
	if (pid == 0)
	{
		/* child: no PostgreSQL code from here on */
		int			nullfd = open("/dev/null", O_RDWR);

		if (nullfd >= 0)
		{
			dup2(nullfd, 0);
			dup2(nullfd, 1);
		}
		dup2(errfd, 2);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		{
			sigset_t	none;

			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
		}
		execv(path, argv);
		_exit(127);
	}
	close(errfd);
	d->pid = pid;
	return d;
}

/* true once the child has exited */
bool
pgb_pgdump_poll(PgbPgDump *d)
{
	int			status;
	pid_t		rc;

	if (d == NULL || d->exited)
		return true;
	rc = waitpid(d->pid, &status, WNOHANG);
	if (rc == d->pid)
	{
		d->exited = true;
		d->status = status;
	}
	else if (rc < 0 && errno != EINTR)
	{
		d->exited = true;
		d->status = -1;
	}
	return d->exited;
}

static char *
read_stderr_tail(const char *path)
{
	FILE	   *f = AllocateFile(path, "r");
	char		buf[2048];
	size_t		n;
	long		size;

	if (f == NULL)
		return pstrdup("");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	if (size > (long) sizeof(buf) - 1)
		fseek(f, size - (long) sizeof(buf) + 1, SEEK_SET);
	else
		fseek(f, 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	FreeFile(f);
	return pchomp(buf);
}

/*
 * pgb_pgdump_finish
 *		Wait for the child (the caller polls first so cancellation works)
 *		and raise an error quoting its stderr if it failed.
 */
void
pgb_pgdump_finish(PgbPgDump *d)
{
	char	   *err;

	Assert(d->exited);
	err = read_stderr_tail(d->err_path);
	unlink(d->err_path);
	if (d->status != 0)
	{
		if (WIFEXITED(d->status) && WEXITSTATUS(d->status) == 127)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("could not execute pg_dump")));
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("pg_dump failed: %s", err[0] ? err : "no message"),
				 errdetail("pg_dump %s.",
						   WIFEXITED(d->status) ?
						   psprintf("exited with code %d", WEXITSTATUS(d->status)) :
						   psprintf("was terminated by signal %d", WTERMSIG(d->status)))));
	}
}

void
pgb_pgdump_kill(PgbPgDump *d)
{
	if (d == NULL || d->exited || d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	waitpid(d->pid, NULL, 0);
	d->exited = true;
	unlink(d->err_path);
}
