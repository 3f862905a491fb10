/*-------------------------------------------------------------------------
 *
 * http.c
 *	  HTTP transfers through libcurl, inside a backend process: transfer
 *	  set-up (timeouts, protocols, TLS, no proxy from the environment),
 *	  libcurl's multi-socket API driven from a WaitEventSet with the latch
 *	  and postmaster death, retry classification and backoff,
 *	  URL redaction and the private-address filter of restore_from_url.
 *
 * src/net/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "guc.h"
#include "compat.h"
#include "http.h"
#include "pq_util.h"
#include "xml.h"

/* the longest single wait, a safety net for a timer libcurl did not re-arm */
#define MAX_WAIT_MS 1000
#define RESP_CAP (1024 * 1024)
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 10000

/*
 * libcurl says, through socket_cb and timer_cb, which sockets it waits on
 * (for reading, writing or both) and when it wants to be called for its
 * own timeouts; pgb_http_multi_poll waits for exactly that in a
 * WaitEventSet that also holds the latch and the postmaster-death event,
 * and hands what happened back with curl_multi_socket_action.  The
 * callbacks run inside libcurl, so they only record (in malloc'd memory)
 * and never ereport; the set is rebuilt before the next wait when the
 * sockets changed.
 */
typedef struct PgbHttpSock
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT, _INOUT or _NONE */
} PgbHttpSock;

struct PgbHttpMulti
{
	CURLM	   *curl;			/* NULL once released */
	MemoryContext cxt;			/* holds this struct and the WaitEventSet */
	MemoryContextCallback cb;
	dlist_head	xfers;			/* attached transfers not yet collected */
	PgbHttpSock *socks;			/* libcurl's sockets (malloc'd) */
	int			nsocks;
	int			maxsocks;
	bool		socks_changed;	/* the WaitEventSet is out of date */
	bool		oom;			/* socket_cb could not record a socket */
	TimestampTz timer_at;		/* libcurl's next timeout; 0: none */
	WaitEventSet *wes;			/* latch, postmaster death, socks; or NULL */
};

static bool curl_ready = false;
static PgbHttpMulti *sync_multi = NULL;

static void
ensure_curl(void)
{
	if (curl_ready)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libcurl")));
	curl_ready = true;
}

/* ---- libcurl callbacks: they never ereport(ERROR) ---- */

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	PgbHttpXfer *x = (PgbHttpXfer *) arg;
	size_t		n = size * nmemb;

	/* an error body of a failed request is always kept in memory */
	if (x->max_bytes > 0 && x->received + (int64) n > x->max_bytes)
	{
		x->too_big = true;
		return 0;
	}
	x->received += n;
	if (x->sink && x->status < 300)
		return x->sink(x->sink_arg, ptr, n) ? n : 0;
	if (x->resp.len + n <= x->resp_cap)
		appendBinaryStringInfo(&x->resp, ptr, n);
	return n;
}

static void
copy_header_value(char *dst, size_t dstlen, const char *v, size_t len)
{
	while (len > 0 && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	if (len >= dstlen)
		len = dstlen - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static size_t
header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	PgbHttpXfer *x = (PgbHttpXfer *) arg;
	size_t		n = size * nitems;

	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0)
	{
		/* a new response (after a 100 Continue, say): forget the last one */
		const char *sp = memchr(buf, ' ', n);

		x->etag[0] = '\0';
		x->location[0] = '\0';
		x->bucket_region[0] = '\0';
		x->content_length = -1;
		x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
	}
	else if (n > 5 && pg_strncasecmp(buf, "etag:", 5) == 0)
		copy_header_value(x->etag, sizeof(x->etag), buf + 5, n - 5);
	else if (n > 9 && pg_strncasecmp(buf, "location:", 9) == 0)
		copy_header_value(x->location, sizeof(x->location), buf + 9, n - 9);
	else if (n > 20 && pg_strncasecmp(buf, "x-amz-bucket-region:", 20) == 0)
		copy_header_value(x->bucket_region, sizeof(x->bucket_region), buf + 20, n - 20);
	else if (n > 15 && pg_strncasecmp(buf, "content-length:", 15) == 0)
	{
		char		v[32];

		copy_header_value(v, sizeof(v), buf + 15, n - 15);
		x->content_length = strtoi64(v, NULL, 10);
	}
	return n;
}

static size_t
read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	PgbHttpXfer *x = (PgbHttpXfer *) arg;
	size_t		n = Min(size * nitems, x->body_len - x->body_off);

	memcpy(buf, x->body + x->body_off, n);
	x->body_off += n;
	return n;
}

static int
seek_cb(void *arg, curl_off_t offset, int origin)
{
	PgbHttpXfer *x = (PgbHttpXfer *) arg;

	if (origin != SEEK_SET || offset < 0 || (size_t) offset > x->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_off = offset;
	return CURL_SEEKFUNC_OK;
}

static curl_socket_t
opensocket_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	PgbHttpXfer *x = (PgbHttpXfer *) arg;
	char		text[64];

	if (x->check_address && !x->allow_private &&
		pgb_http_address_is_private(&addr->addr, text, sizeof(text)))
	{
		/* a resolution reports the first internal address */
		if (!(x->resolve_only && x->refused))
			strlcpy(x->refused_addr, text, sizeof(x->refused_addr));
		x->refused = true;
		return CURL_SOCKET_BAD;
	}
	/* refusing every address makes libcurl try the next, so all are seen */
	if (x->resolve_only)
		return CURL_SOCKET_BAD;
	return socket(addr->family, addr->socktype, addr->protocol);
}

/* ---- transfers ---- */

static void
xfer_release(void *arg)
{
	PgbHttpXfer *x = (PgbHttpXfer *) arg;

	if (x->easy)
	{
		if (x->multi)
		{
			curl_multi_remove_handle(x->multi->curl, x->easy);
			dlist_delete(&x->node);
		}
		curl_easy_cleanup(x->easy);
	}
	x->easy = NULL;
	x->multi = NULL;
	if (x->headers)
		curl_slist_free_all(x->headers);
	x->headers = NULL;
}

#define SETOPT(x, opt, val) \
	do { \
		if (curl_easy_setopt((x)->easy, (opt), (val)) != CURLE_OK) \
			ereport(ERROR, \
					(errcode(ERRCODE_INTERNAL_ERROR), \
					 errmsg("could not set libcurl option %s", #opt))); \
	} while (0)

PgbHttpXfer *
pgb_http_new(const char *method, const char *url, bool allow_http)
{
	PgbHttpXfer *x = palloc0(sizeof(PgbHttpXfer));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));

	ensure_curl();
	initStringInfo(&x->resp);
	x->resp_cap = RESP_CAP;
	x->content_length = -1;
	cb->func = xfer_release;
	cb->arg = x;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	x->easy = curl_easy_init();
	if (x->easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	SETOPT(x, CURLOPT_URL, url);
	SETOPT(x, CURLOPT_PRIVATE, x);
	SETOPT(x, CURLOPT_NOSIGNAL, 1L);
	SETOPT(x, CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(x, CURLOPT_PROTOCOLS_STR, allow_http ? "http,https" : "https");
	SETOPT(x, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SETOPT(x, CURLOPT_FOLLOWLOCATION, 0L);
	/* the postmaster's http_proxy and friends must not redirect our data */
	SETOPT(x, CURLOPT_PROXY, "");
	/* TLS is always verified: no setting turns any of this off */
	SETOPT(x, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(x, CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(x, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
	if (pgb_ca_file && pgb_ca_file[0])
	{
		/* pgbackups.ca_file replaces the system's CAs, directory included */
		SETOPT(x, CURLOPT_CAINFO, pgb_ca_file);
		SETOPT(x, CURLOPT_CAPATH, (char *) NULL);
	}
	SETOPT(x, CURLOPT_CONNECTTIMEOUT, (long) pgb_http_timeout);
	SETOPT(x, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	SETOPT(x, CURLOPT_LOW_SPEED_TIME, (long) pgb_http_timeout);
	SETOPT(x, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(x, CURLOPT_BUFFERSIZE, 256L * 1024);
	SETOPT(x, CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(x, CURLOPT_WRITEDATA, x);
	SETOPT(x, CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(x, CURLOPT_HEADERDATA, x);
	SETOPT(x, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	SETOPT(x, CURLOPT_OPENSOCKETDATA, x);
	SETOPT(x, CURLOPT_USERAGENT, "pgbackups/1.2");

	if (strcmp(method, "HEAD") == 0)
		SETOPT(x, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0)
	{
		/* the body comes from memory (pgb_http_set_body), rewindable */
		SETOPT(x, method[1] == 'U' ? CURLOPT_UPLOAD : CURLOPT_POST, 1L);
		SETOPT(x, CURLOPT_READFUNCTION, read_cb);
		SETOPT(x, CURLOPT_READDATA, x);
		SETOPT(x, CURLOPT_SEEKFUNCTION, seek_cb);
		SETOPT(x, CURLOPT_SEEKDATA, x);
		pgb_http_set_body(x, NULL, 0);
	}
	else if (strcmp(method, "GET") != 0)
		SETOPT(x, CURLOPT_CUSTOMREQUEST, method);
	return x;
}

void
pgb_http_add_header(PgbHttpXfer *x, const char *header)
{
	struct curl_slist *l = curl_slist_append(x->headers, header);

	if (l == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	x->headers = l;
}

void
pgb_http_set_body(PgbHttpXfer *x, const char *body, size_t len)
{
	x->body = body;
	x->body_len = len;
	x->body_off = 0;
	if (curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t) len) != CURLE_OK ||
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not set the request body size")));
}

void
pgb_http_free(PgbHttpXfer *x)
{
	xfer_release(x);
	if (x->resp.data)
		pfree(x->resp.data);
	x->resp.data = NULL;
}

/* ---- the multi handle: libcurl's sockets and timer on the latch ---- */

static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	PgbHttpMulti *m = (PgbHttpMulti *) userp;
	int			i;

	for (i = 0; i < m->nsocks; i++)
		if (m->socks[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE)
	{
		if (i < m->nsocks)
		{
			m->socks[i] = m->socks[--m->nsocks];
			m->socks_changed = true;
		}
		return 0;
	}
	if (i == m->nsocks)
	{
		if (m->nsocks == m->maxsocks)
		{
			int			n = Max(8, m->maxsocks * 2);
			PgbHttpSock *grown = realloc(m->socks, sizeof(PgbHttpSock) * n);

			if (grown == NULL)
			{
				m->oom = true;
				return -1;
			}
			m->socks = grown;
			m->maxsocks = n;
		}
		m->socks[i].fd = fd;
		m->socks[i].what = CURL_POLL_NONE;
		m->nsocks++;
	}
	if (m->socks[i].what != what)
	{
		m->socks[i].what = what;
		m->socks_changed = true;
	}
	return 0;
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	PgbHttpMulti *m = (PgbHttpMulti *) userp;

	m->timer_at = timeout_ms < 0 ? 0 :
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	return 0;
}

/* the multi's memory context callback, and pgb_http_multi_free */
static void
multi_release(void *arg)
{
	PgbHttpMulti *m = (PgbHttpMulti *) arg;
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &m->xfers)
	{
		PgbHttpXfer *x = dlist_container(PgbHttpXfer, node, it.cur);

		dlist_delete(&x->node);
		if (x->easy && m->curl)
			curl_multi_remove_handle(m->curl, x->easy);
		x->multi = NULL;
	}
	if (m->curl)
		curl_multi_cleanup(m->curl);
	m->curl = NULL;
	if (m->wes)
		FreeWaitEventSet(m->wes);
	m->wes = NULL;
	free(m->socks);
	m->socks = NULL;
	m->nsocks = m->maxsocks = 0;
}

PgbHttpMulti *
pgb_http_multi_new(void)
{
	PgbHttpMulti *m = palloc0(sizeof(PgbHttpMulti));

	ensure_curl();
	m->cxt = CurrentMemoryContext;
	dlist_init(&m->xfers);
	m->curl = curl_multi_init();
	if (m->curl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	m->cb.func = multi_release;
	m->cb.arg = m;
	MemoryContextRegisterResetCallback(m->cxt, &m->cb);
	if (curl_multi_setopt(m->curl, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
		curl_multi_setopt(m->curl, CURLMOPT_SOCKETDATA, m) != CURLM_OK ||
		curl_multi_setopt(m->curl, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
		curl_multi_setopt(m->curl, CURLMOPT_TIMERDATA, m) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not set up a libcurl multi handle")));
	return m;
}

void
pgb_http_multi_free(PgbHttpMulti *m)
{
	if (m)
		multi_release(m);
}

void
pgb_http_multi_add(PgbHttpMulti *m, PgbHttpXfer *x)
{
	Assert(m->curl != NULL && x->multi == NULL);
	/* Expect: 100-continue costs a round trip per part */
	pgb_http_add_header(x, "Expect:");
	if (curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not set request headers")));
	x->done = false;
	x->errbuf[0] = '\0';
	if (curl_multi_add_handle(m->curl, x->easy) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start an HTTP transfer")));
	x->multi = m;
	dlist_push_tail(&m->xfers, &x->node);
}

/* mark the transfers libcurl has finished done; returns how many */
static int
collect_done(PgbHttpMulti *m)
{
	CURLMsg    *msg;
	int			left;
	int			n = 0;

	while ((msg = curl_multi_info_read(m->curl, &left)) != NULL)
	{
		PgbHttpXfer *x = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &x);
		if (x == NULL || x->multi != m)
			continue;
		x->result = msg->data.result;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		curl_multi_remove_handle(m->curl, x->easy);
		dlist_delete(&x->node);
		x->multi = NULL;
		x->done = true;
		n++;
	}
	return n;
}

/* hand an event (or CURL_SOCKET_TIMEOUT) to libcurl */
static void
socket_action(PgbHttpMulti *m, curl_socket_t fd, int ev)
{
	int			running;
	CURLMcode	rc = curl_multi_socket_action(m->curl, fd, ev, &running);

	if (m->oom)
	{
		m->oom = false;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
	if (rc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("libcurl multi transfer failed"),
				 errdetail("%s", curl_multi_strerror(rc))));
}

/* a WaitEventSet for the latch, postmaster death and libcurl's sockets */
static void
rebuild_wait_set(PgbHttpMulti *m)
{
	int			i;

	if (m->wes)
		FreeWaitEventSet(m->wes);
	m->wes = NULL;
	m->wes = pgb_create_wait_event_set(m->cxt, m->nsocks + 2);
	AddWaitEventToSet(m->wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(m->wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < m->nsocks; i++)
	{
		uint32		events = 0;

		if (m->socks[i].what & CURL_POLL_IN)
			events |= WL_SOCKET_READABLE;
		if (m->socks[i].what & CURL_POLL_OUT)
			events |= WL_SOCKET_WRITEABLE;
		if (events != 0)
			AddWaitEventToSet(m->wes, events, m->socks[i].fd, NULL, NULL);
	}
	m->socks_changed = false;
}

/*
 * wait_once
 *		One wait of up to timeout_ms: interrupts are checked on a latch wake
 *		(the process exits if the postmaster died), ready sockets go to
 *		libcurl, and so does its timeout when due or when nothing happened
 *		(a timer that libcurl did not re-arm is never lost).
 */
static void
wait_once(PgbHttpMulti *m, long timeout_ms)
{
	WaitEvent	events[16];
	int			n;
	int			i;

	if (m->wes == NULL || m->socks_changed)
		rebuild_wait_set(m);
	n = WaitEventSetWait(m->wes, timeout_ms, events, lengthof(events), PG_WAIT_EXTENSION);
	for (i = 0; i < n; i++)
	{
		uint32		ev = events[i].events;

		if (ev & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			pgb_pq_check_interrupts();
		}
		else if (ev & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			socket_action(m, events[i].fd,
						  ((ev & WL_SOCKET_READABLE) ? CURL_CSELECT_IN : 0) |
						  ((ev & WL_SOCKET_WRITEABLE) ? CURL_CSELECT_OUT : 0));
	}
	if (n == 0 || (m->timer_at != 0 && m->timer_at <= GetCurrentTimestamp()))
	{
		m->timer_at = 0;
		socket_action(m, CURL_SOCKET_TIMEOUT, 0);
	}
}

int
pgb_http_multi_poll(PgbHttpMulti *m, int timeout_ms)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	int			n = collect_done(m);

	while (n == 0 && !dlist_is_empty(&m->xfers))
	{
		TimestampTz now = GetCurrentTimestamp();
		long		wait = TimestampDifferenceMilliseconds(now, end);

		if (m->timer_at != 0)
			wait = Min(wait, TimestampDifferenceMilliseconds(now, m->timer_at));
		wait_once(m, Min(wait, MAX_WAIT_MS));
		n = collect_done(m);
		if (GetCurrentTimestamp() >= end)
			break;
	}
	pgb_pq_check_interrupts();
	return n;
}

/*
 * pgb_http_perform
 *		Run x to its end on the process's own multi handle, which lives as
 *		long as the process (with its WaitEventSet) so that connections to
 *		the same host are reused.
 */
void
pgb_http_perform(PgbHttpXfer *x)
{
	if (sync_multi == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		sync_multi = pgb_http_multi_new();
		MemoryContextSwitchTo(old);
	}
	pgb_http_multi_add(sync_multi, x);
	while (!x->done)
		(void) pgb_http_multi_poll(sync_multi, MAX_WAIT_MS);
}

/* ---- outcomes ---- */

bool
pgb_http_ok(const PgbHttpXfer *x)
{
	return x->done && x->result == CURLE_OK && x->status >= 200 && x->status < 300;
}

bool
pgb_http_transient(const PgbHttpXfer *x)
{
	if (x->refused || x->too_big)
		return false;
	switch (x->result)
	{
		case CURLE_OK:
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return true;
		default:
			return false;
	}
	if (x->status >= 500 || x->status == 429 || x->status == 408)
		return true;
	/* S3's RequestTimeout: the socket was not read from in time */
	if (x->status == 400 && x->resp.data)
	{
		char	   *code = pgb_xml_first_text(x->resp.data, x->resp.len, "Code");

		return code != NULL && strcmp(code, "RequestTimeout") == 0;
	}
	return false;
}

/*
 * pgb_http_s3_code_transient
 *		An S3 error code that says "try again": what a 200 answer of a
 *		long request (CompleteMultipartUpload) carries in its body when S3
 *		failed after sending the status line.
 */
bool
pgb_http_s3_code_transient(const char *code)
{
	static const char *const transient[] = {
		"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
	};
	int			i;

	if (code == NULL)
		return false;
	for (i = 0; i < lengthof(transient); i++)
		if (strcmp(code, transient[i]) == 0)
			return true;
	return false;
}

char *
pgb_http_describe(const PgbHttpXfer *x)
{
	if (x->refused)
		return psprintf("the host resolves to %s, a loopback, private, link-local or reserved address", x->refused_addr);
	if (x->too_big)
		return psprintf("the response is larger than " INT64_FORMAT " bytes", x->max_bytes);
	if (x->result != CURLE_OK)
		return psprintf("%s%s%s", curl_easy_strerror(x->result),
						x->errbuf[0] ? ": " : "", x->errbuf);
	else
	{
		PgbXmlDoc  *doc = pgb_xml_parse(x->resp.data, x->resp.len);
		char	   *code = pgb_xml_doc_first_text(doc, "Code");
		char	   *msg = pgb_xml_doc_first_text(doc, "Message");

		pgb_xml_free(doc);
		/* a server's own text, kept short (whole characters) */
		if (msg && strlen(msg) > 300)
			msg[pg_mbcliplen(msg, strlen(msg), 300)] = '\0';

		if (code)
			return psprintf("HTTP %ld, %s%s%s", x->status, code, msg ? ": " : "", msg ? msg : "");
		return psprintf("HTTP %ld", x->status);
	}
}

TimestampTz
pgb_http_deadline(void)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) pgb_http_retry_time * 1000);
}

int
pgb_http_backoff_ms(int attempt)
{
	int64		cap = BACKOFF_BASE_MS;

	while (attempt-- > 0 && cap < BACKOFF_CAP_MS)
		cap *= 2;
	cap = Min(cap, BACKOFF_CAP_MS);
	/* full jitter, at least a little */
	return 20 + (int) pg_prng_uint64_range(&pg_global_prng_state, 0, cap);
}

bool
pgb_http_backoff(int attempt, TimestampTz deadline)
{
	int64		ms = pgb_http_backoff_ms(attempt);
	TimestampTz now = GetCurrentTimestamp();

	/* the last delay is cut to end at the deadline: one more try there */
	if (now >= deadline)
		return false;
	if (TimestampTzPlusMilliseconds(now, ms) > deadline)
		ms = (deadline - now) / 1000 + 1;
	pgb_pq_sleep((int) ms);
	return true;
}

char *
pgb_http_redact_url(const char *url)
{
	const char *scheme_end = strstr(url, "://");
	const char *host;
	const char *at;
	const char *end;
	StringInfoData s;

	if (scheme_end == NULL)
		return pnstrdup(url, strcspn(url, "?#"));
	host = scheme_end + 3;
	end = host + strcspn(host, "/?#");
	at = memchr(host, '@', end - host);
	initStringInfo(&s);
	appendBinaryStringInfo(&s, url, host - url);
	if (at)
		host = at + 1;
	appendBinaryStringInfo(&s, host, strcspn(host, "?#"));
	return s.data;
}

/* ---- the address filter ---- */

/*
 * pgb_http_first_private_address
 *		Resolve host through libcurl, on a multi handle of its own (no DNS
 *		cache shared with later transfers), so that the wait for a slow DNS
 *		server is on the latch like every other: a cancel or a shutdown ends
 *		it.  The socket callback sees every address libcurl would try,
 *		records the first internal one and refuses them all.
 */
char *
pgb_http_first_private_address(const char *host)
{
	bool		v6 = strchr(host, ':') != NULL;
	char	   *url = psprintf("https://%s%s%s/", v6 ? "[" : "", host, v6 ? "]" : "");
	PgbHttpMulti *m = pgb_http_multi_new();
	PgbHttpXfer *x = pgb_http_new("GET", url, false);
	char	   *found = NULL;

	x->check_address = true;
	x->resolve_only = true;
	SETOPT(x, CURLOPT_CONNECT_ONLY, 1L);
	pgb_http_multi_add(m, x);
	while (!x->done)
		(void) pgb_http_multi_poll(m, MAX_WAIT_MS);
	if (x->refused)
		found = pstrdup(x->refused_addr);
	pgb_http_free(x);
	pgb_http_multi_free(m);
	pfree(url);
	return found;
}

/*
 * v4_private
 *		Every IPv4 address that is not ordinary public unicast: this network,
 *		private, CGNAT, loopback, link-local (cloud metadata), IETF protocol
 *		assignments, the documentation networks, the 6to4 relay anycast,
 *		benchmarking, multicast, reserved and broadcast.
 */
static bool
v4_private(uint32 a)
{
	return (a >> 24) == 0 ||	/* 0.0.0.0/8 "this network" */
		(a >> 24) == 10 ||		/* 10/8 */
		(a >> 22) == ((100 << 2) | 1) ||	/* 100.64/10 CGNAT */
		(a >> 24) == 127 ||		/* loopback */
		(a >> 16) == ((169 << 8) | 254) ||	/* link-local, metadata */
		(a >> 20) == ((172 << 4) | 1) ||	/* 172.16/12 */
		(a >> 8) == ((192 << 16) | (0 << 8) | 0) ||	/* 192.0.0/24 */
		(a >> 8) == ((192 << 16) | (0 << 8) | 2) ||	/* 192.0.2/24 TEST-NET-1 */
		(a >> 8) == ((192 << 16) | (88 << 8) | 99) ||	/* 192.88.99/24 6to4 relay */
		(a >> 16) == ((192 << 8) | 168) ||	/* 192.168/16 */
		(a >> 17) == ((198 << 7) | (18 >> 1)) ||	/* 198.18/15 */
		(a >> 8) == ((198 << 16) | (51 << 8) | 100) ||	/* 198.51.100/24 TEST-NET-2 */
		(a >> 8) == ((203 << 16) | (0 << 8) | 113) ||	/* 203.0.113/24 TEST-NET-3 */
		(a >> 28) >= 14;		/* multicast, reserved, broadcast */
}

static uint32
v4_at(const unsigned char *b)
{
	return ((uint32) b[0] << 24) | ((uint32) b[1] << 16) | ((uint32) b[2] << 8) | b[3];
}

/*
 * v6_private
 *		IPv6 is judged by what is allowed: global unicast (2000::/3) only,
 *		less its special-purpose blocks; an address that embeds an IPv4
 *		address (mapped, compatible, NAT64, 6to4) is judged by that address.
 *		Everything else (::, ::1, unique local fc00::/7 such as fd00:ec2::254,
 *		link-local, site-local, multicast, discard, unassigned) is refused.
 */
static bool
v6_private(const unsigned char *b)
{
	static const unsigned char zero[12] = {0};

	/* ::ffff:a.b.c.d (mapped) */
	if (memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff)
		return v4_private(v4_at(b + 12));
	/* ::a.b.c.d (deprecated compatible form), ::1 and :: */
	if (memcmp(b, zero, 12) == 0)
		return true;
	/* 64:ff9b::/96 NAT64 well-known prefix */
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
		memcmp(b + 4, zero, 8) == 0)
		return v4_private(v4_at(b + 12));
	/* 2002::/16 6to4 */
	if (b[0] == 0x20 && b[1] == 0x02)
		return v4_private(v4_at(b + 2));
	/* outside 2000::/3: not global unicast (64:ff9b:1::/48 included) */
	if ((b[0] & 0xe0) != 0x20)
		return true;
	/* 2001::/23 IETF protocol assignments (Teredo 2001::/32 among them) */
	if (b[0] == 0x20 && b[1] == 0x01 && (b[2] & 0xfe) == 0x00)
		return true;
	/* 2001:db8::/32 and 3fff::/20 documentation */
	if ((b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) ||
		(b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0x00))
		return true;
	return false;
}

bool
pgb_http_address_is_private(const struct sockaddr *addr, char *text, size_t textlen)
{
	if (addr->sa_family == AF_INET)
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) addr;

		if (text)
			inet_ntop(AF_INET, &in->sin_addr, text, textlen);
		return v4_private(ntohl(in->sin_addr.s_addr));
	}
	if (addr->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) addr;

		if (text)
			inet_ntop(AF_INET6, &in6->sin6_addr, text, textlen);
		return v6_private(in6->sin6_addr.s6_addr);
	}
	if (text)
		strlcpy(text, "a non-IP address", textlen);
	return true;
}
