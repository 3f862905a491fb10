/*-------------------------------------------------------------------------
 *
 * fuzz_reader.c
 *	  libFuzzer target for the archive reader and the decompressors.
 *
 * Each input is an archive in memory (pgb_reader_open_memory).  The walk
 * (walk.c) reads the TOC, walks every block sequentially and by seek,
 * decompresses every data item and large object with an 8 MB cap per item
 * (chunks pushed by pgb_reader_read_chunks or pulled by
 * pgb_reader_next_chunk),
 * and catches ereport(ERROR).  An error with SQLSTATE XX001, 0A000 or 54000
 * is the expected outcome for bad input; crashes, sanitizer reports, leaks,
 * timeouts, an allocation beyond the harness limit and any other SQLSTATE
 * are findings.  Build and run with test/fuzz/run-fuzz.sh.
 *
 * test/fuzz/fuzz_reader.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "walk.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PgbWalkResult res;

	pgb_shim_set_alloc_limit(PGB_WALK_ALLOC_LIMIT(size));
	/* pull or push chunks in the sequential pass, by the input's length */
	pgb_walk_memory((const char *) data, size, (size & 1) ? PGB_WALK_PULL : 0, &res);
	if (!pgb_walk_error_expected(&res))
	{
		fprintf(stderr, "unexpected error %s: %s (%s:%d)\n",
				res.error.sqlstate, res.error.message,
				res.error.filename, res.error.lineno);
		abort();
	}
	if (res.open_files != 0)
	{
		fprintf(stderr, "the reader left %d file(s) open\n", res.open_files);
		abort();
	}
	return 0;
}
