/*-------------------------------------------------------------------------
 *
 * restore_constraints.c
 *	  The constraints of the post-data section built so that they do not
 *	  hold their table longer than they must: foreign keys whose rows come
 *	  from one snapshot created valid without re-reading the rows, primary
 *	  keys and unique constraints built as an index first.
 *
 * Foreign keys.  pg_restore adds each foreign key with ALTER TABLE ... ADD
 * CONSTRAINT, which reads the whole referencing table (and the referenced
 * one) to check every row, holding SHARE ROW EXCLUSIVE on both: on a large
 * table it is one of the longest steps of a restore, and it cannot overlap
 * that table's index builds.  When every table's rows were read under one
 * snapshot in which the foreign key was valid (a pgbackups capture whose
 * SHA-256 matched its record, or a copy's rows read at the source), they
 * satisfy it, and the check proves nothing new: the constraint is created
 * as PostgreSQL itself creates a foreign key on a table created in the same
 * statement (transformFKConstraints: skip_validation with initially_valid),
 * marked valid at once.  A key dumped NOT VALID (or NOT ENFORCED) stays so.
 *
 * Primary keys and unique constraints.  ALTER TABLE ... ADD CONSTRAINT ...
 * PRIMARY KEY builds its index under ACCESS EXCLUSIVE, so the table's other
 * index builds (SHARE) wait for it: on a large table the builds run one
 * after the other whatever the number of workers.  Built as CREATE UNIQUE
 * INDEX (SHARE: alongside the other builds) and then attached with ADD
 * CONSTRAINT ... USING INDEX in a transaction of its own (a short ACCESS
 * EXCLUSIVE; two such steps never wait for each other holding a lock), the
 * result is the same index and constraint.  Plain tables only (partitioned
 * tables cannot take USING INDEX), btree keys of columns (no WITHOUT
 * OVERLAPS, no exclusion constraints).
 *
 * The archive's statements are parsed, never edited as text; anything else
 * runs as written (restore_exec.c).
 *
 * src/restore/restore_constraints.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/parser.h"
#include "tcop/dest.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"

#include "restore_exec.h"

/*
 * the ALTER TABLE of sql when it has subcommands and each one adds a
 * constraint of type contype (only_one: exactly one), else NULL
 */
static RawStmt *
add_constraint_statement(const char *sql, ConstrType contype, bool only_one)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	RawStmt    *rs;
	AlterTableStmt *ats;
	ListCell   *lc;

	if (list_length(raw) != 1)
		return NULL;
	rs = linitial_node(RawStmt, raw);
	if (!IsA(rs->stmt, AlterTableStmt))
		return NULL;
	ats = (AlterTableStmt *) rs->stmt;
	if (ats->objtype != OBJECT_TABLE || ats->cmds == NIL ||
		(only_one && list_length(ats->cmds) != 1))
		return NULL;
	foreach(lc, ats->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype != AT_AddConstraint || cmd->def == NULL ||
			!IsA(cmd->def, Constraint) ||
			((Constraint *) cmd->def)->contype != contype)
			return NULL;
	}
	return rs;
}

/*
 * pgb_restore_run_utility
 *		Runs the utility statement stmt (parsed from sql, the text error
 *		positions refer to) in the current transaction.
 */
void
pgb_restore_run_utility(Node *stmt, const char *sql)
{
	PlannedStmt *ps = makeNode(PlannedStmt);

	ps->commandType = CMD_UTILITY;
	ps->canSetTag = false;
	ps->utilityStmt = stmt;
	ps->stmt_location = -1;
	ps->stmt_len = 0;
	ProcessUtility(ps, sql, false, PROCESS_UTILITY_QUERY, NULL, NULL,
				   None_Receiver, NULL);
	CommandCounterIncrement();
}

/*
 * pgb_restore_fk_unchecked
 *		Runs sql (in the server's encoding, inside the entry's transaction)
 *		when it adds foreign keys only, each one the grammar marks valid
 *		created valid without its check; returns false, having done
 *		nothing, for any other statement.
 */
bool
pgb_restore_fk_unchecked(const char *sql)
{
	RawStmt    *rs = add_constraint_statement(sql, CONSTR_FOREIGN, false);
	ListCell   *lc;

	if (rs == NULL)
		return false;
	foreach(lc, ((AlterTableStmt *) rs->stmt)->cmds)
	{
		Constraint *c = (Constraint *) ((AlterTableCmd *) lfirst(lc))->def;

		/* NOT VALID (and NOT ENFORCED) keys: the grammar left them invalid */
		if (!c->skip_validation && c->initially_valid)
			c->skip_validation = true;
	}
	pgb_restore_run_utility(rs->stmt, sql);
	return true;
}

/* String nodes of column names as index columns */
static List *
index_elems(List *names)
{
	List	   *elems = NIL;
	ListCell   *lc;

	foreach(lc, names)
	{
		IndexElem  *e = makeNode(IndexElem);

		e->name = pstrdup(strVal(lfirst(lc)));
		e->ordering = SORTBY_DEFAULT;
		e->nulls_ordering = SORTBY_NULLS_DEFAULT;
		elems = lappend(elems, e);
	}
	return elems;
}

/*
 * pgb_restore_key_as_index
 *		When sql (in the server's encoding) is an ALTER TABLE that adds one
 *		primary key or unique constraint to a plain table, fills *index with
 *		the CREATE UNIQUE INDEX that builds its index and *attach with the
 *		ALTER TABLE ... ADD CONSTRAINT ... USING INDEX that makes it the
 *		constraint, to run in two transactions; false otherwise.
 */
bool
pgb_restore_key_as_index(const char *sql, Node **index, Node **attach)
{
	RawStmt    *rs;
	AlterTableStmt *ats;
	Constraint *c;
	IndexStmt  *is;
	Oid			relid;

	rs = add_constraint_statement(sql, CONSTR_PRIMARY, true);
	if (rs == NULL)
		rs = add_constraint_statement(sql, CONSTR_UNIQUE, true);
	if (rs == NULL)
		return false;
	ats = (AlterTableStmt *) rs->stmt;
	c = (Constraint *) linitial_node(AlterTableCmd, ats->cmds)->def;
	if (c->conname == NULL || c->indexname != NULL || c->keys == NIL ||
		(c->access_method != NULL && strcmp(c->access_method, "btree") != 0))
		return false;
#if PG_VERSION_NUM >= 170000
	if (c->without_overlaps)
		return false;
#endif
	relid = RangeVarGetRelid(ats->relation, NoLock, true);
	if (!OidIsValid(relid) || get_rel_relkind(relid) != RELKIND_RELATION)
		return false;

	is = makeNode(IndexStmt);
	is->idxname = pstrdup(c->conname);
	is->relation = copyObject(ats->relation);
	is->accessMethod = "btree";
	is->tableSpace = c->indexspace;
	is->indexParams = index_elems(c->keys);
	is->indexIncludingParams = index_elems(c->including);
	is->options = c->options;
	is->unique = true;
	is->nulls_not_distinct = c->nulls_not_distinct;
	is->reset_default_tblspc = c->reset_default_tblspc;
	*index = (Node *) is;

	c->indexname = pstrdup(c->conname);
	c->keys = NIL;
	c->including = NIL;
	c->options = NIL;
	c->indexspace = NULL;
	*attach = (Node *) ats;
	return true;
}
