/*-------------------------------------------------------------------------
 *
 * maintenance.h
 *	  A database's maintenance worker (maintenance.c).
 *
 * src/bgw/maintenance.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_MAINTENANCE_H
#define PGB_MAINTENANCE_H

#include "postgres.h"

extern PGDLLEXPORT void pgb_maintenance_main(Datum arg);
extern PGDLLEXPORT void pgb_sweep_main(Datum arg);

#endif							/* PGB_MAINTENANCE_H */
