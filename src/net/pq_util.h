/*-------------------------------------------------------------------------
 *
 * pq_util.h
 *	  Latch-aware libpq for background workers.
 *
 * src/net/pq_util.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_PQ_UTIL_H
#define PGB_PQ_UTIL_H

#include "compat.h"

#include "libpq-fe.h"
#include "lib/stringinfo.h"

/* called on every wake-up while waiting; may ereport(ERROR) */
typedef void (*PgbInterruptCheck) (void);

extern PgbInterruptCheck pgb_pq_set_interrupt_check(PgbInterruptCheck fn);
extern void pgb_pq_check_interrupts(void);

extern char *pgb_pq_conninfo(const char *dbname);
/* the role it connects as: pgbackups.connect_user, else the bootstrap superuser */
extern const char *pgb_pq_conninfo_user(void);
extern void pgb_pq_append_param(StringInfo buf, const char *key, const char *value);
extern char *pgb_pq_conninfo_without_password(const char *conninfo, char **password);
extern PGconn *pgb_pq_connect(const char *conninfo);
extern void pgb_pq_disconnect(PGconn *conn);
extern void pgb_pq_disconnect_all(void);
extern bool pgb_pq_is_open(PGconn *conn);
extern void pgb_pq_wait_socket(PGconn *conn, bool for_write);
extern void pgb_pq_sleep(int ms);

extern PGresult *pgb_pq_exec(PGconn *conn, const char *sql, ExecStatusType expect);
extern PGresult *pgb_pq_exec_params(PGconn *conn, const char *sql, int nparams,
									 const char *const *values, ExecStatusType expect);
extern void pgb_pq_command(PGconn *conn, const char *sql);
extern PGresult *pgb_pq_finish_command(PGconn *conn, ExecStatusType expect);
extern PGresult *pgb_pq_query(PGconn *conn, const char *sql);
extern void pgb_pq_begin_in_snapshot(PGconn *conn, const char *encoding,
									 int lock_timeout_ms, const char *snapshot);
/* 55P03 for a COPY of table what that could not take its lock in time */
pg_noreturn extern void pgb_copy_lock_timeout_error(const char *what, const char *job,
													int lock_timeout_ms);
extern void pgb_pq_copy_out_begin(PGconn *conn, const char *sql, const char *what,
								  const char *job, int lock_timeout_ms);
extern int	pgb_pq_copy_out_row(PGconn *conn, char **buf, bool wait, double *wait_s,
								const char *what);
extern PGresult *pgb_pq_query_to_end(PGconn *conn, const char *sql);
extern bool pgb_pq_abort(PGconn *conn, int timeout_ms);
pg_noreturn extern void pgb_pq_error(PGconn *conn, PGresult *res, const char *context);
pg_noreturn extern void pgb_pq_error_in(PGconn *conn, PGresult *res, const char *what);
extern int	pgb_pq_result_sqlstate(const PGresult *res);

#endif							/* PGB_PQ_UTIL_H */
