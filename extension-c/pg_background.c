/*-------------------------------------------------------------------------
 *
 * pg_background.c
 *		Module initialisation, configuration parameters, the names of job
 *		outcomes, and small helpers shared by the launcher and worker code.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/guc.h"

#include "pg_background.h"
#include "pgbg_jobs.h"

PG_MODULE_MAGIC;

int			pgbg_max_workers = 16;
int			pgbg_default_queue_size = 65536;
int			pgbg_worker_timeout = 0;
int			pgbg_log_level = DEBUG1;
int			pgbg_worker_idle_timeout = 1000;
int			pgbg_fetch_rows_per_tuple = 1;
bool		pgbg_durable = true;
int			pgbg_max_held_kb_per_job = 1024 * 1024;
int			pgbg_test_pause_fetch_after = 0;

/* max_held_bytes_per_job: 0 (hold nothing), or at least a megabyte */
static bool
pgbg_check_held_per_job(int *newval, void **extra, GucSource source)
{
	if (*newval > 0 && *newval < 1024)
	{
		GUC_check_errdetail("pg_background.max_held_bytes_per_job must be 0 or at least 1MB.");
		return false;
	}
	return true;
}

/*
 * Our own list: the core's server_message_level_options is not exported on
 * every supported release.
 */
static const struct config_enum_entry pgbg_log_level_options[] = {
	{"debug5", DEBUG5, false},
	{"debug4", DEBUG4, false},
	{"debug3", DEBUG3, false},
	{"debug2", DEBUG2, false},
	{"debug1", DEBUG1, false},
	{"debug", DEBUG2, true},
	{"info", INFO, false},
	{"notice", NOTICE, false},
	{"warning", WARNING, false},
	{"log", LOG, false},
	{NULL, 0, false}
};

/*
 * The one place outcomes get their names.  list_v2 keeps the states of the
 * original pg_background 1.8 ("running" and "stopped", to which we add
 * "canceled" and "error"), so that existing callers of list_v2 keep
 * working; a job lost without a report is an "error" there.  fetch_v2's
 * final "done" row, documented in the README, says what is known:
 * "completed", "error", "canceled" or "lost".
 */
const PgbgOutcomeName pgbg_outcome_names[PGBG_NUM_OUTCOMES] = {
	[PGBG_RUNNING] = {"running", "running"},
	[PGBG_COMPLETED] = {"completed", "stopped"},
	[PGBG_FAILED] = {"error", "error"},
	[PGBG_CANCELED] = {"canceled", "canceled"},
	[PGBG_LOST] = {"lost", "error"},
};

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * A per-session quota.  SUSET so that an unprivileged user cannot lift
	 * the limit an administrator chose; every launched worker holds a
	 * max_worker_processes slot.  The session's handles count whatever role
	 * launched them; only the jobs of a SECURITY DEFINER function whose owner
	 * the caller cannot act as count against that owner instead
	 * (pgbg_count_held).
	 */
	DefineCustomIntVariable("pg_background.max_workers",
							"Maximum number of pg_background workers one session may hold at a time.",
							"Counts the handles not released yet (running or finished but unread), whichever role launched them; jobs of a SECURITY DEFINER function whose owner the caller cannot act as count against that owner.",
							&pgbg_max_workers,
							16, 1, 1024,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_background.default_queue_size",
							"Size of the result queue used when queue_size is 0.",
							NULL,
							&pgbg_default_queue_size,
							65536, PGBG_MIN_QUEUE_SIZE, PGBG_MAX_QUEUE_SIZE,
							PGC_USERSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_background.worker_timeout",
							"Maximum run time of a pg_background job (0 disables).",
							"Measured from the start of the job; the job is canceled with SQLSTATE 57014 when it expires.",
							&pgbg_worker_timeout,
							0, 0, PGBG_MAX_TIMEOUT_MS,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("pg_background.log_level",
							 "Message level of pg_background lifecycle log entries.",
							 "Launch, start, completion and release of workers are logged at this level.",
							 &pgbg_log_level,
							 DEBUG1, pgbg_log_level_options,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	/*
	 * Starting a process costs far more than a short job (fork, then
	 * InitPostgres with cold caches).  A worker whose job completed can wait
	 * this long for the next job of the same session instead of exiting.
	 * Each idle worker holds a max_worker_processes slot, hence a short
	 * default and a hard limit.
	 */
	DefineCustomIntVariable("pg_background.worker_idle_timeout",
							"How long a worker whose job completed waits for the next job of the same session.",
							"0 makes every job start a new worker process.  An idle worker occupies a max_worker_processes slot.",
							&pgbg_worker_idle_timeout,
							1000, 0, 60000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * fetch_v2 returns one row per tuple unless the caller asks for more:
	 * existing callers keep the "row" kind they know.
	 */
	DefineCustomIntVariable("pg_background.fetch_rows_per_tuple",
							"Rows of a job's result that pg_background_fetch_v2 returns in one tuple.",
							"1 returns each row as kind 'row'; more returns up to this many consecutive rows of one statement as kind 'rows', a JSON array of rows.",
							&pgbg_fetch_rows_per_tuple,
							1, 1, PGBG_MAX_ROWS_PER_TUPLE,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	/*
	 * Durable jobs: the worker keeps what it sent until the reader
	 * acknowledges it, and holds it in a file when the reader's session
	 * ends.  Off gives a job exactly the behaviour of 1.9 (output lost with
	 * its reader).  Captured at launch.
	 */
	DefineCustomBoolVariable("pg_background.durable",
							 "Keep a job's output for another session when its launcher's session ends.",
							 "Applies to jobs launched with pg_background_launch_v2 while it is on.",
							 &pgbg_durable,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	/* SUSET: held output takes disk space an administrator budgets */
	DefineCustomIntVariable("pg_background.max_held_bytes_per_job",
							"Largest amount of output held for one job whose reader went away.",
							"Beyond it the rest of the job's output is discarded (the job keeps running); 0 holds nothing.",
							&pgbg_max_held_kb_per_job,
							1024 * 1024, 0, 1024 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB,
							pgbg_check_held_per_job, NULL, NULL);

	/*
	 * Tests only: fetch_v2 stops (interruptibly, wait event Extension)
	 * after putting this many rows into its result, so that a test can
	 * kill a session while a batch is in flight.
	 */
	DefineCustomIntVariable("pg_background.test_pause_fetch_after",
							"Testing: pause fetch_v2 after this many rows of a batch.",
							NULL,
							&pgbg_test_pause_fetch_after,
							0, 0, PG_INT32_MAX,
							PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);

	/*
	 * The server-wide pool of idle workers (pgbg_pool.c).  Off by default: a
	 * pooled worker outlives its session, which issue 9 asked kept workers
	 * not to do.  SIGHUP: an administrator decides how many slots may be
	 * held this way; the server-wide bound (a quarter of
	 * max_worker_processes) is not a setting.
	 */
	DefineCustomIntVariable("pg_background.pool_size",
							"Idle workers per database and role kept for the first job of new sessions.",
							"0 turns the pool off: a kept worker exits when its session ends.  At most a quarter of max_worker_processes are pooled server-wide.",
							&pgbg_pool_size,
							0, 0, PGBG_POOL_SLOTS,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_background.pool_idle_timeout",
							"How long a pooled worker waits for a job before it exits.",
							"Applies to workers that enter the pool after it is set.",
							&pgbg_pool_idle_timeout,
							60000, 100, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/* the server-wide job registry's settings and, if preloaded, memory */
	pgbg_jobs_init();

	MarkGUCPrefixReserved("pg_background");
}

/*
 * Raise a clear error when a SQL-level argument is NULL.  Our functions are
 * not STRICT on purpose: STRICT would silently turn a NULL SQL string into a
 * NULL result, hiding the mistake.
 */
void
pgbg_check_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be NULL", argname)));
}

/* Range check for integer arguments, with a message naming the bounds. */
void
pgbg_check_range(const char *what, int64 value, int64 min, int64 max)
{
	if (value < min || value > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between " INT64_FORMAT " and " INT64_FORMAT ", got " INT64_FORMAT,
						what, min, max, value)));
}

/*
 * Copy a string into a fixed buffer, cutting it at a character boundary
 * and marking the cut with "...".
 */
void
pgbg_copy_clipped(char *dst, const char *src, int dstlen)
{
	int			len = strlen(src);

	if (len < dstlen)
	{
		memcpy(dst, src, len + 1);
		return;
	}
	len = pg_mbcliplen(src, len, dstlen - 4);
	memcpy(dst, src, len);
	strcpy(dst + len, "...");
}
