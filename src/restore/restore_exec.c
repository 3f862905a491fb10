/*-------------------------------------------------------------------------
 *
 * restore_exec.c
 *	  Executes TOC entries in a restore worker ("pgbackups restore"), a
 *	  background worker whose session is authenticated as the target
 *	  database's owner, so nothing in an archive can do more than that role
 *	  could: RESET ROLE and RESET SESSION AUTHORIZATION lead back to the
 *	  owner, and SET ROLE, ALTER SYSTEM or COPY ... PROGRAM fail on the
 *	  server's own privilege checks, wherever they hide (DO blocks,
 *	  functions run by the restore).
 *
 * SQL: the entry's definition runs through SPI (multi-statement strings
 * as pg_restore's PQexec allows), converted from the archive's encoding,
 * after the per-entry settings pg_restore issues (default_tablespace,
 * default_table_access_method, search_path for archives without a
 * SEARCHPATH entry).  Data: the COPY statement of a TABLE DATA entry is
 * parsed, never executed as text; the table is opened, the role's INSERT
 * privilege and row security are checked as COPY would, and the block's
 * chunks are decompressed straight into an in-process COPY FROM
 * (copy_data_source_cb).  A table the restore created itself (its TABLE
 * entry is in the archive) is loaded with TRUNCATE ONLY and COPY ... FREEZE
 * in one transaction, so its rows are frozen and its pages all-visible and
 * all-frozen from the start (no hint-bit writes, no anti-wraparound vacuum
 * later), and so are the parts of such a table split by the archive, each
 * in its worker's transaction (parts_freeze; with wal_level = minimal
 * without WAL, restore_nowal.c); partitioned targets (data loaded via the partition root),
 * extension configuration tables, tables that already hold data and tables
 * the role may not truncate take a plain COPY.  A CREATE EXTENSION entry runs as a statement
 * rebuilt from its parsed name and schema, never as the archive's text,
 * so PostgreSQL's rules for the owner apply (trusted extensions only).  Large objects are written with lo_put, which
 * checks the role's privileges.  Each entry runs in one transaction.
 * After the entries, the leader hands out ANALYZE tasks (pgb_exec_analyze).
 *
 * src/restore/restore_exec.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/table.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "commands/vacuum.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compat.h"
#include "compress.h"
#include "restore_exec.h"
#include "restore_nowal.h"
#include "restore_source.h"
#include "storage.h"

#define LO_WRITE_SIZE (1024 * 1024)

/* text from the archive, in the database encoding (validated) */
static char *
to_server(PgbRestoreExec *x, const char *s)
{
	return pg_any_to_server(s, strlen(s), x->sess.encoding);
}

static void
run_sql(PgbRestoreExec *x, const char *sql)
{
	int			rc;

	rc = SPI_execute(to_server(x, sql), false, 0);
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("archive SQL cannot run in a restore: %s", SPI_result_code_string(rc)),
				 errdetail("Transaction control and COPY FROM STDIN are not allowed in object definitions.")));
}

/* SQL built here, already in the server's encoding */
static void
run_sql_server(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute failed for \"%s\": %s", sql, SPI_result_code_string(rc));
}

/* a setting pg_restore changes only when it differs from the current one */
static void
set_if_changed(PgbRestoreExec *x, char **cur, const char *want, const char *sqlfmt)
{
	if (want == NULL)
		return;
	if (*cur && strcmp(*cur, want) == 0)
		return;
	run_sql(x, psprintf(sqlfmt, want[0] ? quote_identifier(want) : "''"));
	if (*cur)
		pfree(*cur);
	*cur = MemoryContextStrdup(TopMemoryContext, want);
}

static void
in_transaction_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
in_transaction_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

void
pgb_exec_init(PgbRestoreExec *x, const char *path, const uint64 *positions,
			  bool keep_owner, int64 max_decompressed)
{
	PgbArchive *ar;
	int			i;
	StringInfoData sql;

	memset(x, 0, sizeof(*x));
	x->reader = pgb_storage_open_reader(path, true);
	ar = (PgbArchive *) pgb_reader_read_toc(x->reader);
	x->ar = ar;
	for (i = 0; i < ar->ntoc; i++)
		if (positions[i] != 0)
		{
			ar->toc[i].data_pos = positions[i];
			ar->toc[i].data_state = PGB_OFFSET_SET;
		}
	pgb_archive_session(ar, &x->sess);
	x->keep_owner = keep_owner;
	x->max_decompressed = max_decompressed;

	/* pg_restore's fixed session state (_doSetFixedOutputState) */
	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "SET statement_timeout = 0;\n"
						   "SET lock_timeout = 0;\n"
						   "SET idle_in_transaction_session_timeout = 0;\n");
	appendStringInfo(&sql, "SET standard_conforming_strings = %s;\n",
					 x->sess.std_strings ? "on" : "off");
	if (x->sess.searchpath)
		appendStringInfoString(&sql, x->sess.searchpath);
	appendStringInfoString(&sql,
						   "\nSET check_function_bodies = false;\n"
						   "SET xmloption = content;\n"
						   "SET client_min_messages = warning;\n"
						   "SET row_security = off;\n");
	if (!x->sess.std_strings)
		appendStringInfoString(&sql, "SET escape_string_warning = off;\n");
	in_transaction_begin();
	run_sql(x, sql.data);
	in_transaction_end();
}

/* ---- COPY FROM fed by the archive ---- */

static struct
{
	PgbArchiveReader *reader;
	PgbDecompressor *dec;
	StringInfoData chunk;
	StringInfoData out;
	int			off;
	bool		eof;
	int64		stored;
	bool		from_source;	/* a copy's rows, read at its source */
} cp;

static void
out_sink(void *arg, const char *data, size_t len)
{
	appendBinaryStringInfo(&cp.out, data, len);
}

/* pull the next chunk through the decompressor; false at the end */
static bool
refill(void)
{
	resetStringInfo(&cp.out);
	cp.off = 0;
	if (cp.eof)
		return false;
	CHECK_FOR_INTERRUPTS();
	if (cp.from_source)
	{
		if (!pgb_source_read(&cp.out))
		{
			cp.eof = true;
			return false;
		}
		cp.stored += cp.out.len;
		return true;
	}
	if (pgb_reader_next_chunk(cp.reader, &cp.chunk))
	{
		cp.stored += cp.chunk.len;
		pgb_decompressor_feed(cp.dec, cp.chunk.data, cp.chunk.len);
	}
	else
	{
		(void) pgb_decompressor_end(cp.dec);
		cp.eof = true;
	}
	return true;
}

static int
copy_read_cb(void *outbuf, int minread, int maxread)
{
	int			got = 0;

	while (got < minread)
	{
		int			n;

		if (cp.off >= cp.out.len)
		{
			if (!refill())
				break;
			continue;
		}
		n = Min(maxread - got, cp.out.len - cp.off);
		memcpy((char *) outbuf + got, cp.out.data + cp.off, n);
		got += n;
		cp.off += n;
	}
	return got;
}

static void
feed_reset(void)
{
	if (cp.chunk.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&cp.chunk);
		initStringInfo(&cp.out);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(&cp.out);
	cp.off = 0;
	cp.eof = false;
	cp.stored = 0;
	cp.from_source = false;
}

static void
stream_begin_part(PgbRestoreExec *x, bool first, bool last)
{
	feed_reset();
	cp.reader = x->reader;
	cp.dec = pgb_decompressor_create(x->ar->hdr.compression, x->max_decompressed);
	pgb_decompressor_begin_part(cp.dec, out_sink, NULL, first, last);
}

/*
 * binary_ok
 *		Whether a copy's rows of rel may travel in binary COPY format: the
 *		source runs the same major version with the same encoding (binary
 *		text values are not converted), and every column is of a built-in
 *		type with binary input and output (arrays: their element's).  Other
 *		tables, and a source of another version, go as text.
 */
static bool
binary_ok(PgbRestoreExec *x, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (x->sess.encoding != GetDatabaseEncoding() ||
		pgb_source_server_version(x->source_conninfo, x->source_snapshot,
								  x->sess.encoding) / 10000 != PG_VERSION_NUM / 10000)
		return false;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			typid = att->atttypid;

		if (att->attisdropped || att->attgenerated)
			continue;
		while (OidIsValid(typid))
		{
			HeapTuple	tup;
			Form_pg_type typ;
			Oid			elem;
			bool		binary;

			if (typid >= FirstNormalObjectId)
				return false;
			tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
			if (!HeapTupleIsValid(tup))
				return false;
			typ = (Form_pg_type) GETSTRUCT(tup);
			binary = OidIsValid(typ->typsend) && OidIsValid(typ->typreceive);
			elem = IsTrueArrayType(typ) ? typ->typelem : InvalidOid;
			ReleaseSysCache(tup);
			if (!binary)
				return false;
			typid = elem;
		}
	}
	return true;
}

/* the rows of a copy's table (or part), read at the source by sql */
static void
source_begin(PgbRestoreExec *x, const PgbTocEntry *te, const char *sql, bool binary)
{
	feed_reset();
	cp.dec = NULL;
	cp.from_source = true;
	/* sql ends with " TO stdout;" (data_source.c checks it) */
	if (binary)
		sql = psprintf("%.*s (FORMAT binary);", (int) strlen(sql) - 1, sql);
	pgb_source_begin(x->source_conninfo, x->source_snapshot, x->sess.encoding, sql,
					 quote_qualified_identifier(te->namespace, te->tag));
}

static void
stream_begin(PgbRestoreExec *x)
{
	stream_begin_part(x, true, true);
}

/* read what COPY left (the end marker's tail) so the whole stream is checked */
static void
stream_drain(void)
{
	while (refill())
		;
}

static CopyStmt *
parse_copy(PgbRestoreExec *x, const PgbTocEntry *te)
{
	List	   *raw;
	RawStmt    *rs;
	CopyStmt   *stmt;

	raw = raw_parser(to_server(x, te->copy_stmt), RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		goto bad;
	rs = linitial_node(RawStmt, raw);
	if (!IsA(rs->stmt, CopyStmt))
		goto bad;
	stmt = (CopyStmt *) rs->stmt;
	if (!stmt->is_from || stmt->is_program || stmt->filename != NULL ||
		stmt->relation == NULL || stmt->query != NULL || stmt->options != NIL ||
		stmt->whereClause != NULL)
		goto bad;
	return stmt;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid archive: unexpected COPY statement for table \"%s\"", te->tag),
			 errdetail("Only COPY table [(columns)] FROM stdin is accepted; the archive has: %s",
					   te->copy_stmt)));
	return NULL;
}

/*
 * created_by_restore
 *		Whether the table of TABLE DATA entry te was created by this restore:
 *		its first dependency is a TABLE entry of the archive (an extension's
 *		configuration table has none; the extension created it, maybe with
 *		rows of its own).
 */
static bool
created_by_restore(PgbRestoreExec *x, const PgbTocEntry *te)
{
	const PgbTocEntry *table;

	if (te->ndeps < 1)
		return false;
	table = pgb_toc_find(x->ar, te->deps[0]);
	return table != NULL && pgb_toc_is(table, "TABLE");
}

typedef struct DataEntries
{
	int			table;			/* dumpId of the table, hash key */
	int			count;			/* its TABLE DATA entries */
} DataEntries;

/* how many TABLE DATA entries load the table of te (a hash built once) */
static int
data_entries_of(PgbRestoreExec *x, const PgbTocEntry *te)
{
	DataEntries *e;

	if (x->data_entries == NULL)
	{
		HASHCTL		ctl;
		int			i;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int);
		ctl.entrysize = sizeof(DataEntries);
		ctl.hcxt = TopMemoryContext;
		x->data_entries = hash_create("pgbackups TABLE DATA entries", Max(x->ar->ntoc, 16), &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		for (i = 0; i < x->ar->ntoc; i++)
		{
			const PgbTocEntry *d = &x->ar->toc[i];
			bool		found;

			if (!pgb_toc_is(d, "TABLE DATA") || d->ndeps < 1)
				continue;
			e = hash_search(x->data_entries, &d->deps[0], HASH_ENTER, &found);
			e->count = found ? e->count + 1 : 1;
		}
	}
	e = hash_search(x->data_entries, &te->deps[0], HASH_FIND, NULL);
	return e ? e->count : 0;
}

/*
 * freeze_prepare
 *		Whether rel can be loaded with COPY FREEZE, and if so TRUNCATE ONLY
 *		it, which makes its storage new in this transaction as COPY FREEZE
 *		requires.  Only an ordinary table the restore created, loaded by
 *		this entry alone (the entries of a table whose data an archive
 *		splits load side by side, and the TRUNCATE's lock would serialize
 *		them, or deadlock), with no page yet (the TRUNCATE loses nothing),
 *		that the role may truncate.  No trigger or foreign key exists yet:
 *		those are post-data.  Returns rel, reopened.
 */
static Relation
freeze_prepare(PgbRestoreExec *x, const PgbTocEntry *te, Relation rel, bool *freeze)
{
	Oid			relid = RelationGetRelid(rel);
	char	   *qname;

	*freeze = false;
	if (rel->rd_rel->relkind != RELKIND_RELATION || !created_by_restore(x, te) ||
		data_entries_of(x, te) != 1 || RelationGetNumberOfBlocks(rel) != 0 ||
		pg_class_aclcheck(relid, GetUserId(), ACL_TRUNCATE) != ACLCHECK_OK)
		return rel;
	qname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									   RelationGetRelationName(rel));
	table_close(rel, NoLock);
	run_sql_server(psprintf("TRUNCATE ONLY %s", qname));
	*freeze = true;
	return table_open(relid, RowExclusiveLock);
}

/*
 * parts_freeze
 *		Whether the rows of a part of TABLE DATA in parts can be inserted
 *		frozen: an ordinary table the restore created, loaded by this entry
 *		alone.  Its parts load side by side in the workers' own transactions,
 *		so none of them made its storage and COPY FREEZE would refuse; but
 *		the table lives in the staging database, which nothing reads before
 *		the swap and which is dropped whenever any part fails, so rows
 *		visible before their transaction commits (what COPY FREEZE guards
 *		against) harm nobody.  Frozen, its pages all-visible and all-frozen
 *		from the start, the table needs no rewrite by VACUUM (FREEZE) later.
 */
static bool
parts_freeze(PgbRestoreExec *x, const PgbTocEntry *te, Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_RELATION && created_by_restore(x, te) &&
		data_entries_of(x, te) == 1;
}

static int64
copy_table_data(PgbRestoreExec *x, const PgbTocEntry *te, int part, int nparts,
				const char *source_sql, bool *frozen, bool *binary_out)
{
	CopyStmt   *stmt = parse_copy(x, te);
	Relation	rel;
	ParseState *pstate;
	CopyFromState cstate;
	List	   *options = NIL;
	AclResult	aclresult;
	uint64		rows;
	bool		freeze;
	bool		binary;

	rel = table_openrv(stmt->relation, RowExclusiveLock);
	aclresult = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(rel->rd_rel->relkind),
					   RelationGetRelationName(rel));
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY FROM not supported with row-level security"),
				 errhint("Use INSERT statements instead.")));
	/* the parts of a table load side by side: no TRUNCATE */
	if (part < 0)
		rel = freeze_prepare(x, te, rel, &freeze);
	else
		freeze = parts_freeze(x, te, rel);
	if (x->sess.encoding != PG_SQL_ASCII && x->sess.encoding != GetDatabaseEncoding())
		options = list_make1(makeDefElem("encoding",
										 (Node *) makeString((char *) pg_encoding_to_char(x->sess.encoding)),
										 -1));
	if (freeze)
		options = lappend(options, makeDefElem("freeze", (Node *) makeBoolean(true), -1));
	binary = source_sql != NULL && binary_ok(x, rel);
	if (binary)
		options = lappend(options, makeDefElem("format", (Node *) makeString("binary"), -1));
	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = te->copy_stmt;
	(void) addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);

	if (source_sql)
		source_begin(x, te, source_sql, binary);
	else if (part < 0)
		stream_begin(x);
	else
		stream_begin_part(x, part == 0, part == nparts - 1);
	PushActiveSnapshot(GetTransactionSnapshot());
	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, copy_read_cb, stmt->attlist, options);
	if (freeze && part >= 0)
	{
		SubTransactionId was = pgb_rd_new_storage_subid(rel);
		PgbNoWal	nw;
		bool		nowal = pgb_nowal_begin(rel, &nw);

		/* COPY FREEZE's own check, answered for this part (parts_freeze) */
		pgb_rd_new_storage_subid(rel) = GetCurrentSubTransactionId();
		PG_TRY();
		{
			rows = CopyFrom(cstate);
		}
		PG_CATCH();
		{
			/* the relcache as it was, also for the rest of the abort */
			pgb_rd_new_storage_subid(rel) = was;
			if (nowal)
				pgb_nowal_reset(&nw);
			PG_RE_THROW();
		}
		PG_END_TRY();
		pgb_rd_new_storage_subid(rel) = was;
		if (nowal)
			pgb_nowal_end(&nw);
	}
	else
		rows = CopyFrom(cstate);
	EndCopyFrom(cstate);
	PopActiveSnapshot();
	stream_drain();
	table_close(rel, NoLock);
	free_parsestate(pstate);
	*frozen = freeze;
	if (binary_out)
		*binary_out = binary;
	return (int64) rows;
}

/* TABLE DATA written as INSERT statements (pg_dump --inserts) */
static void
run_data_sql(PgbRestoreExec *x)
{
	StringInfoData all;

	initStringInfo(&all);
	stream_begin(x);
	while (refill())
	{
		appendBinaryStringInfo(&all, cp.out.data, cp.out.len);
		cp.off = cp.out.len;
	}
	run_sql(x, all.data);
	pfree(all.data);
}

static void
lo_write(Oid oid, int64 offset, const char *data, int len)
{
	Oid			types[3] = {OIDOID, INT8OID, BYTEAOID};
	Datum		values[3];
	bytea	   *b = palloc(VARHDRSZ + len);
	int			rc;

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	values[0] = ObjectIdGetDatum(oid);
	values[1] = Int64GetDatum(offset);
	values[2] = PointerGetDatum(b);
	rc = SPI_execute_with_args("SELECT pg_catalog.lo_put($1, $2, $3)", 3, types, values,
							   NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "lo_put failed: %s", SPI_result_code_string(rc));
	pfree(b);
}

static int64
restore_blobs(PgbRestoreExec *x)
{
	Oid			oid;
	int64		n = 0;

	while (pgb_reader_next_blob(x->reader, &oid))
	{
		int64		offset = 0;

		stream_begin(x);
		while (refill())
		{
			int			pos = 0;

			while (pos < cp.out.len)
			{
				int			len = Min(cp.out.len - pos, LO_WRITE_SIZE);

				lo_write(oid, offset, cp.out.data + pos, len);
				offset += len;
				pos += len;
			}
		}
		n++;
	}
	return n;
}

/* one command per large object listed in a BLOB METADATA entry's defn */
static void
per_blob(PgbRestoreExec *x, const PgbTocEntry *blobs, const char *begin, const char *end)
{
	char	   *buf = pstrdup(blobs->defn ? blobs->defn : "");
	char	   *st = buf;
	char	   *en;

	while ((en = strchr(st, '\n')) != NULL)
	{
		char	   *p;

		*en = '\0';
		for (p = st; *p; p++)
			if (!isdigit((unsigned char) *p))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("invalid archive: large object list of entry %d holds \"%s\"",
								blobs->dump_id, st)));
		if (*st)
			run_sql(x, psprintf("%s%s%s;", begin, st, end));
		st = en + 1;
	}
	pfree(buf);
}

/*
 * An "ACL" entry for "LARGE OBJECTS a..b" holds the GRANT/REVOKE commands
 * of the first object only; replay each for every object of the group.
 */
static void
acl_per_blob(PgbRestoreExec *x, const PgbTocEntry *te)
{
	PgbTocEntry *blobs = te->ndeps > 0 ? pgb_toc_find(x->ar, te->deps[0]) : NULL;
	char	   *buf = pstrdup(te->defn ? te->defn : "");
	char	   *st = buf;
	char	   *st2 = NULL;
	char	   *en = buf;
	bool		inquotes = false;

	if (blobs == NULL || !pgb_toc_is(blobs, "BLOB METADATA"))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid archive: large object ACL entry %d does not depend on its BLOB METADATA",
						te->dump_id)));
	while (*en)
	{
		if (*en == '"')
			inquotes = !inquotes;
		if (inquotes)
		{
			en++;
			continue;
		}
		if (strncmp(en, "LARGE OBJECT ", 13) == 0 && isdigit((unsigned char) en[13]))
		{
			en += 13;
			*en++ = '\0';
			while (isdigit((unsigned char) *en))
				en++;
			st2 = en;
		}
		else if (*en == ';')
		{
			*en++ = '\0';
			if (st2 == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("invalid archive: large object ACL entry %d has a command without LARGE OBJECT",
								te->dump_id)));
			per_blob(x, blobs, st, st2);
			while (isspace((unsigned char) *en))
				en++;
			st = en;
			st2 = NULL;
		}
		else
			en++;
	}
	pfree(buf);
}

/*
 * A primary key or unique constraint of a plain table as CREATE UNIQUE INDEX
 * and then ADD CONSTRAINT ... USING INDEX (restore_constraints.c); false
 * for any other entry.  The index build commits first, so its SHARE lock is
 * gone before the attach asks for ACCESS EXCLUSIVE; the second transaction
 * parses the statement again (the first one's memory went with SPI).
 */
static bool
run_key_as_index(PgbRestoreExec *x, const PgbTocEntry *te)
{
	Node	   *index;
	Node	   *attach;
	char	   *sql = to_server(x, te->defn);

	if (!pgb_restore_key_as_index(sql, &index, &attach))
		return false;
	pgb_restore_run_utility(index, sql);
	in_transaction_end();
	in_transaction_begin();
	sql = to_server(x, te->defn);
	if (!pgb_restore_key_as_index(sql, &index, &attach))
		elog(ERROR, "constraint of TOC entry %d changed its form", te->dump_id);
	pgb_restore_run_utility(attach, sql);
	return true;
}

static void
run_schema_part(PgbRestoreExec *x, const PgbTocEntry *te, PgbExecResult *res)
{
	if (!x->keep_owner && pgb_toc_is(te, "SCHEMA") && te->defn && strncmp(te->defn, "--", 2) != 0)
		run_sql(x, psprintf("CREATE SCHEMA %s;", quote_identifier(to_server(x, te->tag))));
	else if (pgb_toc_is(te, "BLOB METADATA"))
		per_blob(x, te, "SELECT pg_catalog.lo_create('", "')");
	else if (pgb_toc_is(te, "ACL") && te->tag && strncmp(te->tag, "LARGE OBJECTS", 13) == 0)
		acl_per_blob(x, te);
	else if (x->fk_unchecked && pgb_toc_is(te, "FK CONSTRAINT") && te->defn &&
			 pgb_restore_fk_unchecked(to_server(x, te->defn)))
		 /* created valid without reading its rows */ ;
	else if (pgb_toc_is(te, "CONSTRAINT") && te->defn && run_key_as_index(x, te))
		res->as_index = true;
	else if (te->defn && te->defn[0] && strncmp(te->defn, "-- load via partition root ", 27) != 0)
		run_sql(x, te->defn);

	if (x->keep_owner && te->owner && te->owner[0] && te->drop_stmt && te->drop_stmt[0])
	{
		const char *owner = quote_identifier(to_server(x, te->owner));

		if (pgb_toc_is(te, "BLOB METADATA"))
			per_blob(x, te, "ALTER LARGE OBJECT ", psprintf(" OWNER TO %s", owner));
		else
		{
			char	   *target = pgb_restore_owner_target(te);

			if (target)
				run_sql(x, psprintf("ALTER %s OWNER TO %s;", target, owner));
		}
	}
}

void
pgb_exec_item(PgbRestoreExec *x, int toc_index, int part, PgbExecResult *res)
{
	PgbTocEntry *te = &((PgbArchive *) x->ar)->toc[toc_index];
	bool		has_data = te->had_dumper && te->data_state != PGB_OFFSET_NO_DATA;
	bool		at_source = has_data && pgb_toc_is(te, "TABLE DATA") &&
		pgb_data_source(te, NULL) > 0;

	memset(res, 0, sizeof(*res));
	if (!at_source)
		pgb_source_close();
	in_transaction_begin();

	/*
	 * CREATE EXTENSION, which the leader hands to a worker when the owner
	 * may create the extension: rebuilt from the parsed names, with a safe
	 * search_path for this transaction only
	 */
	if (pgb_toc_is(te, "EXTENSION"))
	{
		char	   *name;
		char	   *schema;

		pgb_restore_parse_extension(te, &name, &schema);
		run_sql(x, pgb_restore_extension_sql(name, schema));
		in_transaction_end();
		return;
	}

	/* per-entry state, as _printTocEntry sets it */
	if (x->sess.searchpath == NULL && te->namespace && te->namespace[0])
	{
		char	   *want = to_server(x, te->namespace);

		if (x->cur_schema == NULL || strcmp(x->cur_schema, want) != 0)
		{
			run_sql(x, psprintf("SET search_path = %s%s", quote_identifier(want),
								strcmp(want, "pg_catalog") == 0 ? "" : ", pg_catalog"));
			if (x->cur_schema)
				pfree(x->cur_schema);
			x->cur_schema = MemoryContextStrdup(TopMemoryContext, want);
		}
	}
	set_if_changed(x, &x->cur_tablespace, te->tablespace, "SET default_tablespace = %s");
	if (te->relkind != 'p')
		set_if_changed(x, &x->cur_tableam, te->tableam, "SET default_table_access_method = %s");

	if (part < 0)
		run_schema_part(x, te, res);

	if (at_source)
	{
		/* a copy's table: its rows are read at the source */
		char	  **sqls;
		int			nsrc = pgb_data_source(te, &sqls);

		if (x->source_conninfo == NULL || x->source_conninfo[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: the data of entry %d is not in the archive",
							te->dump_id)));
		if (part >= nsrc || (part < 0 && nsrc > 1) || !(te->copy_stmt && te->copy_stmt[0]))
			elog(ERROR, "TOC entry %d has no data part %d at the source", te->dump_id, part);
		res->rows = copy_table_data(x, te, part, nsrc, sqls[Max(part, 0)], &res->frozen,
									&res->binary);
		res->bytes = cp.stored;
	}
	else if (has_data)
	{
		int			blktype;

		if (te->data_state != PGB_OFFSET_SET)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: no data block found for entry %d", te->dump_id)));
		if (part >= 0)
		{
			/* one part of TABLE DATA in parts: its own run of chunks */
			uint64	   *off;
			int			nparts = pgb_data_parts(te, &off);

			if (part >= nparts || !(te->copy_stmt && te->copy_stmt[0]))
				elog(ERROR, "TOC entry %d has no data part %d", te->dump_id, part);
			/* an empty part: no rows (only uncompressed data has such) */
			if (part + 1 < nparts && off[part] == off[part + 1])
			{
				in_transaction_end();
				return;
			}
			pgb_reader_seek_part(x->reader, te, off[part],
								 part + 1 < nparts ? off[part + 1] : 0, &blktype);
			if (blktype != PGB_BLK_DATA)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("invalid archive: entry %d in parts has no table data block",
								te->dump_id)));
			res->rows = copy_table_data(x, te, part, nparts, NULL, &res->frozen, NULL);
			pgb_decompressor_part_result(cp.dec, &res->part);
		}
		else
		{
			pgb_reader_seek_block(x->reader, te, &blktype);
			if (blktype == PGB_BLK_BLOBS)
				res->rows = restore_blobs(x);
			else if (te->copy_stmt && te->copy_stmt[0])
				res->rows = copy_table_data(x, te, -1, 0, NULL, &res->frozen, NULL);
			else
				run_data_sql(x);
		}
		res->bytes = cp.stored;
	}
	in_transaction_end();
}

void
pgb_exec_maintenance(PgbRestoreExec *x, int work_mem_kb, int parallel_workers)
{
	StringInfoData sql;

	initStringInfo(&sql);
	if (work_mem_kb > 0)
		appendStringInfo(&sql, "SET maintenance_work_mem = '%dkB';\n", work_mem_kb);
	if (parallel_workers >= 0)
		appendStringInfo(&sql, "SET max_parallel_maintenance_workers = %d;\n", parallel_workers);
	if (sql.len == 0)
		return;
	in_transaction_begin();
	run_sql_server(sql.data);
	in_transaction_end();
	pfree(sql.data);
}

/*
 * exec_vacuum
 *		VACUUM (FREEZE[, ANALYZE]) qname as a top-level command, as a session
 *		would send it: VACUUM runs its own transactions (it commits the one
 *		started here and leaves a new one open, which is committed here), so
 *		it cannot go through SPI.  The statement lives in the caller's
 *		memory context, which survives those commits.
 */
static void
exec_vacuum(PgbRestoreExec *x, const PgbTocEntry *te, bool analyze)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *sql;
	List	   *raw;
	RawStmt    *rs;
	ParseState *pstate;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	MemoryContextSwitchTo(caller);
	/* the names converted in the transaction (conversion needs one) */
	sql = psprintf("VACUUM (FREEZE%s) %s", analyze ? ", ANALYZE" : "",
				   quote_qualified_identifier(to_server(x, te->namespace),
											  to_server(x, te->tag)));
	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	rs = linitial_node(RawStmt, raw);
	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = sql;
	PushActiveSnapshot(GetTransactionSnapshot());
	ExecVacuum(pstate, castNode(VacuumStmt, rs->stmt), true);
	if (ActiveSnapshotSet())
		PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
	free_parsestate(pstate);
}

/*
 * pgb_exec_analyze
 *		ANALYZE the table of TABLE entry toc_index, and (freeze) VACUUM
 *		(FREEZE) it first: a table loaded in parts, by several workers,
 *		could not be loaded with COPY FREEZE.  A table the role may not
 *		analyze or vacuum is skipped with the command's own warning (in the
 *		server log).
 */
void
pgb_exec_analyze(PgbRestoreExec *x, int toc_index, bool analyze, bool freeze)
{
	const PgbTocEntry *te = &x->ar->toc[toc_index];

	pgb_source_close();
	if (!pgb_toc_is(te, "TABLE") || te->tag == NULL || te->namespace == NULL)
		elog(ERROR, "TOC entry %d is not a table", te->dump_id);
	if (freeze)
	{
		exec_vacuum(x, te, analyze);
		/* its parts may have skipped WAL: its files synced (restore_nowal.c) */
		in_transaction_begin();
		pgb_nowal_sync(RangeVarGetRelid(makeRangeVar(to_server(x, te->namespace),
													 to_server(x, te->tag), -1),
										AccessShareLock, false));
		in_transaction_end();
		return;
	}
	in_transaction_begin();
	run_sql_server(psprintf("ANALYZE %s",
							quote_qualified_identifier(to_server(x, te->namespace),
													   to_server(x, te->tag))));
	in_transaction_end();
}
