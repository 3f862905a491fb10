/*-------------------------------------------------------------------------
 *
 * storage_s3_int.h
 *	  Inside the s3:// backend: its configuration and signed requests
 *	  (storage_s3.c), shared with its listing, small objects and start-up
 *	  sweep (storage_s3_list.c).  Only those two files include it.
 *
 * src/storage/storage_s3_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_STORAGE_S3_INT_H
#define PGB_STORAGE_S3_INT_H

#include "compat.h"

#include "http.h"
#include "sigv4.h"

typedef struct S3Config
{
	char	   *bucket;
	char	   *key;			/* object key (or prefix), no leading '/' */
	bool		https;
	char	   *endpoint_host;	/* host[:port] */
	bool		path_style;
	PgbSigV4Creds creds;
} S3Config;

typedef struct S3Request
{
	const char *method;
	const char *key;			/* "": the bucket itself */
	const char *name;			/* the key named in errors, when not key */
	const char *query;			/* "" or "uploads=", ... as on the wire */
	const char *body;
	size_t		body_len;
	const char *extra_names[3]; /* extra signed headers */
	const char *extra_values[3];
	int			nextra;
	PgbHttpSink sink;
	void	   *sink_arg;
	int64		max_body;		/* > 0: a larger response body fails */

	/*
	 * The element a 200 answer must hold (CompleteMultipartUploadResult), or
	 * NULL.  S3 sends the status line of a long request at once and may
	 * fail later: an Error in the body is then the answer, retried when
	 * its code is transient.
	 */
	const char *result_elem;
} S3Request;

/* bucket, key, endpoint and credentials of an s3:// URL (copies) */
extern S3Config *pgb_s3_config(const char *url);

extern void pgb_s3_add_extra(S3Request *rq, const char *name, const char *value);

/* the signed transfer of rq, not yet sent */
extern PgbHttpXfer *pgb_s3_prepare(const S3Config *c, const S3Request *rq);

/*
 * Send rq, retrying transient failures until pgbackups.http_retry_time
 * runs out.  Returns the final transfer; raises an error unless it
 * succeeded or its status is ok_status (e.g. 404 for HEAD).
 */
extern PgbHttpXfer *pgb_s3_call(const S3Config *c, const S3Request *rq,
								const char *what, int ok_status);

/*
 * ERROR "could not <what> s3://bucket/key: <the failure>", with the
 * endpoint and region in its detail (and how many times the request was
 * sent, attempts), and the region or endpoint the server asks for in its
 * hint.  Never a credential or a signature.
 */
pg_noreturn extern void pgb_s3_fail(const S3Config *c, const char *what,
									const char *key, PgbHttpXfer *x, int attempts);

#endif							/* PGB_STORAGE_S3_INT_H */
