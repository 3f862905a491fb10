/*-------------------------------------------------------------------------
 *
 * verify.h
 *	  pgbackups.verify(): a stored archive read end to end without being
 *	  restored (verify.c).
 *
 * src/restore/verify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_VERIFY_H
#define PGB_VERIFY_H

/* what the catalog row says the archive must be */
typedef struct PgbVerifyTarget
{
	const char *id;				/* b001 */
	const char *location;		/* the archive's URL (file:// or s3://) */
	const char *sha256;			/* recorded at capture (NULL: none) */
	const char *table_rows;		/* jsonb text: rows per table at capture */
	int64		max_decompressed;	/* bytes one data item may expand to */
} PgbVerifyTarget;

/* what was read */
typedef struct PgbVerifyResult
{
	char	   *sha256;			/* of the whole object */
	uint64		bytes;			/* its size */
	int			tables;			/* TABLE DATA blocks counted */
	int64		rows;			/* COPY rows, all tables */
} PgbVerifyResult;

/*
 * Read the archive of t and its manifest: raises XX001 (data_corrupted)
 * for a SHA-256 or row-count mismatch, a bad manifest or a broken block,
 * the storage's own error for a missing object, 57014 when canceled.
 * Every file, curl handle and library state is released on any error.
 */
extern void pgb_verify_archive(const PgbVerifyTarget *t, PgbVerifyResult *res);

/* fn(arg) in a subtransaction: NULL, or its error (a cancel is raised) */
extern ErrorData *pgb_verify_try(void (*fn) (void *arg), void *arg);

/* a backup verified by id, and the outcome recorded (api/verify_api.c) */
typedef struct PgbVerifyOutcome
{
	ErrorData  *failure;		/* NULL: it passed */
	char	   *code;			/* the failure's SQLSTATE */
	char	   *at;				/* verified_at as recorded; NULL: not recorded */
	PgbVerifyResult res;
} PgbVerifyOutcome;

/*
 * Verify completed backup id (55000 if it is not) inside the current
 * transaction, and record the outcome in its row and its log ("verified
 * by <by>: ...") over a connection of its own, committed at once.  A
 * failed verification is recorded and returned, not raised; with alert it
 * also queues a webhook alert (kind 'verify', status 'failed').  No access
 * check: the caller's.
 */
extern void pgb_verify_backup(const char *id, const char *by, bool alert,
							  PgbVerifyOutcome *out);

#endif							/* PGB_VERIFY_H */
