/*-------------------------------------------------------------------------
 *
 * restore_ext.c
 *	  The extensions an archive creates.  Before anything is created, each
 *	  must be available and allowed (pgb_restore_check_extensions): a
 *	  trusted one is created by the target's owner (a worker), an untrusted
 *	  one by the leader as superuser, only when a superuser requested the
 *	  restore or pgbackups.restore_extensions lists it; for an owner who is
 *	  not a superuser, no entry may fill the extension's schema before it.
 *	  Just before each is created, its schema is checked again in the
 *	  staging database (an entry whose namespace field lies is caught
 *	  there).  CREATE EXTENSION statements are rebuilt from the parsed name
 *	  and schema (restore_plan.c), never taken from the archive's text.
 *
 * src/restore/restore_ext.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/varlena.h"

#include "guc.h"
#include "pq_util.h"
#include "restore_int.h"

/* is name in pgbackups.restore_extensions? */
static bool
extension_listed(const char *name)
{
	char	   *copy = pstrdup(pgb_restore_extensions ? pgb_restore_extensions : "");
	List	   *names = NIL;
	ListCell   *lc;
	bool		found = false;

	/* the value was validated when it was set */
	if (!SplitIdentifierString(copy, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp((const char *) lfirst(lc), name) == 0)
			found = true;
	list_free(names);
	pfree(copy);
	return found;
}

/*
 * An entry restored before the extension ext that creates something in
 * its schema: the extension's script (run with superuser rights, even for a
 * trusted extension) would find the archive's objects there.  Allowed
 * before it: the schema itself, its comment, ACL and security label, and
 * other extensions.  (An entry whose namespace field lies is caught in the
 * staging database: check_schema_clean.)
 */
static void
check_extension_order(PgbRestorePlan *plan, int ext, const char *name, const char *schema)
{
	const PgbRestoreItem *e = &plan->items[ext];
	char	   *schema_tag = psprintf("SCHEMA %s", quote_identifier(schema));
	int			i;

	for (i = 0; i < plan->nitems; i++)
	{
		const PgbRestoreItem *it = &plan->items[i];
		const PgbTocEntry *te = it->te;

		if (i == ext || it->action == PGB_ACT_SKIP)
			continue;
		/* pre-data runs in TOC order before everything else */
		if (e->pre_data && !(it->pre_data && i < ext))
			continue;
		if (te->namespace == NULL || strcmp(te->namespace, schema) != 0)
			continue;
		if (pgb_toc_is(te, "EXTENSION") || pgb_toc_is(te, "SCHEMA"))
			continue;
		if ((pgb_toc_is(te, "COMMENT") || pgb_toc_is(te, "ACL") || pgb_toc_is(te, "SECURITY LABEL")) &&
			te->tag && strcmp(te->tag, schema_tag) == 0)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("archive entry %d (%s) creates an object in schema \"%s\" before extension \"%s\" is created there",
						te->dump_id, pgb_restore_entry_name(te), schema, name),
				 errdetail("An extension's script never runs in a schema the archive filled before it; nothing was changed."),
				 errhint("Create the extension in a schema of its own in the source database.")));
	}
	pfree(schema_tag);
}

/*
 * pgb_restore_check_extensions
 *		Before anything is created: each extension the archive creates must
 *		be available, and who creates it is decided by PostgreSQL's rules
 *		for the target's owner.  A trusted extension (or one that does not
 *		need a superuser) is created by a worker, as the owner; an
 *		untrusted one by the leader as superuser, and only when the owner is
 *		a superuser, a superuser requested the restore, or
 *		pgbackups.restore_extensions lists it.  pg_dump writes no VERSION,
 *		so the default version's control file decides.  pgbackups itself
 *		is always created (as superuser): it is the catalog of the database
 *		the backup was taken from, and the restore installs it anyway.
 */
void
pgb_restore_check_extensions(PgbRestore *r)
{
	const PgbRestoreParams *p = r->params;
	PgbRestorePlan *plan = r->plan;
	int			i;

	for (i = 0; i < plan->nitems; i++)
	{
		PgbRestoreItem *it = &plan->items[i];
		char	   *name;
		char	   *schema;
		const char *params[1];
		PGresult   *res;
		bool		found;
		bool		trusted = false;

		if (it->action != PGB_ACT_EXTENSION)
			continue;
		pgb_restore_parse_extension(it->te, &name, &schema);
		params[0] = name;
		res = pgb_pq_exec_params(r->maint,
								 "SELECT v.trusted OR NOT v.superuser "
								 "FROM pg_catalog.pg_available_extensions a "
								 "JOIN pg_catalog.pg_available_extension_versions v "
								 "ON v.name = a.name AND v.version = a.default_version "
								 "WHERE a.name = $1",
								 1, params, PGRES_TUPLES_OK);
		found = PQntuples(res) == 1;
		if (found)
			trusted = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("extension \"%s\" is not available on this server", name),
					 errdetail("The archive creates it; nothing was changed."),
					 errhint("Install the extension's package on the server, then restore again.")));
		if (r->target->owner_is_superuser)
			continue;			/* as the owner could: the leader creates it */
		if (strcmp(name, "pgbackups") == 0)
		{
			/*
			 * Our own catalog: every backup of a database that holds one
			 * creates it, and the restore installs it anyway to carry the
			 * live catalog; its fixed schema and script are ours.
			 */
			pgb_restore_log(r, "extension pgbackups (this catalog) is created by the restore");
			check_extension_order(plan, i, name, schema);
			continue;
		}
		if (trusted)
		{
			it->action = PGB_ACT_WORKER;
			pgb_restore_log(r, "extension %s is trusted: role \"%s\" creates it", name, r->target->owner);
		}
		else if (p->requester_superuser)
			pgb_restore_log(r, "extension %s is not trusted: created as superuser, a superuser requested this job", name);
		else if (extension_listed(name))
			pgb_restore_log(r, "extension %s is not trusted: created as superuser, pgbackups.restore_extensions lists it", name);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the archive creates extension \"%s\", which only a superuser may create", name),
					 errdetail("The owner of database \"%s\", role \"%s\", is not a superuser, the extension is not trusted, "
							   "and this job was requested by role \"%s\"; nothing was changed.",
							   r->target->name, r->target->owner,
							   p->requester ? p->requester : "?"),
					 errhint("A superuser can run the restore, or allow the extension with pgbackups.restore_extensions.")));
		check_extension_order(plan, i, name, schema);
	}
}

/*
 * Just before an extension is created in the staging database: its schema
 * must hold nothing but extension members (what those created, with their
 * row types, array types and indexes), all owned by superusers, so the
 * extension's script meets nothing the archive's SQL put there.  Objects
 * of initdb (below FirstNormalObjectId) do not count.
 */
static void
check_schema_clean(PgbRestore *r, const char *name, const char *schema)
{
	const char *params[1] = {schema};
	PGresult   *res;

	res = pgb_pq_exec_params(pgb_restore_staging_conn(r),
							 "WITH RECURSIVE members(classid, objid) AS ("
							 "  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d WHERE d.deptype = 'e'"
							 "  UNION"
							 "  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d"
							 "    JOIN members m ON d.refclassid = m.classid AND d.refobjid = m.objid"
							 "   WHERE d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['i', 'a']::pg_catalog.\"char\"[])"
							 "), ns AS ("
							 "  SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) $1"
							 "), objs(classid, objid, owner) AS ("
							 "  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid, c.relowner FROM pg_catalog.pg_class c, ns WHERE c.relnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, o.oid, o.proowner FROM pg_catalog.pg_proc o, ns WHERE o.pronamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, o.oid, o.typowner FROM pg_catalog.pg_type o, ns WHERE o.typnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid, o.oprowner FROM pg_catalog.pg_operator o, ns WHERE o.oprnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, o.oid, o.collowner FROM pg_catalog.pg_collation o, ns WHERE o.collnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, o.oid, o.conowner FROM pg_catalog.pg_conversion o, ns WHERE o.connamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, o.oid, o.opfowner FROM pg_catalog.pg_opfamily o, ns WHERE o.opfnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, o.oid, o.opcowner FROM pg_catalog.pg_opclass o, ns WHERE o.opcnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, o.oid, o.cfgowner FROM pg_catalog.pg_ts_config o, ns WHERE o.cfgnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, o.oid, o.dictowner FROM pg_catalog.pg_ts_dict o, ns WHERE o.dictnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_ts_parser'::pg_catalog.regclass, o.oid, NULL::pg_catalog.oid FROM pg_catalog.pg_ts_parser o, ns WHERE o.prsnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_ts_template'::pg_catalog.regclass, o.oid, NULL::pg_catalog.oid FROM pg_catalog.pg_ts_template o, ns WHERE o.tmplnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, o.oid, o.stxowner FROM pg_catalog.pg_statistic_ext o, ns WHERE o.stxnamespace = ns.oid"
							 ") "
							 "SELECT pg_catalog.string_agg(x.d, ', ' ORDER BY x.d), pg_catalog.count(*) FROM ("
							 "  SELECT pg_catalog.pg_describe_object(o.classid, o.objid, 0) AS d FROM objs o"
							 "   WHERE o.objid OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid"
							 "     AND (NOT EXISTS (SELECT 1 FROM members m WHERE m.classid = o.classid AND m.objid = o.objid)"
							 "          OR (o.owner IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_authid r"
							 "                                                   WHERE r.oid = o.owner AND r.rolsuper)))"
							 "   ORDER BY 1 LIMIT 10) x",
							 1, params, PGRES_TUPLES_OK);
	if (!PQgetisnull(res, 0, 0))
	{
		char	   *what = pstrdup(PQgetvalue(res, 0, 0));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schema \"%s\" holds objects that are not extension members before extension \"%s\" is created there",
						schema, name),
				 errdetail("Found: %s.  An extension's script never runs in a schema the archive filled before it; "
						   "the target database was left as it was.", what)));
	}
	PQclear(res);
}

/*
 * Before a CREATE EXTENSION entry runs (by a worker or by the leader):
 * for an owner who is not a superuser, the schema check.  Nothing else
 * runs meanwhile (pre-data is serial; the parallel phase waits for its
 * running items first).
 */
void
pgb_restore_before_extension(PgbRestore *r, PgbRestoreItem *it)
{
	char	   *name;
	char	   *schema;

	pgb_restore_parse_extension(it->te, &name, &schema);
	if (r->target->owner_is_superuser)
		return;
	check_schema_clean(r, name, schema);
}

/* an extension the owner may not create: by the leader, as superuser */
void
pgb_restore_create_extension(PgbRestore *r, PgbRestoreItem *it)
{
	char	   *name;
	char	   *schema;

	pgb_restore_parse_extension(it->te, &name, &schema);
	pgb_restore_before_extension(r, it);
	pgb_pq_command(pgb_restore_staging_conn(r), pgb_restore_extension_sql(name, schema));
	pgb_restore_log(r, "created extension %s in schema %s as superuser", name, schema);
}
