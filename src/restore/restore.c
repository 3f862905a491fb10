/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  The restore engine's leader.  It runs in the job's background worker,
 *	  which is connected to no database, and never executes archive SQL
 *	  itself.
 *
 * Steps:
 *	 1. Read the archive's TOC and walk its data blocks once, recording
 *		where each lies (archives written to a pipe have no offsets) and
 *		checking every block header against the TOC: a damaged archive is
 *		rejected before anything is created.  When the job knows the
 *		archive's SHA-256 (a pgbackups backup), every byte read goes
 *		through the digest, which must match (an archive in S3 is then
 *		read whole once, instead of positions taken from its TOC).
 *	 2. Plan (restore_plan.c); check that the target's owner can log in
 *		and that every extension the archive creates is available and
 *		allowed (check_extensions): a trusted one is created by the owner,
 *		an untrusted one by the superuser only when a superuser requested
 *		the restore or pgbackups.restore_extensions lists it; for an owner
 *		who is not a superuser, no entry may fill the extension's schema
 *		before it.
 *	 3. Create the staging database like the target and start N
 *		"pgbackups restore" workers in it, authenticated as the owner.
 *	 4. Pre-data entries in TOC order, one at a time.  CREATE EXTENSION
 *		statements are rebuilt from the parsed name and schema (never the
 *		archive's text) and run with search_path = pg_catalog, pg_temp, by
 *		a worker (as the owner) or by the leader (as superuser), each after
 *		checking that its schema holds nothing but extension members.
 *		Then data and post-data in parallel by dependencies, then ACLs,
 *		then materialized views and event triggers.
 *	 5. Compare the rows loaded per table with those recorded at capture.
 *	 6. Pause the target's scheduler, end its sessions, carry the live
 *		catalog into the staging database if the target holds it, and swap
 *		(dbswap.c).
 * Any error or cancel before the swap's commit drops the staging database
 * and leaves the target as it was.
 *
 * src/restore/restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "archive.h"
#include "dbswap.h"
#include "guc.h"
#include "pq_util.h"
#include "restore.h"
#include "restore_plan.h"
#include "restore_worker.h"
#include "sched_control.h"
#include "shmem.h"
#include "storage.h"
#include "job_kind.h"
#include "url_scheme.h"

static struct
{
	const PgbRestoreParams *params;
	const PgbCaptureHooks *hooks;
	PGconn	   *maint;
	PGconn	   *staging_conn;
	PGconn	   *target_conn;
	PgbDbInfo  *target;
	char	   *staging;
	char	   *old;
	bool		created;
	bool		swapped;
	bool		paused;
	dsm_segment *seg;
	PgbRestoreShared *rs;
	BackgroundWorkerHandle *handles[PGB_RESTORE_MAX_WORKERS];
	int			nworkers;
	PgbRestorePlan *plan;
	int			done;
	int			total;
	int64		bytes;
	int64		rows;
	int			tables;
	int64	   *loaded_rows;	/* per TOC entry */
	TimestampTz last_progress;
	struct HashSource *hash;	/* the archive read through SHA-256 */
} rst;

static void
rlog(const char *fmt,...) pg_attribute_printf(1, 2);

static void
rlog(const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (rst.hooks && rst.hooks->log)
		rst.hooks->log(buf);
}

static void
progress(const char *phase)
{
	if (rst.hooks && rst.hooks->progress)
		rst.hooks->progress(phase, rst.done, rst.total, rst.bytes);
}

static void
check(void)
{
	CHECK_FOR_INTERRUPTS();
	if (rst.hooks && rst.hooks->check)
		rst.hooks->check();
}

static char *
entry_name(const PgbTocEntry *te)
{
	if (te->namespace && te->namespace[0])
		return psprintf("%s %s.%s", te->desc, te->namespace, te->tag ? te->tag : "");
	return psprintf("%s %s", te->desc, te->tag ? te->tag : "");
}

/* ---- 1. reading the archive ---- */

static void
null_sink(void *arg, const char *data, size_t len)
{
}

/*
 * Walk every data block once: positions for entries without offsets,
 * sizes for scheduling, and a structural check of the whole archive.
 */
static uint64 *
scan_blocks(PgbArchiveReader *r, const PgbArchive *ar, PgbRestorePlan *plan)
{
	uint64	   *pos = palloc0(sizeof(uint64) * Max(ar->ntoc, 1));
	bool	   *seen = palloc0(sizeof(bool) * Max(ar->ntoc, 1));
	int			i;

	for (;;)
	{
		uint64		at = pgb_reader_position(r);
		int			blktype;
		PgbTocEntry *te;
		int			idx;
		uint64		size = 0;

		check();
		if (!pgb_reader_next_block(r, &blktype, &te))
			break;
		idx = te - ar->toc;
		if (seen[idx])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: two data blocks for entry %d", te->dump_id)));
		seen[idx] = true;
		if (te->data_state == PGB_OFFSET_SET && te->data_pos != at)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: the TOC places entry %d at byte " UINT64_FORMAT ", its block is at " UINT64_FORMAT,
							te->dump_id, te->data_pos, at)));
		pos[idx] = at;
		if (blktype == PGB_BLK_BLOBS)
		{
			Oid			oid;

			while (pgb_reader_next_blob(r, &oid))
				size += pgb_reader_read_chunks(r, null_sink, NULL);
		}
		else
			size = pgb_reader_read_chunks(r, null_sink, NULL);
		plan->items[idx].data_size = size;
	}
	for (i = 0; i < ar->ntoc; i++)
		if (plan->items[i].has_data && !seen[i] && plan->items[i].action != PGB_ACT_SKIP)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: no data block for entry %d (%s)",
							ar->toc[i].dump_id, entry_name(&ar->toc[i]))));
	pfree(seen);
	return pos;
}

static const PgbArchive *sort_ar;

static int
cmp_data_pos(const void *a, const void *b)
{
	uint64		x = sort_ar->toc[*(const int *) a].data_pos;
	uint64		y = sort_ar->toc[*(const int *) b].data_pos;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * For an archive in object storage, where walking every block means
 * downloading it all: positions and sizes from the TOC's data offsets
 * (pgbackups' archives always have them).  NULL if an entry with data
 * has none, or the offsets are not in order within the object.
 */
static uint64 *
positions_from_toc(const PgbArchive *ar, PgbRestorePlan *plan, int64 size)
{
	uint64	   *pos = palloc0(sizeof(uint64) * Max(ar->ntoc, 1));
	int		   *idx = palloc(sizeof(int) * Max(ar->ntoc, 1));
	int			n = 0;
	int			i;

	if (size < 0)
		return NULL;
	for (i = 0; i < ar->ntoc; i++)
	{
		if (ar->toc[i].data_state == PGB_OFFSET_SET)
			idx[n++] = i;
		else if (plan->items[i].has_data)
			return NULL;
	}
	sort_ar = ar;
	qsort(idx, n, sizeof(int), cmp_data_pos);
	for (i = 0; i < n; i++)
	{
		uint64		at = ar->toc[idx[i]].data_pos;
		uint64		next = i + 1 < n ? ar->toc[idx[i + 1]].data_pos : (uint64) size;

		if (at < ar->data_start || next <= at || next > (uint64) size)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid archive: the data offset of entry %d is out of order",
							ar->toc[idx[i]].dump_id)));
		pos[idx[i]] = at;
		plan->items[idx[i]].data_size = next - at;
	}
	return pos;
}

/* ---- 1b. the archive's SHA-256 ---- */

/*
 * The first pass reads the archive through this source when its SHA-256
 * is known: every byte read at the end of the prefix already hashed
 * extends the digest (the walk reads the archive front to back), and
 * finish_sha256() reads whatever the walk did not.
 */
typedef struct HashSource
{
	PgbReadSource src;			/* what the archive reader reads */
	PgbReadSource *inner;		/* an S3 object, or NULL: the file fd */
	int			fd;
	const char *path;
	EVP_MD_CTX *md;
	uint64		hashed;			/* the first bytes, digested */
} HashSource;

static size_t
hash_read(void *arg, uint64 pos, char *buf, size_t n)
{
	HashSource *h = (HashSource *) arg;
	size_t		got = 0;

	if (h->inner)
		got = h->inner->read(h->inner->arg, pos, buf, n);
	else
	{
		while (got < n)
		{
			ssize_t		k = pread(h->fd, buf + got, n - got, (off_t) (pos + got));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not read archive \"%s\": %m", h->path)));
			if (k == 0)
				break;
			got += k;
		}
	}
	if (pos == h->hashed && got > 0)
	{
		if (EVP_DigestUpdate(h->md, buf, got) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not compute the SHA-256 of the archive")));
		h->hashed += got;
	}
	return got;
}

static void
hash_close(void *arg)
{
	HashSource *h = (HashSource *) arg;

	if (h->inner && h->inner->close)
		h->inner->close(h->inner->arg);
	h->inner = NULL;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	if (h->md)
		EVP_MD_CTX_free(h->md);
	h->md = NULL;
}

/* the archive at path (a file or s3://), read through a SHA-256 digest */
static PgbArchiveReader *
open_hashing_reader(const char *path)
{
	HashSource *h = palloc0(sizeof(HashSource));

	h->fd = -1;
	h->path = path;
	rst.hash = h;
	h->md = EVP_MD_CTX_new();
	if (h->md == NULL || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not initialize SHA-256")));
	if (pgb_url_scheme(path) == PGB_URL_S3)
	{
		h->inner = pgb_s3_open_source(path);
		h->src.size = h->inner->size;
	}
	else
	{
		h->fd = BasicOpenFile(path, O_RDONLY | PG_BINARY);
		if (h->fd < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open archive \"%s\": %m", path)));
		h->src.size = -1;		/* as for a file read directly */
	}
	h->src.read = hash_read;
	h->src.close = hash_close;
	h->src.arg = h;
	return pgb_reader_open_source(&h->src);
}

/*
 * Digest what the walk did not read (nothing, normally) and compare.  A
 * mismatch fails the restore before anything is created.
 */
static void
finish_sha256(const char *backup, const char *expected)
{
	HashSource *h = rst.hash;
	char	   *buf = palloc(1024 * 1024);
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	char		hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int i;

	for (;;)
	{
		uint64		at = h->hashed;

		check();
		if (hash_read(h, at, buf, 1024 * 1024) == 0)
			break;
		if (h->hashed == at)
			elog(ERROR, "archive digest did not advance at byte " UINT64_FORMAT, at);
	}
	pfree(buf);
	if (EVP_DigestFinal_ex(h->md, digest, &dlen) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the SHA-256 of the archive")));
	for (i = 0; i < dlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	hex[2 * dlen] = '\0';
	if (pg_strcasecmp(hex, expected) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("archive of backup %s does not match the SHA-256 recorded at capture", backup),
				 errdetail("Expected SHA-256 %s, the archive has %s (" UINT64_FORMAT " bytes); nothing was changed.",
						   expected, hex, h->hashed)));
	rlog("archive SHA-256 verified: %s, " UINT64_FORMAT " bytes", hex, h->hashed);
}

/* ---- 2. extensions ---- */

static bool
desc_is(const PgbTocEntry *te, const char *desc)
{
	return te->desc && strcmp(te->desc, desc) == 0;
}

/* is name in pgbackups.restore_extensions? */
static bool
extension_listed(const char *name)
{
	char	   *copy = pstrdup(pgb_restore_extensions ? pgb_restore_extensions : "");
	List	   *names = NIL;
	ListCell   *lc;
	bool		found = false;

	/* the value was validated when it was set */
	if (!SplitIdentifierString(copy, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp((const char *) lfirst(lc), name) == 0)
			found = true;
	list_free(names);
	pfree(copy);
	return found;
}

/*
 * An entry restored before the extension ext that creates something in
 * its schema: the extension's script (run with superuser rights, even for a
 * trusted extension) would find the archive's objects there.  Allowed
 * before it: the schema itself, its comment, ACL and security label, and
 * other extensions.  (An entry whose namespace field lies is caught in the
 * staging database: check_schema_clean.)
 */
static void
check_extension_order(PgbRestorePlan *plan, int ext, const char *name, const char *schema)
{
	const PgbRestoreItem *e = &plan->items[ext];
	char	   *schema_tag = psprintf("SCHEMA %s", quote_identifier(schema));
	int			i;

	for (i = 0; i < plan->nitems; i++)
	{
		const PgbRestoreItem *it = &plan->items[i];
		const PgbTocEntry *te = it->te;

		if (i == ext || it->action == PGB_ACT_SKIP)
			continue;
		/* pre-data runs in TOC order before everything else */
		if (e->pre_data && !(it->pre_data && i < ext))
			continue;
		if (te->namespace == NULL || strcmp(te->namespace, schema) != 0)
			continue;
		if (desc_is(te, "EXTENSION") || desc_is(te, "SCHEMA"))
			continue;
		if ((desc_is(te, "COMMENT") || desc_is(te, "ACL") || desc_is(te, "SECURITY LABEL")) &&
			te->tag && strcmp(te->tag, schema_tag) == 0)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("archive entry %d (%s) creates an object in schema \"%s\" before extension \"%s\" is created there",
						te->dump_id, entry_name(te), schema, name),
				 errdetail("An extension's script never runs in a schema the archive filled before it; nothing was changed."),
				 errhint("Create the extension in a schema of its own in the source database.")));
	}
	pfree(schema_tag);
}

/*
 * check_extensions
 *		Before anything is created: each extension the archive creates must
 *		be available, and who creates it is decided by PostgreSQL's rules
 *		for the target's owner.  A trusted extension (or one that does not
 *		need a superuser) is created by a worker, as the owner; an
 *		untrusted one by the leader as superuser, and only when the owner is
 *		a superuser, a superuser requested the restore, or
 *		pgbackups.restore_extensions lists it.  pg_dump writes no VERSION,
 *		so the default version's control file decides.  pgbackups itself
 *		is always created (as superuser): it is the catalog of the database
 *		the backup was taken from, and the restore installs it anyway.
 */
static void
check_extensions(PgbRestorePlan *plan)
{
	const PgbRestoreParams *p = rst.params;
	int			i;

	for (i = 0; i < plan->nitems; i++)
	{
		PgbRestoreItem *it = &plan->items[i];
		char	   *name;
		char	   *schema;
		const char *params[1];
		PGresult   *res;
		bool		found;
		bool		trusted = false;

		if (it->action != PGB_ACT_EXTENSION)
			continue;
		pgb_restore_parse_extension(it->te, &name, &schema);
		params[0] = name;
		res = pgb_pq_exec_params(rst.maint,
								 "SELECT v.trusted OR NOT v.superuser "
								 "FROM pg_catalog.pg_available_extensions a "
								 "JOIN pg_catalog.pg_available_extension_versions v "
								 "ON v.name = a.name AND v.version = a.default_version "
								 "WHERE a.name = $1",
								 1, params, PGRES_TUPLES_OK);
		found = PQntuples(res) == 1;
		if (found)
			trusted = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("extension \"%s\" is not available on this server", name),
					 errdetail("The archive creates it; nothing was changed."),
					 errhint("Install the extension's package on the server, then restore again.")));
		if (rst.target->owner_is_superuser)
			continue;			/* as the owner could: the leader creates it */
		if (strcmp(name, "pgbackups") == 0)
		{
			/*
			 * Our own catalog: every backup of a database that holds one
			 * creates it, and the restore installs it anyway to carry the
			 * live catalog; its fixed schema and script are ours.
			 */
			rlog("extension pgbackups (this catalog) is created by the restore");
			check_extension_order(plan, i, name, schema);
			continue;
		}
		if (trusted)
		{
			it->action = PGB_ACT_WORKER;
			rlog("extension %s is trusted: role \"%s\" creates it", name, rst.target->owner);
		}
		else if (p->requester_superuser)
			rlog("extension %s is not trusted: created as superuser, a superuser requested this job", name);
		else if (extension_listed(name))
			rlog("extension %s is not trusted: created as superuser, pgbackups.restore_extensions lists it", name);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the archive creates extension \"%s\", which only a superuser may create", name),
					 errdetail("The owner of database \"%s\", role \"%s\", is not a superuser, the extension is not trusted, "
							   "and this job was requested by role \"%s\"; nothing was changed.",
							   rst.target->name, rst.target->owner,
							   p->requester ? p->requester : "?"),
					 errhint("A superuser can run the restore, or allow the extension with pgbackups.restore_extensions.")));
		check_extension_order(plan, i, name, schema);
	}
}

/*
 * Just before an extension is created in the staging database: its schema
 * must hold nothing but extension members (what those created, with their
 * row types, array types and indexes), all owned by superusers, so the
 * extension's script meets nothing the archive's SQL put there.  Objects
 * of initdb (below FirstNormalObjectId) do not count.
 */
static void
check_schema_clean(const char *name, const char *schema)
{
	const char *params[1] = {schema};
	PGresult   *res;

	res = pgb_pq_exec_params(rst.staging_conn,
							 "WITH RECURSIVE members(classid, objid) AS ("
							 "  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d WHERE d.deptype = 'e'"
							 "  UNION"
							 "  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d"
							 "    JOIN members m ON d.refclassid = m.classid AND d.refobjid = m.objid"
							 "   WHERE d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['i', 'a']::pg_catalog.\"char\"[])"
							 "), ns AS ("
							 "  SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) $1"
							 "), objs(classid, objid, owner) AS ("
							 "  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid, c.relowner FROM pg_catalog.pg_class c, ns WHERE c.relnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass, o.oid, o.proowner FROM pg_catalog.pg_proc o, ns WHERE o.pronamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass, o.oid, o.typowner FROM pg_catalog.pg_type o, ns WHERE o.typnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid, o.oprowner FROM pg_catalog.pg_operator o, ns WHERE o.oprnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_collation'::pg_catalog.regclass, o.oid, o.collowner FROM pg_catalog.pg_collation o, ns WHERE o.collnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_conversion'::pg_catalog.regclass, o.oid, o.conowner FROM pg_catalog.pg_conversion o, ns WHERE o.connamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_opfamily'::pg_catalog.regclass, o.oid, o.opfowner FROM pg_catalog.pg_opfamily o, ns WHERE o.opfnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_opclass'::pg_catalog.regclass, o.oid, o.opcowner FROM pg_catalog.pg_opclass o, ns WHERE o.opcnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_ts_config'::pg_catalog.regclass, o.oid, o.cfgowner FROM pg_catalog.pg_ts_config o, ns WHERE o.cfgnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_ts_dict'::pg_catalog.regclass, o.oid, o.dictowner FROM pg_catalog.pg_ts_dict o, ns WHERE o.dictnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_ts_parser'::pg_catalog.regclass, o.oid, NULL::pg_catalog.oid FROM pg_catalog.pg_ts_parser o, ns WHERE o.prsnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_ts_template'::pg_catalog.regclass, o.oid, NULL::pg_catalog.oid FROM pg_catalog.pg_ts_template o, ns WHERE o.tmplnamespace = ns.oid"
							 "  UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, o.oid, o.stxowner FROM pg_catalog.pg_statistic_ext o, ns WHERE o.stxnamespace = ns.oid"
							 ") "
							 "SELECT pg_catalog.string_agg(x.d, ', ' ORDER BY x.d), pg_catalog.count(*) FROM ("
							 "  SELECT pg_catalog.pg_describe_object(o.classid, o.objid, 0) AS d FROM objs o"
							 "   WHERE o.objid OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid"
							 "     AND (NOT EXISTS (SELECT 1 FROM members m WHERE m.classid = o.classid AND m.objid = o.objid)"
							 "          OR (o.owner IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_authid r"
							 "                                                   WHERE r.oid = o.owner AND r.rolsuper)))"
							 "   ORDER BY 1 LIMIT 10) x",
							 1, params, PGRES_TUPLES_OK);
	if (!PQgetisnull(res, 0, 0))
	{
		char	   *what = pstrdup(PQgetvalue(res, 0, 0));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schema \"%s\" holds objects that are not extension members before extension \"%s\" is created there",
						schema, name),
				 errdetail("Found: %s.  An extension's script never runs in a schema the archive filled before it; "
						   "the target database was left as it was.", what)));
	}
	PQclear(res);
}

/* ---- 3. workers ---- */

static void
wait_a_moment(void)
{
	pgb_pq_sleep(1000);
	check();
}

/* register one restore worker (its handle lives in TopMemoryContext) */
static bool
register_worker(BackgroundWorker *bgw, BackgroundWorkerHandle **handle)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	bool		ok = RegisterDynamicBackgroundWorker(bgw, handle);

	MemoryContextSwitchTo(old);
	return ok;
}

static void
start_workers(int n)
{
	Size		size = offsetof(PgbRestoreShared, positions) + sizeof(uint64) * Max(rst.plan->nitems, 1);
	int			i;

	rst.seg = dsm_create(size, 0);
	rst.rs = dsm_segment_address(rst.seg);
	memset(rst.rs, 0, size);
	SpinLockInit(&rst.rs->mutex);
	rst.rs->leader_pid = MyProcPid;
	rst.rs->leader_latch = MyLatch;
	strlcpy(rst.rs->dbname, rst.staging, NAMEDATALEN);
	strlcpy(rst.rs->role, rst.target->owner, NAMEDATALEN);
	strlcpy(rst.rs->archive_path, rst.params->archive_path, MAXPGPATH);
	rst.rs->keep_owner = rst.params->keep_owner;
	rst.rs->max_decompressed = (int64) pgb_max_decompressed_size * 1024 * 1024;
	rst.rs->ntoc = rst.plan->nitems;
	rst.rs->nworkers = n;

	for (i = 0; i < n; i++)
	{
		BackgroundWorker bgw;

		if (i > 0 && rst.hooks->reserve_proc && !rst.hooks->reserve_proc())
			break;
		memset(&bgw, 0, sizeof(bgw));
		bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
		bgw.bgw_restart_time = BGW_NEVER_RESTART;
		snprintf(bgw.bgw_library_name, BGW_MAXLEN, "pgbackups");
		snprintf(bgw.bgw_function_name, BGW_MAXLEN, "pgb_restore_worker_main");
		snprintf(bgw.bgw_name, BGW_MAXLEN, "pgbackups restore %s worker %d", rst.params->job_id, i);
		snprintf(bgw.bgw_type, BGW_MAXLEN, "pgbackups restore");
		bgw.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(rst.seg));
		memcpy(bgw.bgw_extra, &i, sizeof(int));
		bgw.bgw_notify_pid = MyProcPid;
		if (!register_worker(&bgw, &rst.handles[i]))
		{
			if (i > 0)
			{
				if (rst.hooks->release_proc)
					rst.hooks->release_proc();
				break;
			}

			/*
			 * Not even one: wait for a background worker slot (other jobs,
			 * schedulers) instead of failing; cancel and shutdown are
			 * honoured meanwhile.
			 */
			rlog("waiting for a background worker slot for the first restore worker "
				 "(max_worker_processes = %d are all in use)", max_worker_processes);
			do
				wait_a_moment();
			while (!register_worker(&bgw, &rst.handles[i]));
			rlog("a background worker slot is free: restore workers start");
		}
		rst.nworkers++;
	}
	rst.rs->nworkers = rst.nworkers;
	if (rst.nworkers < n)
		rlog("started %d of %d restore workers as role \"%s\": no more background worker "
			 "slots (max_worker_processes) or pgbackups.max_workers", rst.nworkers, n,
			 rst.target->owner);
	else
		rlog("started %d restore workers as role \"%s\"", rst.nworkers, rst.target->owner);
}

/* collect finished items; returns the number of idle workers */
static int
collect(int *running, int *nrunning)
{
	int			w;
	int			idle = 0;

	for (w = 0; w < rst.nworkers; w++)
	{
		PgbRestoreWorkerSlot *s = &rst.rs->workers[w];
		PgbRestoreWorkerSlot copy;
		pid_t		pid;

		SpinLockAcquire(&rst.rs->mutex);
		memcpy(&copy, s, sizeof(copy));
		if (copy.state == PGB_RW_DONE && copy.sqlerrcode == 0)
			s->state = PGB_RW_IDLE;
		SpinLockRelease(&rst.rs->mutex);

		if (copy.state == PGB_RW_DONE)
		{
			if (copy.sqlerrcode != 0)
			{
				if (copy.item < 0)
					ereport(ERROR,
							(errcode(copy.sqlerrcode),
							 errmsg("restore worker could not start: %s", copy.errmsg)));
				ereport(ERROR,
						(errcode(copy.sqlerrcode),
						 errmsg("could not restore %s: %s",
								entry_name(rst.plan->items[copy.item].te), copy.errmsg),
						 errdetail("TOC entry %d.", rst.plan->items[copy.item].te->dump_id)));
			}
			if (rst.plan->items[copy.item].state == PGB_ITEM_RUNNING)
			{
				PgbRestoreItem *it = &rst.plan->items[copy.item];
				int			k;

				pgb_restore_plan_done(rst.plan, copy.item);
				rst.done++;
				rst.bytes += copy.bytes;
				rst.loaded_rows[copy.item] = copy.rows;
				if (strcmp(it->te->desc, "TABLE DATA") == 0)
				{
					rst.tables++;
					rst.rows += copy.rows;
				}
				for (k = 0; k < *nrunning; k++)
					if (running[k] == copy.item)
					{
						running[k] = running[--(*nrunning)];
						break;
					}
			}
			idle++;
		}
		else if (copy.state == PGB_RW_IDLE)
			idle++;
		else if (copy.state == PGB_RW_GONE ||
				 (rst.handles[w] && GetBackgroundWorkerPid(rst.handles[w], &pid) == BGWH_STOPPED))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("restore worker %d exited unexpectedly", w)));
	}
	if (TimestampDifferenceExceeds(rst.last_progress, GetCurrentTimestamp(), 500))
	{
		progress("restoring");
		rst.last_progress = GetCurrentTimestamp();
	}
	return idle;
}

static bool
dispatch(int item)
{
	int			w;

	for (w = 0; w < rst.nworkers; w++)
	{
		PgbRestoreWorkerSlot *s = &rst.rs->workers[w];
		bool		taken = false;
		Latch	   *latch = NULL;

		SpinLockAcquire(&rst.rs->mutex);
		if (s->state == PGB_RW_IDLE)
		{
			s->item = item;
			s->state = PGB_RW_ASSIGNED;
			latch = s->latch;
			taken = true;
		}
		SpinLockRelease(&rst.rs->mutex);
		if (taken)
		{
			rst.plan->items[item].state = PGB_ITEM_RUNNING;
			if (latch)
				SetLatch(latch);
			return true;
		}
	}
	return false;
}

static void
wait_workers_ready(void)
{
	for (;;)
	{
		int			w;
		int			ready = 0;

		for (w = 0; w < rst.nworkers; w++)
		{
			PgbRestoreWorkerSlot copy;
			pid_t		pid;

			SpinLockAcquire(&rst.rs->mutex);
			memcpy(&copy, &rst.rs->workers[w], sizeof(copy));
			SpinLockRelease(&rst.rs->mutex);
			if (copy.state == PGB_RW_IDLE)
				ready++;
			else if (copy.state == PGB_RW_DONE && copy.sqlerrcode != 0)
				ereport(ERROR,
						(errcode(copy.sqlerrcode),
						 errmsg("restore worker could not start: %s", copy.errmsg)));
			else if (copy.state == PGB_RW_GONE ||
					 GetBackgroundWorkerPid(rst.handles[w], &pid) == BGWH_STOPPED)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("restore worker %d exited before it was ready", w),
						 errhint("Check the server log; the role \"%s\" must be able to log in.",
								 rst.target->owner)));
		}
		if (ready == rst.nworkers)
			return;
		wait_a_moment();
	}
}

static void
stop_workers(void)
{
	int			w;

	if (rst.rs == NULL)
		return;
	SpinLockAcquire(&rst.rs->mutex);
	for (w = 0; w < rst.nworkers; w++)
		if (rst.rs->workers[w].state != PGB_RW_GONE)
			rst.rs->workers[w].state = PGB_RW_EXIT;
	SpinLockRelease(&rst.rs->mutex);
	for (w = 0; w < rst.nworkers; w++)
	{
		if (rst.rs->workers[w].latch)
			SetLatch(rst.rs->workers[w].latch);
	}
	for (w = 0; w < rst.nworkers; w++)
		if (rst.handles[w])
		{
			pid_t		pid;

			/* an item still running is stopped: the database is dropped */
			if (GetBackgroundWorkerPid(rst.handles[w], &pid) != BGWH_STOPPED)
				TerminateBackgroundWorker(rst.handles[w]);
		}
	for (w = 0; w < rst.nworkers; w++)
		if (rst.handles[w])
		{
			(void) WaitForBackgroundWorkerShutdown(rst.handles[w]);
			pfree(rst.handles[w]);
			rst.handles[w] = NULL;
		}
	rst.nworkers = 0;
}

/*
 * Before a CREATE EXTENSION entry runs (by a worker or by the leader):
 * for an owner who is not a superuser, the schema check.  Nothing else
 * runs meanwhile (pre-data is serial; the parallel phase waits for its
 * running items first).
 */
static void
before_extension(PgbRestoreItem *it)
{
	char	   *name;
	char	   *schema;

	pgb_restore_parse_extension(it->te, &name, &schema);
	if (rst.target->owner_is_superuser)
		return;
	if (rst.staging_conn == NULL)
		rst.staging_conn = pgb_pq_connect(pgb_pq_conninfo(rst.staging));
	check_schema_clean(name, schema);
}

/* an extension the owner may not create: as superuser */
static void
run_extension(PgbRestoreItem *it)
{
	char	   *name;
	char	   *schema;

	pgb_restore_parse_extension(it->te, &name, &schema);
	before_extension(it);
	if (rst.staging_conn == NULL)
		rst.staging_conn = pgb_pq_connect(pgb_pq_conninfo(rst.staging));
	pgb_pq_command(rst.staging_conn, pgb_restore_extension_sql(name, schema));
	rlog("created extension %s in schema %s as superuser", name, schema);
}

/* ---- 4. the restore proper ---- */

static void
run_pre_data(void)
{
	int			i;
	int			running[1];
	int			nrunning = 0;

	for (i = 0; i < rst.plan->nitems; i++)
	{
		PgbRestoreItem *it = &rst.plan->items[i];

		if (!it->pre_data || it->action == PGB_ACT_SKIP)
			continue;
		if (it->action == PGB_ACT_EXTENSION)
		{
			run_extension(it);
			it->state = PGB_ITEM_DONE;
			rst.done++;
			continue;
		}
		if (desc_is(it->te, "EXTENSION"))
			before_extension(it);
		while (!dispatch(i))
		{
			(void) collect(running, &nrunning);
			wait_a_moment();
		}
		running[0] = i;
		nrunning = 1;
		while (nrunning > 0)
		{
			(void) collect(running, &nrunning);
			if (nrunning > 0)
				wait_a_moment();
		}
	}
}

static void
run_parallel(void)
{
	PgbRestorePass pass = PGB_PASS_MAIN;
	int		   *running = palloc(sizeof(int) * rst.nworkers);
	int			nrunning = 0;

	for (;;)
	{
		int			idle = collect(running, &nrunning);
		bool		progressed = false;

		while (idle > 0)
		{
			int			item = pgb_restore_plan_next(rst.plan, pass, running, nrunning);

			if (item < 0)
				break;
			/* an extension is created while nothing else runs */
			if (desc_is(rst.plan->items[item].te, "EXTENSION") && nrunning > 0)
				break;
			if (rst.plan->items[item].action == PGB_ACT_EXTENSION)
			{
				run_extension(&rst.plan->items[item]);
				rst.plan->items[item].state = PGB_ITEM_RUNNING;
				pgb_restore_plan_done(rst.plan, item);
				rst.done++;
				progressed = true;
				continue;
			}
			if (desc_is(rst.plan->items[item].te, "EXTENSION"))
				before_extension(&rst.plan->items[item]);
			if (!dispatch(item))
				break;
			running[nrunning++] = item;
			idle--;
			progressed = true;
		}
		if (nrunning == 0 && !progressed)
		{
			if (pgb_restore_plan_pass_left(rst.plan, PGB_PASS_POST_ACL))
			{
				if (pass < PGB_PASS_POST_ACL)
				{
					pass++;
					rlog("pass %s", pass == PGB_PASS_ACL ? "privileges" : "materialized views and event triggers");
				}
				continue;
			}
			break;
		}
		if (!progressed || idle == 0)
			wait_a_moment();
	}
	pfree(running);
}

/* ---- 5. verification ---- */

static void
verify_rows(void)
{
	const PgbRestoreParams *p = rst.params;
	int			e;
	int			checked = 0;

	if (p->nexpected == 0)
		return;
	for (e = 0; e < p->nexpected; e++)
	{
		int			i;
		bool		found = false;

		for (i = 0; i < rst.plan->nitems; i++)
		{
			PgbTocEntry *te = rst.plan->items[i].te;
			char	   *qname;

			if (strcmp(te->desc, "TABLE DATA") != 0 || rst.plan->items[i].action == PGB_ACT_SKIP)
				continue;
			qname = quote_qualified_identifier(te->namespace, te->tag);
			if (strcmp(qname, p->expected_tables[e]) != 0)
				continue;
			found = true;
			if (rst.loaded_rows[i] != p->expected_rows[e])
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("row count of table %s is " INT64_FORMAT " after the restore, the backup recorded " INT64_FORMAT,
								qname, rst.loaded_rows[i], p->expected_rows[e]),
						 errdetail("The target database was left as it was.")));
			checked++;
		}
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("table %s recorded at capture has no data in the archive",
							p->expected_tables[e])));
	}
	rlog("row counts verified for %d tables", checked);
}

/* ---- 6. catalog carry and swap ---- */

static void
pipe_copy(PGconn *from, PGconn *to, const char *table)
{
	PQclear(pgb_pq_exec(to, psprintf("TRUNCATE %s", table), PGRES_COMMAND_OK));
	PQclear(pgb_pq_exec(from, psprintf("COPY %s TO STDOUT", table), PGRES_COPY_OUT));
	PQclear(pgb_pq_exec(to, psprintf("COPY %s FROM STDIN", table), PGRES_COPY_IN));
	for (;;)
	{
		char	   *buf;
		int			n = PQgetCopyData(from, &buf, 1);

		if (n == 0)
		{
			pgb_pq_wait_socket(from, false);
			if (PQconsumeInput(from) == 0)
				pgb_pq_error(from, NULL, NULL);
			continue;
		}
		if (n == -1)
			break;
		if (n == -2)
			pgb_pq_error(from, NULL, NULL);
		while (PQputCopyData(to, buf, n) == 0)
			pgb_pq_wait_socket(to, true);
		PQfreemem(buf);
	}
	{
		PGresult   *res = PQgetResult(from);

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			pgb_pq_error(from, res, NULL);
		PQclear(res);
		while ((res = PQgetResult(from)) != NULL)
			PQclear(res);
	}
	while (PQputCopyEnd(to, NULL) == 0)
		pgb_pq_wait_socket(to, true);
	while (PQflush(to) > 0)
		pgb_pq_wait_socket(to, true);
	{
		PGresult   *res;

		while ((res = PQgetResult(to)) != NULL)
		{
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				pgb_pq_error(to, res, NULL);
			PQclear(res);
		}
	}
}

/*
 * The target holds this job's catalog: copy the live catalog (every
 * backup, restore, copy and log line, and the id sequences) into the
 * staging database, with this restore already recorded as completed.
 */
static void
carry_catalog(void)
{
	static const char *const tables[] = {
		"pgbackups.backups", "pgbackups.restores", "pgbackups.copies", "pgbackups.logs", NULL
	};
	static const char *const seqs[] = {
		"pgbackups.manual_num_seq", "pgbackups.scheduled_num_seq",
		"pgbackups.restore_num_seq", "pgbackups.copy_num_seq", NULL
	};
	PGconn	   *t = rst.target_conn;
	PGconn	   *s = rst.staging_conn;
	int			i;
	char		tables_s[16];
	char		rows_s[32];
	char		bytes_s[32];
	const char *params[5];

	pgb_pq_command(s, "CREATE EXTENSION IF NOT EXISTS pgbackups");
	pgb_pq_command(t, "BEGIN ISOLATION LEVEL REPEATABLE READ");
	pgb_pq_command(t, "LOCK TABLE pgbackups.backups, pgbackups.restores, pgbackups.copies, "
				   "pgbackups.logs IN EXCLUSIVE MODE");
	pgb_pq_command(s, "BEGIN");
	for (i = 0; tables[i]; i++)
		pipe_copy(t, s, tables[i]);
	for (i = 0; seqs[i]; i++)
	{
		PGresult   *res = pgb_pq_exec(t, psprintf("SELECT last_value, is_called FROM %s", seqs[i]),
									  PGRES_TUPLES_OK);
		const char *sp[3];

		sp[0] = seqs[i];
		sp[1] = PQgetvalue(res, 0, 0);
		sp[2] = PQgetvalue(res, 0, 1);
		PQclear(pgb_pq_exec_params(s, "SELECT pg_catalog.setval($1::regclass, $2::bigint, $3::boolean)",
								   3, sp, PGRES_TUPLES_OK));
		PQclear(res);
	}
	snprintf(tables_s, sizeof(tables_s), "%d", rst.tables);
	snprintf(rows_s, sizeof(rows_s), INT64_FORMAT, rst.rows);
	snprintf(bytes_s, sizeof(bytes_s), INT64_FORMAT, rst.bytes);
	params[0] = rst.params->job_id;
	params[1] = tables_s;
	params[2] = rows_s;
	params[3] = bytes_s;
	PQclear(pgb_pq_exec_params(s, psprintf("UPDATE %s SET status = 'completed', "
										   "finished_at = pg_catalog.now(), tables = $2::integer, rows = $3::bigint, "
										   "bytes = $4::bigint, error = NULL, error_code = NULL WHERE id = $1",
										   pgb_job_kind(rst.params->job_id)->table),
							   4, params, PGRES_COMMAND_OK));
	params[1] = "completed; the new database took over and carries this catalog";
	PQclear(pgb_pq_exec_params(s, "INSERT INTO pgbackups.logs (job_id, message) VALUES ($1, $2)",
							   2, params, PGRES_COMMAND_OK));
	pgb_pq_command(s, "COMMIT");
	pgb_pq_command(t, "COMMIT");
}

static void
pause_target_scheduler(bool pause)
{
	if (pause)
		pgb_scheduler_pause(rst.target->oid, 120000, false);
	else
		pgb_scheduler_resume(rst.target->oid);
	rst.paused = pause;
}

static void
take_over(bool carry)
{
	/*
	 * From here the restore finishes: a cancel arriving while the swap
	 * waits (a lock on pg_database, a session slipping in) could not stop a
	 * rename the server may still commit, so it is not honoured.
	 */
	pgb_pq_set_interrupt_check(NULL);
	rlog("taking over database \"%s\"; cancel requests are ignored from now on", rst.target->name);
	pause_target_scheduler(true);
	if (carry)
	{
		/* the catalog's own connection must not be counted as a session */
		pgb_rcat_close(rst.params->rcat);
		rst.target_conn = pgb_pq_connect(pgb_pq_conninfo(rst.target->name));
		pgb_db_end_sessions(rst.maint, rst.target->name, PQbackendPID(rst.target_conn));
		if (rst.staging_conn == NULL)
			rst.staging_conn = pgb_pq_connect(pgb_pq_conninfo(rst.staging));
		carry_catalog();
		pgb_pq_disconnect(rst.target_conn);
		rst.target_conn = NULL;
	}
	if (rst.staging_conn)
	{
		pgb_pq_disconnect(rst.staging_conn);
		rst.staging_conn = NULL;
	}
	pgb_db_end_sessions(rst.maint, rst.target->name, 0);
	pgb_db_swap(rst.maint, rst.target, rst.staging, rst.old);
	rst.swapped = true;
	pause_target_scheduler(false);
	rlog("database \"%s\" replaced; its earlier sessions were disconnected", rst.target->name);
	PG_TRY();
	{
		pgb_db_drop(rst.maint, rst.old);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
		rlog("could not drop the replaced database \"%s\"; the scheduler drops it later", rst.old);
	}
	PG_END_TRY();
}

/* the maintenance connection and the workers' shared memory */
static void
release_leader(void)
{
	if (rst.maint)
		pgb_pq_disconnect(rst.maint);
	rst.maint = NULL;
	if (rst.seg)
		dsm_detach(rst.seg);
	rst.seg = NULL;
	rst.rs = NULL;
}

void
pgb_restore_run(const PgbRestoreParams *params, const PgbCaptureHooks *hooks,
				PgbRestoreResult *result)
{
	PgbArchiveReader *reader;
	const PgbArchive *ar;
	uint64	   *positions;
	PgbArchiveSession sess;
	int			nworker_items = 0;
	int			i;
	bool		carry;
	TimestampTz read_start;

	memset(&rst, 0, sizeof(rst));
	rst.params = params;
	rst.hooks = hooks;
	memset(result, 0, sizeof(*result));

	/* 1. archive */
	progress("reading archive");
	read_start = GetCurrentTimestamp();
	if (params->expected_sha256)
		reader = open_hashing_reader(params->archive_path);
	else
		reader = pgb_storage_open_reader(params->archive_path, false);
	ar = pgb_reader_read_toc(reader);
	pgb_archive_session(ar, &sess);
	rst.plan = pgb_restore_plan_build(ar, params->keep_acl);
	positions = NULL;
	if (pgb_url_scheme(params->archive_path) == PGB_URL_S3 && rst.hash == NULL)
		positions = positions_from_toc(ar, rst.plan, pgb_reader_size(reader));
	if (positions == NULL)
		positions = scan_blocks(reader, ar, rst.plan);
	if (rst.hash)
	{
		finish_sha256(params->backup ? params->backup : "?", params->expected_sha256);
		if (rst.hash->inner)
		{
			long		secs;
			int			usecs;

			/* the cost of the check: the workers read their entries again */
			TimestampDifference(read_start, GetCurrentTimestamp(), &secs, &usecs);
			rlog("the whole object was read once for its SHA-256: " UINT64_FORMAT " bytes in %ld.%03d s",
				 rst.hash->hashed, secs, usecs / 1000);
		}
	}
	pgb_reader_close(reader);
	rst.hash = NULL;
	rst.loaded_rows = palloc0(sizeof(int64) * Max(ar->ntoc, 1));
	for (i = 0; i < rst.plan->nitems; i++)
	{
		if (rst.plan->items[i].action == PGB_ACT_WORKER)
			nworker_items++;
		if (rst.plan->items[i].action != PGB_ACT_SKIP)
			rst.total++;
	}
	rlog("archive version %d.%d, %s compression, %d TOC entries (%d skipped), written by pg_dump %s",
		 (ar->hdr.version >> 16) & 0xff, (ar->hdr.version >> 8) & 0xff,
		 pgb_compression_name(ar->hdr.compression), ar->ntoc, rst.plan->nskipped,
		 ar->hdr.pgdump_version ? ar->hdr.pgdump_version : "?");

	/* 2. target and prerequisites */
	rst.maint = pgb_db_maintenance_connect(params->target, NULL);
	rst.target = pgb_db_info(rst.maint, params->target);
	if (!rst.target->owner_can_login)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the owner of database \"%s\", role \"%s\", cannot log in",
						rst.target->name, rst.target->owner),
				 errdetail("A restore runs the archive's SQL as the database owner; nothing was changed."),
				 errhint("ALTER ROLE %s LOGIN, or make a role that can log in own the database.",
						 quote_identifier(rst.target->owner))));
	check_extensions(rst.plan);
	carry = rst.target->oid == params->catalog_db;
	rst.staging = pgb_db_staging_name(params->catalog_db, params->job_id, params->target);
	rst.old = pgb_db_old_name(params->catalog_db, params->job_id);

	/* 3. staging database and workers */
	progress("creating staging database");
	pgb_db_create_staging(rst.maint, rst.target, rst.staging);
	rst.created = true;
	rlog("building the restore in database \"%s\"", rst.staging);
	start_workers(Max(1, Min(params->parallel, Max(nworker_items, 1))));
	memcpy(rst.rs->positions, positions, sizeof(uint64) * ar->ntoc);
	wait_workers_ready();

	/* 4. */
	progress("restoring schema");
	run_pre_data();
	rlog("pre-data done: %d of %d entries", rst.done, rst.total);
	progress("restoring data");
	run_parallel();
	for (i = 0; i < rst.plan->nitems; i++)
		if (rst.plan->items[i].action != PGB_ACT_SKIP && rst.plan->items[i].state != PGB_ITEM_DONE)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("restore ended with entry %d not restored", rst.plan->items[i].te->dump_id)));
	stop_workers();
	rlog("data and post-data done: %d tables, " INT64_FORMAT " rows", rst.tables, rst.rows);

	/* 5. */
	verify_rows();

	/* 6. */
	progress("swapping in");
	take_over(carry);

	result->stats.tables = rst.tables;
	result->stats.rows = rst.rows;
	result->stats.bytes = rst.bytes;
	result->catalog_carried = carry;
	release_leader();
}

/*
 * pgb_restore_cleanup
 *		After an error or cancel: stop the workers and drop the staging
 *		database unless the swap committed.  Never raises.
 */
void
pgb_restore_cleanup(void)
{
	PG_TRY();
	{
		stop_workers();
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
	if (rst.hash)
		hash_close(rst.hash);
	rst.hash = NULL;
	if (rst.staging_conn)
		pgb_pq_disconnect(rst.staging_conn);
	rst.staging_conn = NULL;
	if (rst.target_conn)
		pgb_pq_disconnect(rst.target_conn);
	rst.target_conn = NULL;
	if (rst.created || rst.swapped)
	{
		PG_TRY();
		{
			if (rst.maint == NULL || PQstatus(rst.maint) != CONNECTION_OK ||
				PQtransactionStatus(rst.maint) != PQTRANS_IDLE)
			{
				if (rst.maint)
					pgb_pq_disconnect(rst.maint);
				rst.maint = NULL;
				rst.maint = pgb_db_maintenance_connect(rst.params->target, NULL);
			}
			if (rst.swapped)
				pgb_db_drop(rst.maint, rst.old);
			else
				pgb_db_drop(rst.maint, rst.staging);
		}
		PG_CATCH();
		{
			EmitErrorReport();
			FlushErrorState();
		}
		PG_END_TRY();
	}
	if (rst.paused && rst.target)
		pause_target_scheduler(false);
	release_leader();
	rst.created = false;
}
