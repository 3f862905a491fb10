/*-------------------------------------------------------------------------
 *
 * storage_s3_list.c
 *	  The s3:// backend's listing (ListObjectsV2), small objects (one PUT,
 *	  one GET) and the start-up sweep of unfinished multipart uploads.
 *
 * A listing never assumes that one page holds everything: it follows
 * NextContinuationToken while IsTruncated, pgbackups.s3_list_page_size
 * keys a page, and trusts nothing but Key and Size (no ETag).  Answers are
 * read with libxml2 (xml.c), so keys come back exactly as stored, entity
 * references decoded; on the wire, prefixes, tokens and keys are
 * percent-encoded as SigV4 signs them (pgb_sigv4_uri_encode).  Each page is
 * parsed in a memory context of its own, reset after the page.
 *
 * src/storage/storage_s3_list.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "guc.h"
#include "storage.h"
#include "storage_ops.h"
#include "storage_s3_int.h"
#include "xml.h"

/* a ListObjectsV2 page that is not what S3 sends */
static void
bad_answer(const S3Config *c, const char *prefix, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("could not list objects under \"s3://%s/%s\": %s", c->bucket, prefix, why)));
}

/* one page of ListObjectsV2 into *entries (in cxt); the next token or NULL */
static char *
list_page(const S3Config *c, const char *prefix, const char *token,
		  List **entries, MemoryContext cxt)
{
	static const char *const fields[] = {"Key", "Size"};
	S3Request	rq = {0};
	PgbHttpXfer *x;
	PgbXmlDoc  *doc;
	ListCell   *lc;
	char	   *truncated;
	char	   *next = NULL;
	MemoryContext old;

	rq.method = "GET";
	rq.key = "";
	rq.name = prefix;
	rq.query = psprintf("list-type=2&max-keys=%d&prefix=%s%s%s",
						pgb_s3_list_page_size, pgb_sigv4_uri_encode(prefix, false),
						token ? "&continuation-token=" : "",
						token ? pgb_sigv4_uri_encode(token, false) : "");
	x = pgb_s3_call(c, &rq, "list objects under", 0);
	doc = pgb_xml_parse(x->resp.data, x->resp.len);
	if (doc == NULL || pgb_xml_doc_first_text(doc, "ListBucketResult") == NULL)
		bad_answer(c, prefix, "the answer is not a ListBucketResult");
	foreach(lc, pgb_xml_doc_records(doc, "Contents", fields, lengthof(fields)))
	{
		char	  **rec = (char **) lfirst(lc);
		PgbStorageEntry *e;

		if (rec[0] == NULL || rec[1] == NULL)
			bad_answer(c, prefix, "an object has no Key or Size");
		if (strncmp(rec[0], prefix, strlen(prefix)) != 0)
			continue;			/* not asked for */
		old = MemoryContextSwitchTo(cxt);
		e = palloc(sizeof(PgbStorageEntry));
		e->url = psprintf("s3://%s/%s", c->bucket, rec[0]);
		e->size = pg_strtoint64(rec[1]);
		*entries = lappend(*entries, e);
		MemoryContextSwitchTo(old);
	}
	truncated = pgb_xml_doc_first_text(doc, "IsTruncated");
	if (truncated && strcmp(truncated, "true") == 0)
	{
		next = pgb_xml_doc_first_text(doc, "NextContinuationToken");
		if (next == NULL || next[0] == '\0' || (token && strcmp(next, token) == 0))
			bad_answer(c, prefix, "a truncated page has no new NextContinuationToken");
		next = MemoryContextStrdup(cxt, next);
	}
	pgb_xml_free(doc);
	pgb_http_free(x);
	return next;
}

/*
 * pgb_s3_list
 *		Every object whose URL starts with prefix_url, all pages, in the
 *		order S3 lists them (UTF-8 binary order of keys).
 */
List *
pgb_s3_list(const char *prefix_url)
{
	S3Config   *c = pgb_s3_config(prefix_url);
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext page_cxt;
	MemoryContext old;
	List	   *entries = NIL;
	char	   *token = NULL;

	page_cxt = AllocSetContextCreate(CurrentMemoryContext, "pgbackups S3 list page",
									 ALLOCSET_DEFAULT_SIZES);
	do
	{
		char	   *next;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(page_cxt);
		next = list_page(c, c->key, token, &entries, cxt);
		MemoryContextSwitchTo(old);
		if (token)
			pfree(token);
		token = next;
		MemoryContextReset(page_cxt);
	} while (token != NULL);
	MemoryContextDelete(page_cxt);
	return entries;
}

/* a small object (a manifest) in one PUT; it may replace an older version */
void
pgb_s3_put_small(const char *url, const char *data, size_t len)
{
	S3Config   *c = pgb_s3_config(url);
	S3Request	rq = {0};
	PgbHttpXfer *x;

	if (c->key[0] == '\0')
		elog(ERROR, "S3 object URL has no key");
	rq.method = "PUT";
	rq.key = c->key;
	rq.query = "";
	rq.body = data;
	rq.body_len = len;
	/* an empty body is sent as one too (pgb_http_set_body with 0 bytes) */
	x = pgb_s3_call(c, &rq, "store", 0);
	pgb_http_free(x);
}

/* a small object read whole (at most max_len bytes), NULL if it does not exist */
char *
pgb_s3_get_small(const char *url, size_t max_len, size_t *len)
{
	S3Config   *c = pgb_s3_config(url);
	S3Request	rq = {0};
	PgbHttpXfer *x;
	char	   *data;

	if (c->key[0] == '\0')
		elog(ERROR, "S3 object URL has no key");
	rq.method = "GET";
	rq.key = c->key;
	rq.query = "";
	rq.max_body = (int64) max_len;
	x = pgb_s3_call(c, &rq, "read", 404);
	if (x->status == 404)
	{
		pgb_http_free(x);
		return NULL;
	}
	data = palloc(x->resp.len + 1);
	memcpy(data, x->resp.data, x->resp.len);
	data[x->resp.len] = '\0';
	*len = x->resp.len;
	pgb_http_free(x);
	return data;
}

/* ---- the start-up sweep ---- */

/* abort one unfinished upload; true if it was aborted */
static bool
abort_upload(const S3Config *c, const char *key, const char *id)
{
	S3Request	del = {0};
	PgbHttpXfer *d;
	bool		ok;

	del.method = "DELETE";
	del.key = key;
	del.query = psprintf("uploadId=%s", pgb_sigv4_uri_encode(id, false));
	d = pgb_s3_prepare(c, &del);
	pgb_http_perform(d);
	ok = pgb_http_ok(d);
	if (!ok)
		ereport(LOG,
				(errmsg("pgbackups: could not abort the unfinished upload of \"s3://%s/%s\": %s",
						c->bucket, key, pgb_http_describe(d))));
	pgb_http_free(d);
	return ok;
}

/*
 * pgb_s3_sweep
 *		Abort multipart uploads left under prefix (this cluster's keys) by
 *		a crash.  Only at start-up, when no job of ours can be running.
 *		Services without ListMultipartUploads are skipped with a LOG line.
 *		Pages are followed by key and upload id markers.
 */
void
pgb_s3_sweep(const char *root, const char *prefix)
{
	static const char *const fields[] = {"Key", "UploadId"};
	S3Config   *c = pgb_s3_config(root);
	char	   *full = psprintf("%s%s%s", c->key, c->key[0] ? "/" : "", prefix);
	char	   *key_marker = NULL;
	char	   *id_marker = NULL;
	int			n = 0;
	int			pages = 0;

	for (;;)
	{
		S3Request	rq = {0};
		PgbHttpXfer *x;
		PgbXmlDoc  *doc;
		ListCell   *lc;
		char	   *truncated;

		CHECK_FOR_INTERRUPTS();
		rq.method = "GET";
		rq.key = "";
		rq.query = psprintf("prefix=%s&uploads=%s%s%s%s",
							pgb_sigv4_uri_encode(full, false),
							key_marker ? "&key-marker=" : "",
							key_marker ? pgb_sigv4_uri_encode(key_marker, false) : "",
							id_marker ? "&upload-id-marker=" : "",
							id_marker ? pgb_sigv4_uri_encode(id_marker, false) : "");
		x = pgb_s3_prepare(c, &rq);
		pgb_http_perform(x);
		doc = pgb_http_ok(x) ? pgb_xml_parse(x->resp.data, x->resp.len) : NULL;
		if (doc == NULL)
		{
			ereport(LOG,
					(errmsg("pgbackups: could not list unfinished uploads in bucket \"%s\": %s",
							c->bucket, pgb_http_ok(x) ? "the answer is not XML" :
							pgb_http_describe(x))));
			break;
		}
		foreach(lc, pgb_xml_doc_records(doc, "Upload", fields, lengthof(fields)))
		{
			char	  **rec = (char **) lfirst(lc);

			if (rec[0] == NULL || rec[1] == NULL ||
				strncmp(rec[0], full, strlen(full)) != 0)
				continue;
			if (abort_upload(c, rec[0], rec[1]))
				n++;
		}
		truncated = pgb_xml_doc_first_text(doc, "IsTruncated");
		key_marker = pgb_xml_doc_first_text(doc, "NextKeyMarker");
		id_marker = pgb_xml_doc_first_text(doc, "NextUploadIdMarker");
		pgb_xml_free(doc);
		pgb_http_free(x);
		/* a page limit guards against a server that never ends */
		if (!truncated || strcmp(truncated, "true") != 0 ||
			key_marker == NULL || key_marker[0] == '\0' || ++pages >= 1000)
			break;
	}
	if (n > 0)
		ereport(LOG,
				(errmsg("pgbackups: aborted %d unfinished upload(s) in bucket \"%s\"", n, c->bucket)));
}
