/*-------------------------------------------------------------------------
 *
 * spool.h
 *	  Append-only temporary files holding archive chunk streams until the
 *	  archive is assembled.
 *
 * src/capture/spool.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_SPOOL_H
#define PGB_SPOOL_H

typedef struct PgbSpool PgbSpool;

extern PgbSpool *pgb_spool_create(const char *path);
extern uint64 pgb_spool_pos(PgbSpool *s);
extern void pgb_spool_put(PgbSpool *s, const char *data, size_t len);
extern void pgb_spool_put_int(PgbSpool *s, int v);
extern void pgb_spool_chunk(void *arg, const char *data, size_t len);
extern void pgb_spool_flush(PgbSpool *s);
extern void pgb_spool_close(PgbSpool *s);

#endif							/* PGB_SPOOL_H */
