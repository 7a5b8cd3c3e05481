/*-------------------------------------------------------------------------
 *
 * pgbg_relay.c
 *		Launcher side: receiving messages from a worker's queue and turning
 *		them into result rows (pg_background_result*) or into the
 *		self-describing (kind, stmt, data) rows of pg_background_fetch_v2.
 *
 * Both readers materialize into a tuplestore.  Per-message work happens in
 * a context that is reset for every message, so reading any number of rows
 * leaves the session's memory where it was (the tuplestore itself spills to
 * disk beyond work_mem and is freed with the query).
 *
 * Waiting never blocks uninterruptibly: we poll the queue with nowait and
 * sleep on our latch, checking for interrupts, so query cancel and
 * statement_timeout work while waiting for a worker (review I7).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "parser/parse_coerce.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pg_background.h"

#if PG_VERSION_NUM >= 170000
#define PGBG_WAIT_EVENT_RECEIVE WAIT_EVENT_MESSAGE_QUEUE_RECEIVE
#else
#define PGBG_WAIT_EVENT_RECEIVE WAIT_EVENT_MQ_RECEIVE
#endif

typedef struct PgbgErrorContextArg
{
	int32		pid;
} PgbgErrorContextArg;

static void pgbg_error_context(void *arg);
static void pgbg_parse_notice(StringInfo msg, ErrorData *edata);
static void pgbg_raise_from_status(PgbgSession *sess);
static void pgbg_unexpected_message(char msgtype) pg_attribute_noreturn();
static void pgbg_json_string_or_null(StringInfo buf, const char *key,
									 const char *value, bool first);
static void pgbg_json_error(StringInfo buf, ErrorData *edata);
static const char *pgbg_severity_name(int elevel);

/*
 * Receive the next message.  timeout_ms: 0 = do not wait, -1 = wait as long
 * as it takes, otherwise the longest wait.  The returned msg points into the
 * queue (no copy) and is valid until the next call.
 */
PgbgRecv
pgbg_receive(PgbgSession *sess, long timeout_ms, StringInfo msg)
{
	TimestampTz start = 0;
	int			polls = 0;

	for (;;)
	{
		shm_mq_result res;
		Size		nbytes;
		void	   *data;
		long		wait = -1;
		int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;

		res = shm_mq_receive(sess->mqh, &nbytes, &data, true);
		if (res == SHM_MQ_SUCCESS)
		{
			if (nbytes == 0)
				continue;
			/* a trickle is no stream: do not keep polling for it */
			if (polls > PGBG_POLL_DENSE)
				sess->recv_streak = 0;
			else if (sess->recv_streak < PGBG_POLL_STREAK)
				sess->recv_streak++;
			msg->data = (char *) data;
			msg->len = (int) nbytes;
			msg->maxlen = (int) nbytes;
			msg->cursor = 0;
			return PGBG_RECV_MESSAGE;
		}
		if (res == SHM_MQ_DETACHED)
			return PGBG_RECV_DETACHED;

		if (timeout_ms == 0)
			return PGBG_RECV_EMPTY;
		if (timeout_ms > 0)
		{
			TimestampTz now = GetCurrentTimestamp();

			if (start == 0)
				start = now;
			wait = timeout_ms - (long) ((now - start) / 1000);
			if (wait <= 0)
				return PGBG_RECV_EMPTY;
			events |= WL_TIMEOUT;
		}

		/*
		 * While rows stream in, poll instead of sleeping on the latch.  The
		 * worker sets our latch each time it has written a quarter of the
		 * ring, and when we sleep on it that costs the worker a kill() and
		 * us a wakeup, thousands of times per million rows; perf showed the
		 * worker, which is what limits the stream, spending a tenth of its
		 * time there.  Not sleeping on the latch makes its SetLatch() a
		 * plain store.  A stream that pauses for a while ends the polling.
		 */
		if (sess->recv_streak >= PGBG_POLL_STREAK && polls < PGBG_POLL_MAX)
		{
			polls++;
			pgstat_report_wait_start(PGBG_WAIT_EVENT_RECEIVE);
			pg_usleep(PGBG_POLL_US);
			pgstat_report_wait_end();
			if (!PostmasterIsAlive())
				proc_exit(1);
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		sess->recv_streak = 0;
		(void) WaitLatch(MyLatch, events, wait, PGBG_WAIT_EVENT_RECEIVE);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Error context naming the worker (review N8). */
static void
pgbg_error_context(void *arg)
{
	PgbgErrorContextArg *a = (PgbgErrorContextArg *) arg;

	errcontext("pg_background worker with PID %d", a->pid);
}

void
pgbg_push_error_context(PgbgSession *sess, ErrorContextCallback *cb)
{
	PgbgErrorContextArg *a = palloc(sizeof(PgbgErrorContextArg));

	a->pid = sess->key.pid;
	cb->callback = pgbg_error_context;
	cb->arg = a;
	cb->previous = error_context_stack;
	error_context_stack = cb;
}

/*
 * The tuples of a materialized result are allocated one by one, and a
 * fetch_v2 batch of 10,000 rows takes about a megabyte.  In the query's own
 * context that memory is fresh from malloc on every call and handed back
 * when the query ends, so every call pays page faults and zeroing for it
 * (a fifth of a draining launcher's time, measured with perf).  Instead the
 * tuples go to a session-lifetime context whose first block is kept when it
 * is reset at the end of each query.  There is one such context: a second
 * materialized result in the same query (a cursor, a join) uses the query's
 * context as before.
 */
#define PGBG_RESULT_KEEP_BYTES	(2 * 1024 * 1024)

static MemoryContext pgbg_result_cxt = NULL;
static bool pgbg_result_cxt_busy = false;

static void
pgbg_result_cxt_release(void *arg)
{
	MemoryContextReset(pgbg_result_cxt);
	pgbg_result_cxt_busy = false;
}

static MemoryContext
pgbg_result_context(MemoryContext query_cxt)
{
	MemoryContextCallback *cb;

	if (pgbg_result_cxt_busy)
		return query_cxt;
	if (pgbg_result_cxt == NULL)
		pgbg_result_cxt = AllocSetContextCreate(TopMemoryContext,
												"pg_background result",
												PGBG_RESULT_KEEP_BYTES,
												PGBG_RESULT_KEEP_BYTES,
												ALLOCSET_DEFAULT_MAXSIZE);
	cb = MemoryContextAlloc(query_cxt, sizeof(MemoryContextCallback));
	cb->func = pgbg_result_cxt_release;
	cb->arg = NULL;
	MemoryContextRegisterResetCallback(query_cxt, cb);
	pgbg_result_cxt_busy = true;
	return pgbg_result_cxt;
}

/*
 * Set up materialize mode with the given descriptor (copied into the query
 * context).  Our own version of InitMaterializedSRF, which does not exist
 * before PostgreSQL 15.
 */
Tuplestorestate *
pgbg_init_materialize(FunctionCallInfo fcinfo, TupleDesc tupdesc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext query_cxt = rsinfo->econtext->ecxt_per_query_memory;
	MemoryContext oldcxt;
	Tuplestorestate *tupstore;

	oldcxt = MemoryContextSwitchTo(query_cxt);
	tupdesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(pgbg_result_context(query_cxt));
	tupstore = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
									 false, work_mem);
	MemoryContextSwitchTo(oldcxt);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tupstore;
	rsinfo->setDesc = tupdesc;
	return tupstore;
}

/* Check that we were called in a context that takes a materialized set. */
void
pgbg_check_srf_context(FunctionCallInfo fcinfo, bool need_expected)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));
	if (need_expected && rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record"),
				 errhint("Call it in the FROM clause with a column definition list, e.g. AS (result text).")));
}

static void
pgbg_parse_notice(StringInfo msg, ErrorData *edata)
{
	memset(edata, 0, sizeof(ErrorData));
	pq_parse_errornotice(msg, edata);
}

/*
 * The queue ended without a final message: the worker either gave up its
 * output (interrupted mid-message) after recording an outcome, or died
 * without reporting.  Raise accordingly; return only if it completed.
 */
static void
pgbg_raise_from_status(PgbgSession *sess)
{
	PgbgStatus	st;
	bool		stopped;
	PgbgOutcome outcome = pgbg_observe(sess, &stopped);

	pgbg_status_snapshot(sess, &st);
	if (outcome == PGBG_RUNNING)
	{
		/* the queue ended but the postmaster has not reaped it yet */
		outcome = st.cancel_requested ? PGBG_CANCELED : PGBG_LOST;
		pgbg_note_outcome(sess, outcome, NULL);
	}
	if (outcome == PGBG_COMPLETED)
		return;
	if (st.sqlstate[0] != '\0')
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE(st.sqlstate[0], st.sqlstate[1],
									   st.sqlstate[2], st.sqlstate[3],
									   st.sqlstate[4])),
				 errmsg_internal("%s", st.errmsg)));
	if (outcome == PGBG_CANCELED)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("pg_background worker %d was terminated after a cancel request",
						sess->key.pid)));
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("pg_background worker %d exited without reporting a result",
					sess->key.pid),
			 errhint("It may have been terminated; see the server log.")));
}

/*
 * Values reach result_v2 as text and go through the declared type's input
 * function.  Most pseudo-types have one that always fails ("cannot accept a
 * value of type internal", an anonymous record): refuse them before any
 * message is read, so that the handle and all its results stay there for a
 * corrected call or for fetch_v2.
 */
static void
pgbg_check_result_type(Oid typid, int attno)
{
	if (get_typtype(typid) != TYPTYPE_PSEUDO || typid == VOIDOID ||
		typid == CSTRINGOID || typid == UNKNOWNOID)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column %d of the column definition list has type %s, which cannot hold a pg_background result",
					attno, format_type_be(typid)),
			 errdetail("Results are converted from their text form with the input function of the declared type."),
			 errhint("Declare the column as text or as the type the job returns; nothing has been read yet.")));
}

/*
 * pg_background_result / pg_background_result_v2: all rows of all
 * statements, converted to the caller's column types with their input
 * functions.  A statement without a result set contributes its command tag
 * (which needs a single-column definition list, e.g. AS (result text)).
 * Notices are re-raised as they arrive, the worker's error at the end.
 * The handle is released when this returns or fails, so results can be
 * read only once.
 */
void
pgbg_materialize_result(PgbgSession *sess, FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	int			natts;
	FmgrInfo   *finfo;
	Oid		   *typioparams;
	Datum	   *values;
	bool	   *nulls;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	ErrorContextCallback errcb;
	ErrorData  *worker_error = NULL;
	int32		pid = sess->key.pid;
	bool		tag_wanted;
	int			i;

	pgbg_check_srf_context(fcinfo, true);
	if (sess->submit_mode)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_background worker %d has no results", pid),
				 errdetail("It was started with pg_background_submit_v2, which discards results."),
				 errhint("Use pg_background_wait_v2 or pg_background_fetch_v2 to learn its outcome.")));
	if (sess->consumed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("results of pg_background worker %d are already being read", pid),
				 errhint("Continue with pg_background_fetch_v2, or release the handle with pg_background_detach_v2.")));

	tupstore = pgbg_init_materialize(fcinfo, rsinfo->expectedDesc);
	tupdesc = rsinfo->setDesc;
	natts = tupdesc->natts;

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	finfo = palloc0(sizeof(FmgrInfo) * Max(natts, 1));
	typioparams = palloc0(sizeof(Oid) * Max(natts, 1));
	values = palloc0(sizeof(Datum) * Max(natts, 1));
	nulls = palloc0(sizeof(bool) * Max(natts, 1));
	for (i = 0; i < natts; i++)
	{
		Oid			typid = TupleDescAttr(tupdesc, i)->atttypid;
		Oid			infunc;

		pgbg_check_result_type(typid, i + 1);
		getTypeInputInfo(typid, &infunc, &typioparams[i]);
		fmgr_info(infunc, &finfo[i]);
	}
	MemoryContextSwitchTo(oldcxt);

	/*
	 * A statement without a result set (INSERT, CREATE, VACUUM, ...) yields
	 * its command tag as a row, as in the original pg_background, but only
	 * when the column definition list is a single string column, e.g.
	 * AS (result text); otherwise tags are skipped, so that a job such as
	 * "UPDATE ...; SELECT count(*) ..." can be read AS (n bigint).
	 */
	tag_wanted = (natts == 1 &&
				  TypeCategory(TupleDescAttr(tupdesc, 0)->atttypid) == TYPCATEGORY_STRING);

	rowcxt = AllocSetContextCreate(CurrentMemoryContext,
								   "pg_background result row",
								   ALLOCSET_DEFAULT_SIZES);
	sess->consumed = true;
	pgbg_push_error_context(sess, &errcb);

	PG_TRY();
	{
		bool		have_columns = false;
		StringInfoData cstr;

		initStringInfo(&cstr);
		for (;;)
		{
			StringInfoData msg;
			char		msgtype;
			int			n;

			if (pgbg_receive(sess, -1, &msg) == PGBG_RECV_DETACHED)
			{
				pgbg_raise_from_status(sess);
				break;
			}
			MemoryContextReset(rowcxt);
			oldcxt = MemoryContextSwitchTo(rowcxt);
			msgtype = pq_getmsgbyte(&msg);
			switch (msgtype)
			{
				case PGBG_MSG_COLUMNS:
					n = pq_getmsgint(&msg, 2);
					if (n != natts)
						ereport(ERROR,
								(errcode(ERRCODE_DATATYPE_MISMATCH),
								 errmsg("remote query result rowtype does not match the specified FROM clause rowtype"),
								 errdetail("The worker's result has %d columns, the column definition list %d.",
										   n, natts)));
					have_columns = true;
					break;

				case PGBG_MSG_ROW:
					n = pq_getmsgint(&msg, 2);
					if (n != natts)
						ereport(ERROR,
								(errcode(ERRCODE_DATATYPE_MISMATCH),
								 errmsg("remote query result rowtype does not match the specified FROM clause rowtype")));
					for (i = 0; i < natts; i++)
					{
						int			len = (int) pq_getmsgint(&msg, 4);
						char	   *str = NULL;

						if (len >= 0)
						{
							resetStringInfo(&cstr);
							appendBinaryStringInfo(&cstr,
												   pq_getmsgbytes(&msg, len),
												   len);
							str = cstr.data;
						}
						/* NULLs too go through the input function (domains) */
						values[i] = InputFunctionCall(&finfo[i], str,
													  typioparams[i],
													  TupleDescAttr(tupdesc, i)->atttypmod);
						nulls[i] = (str == NULL);
					}
					tuplestore_putvalues(tupstore, tupdesc, values, nulls);
					break;

				case PGBG_MSG_COMMAND:
					if (!have_columns && tag_wanted)
					{
						const char *tag;

						(void) pq_getmsgint64(&msg);
						tag = pq_getmsgrawstring(&msg);
						values[0] = InputFunctionCall(&finfo[0], (char *) tag,
													  typioparams[0],
													  TupleDescAttr(tupdesc, 0)->atttypmod);
						nulls[0] = false;
						tuplestore_putvalues(tupstore, tupdesc, values, nulls);
					}
					have_columns = false;
					break;

				case PGBG_MSG_NOTICE:
					{
						ErrorData	edata;

						pgbg_parse_notice(&msg, &edata);
						ThrowErrorData(&edata);
					}
					break;

				case PGBG_MSG_ERROR:
					{
						ErrorData  *edata;

						/* parsed where it survives the release below */
						MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
						edata = palloc(sizeof(ErrorData));
						pgbg_parse_notice(&msg, edata);
						if (edata->elevel < ERROR)
							ThrowErrorData(edata);
						else
						{
							/*
							 * The worker's FATAL (e.g. it was terminated) ended
							 * the worker, not this session: re-raise as ERROR.
							 */
							edata->elevel = ERROR;
							worker_error = edata;
							pgbg_note_outcome(sess,
											  edata->sqlerrcode == ERRCODE_QUERY_CANCELED ?
											  PGBG_CANCELED : PGBG_FAILED,
											  edata->message);
						}
					}
					break;

				case PGBG_MSG_DONE:
					pgbg_note_outcome(sess, PGBG_COMPLETED, NULL);
					break;

				default:
					pgbg_unexpected_message(msgtype);
			}
			MemoryContextSwitchTo(oldcxt);
			if (msgtype == PGBG_MSG_DONE || worker_error != NULL)
				break;
		}
		pfree(cstr.data);
	}
	PG_CATCH();
	{
		pgbg_release(sess, PGBG_RELEASED_CONSUMED);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/*
	 * A position in the worker's error refers to the worker's SQL, not to
	 * our caller's query: report it as an internal query position, which
	 * clients display against the text we attach.
	 */
	if (worker_error != NULL && worker_error->cursorpos > 0 &&
		worker_error->internalquery == NULL)
	{
		oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		worker_error->internalquery = pstrdup(sess->sql);
		worker_error->internalpos = worker_error->cursorpos;
		worker_error->cursorpos = 0;
		MemoryContextSwitchTo(oldcxt);
	}

	pgbg_release(sess, PGBG_RELEASED_CONSUMED);
	MemoryContextDelete(rowcxt);

	if (worker_error != NULL)
		ThrowErrorData(worker_error);
	error_context_stack = errcb.previous;
}

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

/* Both readers know every message type the worker sends. */
static void
pgbg_unexpected_message(char msgtype)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("unexpected message type 0x%02x from pg_background worker",
					(unsigned char) msgtype)));
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

/*
 * fetch_v2 batches
 * ----------------
 * A message taken off the queue cannot be put back, and the rows of a
 * materialized result go away with the call when it fails.  So a batch is
 * first built in the handle's own memory ("pending", which outlives a failed
 * call) and copied into the result only once it is complete; entries leave
 * pending only after every one of them is in the result.  Whatever fails
 * meanwhile (an interrupt, temp_file_limit while the result spills to disk,
 * a message that cannot be converted), every message already taken off the
 * queue is still there for the next call: as pending rows, or, for the
 * message being converted, as a raw copy ("carry") that the next call
 * converts first.
 *
 * A pending entry is a PgbgFetchEntry followed by the data column as a
 * ready text datum, both MAXALIGNed.  The entries of one message are
 * committed together: a failed conversion truncates pending to where the
 * message began.
 */
typedef enum PgbgFetchKind
{
	PGBG_FK_COLUMNS,
	PGBG_FK_ROW,
	PGBG_FK_COMMAND,
	PGBG_FK_NOTICE,
	PGBG_FK_ERROR,
	PGBG_FK_DONE
} PgbgFetchKind;

#define PGBG_FK_COUNT	(PGBG_FK_DONE + 1)

static const char *const pgbg_fetch_kinds[PGBG_FK_COUNT] = {
	"columns", "row", "command", "notice", "error", "done"
};

typedef struct PgbgFetchEntry
{
	int32		size;			/* of the whole entry, MAXALIGNed */
	int32		stmt;			/* 0 = NULL */
	int32		kind;			/* PgbgFetchKind */
} PgbgFetchEntry;

#define PGBG_FETCH_HDR	MAXALIGN(sizeof(PgbgFetchEntry))

/*
 * A batch stops taking messages once this much is pending, whatever
 * max_rows says: pending is in memory, unlike the tuplestore, which spills.
 */
#define PGBG_FETCH_BUDGET	(32 * 1024 * 1024)

/* Pending buffers up to this size are kept for the handle's next batch. */
#define PGBG_FETCH_KEEP		(8 * 1024 * 1024)

/* What the current call has collected so far (pending entries included). */
typedef struct PgbgFetchBatch
{
	PgbgSession *sess;
	int32		rows;
	int32		others;
	bool		finished;		/* "done" is pending */
} PgbgFetchBatch;

/* Add one output row to pending; stmt 0 means NULL. */
static void
pgbg_fetch_put(PgbgFetchBatch *b, PgbgFetchKind kind, int32 stmt,
			   StringInfo json)
{
	StringInfo	p = &b->sess->fetch_pending;
	int			size = MAXALIGN(PGBG_FETCH_HDR + VARHDRSZ + json->len);
	PgbgFetchEntry *e;

	if (p->data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(b->sess->cxt);

		initStringInfo(p);
		MemoryContextSwitchTo(oldcxt);
	}
	/* entries start MAXALIGNed: the buffer is, and every size is */
	enlargeStringInfo(p, size);
	e = (PgbgFetchEntry *) (p->data + p->len);
	e->size = size;
	e->stmt = stmt;
	e->kind = kind;
	/* json's internal form is its text */
	SET_VARSIZE(p->data + p->len + PGBG_FETCH_HDR, VARHDRSZ + json->len);
	memcpy(p->data + p->len + PGBG_FETCH_HDR + VARHDRSZ, json->data, json->len);
	p->len += size;
	if (kind == PGBG_FK_ROW)
		b->rows++;
	else
		b->others++;
	if (kind == PGBG_FK_DONE)
		b->finished = true;
}

/* Count what an earlier, failed call left pending. */
static void
pgbg_fetch_count_pending(PgbgFetchBatch *b)
{
	StringInfo	p = &b->sess->fetch_pending;
	int			at;

	for (at = b->sess->fetch_pending_at; p->data != NULL && at < p->len;)
	{
		PgbgFetchEntry *e = (PgbgFetchEntry *) (p->data + at);

		if (e->kind == PGBG_FK_ROW)
			b->rows++;
		else
			b->others++;
		if (e->kind == PGBG_FK_DONE)
			b->finished = true;
		at += e->size;
	}
}

/*
 * Copy pending entries into the result, at most max_rows rows and max_rows
 * others, and only then drop them from pending.  Returns true if "done" was
 * among them.
 */
static bool
pgbg_fetch_emit(PgbgSession *sess, Tuplestorestate *tupstore,
				TupleDesc tupdesc, int32 max_rows)
{
	StringInfo	p = &sess->fetch_pending;
	Datum		kinds[PGBG_FK_COUNT];
	int			at = sess->fetch_pending_at;
	int32		rows = 0;
	int32		others = 0;
	bool		done = false;
	int			i;

	if (p->data == NULL)
		return false;
	for (i = 0; i < PGBG_FK_COUNT; i++)
		kinds[i] = CStringGetTextDatum(pgbg_fetch_kinds[i]);
	while (at < p->len && rows < max_rows && others < max_rows)
	{
		PgbgFetchEntry *e = (PgbgFetchEntry *) (p->data + at);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = kinds[e->kind];
		values[1] = Int32GetDatum(e->stmt);
		nulls[1] = (e->stmt <= 0);
		values[2] = PointerGetDatum(p->data + at + PGBG_FETCH_HDR);
		tuplestore_putvalues(tupstore, tupdesc, values, nulls);
		if (e->kind == PGBG_FK_ROW)
			rows++;
		else
			others++;
		if (e->kind == PGBG_FK_DONE)
			done = true;
		at += e->size;
	}

	/* all of these are in the result now */
	if (at < p->len)
		sess->fetch_pending_at = at;
	else
	{
		sess->fetch_pending_at = 0;
		if (p->maxlen > PGBG_FETCH_KEEP)
		{
			pfree(p->data);
			memset(p, 0, sizeof(StringInfoData));
		}
		else
			resetStringInfo(p);
	}
	return done;
}

/*
 * The final rows of a job whose outcome we know without (or beyond) the
 * queue: an error from the status block, then "done".
 */
static void
pgbg_fetch_finish_from_status(PgbgFetchBatch *b, StringInfo json)
{
	PgbgSession *sess = b->sess;
	PgbgStatus	st;
	bool		stopped;
	PgbgOutcome outcome = pgbg_observe(sess, &stopped);
	const char *state;

	pgbg_status_snapshot(sess, &st);
	if (outcome == PGBG_RUNNING && !sess->submit_mode)
	{
		/* the queue ended but the postmaster has not reaped it yet */
		outcome = st.cancel_requested ? PGBG_CANCELED : PGBG_LOST;
		pgbg_note_outcome(sess, outcome, NULL);
	}
	if (outcome != PGBG_COMPLETED && st.sqlstate[0] != '\0')
	{
		ErrorData	edata;

		memset(&edata, 0, sizeof(edata));
		edata.elevel = ERROR;
		edata.sqlerrcode = MAKE_SQLSTATE(st.sqlstate[0], st.sqlstate[1],
										 st.sqlstate[2], st.sqlstate[3],
										 st.sqlstate[4]);
		edata.message = st.errmsg;
		resetStringInfo(json);
		pgbg_json_error(json, &edata);
		pgbg_fetch_put(b, PGBG_FK_ERROR, sess->stmt_no + 1, json);
	}
	state = outcome == PGBG_COMPLETED ? "completed" :
		outcome == PGBG_CANCELED ? "canceled" :
		outcome == PGBG_FAILED ? "error" : "lost";
	resetStringInfo(json);
	appendStringInfo(json, "{\"state\":\"%s\"}", state);
	pgbg_fetch_put(b, PGBG_FK_DONE, 0, json);
}

/*
 * The name of a column's type.  The launcher's catalog may not know the
 * type (the job created it and has not committed, or created and dropped
 * it); then the name the worker sent is used.
 */
static const char *
pgbg_column_type_name(Oid typid, int32 typmod, const char *worker_name)
{
	char	   *name;

	name = format_type_extended(typid, typmod,
								FORMAT_TYPE_TYPEMOD_GIVEN |
								FORMAT_TYPE_ALLOW_INVALID);
	/* "???" (or "???[]") is how format_type says it does not know it */
	if (strncmp(name, "???", 3) == 0 || strcmp(name, "-") == 0)
		return worker_name;
	return name;
}

/* Turn one message into pending rows (in json's memory context). */
static void
pgbg_fetch_convert(PgbgFetchBatch *b, StringInfo msg, StringInfo json)
{
	PgbgSession *sess = b->sess;
	char		msgtype = pq_getmsgbyte(msg);
	int			n;
	int			i;

	switch (msgtype)
	{
		case PGBG_MSG_COLUMNS:
			n = pq_getmsgint(msg, 2);
			appendStringInfoChar(json, '[');
			for (i = 0; i < n; i++)
			{
				const char *name = pq_getmsgrawstring(msg);
				Oid			typid = (Oid) pq_getmsgint(msg, 4);
				int32		typmod = (int32) pq_getmsgint(msg, 4);
				const char *typname = pq_getmsgrawstring(msg);

				if (i > 0)
					appendStringInfoChar(json, ',');
				appendStringInfoChar(json, '{');
				pgbg_json_string_or_null(json, "name", name, true);
				pgbg_json_string_or_null(json, "type",
										 pgbg_column_type_name(typid, typmod,
															   typname),
										 false);
				appendStringInfo(json, ",\"type_oid\":%u,\"typmod\":%d}",
								 typid, typmod);
			}
			appendStringInfoChar(json, ']');
			pgbg_fetch_put(b, PGBG_FK_COLUMNS, sess->stmt_no + 1, json);
			break;

		case PGBG_MSG_ROW:
			n = pq_getmsgint(msg, 2);
			appendStringInfoChar(json, '[');
			for (i = 0; i < n; i++)
			{
				int			len = (int) pq_getmsgint(msg, 4);

				if (i > 0)
					appendStringInfoChar(json, ',');
				if (len < 0)
					appendStringInfoString(json, "null");
				else
					/* in json's context, which is reset for every message */
					escape_json(json, pnstrdup(pq_getmsgbytes(msg, len), len));
			}
			appendStringInfoChar(json, ']');
			pgbg_fetch_put(b, PGBG_FK_ROW, sess->stmt_no + 1, json);
			break;

		case PGBG_MSG_COMMAND:
			{
				int64		nrows = pq_getmsgint64(msg);
				const char *tag = pq_getmsgrawstring(msg);

				appendStringInfoChar(json, '{');
				pgbg_json_string_or_null(json, "tag", tag, true);
				if (nrows >= 0)
					appendStringInfo(json, ",\"rows\":" INT64_FORMAT "}", nrows);
				else
					appendStringInfoString(json, ",\"rows\":null}");
				pgbg_fetch_put(b, PGBG_FK_COMMAND, sess->stmt_no + 1, json);
				/* last: a failed conversion is converted again */
				sess->stmt_no++;
			}
			break;

		case PGBG_MSG_NOTICE:
		case PGBG_MSG_ERROR:
			{
				ErrorData	edata;
				bool		is_error;

				pgbg_parse_notice(msg, &edata);
				is_error = (edata.elevel >= ERROR);
				pgbg_json_error(json, &edata);
				pgbg_fetch_put(b, is_error ? PGBG_FK_ERROR : PGBG_FK_NOTICE,
							   sess->stmt_no + 1, json);
				if (is_error)
				{
					PgbgStatus	st;
					bool		canceled;

					pgbg_status_snapshot(sess, &st);
					canceled = st.cancel_requested ||
						edata.sqlerrcode == ERRCODE_QUERY_CANCELED;
					pgbg_note_outcome(sess,
									  canceled ? PGBG_CANCELED : PGBG_FAILED,
									  edata.message);
					resetStringInfo(json);
					appendStringInfo(json, "{\"state\":\"%s\"}",
									 canceled ? "canceled" : "error");
					pgbg_fetch_put(b, PGBG_FK_DONE, 0, json);
				}
			}
			break;

		case PGBG_MSG_DONE:
			pgbg_note_outcome(sess, PGBG_COMPLETED, NULL);
			appendStringInfoString(json, "{\"state\":\"completed\"}");
			pgbg_fetch_put(b, PGBG_FK_DONE, 0, json);
			break;

		default:
			pgbg_unexpected_message(msgtype);
	}
}

/*
 * pg_background_fetch_v2: whatever the worker has produced so far, without
 * blocking (but waiting up to wait_ms for the first message).  At most
 * max_rows rows of kind 'row' and at most max_rows entries of other kinds
 * per call; 'done' always comes last and releases the handle.
 */
void
pgbg_materialize_fetch(PgbgSession *sess, FunctionCallInfo fcinfo,
					   int32 max_rows, int32 wait_ms)
{
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	MemoryContext msgcxt;
	MemoryContext oldcxt;
	PgbgFetchBatch b;
	volatile int committed;
	char	   *volatile inflight = NULL;
	volatile int inflight_len = 0;

	pgbg_check_srf_context(fcinfo, false);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (sess->consumed && !sess->fetching)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("results of pg_background worker %d are already being read",
						sess->key.pid)));
	tupstore = pgbg_init_materialize(fcinfo, tupdesc);
	tupdesc = ((ReturnSetInfo *) fcinfo->resultinfo)->setDesc;
	sess->consumed = true;
	sess->fetching = true;

	msgcxt = AllocSetContextCreate(CurrentMemoryContext,
								   "pg_background fetch message",
								   ALLOCSET_DEFAULT_SIZES);

	memset(&b, 0, sizeof(b));
	b.sess = sess;
	pgbg_fetch_count_pending(&b);
	committed = sess->fetch_pending.len;

	PG_TRY();
	{
		StringInfoData json;
		/* rows left by a failed call are ready: do not wait for more */
		long		timeout = (b.rows + b.others > 0) ? 0 : wait_ms;

		if (sess->fetch_carry != NULL && !b.finished)
		{
			StringInfoData msg;

			msg.data = sess->fetch_carry;
			msg.len = msg.maxlen = sess->fetch_carry_len;
			msg.cursor = 0;
			inflight = sess->fetch_carry;
			oldcxt = MemoryContextSwitchTo(msgcxt);
			initStringInfo(&json);
			pgbg_fetch_convert(&b, &msg, &json);
			MemoryContextSwitchTo(oldcxt);
			committed = sess->fetch_pending.len;
			inflight = NULL;
			pfree(sess->fetch_carry);
			sess->fetch_carry = NULL;
			timeout = 0;
		}

		if (b.finished)
		{
			/* "done" is pending already */
		}
		else if (sess->submit_mode)
		{
			/* no queue: report the outcome once the job has one */
			TimestampTz deadline = GetCurrentTimestamp() +
				(TimestampTz) timeout * 1000;

			for (;;)
			{
				bool		stopped;
				long		left;

				if (pgbg_observe(sess, &stopped) != PGBG_RUNNING)
				{
					oldcxt = MemoryContextSwitchTo(msgcxt);
					initStringInfo(&json);
					pgbg_fetch_finish_from_status(&b, &json);
					MemoryContextSwitchTo(oldcxt);
					committed = sess->fetch_pending.len;
					break;
				}
				left = (long) ((deadline - GetCurrentTimestamp()) / 1000);
				if (left <= 0)
					break;
				(void) WaitLatch(MyLatch,
								 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 Min(left, 1000), PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
		}
		else
		{
			while (!b.finished && b.rows < max_rows && b.others < max_rows &&
				   sess->fetch_pending.len - sess->fetch_pending_at < PGBG_FETCH_BUDGET)
			{
				StringInfoData msg;
				PgbgRecv	r;

				r = pgbg_receive(sess, timeout, &msg);
				timeout = 0;	/* wait only for the first message */
				if (r == PGBG_RECV_EMPTY)
					break;

				MemoryContextReset(msgcxt);
				oldcxt = MemoryContextSwitchTo(msgcxt);
				initStringInfo(&json);
				if (r == PGBG_RECV_DETACHED)
					pgbg_fetch_finish_from_status(&b, &json);
				else
				{
					/* valid until the next receive: the queue keeps it */
					inflight = msg.data;
					inflight_len = msg.len;
					pgbg_fetch_convert(&b, &msg, &json);
				}
				MemoryContextSwitchTo(oldcxt);
				committed = sess->fetch_pending.len;
				inflight = NULL;
			}
		}
	}
	PG_CATCH();
	{
		/* keep what was taken off the queue for the next call */
		if (sess->fetch_pending.data != NULL)
			sess->fetch_pending.len = committed;
		if (inflight != NULL && inflight != sess->fetch_carry)
		{
			sess->fetch_carry = MemoryContextAlloc(sess->cxt, inflight_len);
			memcpy(sess->fetch_carry, inflight, inflight_len);
			sess->fetch_carry_len = inflight_len;
		}
		PG_RE_THROW();
	}
	PG_END_TRY();

	MemoryContextDelete(msgcxt);
	if (pgbg_fetch_emit(sess, tupstore, tupdesc, max_rows))
		pgbg_release(sess, PGBG_RELEASED_FINISHED);
}
