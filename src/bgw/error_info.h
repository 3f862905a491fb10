/*-------------------------------------------------------------------------
 *
 * error_info.h
 *	  An error that crosses processes whole: SQLSTATE, message, detail, hint
 *	  and context in fixed-size arrays (no pointers), so it can live in
 *	  shared memory; and the one catch helper of pgbackups' processes.
 *
 * src/bgw/error_info.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_ERROR_INFO_H
#define PGB_ERROR_INFO_H

#define PGB_ERR_MESSAGE_LEN 1024
#define PGB_ERR_DETAIL_LEN 1024
#define PGB_ERR_HINT_LEN 512
#define PGB_ERR_CONTEXT_LEN 1024

/* what travels beside an error's code and message ("" = absent) */
typedef struct PgbErrorExtra
{
	char		detail[PGB_ERR_DETAIL_LEN];
	char		hint[PGB_ERR_HINT_LEN];
	char		context[PGB_ERR_CONTEXT_LEN];
} PgbErrorExtra;

typedef struct PgbErrorInfo
{
	int			sqlerrcode;		/* 0 = no error */
	char		message[PGB_ERR_MESSAGE_LEN];
	PgbErrorExtra extra;
} PgbErrorInfo;

/* copy src into dst[size], cut at a character boundary if too long */
extern void pgb_error_text_copy(char *dst, size_t size, const char *src);

extern void pgb_error_info_save(PgbErrorInfo *dst, const ErrorData *e);
extern void pgb_error_info_set(PgbErrorInfo *dst, int sqlerrcode, const char *message);
extern void pgb_error_info_raise(const PgbErrorInfo *e, int elevel);

/* message, then "DETAIL: ", "HINT: ", "CONTEXT: " lines of those present */
extern char *pgb_error_report(const ErrorData *e);

/* message, then ": detail" if present: one line for a catalog column */
extern char *pgb_error_summary(const ErrorData *e);

/* "57014" -> ERRCODE_QUERY_CANCELED; 0 unless five digits or upper-case letters */
extern int	pgb_error_code_from_text(const char *sqlstate);

/* inside PG_CATCH: the error copied into cxt, flushed, transaction aborted */
extern ErrorData *pgb_catch_error(MemoryContext cxt);

/* a catch block that logs the error and carries on (a task retried later) */
extern void pgb_catch_and_log(MemoryContext cxt);

#endif							/* PGB_ERROR_INFO_H */
