/*-------------------------------------------------------------------------
 *
 * url_scheme.h
 *	  The one place that tells which kind of URL a string is.
 *
 * src/net/url_scheme.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_URL_SCHEME_H
#define PGB_URL_SCHEME_H

typedef enum PgbUrlScheme
{
	PGB_URL_OTHER = 0,			/* no scheme we know (or NULL) */
	PGB_URL_FILE,				/* file:// */
	PGB_URL_S3,					/* s3:// */
	PGB_URL_HTTP,				/* http:// */
	PGB_URL_HTTPS,				/* https:// */
	PGB_URL_POSTGRES			/* postgres:// or postgresql:// (libpq) */
} PgbUrlScheme;

extern PgbUrlScheme pgb_url_scheme(const char *url);

/* http:// or https:// */
#define pgb_url_is_web(url) \
	(pgb_url_scheme(url) == PGB_URL_HTTP || pgb_url_scheme(url) == PGB_URL_HTTPS)

#endif							/* PGB_URL_SCHEME_H */
