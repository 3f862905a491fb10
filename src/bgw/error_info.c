/*-------------------------------------------------------------------------
 *
 * error_info.c
 *	  Errors that cross processes arrive whole.
 *
 * A job worker catches its error (pgb_catch_error), saves it into its
 * shared-memory job slot (pgb_error_info_save), and the backend that waits
 * for the job raises it again (pgb_error_info_raise) with the same
 * SQLSTATE, message, detail, hint and context.  PgbErrorInfo holds only
 * fixed-size arrays, so it can be copied into and out of shared memory
 * under a lock; text too long for its array is cut at a character
 * boundary.
 *
 * src/bgw/error_info.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "error_info.h"

/*
 * pgb_error_text_copy
 *		Copy src (NULL = "") into dst of size bytes.  A text that does not
 *		fit is cut before the first character that would not fit whole.  A
 *		process connected to no database reports SQL_ASCII, while its
 *		messages may hold UTF-8 names: those are cut as UTF-8.
 */
void
pgb_error_text_copy(char *dst, size_t size, const char *src)
{
	int			len;
	int			encoding = GetDatabaseEncoding();

	Assert(size > 0);
	if (src == NULL)
		src = "";
	len = strlen(src);
	if ((size_t) len >= size)
		len = pg_encoding_mbcliplen(encoding == PG_SQL_ASCII ? PG_UTF8 : encoding,
									src, len, (int) size - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* pgb_error_info_save: code, message, detail, hint and context of e */
void
pgb_error_info_save(PgbErrorInfo *dst, const ErrorData *e)
{
	dst->sqlerrcode = e->sqlerrcode ? e->sqlerrcode : ERRCODE_INTERNAL_ERROR;
	pgb_error_text_copy(dst->message, sizeof(dst->message),
						e->message ? e->message : "unknown error");
	pgb_error_text_copy(dst->extra.detail, sizeof(dst->extra.detail), e->detail);
	pgb_error_text_copy(dst->extra.hint, sizeof(dst->extra.hint), e->hint);
	pgb_error_text_copy(dst->extra.context, sizeof(dst->extra.context), e->context);
}

/* pgb_error_info_set: an error with only a code and a message */
void
pgb_error_info_set(PgbErrorInfo *dst, int sqlerrcode, const char *message)
{
	memset(dst, 0, sizeof(*dst));
	dst->sqlerrcode = sqlerrcode;
	pgb_error_text_copy(dst->message, sizeof(dst->message), message);
}

/*
 * pgb_error_info_raise
 *		ereport e at elevel: its SQLSTATE and message, and its detail, hint
 *		and context when present.
 */
void
pgb_error_info_raise(const PgbErrorInfo *e, int elevel)
{
	ereport(elevel,
			(errcode(e->sqlerrcode ? e->sqlerrcode : ERRCODE_INTERNAL_ERROR),
			 errmsg("%s", e->message),
			 e->extra.detail[0] ? errdetail("%s", e->extra.detail) : 0,
			 e->extra.hint[0] ? errhint("%s", e->extra.hint) : 0,
			 e->extra.context[0] ? errcontext("%s", e->extra.context) : 0));
}

/*
 * pgb_error_report
 *		The whole error as text, for a job's log: the message, then a
 *		"DETAIL: ", "HINT: " and "CONTEXT: " line for each one present.
 */
char *
pgb_error_report(const ErrorData *e)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, e->message ? e->message : "unknown error");
	if (e->detail)
		appendStringInfo(&buf, "\nDETAIL: %s", e->detail);
	if (e->hint)
		appendStringInfo(&buf, "\nHINT: %s", e->hint);
	if (e->context)
		appendStringInfo(&buf, "\nCONTEXT: %s", e->context);
	return buf.data;
}

/* pgb_error_summary: "message: detail", for a catalog's error column */
char *
pgb_error_summary(const ErrorData *e)
{
	const char *message = e->message ? e->message : "unknown error";

	if (e->detail)
		return psprintf("%s: %s", message, e->detail);
	return pstrdup(message);
}

/*
 * pgb_error_code_from_text
 *		The errcode of a SQLSTATE recorded as text (a catalog's error_code,
 *		a libpq result field): 0 unless it is five digits or upper-case
 *		letters.
 */
int
pgb_error_code_from_text(const char *sqlstate)
{
	int			i;

	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return 0;
	for (i = 0; i < 5; i++)
		if (!((sqlstate[i] >= '0' && sqlstate[i] <= '9') ||
			  (sqlstate[i] >= 'A' && sqlstate[i] <= 'Z')))
			return 0;
	return MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
}

/*
 * pgb_catch_error
 *		The first step of every PG_CATCH block of pgbackups' processes:
 *		leave ErrorContext for cxt, copy the error there, flush the error
 *		state, abort the transaction if one is open (this may leave
 *		TopMemoryContext current, so cxt is made current again) and return
 *		the copy.  cxt must outlive the transaction.  Holding interrupts is
 *		the caller's choice.
 */
ErrorData *
pgb_catch_error(MemoryContext cxt)
{
	ErrorData  *edata;

	Assert(cxt != ErrorContext);
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(cxt);
	return edata;
}

/*
 * pgb_catch_and_log
 *		A PG_CATCH block of a task that is tried again later: report the
 *		error to the server log, then as pgb_catch_error (cxt current).
 */
void
pgb_catch_and_log(MemoryContext cxt)
{
	MemoryContextSwitchTo(cxt);
	EmitErrorReport();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(cxt);
}
