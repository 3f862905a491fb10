/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  What differs between the supported server versions (15, 16, 17, 18,
 *	  19), in one place.  Code elsewhere tests these names, never
 *	  PG_VERSION_NUM (except to compare pg_dump's major version with the
 *	  server's), so the path a version takes is read here.  16 is not
 *	  built or tested here (Debian has no 16 source); its path is the one
 *	  each test below gives it.
 *
 * src/module/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_COMPAT_H
#define PGB_COMPAT_H

/*
 * Default archive compression: the best the server's own pg_restore reads.
 * pg_restore 15 reads only gzip (archive 1.14); 16 and later read lz4 and
 * zstd (archive 1.15+), and zstd compresses best at similar speed.
 */
#if PG_VERSION_NUM >= 160000
#define PGB_DEFAULT_COMPRESSION "zstd"
#else
#define PGB_DEFAULT_COMPRESSION "gzip"
#endif

/* pg_dump --filter=FILE (17+): no argument per excluded table */
#define PGB_HAVE_PGDUMP_FILTER (PG_VERSION_NUM >= 170000)

/*
 * Planner statistics in the archive (pg_dump --statistics, STATISTICS DATA
 * entries restored with pg_restore_relation_stats/pg_restore_attribute_stats):
 * 18+.
 */
#define PGB_HAVE_STATISTICS (PG_VERSION_NUM >= 180000)

/* does roleid own database dbid (16 made the per-class checks one function) */
#if PG_VERSION_NUM >= 160000
#define pgb_database_ownercheck(dbid, roleid) \
	object_ownercheck(DatabaseRelationId, (dbid), (roleid))
#else
#define pgb_database_ownercheck(dbid, roleid) pg_database_ownercheck((dbid), (roleid))
#endif

/*
 * The locale options of CREATE DATABASE for pg_database row "d", as two SQL
 * expressions: the provider name, then the options after it.  16 added ICU
 * rules; 17 renamed daticulocale to datlocale and added the builtin provider.
 */
#if PG_VERSION_NUM >= 170000
#define PGB_SQL_DB_LOCALE_PROVIDER \
	"CASE d.datlocprovider WHEN 'i' THEN 'icu' WHEN 'b' THEN 'builtin' ELSE 'libc' END"
#define PGB_SQL_DB_LOCALE_OPTIONS \
	"CASE d.datlocprovider WHEN 'i' THEN format(' ICU_LOCALE %L', d.datlocale) " \
	"  WHEN 'b' THEN format(' BUILTIN_LOCALE %L', d.datlocale) ELSE '' END || " \
	"CASE WHEN d.daticurules IS NOT NULL THEN format(' ICU_RULES %L', d.daticurules) ELSE '' END"
#elif PG_VERSION_NUM >= 160000
#define PGB_SQL_DB_LOCALE_PROVIDER \
	"CASE d.datlocprovider WHEN 'i' THEN 'icu' ELSE 'libc' END"
#define PGB_SQL_DB_LOCALE_OPTIONS \
	"CASE WHEN d.daticulocale IS NOT NULL THEN format(' ICU_LOCALE %L', d.daticulocale) ELSE '' END || " \
	"CASE WHEN d.daticurules IS NOT NULL THEN format(' ICU_RULES %L', d.daticurules) ELSE '' END"
#else
#define PGB_SQL_DB_LOCALE_PROVIDER \
	"CASE d.datlocprovider WHEN 'i' THEN 'icu' ELSE 'libc' END"
#define PGB_SQL_DB_LOCALE_OPTIONS \
	"CASE WHEN d.daticulocale IS NOT NULL THEN format(' ICU_LOCALE %L', d.daticulocale) ELSE '' END"
#endif

/*
 * A WaitEventSet owned by the caller, who frees it (a memory context reset
 * callback does on error paths): 17 allocates it in TopMemoryContext under
 * an optional resource owner, 15-16 in the given context.
 */
#if PG_VERSION_NUM >= 170000
#define pgb_create_wait_event_set(cxt, nevents) CreateWaitEventSet(NULL, (nevents))
#else
#define pgb_create_wait_event_set(cxt, nevents) CreateWaitEventSet((cxt), (nevents))
#endif

/* the relcache's "storage new in this subtransaction" (16 renamed it) */
#if PG_VERSION_NUM >= 160000
#define pgb_rd_new_storage_subid(rel) ((rel)->rd_newRelfilelocatorSubid)
#else
#define pgb_rd_new_storage_subid(rel) ((rel)->rd_newRelfilenodeSubid)
#endif

/* the relcache's "storage first made in this subtransaction" (16 renamed it) */
#if PG_VERSION_NUM >= 160000
#define pgb_rd_first_storage_subid(rel) ((rel)->rd_firstRelfilelocatorSubid)
#else
#define pgb_rd_first_storage_subid(rel) ((rel)->rd_firstRelfilenodeSubid)
#endif

/*
 * A function that does not return: 18 marks it before the declaration
 * (pg_noreturn), 15-17 after it (pg_attribute_noreturn(), gone in 18).
 * GCC and clang take the attribute in front as well.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

#endif							/* PGB_COMPAT_H */
