/*-------------------------------------------------------------------------
 *
 * assemble.c
 *	  The layout of a capture's archive, while the streams run: once
 *	  pg_dump is done, its archive is read, its own data items (large
 *	  objects, extension configuration tables) re-encoded with the
 *	  capture's compression into the extra spool, and the output laid out:
 *	  pg_dump's header and TOC with exactly one TABLE DATA entry per copied
 *	  table inserted where pg_dump puts data.  Header and TOC come first in
 *	  the archive but hold every block's offset, so upload.c reserves their
 *	  room (its length does not depend on the offsets) and writes the
 *	  blocks behind it: pg_dump's blocks before the insertion point, then
 *	  each copied table as soon as the streams are done with it (the done
 *	  order, stream.h), then pg_dump's other blocks.  The TOC lists the new
 *	  entries in that order, the order of their blocks, so that a reader
 *	  of a pipe finds every block where it looks for it; at the end every
 *	  data offset is filled in.
 *
 * src/capture/assemble.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>
#include <unistd.h>

#include "utils/hsearch.h"

#include "capture_int.h"
#include "pq_util.h"
#include "spool.h"

/* ---- pg_dump's own data items, re-encoded ---- */

typedef struct Reencode
{
	PgbDecompressor *dec;
	PgbCompressor *comp;
} Reencode;

static void
feed_compressor(void *arg, const char *data, size_t len)
{
	pgb_compressor_write((PgbCompressor *) arg, data, len);
}

static void
feed_decompressor(void *arg, const char *data, size_t len)
{
	pgb_decompressor_feed((PgbDecompressor *) arg, data, len);
}

static int64
reencode_stream(PgbArchiveReader *r, Reencode *re, PgbSpool *out)
{
	int64		raw;

	pgb_compressor_begin(re->comp, pgb_spool_chunk, out);
	pgb_decompressor_begin(re->dec, feed_compressor, re->comp);
	pgb_reader_read_chunks(r, feed_decompressor, re->dec);
	raw = pgb_decompressor_end(re->dec);
	pgb_compressor_end(re->comp);
	pgb_spool_put_int(out, 0);
	return raw;
}

/*
 * reencode_pgdump_data
 *		Copy every data block of pg_dump's archive into the extra spool in
 *		the capture's compression, remembering where each went.
 */
static void
reencode_pgdump_data(PgbArchiveReader *r, const PgbArchive *ar,
					 const PgbCompressionSpec *comp, const char *path,
					 PgbBlockSource *src_by_index, int64 *raw_total)
{
	PgbSpool   *out = pgb_spool_create(path);
	Reencode	re;
	int			blktype;
	PgbTocEntry *te;

	re.dec = pgb_decompressor_create(ar->hdr.compression, -1);
	re.comp = pgb_compressor_create(comp);
	while (pgb_reader_next_block(r, &blktype, &te))
	{
		int			idx = te - ar->toc;
		uint64		start = pgb_spool_pos(out);

		pgb_pq_check_interrupts();
		if (blktype == PGB_BLK_DATA)
			*raw_total += reencode_stream(r, &re, out);
		else
		{
			Oid			oid;

			while (pgb_reader_next_blob(r, &oid))
			{
				pgb_spool_put_int(out, (int) oid);
				*raw_total += reencode_stream(r, &re, out);
			}
			pgb_spool_put_int(out, 0);
		}
		src_by_index[idx].nranges = 1;
		src_by_index[idx].ranges = palloc(sizeof(PgbSpoolRange));
		src_by_index[idx].ranges[0].spool = PGB_EXTRA_SPOOL;
		src_by_index[idx].ranges[0].off = start;
		src_by_index[idx].ranges[0].len = pgb_spool_pos(out) - start;
		src_by_index[idx].len = src_by_index[idx].ranges[0].len;
	}
	pgb_spool_close(out);
}

/*
 * read_pgdump
 *		pg_dump's TOC (its version must be the server's), with its data
 *		items re-encoded; *dump_src gets where each one went.
 */
static const PgbArchive *
read_pgdump(PgbCaptureState *cs, PgbAssembly *a, PgbBlockSource **dump_src)
{
	PgbArchiveReader *reader = pgb_reader_open_file(cs->pgdump_out);
	const PgbArchive *dump = pgb_reader_read_toc(reader);

	if (dump->hdr.pgdump_version == NULL ||
		atoi(dump->hdr.pgdump_version) != PG_VERSION_NUM / 10000)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_dump version %s does not match the server's major version %d",
						dump->hdr.pgdump_version ? dump->hdr.pgdump_version : "(unknown)",
						PG_VERSION_NUM / 10000),
				 errhint("Set pgbackups.pg_dump_path to the pg_dump of the server's version.")));
	cs->result->pgdump_version = pstrdup(dump->hdr.pgdump_version);
	*dump_src = palloc0(sizeof(PgbBlockSource) * Max(dump->ntoc, 1));
	reencode_pgdump_data(reader, dump, &cs->params->comp,
						 pgb_stream_spool_path(cs->spool_prefix, PGB_EXTRA_SPOOL),
						 *dump_src, &a->raw_extra);
	pgb_reader_close(reader);
	unlink(cs->pgdump_out);
	return dump;
}

/* ---- the output TOC ---- */

static int
cmp_tabledata(const void *a, const void *b)
{
	const PgbTocEntry *x = ((const PgbNewData *) a)->te;
	const PgbTocEntry *y = ((const PgbNewData *) b)->te;
	int			c = strcmp(x->namespace ? x->namespace : "", y->namespace ? y->namespace : "");

	return c != 0 ? c : strcmp(x->tag, y->tag);
}

/* pg_dump's entries by the OID they name: its TABLE entry and TABLE DATA */
typedef struct DumpOidEntry
{
	Oid			oid;			/* hash key */
	PgbTocEntry *table;			/* the TABLE entry (pg_class), or NULL */
	bool		has_data;		/* pg_dump wrote TABLE DATA for it */
} DumpOidEntry;

/*
 * index_dump_toc
 *		A hash of pg_dump's TABLE and TABLE DATA entries by table OID (a
 *		database with tens of thousands of tables makes a scan per table
 *		quadratic).
 */
static HTAB *
index_dump_toc(const PgbArchive *dump)
{
	HASHCTL		ctl;
	HTAB	   *h;
	int			j;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(DumpOidEntry);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("pgbackups pg_dump TOC", Max(dump->ntoc, 16), &ctl,
					HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (j = 0; j < dump->ntoc; j++)
	{
		PgbTocEntry *c = &dump->toc[j];
		bool		is_table = strcmp(c->desc, "TABLE") == 0 && c->tableoid &&
			strcmp(c->tableoid, "1259") == 0;
		bool		is_data = strcmp(c->desc, "TABLE DATA") == 0;
		DumpOidEntry *e;
		Oid			oid;
		bool		found;

		if ((!is_table && !is_data) || c->oid == NULL)
			continue;
		oid = (Oid) strtoul(c->oid, NULL, 10);
		e = hash_search(h, &oid, HASH_ENTER, &found);
		if (!found)
		{
			e->table = NULL;
			e->has_data = false;
		}
		if (is_table)
			e->table = c;
		else
			e->has_data = true;
	}
	return h;
}

/* a TABLE DATA entry for t, as pg_dump would write it, depending on table */
static PgbTocEntry *
make_data_entry(const PgbTocEntry *table, const PgbCaptureTable *t,
				const char *oidstr, int dump_id)
{
	PgbTocEntry *te = palloc0(sizeof(PgbTocEntry));
	const char *target = t->load_via_root[0] ? t->load_via_root : t->qname;

	te->dump_id = dump_id;
	te->had_dumper = 1;
	te->tableoid = "0";
	te->oid = pstrdup(oidstr);
	te->tag = table->tag;
	te->desc = "TABLE DATA";
	te->section = PGB_SECTION_DATA;
	te->copy_stmt = psprintf("COPY %s %s%s%sFROM stdin;\n", target,
							 t->cols[0] ? "(" : "", t->cols, t->cols[0] ? ") " : " ");
	if (t->load_via_root[0])
		te->defn = psprintf("-- load via partition root %s", t->load_via_root);
	te->namespace = table->namespace;
	te->owner = table->owner;
	te->with_oids = "false";
	te->ndeps = 1;
	te->deps = palloc(sizeof(int));
	te->deps[0] = table->dump_id;
	te->data_state = PGB_OFFSET_SET;
	return te;
}

/*
 * new_data_entries
 *		One TABLE DATA entry per copied table that pg_dump dumped (a table
 *		dropped meanwhile is not), sorted by schema and name.
 */
static int
new_data_entries(PgbCaptureState *cs, const PgbArchive *dump, PgbNewData **result)
{
	PgbCaptureShared *sh = cs->sh;
	PgbNewData *newdata = palloc0(sizeof(PgbNewData) * Max(sh->ntables, 1));
	int			nnew = 0;
	int			maxid = 0;
	int			i;

	HTAB	   *by_oid = index_dump_toc(dump);

	for (i = 0; i < dump->ntoc; i++)
		maxid = Max(maxid, dump->toc[i].dump_id);
	for (i = 0; i < sh->ntables; i++)
	{
		char		oidstr[16];
		PgbTocEntry *table;
		DumpOidEntry *e;

		snprintf(oidstr, sizeof(oidstr), "%u", sh->tables[i].relid);
		e = hash_search(by_oid, &sh->tables[i].relid, HASH_FIND, NULL);
		table = e ? e->table : NULL;

		/*
		 * pg_dump was told to leave this table's data out: its data there
		 * too would restore every row twice.  Never write such an archive.
		 */
		if (e && e->has_data)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("pg_dump dumped the data of table %s, which the capture copies itself",
							PGB_STREAM_STR(sh, sh->tables[i].name_off)),
					 errdetail("Its --exclude-table-data pattern or --filter line did not match the table.")));
		if (table == NULL)
		{
			pgb_capture_log("table %s is not in pg_dump's output; its data is left out",
							PGB_STREAM_STR(sh, sh->tables[i].name_off));
			continue;
		}
		newdata[nnew].te = make_data_entry(table, list_nth(cs->tables, i), oidstr, ++maxid);
		/* a copy's table: the statements that read it at the source */
		if (sh->data_at_source)
		{
			PgbStreamTable *st = &sh->tables[i];
			char	  **sqls = palloc(sizeof(char *) * st->nparts);
			int			k;

			for (k = 0; k < st->nparts; k++)
				sqls[k] = pgb_stream_part_sql(sh, st, &PGB_STREAM_PARTS(sh)[st->first_part + k]);
			newdata[nnew].te->defn = pgb_data_source_defn(newdata[nnew].te->defn,
														  st->nparts, sqls);
		}
		/* a table copied in parts notes where they start (filled in later) */
		else if (sh->tables[i].nparts > 1)
			newdata[nnew].te->defn = pgb_data_parts_defn(newdata[nnew].te->defn,
														 sh->tables[i].nparts, NULL);
		newdata[nnew].table = i;
		nnew++;
	}
	hash_destroy(by_oid);
	qsort(newdata, nnew, sizeof(PgbNewData), cmp_tabledata);
	*result = newdata;
	return nnew;
}

/* pg_dump's header, with the capture's compression and start time */
static void
output_header(PgbArchiveHeader *hdr, const PgbArchiveHeader *dump,
			  const PgbCompressionSpec *comp, time_t created)
{
	struct tm  *lt = localtime(&created);

	*hdr = *dump;
	hdr->compression = comp->alg;
	hdr->level = comp->alg == PGB_COMPRESS_NONE ? 0 : (comp->level < 0 ? -1 : comp->level);
	if (comp->alg == PGB_COMPRESS_LZ4 || comp->alg == PGB_COMPRESS_ZSTD)
		hdr->version = Max(dump->version, PGB_K_VERS_1_15);
	else
		hdr->version = Max(dump->version, PGB_K_VERS_1_14);
	hdr->tm[0] = lt->tm_sec;
	hdr->tm[1] = lt->tm_min;
	hdr->tm[2] = lt->tm_hour;
	hdr->tm[3] = lt->tm_mday;
	hdr->tm[4] = lt->tm_mon;
	hdr->tm[5] = lt->tm_year;
	hdr->tm[6] = lt->tm_isdst > 0 ? 1 : 0;
	hdr->pgdump_version = psprintf("%s (pgbackups 1.0)", dump->pgdump_version);
}

/*
 * pgb_capture_table_source
 *		A copied table's payload, once its parts are done: its parts' spool
 *		ranges in order, the parts trailer of its compression in a chunk of
 *		its own, the terminator.
 */
void
pgb_capture_table_source(PgbCaptureState *cs, PgbNewData *nd)
{
	PgbCaptureShared *sh = cs->sh;
	PgbStreamTable *t = &sh->tables[nd->table];
	PgbBlockSource *src = &nd->src;
	PgbStreamPart *parts = PGB_STREAM_PARTS(sh) + t->first_part;
	uint32	   *checks = palloc(sizeof(uint32) * t->nparts);
	uint64	   *lens = palloc(sizeof(uint64) * t->nparts);
	char		trailer[PGB_PARTS_TRAILER_MAX];
	int			ntrailer;
	StringInfoData tail;
	int			k;

	src->nranges = t->nparts;
	src->ranges = palloc(sizeof(PgbSpoolRange) * t->nparts);
	src->len = 0;
	for (k = 0; k < t->nparts; k++)
	{
		src->ranges[k].spool = parts[k].stream;
		src->ranges[k].off = parts[k].spool_off;
		src->ranges[k].len = parts[k].spool_len;
		src->len += parts[k].spool_len;
		checks[k] = parts[k].check;
		lens[k] = parts[k].in_len;
	}
	ntrailer = pgb_compression_parts_trailer(sh->comp.alg, t->nparts, checks, lens, trailer);
	initStringInfo(&tail);
	if (ntrailer > 0)
	{
		pgb_write_int(&tail, ntrailer);
		appendBinaryStringInfo(&tail, trailer, ntrailer);
	}
	pgb_write_int(&tail, 0);
	Assert(tail.len <= (int) sizeof(src->tail));
	memcpy(src->tail, tail.data, tail.len);
	src->tail_len = tail.len;
	src->len += tail.len;
	pfree(tail.data);
	pfree(checks);
	pfree(lens);

	/* where each part's chunks start, so a restore loads them side by side */
	if (t->nparts > 1 && !cs->sh->data_at_source)
	{
		uint64	   *offsets = palloc(sizeof(uint64) * t->nparts);
		uint64		at = 0;

		for (k = 0; k < t->nparts; k++)
		{
			offsets[k] = at;
			at += src->ranges[k].len;
		}
		pgb_data_parts_fill(nd->te->defn, t->nparts, offsets);
		pfree(offsets);
	}
}

/*
 * build_toc
 *		pg_dump's entries with the new ones inserted before its first DATA or
 *		POST_DATA entry, in the order given, and where each data block's
 *		payload is and begins (0 while unknown: the TOC has the same length).
 */
static void
build_toc(PgbAssembly *a, const int *order)
{
	const PgbArchive *dump = a->dump;
	int			i,
				j = 0;

	a->out.ntoc = dump->ntoc + a->nnew;
	a->out.toc = palloc0(sizeof(PgbTocEntry) * Max(a->out.ntoc, 1));
	a->src = palloc0(sizeof(PgbBlockSource) * Max(a->out.ntoc, 1));
	for (i = 0; i <= dump->ntoc; i++)
	{
		int			k;

		for (k = 0; i == a->insert_at && k < a->nnew; k++, j++)
		{
			PgbNewData *nd = &a->newdata[order[k]];

			a->out.toc[j] = *nd->te;
			a->out.toc[j].data_pos = nd->pos;
			a->src[j] = nd->src;
		}
		if (i == dump->ntoc)
			break;
		a->out.toc[j] = dump->toc[i];
		a->out.toc[j].data_state = a->out.toc[j].had_dumper ? PGB_OFFSET_SET : PGB_OFFSET_NO_DATA;
		a->out.toc[j].data_pos = a->out.toc[j].had_dumper ? a->dump_pos[i] : 0;
		if (a->out.toc[j].had_dumper)
			a->src[j] = a->dump_src[i];
		j++;
	}
}

static void
serialize_head(PgbAssembly *a)
{
	resetStringInfo(&a->head);
	pgb_write_header(&a->head, &a->out.hdr);
	pgb_write_toc(&a->head, &a->out);
}

/*
 * pgb_capture_assemble_begin
 *		Once pg_dump is done: read its archive, make the new entries, and
 *		learn the length of header and TOC.
 */
void
pgb_capture_assemble_begin(PgbCaptureState *cs, PgbAssembly *a)
{
	const PgbArchive *dump;
	int		   *by_name;
	int			i;

	memset(a, 0, sizeof(PgbAssembly));
	a->dump = dump = read_pgdump(cs, a, &a->dump_src);
	a->dump_pos = palloc0(sizeof(uint64) * Max(dump->ntoc, 1));
	a->nnew = new_data_entries(cs, dump, &a->newdata);
	output_header(&a->out.hdr, &dump->hdr, &cs->params->comp, cs->started);
	a->insert_at = dump->ntoc;
	for (i = 0; i < dump->ntoc; i++)
		if (dump->toc[i].section == PGB_SECTION_DATA || dump->toc[i].section == PGB_SECTION_POST_DATA)
		{
			a->insert_at = i;
			break;
		}
	a->new_of_table = palloc(sizeof(int) * Max(cs->sh->ntables, 1));
	for (i = 0; i < cs->sh->ntables; i++)
		a->new_of_table[i] = -1;
	by_name = palloc(sizeof(int) * Max(a->nnew, 1));
	a->copied = palloc(sizeof(int) * Max(a->nnew, 1));
	for (i = 0; i < a->nnew; i++)
	{
		a->new_of_table[a->newdata[i].table] = i;
		a->copied[i] = a->newdata[i].table;
		by_name[i] = i;
	}
	a->ncopied = a->nnew;
	a->order = palloc(sizeof(int) * Max(a->nnew, 1));
	initStringInfo(&a->head);
	build_toc(a, by_name);
	serialize_head(a);
	a->head_len = a->size = a->head.len;
	pfree(by_name);
}

/*
 * pgb_capture_next_done
 *		The next new entry whose table the streams are done with (the done
 *		order, stream.h), or -1 if there is none yet.  A table pg_dump did
 *		not dump has no entry and is skipped.
 */
int
pgb_capture_next_done(PgbCaptureState *cs, PgbAssembly *a)
{
	PgbCaptureShared *sh = cs->sh;

	while (a->next_done < (uint32) sh->ntables)
	{
		uint32		v = pg_atomic_read_u32(&PGB_STREAM_DONE_ORDER(sh)[a->next_done]);
		int			k;

		if (v == 0)
			return -1;
		pg_read_barrier();
		a->next_done++;
		k = a->new_of_table[v - 1];
		if (k >= 0)
			return k;
	}
	return -1;
}

/*
 * pgb_capture_assemble_finish
 *		Every block is written: the TOC with the new entries in the order
 *		written and every data offset, serialized; its length must be the
 *		room reserved for it.
 */
void
pgb_capture_assemble_finish(PgbCaptureState *cs, PgbAssembly *a)
{
	if (a->nwritten != a->nnew)
		elog(ERROR, "archive assembly wrote %d of %d tables", a->nwritten, a->nnew);
	build_toc(a, a->order);
	serialize_head(a);
	if ((uint64) a->head.len != a->head_len)
		elog(ERROR, "archive TOC changed length when data offsets were filled in");
}
