/*-------------------------------------------------------------------------
 *
 * dbswap.c
 *	  Atomic replacement of a database: the restore or copy is built in a
 *	  staging database created like the target (owner, encoding, locale,
 *	  tablespace), and only when it is complete does one transaction rename
 *	  the target away and the staging database into its place, giving it
 *	  the target's privileges, per-database settings, comment and
 *	  connection limit.  Until that commit the target is untouched; after
 *	  it, the old contents are dropped.
 *
 * Names: the staging database is pgbackups_<catalog oid>_<job id>_<target>
 * and the replaced one pgbackups_<catalog oid>_<job id>_old, so that the
 * scheduler of the job's catalog can recognise and drop leftovers after a
 * crash.  Renaming needs the target to have no sessions: its scheduler is
 * paused (by the caller) and existing sessions are terminated, as Heroku
 * does when a restore takes over.  New connections are not refused
 * meanwhile (a crash then could leave the target closed): a session that
 * slips in between the termination and the rename makes the rename fail,
 * and the swap is retried.  Everything runs as SQL over a superuser libpq
 * connection to a maintenance database (postgres, else template1), the way
 * dropdb does; values are quoted by the server (format %I/%L).  Every call
 * is asynchronous libpq waiting on the latch (pq_util.c): a cancel or
 * SIGTERM while the swap's renames wait on a lock cancels its transaction
 * (PQcancel) and rolls it back; only once COMMIT is sent is its outcome
 * waited for, and reported as it is.  The swap commits with
 * synchronous_commit on whatever the server's setting: once the job says
 * the target was replaced, a crash cannot undo it.
 *
 * src/restore/dbswap.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/wait_event.h"

#include "compat.h"
#include "dbswap.h"
#include "pq_util.h"

#define SWAP_ATTEMPTS 20
#define SWAP_ABORT_MS 5000		/* to cancel and roll back an attempt */

static char *
value(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : pstrdup(PQgetvalue(res, row, col));
}

PGconn *
pgb_db_maintenance_connect(const char *avoid1, const char *avoid2)
{
	bool		use_postgres = !((avoid1 && strcmp(avoid1, "postgres") == 0) ||
								 (avoid2 && strcmp(avoid2, "postgres") == 0));
	PGconn	   *volatile conn = NULL;

	if (use_postgres)
	{
		MemoryContext ctx = CurrentMemoryContext;

		PG_TRY();
		{
			conn = pgb_pq_connect(pgb_pq_conninfo("postgres"));
		}
		PG_CATCH();
		{
			/* no database "postgres": fall back to template1, as dropdb does */
			MemoryContextSwitchTo(ctx);
			FlushErrorState();
			conn = NULL;
		}
		PG_END_TRY();
		if (conn)
			return conn;
	}
	return pgb_pq_connect(pgb_pq_conninfo("template1"));
}

PgbDbInfo *
pgb_db_info(PGconn *m, const char *name)
{
	const char *params[1] = {name};
	PGresult   *res;
	PgbDbInfo  *info = palloc0(sizeof(PgbDbInfo));
	StringInfoData props;
	int			i;

	res = pgb_pq_exec_params(m,
							 "SELECT d.oid, r.rolname, r.rolcanlogin, r.rolsuper, "
							 "  format('ENCODING %L LC_COLLATE %L LC_CTYPE %L LOCALE_PROVIDER %s%s TABLESPACE %I', "
							 "    pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, "
							 "    " PGB_SQL_DB_LOCALE_PROVIDER ", "
							 "    " PGB_SQL_DB_LOCALE_OPTIONS ", "
							 "    t.spcname), "
							 "  d.datconnlimit "
							 "FROM pg_catalog.pg_database d "
							 "JOIN pg_catalog.pg_roles r ON r.oid = d.datdba "
							 "JOIN pg_catalog.pg_tablespace t ON t.oid = d.dattablespace "
							 "WHERE d.datname = $1",
							 1, params, PGRES_TUPLES_OK);
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_DATABASE),
				 errmsg("database \"%s\" does not exist", name)));
	}
	info->name = pstrdup(name);
	info->oid = (Oid) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	info->owner = value(res, 0, 1);
	info->owner_can_login = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	info->owner_is_superuser = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	info->create_options = value(res, 0, 4);
	info->connlimit = atoi(PQgetvalue(res, 0, 5));
	PQclear(res);

	/*
	 * What the new database must get from the old one, as statements that
	 * name it by the target's name (which it has once swapped in):
	 * privileges other than the owner's own, per-database and per-role
	 * settings, and the comment.
	 */
	res = pgb_pq_exec_params(m,
							 "SELECT format('GRANT %s ON DATABASE %I TO %s%s;', a.privilege_type, d.datname, "
							 "    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(g.rolname) END, "
							 "    CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) "
							 "FROM pg_catalog.pg_database d "
							 "CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a "
							 "LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee "
							 "WHERE d.datname = $1 AND a.grantee <> d.datdba "
							 "UNION ALL "
							 "SELECT format('ALTER %s DATABASE %I SET %I = %s;', "
							 "    CASE WHEN s.setrole = 0 THEN '' ELSE format('ROLE %I IN', r.rolname) END, d.datname, "
							 "    split_part(c, '=', 1), "
							 "    CASE WHEN split_part(c, '=', 1) IN ('search_path', 'temp_tablespaces', "
							 "        'session_preload_libraries', 'local_preload_libraries') "
							 "      THEN substr(c, strpos(c, '=') + 1) ELSE pg_catalog.quote_literal(substr(c, strpos(c, '=') + 1)) END) "
							 "FROM pg_catalog.pg_db_role_setting s "
							 "JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase "
							 "LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole "
							 "CROSS JOIN LATERAL unnest(s.setconfig) c "
							 "WHERE d.datname = $1 "
							 "UNION ALL "
							 "SELECT format('COMMENT ON DATABASE %I IS %L;', d.datname, pg_catalog.shobj_description(d.oid, 'pg_database')) "
							 "FROM pg_catalog.pg_database d "
							 "WHERE d.datname = $1 AND pg_catalog.shobj_description(d.oid, 'pg_database') IS NOT NULL",
							 1, params, PGRES_TUPLES_OK);
	initStringInfo(&props);
	for (i = 0; i < PQntuples(res); i++)
		appendStringInfo(&props, "%s\n", PQgetvalue(res, i, 0));
	PQclear(res);
	info->props_sql = props.data;
	return info;
}

static char *
clip_name(char *name)
{
	int			len = strlen(name);

	if (len >= NAMEDATALEN)
		name[pg_mbcliplen(name, len, NAMEDATALEN - 1)] = '\0';
	return name;
}

char *
pgb_db_staging_name(Oid catalog_db, const char *job_id, const char *target)
{
	return clip_name(psprintf("pgbackups_%u_%s_%s", catalog_db, job_id, target));
}

char *
pgb_db_old_name(Oid catalog_db, const char *job_id)
{
	return clip_name(psprintf("pgbackups_%u_%s_old", catalog_db, job_id));
}

static void
command_params(PGconn *m, const char *sql, const char *p1, const char *p2)
{
	const char *params[2] = {p1, p2};

	PQclear(pgb_pq_exec_params(m, sql, p2 ? 2 : 1, params, PGRES_TUPLES_OK));
}

/* the statement the server formats from a template and arguments */
static char *
formatted(PGconn *m, const char *format_sql, int nparams, const char *const *params)
{
	PGresult   *res = pgb_pq_exec_params(m, format_sql, nparams, params, PGRES_TUPLES_OK);
	char	   *sql = pstrdup(PQgetvalue(res, 0, 0));

	PQclear(res);
	return sql;
}

void
pgb_db_create_staging(PGconn *m, const PgbDbInfo *target, const char *staging)
{
	const char *params[3] = {staging, target->owner, target->create_options};
	char	   *create = formatted(m, "SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0 %s', $1::text, $2::text, $3::text)",
								   3, params);
	PgbInterruptCheck check = pgb_pq_set_interrupt_check(NULL);

	/*
	 * A job's cancel waits until the CREATE DATABASE has answered: a cancel
	 * raised while it runs would leave it in flight, committing after the
	 * job's clean-up had dropped (nothing of) the staging database.  A
	 * shutdown still interrupts it; the start-up reconciliation drops what
	 * an interrupted job left.
	 */
	PG_TRY();
	{
		pgb_pq_command(m, create);
	}
	PG_FINALLY();
	{
		pgb_pq_set_interrupt_check(check);
	}
	PG_END_TRY();
	pgb_pq_check_interrupts();
	/* only its owner (and superusers) may look in while it is built */
	pgb_pq_command(m, formatted(m, "SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', $1::text)",
								1, params));
}

static char *
drop_sql(PGconn *m, const char *name)
{
	const char *params[1] = {name};

	return formatted(m, "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)", 1, params);
}

void
pgb_db_drop(PGconn *m, const char *name)
{
	pgb_pq_command(m, drop_sql(m, name));
}

/*
 * pgb_db_try_drop
 *		Drop the database unless that means waiting more than timeout_ms for
 *		a lock (DROP DATABASE locks pg_database, which a session may hold):
 *		false then, and nothing was dropped.
 */
bool
pgb_db_try_drop(PGconn *m, const char *name, int timeout_ms)
{
	char	   *sql = drop_sql(m, name);
	char		set[64];
	PGresult   *res;

	snprintf(set, sizeof(set), "SET lock_timeout = %d", timeout_ms);
	pgb_pq_command(m, set);
	res = pgb_pq_query(m, sql);
	pgb_pq_command(m, "RESET lock_timeout");
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
	{
		PQclear(res);
		return true;
	}
	if (pgb_pq_result_sqlstate(res) == ERRCODE_LOCK_NOT_AVAILABLE)
	{
		PQclear(res);
		return false;
	}
	pgb_pq_error_in(m, res, psprintf("could not drop database \"%s\"", name));
	return false;				/* not reached */
}

void
pgb_db_terminate_sessions(PGconn *m, const char *name, int keep_pid)
{
	char		keep[16];

	snprintf(keep, sizeof(keep), "%d", keep_pid);
	command_params(m,
				   "SELECT pg_catalog.pg_terminate_backend(a.pid) "
				   "FROM pg_catalog.pg_stat_activity a "
				   "WHERE a.datname = $1 AND a.pid <> pg_catalog.pg_backend_pid() "
				   "AND a.pid <> $2::integer",
				   name, keep);
}

static int
count_sessions(PGconn *m, const char *name, int keep_pid)
{
	char		keep[16];
	const char *params[2] = {name, keep};
	PGresult   *res;
	int			n;

	snprintf(keep, sizeof(keep), "%d", keep_pid);
	res = pgb_pq_exec_params(m,
							 "SELECT count(*) FROM pg_catalog.pg_stat_activity "
							 "WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid() "
							 "AND pid <> $2::integer",
							 2, params, PGRES_TUPLES_OK);
	n = atoi(PQgetvalue(res, 0, 0));

	PQclear(res);
	return n;
}

/*
 * pgb_db_end_sessions
 *		End every session on the database but keep_pid's (0: none), waiting
 *		until they are gone.
 */
void
pgb_db_end_sessions(PGconn *m, const char *name, int keep_pid)
{
	int			i;

	for (i = 0; i < 100; i++)
	{
		pgb_db_terminate_sessions(m, name, keep_pid);
		PQclear(pgb_pq_exec(m, "SELECT pg_catalog.pg_stat_clear_snapshot()", PGRES_TUPLES_OK));
		if (count_sessions(m, name, keep_pid) == 0)
			return;
		pgb_pq_sleep(100);
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("sessions connected to database \"%s\" did not end", name)));
}

/* the swap's statements: target -> old, staging -> target, properties */
static char *
swap_sql(PGconn *m, const PgbDbInfo *target, const char *staging, const char *old)
{
	const char *params[4];
	char		limit[16];
	PGresult   *res;
	StringInfoData txn;

	snprintf(limit, sizeof(limit), "%d", target->connlimit);
	params[0] = target->name;
	params[1] = staging;
	params[2] = old;
	params[3] = limit;
	res = pgb_pq_exec_params(m,
							 "SELECT format('ALTER DATABASE %1$I RENAME TO %3$I; "
							 "ALTER DATABASE %2$I RENAME TO %1$I; "
							 "ALTER DATABASE %1$I WITH CONNECTION LIMIT %4$s;', "
							 "$1::text, $2::text, $3::text, $4::int)",
							 4, params, PGRES_TUPLES_OK);
	initStringInfo(&txn);
	appendStringInfoString(&txn, PQgetvalue(res, 0, 0));
	PQclear(res);
	appendStringInfoString(&txn, target->props_sql);
	return txn.data;
}

/*
 * swap_committed
 *		After the connection was lost while its COMMIT was under way: ask a
 *		new connection whether the target's database now bears the old name.
 */
static bool
swap_committed(const PgbDbInfo *target, const char *old)
{
	PGconn	   *c = pgb_db_maintenance_connect(target->name, old);
	char		oid[16];
	const char *params[2] = {oid, old};
	PGresult   *res;
	bool		committed;

	snprintf(oid, sizeof(oid), "%u", target->oid);
	res = pgb_pq_exec_params(c, "SELECT pg_catalog.count(*) FROM pg_catalog.pg_database "
							 "WHERE oid = $1::pg_catalog.oid AND datname = $2",
							 2, params, PGRES_TUPLES_OK);
	committed = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	PQclear(res);
	pgb_pq_disconnect(c);
	return committed;
}

/*
 * commit_swap
 *		Send COMMIT and wait for its outcome whatever arrives meanwhile: from
 *		here on the truth is reported, not a cancel.
 */
static void
commit_swap(PGconn *m, const PgbDbInfo *target, const char *old)
{
	MemoryContext ctx = CurrentMemoryContext;
	PGresult   *volatile res = NULL;
	volatile bool lost = false;

	PG_TRY();
	{
		res = pgb_pq_query_to_end(m, "COMMIT");
	}
	PG_CATCH();
	{
		/* the connection was lost: did the server commit? */
		MemoryContextSwitchTo(ctx);
		EmitErrorReport();
		FlushErrorState();
		lost = true;
	}
	PG_END_TRY();
	if (lost)
	{
		if (swap_committed(target, old))
			return;
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not swap the restored database in for \"%s\": the connection was lost during COMMIT",
						target->name),
				 errdetail("The rename did not commit; database \"%s\" was left as it was.",
						   target->name)));
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		pgb_pq_error_in(m, res, psprintf("could not swap the restored database in for \"%s\"",
										 target->name));
	PQclear(res);
}

/*
 * swap_attempt
 *		One transaction of renames.  Every wait until the COMMIT is sent is
 *		on the latch and honours a cancel or SIGTERM: the transaction, which
 *		may wait on locks (pg_database, the target), is then canceled
 *		(PQcancel) and rolled back, so both databases stay as they were.
 *		False when a session slipped into a database (object_in_use) and
 *		another attempt may follow; true once committed.
 */
static bool
swap_attempt(PGconn *m, const PgbDbInfo *target, const char *staging,
			 const char *old, const char *txn, bool last)
{
	PGresult   *volatile r = NULL;

	pgb_db_terminate_sessions(m, target->name, 0);
	pgb_db_terminate_sessions(m, staging, 0);
	PG_TRY();
	{
		pgb_pq_command(m, "BEGIN");
		/* an acknowledged swap survives a crash, whatever the server's setting */
		pgb_pq_command(m, "SET LOCAL synchronous_commit = on");
		r = pgb_pq_query(m, txn);
	}
	PG_CATCH();
	{
		/* a cancel, shutdown or error while waiting */
		(void) pgb_pq_abort(m, SWAP_ABORT_MS);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (PQresultStatus(r) == PGRES_COMMAND_OK)
	{
		PQclear(r);
		commit_swap(m, target, old);
		return true;
	}
	if (pgb_pq_result_sqlstate(r) == ERRCODE_OBJECT_IN_USE && !last)
	{
		PQclear(r);
		pgb_pq_command(m, "ROLLBACK");
		return false;
	}
	/* the server's own error, once the transaction is rolled back */
	(void) pgb_pq_abort(m, SWAP_ABORT_MS);
	pgb_pq_error_in(m, r, psprintf("could not swap the restored database in for \"%s\"",
								   target->name));
	return false;				/* not reached */
}

/*
 * pgb_db_swap
 *		One transaction: target -> old, staging -> target, with the
 *		target's properties; retried while a session slips in between the
 *		termination and the rename.  The caller drops the old one.
 */
void
pgb_db_swap(PGconn *m, const PgbDbInfo *target, const char *staging, const char *old)
{
	char	   *txn = swap_sql(m, target, staging, old);
	int			attempt;

	for (attempt = 1; !swap_attempt(m, target, staging, old, txn, attempt >= SWAP_ATTEMPTS); attempt++)
		pgb_pq_sleep(200);
	pfree(txn);
}
