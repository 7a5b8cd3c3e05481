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
 * Batches
 * -------
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
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "pg_background.h"

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

/*
 * What one fetch_v2 call has collected so far (pending entries included).
 * Allocated, not on the stack: the error path of pgbg_materialize_fetch
 * reads what was changed inside its PG_TRY.
 */
typedef struct PgbgFetchBatch
{
	PgbgJobHandle *job;
	StringInfoData json;		/* data of the entry being built */
	int32		rows;			/* "row" entries */
	int32		others;			/* entries of other kinds */
	bool		finished;		/* "done" is pending */
	int			committed;		/* pending up to here is complete */
	const char *inflight;		/* the raw message being converted */
	int			inflight_len;
} PgbgFetchBatch;

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

/*
 * The name of a column's type.  The launcher's catalog may not know the
 * type (the job created it and has not committed, or created and dropped
 * it); then the name the worker sent is used.
 */
static const char *
pgbg_column_type_name(PgbgColumnDesc *col)
{
	char	   *name;

	name = format_type_extended(col->typid, col->typmod,
								FORMAT_TYPE_TYPEMOD_GIVEN |
								FORMAT_TYPE_ALLOW_INVALID);
	/* "???" (or "???[]") is how format_type says it does not know it */
	if (strncmp(name, "???", 3) == 0 || strcmp(name, "-") == 0)
		return col->type_name;
	return name;
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
		pgbg_json_string_or_null(buf, "type", pgbg_column_type_name(col),
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

/* ---- pending entries ---- */

/* Add one entry of the given kind with b->json as data; stmt 0 = NULL. */
static void
pgbg_fetch_put(PgbgFetchBatch *b, PgbgFetchKind kind, int32 stmt)
{
	StringInfo	p = &b->job->fetch_pending;
	int			size = MAXALIGN(PGBG_FETCH_HDR + VARHDRSZ + b->json.len);
	PgbgFetchEntry *e;

	if (p->data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(b->job->cxt);

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
	SET_VARSIZE(p->data + p->len + PGBG_FETCH_HDR, VARHDRSZ + b->json.len);
	memcpy(p->data + p->len + PGBG_FETCH_HDR + VARHDRSZ, b->json.data,
		   b->json.len);
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
	StringInfo	p = &b->job->fetch_pending;
	int			at;

	for (at = b->job->fetch_pending_at; p->data != NULL && at < p->len;)
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
pgbg_fetch_emit(PgbgJobHandle *job, Tuplestorestate *tupstore,
				TupleDesc tupdesc, int32 max_rows)
{
	StringInfo	p = &job->fetch_pending;
	Datum		kinds[PGBG_FK_COUNT];
	int			at = job->fetch_pending_at;
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
		job->fetch_pending_at = at;
	else
	{
		job->fetch_pending_at = 0;
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

/* The final entry: {"state": ...}.  The handle is released once it is out. */
static void
pgbg_fetch_done(PgbgFetchBatch *b, PgbgOutcome outcome)
{
	resetStringInfo(&b->json);
	appendStringInfo(&b->json, "{\"state\":\"%s\"}",
					 pgbg_outcome_names[outcome].state);
	pgbg_fetch_put(b, PGBG_FK_DONE, 0);
}

/*
 * The final entries of a job whose outcome we know without (or beyond) the
 * queue: an error from the status block, then "done".
 */
static void
pgbg_fetch_finish_from_status(PgbgFetchBatch *b)
{
	PgbgStatus	st;
	PgbgOutcome outcome = pgbg_outcome_after_queue(b->job, &st);

	if (outcome != PGBG_COMPLETED && pgbg_status_errcode(&st) != 0)
	{
		ErrorData	edata;

		memset(&edata, 0, sizeof(edata));
		edata.elevel = ERROR;
		edata.sqlerrcode = pgbg_status_errcode(&st);
		edata.message = st.errmsg;
		resetStringInfo(&b->json);
		pgbg_json_error(&b->json, &edata);
		pgbg_fetch_put(b, PGBG_FK_ERROR, b->job->stmt_no + 1);
	}
	pgbg_fetch_done(b, outcome);
}

/* ---- message handlers ---- */

static void
pgbg_fetch_notice_or_error(PgbgFetchBatch *b, PgbgMessage *m)
{
	ErrorData  *edata = m->edata;
	bool		is_error = (edata->elevel >= ERROR);

	pgbg_json_error(&b->json, edata);
	pgbg_fetch_put(b, is_error ? PGBG_FK_ERROR : PGBG_FK_NOTICE,
				   b->job->stmt_no + 1);
	if (is_error)
	{
		PgbgOutcome outcome = pgbg_error_outcome(b->job, edata);

		pgbg_note_outcome(b->job, outcome, edata->message);
		pgbg_fetch_done(b, outcome);
	}
}

/* Add the entries for one decoded message (b->json is empty). */
static void
pgbg_fetch_handle(PgbgFetchBatch *b, PgbgMessage *m)
{
	switch (m->kind)
	{
		case PGBG_MSG_COLUMNS:
			pgbg_json_columns(&b->json, m);
			pgbg_fetch_put(b, PGBG_FK_COLUMNS, b->job->stmt_no + 1);
			break;
		case PGBG_MSG_ROW:
			pgbg_json_row(&b->json, m);
			pgbg_fetch_put(b, PGBG_FK_ROW, b->job->stmt_no + 1);
			break;
		case PGBG_MSG_COMMAND:
			pgbg_json_command(&b->json, m);
			pgbg_fetch_put(b, PGBG_FK_COMMAND, b->job->stmt_no + 1);
			/* last: a failed conversion is converted again */
			b->job->stmt_no++;
			break;
		case PGBG_MSG_NOTICE:
		case PGBG_MSG_ERROR:
			pgbg_fetch_notice_or_error(b, m);
			break;
		case PGBG_MSG_DONE:
			pgbg_note_outcome(b->job, PGBG_COMPLETED, NULL);
			pgbg_fetch_done(b, PGBG_COMPLETED);
			break;
		default:
			pgbg_unexpected_message(m->kind);
	}
}

/* ---- readers ---- */

/*
 * Turn one raw message into pending entries, in msgcxt (reset first).  The
 * message is remembered as in flight until its entries are complete, so
 * that a failure can keep a copy of it (see pgbg_materialize_fetch).
 */
static void
pgbg_fetch_convert(PgbgFetchBatch *b, PgbgDecoder *decoder, StringInfo raw,
				   MemoryContext msgcxt)
{
	MemoryContext oldcxt;
	PgbgMessage m;

	b->inflight = raw->data;
	b->inflight_len = raw->len;
	MemoryContextReset(msgcxt);
	oldcxt = MemoryContextSwitchTo(msgcxt);
	initStringInfo(&b->json);
	pgbg_decode(decoder, raw, &m);
	pgbg_fetch_handle(b, &m);
	MemoryContextSwitchTo(oldcxt);
	b->committed = b->job->fetch_pending.len;
	b->inflight = NULL;
}

/* The final entries from the status block, in msgcxt (reset first). */
static void
pgbg_fetch_convert_status(PgbgFetchBatch *b, MemoryContext msgcxt)
{
	MemoryContext oldcxt;

	MemoryContextReset(msgcxt);
	oldcxt = MemoryContextSwitchTo(msgcxt);
	initStringInfo(&b->json);
	pgbg_fetch_finish_from_status(b);
	MemoryContextSwitchTo(oldcxt);
	b->committed = b->job->fetch_pending.len;
}

/*
 * A message whose conversion failed in an earlier call goes first.  Returns
 * true if there was one.
 */
static bool
pgbg_fetch_carried(PgbgFetchBatch *b, PgbgDecoder *decoder,
				   MemoryContext msgcxt)
{
	PgbgJobHandle *job = b->job;
	StringInfoData raw;

	if (job->fetch_carry == NULL || b->finished)
		return false;
	raw.data = job->fetch_carry;
	raw.len = raw.maxlen = job->fetch_carry_len;
	raw.cursor = 0;
	pgbg_fetch_convert(b, decoder, &raw, msgcxt);
	pfree(job->fetch_carry);
	job->fetch_carry = NULL;
	return true;
}

/*
 * A submitted job has no queue: report its outcome once it has one, waiting
 * up to timeout_ms for it.
 */
static void
pgbg_fetch_submitted(PgbgFetchBatch *b, long timeout_ms, MemoryContext msgcxt)
{
	if (pgbg_wait_for_outcome(b->job, timeout_ms, false))
		pgbg_fetch_convert_status(b, msgcxt);
}

/*
 * Messages from the queue, until max_rows rows or max_rows entries of other
 * kinds (pending ones included) or the memory budget are reached, waiting
 * up to timeout_ms for the first one only.
 */
static void
pgbg_fetch_queued(PgbgFetchBatch *b, PgbgDecoder *decoder, int32 max_rows,
				  long timeout_ms, MemoryContext msgcxt)
{
	StringInfo	pending = &b->job->fetch_pending;

	while (!b->finished && b->rows < max_rows && b->others < max_rows &&
		   pending->len - b->job->fetch_pending_at < PGBG_FETCH_BUDGET)
	{
		StringInfoData raw;
		PgbgRecv	r;

		r = pgbg_receive(b->job, timeout_ms, &raw);
		timeout_ms = 0;			/* wait only for the first message */
		if (r == PGBG_RECV_EMPTY)
			break;
		if (r == PGBG_RECV_DETACHED)
			pgbg_fetch_convert_status(b, msgcxt);
		else
			/* valid until the next receive: the queue keeps it */
			pgbg_fetch_convert(b, decoder, &raw, msgcxt);
	}
}

/*
 * pg_background_fetch_v2: whatever the worker has produced so far, without
 * blocking (but waiting up to wait_ms for the first message).  At most
 * max_rows rows of kind 'row' and at most max_rows entries of other kinds
 * per call; 'done' always comes last and releases the handle.
 */
void
pgbg_materialize_fetch(PgbgJobHandle *job, FunctionCallInfo fcinfo,
					   int32 max_rows, int32 wait_ms)
{
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	PgbgFetchBatch *b;
	PgbgDecoder decoder;
	MemoryContext msgcxt;

	pgbg_check_srf_context(fcinfo, false);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (job->consumed && !job->fetching)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("results of pg_background worker %d are already being read",
						job->key.pid)));
	tupstore = pgbg_init_materialize(fcinfo, tupdesc);
	tupdesc = ((ReturnSetInfo *) fcinfo->resultinfo)->setDesc;
	job->consumed = true;
	job->fetching = true;

	msgcxt = AllocSetContextCreate(CurrentMemoryContext,
								   "pg_background fetch message",
								   ALLOCSET_DEFAULT_SIZES);
	pgbg_decoder_init(&decoder, CurrentMemoryContext, NULL);
	b = palloc0(sizeof(PgbgFetchBatch));
	b->job = job;
	pgbg_fetch_count_pending(b);
	b->committed = job->fetch_pending.len;

	PG_TRY();
	{
		/* rows left by a failed call are ready: do not wait for more */
		long		timeout = (b->rows + b->others > 0) ? 0 : wait_ms;

		if (pgbg_fetch_carried(b, &decoder, msgcxt))
			timeout = 0;
		if (b->finished)
		{
			/* "done" is pending already */
		}
		else if (job->submit_mode)
			pgbg_fetch_submitted(b, timeout, msgcxt);
		else
			pgbg_fetch_queued(b, &decoder, max_rows, timeout, msgcxt);
	}
	PG_CATCH();
	{
		/* keep what was taken off the queue for the next call */
		if (job->fetch_pending.data != NULL)
			job->fetch_pending.len = b->committed;
		if (b->inflight != NULL && b->inflight != job->fetch_carry)
		{
			job->fetch_carry = MemoryContextAlloc(job->cxt, b->inflight_len);
			memcpy(job->fetch_carry, b->inflight, b->inflight_len);
			job->fetch_carry_len = b->inflight_len;
		}
		PG_RE_THROW();
	}
	PG_END_TRY();

	MemoryContextDelete(msgcxt);
	if (pgbg_fetch_emit(job, tupstore, tupdesc, max_rows))
		pgbg_release(job, PGBG_RELEASED_FINISHED);
}
