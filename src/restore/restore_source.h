/*-------------------------------------------------------------------------
 *
 * restore_source.h
 *	  A copy's data read at its source by a restore worker
 *	  (restore_source.c).
 *
 * src/restore/restore_source.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_RESTORE_SOURCE_H
#define PGB_RESTORE_SOURCE_H

#include "lib/stringinfo.h"

extern void pgb_source_begin(const char *conninfo, const char *snapshot, int encoding,
							 const char *sql, const char *what);
extern bool pgb_source_read(StringInfo out);
extern int	pgb_source_server_version(const char *conninfo, const char *snapshot, int encoding);
extern void pgb_source_close(void);

#endif							/* PGB_RESTORE_SOURCE_H */
