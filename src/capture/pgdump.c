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
 * waitpid(WNOHANG) between latch waits so cancellation stays prompt
 * (waitpid, not kill(pid, 0): a zombie or a reused PID never looks like a
 * running pg_dump).  The child is killed on every error path
 * (pgb_pgdump_kill: SIGTERM, a bounded wait for its exit, then SIGKILL),
 * and on Linux it never outlives its worker: it is started with
 * PR_SET_PDEATHSIG = SIGKILL, so a worker that is killed with SIGKILL, or
 * exits without reaching its error path (FATAL, the postmaster's crash
 * shutdown), takes its pg_dump with it.
 *
 * No secret goes on pg_dump's command line, which every local user can
 * read with ps: the connection string is rebuilt in key=value form without
 * its password (a postgres://user:password@host/db source of copy(), or a
 * password in pgbackups.conninfo), and the password is handed over in a
 * private passfile (mode 0600, in <data directory>/pgbackups_tmp) named by
 * passfile=.  The passfile is removed when pg_dump has ended (finish, kill),
 * when the memory context of the PgbPgDump is reset or deleted, and at
 * process exit; one left by a process killed with SIGKILL is removed by the
 * next pg_dump start of any worker (sweep_stale_passfiles).  The child's
 * environment is the server's own: no PGPASSWORD is added to it
 * (/proc/PID/environ is readable by the server's OS user).
 *
 * src/capture/pgdump.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guc.h"
#include "pgdump.h"
#include "pq_util.h"
#include "storage.h"

/*
 * Passfiles that exist right now in this process (one per running pg_dump;
 * a capture runs one), removed at process exit whatever happened before.
 */
#define PGB_MAX_PASSFILES 4

/* how long pgb_pgdump_kill waits after SIGTERM before SIGKILL */
#define PGDUMP_TERM_WAIT_MS 5000
static char *live_passfiles[PGB_MAX_PASSFILES];
static bool passfile_exit_registered = false;
static uint32 passfile_counter = 0;

static void
forget_passfile(const char *path)
{
	int			i;

	for (i = 0; i < PGB_MAX_PASSFILES; i++)
		if (live_passfiles[i] && strcmp(live_passfiles[i], path) == 0)
		{
			pfree(live_passfiles[i]);
			live_passfiles[i] = NULL;
		}
}

static void
passfiles_at_exit(int code, Datum arg)
{
	int			i;

	for (i = 0; i < PGB_MAX_PASSFILES; i++)
		if (live_passfiles[i])
			(void) unlink(live_passfiles[i]);
}

/* remove the passfile of d, if it has one (idempotent) */
static void
remove_passfile(PgbPgDump *d)
{
	if (d->pass_path == NULL)
		return;
	(void) unlink(d->pass_path);
	forget_passfile(d->pass_path);
	d->pass_path = NULL;
}

/* remove the --filter file of d, if it has one (idempotent) */
static void
remove_filter_file(PgbPgDump *d)
{
	if (d->filter_path == NULL)
		return;
	(void) unlink(d->filter_path);
	d->filter_path = NULL;
}

/* memory context callback: the PgbPgDump goes away with its context */
static void
passfile_reset_callback(void *arg)
{
	PgbPgDump  *d = (PgbPgDump *) arg;

	if (d->filter_path)
	{
		(void) unlink(d->filter_path);
		d->filter_path = NULL;
	}

	if (d->pass_path)
	{
		(void) unlink(d->pass_path);
		forget_passfile(d->pass_path);
		/* the string itself is freed with the context */
		d->pass_path = NULL;
	}
}

/* append s to buf with ':' and '\' escaped as a passfile field wants */
static void
append_passfile_field(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		if (*s == ':' || *s == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *s);
	}
}

/*
 * sweep_stale_passfiles
 *		Remove the passfiles of processes that no longer exist: one killed
 *		with SIGKILL (or a crash) had no chance to remove its own.  A file
 *		whose process is alive, or that does not look like ours, is kept.
 */
static void
sweep_stale_passfiles(const char *dir)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		int			pid;
		unsigned int n;
		char		tail[8];

		if (sscanf(de->d_name, "pgdump-%d-%u.%7s", &pid, &n, tail) != 3 ||
			strcmp(tail, "pass") != 0 || pid <= 0 || pid == MyProcPid)
			continue;
		if (kill(pid, 0) < 0 && errno == ESRCH)
		{
			char	   *path = psprintf("%s/%s", dir, de->d_name);

			if (unlink(path) == 0)
				ereport(LOG,
						(errmsg("removed passfile \"%s\" of process %d, which no longer exists",
								path, pid)));
			pfree(path);
		}
	}
	FreeDir(d);
}

/*
 * write_passfile
 *		Create a 0600 passfile in <data directory>/pgbackups_tmp holding
 *		password for any host, port, database and user; remember it in d
 *		(removed by remove_passfile, the context callback or at exit).
 */
static void
write_passfile(PgbPgDump *d, const char *password)
{
	StringInfoData line;
	char	   *path;
	char	   *dir;
	int			fd;
	int			i;
	ssize_t		n;

	if (strchr(password, '\n') != NULL || strchr(password, '\r') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a password containing a line break cannot be passed to pg_dump")));

	if (!passfile_exit_registered)
	{
		on_proc_exit(passfiles_at_exit, (Datum) 0);
		passfile_exit_registered = true;
	}
	for (i = 0; i < PGB_MAX_PASSFILES; i++)
		if (live_passfiles[i] == NULL)
			break;
	if (i == PGB_MAX_PASSFILES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many pg_dump processes in one pgbackups worker")));

	path = pgb_storage_temp_path(psprintf("pgdump-%d-%u.pass", MyProcPid,
										  passfile_counter++));
	dir = pstrdup(path);
	get_parent_directory(dir);
	sweep_stale_passfiles(dir);
	pfree(dir);
	(void) unlink(path);		/* a leftover of a crashed process */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
	live_passfiles[i] = MemoryContextStrdup(TopMemoryContext, path);
	d->pass_path = path;

	initStringInfo(&line);
	appendStringInfoString(&line, "*:*:*:*:");
	append_passfile_field(&line, password);
	appendStringInfoChar(&line, '\n');
	errno = 0;
	n = write(fd, line.data, line.len);
	/* the password is not left in freed memory */
	explicit_bzero(line.data, line.len);
	if (n != line.len || close(fd) != 0)
	{
		int			save_errno = errno ? errno : ENOSPC;

		if (n != line.len)
			(void) close(fd);
		remove_passfile(d);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path)));
	}
	pfree(line.data);
}

/*
 * dump_conninfo
 *		The connection string pg_dump gets on its command line: conninfo in
 *		key=value form without a password, plus passfile= naming a private
 *		passfile when conninfo had a password.
 */
static char *
dump_conninfo(PgbPgDump *d, const char *conninfo)
{
	char	   *password;
	char	   *safe = pgb_pq_conninfo_without_password(conninfo, &password);
	StringInfoData buf;

	if (password == NULL)
		return safe;
	write_passfile(d, password);
	explicit_bzero(password, strlen(password));
	pfree(password);
	initStringInfo(&buf);
	appendStringInfoString(&buf, safe);
	/* a passfile= of the conninfo is replaced: ours is read, not that one */
	pgb_pq_append_param(&buf, "passfile", d->pass_path);
	pfree(safe);
	return buf.data;
}

/*
 * exec_child
 *		In the forked child: stdin and stdout to /dev/null, stderr to errfd,
 *		default signal handling, and (Linux) SIGKILL when the parent dies,
 *		then exec pg_dump.  No PostgreSQL code runs here.
 */
static void
exec_child(const char *path, char **argv, int errfd, pid_t parent)
{
	int			nullfd = open("/dev/null", O_RDWR);
	sigset_t	none;

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
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
#if defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_PDEATHSIG)
	/* pg_dump dies with its worker, however the worker ends */
	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	/* the worker died before that took effect: nobody wants this pg_dump */
	if (getppid() != parent)
		_exit(1);
	execv(path, argv);
	/* stderr is pg_dump's error file: say why (async-signal-safe calls only) */
	{
		const char *why = strerror(errno);

		if (write(2, "could not execute pg_dump: ", 27) > 0 &&
			write(2, why, strlen(why)) > 0)
			(void) !write(2, "\n", 1);
	}
	_exit(127);
}

/*
 * check_arg_size
 *		Refuse, before anything is started, a command line that exec would
 *		refuse (E2BIG): argv and the environment together must fit in
 *		ARG_MAX.  Up to 16 each table the capture copies is one argument;
 *		17 and later pass them in a --filter file.
 */
static void
check_arg_size(char **argv, int nexcluded)
{
	extern char **environ;
	long		arg_max = sysconf(_SC_ARG_MAX);
	size_t		total = 0;
	char	  **p;

	if (arg_max <= 0)
		return;
	for (p = argv; *p; p++)
		total += strlen(*p) + 1 + sizeof(char *);
	for (p = environ; p && *p; p++)
		total += strlen(*p) + 1 + sizeof(char *);
	/* a margin for the auxiliary vector and the path */
	if (total + 4096 > (size_t) arg_max)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the command line of pg_dump would be too long: %zu bytes for %d tables, the system allows %ld",
						total, nexcluded, arg_max),
				 errdetail("pg_dump before version 17 takes one --exclude-table-data argument per table whose data pgbackups copies."),
				 errhint("PostgreSQL 17 and later pass the tables in a file. Here, a larger stack limit (ulimit -s) for the server raises the system's limit.")));
}

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

/*
 * write_filter_file
 *		pg_dump 17+ reads its exclusions from a --filter file, one line per
 *		table, so a database with tens of thousands of tables needs no
 *		command line of that size.  Inside a quoted name the filter file
 *		reads \\ as a backslash and \n as a line break; it drops a carriage
 *		return, so a pattern holding one stays on the command line
 *		(returned).
 */
#if PGB_HAVE_PGDUMP_FILTER
static List *
write_filter_file(PgbPgDump *d, List *patterns)
{
	StringInfoData buf;
	List	   *rest = NIL;
	ListCell   *lc;
	FILE	   *f;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "# tables whose data pgbackups copies itself\n");
	foreach(lc, patterns)
	{
		const char *pat = lfirst(lc);
		const char *p;

		if (strchr(pat, '\r') != NULL)
		{
			rest = lappend(rest, (void *) pat);
			continue;
		}
		appendStringInfoString(&buf, "exclude table_data ");
		for (p = pat; *p; p++)
		{
			if (*p == '\\')
				appendStringInfoString(&buf, "\\\\");
			else if (*p == '\n')
				appendStringInfoString(&buf, "\\n");
			else
				appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '\n');
	}
	d->filter_path = psprintf("%s.filter.tmp", d->out_path);
	f = AllocateFile(d->filter_path, PG_BINARY_W);
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", d->filter_path)));
	if (fwrite(buf.data, 1, buf.len, f) != (size_t) buf.len || FreeFile(f) != 0)
	{
		int			save_errno = errno ? errno : ENOSPC;

		remove_filter_file(d);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", d->filter_path)));
	}
	pfree(buf.data);
	return rest;
}
#endif

PgbPgDump *
pgb_pgdump_start(const char *conninfo, const char *snapshot,
				 const char *encoding, List *exclude_patterns, const char *out_path)
{
	PgbPgDump  *d = palloc0(sizeof(PgbPgDump));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	char	   *path = pgb_pgdump_path();
	int			nargs = list_length(exclude_patterns) + 16;
	char	  **argv = palloc0(sizeof(char *) * nargs);
	int			i = 0;
	ListCell   *lc;
	pid_t		pid;
	pid_t		parent = getpid();
	int			errfd;

	if (access(path, X_OK) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("pg_dump not found at \"%s\"", path),
				 errhint("Install the PostgreSQL client of the server's major version, or set pgbackups.pg_dump_path.")));

	d->out_path = pstrdup(out_path);
	d->err_path = psprintf("%s.err.tmp", out_path);
	cb->func = passfile_reset_callback;
	cb->arg = d;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);

	argv[i++] = path;
	argv[i++] = "--format=custom";
	argv[i++] = "--compress=0";
	argv[i++] = "--no-sync";
	argv[i++] = psprintf("--file=%s", out_path);
	argv[i++] = psprintf("--snapshot=%s", snapshot);
	if (pgb_lock_timeout > 0)
		argv[i++] = psprintf("--lock-wait-timeout=%d", pgb_lock_timeout);
	/* the archive's ENCODING must match the COPY streams' client_encoding */
	argv[i++] = psprintf("--encoding=%s", encoding);
	argv[i++] = psprintf("--dbname=%s", dump_conninfo(d, conninfo));
#if PGB_HAVE_PGDUMP_FILTER
	exclude_patterns = write_filter_file(d, exclude_patterns);
	argv[i++] = psprintf("--filter=%s", d->filter_path);
#endif
	foreach(lc, exclude_patterns)
		argv[i++] = psprintf("--exclude-table-data=%s", (char *) lfirst(lc));
#if PGB_HAVE_STATISTICS
	/* planner statistics in the archive (pg_dump 18 leaves them out by default) */
	argv[i++] = pgb_statistics ? "--statistics" : "--no-statistics";
#endif
	argv[i] = NULL;
	check_arg_size(argv, list_length(exclude_patterns));

	errfd = open(d->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (errfd < 0)
	{
		int			save_errno = errno;

		remove_passfile(d);
		remove_filter_file(d);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", d->err_path)));
	}

	fflush(NULL);
	pid = fork();
	if (pid < 0)
	{
		int			save_errno = errno;

		close(errfd);
		remove_passfile(d);
		remove_filter_file(d);
		errno = save_errno;
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not start pg_dump: %m")));
	}
	if (pid == 0)
		exec_child(path, argv, errfd, parent);
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

/* pg_dump gave up on a table lock (--lock-wait-timeout sets its statement_timeout) */
static bool
lock_timed_out(const char *err)
{
	return strstr(err, "LOCK TABLE") != NULL &&
		(strstr(err, "canceling statement due to statement timeout") != NULL ||
		 strstr(err, "canceling statement due to lock timeout") != NULL);
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
	remove_passfile(d);
	remove_filter_file(d);
	err = read_stderr_tail(d->err_path);
	unlink(d->err_path);
	if (d->status != 0)
	{
		if (WIFEXITED(d->status) && WEXITSTATUS(d->status) == 127)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("could not execute pg_dump")));
		ereport(ERROR,
				(errcode(lock_timed_out(err) ? ERRCODE_LOCK_NOT_AVAILABLE : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("pg_dump failed: %s", err[0] ? err : "no message"),
				 errdetail("pg_dump %s.",
						   WIFEXITED(d->status) ?
						   psprintf("exited with code %d", WEXITSTATUS(d->status)) :
						   psprintf("was terminated by signal %d", WTERMSIG(d->status)))));
	}
}

/*
 * wait_exit
 *		Wait up to ms for the child to exit (true if it did), reaping it.
 *		On Linux the wait is on a pidfd, which becomes readable when the
 *		child exits; elsewhere it is checked every 10 ms.  The latch is not
 *		watched and interrupts are not checked: this runs on error paths,
 *		where another ERROR must not be raised, and is bounded.  The process
 *		exits if the postmaster dies.
 */
static bool
wait_exit(PgbPgDump *d, int ms)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	int			pidfd = -1;

#if defined(__linux__) && defined(SYS_pidfd_open)
	pidfd = (int) syscall(SYS_pidfd_open, d->pid, 0);
#endif
	while (!pgb_pgdump_poll(d))
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);

		if (left <= 0)
			break;
		if (pidfd >= 0)
			(void) WaitLatchOrSocket(NULL, WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									 pidfd, left, PG_WAIT_EXTENSION);
		else
			(void) WaitLatch(NULL, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Min(left, 10), PG_WAIT_EXTENSION);
	}
	if (pidfd >= 0)
		close(pidfd);
	return d->exited;
}

/*
 * pgb_pgdump_kill
 *		Stop a running pg_dump: SIGTERM (pg_dump then cancels its query),
 *		and SIGKILL if it has not exited within PGDUMP_TERM_WAIT_MS.  Never
 *		raises an error; the child is always reaped.
 */
void
pgb_pgdump_kill(PgbPgDump *d)
{
	if (d == NULL)
		return;
	/* also when pg_dump has exited but pgb_pgdump_finish was not reached */
	remove_passfile(d);
	remove_filter_file(d);
	if (d->pid <= 0 || pgb_pgdump_poll(d))
		return;
	(void) kill(d->pid, SIGTERM);
	if (!wait_exit(d, PGDUMP_TERM_WAIT_MS))
	{
		(void) kill(d->pid, SIGKILL);
		while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
			;
		d->exited = true;
		d->status = -1;
	}
	unlink(d->err_path);
}
