/*-------------------------------------------------------------------------
 *
 * url_scheme.c
 *	  Which kind of URL a string is: storage (file://, s3://), web
 *	  (http://, https://) or a libpq connection URL.  Schemes are matched
 *	  as written (lower case), as every caller did before.
 *
 * src/net/url_scheme.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "url_scheme.h"

static const struct
{
	const char *prefix;
	PgbUrlScheme scheme;
}			schemes[] = {
	{"file://", PGB_URL_FILE},
	{"s3://", PGB_URL_S3},
	{"http://", PGB_URL_HTTP},
	{"https://", PGB_URL_HTTPS},
	{"postgres://", PGB_URL_POSTGRES},
	{"postgresql://", PGB_URL_POSTGRES},
};

PgbUrlScheme
pgb_url_scheme(const char *url)
{
	int			i;

	if (url == NULL)
		return PGB_URL_OTHER;
	for (i = 0; i < lengthof(schemes); i++)
		if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
			return schemes[i].scheme;
	return PGB_URL_OTHER;
}
