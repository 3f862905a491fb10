/*-------------------------------------------------------------------------
 *
 * bgw_start.c
 *	  Starting a pgbackups dynamic background worker.
 *
 * Every pgbackups process but the launcher is a dynamic worker that is
 * never restarted by the postmaster and notifies the process that started
 * it, which keeps its BackgroundWorkerHandle to learn of its exit.
 *
 * src/bgw/bgw_start.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "bgw_start.h"

bool
pgb_bgw_start(const PgbBgwSpec *spec, MemoryContext mcxt,
			  BackgroundWorkerHandle **handle)
{
	BackgroundWorker bgw;
	MemoryContext old;
	bool		ok;

	Assert(spec->extra_len <= BGW_EXTRALEN);
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS;
	if (spec->database)
		bgw.bgw_flags |= BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(bgw.bgw_library_name, "pgbackups", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, spec->function, BGW_MAXLEN);
	strlcpy(bgw.bgw_name, spec->name, BGW_MAXLEN);
	strlcpy(bgw.bgw_type, spec->type, BGW_MAXLEN);
	bgw.bgw_main_arg = spec->main_arg;
	if (spec->extra_len > 0)
		memcpy(bgw.bgw_extra, spec->extra, spec->extra_len);
	bgw.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(mcxt ? mcxt : CurrentMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&bgw, handle);
	MemoryContextSwitchTo(old);
	return ok;
}
