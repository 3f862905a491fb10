/*-------------------------------------------------------------------------
 *
 * pq_util.c
 *	  libpq connections from pgbackups workers to the local server.
 *
 * Every wait is on the latch and the socket, so cancellation, SIGTERM and
 * postmaster death are noticed within 100 ms.  An open connection keeps one
 * WaitEventSet for its socket (a COPY reader waits once per network packet:
 * building an epoll set for each wait cost a capture stream several
 * system calls per 8 kB).  Connections are counted
 * as external file descriptors and remembered, so an error path can close
 * all of them (pgb_pq_disconnect_all); when the process exits (even on
 * FATAL, e.g. pg_terminate_backend), a query still running on any of them
 * is canceled first, so that no server session keeps working, or keeps a
 * transaction waiting on a lock, for a process that is gone.  A PGresult
 * never outlives the call that received it: errors are raised only after
 * PQclear, with the server's own SQLSTATE, detail, hint and context.
 *
 * Cancel and roll back (pgb_pq_abort): a caller whose wait was interrupted
 * (a cancel request, an error) sends the server a cancel request
 * (PQcancel), drains the results and rolls the transaction back, waiting
 * on the latch with interrupts held for a bounded time, so a clean-up never
 * raises and never hangs.  Some waits must not be interrupted at all: once
 * a COMMIT is sent, its outcome is what the caller must report
 * (pgb_pq_exec_uninterruptible).
 *
 * How the worker authenticates: it connects over the server's first Unix
 * socket directory (or localhost when there is none) and port, as
 * pgbackups.connect_user (default: the bootstrap superuser, which Debian's
 * peer and the initdb trust defaults accept), with application_name
 * pgbackups, followed by anything in pgbackups.conninfo (e.g. a passfile).
 * A password there (or in a postgres:// URL given to copy()) is used by
 * libpq in this process; for a pg_dump child, the connection string is
 * rebuilt without it (pgb_pq_conninfo_without_password) and the password
 * goes through a private passfile (pgdump.c).
 *
 * src/net/pq_util.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/postmaster.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "guc.h"
#include "pq_util.h"

#define PGB_MAX_CONNS 128

static PGconn *open_conns[PGB_MAX_CONNS];

/* open_conns[i]'s wait set: latch, postmaster death, then its socket */
static WaitEventSet *conn_waits[PGB_MAX_CONNS];
static pgsocket conn_wait_sock[PGB_MAX_CONNS];
static bool conn_wait_write[PGB_MAX_CONNS];

#define WAIT_POS_SOCKET 2
static PgbInterruptCheck interrupt_check = NULL;
static bool exit_callback_registered = false;

static void cancel_active(PGconn *conn);
pg_noreturn static void raise_error(PGconn *conn, PGresult *res,
									const char *what, const char *context);

/* returns the check it replaces */
PgbInterruptCheck
pgb_pq_set_interrupt_check(PgbInterruptCheck fn)
{
	PgbInterruptCheck was = interrupt_check;

	interrupt_check = fn;
	return was;
}

void
pgb_pq_check_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
	if (interrupt_check)
		interrupt_check();
}

/*
 * pgb_pq_append_param
 *		Append key='value' to a key=value connection string, quoting the
 *		value the way libpq reads it (backslash before ' and \).
 */
void
pgb_pq_append_param(StringInfo buf, const char *key, const char *value)
{
	const char *p;

	appendStringInfo(buf, "%s%s='", buf->len > 0 ? " " : "", key);
	for (p = value; *p; p++)
	{
		if (*p == '\'' || *p == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '\'');
}

static char *
bootstrap_superuser_name(void)
{
	MemoryContext ctx = CurrentMemoryContext;
	char	   *name;

	if (IsTransactionState())
		return pstrdup(GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false));
	StartTransactionCommand();
	name = MemoryContextStrdup(ctx, GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false));
	CommitTransactionCommand();
	MemoryContextSwitchTo(ctx);
	return name;
}

/* the role of pgb_pq_conninfo: pgbackups.connect_user, else the bootstrap superuser */
const char *
pgb_pq_conninfo_user(void)
{
	if (pgb_connect_user && pgb_connect_user[0])
		return pgb_connect_user;
	return bootstrap_superuser_name();
}

/*
 * pgb_pq_conninfo
 *		Connection string for the local server and the given database.
 *		Must run in a process with a database connection (to look up the
 *		bootstrap superuser's name).
 */
char *
pgb_pq_conninfo(const char *dbname)
{
	StringInfoData buf;
	char		port[16];
	char	   *host = NULL;

	initStringInfo(&buf);
	if (Unix_socket_directories && Unix_socket_directories[0] != '\0')
	{
		char	   *dirs = pstrdup(Unix_socket_directories);
		char	   *comma = strchr(dirs, ',');

		if (comma)
			*comma = '\0';
		host = dirs;
		while (*host == ' ')
			host++;
		/* "@" prefixes are abstract sockets */
	}
	pgb_pq_append_param(&buf, "host", host && host[0] ? host : "localhost");
	snprintf(port, sizeof(port), "%d", PostPortNumber);
	pgb_pq_append_param(&buf, "port", port);
	pgb_pq_append_param(&buf, "dbname", dbname);
	pgb_pq_append_param(&buf, "user", pgb_pq_conninfo_user());
	pgb_pq_append_param(&buf, "application_name", "pgbackups");
	if (pgb_conninfo && pgb_conninfo[0])
		appendStringInfo(&buf, " %s", pgb_conninfo);
	return buf.data;
}

/*
 * pgb_pq_conninfo_without_password
 *		Rebuild a connection string (key=value or a postgres:// URL, as libpq
 *		parses it) in key=value form without its password, which goes to
 *		*password (NULL when there is none).  Secrets must never reach a
 *		command line: a child process gets the rest of the string and the
 *		password through a private passfile.  The result is palloc'd; the
 *		conninfo is not quoted in the error, since it may hold the password.
 */
char *
pgb_pq_conninfo_without_password(const char *conninfo, char **password)
{
	PQconninfoOption *opts;
	PQconninfoOption *o;
	char	   *parse_error = NULL;
	StringInfoData buf;

	*password = NULL;
	opts = PQconninfoParse(conninfo, &parse_error);
	if (opts == NULL)
	{
		/* libpq's message may quote part of the string: not shown */
		if (parse_error)
			PQfreemem(parse_error);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid connection string")));
	}
	initStringInfo(&buf);
	for (o = opts; o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "password") == 0)
		{
			if (o->val[0] != '\0')
				*password = pstrdup(o->val);
			continue;
		}
		pgb_pq_append_param(&buf, o->keyword, o->val);
	}
	PQconninfoFree(opts);
	return buf.data;
}

/* on process exit: cancel what still runs, then hang up */
static void
pq_exit(int code, Datum arg)
{
	pgb_pq_disconnect_all();
}

/* the slot of an open connection in open_conns, or -1 */
static int
conn_slot(PGconn *conn)
{
	int			i;

	if (conn == NULL)
		return -1;
	for (i = 0; i < PGB_MAX_CONNS; i++)
		if (open_conns[i] == conn)
			return i;
	return -1;
}

/* open_conns[i]'s wait set is freed (before the connection closes) */
static void
forget_wait_set(int i)
{
	if (conn_waits[i])
		FreeWaitEventSet(conn_waits[i]);
	conn_waits[i] = NULL;
}

static void
remember(PGconn *conn)
{
	int			i;

	if (!exit_callback_registered)
	{
		before_shmem_exit(pq_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	for (i = 0; i < PGB_MAX_CONNS; i++)
		if (open_conns[i] == NULL)
		{
			forget_wait_set(i);
			open_conns[i] = conn;
			return;
		}
	PQfinish(conn);
	ReleaseExternalFD();
	ereport(ERROR,
			(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
			 errmsg("too many pgbackups connections in one worker")));
}

PGconn *
pgb_pq_connect(const char *conninfo)
{
	PGconn	   *conn;

	if (!AcquireExternalFD())
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to the local server"),
				 errdetail("There are too many open files on the local server.")));
	conn = PQconnectStart(conninfo);
	if (conn == NULL)
	{
		ReleaseExternalFD();
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while connecting to the local server")));
	}
	remember(conn);
	if (PQstatus(conn) != CONNECTION_BAD)
	{
		PostgresPollingStatusType st = PGRES_POLLING_WRITING;

		while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
		{
			pgb_pq_wait_socket(conn, st == PGRES_POLLING_WRITING);
			st = PQconnectPoll(conn);
		}
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = pchomp(PQerrorMessage(conn));
		const char *h = PQhost(conn);
		char	   *host = h ? pstrdup(h) : NULL;
		bool		local = host == NULL || host[0] == '\0' || host[0] == '/';

		pgb_pq_disconnect(conn);
		if (!local)
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to the source server \"%s\"", host),
					 errdetail_internal("%s", msg)));
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not connect to the local server"),
				 errdetail_internal("%s", msg),
				 errhint("Check pgbackups.connect_user, pgbackups.conninfo and pg_hba.conf: the worker connects as a superuser over the local socket.")));
	}
	if (PQsetnonblocking(conn, 1) != 0)
		elog(ERROR, "could not make libpq connection non-blocking");

	/*
	 * The session runs as a superuser in a database whose owner may have set
	 * its search_path (ALTER DATABASE ... SET): pin it before any query, so
	 * none of ours resolves to the owner's functions or operators.
	 */
	PG_TRY();
	{
		PQclear(pgb_pq_exec(conn, "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false)",
							PGRES_TUPLES_OK));
	}
	PG_CATCH();
	{
		pgb_pq_disconnect(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return conn;
}

/* a query still running on the server is canceled before we hang up */
static void
cancel_active(PGconn *conn)
{
	if (PQtransactionStatus(conn) == PQTRANS_ACTIVE)
	{
		PGcancel   *c = PQgetCancel(conn);
		char		errbuf[256];

		if (c)
		{
			(void) PQcancel(c, errbuf, sizeof(errbuf));
			PQfreeCancel(c);
		}
	}
}

void
pgb_pq_disconnect(PGconn *conn)
{
	int			i;

	if (conn == NULL)
		return;
	for (i = 0; i < PGB_MAX_CONNS; i++)
		if (open_conns[i] == conn)
		{
			forget_wait_set(i);
			open_conns[i] = NULL;
		}
	cancel_active(conn);
	PQfinish(conn);
	ReleaseExternalFD();
}

/* whether conn is still open (pgb_pq_disconnect_all closes every one) */
bool
pgb_pq_is_open(PGconn *conn)
{
	return conn_slot(conn) >= 0;
}

void
pgb_pq_disconnect_all(void)
{
	int			i;

	for (i = 0; i < PGB_MAX_CONNS; i++)
		if (open_conns[i])
		{
			forget_wait_set(i);
			cancel_active(open_conns[i]);
			PQfinish(open_conns[i]);
			open_conns[i] = NULL;
			ReleaseExternalFD();
		}
}

/*
 * pgb_pq_error
 *		Raise the error of a failed libpq call.  A server error keeps its
 *		own SQLSTATE, message, detail, hint and context (as postgres_fdw's
 *		pgfdw_report_error does); context (may be NULL) is added to the
 *		server's context.  Without a result (the connection failed) the code is
 *		connection_failure, with libpq's message.  Clears res.
 */
void
pgb_pq_error(PGconn *conn, PGresult *res, const char *context)
{
	raise_error(conn, res, NULL, context);
}

/*
 * pgb_pq_error_in
 *		The same, the message prefixed with what failed ("could not swap
 *		...: <the server's message>").
 */
void
pgb_pq_error_in(PGconn *conn, PGresult *res, const char *what)
{
	raise_error(conn, res, what, NULL);
}

/* the SQLSTATE of an error result as an errcode, or 0 */
int
pgb_pq_result_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (s == NULL || strlen(s) != 5)
		return 0;
	return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}

static void
raise_error(PGconn *conn, PGresult *res, const char *what, const char *context)
{
	int			sqlstate = ERRCODE_CONNECTION_FAILURE;
	char	   *primary = NULL;
	char	   *detail = NULL;
	char	   *hint = NULL;
	char	   *remote_context = NULL;

	if (res)
	{
		const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		const char *h = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
		const char *c = PQresultErrorField(res, PG_DIAG_CONTEXT);
		ExecStatusType st = PQresultStatus(res);

		if (s && strlen(s) == 5)
			sqlstate = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
		if (m)
			primary = pstrdup(m);
		else if (st != PGRES_FATAL_ERROR && st != PGRES_NONFATAL_ERROR &&
				 st != PGRES_BAD_RESPONSE)
		{
			/* a result, but not the kind the caller expected */
			sqlstate = ERRCODE_PROTOCOL_VIOLATION;
			primary = psprintf("unexpected result from the server: %s", PQresStatus(st));
		}
		if (d)
			detail = pstrdup(d);
		if (h)
			hint = pstrdup(h);
		if (c)
			remote_context = pstrdup(c);
		PQclear(res);
	}
	if (primary == NULL)
		primary = pchomp(PQerrorMessage(conn));
	if (what)
		primary = psprintf("%s: %s", what, primary);
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", primary),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 remote_context ? errcontext("%s", remote_context) : 0,
			 context ? errcontext("%s", context) : 0));
}

/*
 * conn_wait_set
 *		The kept wait set of an open connection for its current socket, set
 *		to wait for for_write; NULL for a connection that is not open yet
 *		(libpq may still change its socket while it connects).
 */
static WaitEventSet *
conn_wait_set(PGconn *conn, bool for_write)
{
	pgsocket	sock = PQsocket(conn);
	uint32		events = for_write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE;
	int			i = conn_slot(conn);

	if (i < 0 || PQstatus(conn) != CONNECTION_OK || sock == PGINVALID_SOCKET)
		return NULL;
	if (conn_waits[i] && conn_wait_sock[i] != sock)
		forget_wait_set(i);
	if (conn_waits[i] == NULL)
	{
		WaitEventSet *set = pgb_create_wait_event_set(TopMemoryContext, 3);

		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		if (AddWaitEventToSet(set, events, sock, NULL, NULL) != WAIT_POS_SOCKET)
			elog(ERROR, "unexpected position of a socket in a wait set");
		conn_waits[i] = set;
		conn_wait_sock[i] = sock;
		conn_wait_write[i] = for_write;
	}
	else if (conn_wait_write[i] != for_write)
	{
		ModifyWaitEvent(conn_waits[i], WAIT_POS_SOCKET, events, NULL);
		conn_wait_write[i] = for_write;
	}
	return conn_waits[i];
}

/*
 * wait_socket
 *		Wait until conn's socket is ready (or timeout_ms, -1: 100 ms, then
 *		check interrupts).  An uninterruptible wait checks nothing: the
 *		caller holds interrupts, and only postmaster death ends it.
 */
static void
wait_socket(PGconn *conn, bool for_write, bool interruptible, long timeout_ms)
{
	WaitEventSet *set = conn_wait_set(conn, for_write);
	long		timeout = timeout_ms < 0 ? 100 : timeout_ms;
	bool		latch_set;

	if (set)
	{
		WaitEvent	ev;

		latch_set = WaitEventSetWait(set, timeout, &ev, 1, PG_WAIT_EXTENSION) == 1 &&
			(ev.events & WL_LATCH_SET);
	}
	else
		latch_set = (WaitLatchOrSocket(MyLatch,
									   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH |
									   (for_write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE),
									   PQsocket(conn), timeout, PG_WAIT_EXTENSION) & WL_LATCH_SET) != 0;
	if (latch_set)
		ResetLatch(MyLatch);
	if (interruptible)
		pgb_pq_check_interrupts();
}

void
pgb_pq_wait_socket(PGconn *conn, bool for_write)
{
	wait_socket(conn, for_write, true, -1);
}

static void
flush_output(PGconn *conn, bool interruptible)
{
	for (;;)
	{
		int			rc = PQflush(conn);

		if (rc == 0)
			return;
		if (rc < 0)
			pgb_pq_error(conn, NULL, NULL);
		wait_socket(conn, true, interruptible, -1);
		if (PQconsumeInput(conn) == 0)
			pgb_pq_error(conn, NULL, NULL);
	}
}

/*
 * collect_results
 *		Collect the results of the query just sent and return the last one,
 *		whatever its status (the first error, if one came before it).
 */
static PGresult *
collect_results(PGconn *conn, bool interruptible)
{
	PGresult   *last = NULL;

	flush_output(conn, interruptible);
	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(conn))
		{
			wait_socket(conn, false, interruptible, -1);
			if (PQconsumeInput(conn) == 0)
			{
				if (last)
					PQclear(last);
				pgb_pq_error(conn, NULL, NULL);
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		if (last)
		{
			ExecStatusType st = PQresultStatus(last);

			if (st == PGRES_FATAL_ERROR)
			{
				PQclear(res);
				continue;
			}
			PQclear(last);
		}
		last = res;
		if (PQresultStatus(res) == PGRES_COPY_OUT || PQresultStatus(res) == PGRES_COPY_IN)
			break;
	}
	if (last == NULL)
		pgb_pq_error(conn, NULL, NULL);
	return last;
}

/* the last result, which must have status expect; else raise the error */
static PGresult *
expect_result(PGconn *conn, PGresult *res, ExecStatusType expect)
{
	if (PQresultStatus(res) != expect)
		pgb_pq_error(conn, res, NULL);
	return res;
}

/*
 * pgb_pq_sleep
 *		Sleep on the latch for up to ms, then check interrupts (and the
 *		caller's interrupt check): every wait of pgbackups goes through here
 *		or pgb_pq_wait_socket.
 */
void
pgb_pq_sleep(int ms)
{
	int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							   ms, PG_WAIT_EXTENSION);

	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	pgb_pq_check_interrupts();
}

/*
 * pgb_pq_exec
 *		Run one query and return its last result, which must have status
 *		expect; otherwise raise the server's error.
 */
PGresult *
pgb_pq_exec(PGconn *conn, const char *sql, ExecStatusType expect)
{
	if (!PQsendQuery(conn, sql))
		pgb_pq_error(conn, NULL, NULL);
	return expect_result(conn, collect_results(conn, true), expect);
}

/* the same with text parameters $1..$n (NULL pointers are SQL NULLs) */
PGresult *
pgb_pq_exec_params(PGconn *conn, const char *sql, int nparams,
				   const char *const *values, ExecStatusType expect)
{
	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0))
		pgb_pq_error(conn, NULL, NULL);
	return expect_result(conn, collect_results(conn, true), expect);
}

void
pgb_pq_command(PGconn *conn, const char *sql)
{
	PQclear(pgb_pq_exec(conn, sql, PGRES_COMMAND_OK));
}

/*
 * pgb_pq_finish_command
 *		The result of a command already under way (after COPY data and
 *		PQputCopyEnd, or once PQgetCopyData said the copy is over), which
 *		must have status expect.
 */
PGresult *
pgb_pq_finish_command(PGconn *conn, ExecStatusType expect)
{
	return expect_result(conn, collect_results(conn, true), expect);
}

/*
 * pgb_pq_query
 *		Run one query and return its last result whatever its status: the
 *		caller looks at an error itself (and PQclears the result).  The
 *		wait is interruptible like pgb_pq_exec's.
 */
PGresult *
pgb_pq_query(PGconn *conn, const char *sql)
{
	if (!PQsendQuery(conn, sql))
		pgb_pq_error(conn, NULL, NULL);
	return collect_results(conn, true);
}

/*
 * pgb_pq_query_to_end
 *		The same, but once sent the query is waited for until its outcome
 *		is known, whatever arrives meanwhile (cancel requests, SIGTERM):
 *		for a COMMIT whose result the caller must report truthfully.
 *		Interrupts are held meanwhile and processed at the caller's next
 *		check; postmaster death still ends the process.  A lost connection
 *		raises connection_failure: the outcome is then unknown.
 */
PGresult *
pgb_pq_query_to_end(PGconn *conn, const char *sql)
{
	PGresult   *volatile res = NULL;

	HOLD_INTERRUPTS();
	PG_TRY();
	{
		if (!PQsendQuery(conn, sql))
			pgb_pq_error(conn, NULL, NULL);
		res = collect_results(conn, false);
	}
	PG_FINALLY();
	{
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
	return res;
}

/*
 * drain
 *		Read and discard results until the connection is idle, without
 *		checking interrupts, until deadline.  False if the connection is not
 *		usable afterwards (lost, timed out, or in COPY OUT).
 */
static bool
drain(PGconn *conn, TimestampTz deadline)
{
	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(conn))
		{
			long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

			if (left <= 0)
				return false;
			wait_socket(conn, false, false, Min(left, 100));
			if (PQconsumeInput(conn) == 0)
				return false;
		}
		res = PQgetResult(conn);
		if (res == NULL)
			return true;
		if (PQresultStatus(res) == PGRES_COPY_IN)
		{
			if (PQputCopyEnd(conn, "canceled") != 1 || PQflush(conn) != 0)
			{
				PQclear(res);
				return false;
			}
		}
		else if (PQresultStatus(res) == PGRES_COPY_OUT)
		{
			PQclear(res);
			return false;
		}
		PQclear(res);
	}
}

/*
 * pgb_pq_abort
 *		After a wait on conn was interrupted (a cancel, an error): cancel the
 *		query still running on the server (PQcancel), read what it sends
 *		back and roll back its transaction, within timeout_ms.  Never
 *		raises; false when the connection is not usable afterwards (the
 *		caller closes it, and the server then rolls back on its own).
 */
bool
pgb_pq_abort(PGconn *conn, int timeout_ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	bool		ok;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		return false;
	HOLD_INTERRUPTS();
	ok = PQflush(conn) == 0;
	if (ok && PQtransactionStatus(conn) == PQTRANS_ACTIVE)
	{
		cancel_active(conn);
		ok = drain(conn, deadline);
	}
	if (ok && PQtransactionStatus(conn) != PQTRANS_IDLE)
	{
		ok = PQsendQuery(conn, "ROLLBACK") == 1 && PQflush(conn) == 0 &&
			drain(conn, deadline) && PQtransactionStatus(conn) == PQTRANS_IDLE;
	}
	RESUME_INTERRUPTS();
	return ok;
}

/* the outcome of a COPY whose rows are all read */
static PGresult *
expect_copy_end(PGconn *conn, const char *what)
{
	PGresult   *res = collect_results(conn, true);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		pgb_pq_error(conn, res, psprintf("COPY of table %s", what));
	return res;
}

/*
 * pgb_pq_copy_out_begin
 *		Send sql, a COPY ... TO STDOUT of table what for a job (the noun:
 *		"capture", "copy"), and wait until its rows start.  A lock the COPY
 *		could not take within lock_timeout_ms (pgbackups.lock_timeout, set
 *		on the session) fails with 55P03, naming the table.
 */
void
pgb_pq_copy_out_begin(PGconn *conn, const char *sql, const char *what,
					  const char *job, int lock_timeout_ms)
{
	PGresult   *res = pgb_pq_query(conn, sql);

	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		if (pgb_pq_result_sqlstate(res) == ERRCODE_LOCK_NOT_AVAILABLE)
			pgb_copy_lock_timeout_error(what, job, lock_timeout_ms);
		pgb_pq_error(conn, res, psprintf("COPY of table %s", what));
	}
	PQclear(res);
}

/*
 * pgb_copy_lock_timeout_error
 *		The error of a COPY of table what, for a job ("capture", "copy"),
 *		that could not take its lock within lock_timeout_ms: 55P03, naming
 *		the table.  Also raised by a stream running its COPY in-process.
 */
void
pgb_copy_lock_timeout_error(const char *what, const char *job, int lock_timeout_ms)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not lock table %s within pgbackups.lock_timeout (%d ms)",
					what, lock_timeout_ms),
			 errdetail("Another session waits for a conflicting lock on it (for example an ALTER TABLE queued behind this %s); waiting would hold that session and every session queued behind it.",
					   job),
			 errhint("Retry the %s when that change is done, or raise pgbackups.lock_timeout.",
					 job)));
}

/*
 * pgb_pq_copy_out_row
 *		The next row of a COPY begun by pgb_pq_copy_out_begin: its length
 *		(> 0), *buf to be freed with PQfreemem; 0 when no whole row is
 *		buffered and wait is false; -1 at the end, once the COPY's outcome is
 *		checked.  Waits are on the latch; their seconds are added to *wait_s
 *		(unless NULL).
 */
int
pgb_pq_copy_out_row(PGconn *conn, char **buf, bool wait, double *wait_s,
					const char *what)
{
	for (;;)
	{
		int			n = PQgetCopyData(conn, buf, 1);

		if (n > 0)
			return n;
		if (n == 0)
		{
			TimestampTz start;

			if (!wait)
				return 0;
			start = GetCurrentTimestamp();
			pgb_pq_wait_socket(conn, false);
			if (wait_s)
				*wait_s += (double) (GetCurrentTimestamp() - start) / USECS_PER_SEC;
			if (PQconsumeInput(conn) == 0)
				pgb_pq_error(conn, NULL, NULL);
			continue;
		}
		if (n != -1)
			pgb_pq_error(conn, NULL, NULL);
		/* the COPY's final status */
		PQclear(expect_copy_end(conn, what));
		return -1;
	}
}

/*
 * pgb_pq_begin_in_snapshot
 *		Make conn a reader of table rows as pg_dump's are (client encoding,
 *		ISO dates, exact floats, no synchronized or parallel scans, no row
 *		security, COPY locks bounded by lock_timeout_ms) and open a read-only
 *		REPEATABLE READ transaction in the exported snapshot.
 */
void
pgb_pq_begin_in_snapshot(PGconn *conn, const char *encoding, int lock_timeout_ms,
						 const char *snapshot)
{
	char	   *sql = psprintf("SET client_encoding = '%s'; "
							   "SET DateStyle = ISO; SET IntervalStyle = postgres; "
							   "SET extra_float_digits = 3; SET synchronize_seqscans = off; "
							   "SET max_parallel_workers_per_gather = 0; "
							   "SET statement_timeout = 0; SET lock_timeout = %d; "
							   "SET idle_in_transaction_session_timeout = 0; "
							   "SET row_security = off; "
							   "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
							   "SET TRANSACTION SNAPSHOT '%s'",
							   encoding, lock_timeout_ms, snapshot);

	pgb_pq_command(conn, sql);
	pfree(sql);
}
