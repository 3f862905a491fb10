/*-------------------------------------------------------------------------
 *
 * reader_driver.c
 *	  Run archives through the fuzz walk (walk.c) outside libFuzzer, for the
 *	  ASan/UBSan and valgrind builds of test/fuzz/run-asan.sh.
 *
 *	  reader_driver [--expect FILE] ARCHIVE...
 *
 * Every archive is walked four times: from memory (pgb_reader_open_memory)
 * pushing chunks (pgb_reader_read_chunks) in the sequential pass and pulling
 * them (pgb_reader_next_chunk) in the seek pass, from memory the other way
 * round, from the file (pgb_reader_open_file) pulling, and from the file
 * opened with pgb_reader_open_file_session pushing; all four must agree.  One line per
 * archive: "NAME: ok (...)" or "NAME: error SQLSTATE message", followed by
 * "  <- UNEXPECTED ..." when it does not match the expectation.
 *
 * Expectations (--expect) are lines "NAME<TAB>WANT[<TAB>SUBSTRING]" where
 * NAME is the file's base name, WANT is "ok", "error" (any expected
 * SQLSTATE) or a SQLSTATE, and SUBSTRING must occur in the error message.
 * Without a line, an archive in a directory named "bad" must be rejected
 * and any other must be read.  An error with an SQLSTATE other than XX001,
 * 0A000 or 54000 always fails.  Exit status 1 if anything failed.
 *
 * test/fuzz/reader_driver.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "archive.h"
#include "compress.h"

#include "walk.h"

typedef struct Expect
{
	char	   *name;
	char	   *want;
	char	   *substr;
} Expect;

static Expect *expects;
static int	nexpects;

static char *
xstrdup(const char *s)
{
	char	   *d = strdup(s);

	if (d == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return d;
}

static void
load_expect(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		line[4096];
	int			cap = 0;

	if (f == NULL)
	{
		fprintf(stderr, "could not open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f))
	{
		char	   *name,
				   *want,
				   *sub;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		name = strtok(line, "\t");
		want = strtok(NULL, "\t");
		sub = strtok(NULL, "\t");
		if (name == NULL || want == NULL)
		{
			fprintf(stderr, "%s: bad line \"%s\"\n", path, line);
			exit(2);
		}
		if (nexpects == cap)
		{
			cap = cap ? cap * 2 : 64;
			expects = realloc(expects, sizeof(Expect) * cap);
			if (expects == NULL)
				exit(2);
		}
		expects[nexpects].name = xstrdup(name);
		expects[nexpects].want = xstrdup(want);
		expects[nexpects].substr = sub && sub[0] != '#' ? xstrdup(sub) : NULL;
		nexpects++;
	}
	fclose(f);
}

static void
free_expect(void)
{
	int			i;

	for (i = 0; i < nexpects; i++)
	{
		free(expects[i].name);
		free(expects[i].want);
		free(expects[i].substr);
	}
	free(expects);
}

static char *
read_whole(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		cap = 0,
				n = 0,
				got;

	if (f == NULL)
		return NULL;
	for (;;)
	{
		if (n == cap)
		{
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (buf == NULL)
				exit(2);
		}
		got = fread(buf + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	/* an exact-size copy, so that ASan catches a read one past the end */
	{
		char	   *exact = malloc(n ? n : 1);

		if (exact == NULL)
			exit(2);
		memcpy(exact, buf, n);
		free(buf);
		*len = n;
		return exact;
	}
}

static void
describe(const PgbWalkResult *res, char *buf, size_t len)
{
	if (res->ok)
		snprintf(buf, len, "ok (%d.%d %s, %d entries, %d+%d blocks, %d LOs, " UINT64_FORMAT " -> " UINT64_FORMAT " bytes, peak %zu kB)",
				 res->version >> 16, (res->version >> 8) & 0xff,
				 pgb_compression_name(res->compression), res->ntoc,
				 res->blocks_seq, res->blocks_seek, res->blobs,
				 res->payload_bytes, res->raw_bytes, res->peak_bytes / 1024);
	else
		snprintf(buf, len, "error %s %s", res->error.sqlstate, res->error.message);
}

int
main(int argc, char **argv)
{
	int			i,
				failures = 0,
				nfiles = 0,
				nok = 0;

	for (i = 1; i < argc; i++)
	{
		const char *path = argv[i];
		const char *name;
		const char *want = NULL;
		const char *substr = NULL;
		char	   *data;
		size_t		len = 0;
		PgbWalkResult mres,
					res[3];
		static const char *const modes[3] = {"memory, pulling", "the file, pulling", "the session file"};
		char		line[2048];
		char		why[1024] = "";
		int			j;

		if (strcmp(path, "--expect") == 0 && i + 1 < argc)
		{
			load_expect(argv[++i]);
			continue;
		}
		name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		for (j = 0; j < nexpects; j++)
			if (strcmp(expects[j].name, name) == 0)
			{
				want = expects[j].want;
				substr = expects[j].substr;
			}
		if (want == NULL)
			want = strstr(path, "/bad/") || strncmp(path, "bad/", 4) == 0 ? "error" : "ok";

		printf("%s: ", name);
		fflush(stdout);
		data = read_whole(path, &len);
		if (data == NULL)
		{
			printf("cannot read: %s\n", strerror(errno));
			failures++;
			continue;
		}
		nfiles++;
		pgb_shim_set_alloc_limit(PGB_WALK_ALLOC_LIMIT(len));
		pgb_walk_memory(data, len, 0, &mres);
		pgb_walk_memory(data, len, PGB_WALK_PULL, &res[0]);
		pgb_walk_file(path, PGB_WALK_PULL, &res[1]);
		pgb_walk_file(path, PGB_WALK_SESSION, &res[2]);
		free(data);

		describe(&mres, line, sizeof(line));
		if (!pgb_walk_error_expected(&mres))
			snprintf(why, sizeof(why), "SQLSTATE %s is not an expected outcome (%s:%d)",
					 mres.error.sqlstate, mres.error.filename, mres.error.lineno);
		else if (strcmp(want, "ok") == 0 && !mres.ok)
			snprintf(why, sizeof(why), "want ok");
		else if (strcmp(want, "ok") != 0 && mres.ok)
			snprintf(why, sizeof(why), "want %s, the archive was accepted", want);
		else if (!mres.ok && strcmp(want, "error") != 0 && strcmp(want, mres.error.sqlstate) != 0)
			snprintf(why, sizeof(why), "want %s", want);
		else if (!mres.ok && substr && strstr(mres.error.message, substr) == NULL)
			snprintf(why, sizeof(why), "want a message containing \"%s\"", substr);
		else
		{
			for (j = 0; j < 3 && why[0] == '\0'; j++)
			{
				PgbWalkResult *o = &res[j];

				if (mres.ok != o->ok ||
					(!mres.ok && strcmp(mres.error.sqlstate, o->error.sqlstate) != 0) ||
					(mres.ok && (mres.digest != o->digest || mres.raw_bytes != o->raw_bytes ||
								 mres.blocks_seq != o->blocks_seq || mres.blocks_seek != o->blocks_seek)))
				{
					char		oline[1024];

					describe(o, oline, sizeof(oline));
					snprintf(why, sizeof(why), "reading from %s gave: %s", modes[j], oline);
				}
				else if (o->open_files != 0)
					snprintf(why, sizeof(why), "reading from %s left %d file(s) open",
							 modes[j], o->open_files);
			}
		}

		if (why[0])
		{
			printf("%s  <- UNEXPECTED: %s\n", line, why);
			failures++;
		}
		else
		{
			printf("%s\n", line);
			nok++;
		}
		fflush(stdout);
	}
	printf("%d archives, %d as expected, %d unexpected\n", nfiles, nok, failures);
	free_expect();
	return failures ? 1 : 0;
}
