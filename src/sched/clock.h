/*-------------------------------------------------------------------------
 *
 * clock.h
 *	  The scheduler's clock: real time, or a time frozen by
 *	  pgbackups.set_clock() when pgbackups.debug_clock is on (tests).
 *
 * src/sched/clock.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_CLOCK_H
#define PGB_CLOCK_H

#include "datatype/timestamp.h"

extern TimestampTz pgb_clock_now(void);

#endif							/* PGB_CLOCK_H */
