/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  Step 1 of a capture: the coordinator connection.  It opens a
 *	  REPEATABLE READ, READ ONLY transaction, lists the tables whose data
 *	  pg_dump would dump (the capture copies them itself), takes ACCESS
 *	  SHARE locks on them (each statement within pgbackups.lock_timeout)
 *	  and exports its snapshot.  It stays open until the
 *	  end, so the snapshot and the locks hold for pg_dump and every stream.
 *
 * pgbackups' own catalog (schema pgbackups) is never in the list.
 *
 * src/capture/snapshot.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "guc.h"

#include "capture_int.h"
#include "pq_util.h"

static const char *table_list_sql =
"SELECT c.oid, n.nspname, c.relname, "
"       pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname), "
"       coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) "
"                   FROM pg_catalog.pg_attribute a "
"                  WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 "
"                    AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) ''), ''), "
"       (c.relpages::pg_catalog.int8 OPERATOR(pg_catalog.+) coalesce(t.relpages, 0)) OPERATOR(pg_catalog.*) 8192, "
/* as pg_dump does: partitions under hash partitioning on an enum load via the root */
"       coalesce((SELECT quote_ident(rn.nspname) || '.' || quote_ident(rc.relname) "
"                   FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace "
"                  WHERE c.relispartition AND rc.oid = pg_partition_root(c.oid) "
"                    AND EXISTS (SELECT 1 FROM pg_partition_ancestors(c.oid) an "
"                                  JOIN pg_partitioned_table pt ON pt.partrelid = an.relid "
"                                  JOIN pg_opclass oc ON oc.oid = ANY (pt.partclass::oid[]) "
"                                  JOIN pg_am am ON am.oid = oc.opcmethod "
"                                 WHERE oc.opcname = 'enum_ops' AND am.amname = 'hash' "
"                                   AND oc.opcnamespace = 'pg_catalog'::regnamespace)), '') "
"  FROM pg_catalog.pg_class c "
"  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
"  LEFT JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) c.reltoastrelid "
" WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relpersistence OPERATOR(pg_catalog.<>) 't' "
"   AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
"   AND n.nspname OPERATOR(pg_catalog.!~) '^pg_' "
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
"                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
"                      AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e') "
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e "
"                    WHERE e.extname OPERATOR(pg_catalog.=) 'pgbackups' "
"                      AND e.extnamespace OPERATOR(pg_catalog.=) c.relnamespace) "
" ORDER BY 6 DESC, 1";

static List *
list_tables(PGconn *conn)
{
	PGresult   *res = pgb_pq_exec(conn, table_list_sql, PGRES_TUPLES_OK);
	List	   *tables = NIL;
	int			i;

	for (i = 0; i < PQntuples(res); i++)
	{
		PgbCaptureTable *t = palloc0(sizeof(PgbCaptureTable));

		t->relid = (Oid) strtoul(PQgetvalue(res, i, 0), NULL, 10);
		t->nspname = pstrdup(PQgetvalue(res, i, 1));
		t->relname = pstrdup(PQgetvalue(res, i, 2));
		t->qname = pstrdup(PQgetvalue(res, i, 3));
		t->cols = pstrdup(PQgetvalue(res, i, 4));
		t->est_bytes = strtoll(PQgetvalue(res, i, 5), NULL, 10);
		t->load_via_root = pstrdup(PQgetvalue(res, i, 6));
		tables = lappend(tables, t);
	}
	PQclear(res);
	return tables;
}

/*
 * report_lock_timeout
 *		After a lock timeout (the transaction is rolled back): who holds or
 *		waits for an ACCESS EXCLUSIVE lock on one of the tables of oids, the
 *		only mode that conflicts with ACCESS SHARE.
 */
static void
report_lock_timeout(PGconn *conn, const char *oids)
{
	PGresult   *res;
	char	   *sql;

	pgb_pq_command(conn, "ROLLBACK");
	sql = psprintf("SELECT l.relation::pg_catalog.regclass::pg_catalog.text, l.pid, l.granted, "
				   "       coalesce(a.usename::pg_catalog.text, ''), "
				   "       pg_catalog.left(coalesce(a.query, ''), 200) "
				   "  FROM pg_catalog.pg_locks l "
				   "  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid "
				   " WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' "
				   "   AND l.mode OPERATOR(pg_catalog.=) 'AccessExclusiveLock' "
				   "   AND l.relation OPERATOR(pg_catalog.=) ANY ('{%s}'::pg_catalog.oid[]) "
				   "   AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() "
				   " ORDER BY l.granted DESC, l.pid LIMIT 1", oids);
	res = pgb_pq_exec(conn, sql, PGRES_TUPLES_OK);
	if (PQntuples(res) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not lock the tables to capture within pgbackups.lock_timeout (%d ms)",
						pgb_lock_timeout),
				 errdetail("The conflicting ACCESS EXCLUSIVE lock was released meanwhile."),
				 errhint("Retry the capture, or raise pgbackups.lock_timeout.")));
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not lock table %s within pgbackups.lock_timeout (%d ms)",
					PQgetvalue(res, 0, 0), pgb_lock_timeout),
			 errdetail("Process %s (user \"%s\") %s an ACCESS EXCLUSIVE lock on it; its query: %s",
					   PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3),
					   strcmp(PQgetvalue(res, 0, 2), "t") == 0 ? "holds" : "waits for",
					   PQgetvalue(res, 0, 4)),
			 errhint("Retry when that transaction has ended, or raise pgbackups.lock_timeout.")));
}

/*
 * lock_tables
 *		LOCK TABLE ... IN ACCESS SHARE MODE, a thousand tables a statement,
 *		each statement within pgbackups.lock_timeout; a timeout is reported
 *		with the table and the process in the way.
 */
static void
lock_tables(PGconn *conn, List *tables)
{
	StringInfoData sql;
	StringInfoData oids;
	ListCell   *lc;
	int			n = 0;

	pgb_pq_command(conn, psprintf("SET lock_timeout = %d", pgb_lock_timeout));
	initStringInfo(&sql);
	initStringInfo(&oids);
	foreach(lc, tables)
	{
		PgbCaptureTable *t = lfirst(lc);

		appendStringInfo(&sql, "%s%s", n == 0 ? "LOCK TABLE " : ", ", t->qname);
		appendStringInfo(&oids, "%s%u", n == 0 ? "" : ",", t->relid);
		if (++n == 1000 || lnext(tables, lc) == NULL)
		{
			PGresult   *res;

			appendStringInfoString(&sql, " IN ACCESS SHARE MODE");
			res = pgb_pq_query(conn, sql.data);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				if (pgb_pq_result_sqlstate(res) == ERRCODE_LOCK_NOT_AVAILABLE)
				{
					PQclear(res);
					report_lock_timeout(conn, oids.data);
				}
				pgb_pq_error(conn, res, NULL);
			}
			PQclear(res);
			resetStringInfo(&sql);
			resetStringInfo(&oids);
			n = 0;
		}
	}
	pfree(sql.data);
	pfree(oids.data);
}

static int
cmp_est_bytes(const ListCell *a, const ListCell *b)
{
	const PgbCaptureTable *x = lfirst(a);
	const PgbCaptureTable *y = lfirst(b);

	if (x->est_bytes != y->est_bytes)
		return x->est_bytes > y->est_bytes ? -1 : 1;
	return x->relid < y->relid ? -1 : x->relid > y->relid ? 1 : 0;
}

/*
 * size_tables
 *		Once the tables are locked (pg_relation_size locks them too): each
 *		heap's size in blocks now (relpages is from the last VACUUM or
 *		ANALYZE, 0 for a table never vacuumed), for the streams' order and
 *		the ctid ranges of a table copied in parts; with its TOAST table's,
 *		for the number of parts (a table of large values has a small heap).
 */
static List *
size_tables(PGconn *conn, List *tables)
{
	StringInfoData sql;
	PGresult   *res;
	ListCell   *lc;
	int			i = 0;

	if (tables == NIL)
		return tables;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT coalesce(pg_catalog.pg_relation_size(r), 0) "
						   "OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::pg_catalog.int8, "
						   "coalesce((SELECT pg_catalog.pg_relation_size(c.reltoastrelid) "
						   "OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::pg_catalog.int8 "
						   "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) u.r "
						   "AND c.reltoastrelid OPERATOR(pg_catalog.<>) 0), 0) "
						   "FROM pg_catalog.unnest('{");
	foreach(lc, tables)
		appendStringInfo(&sql, "%s%u", i++ == 0 ? "" : ",", ((PgbCaptureTable *) lfirst(lc))->relid);
	appendStringInfoString(&sql, "}'::pg_catalog.oid[]) WITH ORDINALITY AS u (r, n) ORDER BY n");
	res = pgb_pq_exec(conn, sql.data, PGRES_TUPLES_OK);
	i = 0;
	foreach(lc, tables)
	{
		PgbCaptureTable *t = lfirst(lc);

		t->nblocks = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		t->data_blocks = t->nblocks + strtoll(PQgetvalue(res, i++, 1), NULL, 10);
		t->est_bytes = Max(t->est_bytes, t->data_blocks * BLCKSZ);
	}
	PQclear(res);
	pfree(sql.data);
	list_sort(tables, cmp_est_bytes);
	return tables;
}

/* the exported snapshot and the figures of the database the result records */
static void
export_snapshot(PgbCaptureState *cs)
{
	PgbCaptureResult *result = cs->result;
	PGresult   *res;

	res = pgb_pq_exec(cs->coord,
					  "SELECT pg_catalog.pg_export_snapshot(), "
					  "pg_catalog.pg_database_size(pg_catalog.current_database()), "
					  "pg_catalog.current_setting('server_version'), "
					  "pg_catalog.pg_encoding_to_char(d.encoding) "
					  "FROM pg_catalog.pg_database d "
					  "WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()",
					  PGRES_TUPLES_OK);
	cs->snapshot = pstrdup(PQgetvalue(res, 0, 0));
	result->source_size = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	result->server_version = pstrdup(PQgetvalue(res, 0, 2));
	cs->encoding = pstrdup(PQgetvalue(res, 0, 3));
	PQclear(res);
}

/*
 * pgb_capture_open_snapshot
 *		Connect the coordinator, list and lock the tables to copy, export
 *		the snapshot.
 */
void
pgb_capture_open_snapshot(PgbCaptureState *cs)
{
	const PgbCaptureParams *params = cs->params;

	cs->conninfo = params->conninfo ? pstrdup(params->conninfo) : pgb_pq_conninfo(params->dbname);
	cs->coord = pgb_pq_connect(cs->conninfo);
	pgb_pq_command(cs->coord,
				   "SET statement_timeout = 0; SET lock_timeout = 0; "
				   "SET idle_in_transaction_session_timeout = 0; "
				   "SET search_path = pg_catalog; "
				   "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	cs->tables = list_tables(cs->coord);
	if (cs->hooks->progress)
		cs->hooks->progress("locking tables", 0, list_length(cs->tables), 0);
	lock_tables(cs->coord, cs->tables);
	cs->tables = size_tables(cs->coord, cs->tables);
	export_snapshot(cs);
	pgb_capture_log("snapshot %s exported; %d tables to copy, database size %s",
					cs->snapshot, list_length(cs->tables),
					text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
																	   Int64GetDatum(cs->result->source_size)))));
}
