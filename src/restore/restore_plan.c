/*-------------------------------------------------------------------------
 *
 * restore_plan.c
 *	  Which TOC entries a restore runs, in which pass, and in what order.
 *
 * The rules follow pg_restore (docs: archive-format.md sections 8.3-8.8):
 * sections are tracked in TOC order (a SECTION_NONE entry inherits the
 * current one; an entry with an unknown section, and the SECTION_NONE
 * entries after it, are never restored); ENCODING, STDSTRINGS and
 * SEARCHPATH set up the session instead of running; DATABASE entries are
 * left alone (the target keeps its own properties); ACLs run only on
 * request; STATISTICS DATA needs a server of version 18.  Pre-data entries
 * of the main pass run serially in TOC order; everything else forms a
 * dependency graph in which POST_DATA dependencies on a TABLE point at
 * that table's TABLE DATA, so an index build starts as soon as its table is
 * loaded.  Ready items are taken largest data first (an index ranks with
 * its table's data, see ensure_priority), and items that take
 * exclusive table locks (everything in POST_DATA but indexes) never run
 * beside another item locking the same table.  Three passes: main, then
 * ACLs, then materialized view data and event triggers.
 *
 * src/restore/restore_plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"

#include "compat.h"
#include "restore_plan.h"

bool
pgb_toc_is(const PgbTocEntry *te, const char *desc)
{
	return te->desc && strcmp(te->desc, desc) == 0;
}

char *
pgb_restore_entry_name(const PgbTocEntry *te)
{
	if (te->namespace && te->namespace[0])
		return psprintf("%s %s.%s", te->desc, te->namespace, te->tag ? te->tag : "");
	return psprintf("%s %s", te->desc, te->tag ? te->tag : "");
}

static bool
tag_starts(const PgbTocEntry *te, const char *prefix)
{
	return te->tag && strncmp(te->tag, prefix, strlen(prefix)) == 0;
}

static void
plan_fail(const PgbTocEntry *te, const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid archive: %s", msg),
			 te ? errdetail("TOC entry %d (%s %s).", te->dump_id,
							te->desc ? te->desc : "?", te->tag ? te->tag : "?") : 0));
}

/*
 * pgb_archive_session
 *		The encoding, string syntax and search_path the archive's SQL was
 *		written for (pg_restore's processEncodingEntry and friends).
 */
void
pgb_archive_session(const PgbArchive *ar, PgbArchiveSession *s)
{
	int			i;

	s->encoding = PG_SQL_ASCII;
	s->std_strings = false;
	s->searchpath = NULL;
	for (i = 0; i < ar->ntoc; i++)
	{
		const PgbTocEntry *te = &ar->toc[i];

		if (pgb_toc_is(te, "ENCODING"))
		{
			const char *q1 = te->defn ? strchr(te->defn, '\'') : NULL;
			const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
			char	   *name;

			if (q2 == NULL)
				plan_fail(te, "malformed ENCODING entry");
			name = pnstrdup(q1 + 1, q2 - q1 - 1);
			s->encoding = pg_char_to_encoding(name);
			if (s->encoding < 0 || !PG_VALID_ENCODING(s->encoding))
				plan_fail(te, psprintf("unrecognized encoding \"%s\"", name));
		}
		else if (pgb_toc_is(te, "STDSTRINGS"))
		{
			if (te->defn && strstr(te->defn, "'on'"))
				s->std_strings = true;
			else if (te->defn && strstr(te->defn, "'off'"))
				s->std_strings = false;
			else
				plan_fail(te, "malformed STDSTRINGS entry");
		}
		else if (pgb_toc_is(te, "SEARCHPATH"))
			s->searchpath = te->defn ? pstrdup(te->defn) : NULL;
	}
}

static PgbRestorePass
entry_pass(const PgbTocEntry *te)
{
	if (pgb_toc_is(te, "ACL") || pgb_toc_is(te, "ACL LANGUAGE") || pgb_toc_is(te, "DEFAULT ACL"))
		return PGB_PASS_ACL;
	if (pgb_toc_is(te, "EVENT TRIGGER") || pgb_toc_is(te, "MATERIALIZED VIEW DATA"))
		return PGB_PASS_POST_ACL;
	if (pgb_toc_is(te, "COMMENT") && tag_starts(te, "EVENT TRIGGER "))
		return PGB_PASS_POST_ACL;
	return PGB_PASS_MAIN;
}

typedef struct DumpIdEntry
{
	int			dump_id;		/* hash key */
	int			item;
} DumpIdEntry;

static int
lookup(HTAB *map, int dump_id)
{
	DumpIdEntry *e = hash_search(map, &dump_id, HASH_FIND, NULL);

	return e ? e->item : -1;
}

static bool in_graph(const PgbRestoreItem *it)
{
	return it->action != PGB_ACT_SKIP && !it->pre_data;
}

static const PgbRestorePlan *sort_plan;

static int
cmp_priority(const void *a, const void *b)
{
	const PgbRestoreItem *x = &sort_plan->items[*(const int *) a];
	const PgbRestoreItem *y = &sort_plan->items[*(const int *) b];

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->data_size != y->data_size)
		return x->data_size > y->data_size ? -1 : 1;
	return x->te->dump_id - y->te->dump_id;
}

static int *priority_order;
static int	npriority;

/* section tracking, as pg_restore does: 0 for an unknown section */
static int
entry_section(const PgbTocEntry *te, int *cur_section)
{
	int			section = te->section;

	if (section == PGB_SECTION_NONE)
		return *cur_section;
	if (section >= PGB_SECTION_PRE_DATA && section <= PGB_SECTION_POST_DATA)
		return *cur_section = section;
	return *cur_section = 0;
}

/* why an entry is not restored, or NULL */
static const char *
skip_reason(const PgbTocEntry *te, int section, PgbRestorePass pass, bool keep_acl)
{
	if (section == 0)
		return "unknown section";
	if (pgb_toc_is(te, "ENCODING") || pgb_toc_is(te, "STDSTRINGS") || pgb_toc_is(te, "SEARCHPATH"))
		return "session setting";
	if (pgb_toc_is(te, "DATABASE") || pgb_toc_is(te, "DATABASE PROPERTIES"))
		return "database properties stay those of the target";
	if (pass == PGB_PASS_ACL && !keep_acl)
		return "privileges are restored only with keep_acl => true";
	if (pgb_toc_is(te, "STATISTICS DATA") && !PGB_HAVE_STATISTICS)
		return "statistics need PostgreSQL 18";
	if (pgb_toc_is(te, "COMMENT") && tag_starts(te, "EXTENSION "))
		return "an extension's comment comes with the extension";
	return NULL;
}

/* one item per TOC entry: pass, action, section; map dumpId -> item */
static void
plan_items(PgbRestorePlan *plan, HTAB *map, bool keep_acl)
{
	const PgbArchive *ar = plan->ar;
	int			cur_section = PGB_SECTION_PRE_DATA;
	int			i;

	for (i = 0; i < ar->ntoc; i++)
	{
		PgbRestoreItem *it = &plan->items[i];
		PgbTocEntry *te = &ar->toc[i];
		bool		found;
		DumpIdEntry *e;
		int			section;

		it->toc_index = i;
		it->te = te;
		if (te->dump_id <= 0)
			plan_fail(te, "dumpId must be positive");
		e = hash_search(map, &te->dump_id, HASH_ENTER, &found);
		if (found)
			plan_fail(te, "duplicate dumpId");
		e->item = i;
		section = entry_section(te, &cur_section);
		if (te->desc == NULL)
			plan_fail(te, "entry without a type");
		it->pass = entry_pass(te);
		it->has_data = te->had_dumper && te->data_state != PGB_OFFSET_NO_DATA;
		if (it->has_data && pgb_toc_is(te, "TABLE DATA") && te->copy_stmt && te->copy_stmt[0])
		{
			uint64	   *off;
			int			n;

			/* the note is checked here; each worker reads its part's offsets */
			it->nparts = pgb_data_parts(te, &off);
			if (off)
				pfree(off);
			/* a copy's: each part a statement its worker runs at the source */
			n = pgb_data_source(te, NULL);
			if (n > 0)
			{
				it->at_source = true;
				it->nparts = n > 1 ? n : 0;
			}
		}
		it->skip_reason = skip_reason(te, section, it->pass, keep_acl);
		if (it->skip_reason)
		{
			it->action = PGB_ACT_SKIP;
			it->state = PGB_ITEM_DONE;
			plan->nskipped++;
		}
		else
			it->action = pgb_toc_is(te, "EXTENSION") ? PGB_ACT_EXTENSION : PGB_ACT_WORKER;
		it->pre_data = (section == PGB_SECTION_PRE_DATA && it->pass == PGB_PASS_MAIN);
	}
}

/*
 * each table's TABLE DATA item (-1: none): its first dependency is the
 * table (absent for an extension's configuration table, which the
 * extension creates)
 */
static int *
table_data_items(const PgbRestorePlan *plan, HTAB *map)
{
	int		   *table_data = palloc(sizeof(int) * Max(plan->nitems, 1));
	int			i;

	for (i = 0; i < plan->nitems; i++)
		table_data[i] = -1;
	for (i = 0; i < plan->nitems; i++)
	{
		const PgbTocEntry *te = plan->items[i].te;

		if (pgb_toc_is(te, "TABLE DATA") && te->ndeps > 0)
		{
			int			t = lookup(map, te->deps[0]);

			if (t >= 0)
				table_data[t] = i;
		}
	}
	return table_data;
}

/*
 * item i's dependencies in the graph of everything after the pre-data
 * phase, and the tables it locks exclusively
 */
static void
item_edges(PgbRestorePlan *plan, HTAB *map, const int *table_data, int i)
{
	PgbRestoreItem *it = &plan->items[i];
	PgbTocEntry *te = it->te;
	bool		post = te->section == PGB_SECTION_POST_DATA ||
		(te->section == PGB_SECTION_NONE && !it->pre_data);
	int			d;

	it->deps = palloc(sizeof(int) * Max(te->ndeps, 1));
	it->locks = palloc(sizeof(int) * Max(te->ndeps, 1));
	for (d = 0; d < te->ndeps; d++)
	{
		int			dep = lookup(map, te->deps[d]);
		int			k;
		bool		dup = false;

		if (dep < 0)
			continue;			/* absent ids are ignored, as pg_restore does */
		if (post && pgb_toc_is(plan->items[dep].te, "TABLE") && table_data[dep] >= 0)
			dep = table_data[dep];
		if (post && !pgb_toc_is(te, "INDEX"))
		{
			const PgbTocEntry *dte = plan->items[dep].te;

			if (pgb_toc_is(dte, "TABLE"))
				it->locks[it->nlocks++] = dte->dump_id;
			else if (pgb_toc_is(dte, "TABLE DATA") && dte->ndeps > 0)
				it->locks[it->nlocks++] = dte->deps[0];
		}
		if (!in_graph(&plan->items[dep]) || dep == i)
			continue;
		for (k = 0; k < it->ndeps; k++)
			if (it->deps[k] == dep)
				dup = true;
		if (!dup)
			it->deps[it->ndeps++] = dep;
	}
	it->depcount = it->ndeps;
}

/* the reverse edges: who waits for each item */
static void
reverse_edges(PgbRestorePlan *plan)
{
	int			i;
	int			d;

	for (i = 0; i < plan->nitems; i++)
		for (d = 0; d < plan->items[i].ndeps; d++)
			plan->items[plan->items[i].deps[d]].nrevdeps++;
	for (i = 0; i < plan->nitems; i++)
	{
		PgbRestoreItem *it = &plan->items[i];

		it->revdeps = palloc(sizeof(int) * Max(it->nrevdeps, 1));
		it->nrevdeps = 0;
	}
	for (i = 0; i < plan->nitems; i++)
	{
		PgbRestoreItem *it = &plan->items[i];

		for (d = 0; d < it->ndeps; d++)
		{
			PgbRestoreItem *dep = &plan->items[it->deps[d]];

			dep->revdeps[dep->nrevdeps++] = i;
		}
	}
}

PgbRestorePlan *
pgb_restore_plan_build(const PgbArchive *ar, bool keep_acl)
{
	PgbRestorePlan *plan = palloc0(sizeof(PgbRestorePlan));
	HASHCTL		ctl;
	HTAB	   *map;
	int		   *table_data;
	int			i;

	plan->ar = ar;
	plan->nitems = ar->ntoc;
	plan->items = palloc0(sizeof(PgbRestoreItem) * Max(ar->ntoc, 1));

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int);
	ctl.entrysize = sizeof(DumpIdEntry);
	ctl.hcxt = CurrentMemoryContext;
	map = hash_create("pgbackups dumpIds", Max(ar->ntoc, 16), &ctl,
					  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	plan_items(plan, map, keep_acl);
	table_data = table_data_items(plan, map);
	for (i = 0; i < plan->nitems; i++)
		if (in_graph(&plan->items[i]))
			item_edges(plan, map, table_data, i);
	reverse_edges(plan);
	hash_destroy(map);
	pfree(table_data);
	return plan;
}

/*
 * pgb_restore_plan_whole_tables
 *		Call after data sizes are known, when the server writes no WAL for
 *		rows a transaction loads into storage it made itself (wal_level =
 *		minimal: TRUNCATE, then COPY FREEZE, as restore_exec.c loads a whole
 *		table).  The parts of a table the archive splits load side by side
 *		in several transactions, so each of their rows is written twice,
 *		to the table and to WAL.  A split table loads whole, in one
 *		transaction, when the rest of the restore keeps the other workers
 *		busy meanwhile: its data block is at most 1.5 times an even share
 *		of all the data (the half for index builds, which follow the loads
 *		and are not in the data sizes).  A table that is the bulk of the
 *		archive stays in parts: there one core could not do the work of
 *		several.  Returns how many tables load whole.
 */
int
pgb_restore_plan_whole_tables(PgbRestorePlan *plan, int nworkers)
{
	uint64		total = 0;
	int			n = 0;
	int			i;

	if (nworkers < 2)
		return 0;
	for (i = 0; i < plan->nitems; i++)
		if (plan->items[i].has_data && plan->items[i].action != PGB_ACT_SKIP)
			total += plan->items[i].data_size;
	for (i = 0; i < plan->nitems; i++)
	{
		PgbRestoreItem *it = &plan->items[i];

		if (it->nparts > 1 && !it->at_source && it->action != PGB_ACT_SKIP &&
			it->data_size * (uint64) nworkers <= total + total / 2)
		{
			it->nparts = 0;
			n++;
		}
	}
	return n;
}

/*
 * ensure_priority
 *		Call after data sizes are known, before the parallel phase.  An
 *		item's priority is the largest data block among itself, its
 *		dependencies and its dependants: an index or constraint ranks with
 *		its table's data (pg_restore ranks index builds by their table's size
 *		too), so the builds of a large table do not wait behind the loads of
 *		small ones, and an entry whose dependant carries data (BLOB METADATA,
 *		before the BLOBS it creates) ranks with that data instead of after
 *		every index build.
 */
static void
ensure_priority(PgbRestorePlan *plan)
{
	int			i;
	int			k;

	if (priority_order && sort_plan == plan)
		return;
	priority_order = palloc(sizeof(int) * Max(plan->nitems, 1));
	npriority = 0;
	for (i = 0; i < plan->nitems; i++)
	{
		PgbRestoreItem *it = &plan->items[i];

		if (!in_graph(it))
			continue;
		it->priority = it->data_size;
		for (k = 0; k < it->ndeps; k++)
			it->priority = Max(it->priority, plan->items[it->deps[k]].data_size);
		for (k = 0; k < it->nrevdeps; k++)
			it->priority = Max(it->priority, plan->items[it->revdeps[k]].data_size);
		priority_order[npriority++] = i;
	}
	sort_plan = plan;
	qsort(priority_order, npriority, sizeof(int), cmp_priority);
}

static bool
lock_conflict(PgbRestorePlan *plan, const PgbRestoreItem *it, const int *running, int nrunning)
{
	int			r,
				a,
				b;

	if (it->nlocks == 0)
		return false;
	for (r = 0; r < nrunning; r++)
	{
		const PgbRestoreItem *other = &plan->items[running[r]];

		for (a = 0; a < it->nlocks; a++)
			for (b = 0; b < other->nlocks; b++)
				if (it->locks[a] == other->locks[b])
					return true;
	}
	return false;
}

/*
 * pgb_restore_plan_next
 *		The best ready item (an item in parts stays ready, running, until
 *		every part was handed out) of passes up to pass that does not clash with the
 *		running items' table locks, or -1.  With running empty and nothing
 *		ready in the last pass, the first waiting item in TOC order is
 *		returned regardless of its dependencies (a dependency loop; pg_restore
 *		restores such leftovers serially at the end).
 */
int
pgb_restore_plan_next(PgbRestorePlan *plan, PgbRestorePass pass,
					  const int *running, int nrunning)
{
	int			k;

	ensure_priority(plan);
	for (k = 0; k < npriority; k++)
	{
		PgbRestoreItem *it = &plan->items[priority_order[k]];

		if (!(it->state == PGB_ITEM_WAITING || pgb_restore_part_left(it)) ||
			it->depcount > 0 || it->pass > pass)
			continue;
		if (lock_conflict(plan, it, running, nrunning))
			continue;
		return priority_order[k];
	}
	if (nrunning == 0 && pass == PGB_PASS_POST_ACL)
	{
		for (k = 0; k < plan->nitems; k++)
			if (in_graph(&plan->items[k]) && plan->items[k].state == PGB_ITEM_WAITING)
				return k;
	}
	return -1;
}

void
pgb_restore_plan_done(PgbRestorePlan *plan, int item)
{
	PgbRestoreItem *it = &plan->items[item];
	int			r;

	it->state = PGB_ITEM_DONE;
	for (r = 0; r < it->nrevdeps; r++)
		plan->items[it->revdeps[r]].depcount--;
}

bool
pgb_restore_plan_pass_left(PgbRestorePlan *plan, PgbRestorePass pass)
{
	int			i;

	for (i = 0; i < plan->nitems; i++)
		if (in_graph(&plan->items[i]) && plan->items[i].state != PGB_ITEM_DONE &&
			plan->items[i].pass <= pass)
			return true;
	return false;
}

/*
 * pgb_restore_owner_target
 *		"TABLE public.t", "FUNCTION public.f(integer)"...: what ALTER ...
 *		OWNER TO names for this entry (pg_restore's _getObjectDescription),
 *		or NULL if the entry has no separate owner.
 */
char *
pgb_restore_owner_target(const PgbTocEntry *te)
{
	static const char *const plain[] = {
		"COLLATION", "CONVERSION", "DOMAIN", "FOREIGN TABLE", "MATERIALIZED VIEW",
		"SEQUENCE", "STATISTICS", "TABLE", "TEXT SEARCH DICTIONARY",
		"TEXT SEARCH CONFIGURATION", "TYPE", "VIEW", "DATABASE", "PROCEDURAL LANGUAGE",
		"SCHEMA", "EVENT TRIGGER", "FOREIGN DATA WRAPPER", "SERVER", "PUBLICATION",
		"SUBSCRIPTION", NULL
	};
	static const char *const from_drop[] = {
		"AGGREGATE", "FUNCTION", "OPERATOR", "OPERATOR CLASS", "OPERATOR FAMILY",
		"PROCEDURE", NULL
	};
	static const char *const ownerless[] = {
		"CAST", "CHECK CONSTRAINT", "CONSTRAINT", "DATABASE PROPERTIES", "DEFAULT",
		"FK CONSTRAINT", "INDEX", "RULE", "TRIGGER", "ROW SECURITY", "POLICY",
		"USER MAPPING", NULL
	};
	int			i;

	if (te->owner == NULL || te->owner[0] == '\0' ||
		te->drop_stmt == NULL || te->drop_stmt[0] == '\0')
		return NULL;
	for (i = 0; plain[i]; i++)
		if (pgb_toc_is(te, plain[i]))
		{
			if (te->namespace && te->namespace[0])
				return psprintf("%s %s", te->desc,
								quote_qualified_identifier(te->namespace, te->tag));
			return psprintf("%s %s", te->desc, quote_identifier(te->tag));
		}
	if (pgb_toc_is(te, "BLOB"))
		return psprintf("LARGE OBJECT %s", te->tag);
	for (i = 0; from_drop[i]; i++)
		if (pgb_toc_is(te, from_drop[i]))
		{
			char	   *s;
			int			len;

			if (strncmp(te->drop_stmt, "DROP ", 5) != 0)
				plan_fail(te, "drop statement does not start with DROP");
			s = pstrdup(te->drop_stmt + 5);
			len = strlen(s);
			while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ';'))
				s[--len] = '\0';
			return s;
		}
	for (i = 0; ownerless[i]; i++)
		if (pgb_toc_is(te, ownerless[i]))
			return NULL;
	if (pgb_toc_is(te, "BLOB METADATA"))
		return NULL;			/* per large object, by the executor */
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("do not know how to set the owner of object type \"%s\"", te->desc),
			 errhint("Restore with keep_owner => false.")));
	return NULL;
}

/* an identifier at *p (plain or double-quoted); advances *p */
static char *
parse_identifier(const char **p)
{
	StringInfoData s;
	const char *c = *p;

	initStringInfo(&s);
	if (*c == '"')
	{
		for (c++;; c++)
		{
			if (*c == '\0')
				return NULL;
			if (*c == '"')
			{
				if (c[1] == '"')
				{
					appendStringInfoChar(&s, '"');
					c++;
					continue;
				}
				c++;
				break;
			}
			appendStringInfoChar(&s, *c);
		}
	}
	else
	{
		while (*c && (isalnum((unsigned char) *c) || *c == '_' || *c == '$' || IS_HIGHBIT_SET(*c)))
			appendStringInfoChar(&s, *c++);
	}
	if (s.len == 0)
		return NULL;
	*p = c;
	return s.data;
}

/*
 * pgb_restore_parse_extension
 *		The name and schema of a CREATE EXTENSION entry.  The only form
 *		accepted is the one pg_dump writes, CREATE EXTENSION IF NOT EXISTS
 *		name WITH SCHEMA schema;, with the tag equal to the name: the
 *		statement actually run is rebuilt from these two names
 *		(pgb_restore_extension_sql), never taken from the archive.
 */
void
pgb_restore_parse_extension(const PgbTocEntry *te, char **name_out, char **schema_out)
{
	const char *p = te->defn ? te->defn : "";
	const char *prefix = "CREATE EXTENSION IF NOT EXISTS ";
	char	   *name;
	char	   *schema;

	if (strncmp(p, prefix, strlen(prefix)) != 0)
		goto bad;
	p += strlen(prefix);
	name = parse_identifier(&p);
	if (name == NULL || strncmp(p, " WITH SCHEMA ", 13) != 0)
		goto bad;
	p += 13;
	schema = parse_identifier(&p);
	if (schema == NULL || *p != ';')
		goto bad;
	for (p++; *p; p++)
		if (!isspace((unsigned char) *p))
			goto bad;
	if (te->tag == NULL || strcmp(te->tag, name) != 0)
		goto bad;
	*name_out = name;
	*schema_out = schema;
	return;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("unsupported extension definition in archive entry %d", te->dump_id),
			 errdetail("Only \"CREATE EXTENSION IF NOT EXISTS name WITH SCHEMA schema;\" is accepted; the archive has: %s",
					   te->defn ? te->defn : "(null)")));
}

/*
 * pgb_restore_extension_sql
 *		What creates an extension, whoever runs it: a search_path holding
 *		only pg_catalog and pg_temp, then the statement with both names
 *		quoted (the extension script itself runs with the search_path
 *		CREATE EXTENSION sets up for it).
 */
char *
pgb_restore_extension_sql(const char *name, const char *schema)
{
	return psprintf("SET LOCAL search_path = pg_catalog, pg_temp;\n"
					"CREATE EXTENSION IF NOT EXISTS %s WITH SCHEMA %s;",
					quote_identifier(name), quote_identifier(schema));
}
