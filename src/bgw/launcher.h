/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The launcher background worker: one scheduler per database.
 *
 * src/bgw/launcher.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_LAUNCHER_H
#define PGB_LAUNCHER_H

extern void pgb_launcher_register(void);
extern PGDLLEXPORT void pgb_launcher_main(Datum arg);

#endif							/* PGB_LAUNCHER_H */
