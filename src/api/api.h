/*-------------------------------------------------------------------------
 *
 * api.h
 *	  SQL-callable functions of pgbackups.
 *
 * src/api/api.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_API_H
#define PGB_API_H

#include "fmgr.h"

extern Datum pgbackups_capture(PG_FUNCTION_ARGS);
extern Datum pgbackups_cancel(PG_FUNCTION_ARGS);
extern Datum pgbackups_delete(PG_FUNCTION_ARGS);
extern Datum pgbackups_wait(PG_FUNCTION_ARGS);
extern Datum pgbackups_launcher_wakeup(PG_FUNCTION_ARGS);

#endif							/* PGB_API_H */
