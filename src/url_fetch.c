/*-------------------------------------------------------------------------
 *
 * url_fetch.c
 *	  restore_from_url's downloads and their safety rules.
 *
 * An archive URL must be https://, or http:// to a host a superuser listed
 * in pgbackups.url_allowed_hosts.  Every connection's address is checked
 * after DNS resolution (http.c's socket callback): loopback, private,
 * link-local (cloud metadata), CGNAT, multicast and reserved addresses are
 * refused unless the URL's host is allow-listed.  Redirects are followed
 * here, not by libcurl, so that each hop is checked again: https only, the
 * allow-list applied to the new host, at most five hops.  TLS is always
 * verified.  The body goes to a local file (created exclusively) of at
 * most pgbackups.url_max_size; transient failures restart the download
 * within pgbackups.http_retry_time.  URLs are reported without userinfo
 * and query string (a presigned URL's signature is a secret).
 *
 * src/url_fetch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <netdb.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "guc.h"
#include "http.h"
#include "url_fetch.h"

#define MAX_REDIRECTS 5

/* the host of an http(s) URL, lower-cased, without brackets and port */
char *
pgb_url_host(const char *url)
{
	const char *h = strstr(url, "://");
	const char *end;
	const char *at;
	char	   *host;
	char	   *p;

	if (h == NULL)
		return pstrdup("");
	h += 3;
	end = h + strcspn(h, "/?#");
	at = memchr(h, '@', end - h);
	if (at)
		h = at + 1;
	if (*h == '[')
	{
		const char *close = memchr(h, ']', end - h);

		host = close ? pnstrdup(h + 1, close - h - 1) : pnstrdup(h, end - h);
	}
	else
	{
		const char *colon = memchr(h, ':', end - h);

		host = pnstrdup(h, (colon ? colon : end) - h);
	}
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
			tok[len - 1] = '\0';
			tok++;
		}
		if (pg_strcasecmp(tok, host) == 0)
			return true;
	}
	return false;
}

/*
 * pgb_url_check
 *		The rules that can be checked without downloading: scheme, allow-list
 *		and (when resolve) the addresses the host resolves to now.
 */
void
pgb_url_check(const char *url, bool resolve)
{
	char	   *safe = pgb_http_redact_url(url);
	char	   *host = pgb_url_host(url);
	bool		allowed = pgb_url_host_allowed(host);
	struct addrinfo hints;
	struct addrinfo *res;
	struct addrinfo *ai;
	int			rc;

	if (strncmp(url, "http://", 7) == 0)
	{
		if (!allowed)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("plain http:// URLs are not allowed: \"%s\"", safe),
					 errdetail("Archives are fetched over https:// only."),
					 errhint("A superuser can allow the host \"%s\" in pgbackups.url_allowed_hosts.", host)));
	}
	else if (strncmp(url, "https://", 8) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported URL scheme in \"%s\"", safe),
				 errhint("Use an https:// URL.")));
	if (host[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("URL \"%s\" has no host", safe)));
	if (!resolve || allowed)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return;					/* the download reports it */
	for (ai = res; ai; ai = ai->ai_next)
	{
		char		addr[64];

		if (pgb_http_address_is_private(ai->ai_addr, addr, sizeof(addr)))
		{
			freeaddrinfo(res);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("URL host \"%s\" resolves to %s, a loopback, private or link-local address", host, addr),
					 errdetail("restore_from_url does not reach internal addresses."),
					 errhint("A superuser can allow the host in pgbackups.url_allowed_hosts.")));
		}
	}
	freeaddrinfo(res);
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
 *		above.  Returns the number of bytes stored.
 */
int64
pgb_url_download(const char *url, const char *path)
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
			if (strncmp(next, "https://", 8) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("could not download \"%s\": redirect to a non-https URL \"%s\" refused",
								safe, pgb_http_redact_url(next))));
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
		if (x->refused)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("could not download \"%s\": the host \"%s\" resolves to %s, a loopback, private or link-local address",
							safe, host, x->refused_addr),
					 errhint("A superuser can allow the host in pgbackups.url_allowed_hosts.")));
		if (!pgb_http_transient(x) || !pgb_http_backoff(attempt++, deadline))
			ereport(ERROR,
					(errcode(x->status == 404 ? ERRCODE_UNDEFINED_FILE :
							 x->too_big ? ERRCODE_PROGRAM_LIMIT_EXCEEDED :
							 x->result != CURLE_OK ? ERRCODE_CONNECTION_FAILURE : ERRCODE_IO_ERROR),
					 errmsg("could not download \"%s\": %s", safe, pgb_http_describe(x)),
					 x->too_big ? errhint("pgbackups.url_max_size limits the size of downloaded archives.") : 0));
		pgb_http_free(x);
	}
	if (pg_fsync(fs.fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path)));
	close_fd(&fs.fd);
	return got;
}
