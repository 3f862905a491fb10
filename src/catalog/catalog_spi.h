/*-------------------------------------------------------------------------
 *
 * catalog_spi.h
 *	  Transaction and SPI helpers shared by the catalog modules.
 *
 * src/catalog/catalog_spi.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_CATALOG_SPI_H
#define PGB_CATALOG_SPI_H

#include "nodes/pg_list.h"
#include "utils/memutils.h"

/* the caller's memory context while a catalog transaction is open */
extern MemoryContext pgb_cat_caller_ctx;

extern void pgb_cat_begin(const char *what);
extern void pgb_cat_commit(void);
/* run sql with text arguments ($1.. may be NULL); returns SPI_processed */
extern uint64 pgb_cat_run(const char *sql, int nargs, const char *const *args);
/* a result value as text (NULL for NULL), valid until commit */
extern char *pgb_cat_get(uint64 row, int col);
/* copy a result into the caller's context */
extern char *pgb_cat_copy(const char *s);
/* append to a list that lives in the caller's context */
extern List *pgb_cat_lappend(List *list, void *datum);

/*
 * Run fn(arg) in an internal subtransaction of the current transaction:
 * true if it succeeded; else it was rolled back and *errmsg (in the
 * caller's context) says why.  One bad item (a manifest that does not
 * parse) then spoils nothing else.
 */
extern bool pgb_cat_try(void (*fn) (void *arg), void *arg, char **errmsg);

#endif							/* PGB_CATALOG_SPI_H */
