/*-------------------------------------------------------------------------
 *
 * access.c
 *	  The one read rule for backups: a role may have a database's data read
 *	  for it (capture it, or touch a backup of it) only if it owns the
 *	  database, is a member of pg_read_all_data, or is a superuser.  For a
 *	  database that no longer exists, only the last two.
 *
 * Every path that reaches an existing backup's contents or metadata goes
 * through here: the SQL functions (url, restore, info, logs, delete, pin,
 * unpin, wait, cancel, unschedule) through pgb_check_job_access(), the
 * catalog's row security policies through pgbackups._may_read_database(),
 * and the scheduler, which resolves db::id and "latest" restores, through
 * pgb_role_may_read_database() with the requesting role.  A restore's or
 * copy's source is its source database (a URL source: its target).
 *
 * pgb_run_as_superuser() runs catalog reads and writes of the API (pins,
 * schedules, the look-ups here) as the bootstrap superuser with search_path
 * pinned to pg_catalog, pg_temp, so a caller's search_path can never put its
 * own functions or operators into a superuser's query.
 *
 * src/api/access.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "access.h"
#include "compat.h"
#include "job_kind.h"

PG_FUNCTION_INFO_V1(pgbackups_may_read_database);
PG_FUNCTION_INFO_V1(pgbackups_check_access);

/* the rule itself; dboid InvalidOid: a database that no longer exists */
static bool
role_may_read(Oid roleid, Oid dboid)
{
	return superuser_arg(roleid) ||
		has_privs_of_role(roleid, ROLE_PG_READ_ALL_DATA) ||
		(OidIsValid(dboid) && pgb_database_ownercheck(dboid, roleid));
}

/*
 * pgb_role_may_read_database
 *		The read rule for roleid and the database called dbname.  Needs a
 *		transaction (catalog lookups).
 */
bool
pgb_role_may_read_database(Oid roleid, const char *dbname)
{
	return role_may_read(roleid, dbname ? get_database_oid(dbname, true) : InvalidOid);
}

/* the same outside a transaction (the scheduler between its requests) */
bool
pgb_role_may_read_database_tx(Oid roleid, const char *dbname)
{
	bool		ok;

	if (IsTransactionState())
		return pgb_role_may_read_database(roleid, dbname);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	ok = pgb_role_may_read_database(roleid, dbname);
	CommitTransactionCommand();
	return ok;
}

/*
 * pgb_pin_worker_settings
 *		For a superuser background worker just connected to a database:
 *		search_path pg_catalog, pg_temp, whatever the database's or role's
 *		defaults say (ALTER DATABASE ... SET search_path = public, ... by a
 *		database owner would otherwise put the owner's functions and
 *		operators into the worker's superuser queries); and
 *		synchronous_commit on, whatever the server's setting: a catalog
 *		record (a capture the scheduler accepted, a job marked running) must
 *		not vanish in a crash while the work it records goes on (with
 *		synchronous_commit = off a crash restart lost a just answered
 *		capture's row, leaving its files unrecorded).
 */
void
pgb_pin_worker_settings(void)
{
	/* session-level values: above the database's and role's defaults, below SET */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
	SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_SESSION);
}

/* the rule for the current user and a database that exists */
bool
pgb_may_read_database(Oid dboid)
{
	return role_may_read(GetUserId(), dboid);
}

/*
 * pgb_run_as_superuser
 *		Call fn(arg) as the bootstrap superuser, with search_path set to
 *		pg_catalog, pg_temp for its duration; the caller's identity and
 *		settings come back afterwards, also on error.
 */
void
pgb_run_as_superuser(void (*fn) (void *arg), void *arg)
{
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	PG_TRY();
	{
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		fn(arg);
	}
	PG_CATCH();
	{
		/* the (sub)transaction's abort unwinds the GUC nest level */
		SetUserIdAndSecContext(save_userid, save_sec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	AtEOXact_GUC(true, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);
}

typedef struct JobSourceLookup
{
	const char *id;
	bool		found;
	char	   *source;
	MemoryContext caller;
} JobSourceLookup;

static void
job_source_query(void *arg)
{
	JobSourceLookup *l = (JobSourceLookup *) arg;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(l->id)};
	const char *sql;

	if (l->id[0] == 'r')
		sql = "SELECT coalesce(pg_catalog.to_jsonb(r) ->> 'source_database', r.target::text) "
			"FROM pgbackups.restores r WHERE r.id = $1";
	else if (l->id[0] == 'c')
		sql = "SELECT coalesce(pg_catalog.to_jsonb(c) ->> 'source_database', c.target::text) "
			"FROM pgbackups.copies c WHERE c.id = $1";
	else
		sql = "SELECT b.database::text FROM pgbackups.backups b WHERE b.id = $1";
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the pgbackups catalog");
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		l->found = true;
		l->source = v ? MemoryContextStrdup(l->caller, v) : NULL;
	}
	SPI_finish();
}

/*
 * job_source
 *		The source database of job id in this database's catalog, read as
 *		the bootstrap superuser (the caller's row security would hide the
 *		row, and "does not exist" must differ from "not yours").  *found
 *		says whether the job exists; a URL restore or copy answers its
 *		target.  Works on catalogs from 1.1.0 on (source_database came in
 *		1.4.0).
 */
static char *
job_source(const char *id, bool *found)
{
	JobSourceLookup l;

	l.id = id;
	l.found = false;
	l.source = NULL;
	l.caller = CurrentMemoryContext;
	pgb_run_as_superuser(job_source_query, &l);
	*found = l.found;
	return l.source;
}

/*
 * pgb_check_job_access
 *		Raise 42704 if job id (a lower-case a/b/r/c id) is not in this
 *		database's catalog, 42501 if the current user may not read its
 *		source database.
 */
static void
check_source(const char *id, const char *source)
{
	if (!pgb_role_may_read_database(GetUserId(), source))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s %s", pgb_job_kind(id)->noun, id),
				 source && OidIsValid(get_database_oid(source, true)) ?
				 errdetail("It holds data of database \"%s\"; that requires owning the database, membership in pg_read_all_data, or superuser.", source) :
				 errdetail("It holds data of database \"%s\", which no longer exists; that requires membership in pg_read_all_data, or superuser.", source ? source : "?")));
}

void
pgb_check_job_access(const char *id)
{
	bool		found;
	char	   *source = job_source(id, &found);

	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s \"%s\" does not exist", pgb_job_kind(id)->noun, id),
				 errhint("SELECT * FROM pgbackups.list() shows the jobs of this database.")));
	check_source(id, source);
}

/* pgbackups._may_read_database(name): the read rule, for row security */
Datum
pgbackups_may_read_database(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(pgb_role_may_read_database(GetUserId(), NULL));
	PG_RETURN_BOOL(pgb_role_may_read_database(GetUserId(), NameStr(*PG_GETARG_NAME(0))));
}

/*
 * pgbackups._check_access(id): the canonical id if the job exists and the
 * current user may read it; NULL if it does not exist; 42501 otherwise.
 */
Datum
pgbackups_check_access(PG_FUNCTION_ARGS)
{
	char	   *id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		found;
	char	   *source = job_source(id, &found);

	if (!found)
		PG_RETURN_NULL();
	check_source(id, source);
	PG_RETURN_TEXT_P(cstring_to_text(id));
}
