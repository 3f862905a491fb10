/*-------------------------------------------------------------------------
 *
 * http.h
 *	  HTTP transfers through libcurl, inside a backend process.
 *
 * One PgbHttpXfer is one request/response.  Transfers run on a
 * PgbHttpMulti: libcurl's multi-socket API, whose sockets and timer are
 * waited for in a WaitEventSet that also holds the process latch and the
 * postmaster-death event.  Every latch wake checks for interrupts, so a
 * cancel or a shutdown is honoured at once, and the process exits when
 * the postmaster dies.  The libcurl handles of a transfer, and the multi
 * handle with its WaitEventSet, are released by memory context callbacks,
 * so an ERROR anywhere leaks nothing.  Retrying is the caller's loop:
 * pgb_http_transient() says whether a failure is worth retrying and
 * pgb_http_backoff() sleeps (exponential, full jitter) within a deadline.
 *
 * src/net/http.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_HTTP_H
#define PGB_HTTP_H

#include <curl/curl.h>

#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

/*
 * Where a response body goes when it is not collected in memory.  It runs
 * inside libcurl, so it must not ereport(ERROR): it returns false to abort
 * the transfer (and keeps its own error to raise afterwards).
 */
typedef bool (*PgbHttpSink) (void *arg, const char *data, size_t len);

/* transfers in progress, and what they wait for (opaque) */
typedef struct PgbHttpMulti PgbHttpMulti;

typedef struct PgbHttpXfer
{
	CURL	   *easy;
	PgbHttpMulti *multi;		/* the multi it is attached to, or NULL */
	dlist_node	node;			/* in multi's list of transfers */
	struct curl_slist *headers;
	char		errbuf[CURL_ERROR_SIZE];

	/* request body (PUT, POST), from memory */
	const char *body;
	size_t		body_len;
	size_t		body_off;

	/* response */
	bool		done;
	CURLcode	result;
	long		status;
	StringInfoData resp;		/* body (first resp_cap bytes) unless sink */
	size_t		resp_cap;
	PgbHttpSink sink;
	void	   *sink_arg;
	int64		received;		/* body bytes received */
	int64		max_bytes;		/* 0: no limit */
	bool		too_big;
	char		etag[256];
	char		location[2048]; /* Location header of a redirect */
	char		bucket_region[64];	/* S3's x-amz-bucket-region header */
	int64		content_length; /* -1 when not sent */

	/* restore_from_url's address policy, checked on every connection */
	bool		check_address;
	bool		allow_private;
	bool		refused;
	char		refused_addr[64];
	bool		resolve_only;	/* record addresses, connect to none */
} PgbHttpXfer;

/* a new transfer for method and url; allow_http permits http:// */
extern PgbHttpXfer *pgb_http_new(const char *method, const char *url, bool allow_http);
extern void pgb_http_add_header(PgbHttpXfer *x, const char *header);
extern void pgb_http_set_body(PgbHttpXfer *x, const char *body, size_t len);
extern void pgb_http_free(PgbHttpXfer *x);

/* run one transfer to its end (synchronously) */
extern void pgb_http_perform(PgbHttpXfer *x);

/*
 * Several transfers at once.  A PgbHttpMulti lives in the memory context
 * current at pgb_http_multi_new and is released with it, or earlier by
 * pgb_http_multi_free (idempotent; its transfers are detached, not freed).
 */
extern PgbHttpMulti *pgb_http_multi_new(void);
extern void pgb_http_multi_free(PgbHttpMulti *m);
extern void pgb_http_multi_add(PgbHttpMulti *m, PgbHttpXfer *x);

/*
 * Wait on the latch for up to timeout_ms (0: only what is ready now) until
 * a transfer finishes; finished transfers get done = true.  Returns how
 * many finished.  Checks for interrupts (may ereport).
 */
extern int	pgb_http_multi_poll(PgbHttpMulti *m, int timeout_ms);

extern bool pgb_http_ok(const PgbHttpXfer *x);
extern bool pgb_http_transient(const PgbHttpXfer *x);
/* an S3 error code worth retrying (InternalError, SlowDown, ...) */
extern bool pgb_http_s3_code_transient(const char *code);
/* "HTTP 503", "connection timed out", ...: never includes the URL */
extern char *pgb_http_describe(const PgbHttpXfer *x);

/*
 * Sleep before retry number attempt (0-based); false (without sleeping) when
 * the retry would end after deadline.
 */
extern bool pgb_http_backoff(int attempt, TimestampTz deadline);
extern TimestampTz pgb_http_deadline(void);
/* the jittered delay before retry number attempt, in ms */
extern int	pgb_http_backoff_ms(int attempt);

/* the URL without userinfo, query and fragment: safe to log */
extern char *pgb_http_redact_url(const char *url);

/*
 * The first address of host that pgb_http_address_is_private refuses, as
 * text, or NULL (none, or host does not resolve).  Resolved by libcurl
 * while waiting on the latch; nothing is connected to.
 */
extern char *pgb_http_first_private_address(const char *host);

/* true if addr (a sockaddr) is loopback, private, link-local, ... */
extern bool pgb_http_address_is_private(const struct sockaddr *addr, char *text, size_t textlen);

#endif							/* PGB_HTTP_H */
