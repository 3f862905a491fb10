/*-------------------------------------------------------------------------
 *
 * storage_s3.c
 *	  The s3:// storage backend: AWS S3 and S3-compatible services.
 *
 * Requests are signed with SigV4 (sigv4.c, payloads hashed) and sent with
 * libcurl (http.c); transient failures are retried with backoff within
 * pgbackups.http_retry_time, other 4xx fail at once with an error naming
 * bucket and key.  An archive small enough for one part is one PUT;
 * larger ones are multipart uploads whose parts (sized so that the whole
 * archive fits in 10,000 parts) are uploaded several at once on one curl
 * multi handle; the parts holding a reserved head (written last) are
 * uploaded at commit.  A failed or canceled upload is aborted; keys are unique
 * per backup and checked with HEAD before an upload starts, and writes
 * carry If-None-Match: * so that S3 refuses to overwrite.  Reading is by
 * ranged GETs through a window buffer (PgbReadSource for the archive
 * reader).  Presigned GET URLs for pgbackups.url().  Listing, small
 * objects and the start-up sweep are in storage_s3_list.c, on the same
 * signed requests (storage_s3_int.h); every XML answer is read with
 * libxml2 (xml.c).
 *
 * src/storage/storage_s3.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "archive.h"
#include "guc.h"
#include "http.h"
#include "pq_util.h"
#include "sigv4.h"
#include "storage.h"
#include "storage_ops.h"
#include "storage_s3_int.h"
#include "url_scheme.h"
#include "xml.h"

#define S3_MAX_PARTS 10000
#define S3_MAX_PART_SIZE ((uint64) 5 * 1024 * 1024 * 1024)
#define S3_BUFFER_BUDGET ((uint64) 1024 * 1024 * 1024)
#define S3_READ_WINDOW (8 * 1024 * 1024)


/* ---- configuration and addressing ---- */

S3Config *
pgb_s3_config(const char *url)
{
	S3Config   *c = palloc0(sizeof(S3Config));
	const char *b = url + 5;
	const char *slash = strchr(b, '/');
	const char *ep;

	if (pgb_url_scheme(url) != PGB_URL_S3)
		elog(ERROR, "not an s3:// URL");
	c->bucket = slash ? pnstrdup(b, slash - b) : pstrdup(b);
	c->key = pstrdup(slash ? slash + 1 : "");
	if (c->bucket[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("storage URL \"%s\" names no bucket", url),
				 errhint("Set pgbackups.storage_url to s3://bucket or s3://bucket/prefix.")));
	if (pgb_s3_endpoint && pgb_s3_endpoint[0])
	{
		size_t		len;

		c->https = pgb_url_scheme(pgb_s3_endpoint) == PGB_URL_HTTPS;
		ep = pgb_s3_endpoint + (c->https ? 8 : 7);
		len = strcspn(ep, "/");
		c->endpoint_host = pnstrdup(ep, len);
		/* curl sends no default port in Host; neither may the signature */
		len = strlen(c->endpoint_host);
		if (c->https && len > 4 && strcmp(c->endpoint_host + len - 4, ":443") == 0)
			c->endpoint_host[len - 4] = '\0';
		else if (!c->https && len > 3 && strcmp(c->endpoint_host + len - 3, ":80") == 0)
			c->endpoint_host[len - 3] = '\0';
	}
	else
	{
		c->https = true;
		c->endpoint_host = psprintf("s3.%s.amazonaws.com", pgb_s3_region);
	}
	c->path_style = strcmp(pgb_s3_uri_style, "path") == 0;
	if (!pgb_s3_access_key_id || !pgb_s3_access_key_id[0] ||
		!pgb_s3_secret_access_key || !pgb_s3_secret_access_key[0])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("S3 credentials are not configured"),
				 errhint("Set pgbackups.s3_access_key_id and pgbackups.s3_secret_access_key.")));
	/* copies: a reload frees the settings' strings */
	c->creds.access_key = pstrdup(pgb_s3_access_key_id);
	c->creds.secret_key = pstrdup(pgb_s3_secret_access_key);
	c->creds.session_token = (pgb_s3_session_token && pgb_s3_session_token[0]) ?
		pstrdup(pgb_s3_session_token) : NULL;
	c->creds.region = pstrdup(pgb_s3_region);
	c->creds.service = "s3";
	return c;
}

static char *
object_host(const S3Config *c)
{
	return c->path_style ? pstrdup(c->endpoint_host) :
		psprintf("%s.%s", c->bucket, c->endpoint_host);
}

/*
 * object_path
 *		The path of key on the wire (and signed as is).  A bucket-level
 *		request (key "") is "/bucket" or "/", never "/bucket/": S3 signs
 *		the path it receives, but S3-compatible servers that rebuild the
 *		canonical URI from the bucket name (s3rver) would refuse it.
 */
static char *
object_path(const S3Config *c, const char *key)
{
	char	   *ekey = pgb_sigv4_uri_encode(key, true);

	if (key[0] == '\0')
		return c->path_style ? psprintf("/%s", c->bucket) : pstrdup("/");
	return c->path_style ? psprintf("/%s/%s", c->bucket, ekey) : psprintf("/%s", ekey);
}

static void
amz_date(char *buf)
{
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	strftime(buf, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- one signed request ---- */


void
pgb_s3_add_extra(S3Request *rq, const char *name, const char *value)
{
	rq->extra_names[rq->nextra] = name;
	rq->extra_values[rq->nextra] = value;
	rq->nextra++;
}

PgbHttpXfer *
pgb_s3_prepare(const S3Config *c, const S3Request *rq)
{
	char		date[17];
	char	   *host = object_host(c);
	char	   *path = object_path(c, rq->key);
	char	   *hash;
	const char *names[8];
	const char *values[8];
	int			n = 0;
	int			i;
	PgbSigV4Request sr;
	char	   *url;
	PgbHttpXfer *x;

	amz_date(date);
	hash = rq->body_len > 0 ? pgb_sigv4_sha256_hex(rq->body, rq->body_len) :
		pstrdup(PGB_SIGV4_EMPTY_SHA256);
	names[n] = "host";
	values[n++] = host;
	names[n] = "x-amz-content-sha256";
	values[n++] = hash;
	names[n] = "x-amz-date";
	values[n++] = date;
	if (c->creds.session_token)
	{
		names[n] = "x-amz-security-token";
		values[n++] = c->creds.session_token;
	}
	for (i = 0; i < rq->nextra; i++)
	{
		names[n] = rq->extra_names[i];
		values[n++] = rq->extra_values[i];
	}
	memset(&sr, 0, sizeof(sr));
	sr.method = rq->method;
	sr.path = path;
	sr.query = rq->query;
	sr.nheaders = n;
	sr.header_names = names;
	sr.header_values = values;
	sr.payload_hash = hash;
	sr.amz_date = date;

	url = psprintf("%s://%s%s%s%s", c->https ? "https" : "http", host, path,
				   rq->query[0] ? "?" : "", rq->query);
	x = pgb_http_new(rq->method, url, !c->https);
	for (i = 1; i < n; i++)
		pgb_http_add_header(x, psprintf("%s: %s", names[i], values[i]));
	pgb_http_add_header(x, psprintf("Authorization: %s",
									pgb_sigv4_authorization(&c->creds, &sr, NULL, NULL)));
	if (rq->body)
		pgb_http_set_body(x, rq->body, rq->body_len);
	if (strcmp(rq->method, "POST") == 0)
		pgb_http_add_header(x, "Content-Type: application/xml");
	x->sink = rq->sink;
	x->sink_arg = rq->sink_arg;
	if (rq->max_body > 0)
	{
		x->max_bytes = rq->max_body;
		x->resp_cap = Max(x->resp_cap, (size_t) rq->max_body);
	}
	return x;
}

/* a server's text for a message: at most max bytes (whole characters), printable */
static char *
server_text(const char *s, int max)
{
	char	   *t;
	char	   *p;

	if (s == NULL || s[0] == '\0')
		return NULL;
	t = pstrdup(s);
	if (strlen(t) > (size_t) max)
		t[pg_mbcliplen(t, strlen(t), max)] = '\0';
	for (p = t; *p; p++)
		if ((unsigned char) *p < 0x20)
			*p = ' ';
	return t;
}

void
pgb_s3_fail(const S3Config *c, const char *what, const char *key, PgbHttpXfer *x, int attempts)
{
	int			code = x->too_big ? ERRCODE_PROGRAM_LIMIT_EXCEEDED :
		x->result != CURLE_OK ? ERRCODE_CONNECTION_FAILURE :
		x->status == 404 ? ERRCODE_UNDEFINED_FILE : ERRCODE_IO_ERROR;
	char	   *endpoint = psprintf("%s://%s", c->https ? "https" : "http", c->endpoint_host);
	char	   *region = NULL;
	char	   *asked_endpoint = NULL;
	char	   *hint = NULL;

	/*
	 * A wrong region is answered with the right one: AuthorizationHeaderMalformed
	 * carries <Region>, PermanentRedirect <Endpoint>, and both (HEAD too) the
	 * x-amz-bucket-region header.
	 */
	if (x->result == CURLE_OK && !x->too_big)
	{
		PgbXmlDoc  *doc = pgb_xml_parse(x->resp.data, x->resp.len);

		region = server_text(x->bucket_region[0] ? x->bucket_region :
							 pgb_xml_doc_first_text(doc, "Region"), 64);
		asked_endpoint = server_text(pgb_xml_doc_first_text(doc, "Endpoint"), 255);
		pgb_xml_free(doc);
	}
	if (region && strcmp(region, c->creds.region) != 0)
		hint = psprintf("The bucket is in region \"%s\": set pgbackups.s3_region to it.", region);
	else if (asked_endpoint)
		hint = psprintf("The server asks for endpoint \"%s\": check pgbackups.s3_endpoint and pgbackups.s3_region.",
						asked_endpoint);
	else if (x->status == 403)
		hint = pstrdup("Check pgbackups.s3_access_key_id, pgbackups.s3_secret_access_key, pgbackups.s3_region and the bucket's policy.");

	ereport(ERROR,
			(errcode(code),
			 errmsg("could not %s \"s3://%s/%s\": %s", what, c->bucket, key, pgb_http_describe(x)),
			 attempts > 1 ?
			 errdetail("The request went to endpoint %s, region \"%s\"; it was sent %d times.",
					   endpoint, c->creds.region, attempts) :
			 errdetail("The request went to endpoint %s, region \"%s\".", endpoint, c->creds.region),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * Retries of S3 requests in this process: how many so far, and the failure
 * before the last one (a writer reports the difference at its commit).
 */
static uint64 s3_retries = 0;
static char s3_last_retry[256];

static void
note_retry(const S3Config *c, const char *what, const char *name, PgbHttpXfer *x)
{
	char	   *why = pgb_http_describe(x);
	size_t		len = strlen(what);

	/* "upload part 2 of" -> "upload part 2" */
	if (len > 3 && strcmp(what + len - 3, " of") == 0)
		len -= 3;
	s3_retries++;
	snprintf(s3_last_retry, sizeof(s3_last_retry), "%.*s: %s", (int) len, what, why);
	ereport(DEBUG1,
			(errmsg_internal("retrying %s \"s3://%s/%s\" after %s", what, c->bucket, name, why)));
}

/*
 * body_error
 *		The answer of rq with a result element (2xx) holds an Error instead
 *		of the result: its code ("" when it has none), or NULL when the
 *		result is there.  Neither: a protocol violation.
 */
static char *
body_error(const S3Config *c, const S3Request *rq, const char *what, PgbHttpXfer *x)
{
	PgbXmlDoc  *doc = pgb_xml_parse(x->resp.data, x->resp.len);
	bool		is_error = pgb_xml_doc_first_text(doc, "Error") != NULL;
	bool		is_result = !is_error && pgb_xml_doc_first_text(doc, rq->result_elem) != NULL;
	char	   *code = is_error ? pgb_xml_doc_first_text(doc, "Code") : NULL;

	pgb_xml_free(doc);
	if (is_result)
		return NULL;
	if (!is_error)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("could not %s \"s3://%s/%s\": the answer (HTTP %ld) holds neither %s nor Error",
						what, c->bucket, rq->name ? rq->name : rq->key, x->status, rq->result_elem)));
	return code ? code : pstrdup("");
}

/*
 * s3_call
 *		pgb_s3_call; with failed not NULL, a final failure is not raised but
 *		returned (*failed = true).  *attempts: how many times rq was sent.
 */
static PgbHttpXfer *
s3_call(const S3Config *c, const S3Request *rq, const char *what, int ok_status,
		bool *failed, int *attempts)
{
	TimestampTz deadline = pgb_http_deadline();
	const char *name = rq->name ? rq->name : rq->key;
	int			attempt = 0;

	if (failed)
		*failed = false;
	for (;;)
	{
		PgbHttpXfer *x = pgb_s3_prepare(c, rq);
		bool		retry;

		pgb_http_perform(x);
		*attempts = ++attempt;
		if (pgb_http_ok(x) && rq->result_elem)
		{
			/* a 200 whose body is an Error: S3 failed after the status line */
			char	   *code = body_error(c, rq, what, x);

			if (code == NULL)
				return x;
			retry = pgb_http_s3_code_transient(code);
		}
		else if (pgb_http_ok(x) || (ok_status && x->result == CURLE_OK && x->status == ok_status))
			return x;
		else
			retry = pgb_http_transient(x);
		if (!retry || !pgb_http_backoff(attempt - 1, deadline))
		{
			if (failed == NULL)
				pgb_s3_fail(c, what, name, x, attempt);
			*failed = true;
			return x;
		}
		note_retry(c, what, name, x);
		pgb_http_free(x);
	}
}

/*
 * pgb_s3_call
 *		Send rq, retrying transient failures until pgbackups.http_retry_time
 *		runs out.  Returns the final transfer; raises an error unless it
 *		succeeded or its status is one of ok_status (e.g. 404 for HEAD).
 */
PgbHttpXfer *
pgb_s3_call(const S3Config *c, const S3Request *rq, const char *what, int ok_status)
{
	int			attempts;

	return s3_call(c, rq, what, ok_status, NULL, &attempts);
}

/* HEAD: the object's size, or -1 if it does not exist; its ETag into etag */
static int64
s3_head_etag(const S3Config *c, const char *key, char *etag, size_t etaglen)
{
	S3Request	rq = {0};
	PgbHttpXfer *x;
	int64		size;

	rq.method = "HEAD";
	rq.key = key;
	rq.query = "";
	x = pgb_s3_call(c, &rq, "look up", 404);
	size = x->status == 404 ? -1 : x->content_length;
	if (etag)
		strlcpy(etag, x->status == 404 ? "" : x->etag, etaglen);
	pgb_http_free(x);
	return size;
}

static int64
s3_head(const S3Config *c, const char *key)
{
	return s3_head_etag(c, key, NULL, 0);
}

/* ---- writer: single PUT or multipart upload ---- */

typedef struct S3Part
{
	char	   *buf;
	size_t		len;
	int			num;
	PgbHttpXfer *x;				/* in flight, or NULL */
	int			attempt;
	TimestampTz deadline;
	TimestampTz retry_at;		/* waiting to be resent, or 0 */
} S3Part;

struct PgbS3Writer
{
	S3Config   *cfg;
	char	   *location;
	size_t		part_size;
	int			nslots;
	S3Part	   *slots;
	S3Part	   *cur;			/* being filled */
	int			nparts;			/* parts handed out so far */
	uint64		total;			/* bytes in those parts */
	char	  **etags;			/* by part number - 1 */
	char	   *upload_id;
	uint64		head_len;		/* reserved head: its parts are held */
	S3Part	   *held;			/* parts 1 .. nheld, uploaded at commit */
	int			nheld;
	uint64		retries_before; /* s3_retries when the writer was created */
	PgbHttpMulti *multi;
	bool		done;			/* completed or aborted */
	MemoryContextCallback cb;
};

static void
writer_release(void *arg)
{
	PgbS3Writer *w = (PgbS3Writer *) arg;
	int			i;

	for (i = 0; i < w->nslots; i++)
		if (w->slots[i].x)
		{
			pgb_http_free(w->slots[i].x);
			w->slots[i].x = NULL;
		}
	pgb_http_multi_free(w->multi);
	w->multi = NULL;
}

PgbS3Writer *
pgb_s3_create(const char *url, uint64 expected_size)
{
	PgbS3Writer *w = palloc0(sizeof(PgbS3Writer));
	uint64		part = (uint64) pgb_s3_part_size * 1024 * 1024;
	uint64		need;

	w->cfg = pgb_s3_config(url);
	w->location = pstrdup(url);
	if (w->cfg->key[0] == '\0')
		elog(ERROR, "S3 object URL has no key");
	/* parts large enough for 10,000 of them to hold the archive */
	need = (expected_size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
	need = (need + 1024 * 1024 - 1) & ~((uint64) 1024 * 1024 - 1);
	part = Max(part, need);
	if (part > S3_MAX_PART_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("archive of " UINT64_FORMAT " bytes is too large for S3", expected_size),
				 errdetail("An S3 object holds at most 10,000 parts of 5 GB.")));
	w->part_size = part;
	/* one part being filled and up to concurrency in flight, within a budget */
	w->nslots = pgb_s3_upload_concurrency + 1;
	if ((uint64) w->nslots * part > S3_BUFFER_BUDGET)
		w->nslots = Max(2, (int) (S3_BUFFER_BUDGET / part));
	w->slots = palloc0(sizeof(S3Part) * w->nslots);
	w->etags = palloc0(sizeof(char *) * S3_MAX_PARTS);
	w->cb.func = writer_release;
	w->cb.arg = w;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &w->cb);
	w->retries_before = s3_retries;

	if (s3_head(w->cfg, w->cfg->key) >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("archive \"%s\" already exists", url),
				 errdetail("pgbackups never overwrites a stored archive.")));
	w->cur = &w->slots[0];
	w->cur->buf = MemoryContextAllocHuge(CurrentMemoryContext, part);
	return w;
}

static void
initiate(PgbS3Writer *w)
{
	S3Request	rq = {0};
	PgbHttpXfer *x;
	MemoryContext old;

	rq.method = "POST";
	rq.key = w->cfg->key;
	rq.query = "uploads=";
	x = pgb_s3_call(w->cfg, &rq, "start the upload of", 0);
	w->upload_id = pgb_xml_first_text(x->resp.data, x->resp.len, "UploadId");
	if (w->upload_id == NULL || w->upload_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("could not start the upload of \"%s\": the response has no UploadId",
						w->location)));
	pgb_http_free(x);
	/* the multi handle lives as long as the writer */
	old = MemoryContextSwitchTo(GetMemoryChunkContext(w));
	w->multi = pgb_http_multi_new();
	MemoryContextSwitchTo(old);
}

static void
send_part(PgbS3Writer *w, S3Part *p)
{
	S3Request	rq = {0};

	rq.method = "PUT";
	rq.key = w->cfg->key;
	rq.query = psprintf("partNumber=%d&uploadId=%s", p->num,
						pgb_sigv4_uri_encode(w->upload_id, false));
	rq.body = p->buf;
	rq.body_len = p->len;
	p->x = pgb_s3_prepare(w->cfg, &rq);
	pgb_http_multi_add(w->multi, p->x);
	p->retry_at = 0;
}

/* handle finished parts; false if nothing is in flight or waiting */
static bool
pump(PgbS3Writer *w)
{
	bool		busy = false;
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	for (i = 0; i < w->nslots; i++)
	{
		S3Part	   *p = &w->slots[i];

		if (p->retry_at != 0 && p->retry_at <= now)
			send_part(w, p);
		if (p->x || p->retry_at != 0)
			busy = true;
	}
	if (!busy)
		return false;
	(void) pgb_http_multi_poll(w->multi, 100);
	for (i = 0; i < w->nslots; i++)
	{
		S3Part	   *p = &w->slots[i];

		if (p->x == NULL || !p->x->done)
			continue;
		if (pgb_http_ok(p->x))
		{
			if (p->x->etag[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("could not upload part %d of \"%s\": the response has no ETag",
								p->num, w->location)));
			w->etags[p->num - 1] = pstrdup(p->x->etag);
			pgb_http_free(p->x);
			p->x = NULL;
			p->len = 0;
		}
		else if (pgb_http_transient(p->x))
		{
			TimestampTz failed_at = GetCurrentTimestamp();

			/* as pgb_http_backoff: a last try at the deadline */
			if (failed_at >= p->deadline)
				pgb_s3_fail(w->cfg, psprintf("upload part %d of", p->num), w->cfg->key, p->x,
							p->attempt + 1);
			p->retry_at = Min(TimestampTzPlusMilliseconds(failed_at, pgb_http_backoff_ms(p->attempt)),
							  p->deadline);
			note_retry(w->cfg, psprintf("upload part %d of", p->num), w->cfg->key, p->x);
			p->attempt++;
			pgb_http_free(p->x);
			p->x = NULL;
		}
		else
			pgb_s3_fail(w->cfg, psprintf("upload part %d of", p->num), w->cfg->key, p->x,
						p->attempt + 1);
	}
	return true;
}

static void
check_nparts(PgbS3Writer *w)
{
	if (w->nparts >= S3_MAX_PARTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("archive \"%s\" needs more than 10,000 parts", w->location)));
}

/* at most s3_upload_concurrency parts in flight (or waiting to be resent) */
static void
wait_for_room(PgbS3Writer *w)
{
	for (;;)
	{
		int			busy = 0;
		int			i;

		for (i = 0; i < w->nslots; i++)
			if (w->slots[i].x != NULL || w->slots[i].retry_at != 0)
				busy++;
		if (busy < Min(pgb_s3_upload_concurrency, w->nslots - 1))
			break;
		(void) pump(w);
	}
}

/* hand the full current part over and find a free slot to fill next */
static void
submit_current(PgbS3Writer *w)
{
	S3Part	   *p = w->cur;
	int			i;

	check_nparts(w);
	if (w->total < w->head_len)
	{
		/* it holds bytes of the head: kept until commit, a new buffer to fill */
		S3Part	   *h = &w->held[w->nheld++];

		h->buf = p->buf;
		h->len = p->len;
		h->num = ++w->nparts;
		w->total += p->len;
		p->buf = MemoryContextAllocHuge(GetMemoryChunkContext(w), w->part_size);
		p->len = 0;
		return;
	}
	if (w->upload_id == NULL)
		initiate(w);
	wait_for_room(w);
	p->num = ++w->nparts;
	w->total += p->len;
	p->attempt = 0;
	p->deadline = pgb_http_deadline();
	send_part(w, p);
	w->cur = NULL;
	for (;;)
	{
		for (i = 0; i < w->nslots; i++)
		{
			S3Part	   *s = &w->slots[i];

			if (s->x == NULL && s->retry_at == 0)
			{
				if (s->buf == NULL)
					s->buf = MemoryContextAllocHuge(CurrentMemoryContext, w->part_size);
				s->len = 0;
				w->cur = s;
				return;
			}
		}
		(void) pump(w);
	}
}

void
pgb_s3_write(PgbS3Writer *w, const char *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = Min(len, w->part_size - w->cur->len);

		memcpy(w->cur->buf + w->cur->len, data, n);
		w->cur->len += n;
		data += n;
		len -= n;
		if (w->cur->len == w->part_size)
			submit_current(w);
		else if (w->multi)
			(void) pgb_http_multi_poll(w->multi, 0);
	}
}

/*
 * pgb_s3_reserve_head
 *		The first len bytes are written now as zeros and for real by
 *		pgb_s3_write_head: the parts that hold them are not uploaded before
 *		commit.
 */
void
pgb_s3_reserve_head(PgbS3Writer *w, size_t len)
{
	char		zeros[8192] = {0};

	Assert(w->nparts == 0 && w->cur->len == 0);
	w->head_len = len;
	w->held = MemoryContextAllocZero(GetMemoryChunkContext(w),
									 sizeof(S3Part) * (len / w->part_size + 2));
	while (len > 0)
	{
		size_t		n = Min(len, sizeof(zeros));

		pgb_s3_write(w, zeros, n);
		len -= n;
	}
}

/* the reserved head, into the held parts (and the part being filled) */
void
pgb_s3_write_head(PgbS3Writer *w, const char *data, size_t len)
{
	int			i;

	if (len != w->head_len)
		elog(ERROR, "S3 archive head of %zu bytes written where %zu were reserved",
			 len, (size_t) w->head_len);
	for (i = 0; i < w->nheld && len > 0; i++)
	{
		size_t		n = Min(len, w->held[i].len);

		memcpy(w->held[i].buf, data, n);
		data += n;
		len -= n;
	}
	if (len > 0)
	{
		Assert(w->nparts == w->nheld && len <= w->cur->len);
		memcpy(w->cur->buf, data, len);
	}
}

/* upload the held parts, last */
static void
send_held(PgbS3Writer *w)
{
	int			k;

	if (w->nheld > 0 && w->upload_id == NULL)
		initiate(w);
	for (k = 0; k < w->nheld; k++)
	{
		S3Part	   *s = NULL;
		int			i;

		wait_for_room(w);
		for (i = 0; i < w->nslots && s == NULL; i++)
			if (w->slots[i].x == NULL && w->slots[i].retry_at == 0)
				s = &w->slots[i];
		Assert(s != NULL);
		if (s->buf)
			pfree(s->buf);
		s->buf = w->held[k].buf;
		s->len = w->held[k].len;
		s->num = w->held[k].num;
		w->held[k].buf = NULL;
		s->attempt = 0;
		s->deadline = pgb_http_deadline();
		send_part(w, s);
	}
	w->cur = NULL;
	w->nheld = 0;
}

/*
 * complete_landed
 *		CompleteMultipartUpload failed after it was sent more than once: an
 *		earlier attempt may have completed the upload and only its answer
 *		was lost (a retry then finds NoSuchUpload, or InternalError from
 *		s3rver).  The key is this backup's alone and did not exist before
 *		(HEAD at create, If-None-Match: * on every write), so an object
 *		there with the bytes uploaded is this upload, completed.  An ETag of
 *		the multipart form ("<md5>-N", S3 and MinIO) must count as many
 *		parts; s3rver's is a plain MD5.
 */
static bool
complete_landed(PgbS3Writer *w)
{
	char		etag[256];
	int64		size = s3_head_etag(w->cfg, w->cfg->key, etag, sizeof(etag));
	char	   *dash;

	if (size < 0 || (uint64) size != w->total)
		return false;
	dash = strrchr(etag, '-');
	if (dash == NULL)
		return true;
	return strtol(dash + 1, NULL, 10) == w->nparts;
}

/* the job's log learns how many retries the upload needed */
static void
report_retries(PgbS3Writer *w)
{
	uint64		n = s3_retries - w->retries_before;

	if (n > 0)
		pgb_storage_report(psprintf("the upload of \"%s\" needed " UINT64_FORMAT " %s; the last after: %s",
									w->location, n, n == 1 ? "retry" : "retries", s3_last_retry));
}

void
pgb_s3_commit(PgbS3Writer *w)
{
	S3Request	rq = {0};
	PgbHttpXfer *x;
	StringInfoData xml;
	int			i;
	bool		failed;
	int			attempts;

	if (w->upload_id == NULL && w->nheld == 0)
	{
		/* small enough for one PUT */
		rq.method = "PUT";
		rq.key = w->cfg->key;
		rq.query = "";
		rq.body = w->cur->buf;
		rq.body_len = w->cur->len;
		pgb_s3_add_extra(&rq, "if-none-match", "*");
		x = pgb_s3_call(w->cfg, &rq, "store", 0);
		pgb_http_free(x);
		w->done = true;
		report_retries(w);
		return;
	}
	if (w->cur->len > 0)
		submit_current(w);
	send_held(w);
	while (pump(w))
		;
	initStringInfo(&xml);
	appendStringInfoString(&xml, "<CompleteMultipartUpload>");
	for (i = 0; i < w->nparts; i++)
		appendStringInfo(&xml, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
						 i + 1, w->etags[i]);
	appendStringInfoString(&xml, "</CompleteMultipartUpload>");
	rq.method = "POST";
	rq.key = w->cfg->key;
	rq.query = psprintf("uploadId=%s", pgb_sigv4_uri_encode(w->upload_id, false));
	rq.body = xml.data;
	rq.body_len = xml.len;
	pgb_s3_add_extra(&rq, "if-none-match", "*");
	/* a 200 can still carry an error, sent after S3's keep-alive whitespace */
	rq.result_elem = "CompleteMultipartUploadResult";
	x = s3_call(w->cfg, &rq, "complete the upload of", 0, &failed, &attempts);
	if (failed)
	{
		if (attempts < 2 || !complete_landed(w))
			pgb_s3_fail(w->cfg, "complete the upload of", w->cfg->key, x, attempts);
		pgb_storage_report(psprintf("the answer to the completion of \"%s\" was lost (attempt %d got %s), "
									"but the object is at its key with all %d parts, " UINT64_FORMAT " bytes: completed",
									w->location, attempts, pgb_http_describe(x), w->nparts, w->total));
	}
	pgb_http_free(x);
	w->done = true;
	writer_release(w);
	report_retries(w);
}

/*
 * pgb_s3_abort
 *		Abort the multipart upload, best effort: never raises an error (a
 *		failure is a WARNING; the start-up sweep and the bucket's lifecycle
 *		rule are the backstops).  Called after the error was flushed.
 */
void
pgb_s3_abort(PgbS3Writer *w)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	int			save_retry = pgb_http_retry_time;

	if (w == NULL || w->done)
		return;
	w->done = true;
	writer_release(w);
	if (w->upload_id == NULL)
		return;
	PG_TRY();
	{
		S3Request	rq = {0};
		PgbHttpXfer *x;

		rq.method = "DELETE";
		rq.key = w->cfg->key;
		rq.query = psprintf("uploadId=%s", pgb_sigv4_uri_encode(w->upload_id, false));
		pgb_http_retry_time = Min(pgb_http_retry_time, 10);
		x = pgb_s3_call(w->cfg, &rq, "abort the upload of", 0);
		pgb_http_free(x);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("%s", edata->message),
				 errdetail("The parts of the unfinished upload may remain in the bucket until a lifecycle rule removes them.")));
	}
	PG_END_TRY();
	pgb_http_retry_time = save_retry;
}

/* ---- delete, presign ---- */

bool
pgb_s3_delete(const char *url)
{
	S3Config   *c = pgb_s3_config(url);
	S3Request	rq = {0};
	PgbHttpXfer *x;

	if (s3_head(c, c->key) < 0)
		return false;
	rq.method = "DELETE";
	rq.key = c->key;
	rq.query = "";
	x = pgb_s3_call(c, &rq, "delete", 0);
	pgb_http_free(x);
	return true;
}

char *
pgb_s3_presign(const char *url, int expires)
{
	S3Config   *c = pgb_s3_config(url);
	char		date[17];
	char	   *host = object_host(c);
	char	   *path = object_path(c, c->key);
	const char *names[1] = {"host"};
	const char *values[1];
	PgbSigV4Request sr;

	values[0] = host;
	amz_date(date);
	memset(&sr, 0, sizeof(sr));
	sr.method = "GET";
	sr.path = path;
	sr.query = "";
	sr.nheaders = 1;
	sr.header_names = names;
	sr.header_values = values;
	sr.payload_hash = PGB_SIGV4_UNSIGNED_PAYLOAD;
	sr.amz_date = date;
	return psprintf("%s://%s%s?%s", c->https ? "https" : "http", host, path,
					pgb_sigv4_presign(&c->creds, &sr, expires, NULL, NULL));
}

/* ---- reading: ranged GETs through a window ---- */

typedef struct S3Source
{
	S3Config   *cfg;
	char	   *location;
	int64		size;
	char	   *win;			/* the current window */
	uint64		win_start;
	size_t		win_len;
	size_t		fill;			/* bytes of the synchronous GET so far */
	size_t		want;
	/* read-ahead: the next window, fetched while the current one is read */
	PgbHttpMulti *multi;
	MemoryContext ahead_cxt;	/* the read-ahead request, reset per window */
	PgbHttpXfer *ahead;
	char	   *ahead_buf;
	uint64		ahead_start;
	size_t		ahead_len;
	size_t		ahead_fill;
} S3Source;

typedef struct WindowSink
{
	char	   *buf;
	size_t	   *fill;
	size_t		want;
} WindowSink;

static bool
window_sink(void *arg, const char *data, size_t len)
{
	WindowSink *ws = (WindowSink *) arg;

	if (*ws->fill + len > ws->want)
		return false;
	memcpy(ws->buf + *ws->fill, data, len);
	*ws->fill += len;
	return true;
}

static PgbHttpXfer *
range_request(S3Source *s, uint64 pos, size_t want, WindowSink *ws)
{
	S3Request	rq = {0};

	rq.method = "GET";
	rq.key = s->cfg->key;
	rq.query = "";
	pgb_s3_add_extra(&rq, "range", psprintf("bytes=" UINT64_FORMAT "-" UINT64_FORMAT, pos, pos + want - 1));
	rq.sink = window_sink;
	rq.sink_arg = ws;
	return pgb_s3_prepare(s->cfg, &rq);
}

static void
fetch_window(S3Source *s, uint64 pos, size_t want)
{
	PgbHttpXfer *x;
	TimestampTz deadline = pgb_http_deadline();
	int			attempt = 0;
	WindowSink *ws = palloc(sizeof(WindowSink));

	ws->buf = s->win;
	ws->fill = &s->fill;
	ws->want = want;
	for (;;)
	{
		s->fill = 0;
		x = range_request(s, pos, want, ws);
		pgb_http_perform(x);
		if (pgb_http_ok(x) && x->status == 206 && s->fill == want)
			break;
		if (pgb_http_ok(x) && x->status != 206)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("could not read \"%s\": the server ignored the Range header (HTTP %ld)",
							s->location, x->status)));
		if (!(pgb_http_transient(x) || (pgb_http_ok(x) && s->fill < want)) ||
			!pgb_http_backoff(attempt, deadline))
			pgb_s3_fail(s->cfg, "read", s->cfg->key, x, attempt + 1);
		attempt++;
		note_retry(s->cfg, "read", s->cfg->key, x);
		pgb_http_free(x);
	}
	pgb_http_free(x);
	pfree(ws);
	s->win_start = pos;
	s->win_len = want;
}

static void
drop_ahead(S3Source *s)
{
	if (s->ahead)
		pgb_http_free(s->ahead);
	s->ahead = NULL;
	if (s->ahead_cxt)
		MemoryContextReset(s->ahead_cxt);
}

/* start fetching the window after the current one */
static void
start_ahead(S3Source *s)
{
	uint64		next = s->win_start + s->win_len;
	WindowSink *ws;
	MemoryContext old;

	if (s->ahead || next >= (uint64) s->size)
		return;
	if (s->multi == NULL)
	{
		/* the multi handle lives as long as the source */
		old = MemoryContextSwitchTo(GetMemoryChunkContext(s));
		s->multi = pgb_http_multi_new();
		MemoryContextSwitchTo(old);
	}
	if (s->ahead_cxt == NULL)
		s->ahead_cxt = AllocSetContextCreate(GetMemoryChunkContext(s), "pgbackups S3 read-ahead",
											 ALLOCSET_SMALL_SIZES);
	if (s->ahead_buf == NULL)
		s->ahead_buf = MemoryContextAllocHuge(GetMemoryChunkContext(s), S3_READ_WINDOW);
	s->ahead_start = next;
	s->ahead_len = (size_t) Min((uint64) S3_READ_WINDOW, (uint64) s->size - next);
	s->ahead_fill = 0;
	/* it outlives the caller's (transaction) context */
	old = MemoryContextSwitchTo(s->ahead_cxt);
	ws = palloc(sizeof(WindowSink));
	ws->buf = s->ahead_buf;
	ws->fill = &s->ahead_fill;
	ws->want = s->ahead_len;
	s->ahead = range_request(s, next, s->ahead_len, ws);
	pgb_http_multi_add(s->multi, s->ahead);
	MemoryContextSwitchTo(old);
}

/* the read-ahead window holds pos: wait for it and make it current */
static bool
use_ahead(S3Source *s, uint64 pos)
{
	char	   *tmp;

	if (s->ahead == NULL || pos != s->ahead_start)
	{
		drop_ahead(s);
		return false;
	}
	while (!s->ahead->done)
		(void) pgb_http_multi_poll(s->multi, 100);
	if (!(pgb_http_ok(s->ahead) && s->ahead->status == 206 && s->ahead_fill == s->ahead_len))
	{
		drop_ahead(s);			/* the synchronous path retries */
		return false;
	}
	drop_ahead(s);
	tmp = s->win;
	s->win = s->ahead_buf;
	s->ahead_buf = tmp;
	s->win_start = s->ahead_start;
	s->win_len = s->ahead_len;
	return true;
}

static size_t
s3_source_read(void *arg, uint64 pos, char *buf, size_t n)
{
	S3Source   *s = (S3Source *) arg;
	size_t		done = 0;

	while (done < n && pos < (uint64) s->size)
	{
		size_t		k;

		if (pos < s->win_start || pos >= s->win_start + s->win_len)
		{
			if (!use_ahead(s, pos))
				fetch_window(s, pos, (size_t) Min((uint64) S3_READ_WINDOW, (uint64) s->size - pos));
			start_ahead(s);
		}
		k = Min(n - done, s->win_start + s->win_len - pos);
		memcpy(buf + done, s->win + (pos - s->win_start), k);
		done += k;
		pos += k;
	}
	/* let the read-ahead move on while the caller works */
	if (s->multi && s->ahead && !s->ahead->done)
		(void) pgb_http_multi_poll(s->multi, 0);
	return done;
}

static void
s3_source_close(void *arg)
{
	S3Source   *s = (S3Source *) arg;

	drop_ahead(s);
	pgb_http_multi_free(s->multi);
	s->multi = NULL;
	if (s->win)
		pfree(s->win);
	if (s->ahead_buf)
		pfree(s->ahead_buf);
	s->win = NULL;
	s->ahead_buf = NULL;
}

PgbReadSource *
pgb_s3_open_source(const char *url)
{
	S3Source   *s = palloc0(sizeof(S3Source));
	PgbReadSource *src = palloc0(sizeof(PgbReadSource));

	s->cfg = pgb_s3_config(url);
	s->location = pstrdup(url);
	s->size = s3_head(s->cfg, s->cfg->key);
	if (s->size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("archive \"%s\" does not exist", url)));
	s->win = MemoryContextAllocHuge(CurrentMemoryContext, S3_READ_WINDOW);
	src->read = s3_source_read;
	src->close = s3_source_close;
	src->arg = s;
	src->size = s->size;
	return src;
}

/* ---- the s3:// entry of the storage ops table (storage_ops.h) ---- */

static void *
s3_create_writer(const char *url, uint64 expected_size)
{
	return pgb_s3_create(url, expected_size);
}

static void
s3_write(void *w, const char *data, size_t len)
{
	pgb_s3_write((PgbS3Writer *) w, data, len);
}

static void
s3_reserve_head(void *w, size_t len)
{
	pgb_s3_reserve_head((PgbS3Writer *) w, len);
}

static void
s3_write_head(void *w, const char *data, size_t len)
{
	pgb_s3_write_head((PgbS3Writer *) w, data, len);
}

static void
s3_commit(void *w)
{
	pgb_s3_commit((PgbS3Writer *) w);
}

static void
s3_abort(void *w)
{
	pgb_s3_abort((PgbS3Writer *) w);
}

static PgbArchiveReader *
s3_open_reader(const char *url, bool session)
{
	return pgb_reader_open_source(pgb_s3_open_source(url));
}

const PgbStorageOps pgb_storage_s3_ops = {
	.scheme = "s3",
	.create_writer = s3_create_writer,
	.write = s3_write,
	.reserve_head = s3_reserve_head,
	.write_head = s3_write_head,
	.read_back = NULL,
	.commit = s3_commit,
	.abort = s3_abort,
	.delete_archive = pgb_s3_delete,
	.local_path = NULL,
	.open_reader = s3_open_reader,
	.download_url = pgb_s3_presign,
	.sweep = pgb_s3_sweep,
	.list = pgb_s3_list,
	.put_small = pgb_s3_put_small,
	.get_small = pgb_s3_get_small,
};
