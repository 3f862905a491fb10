/*-------------------------------------------------------------------------
 *
 * storage_api.c
 *	  pgbackups._storage_list() and _storage_read(): what storage holds,
 *	  read with the storage interface (storage.h), for superusers (tests,
 *	  rescans, a look at the truth behind the catalog).
 *
 * Both refuse non-superusers (42501) even if EXECUTE was granted, and
 * reach nothing outside the storage root in effect: a prefix or URL with
 * "." or ".." segments, or a URL under another root, is refused (42501).
 *
 * src/api/storage_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "storage.h"

PG_FUNCTION_INFO_V1(pgbackups_storage_list);
PG_FUNCTION_INFO_V1(pgbackups_storage_read);

/* _storage_read's limit: a manifest is far smaller */
#define STORAGE_READ_MAX (1024 * 1024)

static void
require_superuser(const char *fn)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", fn),
				 errdetail("Only superusers may read storage directly.")));
}

/* true if path has a "." or ".." segment (between slashes or at an end) */
static bool
has_dot_segment(const char *path)
{
	const char *p = path;

	for (;;)
	{
		size_t		len = strcspn(p, "/");

		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return true;
		if (p[len] == '\0')
			return false;
		p += len + 1;
	}
}

/* ERROR 42501 unless what (a URL or a prefix) stays under root */
static void
check_under_root(const char *root, const char *rest, const char *what)
{
	if (rest == NULL || rest[0] == '/' || has_dot_segment(rest))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("\"%s\" is not under the storage root", what),
				 errdetail("Storage functions reach only objects under pgbackups.storage_url (\"%s\"), without \".\" or \"..\" segments.",
						   root)));
}

/*
 * pgbackups_storage_list
 *		_storage_list(prefix text DEFAULT ''): every object whose URL starts
 *		with <storage root>/<prefix>, with its size, sorted by URL.
 */
Datum
pgbackups_storage_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *root;
	char	   *prefix;
	ListCell   *lc;

	require_superuser("_storage_list");
	prefix = PG_ARGISNULL(0) ? pstrdup("") : text_to_cstring(PG_GETARG_TEXT_PP(0));
	root = pgb_storage_root();
	check_under_root(root, prefix, prefix);
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, pgb_storage_list(psprintf("%s/%s", root, prefix)))
	{
		PgbStorageEntry *e = (PgbStorageEntry *) lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(e->url);
		values[1] = Int64GetDatum(e->size);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * pgbackups_storage_read
 *		_storage_read(url text): a small object (at most 1 MB) under the
 *		storage root as text in the database encoding; NULL if it does not
 *		exist.
 */
Datum
pgbackups_storage_read(PG_FUNCTION_ARGS)
{
	char	   *url;
	char	   *root;
	size_t		rootlen;
	char	   *data;
	size_t		len = 0;

	require_superuser("_storage_read");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	root = pgb_storage_root();
	rootlen = strlen(root);
	if (strncmp(url, root, rootlen) != 0 || url[rootlen] != '/' || url[rootlen + 1] == '\0')
		check_under_root(root, NULL, url);
	check_under_root(root, url + rootlen + 1, url);
	data = pgb_storage_get_small(url, STORAGE_READ_MAX, &len);
	if (data == NULL)
		PG_RETURN_NULL();
	/* text: valid in the database encoding, no NUL bytes (22021) */
	(void) pg_verify_mbstr(GetDatabaseEncoding(), data, (int) len, false);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(data, (int) len));
}
