/*-------------------------------------------------------------------------
 *
 * archive_writer.c
 *	  Serializes the header, TOC and block headers of a pg_dump
 *	  custom-format archive.
 *
 * Every integer is written the way pg_dump writes it: a sign byte, then
 * four magnitude bytes, least significant first.  Offsets are a flag byte
 * followed by eight bytes.  Nothing here depends on the host byte order.
 *
 * src/archive/archive_writer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "archive.h"

void
pgb_write_int(StringInfo buf, int value)
{
	uint32		mag;
	int			i;

	if (value < 0)
	{
		appendStringInfoChar(buf, 1);
		mag = (uint32) 0 - (uint32) value;
	}
	else
	{
		appendStringInfoChar(buf, 0);
		mag = (uint32) value;
	}
	for (i = 0; i < 4; i++)
	{
		appendStringInfoChar(buf, (char) (mag & 0xFF));
		mag >>= 8;
	}
}

void
pgb_write_str(StringInfo buf, const char *s)
{
	if (s == NULL)
	{
		pgb_write_int(buf, -1);
		return;
	}
	pgb_write_int(buf, (int) strlen(s));
	appendBinaryStringInfo(buf, s, strlen(s));
}

static void
write_offset(StringInfo buf, int flag, uint64 pos)
{
	int			i;

	appendStringInfoChar(buf, (char) flag);
	for (i = 0; i < 8; i++)
	{
		appendStringInfoChar(buf, (char) (pos & 0xFF));
		pos >>= 8;
	}
}

void
pgb_write_header(StringInfo buf, const PgbArchiveHeader *hdr)
{
	int			i;

	appendBinaryStringInfo(buf, "PGDMP", 5);
	appendStringInfoChar(buf, (char) ((hdr->version >> 16) & 0xFF));
	appendStringInfoChar(buf, (char) ((hdr->version >> 8) & 0xFF));
	appendStringInfoChar(buf, (char) (hdr->version & 0xFF));
	appendStringInfoChar(buf, 4);	/* intSize */
	appendStringInfoChar(buf, 8);	/* offSize */
	appendStringInfoChar(buf, 1);	/* custom format */
	if (hdr->version >= PGB_K_VERS_1_15)
		appendStringInfoChar(buf, (char) hdr->compression);
	else
		pgb_write_int(buf, hdr->compression == PGB_COMPRESS_NONE ? 0 : hdr->level);
	for (i = 0; i < 7; i++)
		pgb_write_int(buf, hdr->tm[i]);
	pgb_write_str(buf, hdr->dbname);
	pgb_write_str(buf, hdr->server_version);
	pgb_write_str(buf, hdr->pgdump_version);
}

/*
 * pgb_write_toc
 *		The TOC count and entries.  The length depends only on the entries'
 *		strings, not on their data offsets, so a caller can serialize once
 *		to learn where the data area begins and again with final offsets.
 */
void
pgb_write_toc(StringInfo buf, const PgbArchive *ar)
{
	int			i,
				j;

	pgb_write_int(buf, ar->ntoc);
	for (i = 0; i < ar->ntoc; i++)
	{
		const PgbTocEntry *te = &ar->toc[i];

		pgb_write_int(buf, te->dump_id);
		pgb_write_int(buf, te->had_dumper);
		pgb_write_str(buf, te->tableoid ? te->tableoid : "0");
		pgb_write_str(buf, te->oid ? te->oid : "0");
		pgb_write_str(buf, te->tag);
		pgb_write_str(buf, te->desc);
		pgb_write_int(buf, te->section);
		pgb_write_str(buf, te->defn);
		pgb_write_str(buf, te->drop_stmt);
		pgb_write_str(buf, te->copy_stmt);
		pgb_write_str(buf, te->namespace);
		pgb_write_str(buf, te->tablespace);
		pgb_write_str(buf, te->tableam);
		if (ar->hdr.version >= PGB_K_VERS_1_16)
			pgb_write_int(buf, te->relkind);
		pgb_write_str(buf, te->owner);
		pgb_write_str(buf, te->with_oids ? te->with_oids : "false");
		for (j = 0; j < te->ndeps; j++)
		{
			char		dep[16];

			snprintf(dep, sizeof(dep), "%d", te->deps[j]);
			pgb_write_str(buf, dep);
		}
		pgb_write_str(buf, NULL);
		write_offset(buf, te->data_state,
					 te->data_state == PGB_OFFSET_SET ? te->data_pos : 0);
	}
}

void
pgb_write_block_header(StringInfo buf, int blktype, int dump_id)
{
	appendStringInfoChar(buf, (char) blktype);
	pgb_write_int(buf, dump_id);
}
