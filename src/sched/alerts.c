/*-------------------------------------------------------------------------
 *
 * alerts.c
 *	  Delivery of pgbackups.alerts to pgbackups.webhook_url.
 *
 * Alerts are queued by triggers in the transaction of the state change
 * itself (a failed job, a missed slot; completed jobs when
 * pgbackups.webhook_on_success is on), so none is lost to a crash.  The
 * database's maintenance worker (bgw/maintenance.c), never its scheduler,
 * POSTs them here one by one, as JSON, one attempt per alert and round: a failure (connection error, timeout, non-2xx) is
 * retried on later turns after 5 s, 10 s, 20 s, ... (at most 10 minutes
 * apart), PGB_ALERT_MAX_ATTEMPTS times in all, then given up with a
 * WARNING.  The URL is set by a superuser, so http:// and internal
 * addresses are allowed; it is never logged with its query string.
 *
 * src/sched/alerts.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "alerts.h"
#include "error_info.h"
#include "catalog_schedule.h"
#include "guc.h"
#include "http.h"

#define ALERTS_PER_TURN 5
#define ATTEMPT_TIMEOUT_S 10L
#define FIRST_RETRY_MS 5000
#define MAX_RETRY_MS (10 * 60 * 1000)

/* one POST; NULL on success, else what went wrong */
static char *
post(const char *url, const char *body)
{
	PgbHttpXfer *x = pgb_http_new("POST", url, true);
	char	   *err = NULL;

	pgb_http_add_header(x, "Content-Type: application/json");
	pgb_http_add_header(x, "User-Agent: pgbackups");
	pgb_http_set_body(x, body, strlen(body));
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, ATTEMPT_TIMEOUT_S);
	pgb_http_perform(x);
	if (!pgb_http_ok(x))
		err = pgb_http_describe(x);
	pgb_http_free(x);
	return err;
}

int
pgb_alerts_deliver(void)
{
	List	   *due;
	ListCell   *lc;

	if (pgb_webhook_url == NULL || pgb_webhook_url[0] == '\0')
		return 0;
	due = pgb_catalog_due_alerts(ALERTS_PER_TURN);
	foreach(lc, due)
	{
		PgbAlertRow *a = lfirst(lc);
		char	   *volatile err = NULL;
		MemoryContext ctx = CurrentMemoryContext;
		int			retry_ms;

		CHECK_FOR_INTERRUPTS();
		PG_TRY();
		{
			err = post(pgb_webhook_url, a->body);
		}
		PG_CATCH();
		{
			ErrorData  *edata = pgb_catch_error(ctx);

			err = pstrdup(edata->message);
			FreeErrorData(edata);
		}
		PG_END_TRY();

		retry_ms = FIRST_RETRY_MS << Min(a->attempts, 10);
		retry_ms = Min(retry_ms, MAX_RETRY_MS);
		pgb_catalog_alert_attempted(a->alert_id, err == NULL, err, retry_ms);
		if (err && a->attempts + 1 >= PGB_ALERT_MAX_ATTEMPTS)
			ereport(WARNING,
					(errmsg("pgbackups: gave up delivering alert %s to %s after %d attempts: %s",
							a->alert_id, pgb_http_redact_url(pgb_webhook_url),
							PGB_ALERT_MAX_ATTEMPTS, err)));
		else if (err)
			ereport(LOG,
					(errmsg("pgbackups: webhook %s: alert %s not delivered (%s); retrying in %d s",
							pgb_http_redact_url(pgb_webhook_url), a->alert_id, err, retry_ms / 1000)));
	}
	return list_length(due);
}
