/*-------------------------------------------------------------------------
 *
 * pgbg_funcs.c
 *		The SQL-callable functions of pg_background.
 *
 * None of them is STRICT: a NULL argument gets an error naming it (SQLSTATE
 * 22004) instead of a silent NULL result.  Range checks raise 22023.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pg_background.h"
#include "pgbg_durable.h"

PG_FUNCTION_INFO_V1(pg_background_launch);
PG_FUNCTION_INFO_V1(pg_background_result);
PG_FUNCTION_INFO_V1(pg_background_detach);
PG_FUNCTION_INFO_V1(pg_background_launch_v2);
PG_FUNCTION_INFO_V1(pg_background_submit_v2);
PG_FUNCTION_INFO_V1(pg_background_result_v2);
PG_FUNCTION_INFO_V1(pg_background_fetch_v2);
PG_FUNCTION_INFO_V1(pg_background_detach_v2);
PG_FUNCTION_INFO_V1(pg_background_cancel_v2);
PG_FUNCTION_INFO_V1(pg_background_cancel_v2_grace);
PG_FUNCTION_INFO_V1(pg_background_wait_v2);
PG_FUNCTION_INFO_V1(pg_background_wait_v2_timeout);
PG_FUNCTION_INFO_V1(pg_background_list_v2);
PG_FUNCTION_INFO_V1(pg_background_progress);
PG_FUNCTION_INFO_V1(pg_background_get_progress_v2);
PG_FUNCTION_INFO_V1(pg_background_stats_v2);

/* Launch from (sql text, queue_size int4) arguments. */
static PgbgJobHandle *
pgbg_launch_from_args(FunctionCallInfo fcinfo, bool submit, bool v1)
{
	pgbg_check_not_null(fcinfo, 0, "sql");
	pgbg_check_not_null(fcinfo, 1, "queue_size");
	return pgbg_launch(PG_GETARG_TEXT_PP(0), PG_GETARG_INT32(1), submit, v1);
}

/* Handle from (pid int4, cookie int8) arguments. */
static PgbgJobHandle *
pgbg_lookup_v2(FunctionCallInfo fcinfo)
{
	pgbg_check_not_null(fcinfo, 0, "pid");
	pgbg_check_not_null(fcinfo, 1, "cookie");
	return pgbg_lookup(PG_GETARG_INT32(0), PG_GETARG_INT64(1), false);
}

/*
 * Observers (DESIGN 3.3): a (pid, cookie) that is no handle of this session,
 * and never was one, but a job of the server's registry, may be canceled,
 * waited for and asked for progress by its owner or a superuser, without
 * reading it.  A handle this session released keeps its precise errors.
 */
static bool
pgbg_observer_call(FunctionCallInfo fcinfo)
{
	PgbgJobRef	ref;
	int32		pid;
	int64		cookie;

	pgbg_check_not_null(fcinfo, 0, "pid");
	pgbg_check_not_null(fcinfo, 1, "cookie");
	pid = PG_GETARG_INT32(0);
	cookie = PG_GETARG_INT64(1);
	return !pgbg_session_knows(pid, cookie) && pgbg_jobs_find(pid, cookie, &ref);
}

static PgbgJobHandle *
pgbg_lookup_v1(FunctionCallInfo fcinfo)
{
	pgbg_check_not_null(fcinfo, 0, "pid");
	return pgbg_lookup(PG_GETARG_INT32(0), 0, true);
}

static Datum
pgbg_handle_datum(FunctionCallInfo fcinfo, PgbgJobHandle *job)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int32GetDatum(job->key.pid);
	values[1] = Int64GetDatum(job->key.cookie);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}


/* ---- v1 ---- */

Datum
pg_background_launch(PG_FUNCTION_ARGS)
{
	PgbgJobHandle *job = pgbg_launch_from_args(fcinfo, false, true);

	PG_RETURN_INT32(job->key.pid);
}

Datum
pg_background_result(PG_FUNCTION_ARGS)
{
	pgbg_materialize_result(pgbg_lookup_v1(fcinfo), fcinfo);
	return (Datum) 0;
}

Datum
pg_background_detach(PG_FUNCTION_ARGS)
{
	pgbg_release(pgbg_lookup_v1(fcinfo), PGBG_RELEASED_DETACHED);
	PG_RETURN_VOID();
}

/* ---- v2 ---- */

Datum
pg_background_launch_v2(PG_FUNCTION_ARGS)
{
	return pgbg_handle_datum(fcinfo, pgbg_launch_from_args(fcinfo, false, false));
}

Datum
pg_background_submit_v2(PG_FUNCTION_ARGS)
{
	return pgbg_handle_datum(fcinfo, pgbg_launch_from_args(fcinfo, true, false));
}

Datum
pg_background_result_v2(PG_FUNCTION_ARGS)
{
	pgbg_materialize_result(pgbg_lookup_v2(fcinfo), fcinfo);
	return (Datum) 0;
}

Datum
pg_background_fetch_v2(PG_FUNCTION_ARGS)
{
	PgbgJobHandle *job;
	int32		max_rows;
	int32		wait_ms;
	bool		has_after;
	int64		after_seq = 0;

	pgbg_check_not_null(fcinfo, 2, "max_rows");
	pgbg_check_not_null(fcinfo, 3, "wait_ms");
	max_rows = PG_GETARG_INT32(2);
	wait_ms = PG_GETARG_INT32(3);
	pgbg_check_range("max_rows", max_rows, 1, PG_INT32_MAX);
	pgbg_check_range("wait_ms", wait_ms, 0, PGBG_MAX_TIMEOUT_MS);

	/* a 1.9 catalog declares four arguments: always the legacy mode */
	has_after = (PG_NARGS() > 4 && !PG_ARGISNULL(4));
	if (has_after)
	{
		after_seq = PG_GETARG_INT64(4);
		pgbg_check_range("after_seq", after_seq, 0, PG_INT64_MAX);
	}
	job = pgbg_lookup_v2(fcinfo);
	pgbg_materialize_fetch(job, fcinfo, max_rows, wait_ms, has_after,
						   after_seq);
	return (Datum) 0;
}

/* Release the handle; the worker keeps running, its output is discarded. */
Datum
pg_background_detach_v2(PG_FUNCTION_ARGS)
{
	pgbg_release(pgbg_lookup_v2(fcinfo), PGBG_RELEASED_DETACHED);
	PG_RETURN_VOID();
}

Datum
pg_background_cancel_v2(PG_FUNCTION_ARGS)
{
	PgbgJobHandle *job;
	bool		stopped;

	if (pgbg_observer_call(fcinfo))
	{
		pgbg_jobs_observer_cancel(PG_GETARG_INT32(0), PG_GETARG_INT64(1), -1);
		PG_RETURN_VOID();
	}
	job = pgbg_lookup_v2(fcinfo);

	if (pgbg_observe(job, &stopped) == PGBG_RUNNING)
		pgbg_request_cancel(job);
	PG_RETURN_VOID();
}

/*
 * Cancel, give the worker grace_ms to stop its statement, then terminate it.
 */
Datum
pg_background_cancel_v2_grace(PG_FUNCTION_ARGS)
{
	PgbgJobHandle *job;
	int32		grace_ms;
	bool		stopped;

	pgbg_check_not_null(fcinfo, 2, "grace_ms");
	grace_ms = PG_GETARG_INT32(2);
	pgbg_check_range("grace_ms", grace_ms, 0, PGBG_MAX_GRACE_MS);
	if (pgbg_observer_call(fcinfo))
	{
		pgbg_jobs_observer_cancel(PG_GETARG_INT32(0), PG_GETARG_INT64(1),
								  grace_ms);
		PG_RETURN_VOID();
	}
	job = pgbg_lookup_v2(fcinfo);

	if (pgbg_observe(job, &stopped) != PGBG_RUNNING)
		PG_RETURN_VOID();
	pgbg_request_cancel(job);
	if (!pgbg_wait_for_outcome(job, grace_ms, false))
	{
		ereport(pgbg_log_level,
				(errmsg_internal("pg_background: terminating worker %d after %d ms grace",
								 job->key.pid, grace_ms)));
		pgbg_terminate(job);
	}
	PG_RETURN_VOID();
}

Datum
pg_background_wait_v2(PG_FUNCTION_ARGS)
{
	if (pgbg_observer_call(fcinfo))
		(void) pgbg_jobs_observer_wait(PG_GETARG_INT32(0), PG_GETARG_INT64(1),
									   -1);
	else
		(void) pgbg_wait_for_outcome(pgbg_lookup_v2(fcinfo), -1, true);
	PG_RETURN_VOID();
}

Datum
pg_background_wait_v2_timeout(PG_FUNCTION_ARGS)
{
	PgbgJobHandle *job;
	int32		timeout_ms;

	pgbg_check_not_null(fcinfo, 2, "timeout_ms");
	timeout_ms = PG_GETARG_INT32(2);
	pgbg_check_range("timeout_ms", timeout_ms, 0, PGBG_MAX_TIMEOUT_MS);
	if (pgbg_observer_call(fcinfo))
		PG_RETURN_BOOL(pgbg_jobs_observer_wait(PG_GETARG_INT32(0),
											   PG_GETARG_INT64(1),
											   timeout_ms));
	job = pgbg_lookup_v2(fcinfo);
	PG_RETURN_BOOL(pgbg_wait_for_outcome(job, timeout_ms, true));
}

/* ---- list_v2 ---- */

#define PGBG_LIST_NATTS 9

typedef struct PgbgListState
{
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
} PgbgListState;

static void
pgbg_list_one(PgbgJobHandle *job, void *arg)
{
	PgbgListState  *ls = (PgbgListState *) arg;
	Datum		values[PGBG_LIST_NATTS];
	bool		nulls[PGBG_LIST_NATTS];
	bool		stopped;
	PgbgOutcome outcome;
	const char *state;

	/* a user sees only the workers whose results they could read */
	if (!has_privs_of_role(GetUserId(), job->user_id))
		return;

	outcome = pgbg_observe(job, &stopped);
	state = pgbg_outcome_names[outcome].list_state;

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(job->key.pid);
	values[1] = Int64GetDatum(job->key.cookie);
	values[2] = TimestampTzGetDatum(job->launched_at);
	values[3] = ObjectIdGetDatum(job->user_id);
	values[4] = Int32GetDatum(job->queue_size);
	values[5] = CStringGetTextDatum(state);
	values[6] = CStringGetTextDatum(job->preview);
	if (job->last_error != NULL)
		values[7] = CStringGetTextDatum(job->last_error);
	else
		nulls[7] = true;
	values[8] = BoolGetDatum(job->consumed);
	tuplestore_putvalues(ls->tupstore, ls->tupdesc, values, nulls);
}

Datum
pg_background_list_v2(PG_FUNCTION_ARGS)
{
	static const Oid expected[PGBG_LIST_NATTS] = {
		INT4OID, INT8OID, TIMESTAMPTZOID, OIDOID, INT4OID,
		TEXTOID, TEXTOID, TEXTOID, BOOLOID
	};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc;
	PgbgListState	ls;
	int			i;

	pgbg_check_srf_context(fcinfo, true);
	desc = rsinfo->expectedDesc;
	for (i = 0; i < PGBG_LIST_NATTS; i++)
	{
		if (desc->natts != PGBG_LIST_NATTS ||
			TupleDescAttr(desc, i)->atttypid != expected[i])
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column definition list does not match pg_background_list_v2"),
					 errhint("Use AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool).")));
	}
	(void) pgbg_sweep_lingering();
	ls.tupstore = pgbg_init_materialize(fcinfo, desc);
	ls.tupdesc = rsinfo->setDesc;
	pgbg_registry_foreach(pgbg_list_one, &ls);
	return (Datum) 0;
}

/* ---- progress and statistics ---- */

/*
 * Called by the job itself to publish progress, read by the launcher with
 * pg_background_get_progress_v2.
 */
Datum
pg_background_progress(PG_FUNCTION_ARGS)
{
	int32		pct;
	char	   *msg = NULL;

	pgbg_check_not_null(fcinfo, 0, "pct");
	pct = PG_GETARG_INT32(0);
	pgbg_check_range("pct", pct, 0, 100);
	if (!PG_ARGISNULL(1))
		msg = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (pgbg_my_status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_background_progress() can only be called inside a pg_background job")));

	SpinLockAcquire(&pgbg_my_status->mutex);
	pgbg_my_status->progress_pct = pct;
	if (msg != NULL)
		pgbg_copy_clipped(pgbg_my_status->progress_msg, msg,
						  PGBG_PROGRESS_MSG_LEN);
	else
		pgbg_my_status->progress_msg[0] = '\0';
	SpinLockRelease(&pgbg_my_status->mutex);
	/* observers and attached sessions read it from the registry */
	pgbg_jobs_worker_progress(pct, msg);
	PG_RETURN_VOID();
}

Datum
pg_background_get_progress_v2(PG_FUNCTION_ARGS)
{
	PgbgJobHandle *job;
	PgbgStatus	st;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	if (pgbg_observer_call(fcinfo))
	{
		memset(&st, 0, sizeof(st));
		if (!pgbg_jobs_observer_progress(PG_GETARG_INT32(0), PG_GETARG_INT64(1),
										 &st.progress_pct, st.progress_msg))
			st.progress_pct = -1;
	}
	else
	{
		job = pgbg_lookup_v2(fcinfo);
		pgbg_status_snapshot(job, &st);
	}
	if (st.progress_pct < 0)
	{
		nulls[0] = true;
		nulls[1] = true;
	}
	else
	{
		values[0] = Int32GetDatum(st.progress_pct);
		if (st.progress_msg[0] != '\0')
			values[1] = CStringGetTextDatum(st.progress_msg);
		else
			nulls[1] = true;
	}
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

static void
pgbg_count_active(PgbgJobHandle *job, void *arg)
{
	bool		stopped;

	if (pgbg_observe(job, &stopped) == PGBG_RUNNING)
		(*(int32 *) arg)++;
}

/*
 * Statistics of this session (not server-wide): every job launched is
 * counted once, in one outcome, when the session first sees it (any call on
 * the handle, list_v2 or stats_v2); until then it is active.  That includes
 * jobs whose handle was released before they ended (detached while running,
 * canceled and released at once): see pgbg_linger().  So completed + failed
 * + canceled = launched - active at every moment.
 */
Datum
pg_background_stats_v2(PG_FUNCTION_ARGS)
{
	PgbgStats  *stats;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	int32		active = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	active = pgbg_sweep_lingering();
	pgbg_registry_foreach(pgbg_count_active, &active);
	stats = pgbg_stats();
	values[0] = Int64GetDatum(stats->launched);
	values[1] = Int64GetDatum(stats->completed);
	values[2] = Int64GetDatum(stats->failed);
	values[3] = Int64GetDatum(stats->canceled);
	values[4] = Int32GetDatum(active);
	if (stats->timed > 0)
		values[5] = Float8GetDatum(stats->total_exec_ms / stats->timed);
	else
		values[5] = Float8GetDatum(0.0);
	values[6] = Int32GetDatum(pgbg_max_workers);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* ---- durable jobs ---- */

PG_FUNCTION_INFO_V1(pg_background_attach_v2);

/*
 * pg_background_attach_v2(pid, cookie, after_seq DEFAULT NULL, takeover
 * DEFAULT false): this session becomes the job's reader; fetch_v2 and the
 * other functions then work on (pid, cookie) here as if it had been
 * launched here.  Output resumes at after_seq + 1 (NULL: after what was
 * acknowledged, the current result set's columns first).
 */
Datum
pg_background_attach_v2(PG_FUNCTION_ARGS)
{
	PgbgJobEntry snap;
	PgbgJobHandle *job;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	bool		has_after;
	int64		after_seq = 0;
	bool		takeover;
	int			i;

	pgbg_check_not_null(fcinfo, 0, "pid");
	pgbg_check_not_null(fcinfo, 1, "cookie");
	pgbg_check_not_null(fcinfo, 3, "takeover");
	has_after = !PG_ARGISNULL(2);
	if (has_after)
	{
		after_seq = PG_GETARG_INT64(2);
		pgbg_check_range("after_seq", after_seq, 0, PG_INT64_MAX);
	}
	takeover = PG_GETARG_BOOL(3);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	job = pgbg_attach(PG_GETARG_INT32(0), PG_GETARG_INT64(1), has_after,
					  after_seq, takeover, &snap);

	/*
	 * A running job notices its new reader at its next flush point or wait
	 * and moves its output to the file: give it a moment, so that what we
	 * report (and a first fetch without waiting) sees the file.
	 */
	for (i = 0; i < 100 && snap.state == PGBG_JOB_RUNNING &&
		 snap.mode == PGBG_MODE_QUEUE; i++)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (!pgbg_jobs_snapshot(pgbg_handle_ref(job), &snap))
			break;
	}

	values[0] = CStringGetTextDatum(pgbg_job_state_name(snap.state));
	values[1] = CStringGetTextDatum(pgbg_job_output_name(snap.output));
	values[2] = Int64GetDatum(Max(Max(snap.last_seq, snap.w_seq), snap.final_seq));
	values[3] = Int64GetDatum(job->acked_seq);
	values[4] = TimestampTzGetDatum(snap.launched_at);
	values[5] = CStringGetTextDatum(snap.preview);
	values[6] = BoolGetDatum(snap.truncated);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}
