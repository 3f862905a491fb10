/*-------------------------------------------------------------------------
 *
 * pgb_shim.c
 *	  Backend runtime stand-ins for running src/archive/archive_reader.c and
 *	  src/archive/compress.c outside the server.  See pgb_shim.h.
 *
 * test/fuzz/shim/pgb_shim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/stringinfo.h"
#include "nodes/memnodes.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "pgb_shim.h"

/* ---------------------------------------------------------------------
 * memory contexts
 * ---------------------------------------------------------------------
 */

#define SHIM_CHUNK_MAGIC UINT64CONST(0x5047425348494d21)

typedef struct ShimContext ShimContext;

/* every palloc'd chunk is its own malloc block, this header in front */
typedef struct ShimChunk
{
	struct ShimChunk *prev;
	struct ShimChunk *next;
	ShimContext *cxt;
	size_t		size;
	uint64		magic;
	uint64		pad;			/* keep the payload 16-byte aligned */
} ShimChunk;

struct ShimContext
{
	MemoryContextData hdr;		/* reset_cbs lives here */
	ShimChunk	head;			/* circular list of chunks */
	size_t		bytes;
	size_t		peak;
};

MemoryContext CurrentMemoryContext = NULL;

static size_t alloc_limit = 0;

static void
shim_abort(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "pgb_shim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	abort();
}

MemoryContext
pgb_shim_context_create(const char *name)
{
	ShimContext *c = calloc(1, sizeof(ShimContext));

	if (c == NULL)
		shim_abort("out of memory creating context \"%s\"", name);
	c->hdr.type = T_AllocSetContext;
	c->hdr.isReset = true;
	c->hdr.name = name;
	c->head.prev = c->head.next = &c->head;
	return &c->hdr;
}

static ShimContext *
shim_cxt(MemoryContext cxt)
{
	if (cxt == NULL)
		shim_abort("palloc with no current memory context");
	return (ShimContext *) cxt;
}

void
pgb_shim_context_reset(MemoryContext cxt)
{
	ShimContext *c = shim_cxt(cxt);
	MemoryContextCallback *cb;

	/* as MemoryContextCallResetCallbacks: unlink each before calling it */
	while ((cb = c->hdr.reset_cbs) != NULL)
	{
		c->hdr.reset_cbs = cb->next;
		cb->func(cb->arg);
	}
	while (c->head.next != &c->head)
	{
		ShimChunk  *ch = c->head.next;

		c->head.next = ch->next;
		ch->magic = 0;
		free(ch);
	}
	c->head.prev = &c->head;
	c->bytes = 0;
	c->hdr.isReset = true;
}

void
pgb_shim_context_delete(MemoryContext cxt)
{
	if (CurrentMemoryContext == cxt)
		CurrentMemoryContext = NULL;
	pgb_shim_context_reset(cxt);
	free(cxt);
}

size_t
pgb_shim_context_bytes(MemoryContext cxt)
{
	return shim_cxt(cxt)->bytes;
}

size_t
pgb_shim_context_peak(MemoryContext cxt)
{
	return shim_cxt(cxt)->peak;
}

void
pgb_shim_set_alloc_limit(size_t bytes)
{
	alloc_limit = bytes;
}

static void
account(ShimContext *c, size_t oldsize, size_t newsize)
{
	if (alloc_limit > 0 && newsize > oldsize &&
		c->bytes + (newsize - oldsize) > alloc_limit)
		shim_abort("context \"%s\": a request for %zu bytes would bring it to %zu bytes, over the harness limit of %zu "
				   "(an allocation driven by an unchecked length or count?)",
				   c->hdr.name, newsize, c->bytes + (newsize - oldsize), alloc_limit);
	c->bytes = c->bytes - oldsize + newsize;
	c->peak = Max(c->peak, c->bytes);
}

static void *
shim_alloc(MemoryContext cxt, Size size, int flags)
{
	ShimContext *c = shim_cxt(cxt);
	ShimChunk  *ch;

	if (!((flags & MCXT_ALLOC_HUGE) ? AllocHugeSizeIsValid(size) : AllocSizeIsValid(size)))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	account(c, 0, size);
	ch = (flags & MCXT_ALLOC_ZERO) ? calloc(1, sizeof(ShimChunk) + size) : malloc(sizeof(ShimChunk) + size);
	if (ch == NULL)
	{
		c->bytes -= size;
		if (flags & MCXT_ALLOC_NO_OOM)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu in memory context \"%s\".",
						   size, c->hdr.name)));
	}
	ch->cxt = c;
	ch->size = size;
	ch->magic = SHIM_CHUNK_MAGIC;
	ch->next = c->head.next;
	ch->prev = &c->head;
	c->head.next->prev = ch;
	c->head.next = ch;
	c->hdr.isReset = false;
	return ch + 1;
}

static ShimChunk *
chunk_of(void *p, const char *what)
{
	ShimChunk  *ch = (ShimChunk *) p - 1;

	if (p == NULL)
		shim_abort("%s(NULL)", what);
	if (ch->magic != SHIM_CHUNK_MAGIC)
		shim_abort("%s of a pointer palloc did not return, or of a freed chunk", what);
	return ch;
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return shim_alloc(context, size, 0);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return shim_alloc(context, size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocZeroAligned(MemoryContext context, Size size)
{
	return shim_alloc(context, size, MCXT_ALLOC_ZERO);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return shim_alloc(context, size, flags);
}

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return shim_alloc(context, size, MCXT_ALLOC_HUGE);
}

void *
palloc(Size size)
{
	return shim_alloc(CurrentMemoryContext, size, 0);
}

void *
palloc0(Size size)
{
	return shim_alloc(CurrentMemoryContext, size, MCXT_ALLOC_ZERO);
}

void *
palloc_extended(Size size, int flags)
{
	return shim_alloc(CurrentMemoryContext, size, flags);
}

void
pfree(void *pointer)
{
	ShimChunk  *ch = chunk_of(pointer, "pfree");

	ch->prev->next = ch->next;
	ch->next->prev = ch->prev;
	ch->cxt->bytes -= ch->size;
	ch->magic = 0;
	free(ch);
}

static void *
shim_realloc(void *pointer, Size size, bool huge)
{
	ShimChunk  *ch = chunk_of(pointer, "repalloc");
	ShimContext *c = ch->cxt;
	ShimChunk  *nch;

	if (!(huge ? AllocHugeSizeIsValid(size) : AllocSizeIsValid(size)))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	account(c, ch->size, size);
	nch = realloc(ch, sizeof(ShimChunk) + size);
	if (nch == NULL)
	{
		c->bytes = c->bytes - size + ch->size;
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu in memory context \"%s\".",
						   size, c->hdr.name)));
	}
	nch->size = size;
	nch->prev->next = nch;
	nch->next->prev = nch;
	return nch + 1;
}

void *
repalloc(void *pointer, Size size)
{
	return shim_realloc(pointer, size, false);
}

void *
repalloc_huge(void *pointer, Size size)
{
	return shim_realloc(pointer, size, true);
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	size_t		len = strlen(string) + 1;
	char	   *s = shim_alloc(context, len, 0);

	memcpy(s, string, len);
	return s;
}

char *
pstrdup(const char *in)
{
	return MemoryContextStrdup(CurrentMemoryContext, in);
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *s;

	len = strnlen(in, len);
	s = palloc(len + 1);
	memcpy(s, in, len);
	s[len] = '\0';
	return s;
}

void
MemoryContextRegisterResetCallback(MemoryContext context, MemoryContextCallback *cb)
{
	ShimContext *c = shim_cxt(context);

	cb->next = c->hdr.reset_cbs;
	c->hdr.reset_cbs = cb;
	c->hdr.isReset = false;
}

/* ---------------------------------------------------------------------
 * ereport / elog
 * ---------------------------------------------------------------------
 */

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

static PgbShimError cur;		/* the report being built */
static int	cur_errno;
static bool cur_active;
static PgbShimError last;		/* the last ERROR */

bool
errstart(int elevel, const char *domain)
{
	/* nothing below WARNING is interesting here; skip building it */
	if (elevel < WARNING)
		return false;
	if (cur_active)
		shim_abort("ereport() while another report is being built");
	memset(&cur, 0, sizeof(cur));
	cur.elevel = elevel;
	cur.sqlerrcode = elevel >= ERROR ? ERRCODE_INTERNAL_ERROR : ERRCODE_WARNING;
	cur_errno = errno;
	cur_active = true;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	cur.sqlerrcode = sqlerrcode;
	return 0;
}

int
errcode_for_file_access(void)
{
	switch (cur_errno)
	{
		case EPERM:
		case EACCES:
#ifdef EROFS
		case EROFS:
#endif
			cur.sqlerrcode = ERRCODE_INSUFFICIENT_PRIVILEGE;
			break;
		case ENOENT:
			cur.sqlerrcode = ERRCODE_UNDEFINED_FILE;
			break;
		case EEXIST:
			cur.sqlerrcode = ERRCODE_DUPLICATE_FILE;
			break;
		case ENOTDIR:
		case EISDIR:
		case ENOTEMPTY:
			cur.sqlerrcode = ERRCODE_WRONG_OBJECT_TYPE;
			break;
		case ENOSPC:
			cur.sqlerrcode = ERRCODE_DISK_FULL;
			break;
		case ENFILE:
		case EMFILE:
			cur.sqlerrcode = ERRCODE_INSUFFICIENT_RESOURCES;
			break;
		case EIO:
			cur.sqlerrcode = ERRCODE_IO_ERROR;
			break;
		default:
			cur.sqlerrcode = ERRCODE_INTERNAL_ERROR;
			break;
	}
	return 0;
}

/* vsnprintf is pg_vsnprintf here, which expands %m from errno */
#define SHIM_FORMAT(field, fmt) \
	do { \
		va_list		ap_; \
		errno = cur_errno; \
		va_start(ap_, fmt); \
		vsnprintf((field), sizeof(field), (fmt), ap_); \
		va_end(ap_); \
	} while (0)

int
errmsg(const char *fmt,...)
{
	SHIM_FORMAT(cur.message, fmt);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	SHIM_FORMAT(cur.message, fmt);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	SHIM_FORMAT(cur.detail, fmt);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	SHIM_FORMAT(cur.detail, fmt);
	return 0;
}

int
errhint(const char *fmt,...)
{
	SHIM_FORMAT(cur.hint, fmt);
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	int			i;

	cur.filename = filename;
	cur.lineno = lineno;
	cur.funcname = funcname;
	for (i = 0; i < 5; i++)
		cur.sqlstate[i] = PGUNSIXBIT(cur.sqlerrcode >> (6 * i));
	cur.sqlstate[5] = '\0';
	cur_active = false;

	if (cur.elevel < ERROR)
	{
		if (getenv("PGB_SHIM_VERBOSE"))
			fprintf(stderr, "WARNING: %s (%s:%d)\n", cur.message, filename, lineno);
		return;
	}
	last = cur;
	if (cur.elevel >= FATAL)
		shim_abort("%s %s: %s (%s:%d)", cur.elevel >= PANIC ? "PANIC" : "FATAL",
				   cur.sqlstate, cur.message, filename, lineno);
	if (PG_exception_stack == NULL)
		shim_abort("ERROR outside PG_TRY: %s: %s (%s:%d)", cur.sqlstate, cur.message,
				   filename, lineno);
	siglongjmp(*PG_exception_stack, 1);
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
		shim_abort("PG_RE_THROW outside PG_TRY: %s: %s", last.sqlstate, last.message);
	siglongjmp(*PG_exception_stack, 1);
}

const PgbShimError *
pgb_shim_last_error(void)
{
	return &last;
}

/* ---------------------------------------------------------------------
 * AllocateFile / FreeFile
 * ---------------------------------------------------------------------
 */

#define SHIM_MAX_FILES 32

static FILE *open_files[SHIM_MAX_FILES];

FILE *
AllocateFile(const char *name, const char *mode)
{
	int			i;
	FILE	   *f;

	for (i = 0; i < SHIM_MAX_FILES; i++)
		if (open_files[i] == NULL)
			break;
	if (i == SHIM_MAX_FILES)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("exceeded maxAllocatedDescs (%d) while trying to open file \"%s\"",
						SHIM_MAX_FILES, name)));
	f = fopen(name, mode);
	open_files[i] = f;
	return f;
}

int
FreeFile(FILE *file)
{
	int			i;

	for (i = 0; i < SHIM_MAX_FILES; i++)
		if (open_files[i] == file)
		{
			open_files[i] = NULL;
			return fclose(file);
		}
	shim_abort("FreeFile of a file AllocateFile did not open");
	return EOF;
}

int
pgb_shim_close_files(void)
{
	int			i,
				n = 0;

	for (i = 0; i < SHIM_MAX_FILES; i++)
		if (open_files[i] != NULL)
		{
			fclose(open_files[i]);
			open_files[i] = NULL;
			n++;
		}
	return n;
}

/* external FDs (fopen'ed by the caller itself) are only counted */
static int	external_fds;

bool
AcquireExternalFD(void)
{
	if (external_fds >= SHIM_MAX_FILES)
		return false;
	external_fds++;
	return true;
}

void
ReserveExternalFD(void)
{
	external_fds++;
}

void
ReleaseExternalFD(void)
{
	if (external_fds <= 0)
		shim_abort("ReleaseExternalFD without AcquireExternalFD");
	external_fds--;
}

int
pgb_shim_external_fds(void)
{
	return external_fds;
}

/* ---------------------------------------------------------------------
 * StringInfo, with the backend's behaviour: libpgcommon's frontend
 * enlargeStringInfo() prints and exit()s where the backend raises an
 * ERROR, so the (small) implementation is here instead
 * ---------------------------------------------------------------------
 */

StringInfo
makeStringInfo(void)
{
	StringInfo	res = (StringInfo) palloc(sizeof(StringInfoData));

	initStringInfo(res);
	return res;
}

void
initStringInfo(StringInfo str)
{
	int			size = 1024;

	str->data = (char *) palloc(size);
	str->maxlen = size;
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0)
		elog(ERROR, "invalid string enlargement request size: %d", needed);
	if (((Size) needed) >= (MaxAllocSize - (Size) str->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("out of memory"),
				 errdetail("Cannot enlarge string buffer containing %d bytes by %d more bytes.",
						   str->len, needed)));
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	if (newlen > (int) MaxAllocSize)
		newlen = (int) MaxAllocSize;
	str->data = (char *) repalloc(str->data, newlen);
	str->maxlen = newlen;
}

/* the data argument is const void * from 16 on, const char * before */
#if PG_VERSION_NUM >= 160000
typedef const void *shim_bin_data;
#else
typedef const char *shim_bin_data;
#endif

void
appendBinaryStringInfoNT(StringInfo str, shim_bin_data data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
}

void
appendBinaryStringInfo(StringInfo str, shim_bin_data data, int datalen)
{
	appendBinaryStringInfoNT(str, data, datalen);
	str->data[str->len] = '\0';
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	if (str->len + 1 >= str->maxlen)
		enlargeStringInfo(str, 1);
	str->data[str->len] = ch;
	str->len++;
	str->data[str->len] = '\0';
}

void
appendStringInfoSpaces(StringInfo str, int count)
{
	if (count > 0)
	{
		enlargeStringInfo(str, count);
		memset(str->data + str->len, ' ', count);
		str->len += count;
		str->data[str->len] = '\0';
	}
}

int
appendStringInfoVA(StringInfo str, const char *fmt, va_list args)
{
	int			avail = str->maxlen - str->len;
	size_t		nprinted;

	if (avail < 16)
		return 32;
	nprinted = pvsnprintf(str->data + str->len, (size_t) avail, fmt, args);
	if (nprinted < (size_t) avail)
	{
		str->len += (int) nprinted;
		return 0;
	}
	str->data[str->len] = '\0';
	return (int) nprinted;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	int			save_errno = errno;

	for (;;)
	{
		va_list		args;
		int			needed;

		errno = save_errno;
		va_start(args, fmt);
		needed = appendStringInfoVA(str, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(str, needed);
	}
}
