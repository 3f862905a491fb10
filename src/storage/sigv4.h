/*-------------------------------------------------------------------------
 *
 * sigv4.h
 *	  AWS Signature Version 4: signed request headers and presigned URLs.
 *
 * Pure computation (SHA-256 and HMAC from OpenSSL, strings from
 * StringInfo/palloc): no network and no server state, so the same file
 * builds into the server and into the unit test (test/unit) with FRONTEND
 * defined and libpgcommon.
 *
 * src/storage/sigv4.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_SIGV4_H
#define PGB_SIGV4_H

/* SHA-256 of an empty payload, hex */
#define PGB_SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define PGB_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct PgbSigV4Creds
{
	const char *access_key;
	const char *secret_key;
	const char *session_token;	/* NULL or "" when none */
	const char *region;			/* "us-east-1" */
	const char *service;		/* "s3" */
} PgbSigV4Creds;

typedef struct PgbSigV4Request
{
	const char *method;			/* "GET", "PUT", ... */

	/*
	 * The URI path exactly as it goes on the wire (already percent-encoded
	 * by pgb_sigv4_uri_encode(..., false) per segment).  S3 signs it as is;
	 * with normalize_path (other services), "." and ".." segments and
	 * repeated slashes are resolved and the result is URI-encoded once more
	 * (those services sign a doubly encoded path: "%20" as "%2520").
	 */
	const char *path;
	bool		normalize_path;

	/*
	 * The query string as it goes on the wire, without '?', "" when none.
	 * The signer decodes and re-encodes each name and value and sorts them
	 * (by name, then value); "a" and "a=" both canonicalise as "a=".  '+'
	 * is a literal '+' (send a space as %20).
	 */
	const char *query;

	/*
	 * Headers to sign, including "host" (and "x-amz-date",
	 * "x-amz-content-sha256", "x-amz-security-token" when used: the caller
	 * adds them).  Names are lower-cased, values trimmed and inner runs of
	 * spaces collapsed; repeated names are joined with ',' in the order
	 * given; the signed list is sorted.
	 */
	int			nheaders;
	const char *const *header_names;
	const char *const *header_values;

	const char *payload_hash;	/* hex SHA-256 or UNSIGNED-PAYLOAD */
	const char *amz_date;		/* "20150830T123600Z" */
} PgbSigV4Request;

/*
 * Percent-encode s as SigV4 wants: unreserved characters (A-Z a-z 0-9 - . _
 * ~) kept, everything else %XX with upper-case hex (space is %20, never
 * '+'); '/' kept when keep_slash.
 */
extern char *pgb_sigv4_uri_encode(const char *s, bool keep_slash);

/* lower-case hex SHA-256 of data */
extern char *pgb_sigv4_sha256_hex(const void *data, size_t len);

/*
 * The Authorization header value for req ("AWS4-HMAC-SHA256
 * Credential=..., SignedHeaders=..., Signature=...").  When not NULL,
 * *canonical_request and *string_to_sign receive the intermediate texts
 * (for tests).
 */
extern char *pgb_sigv4_authorization(const PgbSigV4Creds *creds,
									 const PgbSigV4Request *req,
									 char **canonical_request,
									 char **string_to_sign);

/*
 * A presigned request (query-string authentication): returns the complete
 * query string to append after '?' in the URL: the request's own query
 * parameters (req->query) plus X-Amz-Algorithm, X-Amz-Credential,
 * X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders (and X-Amz-Security-Token
 * when the creds have a session token), each encoded and sorted as the
 * canonical query, then X-Amz-Signature last.  req->payload_hash is
 * normally UNSIGNED-PAYLOAD; req's headers are normally just host.
 * expires is in seconds, 1..604800 (the caller checks the range).
 */
extern char *pgb_sigv4_presign(const PgbSigV4Creds *creds,
							   const PgbSigV4Request *req,
							   int expires,
							   char **canonical_request,
							   char **string_to_sign);

#endif							/* PGB_SIGV4_H */
