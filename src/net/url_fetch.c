/*-------------------------------------------------------------------------
 *
 * url_fetch.c
 *	  restore_from_url's downloads and their safety rules.
 *
 * An archive URL must be https://, or http:// to a host a superuser listed
 * in pgbackups.url_allowed_hosts.  Every connection's address is checked
 * after DNS resolution (http.c's socket callback): loopback, private,
 * link-local (cloud metadata), CGNAT, multicast and reserved addresses are
 * refused unless the URL's host is allow-listed.  The check before the
 * download resolves through libcurl too, so that every DNS wait is on the
 * latch like the transfers' (a cancel is never stuck behind a slow DNS
 * server).  Redirects are followed
 * here, not by libcurl, so that each hop is checked again: https only, the
 * allow-list applied to the new host, at most five hops.  TLS is always
 * verified.  The body goes to a local file (created exclusively) of at
 * most pgbackups.url_max_size; transient failures restart the download
 * within pgbackups.http_retry_time, each retry a line of the job's log.  URLs are reported without userinfo
 * and query string (a presigned URL's signature is a secret).
 *
 * SQLSTATEs of refusals: an internal address is 42501, whatever the
 * scheme, found when the caller checks the URL, when a redirect to http://
 * is judged, or by the socket callback (DNS rebinding); the address rule
 * comes before the scheme rule, so http://2130706433/ is 42501 like
 * https://2130706433/.  A scheme other than https (http:// not allow-
 * listed, file:, data:, gopher:, ...), in the URL or in a redirect, is
 * 22023.  A certificate that fails verification (unknown CA, wrong host
 * name, expired) is 28000.
 *
 * src/net/url_fetch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "guc.h"
#include "http.h"
#include "url_fetch.h"
#include "url_scheme.h"

#define MAX_REDIRECTS 5

/*
 * pgb_url_host
 *		The host of an http(s) URL as libcurl itself parses it (so that the
 *		allow-list and the address checks judge the host libcurl connects
 *		to): lower-cased, without brackets, zone id, port and trailing dot.
 *		Numeric IPv4 forms are normalized by libcurl (2130706433, 0x7f.1 and
 *		127.1 are all 127.0.0.1).  Empty when the URL has no host.
 */
char *
pgb_url_host(const char *url)
{
	CURLU	   *u = curl_url();
	char	   *h = NULL;
	char	   *host;
	char	   *p;
	size_t		len;

	if (u == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || h == NULL)
	{
		curl_url_cleanup(u);
		return pstrdup("");
	}
	host = pstrdup(h[0] == '[' ? h + 1 : h);
	curl_free(h);
	curl_url_cleanup(u);
	len = strlen(host);
	if (len > 0 && host[len - 1] == ']')
		host[--len] = '\0';
	if (len > 1 && host[len - 1] == '.')
		host[--len] = '\0';
	for (p = host; *p; p++)
		*p = pg_tolower((unsigned char) *p);
	return host;
}

bool
pgb_url_host_allowed(const char *host)
{
	char	   *list;
	char	   *tok;
	char	   *save;

	if (pgb_url_allowed_hosts == NULL || pgb_url_allowed_hosts[0] == '\0' || host[0] == '\0')
		return false;
	list = pstrdup(pgb_url_allowed_hosts);
	for (tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
	{
		size_t		len = strlen(tok);

		if (tok[0] == '[' && tok[len - 1] == ']')
		{
			tok[--len] = '\0';
			tok++;
			len--;
		}
		if (len > 1 && tok[len - 1] == '.')
			tok[len - 1] = '\0';
		if (pg_strcasecmp(tok, host) == 0)
			return true;
	}
	return false;
}

/*
 * check_addresses
 *		Refuse (42501) a host that resolves, now, to any internal address.
 *		via is the URL that redirected to it, or NULL.  A host that does not
 *		resolve passes: the download reports that.  The lookup is libcurl's,
 *		waiting on the latch (a slow DNS server does not hold up a cancel).
 */
static void
check_addresses(const char *host, const char *via)
{
	char	   *addr = pgb_http_first_private_address(host);

	if (addr != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("URL host \"%s\" resolves to %s, a loopback, private, link-local or reserved address", host, addr),
				 via ? errdetail("A redirect from \"%s\" led there; restore_from_url does not reach internal addresses.", via) :
				 errdetail("restore_from_url does not reach internal addresses."),
				 errhint("A superuser can allow the host in pgbackups.url_allowed_hosts.")));
}

/*
 * pgb_url_check
 *		The rules that can be checked without downloading, in this order:
 *		only http:// and https:// URLs with a host (else 22023); a host that
 *		is not allow-listed must not resolve to an internal address (42501,
 *		for https only when resolve; always for http, so that an internal
 *		host is 42501 whatever the scheme); plain http:// needs the
 *		allow-list (22023).  The download checks every connection's address
 *		again, after its own resolution.
 */
void
pgb_url_check(const char *url, bool resolve)
{
	char	   *safe = pgb_http_redact_url(url);
	bool		is_http = pgb_url_scheme(url) == PGB_URL_HTTP;
	char	   *host;

	if (!is_http && pgb_url_scheme(url) != PGB_URL_HTTPS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported URL scheme in \"%s\"", safe),
				 errhint("Use an https:// URL.")));
	host = pgb_url_host(url);
	if (host[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("URL \"%s\" has no host", safe)));
	if (pgb_url_host_allowed(host))
		return;
	if (resolve || is_http)
		check_addresses(host, NULL);
	if (is_http)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("plain http:// URLs are not allowed: \"%s\"", safe),
				 errdetail("Archives are fetched over https:// only."),
				 errhint("A superuser can allow the host \"%s\" in pgbackups.url_allowed_hosts.", host)));
}

/*
 * refuse_redirect
 *		A redirect from safe to the non-https URL next: 42501 when next is an
 *		http:// URL whose host resolves to an internal address and is not
 *		allow-listed, else 22023 (redirects are followed to https:// only).
 */
static void
refuse_redirect(const char *safe, const char *next)
{
	char	   *shown;

	if (pgb_url_scheme(next) == PGB_URL_HTTP)
	{
		char	   *host = pgb_url_host(next);

		if (host[0] != '\0' && !pgb_url_host_allowed(host))
			check_addresses(host, safe);
		shown = pgb_http_redact_url(next);
	}
	else
	{
		/* data: and other URLs without an authority: the scheme is enough */
		size_t		len = strcspn(next, ":/?#");

		shown = psprintf("%s:...", pnstrdup(next, Min(len, 32)));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("could not download \"%s\": redirect to a non-https URL \"%s\" refused", safe, shown),
			 errdetail("Redirects are followed to https:// URLs only.")));
}

/* libcurl results that mean the server's certificate was not accepted */
static bool
tls_verify_failed(const PgbHttpXfer *x)
{
	return x->result == CURLE_PEER_FAILED_VERIFICATION ||
		x->result == CURLE_SSL_ISSUER_ERROR ||
		x->result == CURLE_SSL_INVALIDCERTSTATUS ||
		x->result == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

typedef struct FileSink
{
	int			fd;
	int			save_errno;
	bool		failed;
} FileSink;

static bool
file_sink(void *arg, const char *data, size_t len)
{
	FileSink   *fs = (FileSink *) arg;

	while (len > 0)
	{
		ssize_t		n = write(fs->fd, data, len);

		if (n <= 0)
		{
			fs->save_errno = n < 0 ? errno : ENOSPC;
			fs->failed = true;
			return false;
		}
		data += n;
		len -= n;
	}
	return true;
}

static void
close_fd(void *arg)
{
	int		   *fd = (int *) arg;

	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * pgb_url_download
 *		Fetch url into path (which must not exist), enforcing the rules
 *		above.  Returns the number of bytes stored.  Each retry of a
 *		transient failure is a line for log (the job's log; NULL: the
 *		server log), naming the URL without its query string, the failure
 *		and the retry's number.
 */
int64
pgb_url_download(const char *url, const char *path, void (*log) (const char *msg))
{
	char	   *cur = pstrdup(url);
	int			hops = 0;
	int			attempt = 0;
	TimestampTz deadline = pgb_http_deadline();
	FileSink	fs;
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	int64		got;

	memset(&fs, 0, sizeof(fs));
	fs.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, pg_file_create_mode);
	if (fs.fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
	cb->func = close_fd;
	cb->arg = &fs.fd;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);

	for (;;)
	{
		char	   *host;
		bool		allowed;
		PgbHttpXfer *x;
		char	   *safe = pgb_http_redact_url(cur);

		pgb_url_check(cur, false);
		host = pgb_url_host(cur);
		allowed = pgb_url_host_allowed(host);
		if (ftruncate(fs.fd, 0) != 0 || lseek(fs.fd, 0, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not truncate file \"%s\": %m", path)));
		x = pgb_http_new("GET", cur, allowed);
		x->check_address = true;
		x->allow_private = allowed;
		x->max_bytes = (int64) pgb_url_max_size * 1024 * 1024;
		x->sink = file_sink;
		x->sink_arg = &fs;
		pgb_http_perform(x);

		if (fs.failed)
		{
			errno = fs.save_errno;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %m", path)));
		}
		if (x->result == CURLE_OK && x->status >= 300 && x->status < 400 &&
			x->status != 304)
		{
			char	   *next = NULL;

			if (curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &next) != CURLE_OK ||
				next == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("could not download \"%s\": HTTP %ld without a Location", safe, x->status)));
			if (++hops > MAX_REDIRECTS)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("could not download \"%s\": more than %d redirects", safe, MAX_REDIRECTS)));
			if (pgb_url_scheme(next) != PGB_URL_HTTPS)
				refuse_redirect(safe, next);
			cur = pstrdup(next);
			pgb_http_free(x);
			continue;
		}
		if (pgb_http_ok(x))
		{
			got = x->received;
			pgb_http_free(x);
			break;
		}
		if (x->refused && x->result != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("could not download \"%s\": the host \"%s\" resolves to %s, a loopback, private, link-local or reserved address",
							safe, host, x->refused_addr),
					 errhint("A superuser can allow the host in pgbackups.url_allowed_hosts.")));
		if (tls_verify_failed(x))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("could not download \"%s\": the server's certificate was not accepted", safe),
					 errdetail("%s", pgb_http_describe(x)),
					 errhint("TLS is always verified; pgbackups.ca_file names the certificate authorities trusted.")));
		if (!pgb_http_transient(x) || !pgb_http_backoff(attempt++, deadline))
			ereport(ERROR,
					(errcode(x->status == 404 ? ERRCODE_UNDEFINED_FILE :
							 x->too_big ? ERRCODE_PROGRAM_LIMIT_EXCEEDED :
							 x->result != CURLE_OK ? ERRCODE_CONNECTION_FAILURE : ERRCODE_IO_ERROR),
					 errmsg("could not download \"%s\": %s", safe, pgb_http_describe(x)),
					 x->too_big ? errhint("pgbackups.url_max_size limits the size of downloaded archives.") : 0));
		{
			char	   *line = psprintf("retry %d of the download of \"%s\" after: %s",
										attempt, safe, pgb_http_describe(x));

			if (log)
				log(line);
			else
				ereport(LOG,
						(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
						 errmsg("%s", line)));
		}
		pgb_http_free(x);
	}
	if (pg_fsync(fs.fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path)));
	close_fd(&fs.fd);
	return got;
}
