/*-------------------------------------------------------------------------
 *
 * data_parts.c
 *	  The note by which a TABLE DATA entry says its data block was written
 *	  in parts (a large table copied by several streams, each part its own
 *	  run of chunks), so that a restore can load the parts side by side.
 *
 * The note is a line of the entry's defn, "-- pgbackups data in parts at:
 * 0 N1 N2 ..." (20 digits each), the byte offset of each part's first chunk counted from the
 * block's first chunk.  pg_restore executes a TABLE DATA defn before the
 * data, as it does pg_dump's "-- load via partition root" note: a comment,
 * so nothing happens (the note comes after that one when both are
 * present, since pg_restore tests the prefix).
 *
 * src/archive/data_parts.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "archive.h"

#define PARTS_NOTE "-- pgbackups data in parts at:"
#define PARTS_MAX 1000000

/*
 * pgb_data_parts_defn
 *		The defn of a TABLE DATA entry in nparts parts (prefix: the defn it
 *		has already, or NULL).  Every offset takes 20 digits, so that the
 *		entry keeps its length when they are filled in (offsets NULL: zeros
 *		for now, pgb_data_parts_fill later): the TOC is laid out before the
 *		parts are written.
 */
char *
pgb_data_parts_defn(const char *prefix, int nparts, const uint64 *offsets)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	if (prefix && prefix[0])
		appendStringInfo(&s, "%s\n", prefix);
	appendStringInfoString(&s, PARTS_NOTE);
	for (i = 0; i < nparts; i++)
		appendStringInfo(&s, " %020llu",
						 (unsigned long long) (offsets ? offsets[i] : 0));
	return s.data;
}

/* the offsets of a defn made by pgb_data_parts_defn, in place */
void
pgb_data_parts_fill(char *defn, int nparts, const uint64 *offsets)
{
	char	   *p = strstr(defn, PARTS_NOTE);
	int			i;

	if (p == NULL || strlen(p) != strlen(PARTS_NOTE) + (size_t) nparts * 21)
		elog(ERROR, "TABLE DATA defn without a note of %d parts", nparts);
	p += strlen(PARTS_NOTE);
	for (i = 0; i < nparts; i++)
	{
		char		num[22];

		snprintf(num, sizeof(num), " %020llu", (unsigned long long) offsets[i]);
		memcpy(p + i * 21, num, 21);
	}
}

static void
bad_note(const PgbTocEntry *te, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid archive: the data parts of entry %d %s", te->dump_id, why)));
}

/*
 * pgb_data_parts
 *		The parts of te's data block: their number (0: no note, the block is
 *		one item), and *offsets (palloc'd, offsets[0] = 0, not decreasing:
 *		an empty part starts where the next one does).
 */
int
pgb_data_parts(const PgbTocEntry *te, uint64 **offsets)
{
	const char *p;
	uint64	   *off;
	int			n = 0;
	int			cap = 8;

	*offsets = NULL;
	if (te->defn == NULL)
		return 0;
	if (strncmp(te->defn, PARTS_NOTE, strlen(PARTS_NOTE)) == 0)
		p = te->defn;
	else if ((p = strstr(te->defn, "\n" PARTS_NOTE)) != NULL)
		p++;
	else
		return 0;
	p += strlen(PARTS_NOTE);
	off = palloc(sizeof(uint64) * cap);
	while (*p == ' ')
	{
		uint64		v = 0;
		const char *start = ++p;

		while (*p >= '0' && *p <= '9')
		{
			if (v > (PG_UINT64_MAX - 9) / 10)
				bad_note(te, "hold an offset out of range");
			v = v * 10 + (*p++ - '0');
		}
		if (p == start)
			bad_note(te, "are not a list of offsets");
		if (n == PARTS_MAX)
			bad_note(te, "are too many");
		/* a part with no bytes (no rows, no compression) starts where the next does */
		if ((n == 0 && v != 0) || (n > 0 && v < off[n - 1]))
			bad_note(te, "are not in order from 0");
		if (n == cap)
		{
			cap *= 2;
			off = repalloc(off, sizeof(uint64) * cap);
		}
		off[n++] = v;
	}
	if (*p != '\0' && *p != '\n')
		bad_note(te, "are not a list of offsets");
	if (n < 2)
		bad_note(te, "are fewer than two");
	*offsets = off;
	return n;
}
