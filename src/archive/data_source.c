/*-------------------------------------------------------------------------
 *
 * data_source.c
 *	  The note by which a TABLE DATA entry of a copy's schema archive says
 *	  that its rows are not in the archive but at the copy's source: the
 *	  COPY ... TO stdout statement of each part (a whole table: one), which
 *	  the restore's workers run on the source under the copy's snapshot and
 *	  feed to their COPY FROM.  Only copy() writes such archives (a
 *	  temporary file, never a backup), and a restore given no source refuses
 *	  them.
 *
 * The note is a run of comment lines of the entry's defn:
 *
 *		-- pgbackups data at source: N
 *		-- COPY ... TO stdout;				(N lines)
 *
 * each statement on one line ('\' written "\\", newline "\n", carriage
 * return "\r": a quoted identifier may hold them).
 *
 * src/archive/data_source.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "archive.h"

#define SOURCE_NOTE "-- pgbackups data at source:"
#define SOURCE_MAX 1000000

/* the defn of a TABLE DATA entry whose nparts parts are read at the source */
char *
pgb_data_source_defn(const char *prefix, int nparts, char *const *sqls)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	if (prefix && prefix[0])
		appendStringInfo(&s, "%s\n", prefix);
	appendStringInfo(&s, "%s %d", SOURCE_NOTE, nparts);
	for (i = 0; i < nparts; i++)
	{
		const char *c;

		appendStringInfoString(&s, "\n-- ");
		for (c = sqls[i]; *c; c++)
		{
			if (*c == '\\')
				appendStringInfoString(&s, "\\\\");
			else if (*c == '\n')
				appendStringInfoString(&s, "\\n");
			else if (*c == '\r')
				appendStringInfoString(&s, "\\r");
			else
				appendStringInfoChar(&s, *c);
		}
	}
	return s.data;
}

static void
bad_note(const PgbTocEntry *te, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid archive: the source note of entry %d %s", te->dump_id, why)));
}

/*
 * pgb_data_source
 *		The number of parts of te's data read at the source (0: no note, the
 *		data is in the archive), and when sqls is not NULL their statements
 *		(palloc'd).
 */
int
pgb_data_source(const PgbTocEntry *te, char ***sqls)
{
	const char *p;
	char	   *end;
	long		n;
	int			i;
	char	  **out = NULL;

	if (sqls)
		*sqls = NULL;
	if (te->defn == NULL)
		return 0;
	if (strncmp(te->defn, SOURCE_NOTE, strlen(SOURCE_NOTE)) == 0)
		p = te->defn;
	else if ((p = strstr(te->defn, "\n" SOURCE_NOTE)) != NULL)
		p++;
	else
		return 0;
	p += strlen(SOURCE_NOTE);
	errno = 0;
	n = strtol(p, &end, 10);
	if (end == p || errno != 0 || n < 1 || n > SOURCE_MAX)
		bad_note(te, "has no valid number of parts");
	p = end;
	if (sqls)
		out = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		StringInfoData s;

		if (strncmp(p, "\n-- ", 4) != 0)
			bad_note(te, "has fewer statements than parts");
		p += 4;
		initStringInfo(&s);
		for (; *p && *p != '\n'; p++)
		{
			if (*p != '\\')
			{
				appendStringInfoChar(&s, *p);
				continue;
			}
			p++;
			if (*p == '\\')
				appendStringInfoChar(&s, '\\');
			else if (*p == 'n')
				appendStringInfoChar(&s, '\n');
			else if (*p == 'r')
				appendStringInfoChar(&s, '\r');
			else
				bad_note(te, "has an invalid escape");
		}
		if (strncmp(s.data, "COPY ", 5) != 0 || s.len < 16 ||
			strcmp(s.data + s.len - 11, " TO stdout;") != 0)
			bad_note(te, "holds a statement that is not COPY ... TO stdout");
		if (out)
			out[i] = s.data;
		else
			pfree(s.data);
	}
	if (*p != '\0' && *p != '\n')
		bad_note(te, "has more statements than parts");
	if (sqls)
		*sqls = out;
	return (int) n;
}
