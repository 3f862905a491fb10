/*-------------------------------------------------------------------------
 *
 * restore_nowal.h
 *	  A split table's parts loaded without WAL under wal_level = minimal,
 *	  and synced before the swap (restore_nowal.c).
 *
 * src/restore/restore_nowal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_RESTORE_NOWAL_H
#define PGB_RESTORE_NOWAL_H

#include "utils/relcache.h"

#define PGB_NOWAL_MAX_RELS 4

typedef struct PgbNoWal
{
	int			n;
	Relation	rels[PGB_NOWAL_MAX_RELS];
	SubTransactionId was[PGB_NOWAL_MAX_RELS];
} PgbNoWal;

extern bool pgb_nowal_begin(Relation rel, PgbNoWal *nw);
extern void pgb_nowal_end(PgbNoWal *nw);
extern void pgb_nowal_reset(PgbNoWal *nw);
extern void pgb_nowal_sync(Oid relid);

#endif							/* PGB_RESTORE_NOWAL_H */
