/*-------------------------------------------------------------------------
 *
 * pgb_shim.h
 *	  A minimal stand-in for the backend runtime, so that src/archive/archive_reader.c
 *	  and src/archive/compress.c run unmodified in a plain executable (the libFuzzer
 *	  target and the ASan/valgrind driver in test/fuzz).
 *
 * The sources are compiled against the real PostgreSQL 15 server headers
 * (pg_config --includedir-server), so ereport(), palloc() and friends expand
 * exactly as they do in the backend.  What the backend would supply at run
 * time comes from three places:
 *
 *	- libpgcommon.a (frontend): psprintf, pvsnprintf
 *	- libpgport.a: pg_vsnprintf (with %m), pg_qsort, qsort_arg, strlcpy,
 *	  pg_strcasecmp
 *	- pgb_shim.c: memory contexts, palloc and friends, reset callbacks,
 *	  ereport/elog, PG_TRY's exception stack, AllocateFile/FreeFile,
 *	  Acquire/ReleaseExternalFD (counted), and StringInfo (libpgcommon's
 *	  frontend enlargeStringInfo exit()s where the backend raises an ERROR)
 *
 * Memory contexts are arenas of individually malloc'd chunks (so ASan and
 * valgrind see every allocation with exact bounds).  Resetting or deleting
 * a context runs its reset callbacks, newest first, then frees every chunk,
 * as the backend does when a transaction aborts.  ereport(ERROR) records the
 * SQLSTATE and the messages and siglongjmps to the innermost PG_TRY, exactly
 * like the backend; an ERROR with no PG_TRY, FATAL and PANIC abort().
 *
 * test/fuzz/shim/pgb_shim.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGB_SHIM_H
#define PGB_SHIM_H

#include "postgres.h"

typedef struct PgbShimError
{
	int			elevel;
	int			sqlerrcode;
	char		sqlstate[6];
	char		message[1024];
	char		detail[1024];
	char		hint[512];
	const char *filename;
	int			lineno;
	const char *funcname;
} PgbShimError;

/* a fresh arena; it does not become CurrentMemoryContext */
extern MemoryContext pgb_shim_context_create(const char *name);

/* run the reset callbacks (newest first), then free every chunk */
extern void pgb_shim_context_reset(MemoryContext cxt);
extern void pgb_shim_context_delete(MemoryContext cxt);

/* bytes currently allocated, and the most ever allocated at once */
extern size_t pgb_shim_context_bytes(MemoryContext cxt);
extern size_t pgb_shim_context_peak(MemoryContext cxt);

/*
 * Abort (a finding, not an expected error) when the chunks of one context
 * would exceed this many bytes; 0 turns the check off.  This catches
 * allocations driven by an unchecked length or count in the input long
 * before they reach palloc's 1 GB limit.
 */
extern void pgb_shim_set_alloc_limit(size_t bytes);

/* the last ereport(ERROR) */
extern const PgbShimError *pgb_shim_last_error(void);

/*
 * Close files that AllocateFile opened and nobody closed (what the backend
 * does at transaction end); returns how many there were.
 */
extern int	pgb_shim_close_files(void);

/* AcquireExternalFD() calls not yet released */
extern int	pgb_shim_external_fds(void);

#endif							/* PGB_SHIM_H */
