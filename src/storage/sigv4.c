/*-------------------------------------------------------------------------
 *
 * sigv4.c
 *	  AWS Signature Version 4: canonical requests, signing keys, the
 *	  Authorization header and presigned (query-string) URLs.
 *
 * Pure computation: SHA-256 and HMAC-SHA256 come from OpenSSL's one-shot
 * functions (no library context to free on any path), strings are
 * StringInfo/palloc in the current memory context.  The file builds into
 * the server and, with FRONTEND defined, into test/unit/sigv4_test against
 * libpgcommon; test/unit checks it against the AWS test suite's known
 * answers and against botocore.
 *
 * Canonical URI.  req->path is the path as it goes on the wire, each
 * segment already percent-encoded once (pgb_sigv4_uri_encode(seg, false)).
 *	- normalize_path = false (S3): the wire path is signed as is; S3 wants
 *	  it encoded exactly once and never normalised ("//" and "." stay).
 *	- normalize_path = true (every other service): "." and ".." segments
 *	  and empty segments (repeated slashes) are removed (RFC 3986 5.2.4
 *	  plus slash collapsing; a trailing slash is kept), then the result is
 *	  URI-encoded again with '/' kept: the second of the two encodings AWS
 *	  asks for outside S3 ("%20" on the wire is signed as "%2520").  This
 *	  is botocore's SigV4Auth rule, and it gives the test suite's
 *	  canonical URIs for its (unencoded) request paths: "/example space/"
 *	  signs as "/example%20space/".
 *
 * Canonical query.  The wire query is split on '&' (empty items are
 * skipped), each item at its first '=' (none: empty value); name and value
 * are percent-decoded (a '%' not followed by two hex digits stays a
 * literal '%'; '+' is a literal '+', not a space), re-encoded with
 * pgb_sigv4_uri_encode(x, false), sorted by encoded name then encoded
 * value (bytewise) and joined as name=value with '&'.
 *
 * Canonical headers.  Names are trimmed and lower-cased; values are
 * trimmed and every run of whitespace (space, tab, CR, LF: folded
 * multi-line values too) becomes one space; repeated names are joined with
 * ',' in the order given; the list is sorted by name.
 *
 * src/storage/sigv4.c
 *
 *-------------------------------------------------------------------------
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lib/stringinfo.h"

#include "sigv4.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
#define SHA256_LEN 32

/*
 * OpenSSL's one-shot SHA-256/HMAC only fail when the library itself is
 * broken (no memory, no SHA-256 provider): nothing the caller can handle.
 */
#ifdef FRONTEND
#define sigv4_crypto_failure(what) \
	do { \
		fprintf(stderr, "sigv4: OpenSSL %s failed\n", (what)); \
		exit(1); \
	} while (0)
#else
#define sigv4_crypto_failure(what) \
	ereport(ERROR, \
			(errcode(ERRCODE_INTERNAL_ERROR), \
			 errmsg("could not compute %s for AWS Signature Version 4", (what))))
#endif

/* one query parameter, encoded */
typedef struct SigV4Param
{
	char	   *name;
	char	   *value;
} SigV4Param;

/* one header, canonical name and value, and its position in the request */
typedef struct SigV4Header
{
	char	   *name;
	char	   *value;
	int			pos;
} SigV4Header;

static const char hexdigits_upper[] = "0123456789ABCDEF";
static const char hexdigits_lower[] = "0123456789abcdef";

static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~';
}

static void
append_uri_encoded(StringInfo buf, const char *s, size_t len, bool keep_slash)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (is_unreserved(c) || (keep_slash && c == '/'))
			appendStringInfoChar(buf, (char) c);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hexdigits_upper[c >> 4]);
			appendStringInfoChar(buf, hexdigits_upper[c & 0x0F]);
		}
	}
}

char *
pgb_sigv4_uri_encode(const char *s, bool keep_slash)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_uri_encoded(&buf, s, strlen(s), keep_slash);
	return buf.data;
}

static void
hex_lower(const unsigned char *bytes, size_t len, char *out)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		out[2 * i] = hexdigits_lower[bytes[i] >> 4];
		out[2 * i + 1] = hexdigits_lower[bytes[i] & 0x0F];
	}
	out[2 * len] = '\0';
}

char *
pgb_sigv4_sha256_hex(const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char	   *hex;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) ||
		mdlen != SHA256_LEN)
		sigv4_crypto_failure("SHA-256");
	hex = palloc(2 * SHA256_LEN + 1);
	hex_lower(md, SHA256_LEN, hex);
	return hex;
}

/* out = HMAC-SHA256(key, data) */
static void
hmac_sha256(const unsigned char *key, size_t keylen,
			const char *data, size_t datalen,
			unsigned char out[SHA256_LEN])
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int) keylen,
			 (const unsigned char *) data, datalen, out, &outlen) == NULL ||
		outlen != SHA256_LEN)
		sigv4_crypto_failure("HMAC-SHA256");
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Percent-decode s[0..len) and re-encode it as SigV4 wants (nothing
 * escaped but unreserved characters, '/' included).
 */
static char *
reencode_query_part(const char *s, size_t len)
{
	StringInfoData raw;
	StringInfoData out;
	size_t		i;

	initStringInfo(&raw);
	for (i = 0; i < len; i++)
	{
		if (s[i] == '%' && i + 2 < len &&
			hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0)
		{
			appendStringInfoChar(&raw,
								 (char) (hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
			i += 2;
		}
		else
			appendStringInfoChar(&raw, s[i]);
	}
	initStringInfo(&out);
	append_uri_encoded(&out, raw.data, raw.len, false);
	pfree(raw.data);
	return out.data;
}

static int
param_cmp(const void *a, const void *b)
{
	const SigV4Param *pa = (const SigV4Param *) a;
	const SigV4Param *pb = (const SigV4Param *) b;
	int			c = strcmp(pa->name, pb->name);

	return c != 0 ? c : strcmp(pa->value, pb->value);
}

/*
 * Parse the wire query into params[] (encoded), growing it as needed;
 * returns the new count.
 */
static int
parse_query(const char *query, SigV4Param **params, int *nalloc, int n)
{
	const char *p = query ? query : "";

	while (*p)
	{
		const char *amp = strchr(p, '&');
		size_t		itemlen = amp ? (size_t) (amp - p) : strlen(p);

		if (itemlen > 0)
		{
			const char *eq = memchr(p, '=', itemlen);
			size_t		namelen = eq ? (size_t) (eq - p) : itemlen;

			if (n >= *nalloc)
			{
				*nalloc *= 2;
				*params = repalloc(*params, sizeof(SigV4Param) * *nalloc);
			}
			(*params)[n].name = reencode_query_part(p, namelen);
			if (eq)
				(*params)[n].value = reencode_query_part(eq + 1,
														 itemlen - namelen - 1);
			else
				(*params)[n].value = pstrdup("");
			n++;
		}
		p += itemlen;
		if (*p == '&')
			p++;
	}
	return n;
}

static void
add_param(SigV4Param **params, int *nalloc, int *n,
		  const char *name, const char *raw_value)
{
	if (*n >= *nalloc)
	{
		*nalloc *= 2;
		*params = repalloc(*params, sizeof(SigV4Param) * *nalloc);
	}
	(*params)[*n].name = pgb_sigv4_uri_encode(name, false);
	(*params)[*n].value = pgb_sigv4_uri_encode(raw_value, false);
	(*n)++;
}

/* sort params[] and join them as the canonical query; frees params[] */
static char *
join_params(SigV4Param *params, int n)
{
	StringInfoData buf;
	int			i;

	if (n > 1)
		qsort(params, n, sizeof(SigV4Param), param_cmp);
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, '&');
		appendStringInfo(&buf, "%s=%s", params[i].name, params[i].value);
		pfree(params[i].name);
		pfree(params[i].value);
	}
	pfree(params);
	return buf.data;
}

/* the canonical URI of req (see the file header) */
static char *
canonical_uri(const PgbSigV4Request *req)
{
	const char *path = req->path ? req->path : "";
	StringInfoData norm;
	char	   *work;
	char	  **segs;
	int			nsegs = 0;
	int			i;
	size_t		len = strlen(path);
	char	   *tok;
	char	   *result;

	if (len == 0)
		return pstrdup("/");
	if (!req->normalize_path)
		return pstrdup(path);

	/* remove "", "." and ".." segments */
	work = pstrdup(path);
	segs = palloc(sizeof(char *) * (len / 2 + 2));
	tok = work;
	for (;;)
	{
		char	   *slash = strchr(tok, '/');

		if (slash)
			*slash = '\0';
		if (strcmp(tok, "..") == 0)
		{
			if (nsegs > 0)
				nsegs--;
		}
		else if (tok[0] != '\0' && strcmp(tok, ".") != 0)
			segs[nsegs++] = tok;
		if (!slash)
			break;
		tok = slash + 1;
	}

	initStringInfo(&norm);
	if (path[0] == '/')
		appendStringInfoChar(&norm, '/');
	for (i = 0; i < nsegs; i++)
	{
		if (i > 0)
			appendStringInfoChar(&norm, '/');
		appendStringInfoString(&norm, segs[i]);
	}
	if (nsegs > 0 && path[len - 1] == '/')
		appendStringInfoChar(&norm, '/');
	if (norm.len == 0)
		appendStringInfoChar(&norm, '/');

	result = pgb_sigv4_uri_encode(norm.data, true);
	pfree(norm.data);
	pfree(segs);
	pfree(work);
	return result;
}

/* name trimmed and lower-cased */
static char *
canonical_header_name(const char *name)
{
	const char *end;
	char	   *out;
	size_t		i;
	size_t		n;

	while (*name == ' ' || *name == '\t')
		name++;
	end = name + strlen(name);
	while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = end - name;
	out = palloc(n + 1);
	for (i = 0; i < n; i++)
	{
		char		c = name[i];

		out[i] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
	}
	out[n] = '\0';
	return out;
}

static bool
is_header_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		c == '\v' || c == '\f';
}

/* value trimmed, inner runs of whitespace collapsed to one space */
static char *
canonical_header_value(const char *value)
{
	StringInfoData buf;
	const char *p = value ? value : "";
	bool		pending_space = false;

	initStringInfo(&buf);
	for (; *p; p++)
	{
		if (is_header_space(*p))
		{
			pending_space = (buf.len > 0);
			continue;
		}
		if (pending_space)
			appendStringInfoChar(&buf, ' ');
		pending_space = false;
		appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

static int
header_cmp(const void *a, const void *b)
{
	const SigV4Header *ha = (const SigV4Header *) a;
	const SigV4Header *hb = (const SigV4Header *) b;
	int			c = strcmp(ha->name, hb->name);

	if (c != 0)
		return c;
	return (ha->pos > hb->pos) - (ha->pos < hb->pos);
}

/*
 * The canonical headers block (each "name:value\n") and the signed header
 * list ("a;b;c") of req.
 */
static void
canonical_headers(const PgbSigV4Request *req, char **headers, char **signed_list)
{
	StringInfoData hbuf;
	StringInfoData sbuf;
	SigV4Header *h;
	int			i;

	initStringInfo(&hbuf);
	initStringInfo(&sbuf);
	if (req->nheaders <= 0)
	{
		*headers = hbuf.data;
		*signed_list = sbuf.data;
		return;
	}

	h = palloc(sizeof(SigV4Header) * req->nheaders);
	for (i = 0; i < req->nheaders; i++)
	{
		h[i].name = canonical_header_name(req->header_names[i]);
		h[i].value = canonical_header_value(req->header_values[i]);
		h[i].pos = i;
	}
	qsort(h, req->nheaders, sizeof(SigV4Header), header_cmp);

	for (i = 0; i < req->nheaders; i++)
	{
		if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0)
		{
			/* a repeated name: its value joins the previous line */
			hbuf.len--;			/* drop the '\n' */
			hbuf.data[hbuf.len] = '\0';
			appendStringInfo(&hbuf, ",%s\n", h[i].value);
			continue;
		}
		appendStringInfo(&hbuf, "%s:%s\n", h[i].name, h[i].value);
		if (sbuf.len > 0)
			appendStringInfoChar(&sbuf, ';');
		appendStringInfoString(&sbuf, h[i].name);
	}

	for (i = 0; i < req->nheaders; i++)
	{
		pfree(h[i].name);
		pfree(h[i].value);
	}
	pfree(h);
	*headers = hbuf.data;
	*signed_list = sbuf.data;
}

/* "20150830/us-east-1/service/aws4_request" */
static char *
credential_scope(const PgbSigV4Creds *creds, const PgbSigV4Request *req)
{
	return psprintf("%.8s/%s/%s/" SIGV4_TERMINATOR,
					req->amz_date, creds->region, creds->service);
}

/*
 * Build the canonical request and the string to sign from their parts and
 * return the hex signature.  Intermediate texts go to *canonical_request
 * and *string_to_sign when those are not NULL.
 */
static char *
sign(const PgbSigV4Creds *creds, const PgbSigV4Request *req,
	 const char *canonical_query, const char *headers, const char *signed_list,
	 char **canonical_request, char **string_to_sign)
{
	char	   *uri = canonical_uri(req);
	char	   *creq;
	char	   *creq_hash;
	char	   *scope;
	char	   *sts;
	char	   *ksecret;
	char		date[9];
	unsigned char k1[SHA256_LEN];
	unsigned char k2[SHA256_LEN];
	char	   *sig;

	creq = psprintf("%s\n%s\n%s\n%s\n%s\n%s",
					req->method, uri, canonical_query, headers, signed_list,
					req->payload_hash);
	creq_hash = pgb_sigv4_sha256_hex(creq, strlen(creq));
	scope = credential_scope(creds, req);
	sts = psprintf(SIGV4_ALGORITHM "\n%s\n%s\n%s",
				   req->amz_date, scope, creq_hash);

	/* kSigning = HMAC chain over date, region, service, "aws4_request" */
	snprintf(date, sizeof(date), "%.8s", req->amz_date);
	ksecret = psprintf("AWS4%s", creds->secret_key);
	hmac_sha256((unsigned char *) ksecret, strlen(ksecret),
				date, strlen(date), k1);
	explicit_bzero(ksecret, strlen(ksecret));
	pfree(ksecret);
	hmac_sha256(k1, SHA256_LEN, creds->region, strlen(creds->region), k2);
	hmac_sha256(k2, SHA256_LEN, creds->service, strlen(creds->service), k1);
	hmac_sha256(k1, SHA256_LEN, SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), k2);
	hmac_sha256(k2, SHA256_LEN, sts, strlen(sts), k1);
	sig = palloc(2 * SHA256_LEN + 1);
	hex_lower(k1, SHA256_LEN, sig);
	explicit_bzero(k1, sizeof(k1));
	explicit_bzero(k2, sizeof(k2));

	pfree(uri);
	pfree(creq_hash);
	pfree(scope);
	if (canonical_request)
		*canonical_request = creq;
	else
		pfree(creq);
	if (string_to_sign)
		*string_to_sign = sts;
	else
		pfree(sts);
	return sig;
}

char *
pgb_sigv4_authorization(const PgbSigV4Creds *creds,
						const PgbSigV4Request *req,
						char **canonical_request,
						char **string_to_sign)
{
	SigV4Param *params;
	int			nalloc = 8;
	int			n;
	char	   *query;
	char	   *headers;
	char	   *signed_list;
	char	   *sig;
	char	   *scope;
	char	   *result;

	params = palloc(sizeof(SigV4Param) * nalloc);
	n = parse_query(req->query, &params, &nalloc, 0);
	query = join_params(params, n);
	canonical_headers(req, &headers, &signed_list);

	sig = sign(creds, req, query, headers, signed_list,
			   canonical_request, string_to_sign);
	scope = credential_scope(creds, req);
	result = psprintf(SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
					  creds->access_key, scope, signed_list, sig);

	pfree(scope);
	pfree(sig);
	pfree(query);
	pfree(headers);
	pfree(signed_list);
	return result;
}

char *
pgb_sigv4_presign(const PgbSigV4Creds *creds,
				  const PgbSigV4Request *req,
				  int expires,
				  char **canonical_request,
				  char **string_to_sign)
{
	SigV4Param *params;
	int			nalloc = 16;
	int			n;
	char	   *headers;
	char	   *signed_list;
	char	   *scope;
	char	   *credential;
	char		expires_str[16];
	char	   *query;
	char	   *sig;
	char	   *result;

	canonical_headers(req, &headers, &signed_list);
	scope = credential_scope(creds, req);
	credential = psprintf("%s/%s", creds->access_key, scope);
	snprintf(expires_str, sizeof(expires_str), "%d", expires);

	params = palloc(sizeof(SigV4Param) * nalloc);
	n = parse_query(req->query, &params, &nalloc, 0);
	add_param(&params, &nalloc, &n, "X-Amz-Algorithm", SIGV4_ALGORITHM);
	add_param(&params, &nalloc, &n, "X-Amz-Credential", credential);
	add_param(&params, &nalloc, &n, "X-Amz-Date", req->amz_date);
	add_param(&params, &nalloc, &n, "X-Amz-Expires", expires_str);
	if (creds->session_token && creds->session_token[0] != '\0')
		add_param(&params, &nalloc, &n, "X-Amz-Security-Token",
				  creds->session_token);
	add_param(&params, &nalloc, &n, "X-Amz-SignedHeaders", signed_list);
	query = join_params(params, n);

	sig = sign(creds, req, query, headers, signed_list,
			   canonical_request, string_to_sign);
	result = psprintf("%s%sX-Amz-Signature=%s",
					  query, query[0] ? "&" : "", sig);

	pfree(sig);
	pfree(query);
	pfree(credential);
	pfree(scope);
	pfree(headers);
	pfree(signed_list);
	return result;
}
