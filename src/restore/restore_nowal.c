/*-------------------------------------------------------------------------
 *
 * restore_nowal.c
 *	  The rows of a split table's parts written without WAL when the server
 *	  has wal_level = minimal, and the table's files synced before the swap.
 *
 * With wal_level = minimal PostgreSQL writes no WAL for rows that the
 * transaction which made a relation's storage loads into it (a table
 * created, or truncated, then COPY): at commit it flushes and fsyncs the
 * relation instead (storage.c, smgrDoPendingSyncs).  pg_restore earns that
 * for every table (TRUNCATE before COPY), and so does a whole table here
 * (restore_exec.c freeze_prepare).  The parts of a split table load side
 * by side in several workers' transactions, none of which made its storage;
 * their rows would go to WAL as well as to the table.  The staging database
 * is read by nobody before the swap and dropped whenever a part fails or the
 * server restarts before the swap, so its rows need WAL only to survive a
 * crash after the swap: a part inserts with the table, its TOAST table and
 * its TOAST index marked as storage of this subtransaction in the relcache
 * (RelationNeedsWAL then says no WAL), and once every part is loaded and
 * the table vacuumed, pgb_nowal_sync flushes and fsyncs their files, as the
 * commit of a minimal-WAL COPY would.  Later WAL records on those pages
 * (VACUUM, anything after the swap) are replayed onto synced pages.
 *
 * src/restore/restore_nowal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "nodes/pg_list.h"
#include "storage/smgr.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "compat.h"
#include "restore_nowal.h"

/* the relations a table's rows are written to: itself, TOAST, TOAST index */
static int
table_relations(Relation rel, LOCKMODE mode, Relation *out)
{
	int			n = 0;

	out[n++] = rel;
	if (OidIsValid(rel->rd_rel->reltoastrelid))
	{
		Relation	toast = table_open(rel->rd_rel->reltoastrelid, mode);
		List	   *indexes = RelationGetIndexList(toast);
		ListCell   *lc;

		out[n++] = toast;
		foreach(lc, indexes)
		{
			if (n == PGB_NOWAL_MAX_RELS)
				break;
			out[n++] = index_open(lfirst_oid(lc), mode);
		}
		list_free(indexes);
	}
	return n;
}

static void
close_extra(int n, Relation *rels)
{
	int			i;

	/* rels[0] is the caller's; the locks stay until the transaction ends */
	for (i = n - 1; i >= 1; i--)
	{
		if (rels[i]->rd_rel->relkind == RELKIND_INDEX)
			index_close(rels[i], NoLock);
		else
			table_close(rels[i], NoLock);
	}
}

/*
 * pgb_nowal_begin
 *		Before a part's COPY into rel: when the server writes no WAL for
 *		storage new in a transaction, make rel and its TOAST relations
 *		such storage for the relcache.  Returns whether it did (then
 *		pgb_nowal_end must follow the COPY, and pgb_nowal_sync the load).
 */
bool
pgb_nowal_begin(Relation rel, PgbNoWal *nw)
{
	SubTransactionId me = GetCurrentSubTransactionId();
	int			i;

	nw->n = 0;
	if (XLogIsNeeded() || !RelationIsPermanent(rel))
		return false;
	nw->n = table_relations(rel, RowExclusiveLock, nw->rels);
	for (i = 0; i < nw->n; i++)
	{
		nw->was[i] = pgb_rd_first_storage_subid(nw->rels[i]);
		pgb_rd_first_storage_subid(nw->rels[i]) = me;
	}
	return true;
}

/* after a failed COPY: the relcache as it was (the abort closes the rest) */
void
pgb_nowal_reset(PgbNoWal *nw)
{
	int			i;

	for (i = 0; i < nw->n; i++)
		pgb_rd_first_storage_subid(nw->rels[i]) = nw->was[i];
}

/* after the COPY: the relcache as it was, the TOAST relations closed */
void
pgb_nowal_end(PgbNoWal *nw)
{
	pgb_nowal_reset(nw);
	close_extra(nw->n, nw->rels);
	nw->n = 0;
}

/*
 * pgb_nowal_sync
 *		Every page of rel, its TOAST table and TOAST index written out and
 *		their files fsynced (every fork), so that rows its parts wrote
 *		without WAL survive a crash after the swap.  Needs a transaction.
 */
void
pgb_nowal_sync(Oid relid)
{
	Relation	rel;
	Relation	rels[PGB_NOWAL_MAX_RELS];
	SMgrRelation smgrs[PGB_NOWAL_MAX_RELS];
	int			n;
	int			i;

	if (XLogIsNeeded())
		return;
	rel = table_open(relid, AccessShareLock);
	if (!RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
	{
		table_close(rel, AccessShareLock);
		return;
	}
	n = table_relations(rel, AccessShareLock, rels);
	for (i = 0; i < n; i++)
		smgrs[i] = RelationGetSmgr(rels[i]);
	smgrdosyncall(smgrs, n);
	close_extra(n, rels);
	table_close(rel, NoLock);
}
