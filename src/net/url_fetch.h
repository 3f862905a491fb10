/*-------------------------------------------------------------------------
 *
 * url_fetch.h
 *	  restore_from_url's downloads and their safety rules.
 *
 * src/net/url_fetch.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_URL_FETCH_H
#define PGB_URL_FETCH_H

/* the host of an http(s) URL, lower-cased, without brackets and port */
extern char *pgb_url_host(const char *url);
/* is host in pgbackups.url_allowed_hosts? */
extern bool pgb_url_host_allowed(const char *host);
/* scheme and allow-list rules; with resolve, the host's addresses now */
extern void pgb_url_check(const char *url, bool resolve);
/* fetch url into the new file path; returns its size */
extern int64 pgb_url_download(const char *url, const char *path, void (*log) (const char *msg));

#endif							/* PGB_URL_FETCH_H */
