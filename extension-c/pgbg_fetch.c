/*-------------------------------------------------------------------------
 *
 * pgbg_fetch.c
 *		pg_background_fetch_v2: whatever the worker has produced so far, as
 *		self-describing (kind, stmt, data) rows whose data is JSON.
 *
 * Kinds: "columns", "row", "command", "notice", "error", and finally "done"
 * with the job's outcome, which releases the handle.  Nothing blocks
 * except the wait for the first message (wait_ms).  A submitted job has no
 * queue: its "done" comes from the status block once it has an outcome.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pg_background.h"

/* One fetch_v2 call's output. */
typedef struct PgbgFetchWriter
{
	PgbgJobHandle *job;
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	StringInfoData json;		/* data of the row being built */
	int32		rows;			/* "row" rows written */
	int32		others;			/* rows of other kinds written */
	bool		finished;		/* "done" written */
} PgbgFetchWriter;

/* ---- JSON writers ---- */

static const char *
pgbg_severity_name(int elevel)
{
	if (elevel >= PANIC)
		return "PANIC";
	if (elevel >= FATAL)
		return "FATAL";
	if (elevel >= ERROR)
		return "ERROR";
	if (elevel >= WARNING)
		return "WARNING";
	if (elevel >= NOTICE)
		return "NOTICE";
	if (elevel >= INFO)
		return "INFO";
	if (elevel >= LOG)
		return "LOG";
	return "DEBUG";
}

/* Append  "key": "value"  (or null), with a leading comma unless first. */
static void
pgbg_json_string_or_null(StringInfo buf, const char *key, const char *value,
						 bool first)
{
	if (!first)
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	if (value != NULL)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/* [{"name", "type", "type_oid", "typmod"}, ...] */
static void
pgbg_json_columns(StringInfo buf, PgbgMessage *m)
{
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < m->natts; i++)
	{
		PgbgColumnDesc *col = &m->columns[i];

		if (i > 0)
			appendStringInfoChar(buf, ',');
		appendStringInfoChar(buf, '{');
		pgbg_json_string_or_null(buf, "name", col->name, true);
		pgbg_json_string_or_null(buf, "type",
								 format_type_with_typemod(col->typid,
														  col->typmod),
								 false);
		appendStringInfo(buf, ",\"type_oid\":%u,\"typmod\":%d}",
						 col->typid, col->typmod);
	}
	appendStringInfoChar(buf, ']');
}

/* [text or null, ...]; the copies live in the per-message context */
static void
pgbg_json_row(StringInfo buf, PgbgMessage *m)
{
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < m->natts; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		if (m->lengths[i] < 0)
			appendStringInfoString(buf, "null");
		else
			escape_json(buf, pnstrdup(m->values[i], m->lengths[i]));
	}
	appendStringInfoChar(buf, ']');
}

/* {"tag", "rows"} */
static void
pgbg_json_command(StringInfo buf, PgbgMessage *m)
{
	appendStringInfoChar(buf, '{');
	pgbg_json_string_or_null(buf, "tag", m->tag, true);
	if (m->rows >= 0)
		appendStringInfo(buf, ",\"rows\":" INT64_FORMAT "}", m->rows);
	else
		appendStringInfoString(buf, ",\"rows\":null}");
}

/* {"severity", "sqlstate", "message", "detail", "hint", "position", "context"} */
static void
pgbg_json_error(StringInfo buf, ErrorData *edata)
{
	appendStringInfoChar(buf, '{');
	pgbg_json_string_or_null(buf, "severity", pgbg_severity_name(edata->elevel), true);
	pgbg_json_string_or_null(buf, "sqlstate", unpack_sql_state(edata->sqlerrcode), false);
	pgbg_json_string_or_null(buf, "message", edata->message, false);
	pgbg_json_string_or_null(buf, "detail", edata->detail, false);
	pgbg_json_string_or_null(buf, "hint", edata->hint, false);
	appendStringInfoString(buf, ",\"position\":");
	if (edata->cursorpos > 0)
		appendStringInfo(buf, "%d", edata->cursorpos);
	else
		appendStringInfoString(buf, "null");
	pgbg_json_string_or_null(buf, "context", edata->context, false);
	appendStringInfoChar(buf, '}');
}

/* ---- output rows ---- */

/* One output row of the given kind with fw->json as data; stmt 0 = NULL. */
static void
pgbg_fetch_put(PgbgFetchWriter *fw, const char *kind, int32 stmt)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(kind);
	values[1] = Int32GetDatum(stmt);
	nulls[1] = (stmt <= 0);
	/* json's internal form is its text */
	values[2] = PointerGetDatum(cstring_to_text_with_len(fw->json.data,
														 fw->json.len));
	tuplestore_putvalues(fw->tupstore, fw->tupdesc, values, nulls);
}

/* The final row: {"state": ...}.  The handle is released afterwards. */
static void
pgbg_fetch_done(PgbgFetchWriter *fw, PgbgOutcome outcome)
{
	resetStringInfo(&fw->json);
	appendStringInfo(&fw->json, "{\"state\":\"%s\"}",
					 pgbg_outcome_names[outcome].state);
	pgbg_fetch_put(fw, "done", 0);
	fw->finished = true;
}

/*
 * The final rows of a job whose outcome we know without (or beyond) the
 * queue: an error from the status block, then "done".
 */
static void
pgbg_fetch_finish_from_status(PgbgFetchWriter *fw)
{
	PgbgStatus	st;
	PgbgOutcome outcome = pgbg_outcome_after_queue(fw->job, &st);

	if (outcome != PGBG_COMPLETED && st.sqlstate[0] != '\0')
	{
		ErrorData	edata;

		memset(&edata, 0, sizeof(edata));
		edata.elevel = ERROR;
		edata.sqlerrcode = MAKE_SQLSTATE(st.sqlstate[0], st.sqlstate[1],
										 st.sqlstate[2], st.sqlstate[3],
										 st.sqlstate[4]);
		edata.message = st.errmsg;
		resetStringInfo(&fw->json);
		pgbg_json_error(&fw->json, &edata);
		pgbg_fetch_put(fw, "error", fw->job->stmt_no + 1);
	}
	pgbg_fetch_done(fw, outcome);
}

/* ---- message handlers ---- */

static void
pgbg_fetch_notice_or_error(PgbgFetchWriter *fw, PgbgMessage *m)
{
	ErrorData  *edata = m->edata;
	bool		is_error = (edata->elevel >= ERROR);

	pgbg_json_error(&fw->json, edata);
	pgbg_fetch_put(fw, is_error ? "error" : "notice", fw->job->stmt_no + 1);
	fw->others++;
	if (is_error)
	{
		PgbgOutcome outcome = pgbg_error_outcome(fw->job, edata);

		pgbg_note_outcome(fw->job, outcome, edata->message);
		pgbg_fetch_done(fw, outcome);
	}
}

/* Write the rows for one decoded message (fw->json is empty). */
static void
pgbg_fetch_handle(PgbgFetchWriter *fw, PgbgMessage *m)
{
	switch (m->kind)
	{
		case PGBG_MSG_COLUMNS:
			pgbg_json_columns(&fw->json, m);
			pgbg_fetch_put(fw, "columns", fw->job->stmt_no + 1);
			fw->others++;
			break;
		case PGBG_MSG_ROW:
			pgbg_json_row(&fw->json, m);
			pgbg_fetch_put(fw, "row", fw->job->stmt_no + 1);
			fw->rows++;
			break;
		case PGBG_MSG_COMMAND:
			pgbg_json_command(&fw->json, m);
			fw->job->stmt_no++;
			pgbg_fetch_put(fw, "command", fw->job->stmt_no);
			fw->others++;
			break;
		case PGBG_MSG_NOTICE:
		case PGBG_MSG_ERROR:
			pgbg_fetch_notice_or_error(fw, m);
			break;
		case PGBG_MSG_DONE:
			pgbg_note_outcome(fw->job, PGBG_COMPLETED, NULL);
			pgbg_fetch_done(fw, PGBG_COMPLETED);
			break;
		default:
			pgbg_unexpected_message(m->kind);
	}
}

/* ---- readers ---- */

/*
 * A submitted job has no queue: report its outcome once it has one, waiting
 * up to wait_ms for it.
 */
static void
pgbg_fetch_submitted(PgbgFetchWriter *fw, int32 wait_ms)
{
	TimestampTz deadline = GetCurrentTimestamp() +
		(TimestampTz) wait_ms * 1000;

	for (;;)
	{
		bool		stopped;
		long		left;

		if (pgbg_observe(fw->job, &stopped) != PGBG_RUNNING)
		{
			pgbg_fetch_finish_from_status(fw);
			return;
		}
		left = (long) ((deadline - GetCurrentTimestamp()) / 1000);
		if (left <= 0)
			return;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 1000), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Messages from the queue, at most max_rows rows and max_rows entries of
 * other kinds, waiting up to wait_ms for the first one only.  Per-message
 * work happens in msgcxt, reset for every message.
 */
static void
pgbg_fetch_queued(PgbgFetchWriter *fw, int32 max_rows, int32 wait_ms,
				  MemoryContext msgcxt)
{
	PgbgDecoder decoder;
	long		timeout = wait_ms;

	pgbg_decoder_init(&decoder, CurrentMemoryContext, NULL);
	while (fw->rows < max_rows && fw->others < max_rows && !fw->finished)
	{
		StringInfoData raw;
		PgbgMessage m;
		PgbgRecv	r;
		MemoryContext oldcxt;

		r = pgbg_receive(fw->job, timeout, &raw);
		timeout = 0;			/* wait only for the first message */
		if (r == PGBG_RECV_EMPTY)
			break;

		MemoryContextReset(msgcxt);
		oldcxt = MemoryContextSwitchTo(msgcxt);
		initStringInfo(&fw->json);
		if (r == PGBG_RECV_DETACHED)
			pgbg_fetch_finish_from_status(fw);
		else
		{
			pgbg_decode(&decoder, &raw, &m);
			pgbg_fetch_handle(fw, &m);
		}
		MemoryContextSwitchTo(oldcxt);
	}
}

void
pgbg_materialize_fetch(PgbgJobHandle *job, FunctionCallInfo fcinfo,
					   int32 max_rows, int32 wait_ms)
{
	TupleDesc	tupdesc;
	PgbgFetchWriter fw;
	MemoryContext msgcxt;
	MemoryContext oldcxt;

	pgbg_check_srf_context(fcinfo, false);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (job->consumed && !job->fetching)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("results of pg_background worker %d are already being read",
						job->key.pid)));

	memset(&fw, 0, sizeof(fw));
	fw.job = job;
	fw.tupstore = pgbg_init_materialize(fcinfo, tupdesc);
	fw.tupdesc = ((ReturnSetInfo *) fcinfo->resultinfo)->setDesc;
	job->consumed = true;
	job->fetching = true;

	msgcxt = AllocSetContextCreate(CurrentMemoryContext,
								   "pg_background fetch message",
								   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(msgcxt);
	initStringInfo(&fw.json);
	MemoryContextSwitchTo(oldcxt);

	if (job->submit_mode)
		pgbg_fetch_submitted(&fw, wait_ms);
	else
		pgbg_fetch_queued(&fw, max_rows, wait_ms, msgcxt);

	MemoryContextDelete(msgcxt);
	if (fw.finished)
		pgbg_release(job, PGBG_RELEASED_FINISHED);
}
