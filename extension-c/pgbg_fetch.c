/*-------------------------------------------------------------------------
 *
 * pgbg_fetch.c
 *		pg_background_fetch_v2: whatever the worker has produced so far, as
 *		self-describing (kind, stmt, data) rows whose data is JSON.
 *
 * Kinds: "columns", "row" (or, with pg_background.fetch_rows_per_tuple > 1,
 * "rows": a JSON array of up to that many consecutive rows of one
 * statement), "command", "notice", "error", and finally "done" with the
 * job's outcome, which releases the handle.  Nothing blocks except the wait
 * for the first message (wait_ms).  A submitted job has no queue: its "done"
 * comes from the status block once it has an outcome.
 *
 * Batches
 * -------
 * A message taken off the queue cannot be put back, and the rows of a
 * materialized result go away with the call when it fails.  So a batch is
 * first built in the handle's own memory ("pending", which outlives a failed
 * call) and copied into the result only once it is complete.  Whatever fails
 * meanwhile (an interrupt, temp_file_limit while the result spills to disk),
 * every message already taken off the queue is still there for the next
 * call: as pending entries, or, for the message being converted, as a raw
 * copy ("carry") that the next call converts once the pending entries are
 * out.  A carried message that fails to convert twice, and a row whose JSON
 * could never be returned, become an error entry (54000) in their place, so
 * that one message cannot stop the stream.
 *
 * A pending entry is a PgbgFetchEntry followed by the data column as a
 * ready json datum, both MAXALIGNed.  A row's JSON is written there straight
 * from the received message; a "rows" entry grows a row at a time (its
 * closing bracket is overwritten by the next row), and a call cuts it at any
 * row to stay within max_rows: an entry of n rows stands for n messages.
 * The entries of one message are committed together: a failed conversion
 * truncates pending to where the message began.
 *
 * Delivery
 * --------
 * The executor reads a materialized result after the function returned, so
 * the calling statement can still fail (an error in the caller's own
 * expressions, a cancel or statement_timeout while rows are sent).
 * Returned entries therefore stay pending, marked, until that statement's
 * memory goes away: if the transaction is still in progress then, they were
 * delivered and are dropped (a returned "done" releases the handle only
 * now); if it is aborting (or a (sub)transaction abort reaches the mark
 * first), the next call returns them again.  A statement that succeeded
 * inside a transaction that rolls back later has delivered its rows.
 *
 * Sequence numbers and acknowledgements (1.10)
 * --------------------------------------------
 * Every entry carries the number of the last message it stands for (the
 * column seq); a "rows" entry of n rows stands for seq-n+1..seq, and a cut
 * keeps the numbers of its rows.  A call with after_seq X says "I have
 * everything up to X" (pgbg_fetch_ack): the entries up to X are forgotten,
 * the worker may forget them too, and the call returns what follows X,
 * even what an earlier call returned (a client that lost a batch on the
 * wire).  So in that mode delivered entries stay until acknowledged, and
 * "done" releases the handle only at the next call, with after_seq equal
 * to its number.  A call without after_seq acknowledges what was delivered
 * before, as in 1.9.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "pg_background.h"
#include "pgbg_durable.h"

typedef enum PgbgFetchKind
{
	PGBG_FK_COLUMNS,
	PGBG_FK_ROW,
	PGBG_FK_COMMAND,
	PGBG_FK_NOTICE,
	PGBG_FK_ERROR,
	PGBG_FK_DONE,
	PGBG_FK_ROWS
} PgbgFetchKind;

#define PGBG_FK_COUNT	(PGBG_FK_ROWS + 1)

static const char *const pgbg_fetch_kinds[PGBG_FK_COUNT] = {
	"columns", "row", "command", "notice", "error", "done", "rows"
};

typedef struct PgbgFetchEntry
{
	int32		size;			/* of the whole entry, MAXALIGNed */
	int32		stmt;			/* 0 = NULL */
	int32		kind;			/* PgbgFetchKind */
	int32		nrows;			/* rows it holds: 1 for "row", n for "rows" */
	int64		seq;			/* number of the last message it stands for;
								 * a "rows" entry stands for seq-nrows+1..seq */
} PgbgFetchEntry;

#define PGBG_FETCH_HDR	MAXALIGN(sizeof(PgbgFetchEntry))

/* The JSON text of an entry: a json datum right after its header. */
#define PGBG_ENTRY_DATUM(p, at)	((p)->data + (at) + PGBG_FETCH_HDR)
#define PGBG_ENTRY_JSON(p, at)	(PGBG_ENTRY_DATUM(p, at) + VARHDRSZ)
#define PGBG_ENTRY_JSON_LEN(p, at) \
	((int) VARSIZE(PGBG_ENTRY_DATUM(p, at)) - VARHDRSZ)

/*
 * A batch stops taking messages once this much is pending, whatever
 * max_rows says: pending is in memory, unlike the tuplestore, which spills.
 */
#define PGBG_FETCH_BUDGET	(32 * 1024 * 1024)

/*
 * Pending buffers up to this size are kept for the handle's next batch;
 * larger ones are freed as soon as they are delivered, so that idle handles
 * do not hold batch-sized buffers (16 handles x 1 MB at most).
 */
#define PGBG_FETCH_KEEP		(1024 * 1024)

/* A "rows" tuple takes no further row once its JSON is this large. */
#define PGBG_FETCH_TUPLE_BYTES	(8 * 1024 * 1024)

/*
 * The largest JSON value an entry may have: it must fit, with the tuple
 * around it and the protocol message that sends it, into one allocation.
 */
#define PGBG_FETCH_MAX_JSON	((Size) MaxAllocSize - 1024 * 1024)

/* Converting a carried message failed this often: give it up. */
#define PGBG_FETCH_CARRY_TRIES	2

/*
 * What one fetch_v2 call has collected so far (pending entries included).
 * Allocated, not on the stack: the error path of pgbg_materialize_fetch
 * reads what was changed inside its PG_TRY.
 */
typedef struct PgbgFetchBatch
{
	PgbgJobHandle *job;
	StringInfoData json;		/* data of a non-row entry being built */
	int32		max_rows;
	int32		per_tuple;		/* pg_background.fetch_rows_per_tuple */
	int32		rows;			/* rows in entries not yet returned */
	int32		others;			/* entries of other kinds */
	bool		finished;		/* "done" is pending */
	bool		full;			/* the next message did not fit: carried */
	int			committed;		/* pending up to here is complete */
	int64		committed_seq;	/* recv_seq then */
	int			last;			/* where this call's last entry starts, or
								 * -1 */
	int			snap_at;		/* this call's last entry when the message
								 * being converted began, or -1 */
	PgbgFetchEntry snap;		/* and its header then */
	int32		snap_varsize;
	int			rest_at;		/* where the first row that did not fit
								 * starts in its 'B' message */
	const char *inflight;		/* the raw message being converted */
	int			inflight_len;
} PgbgFetchBatch;

/*
 * Returned entries are delivered only when the statement that called
 * fetch_v2 ends without an error (see "Delivery" in the file header).
 * Until then a mark remembers them; marks live in TopMemoryContext, on a
 * session-wide list, and name their handle by key because the handle may be
 * released meanwhile.
 */
typedef struct PgbgFetchMark
{
	PgbgKey		key;
	int			start;			/* the entries returned: [start, end) */
	int			end;
	bool		done;			/* "done" was among them */
	bool		durable;		/* the call passed after_seq */
	int64		last_seq;		/* seq of the last entry returned */
	int			level;			/* transaction nesting level of the call */
	bool		resolved;
} PgbgFetchMark;

static List *pgbg_fetch_marks = NIL;
static bool pgbg_fetch_callbacks = false;

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

/*
 * Rows are most of what fetch_v2 moves, so their JSON is written straight
 * from the received message into the pending buffer: no copy of a value,
 * one enlargement per row, and escaping only where a byte needs it.  The
 * output is byte for byte what escape_json() writes.
 */
static inline bool
pgbg_json_special(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

/* Length of a value as a JSON string, quotes included. */
static Size
pgbg_json_value_len(const char *s, int len)
{
	Size		n = (Size) len + 2;
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!pgbg_json_special(c))
			continue;
		if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t' ||
			c == '"' || c == '\\')
			n += 1;
		else
			n += 5;				/* \u00XX */
	}
	return n;
}

/* The slow path of pgbg_json_value: from the first byte that needs escaping. */
static void
pgbg_json_escape_rest(StringInfo buf, const char *s, const char *end)
{
	const char *run = s;

	for (; s < end; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (!pgbg_json_special(c))
			continue;
		if (s > run)
			appendBinaryStringInfo(buf, run, s - run);
		run = s + 1;
		switch (c)
		{
			case '\b':
				appendBinaryStringInfo(buf, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(buf, "\\f", 2);
				break;
			case '\n':
				appendBinaryStringInfo(buf, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(buf, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(buf, "\\t", 2);
				break;
			case '"':
				appendBinaryStringInfo(buf, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(buf, "\\\\", 2);
				break;
			default:
				appendStringInfo(buf, "\\u%04x", (int) c);
				break;
		}
	}
	if (s > run)
		appendBinaryStringInfo(buf, run, s - run);
}

/*
 * Append one value as a JSON string.  The caller has made room for the
 * value without escapes, quotes included; escapes enlarge as they go.
 */
static inline void
pgbg_json_value(StringInfo buf, const char *s, int len)
{
	char	   *dst = buf->data + buf->len;
	int			i;

	*dst++ = '"';
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (unlikely(pgbg_json_special(c)))
			break;
		dst[i] = (char) c;
	}
	buf->len += 1 + i;
	if (unlikely(i < len))
		pgbg_json_escape_rest(buf, s + i, s + len);
	appendStringInfoCharMacro(buf, '"');
}

/*
 * The row's JSON length: exact, or an upper bound when that is small enough
 * not to matter (the exact length costs a scan of every value).
 */
static Size
pgbg_json_row_len(PgbgMessage *m, Size small)
{
	/* brackets and the commas between values */
	Size		worst = 2 + (m->natts > 0 ? m->natts - 1 : 0);
	Size		exact = worst;
	int			i;

	for (i = 0; i < m->natts; i++)
		worst += (m->lengths[i] < 0 ? 4 : 6 * (Size) m->lengths[i] + 2);
	if (worst <= small)
		return worst;
	for (i = 0; i < m->natts; i++)
		exact += (m->lengths[i] < 0 ? 4 :
				  pgbg_json_value_len(m->values[i], m->lengths[i]));
	return exact;
}

/* [text or null, ...] */
static void
pgbg_json_row(StringInfo buf, PgbgMessage *m)
{
	int			i;

	appendStringInfoCharMacro(buf, '[');
	for (i = 0; i < m->natts; i++)
	{
		int			len = m->lengths[i];

		/* a separator, then the value without escapes, quotes included */
		enlargeStringInfo(buf, (len < 0 ? 4 : len + 2) + 1);
		if (i > 0)
			buf->data[buf->len++] = ',';
		if (len < 0)
		{
			memcpy(buf->data + buf->len, "null", 4);
			buf->len += 4;
		}
		else
			pgbg_json_value(buf, m->values[i], len);
	}
	appendStringInfoCharMacro(buf, ']');
	buf->data[buf->len] = '\0';
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

static void
pgbg_fetch_pending_init(PgbgJobHandle *job)
{
	StringInfo	p = &job->fetch_pending;

	if (p->data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(job->cxt);

		initStringInfo(p);
		MemoryContextSwitchTo(oldcxt);
	}
}

/* Pad the entry that starts at "at" and ends the buffer to MAXALIGN. */
static void
pgbg_fetch_close_entry(StringInfo p, int at)
{
	int			used = p->len - at;
	int			size = MAXALIGN(used);

	enlargeStringInfo(p, size - used);
	memset(p->data + p->len, 0, size - used);
	SET_VARSIZE(p->data + at + PGBG_FETCH_HDR, used - PGBG_FETCH_HDR);
	((PgbgFetchEntry *) (p->data + at))->size = size;
	p->len = at + size;
}

/*
 * Add one entry of the given kind with b->json as data; stmt 0 = NULL; seq
 * is the number of the message it stands for.
 */
static void
pgbg_fetch_put(PgbgFetchBatch *b, PgbgFetchKind kind, int32 stmt, int64 seq)
{
	StringInfo	p = &b->job->fetch_pending;
	int			at;
	PgbgFetchEntry *e;

	pgbg_fetch_pending_init(b->job);
	/* entries start MAXALIGNed: the buffer is, and every size is */
	enlargeStringInfo(p, MAXALIGN(PGBG_FETCH_HDR + VARHDRSZ + b->json.len));
	at = p->len;
	e = (PgbgFetchEntry *) (p->data + at);
	e->stmt = stmt;
	e->kind = kind;
	e->nrows = 0;
	e->seq = seq;
	/* json's internal form is its text */
	memcpy(p->data + at + PGBG_FETCH_HDR + VARHDRSZ, b->json.data, b->json.len);
	p->len += PGBG_FETCH_HDR + VARHDRSZ + b->json.len;
	pgbg_fetch_close_entry(p, at);
	b->last = at;
	b->others++;
	if (kind == PGBG_FK_DONE)
		b->finished = true;
}

/*
 * Where this call's last entry starts, if it is a "rows" entry of stmt that
 * takes another row.
 */
static int
pgbg_fetch_open_rows(PgbgFetchBatch *b, int32 stmt)
{
	StringInfo	p = &b->job->fetch_pending;
	PgbgFetchEntry *e;

	/* rows past this call's max_rows start the next call's tuples */
	if (b->per_tuple <= 1 || b->last < 0 || b->rows == b->max_rows)
		return -1;
	e = (PgbgFetchEntry *) (p->data + b->last);
	if (e->kind != PGBG_FK_ROWS || e->stmt != stmt ||
		e->nrows >= b->per_tuple ||
		PGBG_ENTRY_JSON_LEN(p, b->last) >= PGBG_FETCH_TUPLE_BYTES)
		return -1;
	return b->last;
}

/*
 * A row too large to be returned at all: an error entry says so, and the
 * rest of the result follows.
 */
static void
pgbg_fetch_row_too_large(PgbgFetchBatch *b, Size len, int32 stmt, int64 seq)
{
	ErrorData	edata;

	memset(&edata, 0, sizeof(edata));
	edata.elevel = ERROR;
	edata.sqlerrcode = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
	edata.message = psprintf("row of %zu bytes as JSON is too large for pg_background_fetch_v2",
							 len);
	edata.detail = psprintf("The largest row it can return has %zu bytes; the row was skipped and the rest of the result follows.",
							PGBG_FETCH_MAX_JSON);
	edata.hint = "Read such a result with pg_background_result_v2, or return the value in smaller parts.";
	resetStringInfo(&b->json);
	pgbg_json_error(&b->json, &edata);
	pgbg_fetch_put(b, PGBG_FK_ERROR, stmt, seq);
}

/*
 * One row, written into pending: its own "row" entry, or appended to the
 * open "rows" entry of its statement.  Returns false, adding nothing, when
 * it does not fit beside what is pending (it is carried to the next call).
 */
static bool
pgbg_fetch_row(PgbgFetchBatch *b, PgbgMessage *m, int32 stmt, int64 seq)
{
	PgbgJobHandle *job = b->job;
	StringInfo	p = &job->fetch_pending;
	Size		len = pgbg_json_row_len(m, PGBG_FETCH_TUPLE_BYTES);
	int			open;
	int			at;
	PgbgFetchEntry *e;

	if (len > PGBG_FETCH_MAX_JSON)
	{
		pgbg_fetch_row_too_large(b, len, stmt, seq);
		return true;
	}
	pgbg_fetch_pending_init(job);
	if ((Size) p->len + PGBG_FETCH_HDR + VARHDRSZ + len + MAXIMUM_ALIGNOF + 2 >=
		(Size) MaxAllocSize)
		return false;			/* pending is not empty: it was checked */

	open = pgbg_fetch_open_rows(b, stmt);
	if (open >= 0 &&
		(Size) PGBG_ENTRY_JSON_LEN(p, open) + len + 1 <= PGBG_FETCH_MAX_JSON)
	{
		/* drop the closing bracket, add ",row]" */
		at = open;
		p->len = at + PGBG_FETCH_HDR + VARHDRSZ +
			PGBG_ENTRY_JSON_LEN(p, at) - 1;
		p->data[p->len++] = ',';
		pgbg_json_row(p, m);
		appendStringInfoCharMacro(p, ']');
		e = (PgbgFetchEntry *) (p->data + at);
		e->nrows++;
		e->seq = seq;
	}
	else
	{
		bool		batched = (b->per_tuple > 1);

		enlargeStringInfo(p, PGBG_FETCH_HDR + VARHDRSZ + 1);
		at = p->len;
		e = (PgbgFetchEntry *) (p->data + at);
		e->stmt = stmt;
		e->nrows = 1;
		e->seq = seq;
		e->kind = batched ? PGBG_FK_ROWS : PGBG_FK_ROW;
		p->len += PGBG_FETCH_HDR + VARHDRSZ;
		if (batched)
			p->data[p->len++] = '[';
		pgbg_json_row(p, m);
		if (batched)
			appendStringInfoCharMacro(p, ']');
	}
	pgbg_fetch_close_entry(p, at);
	b->last = at;
	b->rows++;
	return true;
}

/* Count what was taken off the queue earlier and not returned yet. */
static void
pgbg_fetch_count_pending(PgbgFetchBatch *b)
{
	StringInfo	p = &b->job->fetch_pending;
	int			at;

	for (at = b->job->fetch_emit_at; p->data != NULL && at < p->len;)
	{
		PgbgFetchEntry *e = (PgbgFetchEntry *) (p->data + at);

		if (e->kind == PGBG_FK_ROW || e->kind == PGBG_FK_ROWS)
			b->rows += e->nrows;
		else
			b->others++;
		if (e->kind == PGBG_FK_DONE)
			b->finished = true;
		at += e->size;
	}
}

/*
 * Split the "rows" entry at "at" after its first k rows, so that a call
 * returns no more than max_rows rows.  Rare (the rows of one call are
 * grouped within its max_rows), so the entries from "at" on are copied.
 */
static void
pgbg_fetch_split(PgbgJobHandle *job, int at, int k)
{
	StringInfo	p = &job->fetch_pending;
	PgbgFetchEntry *e = (PgbgFetchEntry *) (p->data + at);
	const char *json = PGBG_ENTRY_JSON(p, at);
	int			jlen = PGBG_ENTRY_JSON_LEN(p, at);
	int			pos = 1;		/* after the outer '[' */
	int			row;
	StringInfoData out;
	int			first;
	int			second;

	/* our own JSON: rows are arrays of strings and nulls */
	for (row = 0; row < k; row++)
	{
		bool		in_string = false;

		Assert(json[pos] == '[');
		for (pos++; pos < jlen; pos++)
		{
			char		c = json[pos];

			if (in_string)
			{
				if (c == '\\')
					pos++;
				else if (c == '"')
					in_string = false;
			}
			else if (c == '"')
				in_string = true;
			else if (c == ']')
				break;
		}
		pos++;					/* past the row's ']', at ',' */
	}
	if (pos >= jlen || json[pos] != ',')
		elog(ERROR, "could not split a pg_background_fetch_v2 batch");

	initStringInfo(&out);
	appendBinaryStringInfo(&out, p->data, at);
	/* the first k rows */
	first = out.len;
	enlargeStringInfo(&out, PGBG_FETCH_HDR + VARHDRSZ);
	memcpy(out.data + first, e, sizeof(PgbgFetchEntry));
	out.len += PGBG_FETCH_HDR + VARHDRSZ;
	appendBinaryStringInfo(&out, json, pos);
	appendStringInfoChar(&out, ']');
	((PgbgFetchEntry *) (out.data + first))->nrows = k;
	((PgbgFetchEntry *) (out.data + first))->seq = e->seq - (e->nrows - k);
	pgbg_fetch_close_entry(&out, first);
	/* the others */
	second = out.len;
	enlargeStringInfo(&out, PGBG_FETCH_HDR + VARHDRSZ);
	memcpy(out.data + second, e, sizeof(PgbgFetchEntry));
	out.len += PGBG_FETCH_HDR + VARHDRSZ;
	appendStringInfoChar(&out, '[');
	appendBinaryStringInfo(&out, json + pos + 1, jlen - pos - 1);
	((PgbgFetchEntry *) (out.data + second))->nrows = e->nrows - k;
	pgbg_fetch_close_entry(&out, second);
	/* and what follows */
	appendBinaryStringInfo(&out, p->data + at + e->size,
						   p->len - at - e->size);

	pfree(p->data);
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(job->cxt);

		initStringInfo(p);
		MemoryContextSwitchTo(oldcxt);
	}
	appendBinaryStringInfo(p, out.data, out.len);
	pfree(out.data);
}

/* ---- delivery ---- */

static void
pgbg_fetch_find(PgbgJobHandle *job, void *arg)
{
	PgbgFetchMark *mark = (PgbgFetchMark *) ((void **) arg)[0];

	if (job->key.pid == mark->key.pid && job->key.cookie == mark->key.cookie)
		((void **) arg)[1] = job;
}

/* Everything delivered: let a large buffer go now, not at the next call. */
static void
pgbg_fetch_compact(PgbgJobHandle *job)
{
	StringInfo	p = &job->fetch_pending;

	if (job->fetch_unconfirmed > 0 || p->data == NULL ||
		job->fetch_pending_at == 0)
		return;
	if (job->fetch_pending_at < p->len)
	{
		memmove(p->data, p->data + job->fetch_pending_at,
				p->len - job->fetch_pending_at);
		p->len -= job->fetch_pending_at;
		job->fetch_emit_at -= job->fetch_pending_at;
		job->fetch_pending_at = 0;
		return;
	}
	job->fetch_pending_at = 0;
	job->fetch_emit_at = 0;
	if (p->maxlen > PGBG_FETCH_KEEP)
	{
		pfree(p->data);
		memset(p, 0, sizeof(StringInfoData));
	}
	else
		resetStringInfo(p);
}

/*
 * The statement of a call ended: its entries were delivered (it
 * succeeded), or they go back to be returned again (it failed).  Never
 * raises on the failure path, which runs during abort.
 */
static void
pgbg_fetch_resolve(PgbgFetchMark *mark, bool delivered)
{
	void	   *arg[2] = {mark, NULL};
	PgbgJobHandle *job;

	if (mark->resolved)
		return;
	mark->resolved = true;
	pgbg_registry_foreach(pgbg_fetch_find, arg);
	job = (PgbgJobHandle *) arg[1];
	if (job == NULL)
		return;					/* released meanwhile */
	job->fetch_unconfirmed--;
	if (!delivered)
	{
		if (mark->done)
			job->fetch_done_out = false;
		job->fetch_emit_at = Max(job->fetch_pending_at,
								 Min(job->fetch_emit_at, mark->start));
		return;
	}
	job->delivered_seq = Max(job->delivered_seq, mark->last_seq);
	if (mark->durable)
	{
		/*
		 * Kept until the reader acknowledges them (its next after_seq): it
		 * may not have received them.  "done" releases nothing yet.
		 */
		if (mark->done)
		{
			job->fetch_done_out = false;
			job->done_delivered = true;
		}
		return;
	}
	/* legacy: delivered is acknowledged */
	{
		StringInfo	p = &job->fetch_pending;
		int			at;

		for (at = job->fetch_pending_at; p->data != NULL && at < mark->end;)
		{
			PgbgFetchEntry *e = (PgbgFetchEntry *) (p->data + at);

			if (e->kind == PGBG_FK_ROW || e->kind == PGBG_FK_ROWS)
				job->rows_acked += e->nrows;
			at += e->size;
		}
	}
	job->fetch_pending_at = Max(job->fetch_pending_at, mark->end);
	pgbg_store_ack(job, job->delivered_seq);
	if (mark->done)
		pgbg_release(job, PGBG_RELEASED_FINISHED);
	else
		pgbg_fetch_compact(job);
}

/*
 * Reset callback of the calling statement's memory: it ends.  During an
 * abort the transaction is no longer in progress.
 */
static void
pgbg_fetch_statement_ends(void *arg)
{
	PgbgFetchMark *mark = (PgbgFetchMark *) arg;

	pgbg_fetch_resolve(mark, IsTransactionState());
	pgbg_fetch_marks = list_delete_ptr(pgbg_fetch_marks, mark);
	pfree(mark);
}

/*
 * An abort may reach our marks after or before the statement's memory goes
 * (portals of a failed statement, SPI inside a subtransaction): whichever
 * comes first hands the entries back.
 */
static void
pgbg_fetch_abort_marks(int level)
{
	ListCell   *lc;

	foreach(lc, pgbg_fetch_marks)
	{
		PgbgFetchMark *mark = (PgbgFetchMark *) lfirst(lc);

		if (mark->level >= level)
			pgbg_fetch_resolve(mark, false);
	}
}

static void
pgbg_fetch_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		pgbg_fetch_abort_marks(0);
}

static void
pgbg_fetch_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		pgbg_fetch_abort_marks(GetCurrentTransactionNestLevel());
}

/* Remember entries [start, end) returned by this call until it ends. */
static void
pgbg_fetch_mark(PgbgJobHandle *job, int start, int end, bool done,
				bool durable, int64 last_seq, MemoryContext query_cxt)
{
	PgbgFetchMark *mark;
	MemoryContextCallback *cb;
	MemoryContext oldcxt;

	if (!pgbg_fetch_callbacks)
	{
		RegisterXactCallback(pgbg_fetch_xact_callback, NULL);
		RegisterSubXactCallback(pgbg_fetch_subxact_callback, NULL);
		pgbg_fetch_callbacks = true;
	}
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	mark = palloc0(sizeof(PgbgFetchMark));
	mark->key = job->key;
	mark->start = start;
	mark->end = end;
	mark->done = done;
	mark->durable = durable;
	mark->last_seq = last_seq;
	mark->level = GetCurrentTransactionNestLevel();
	pgbg_fetch_marks = lappend(pgbg_fetch_marks, mark);
	MemoryContextSwitchTo(oldcxt);

	cb = MemoryContextAlloc(query_cxt, sizeof(MemoryContextCallback));
	cb->func = pgbg_fetch_statement_ends;
	cb->arg = mark;
	MemoryContextRegisterResetCallback(query_cxt, cb);
	job->fetch_unconfirmed++;
	if (done)
		job->fetch_done_out = true;
}

/*
 * pg_background.test_pause_fetch_after: once a batch has that many rows in
 * its result, wait here (interruptibly, wait event Extension) so that a test
 * can end the session while the batch is on its way.  A minute at most.
 */
static void
pgbg_fetch_test_pause(int32 rows)
{
	int			i;

	if (pgbg_test_pause_fetch_after <= 0 || rows < pgbg_test_pause_fetch_after)
		return;
	for (i = 0; i < 600; i++)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The reader holds everything up to x (its after_seq, or, for a legacy
 * call, what earlier calls returned): forget those entries and start the
 * next batch at x + 1, whatever was returned before (a rewind when x is
 * below what was delivered; the entries since the last acknowledgement are
 * kept for that).  A "rows" entry that x cuts keeps its rows after x.
 * Returns true if this was the final acknowledgement, which released the
 * handle.
 */
static bool
pgbg_fetch_ack(PgbgJobHandle *job, int64 x, bool explicit)
{
	StringInfo	p = &job->fetch_pending;

	if (explicit && x < job->acked_seq)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("messages up to " INT64_FORMAT " of pg_background worker %d were already acknowledged and are no longer held",
						job->acked_seq, job->key.pid),
				 errdetail("after_seq " INT64_FORMAT " asks for earlier messages.", x)));
	if (explicit && x > pgbg_produced_seq(job))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after_seq " INT64_FORMAT " is beyond the last message of pg_background worker %d (" INT64_FORMAT ")",
						x, job->key.pid, pgbg_produced_seq(job))));
	if (job->final_seq > 0 && x >= job->final_seq &&
		(job->done_delivered || !explicit))
	{
		/* the final acknowledgement: nothing is left to read */
		pgbg_store_ack(job, x);
		pgbg_release(job, PGBG_RELEASED_FINISHED);
		return true;
	}

	/* entries of a call whose statement has not ended stay where they are */
	if (job->fetch_unconfirmed == 0 && p->data != NULL)
	{
		int			at = job->fetch_pending_at;

		while (at < p->len)
		{
			PgbgFetchEntry *e = (PgbgFetchEntry *) (p->data + at);
			int64		first = e->seq - (e->kind == PGBG_FK_ROWS ?
										  e->nrows - 1 : 0);

			if (e->seq <= x)
			{
				if (e->kind == PGBG_FK_ROW || e->kind == PGBG_FK_ROWS)
					job->rows_acked += e->nrows;
				at += e->size;
				continue;
			}
			if (first <= x)
			{
				pgbg_fetch_split(job, at, (int) (x - first + 1));
				job->rows_acked += x - first + 1;
				at += ((PgbgFetchEntry *) (p->data + at))->size;
			}
			break;
		}
		job->fetch_pending_at = at;
		job->fetch_emit_at = at;
		if (job->final_seq == 0 || x < job->final_seq)
			job->done_delivered = false;
		pgbg_fetch_compact(job);
	}
	if (x > job->recv_seq)
		job->skip_to = x;
	pgbg_store_ack(job, x);
	return false;
}

/*
 * Copy pending entries into the result, at most max_rows rows and max_rows
 * others; they stay pending until the calling statement ends.
 */
static void
pgbg_fetch_emit(PgbgJobHandle *job, Tuplestorestate *tupstore,
				TupleDesc tupdesc, int32 max_rows, bool durable,
				MemoryContext query_cxt)
{
	StringInfo	p = &job->fetch_pending;
	Datum		kinds[PGBG_FK_COUNT];
	int			start = job->fetch_emit_at;
	int			at = start;
	int32		rows = 0;
	int32		others = 0;
	bool		done = false;
	int64		last_seq = 0;
	int			i;

	if (p->data == NULL || at >= p->len)
		return;
	for (i = 0; i < PGBG_FK_COUNT; i++)
		kinds[i] = CStringGetTextDatum(pgbg_fetch_kinds[i]);
	while (at < p->len && rows < max_rows && others < max_rows)
	{
		PgbgFetchEntry *e = (PgbgFetchEntry *) (p->data + at);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (e->kind == PGBG_FK_ROWS && rows + e->nrows > max_rows)
		{
			pgbg_fetch_split(job, at, max_rows - rows);
			e = (PgbgFetchEntry *) (p->data + at);
		}
		values[0] = kinds[e->kind];
		values[1] = Int32GetDatum(e->stmt);
		nulls[1] = (e->stmt <= 0);
		values[2] = PointerGetDatum(PGBG_ENTRY_DATUM(p, at));
		/* a 1.9 catalog declares three columns */
		values[3] = Int64GetDatum(e->seq);
		tuplestore_putvalues(tupstore, tupdesc, values, nulls);
		if (e->kind == PGBG_FK_ROW || e->kind == PGBG_FK_ROWS)
			rows += e->nrows;
		else
			others++;
		if (e->kind == PGBG_FK_DONE)
			done = true;
		last_seq = e->seq;
		at += e->size;
		pgbg_fetch_test_pause(rows);
	}
	job->fetch_emit_at = at;
	pgbg_fetch_mark(job, start, at, done, durable, last_seq, query_cxt);
}

/* The final entry: {"state": ...}.  The handle is released once it is out. */
static void
pgbg_fetch_done(PgbgFetchBatch *b, PgbgOutcome outcome, int64 seq)
{
	PgbgStatus	st;

	pgbg_status_snapshot(b->job, &st);
	resetStringInfo(&b->json);
	appendStringInfo(&b->json, "{\"state\":\"%s\"%s}",
					 b->job->interrupted ? "interrupted" :
					 pgbg_outcome_names[outcome].state,
					 st.truncated ? ",\"truncated\":true" : "");
	pgbg_fetch_put(b, PGBG_FK_DONE, 0, seq);
	b->job->recv_seq = seq;
	b->job->final_seq = seq;
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

	/* a restart interrupted the job: no output, no error, only "done" */
	if (b->job->interrupted)
	{
		pgbg_fetch_done(b, outcome, b->job->recv_seq + 1);
		return;
	}
	if (b->job->attached)
	{
		PgbgJobEntry e;
		int64		done_seq = b->job->recv_seq + 1 +
			((outcome != PGBG_COMPLETED && pgbg_status_errcode(&st) != 0) ? 1 : 0);

		/*
		 * The worker numbered its last message; a made-up end that does
		 * not land there would hide a loss from the reader: say so.
		 */
		if (pgbg_jobs_snapshot(pgbg_handle_ref(b->job), &e) &&
			e.final_seq > 0 && !e.truncated && done_seq != e.final_seq)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("held output of pg_background worker %d ends at message " INT64_FORMAT ", but the job's last message is " INT64_FORMAT,
							b->job->key.pid, done_seq, e.final_seq)));
	}
	if (outcome != PGBG_COMPLETED && pgbg_status_errcode(&st) != 0)
	{
		ErrorData	edata;

		memset(&edata, 0, sizeof(edata));
		edata.elevel = ERROR;
		edata.sqlerrcode = pgbg_status_errcode(&st);
		edata.message = st.errmsg;
		resetStringInfo(&b->json);
		pgbg_json_error(&b->json, &edata);
		/* made up here, but numbered as the worker counts (see fetch_done) */
		pgbg_fetch_put(b, PGBG_FK_ERROR, b->job->stmt_no + 1,
					   ++b->job->recv_seq);
	}
	pgbg_fetch_done(b, outcome, b->job->recv_seq + 1);
}

/* ---- message handlers ---- */

static void
pgbg_fetch_notice_or_error(PgbgFetchBatch *b, PgbgMessage *m, int64 seq)
{
	ErrorData  *edata = m->edata;
	bool		is_error = (edata->elevel >= ERROR);

	/*
	 * A notice or an error the reader has already is not sent again; an
	 * error still ends the job here, with "done" numbered after it (the
	 * only part such a reader lacks).
	 */
	if (!is_error && seq <= b->job->skip_to)
		return;
	if (seq > b->job->skip_to)
	{
		pgbg_json_error(&b->json, edata);
		pgbg_fetch_put(b, is_error ? PGBG_FK_ERROR : PGBG_FK_NOTICE,
					   b->job->stmt_no + 1, seq);
	}
	if (is_error)
	{
		PgbgOutcome outcome = pgbg_error_outcome(b->job, edata);

		pgbg_note_outcome(b->job, outcome, edata->message);
		/* the worker sends nothing after an error: "done" is ours */
		pgbg_fetch_done(b, outcome, seq + 1);
	}
}

/*
 * Add the entries for one decoded message (b->json is empty).  Returns
 * false if it did not fit beside what is pending.
 */
/*
 * The columns of a result set, as sent again to a reader that attached
 * without after_seq inside it: {"replayed": true, "columns": [...]}.
 */
char *
pgbg_fetch_replay_json(const char *frame, int len)
{
	StringInfoData raw;
	StringInfoData json;
	PgbgDecoder d;
	PgbgMessage m;

	raw.data = unconstify(char *, frame);
	raw.len = raw.maxlen = len;
	raw.cursor = 0;
	pgbg_decoder_init(&d, CurrentMemoryContext, NULL);
	pgbg_decode(&d, &raw, &m);
	initStringInfo(&json);
	appendStringInfoString(&json, "{\"replayed\":true,\"columns\":");
	pgbg_json_columns(&json, &m);
	appendStringInfoChar(&json, '}');
	return json.data;
}

/*
 * Positioning an attach without after_seq: remember the columns of the
 * result set the skipped messages leave us in.
 */
static void
pgbg_fetch_replay_track(PgbgJobHandle *job, PgbgMessage *m, StringInfo raw,
						int64 seq)
{
	if (job->replay_json != NULL &&
		(m->kind == PGBG_MSG_COLUMNS || m->kind == PGBG_MSG_COMMAND))
	{
		pfree(job->replay_json);
		job->replay_json = NULL;
	}
	if (m->kind == PGBG_MSG_COLUMNS)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(job->cxt);

		job->replay_json = pgbg_fetch_replay_json(raw->data, raw->len);
		job->replay_seq = seq;
		MemoryContextSwitchTo(oldcxt);
	}
}

/* The first message after the attach point: the columns come first. */
static void
pgbg_fetch_replay(PgbgFetchBatch *b)
{
	PgbgJobHandle *job = b->job;

	job->replay_wanted = false;
	if (job->replay_json == NULL)
		return;
	resetStringInfo(&b->json);
	appendStringInfoString(&b->json, job->replay_json);
	pgbg_fetch_put(b, PGBG_FK_COLUMNS, job->stmt_no + 1, job->replay_seq);
	resetStringInfo(&b->json);
	pfree(job->replay_json);
	job->replay_json = NULL;
}

/*
 * Add the entries for one decoded message (b->json is empty), numbering its
 * messages as the worker did.  Messages up to job->skip_to are counted but
 * not added: the reader has them.  Returns false if it did not fit beside
 * what is pending; recv_seq then counts only what was added.
 */
static bool
pgbg_fetch_handle(PgbgFetchBatch *b, PgbgDecoder *d, StringInfo raw,
				  PgbgMessage *m)
{
	PgbgJobHandle *job = b->job;
	int64		seq = job->recv_seq + 1;

	if (m->kind == PGBG_MSG_COMMAND || m->kind == PGBG_MSG_DONE)
		pgbg_check_seq(job, m);
	if (job->replay_wanted && m->kind != PGBG_MSG_ROWS)
	{
		if (seq <= job->skip_to)
			pgbg_fetch_replay_track(job, m, raw, seq);
		else if (m->kind == PGBG_MSG_COLUMNS)
			job->replay_wanted = false; /* a result set of its own */
		else
			pgbg_fetch_replay(b);
	}
	switch (m->kind)
	{
		case PGBG_MSG_ROWS:
			for (;;)
			{
				int			at = raw->cursor;

				if (!pgbg_decode_next_row(d, raw, m))
					break;
				seq = job->recv_seq + 1;
				if (seq > job->skip_to && job->replay_wanted)
					pgbg_fetch_replay(b);
				if (seq > job->skip_to &&
					!pgbg_fetch_row(b, m, job->stmt_no + 1, seq))
				{
					b->rest_at = at;
					return false;
				}
				job->recv_seq = seq;
			}
			return true;
		case PGBG_MSG_COLUMNS:
			if (seq > job->skip_to)
			{
				pgbg_json_columns(&b->json, m);
				pgbg_fetch_put(b, PGBG_FK_COLUMNS, job->stmt_no + 1, seq);
			}
			break;
		case PGBG_MSG_ROW:
			if (seq > job->skip_to &&
				!pgbg_fetch_row(b, m, job->stmt_no + 1, seq))
				return false;
			break;
		case PGBG_MSG_COMMAND:
			if (seq > job->skip_to)
			{
				pgbg_json_command(&b->json, m);
				pgbg_fetch_put(b, PGBG_FK_COMMAND, job->stmt_no + 1, seq);
			}
			/* last: a failed conversion is converted again */
			job->stmt_no++;
			break;
		case PGBG_MSG_NOTICE:
		case PGBG_MSG_ERROR:
			pgbg_fetch_notice_or_error(b, m, seq);
			if (b->finished)
				return true;	/* recv_seq is done's */
			break;
		case PGBG_MSG_DONE:
			pgbg_note_outcome(job, PGBG_COMPLETED, NULL);
			pgbg_fetch_done(b, PGBG_COMPLETED, seq);
			return true;
		default:
			pgbg_unexpected_message(m->kind);
	}
	job->recv_seq = seq;
	return true;
}

/* ---- readers ---- */

/* Keep a copy of a message taken off the queue for the next call. */
static void
pgbg_fetch_keep_raw(PgbgJobHandle *job, const char *data, int len)
{
	job->fetch_carry = MemoryContextAlloc(job->cxt, len);
	memcpy(job->fetch_carry, data, len);
	job->fetch_carry_len = len;
}

/*
 * A message that did not fit beside what is pending is carried: all of it,
 * or, from a 'B' message, the rows from rest_at on.
 */
static void
pgbg_fetch_keep_rest(PgbgFetchBatch *b, StringInfo raw)
{
	PgbgJobHandle *job = b->job;
	char	   *old = (raw->data == job->fetch_carry) ? job->fetch_carry : NULL;
	int			from = (b->rest_at > 1) ? b->rest_at : 0;
	int			len = raw->len - from + (from > 0 ? 1 : 0);
	char	   *copy = MemoryContextAlloc(job->cxt, len);

	if (from > 0)
	{
		copy[0] = PGBG_MSG_ROWS;
		memcpy(copy + 1, raw->data + from, raw->len - from);
	}
	else
		memcpy(copy, raw->data, raw->len);
	job->fetch_carry = copy;
	job->fetch_carry_len = len;
	job->fetch_carry_tries = 0;
	if (old != NULL)
		pfree(old);
}

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
	bool		fits;

	b->inflight = raw->data;
	b->inflight_len = raw->len;
	/* the entry rows may be added to, as it is now (see PG_CATCH below) */
	b->snap_at = b->last;
	if (b->snap_at >= 0)
	{
		StringInfo	p = &b->job->fetch_pending;

		memcpy(&b->snap, p->data + b->snap_at, sizeof(PgbgFetchEntry));
		b->snap_varsize = VARSIZE(PGBG_ENTRY_DATUM(p, b->snap_at));
	}
	b->rest_at = -1;
	MemoryContextReset(msgcxt);
	oldcxt = MemoryContextSwitchTo(msgcxt);
	resetStringInfo(&b->json);
	pgbg_decode(decoder, raw, &m);
	fits = pgbg_fetch_handle(b, decoder, raw, &m);
	MemoryContextSwitchTo(oldcxt);
	if (!fits)
		pgbg_fetch_keep_rest(b, raw);
	b->full = !fits;
	b->committed = b->job->fetch_pending.len;
	b->committed_seq = b->job->recv_seq;
	b->snap_at = -1;
	b->inflight = NULL;
}

/* The final entries from the status block, in msgcxt (reset first). */
static void
pgbg_fetch_convert_status(PgbgFetchBatch *b, MemoryContext msgcxt)
{
	MemoryContext oldcxt;

	MemoryContextReset(msgcxt);
	oldcxt = MemoryContextSwitchTo(msgcxt);
	resetStringInfo(&b->json);
	pgbg_fetch_finish_from_status(b);
	MemoryContextSwitchTo(oldcxt);
	b->committed = b->job->fetch_pending.len;
	b->committed_seq = b->job->recv_seq;
}

/*
 * A message whose conversion failed in an earlier call goes first, but
 * only once nothing else is pending: whatever it does, the entries already
 * built are returned first.  A message that failed to convert twice is
 * given up, with an error entry in its place.  Returns true if the carried
 * message is out of the way (or there was none).
 */
static bool
pgbg_fetch_carried(PgbgFetchBatch *b, PgbgDecoder *decoder,
				   MemoryContext msgcxt)
{
	PgbgJobHandle *job = b->job;
	StringInfoData raw;

	if (job->fetch_carry == NULL)
		return true;
	if (b->finished || b->rows + b->others > 0)
		return false;
	if (job->fetch_carry_tries >= PGBG_FETCH_CARRY_TRIES)
	{
		ErrorData	edata;

		memset(&edata, 0, sizeof(edata));
		edata.elevel = ERROR;
		edata.sqlerrcode = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		edata.message = psprintf("a message of %d bytes from the worker could not be converted by pg_background_fetch_v2",
								 job->fetch_carry_len);
		edata.detail = "Converting it failed repeatedly; it was skipped and the rest of the result follows.";
		resetStringInfo(&b->json);
		pgbg_json_error(&b->json, &edata);
		/* it stands for all the messages of the frame it replaces */
		job->recv_seq += pgbg_frame_messages(job->fetch_carry,
											 job->fetch_carry_len);
		pgbg_fetch_put(b, PGBG_FK_ERROR, job->stmt_no + 1, job->recv_seq);
		b->committed = job->fetch_pending.len;
		b->committed_seq = job->recv_seq;
	}
	else
	{
		raw.data = job->fetch_carry;
		raw.len = raw.maxlen = job->fetch_carry_len;
		raw.cursor = 0;
		pgbg_fetch_convert(b, decoder, &raw, msgcxt);
		if (b->full)
			return false;		/* still carried */
	}
	pfree(job->fetch_carry);
	job->fetch_carry = NULL;
	job->fetch_carry_tries = 0;
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

	while (!b->finished && !b->full && b->rows < max_rows &&
		   b->others < max_rows &&
		   pending->len - b->job->fetch_emit_at < PGBG_FETCH_BUDGET)
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
 * max_rows rows and at most max_rows entries of other kinds per call;
 * 'done' always comes last and releases the handle when the calling
 * statement ends.
 */
void
pgbg_materialize_fetch(PgbgJobHandle *job, FunctionCallInfo fcinfo,
					   int32 max_rows, int32 wait_ms, bool has_after,
					   int64 after_seq)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
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
	tupdesc = rsinfo->setDesc;
	job->consumed = true;
	job->fetching = true;

	/* "done" is out; the handle goes when that statement ends */
	if (job->fetch_done_out)
		return;

	/* what the reader has: after_seq, or what earlier calls returned */
	if (pgbg_fetch_ack(job, has_after ? after_seq :
					   Max(job->delivered_seq, job->acked_seq), has_after))
		return;					/* final acknowledgement: released */

	pgbg_fetch_compact(job);
	msgcxt = AllocSetContextCreate(CurrentMemoryContext,
								   "pg_background fetch message",
								   ALLOCSET_DEFAULT_SIZES);
	pgbg_decoder_init(&decoder, CurrentMemoryContext, NULL);
	b = palloc0(sizeof(PgbgFetchBatch));
	b->job = job;
	b->max_rows = max_rows;
	b->per_tuple = Min(pgbg_fetch_rows_per_tuple, max_rows);
	b->snap_at = -1;
	b->last = -1;
	initStringInfo(&b->json);
	pgbg_fetch_count_pending(b);
	b->committed = job->fetch_pending.len;
	b->committed_seq = job->recv_seq;

	PG_TRY();
	{
		/* rows left by a failed call are ready: do not wait for more */
		long		timeout = (b->rows + b->others > 0) ? 0 : wait_ms;

		if (!pgbg_fetch_carried(b, &decoder, msgcxt))
		{
			/* the carried message comes after what is pending */
		}
		else if (b->finished)
		{
			/* "done" is pending already */
		}
		else if (job->submit_mode)
			pgbg_fetch_submitted(b, b->rows + b->others > 0 ? 0 : timeout,
								 msgcxt);
		else
			pgbg_fetch_queued(b, &decoder, max_rows,
							  b->rows + b->others > 0 ? 0 : timeout, msgcxt);
	}
	PG_CATCH();
	{
		/*
		 * Keep what was taken off the queue for the next call: pending as it
		 * was before the message being converted, whose rows may have been
		 * added to an entry that was complete before (its closing bracket
		 * overwritten, its header changed).
		 */
		if (b->snap_at >= 0)
		{
			StringInfo	p = &job->fetch_pending;

			memcpy(p->data + b->snap_at, &b->snap, sizeof(PgbgFetchEntry));
			SET_VARSIZE(PGBG_ENTRY_DATUM(p, b->snap_at), b->snap_varsize);
			if (b->snap.kind == PGBG_FK_ROWS)
				p->data[b->snap_at + PGBG_FETCH_HDR + b->snap_varsize - 1] = ']';
		}
		if (job->fetch_pending.data != NULL)
			job->fetch_pending.len = b->committed;
		job->recv_seq = b->committed_seq;
		if (b->inflight != NULL && b->inflight == job->fetch_carry)
			job->fetch_carry_tries++;
		else if (b->inflight != NULL)
		{
			pgbg_fetch_keep_raw(job, b->inflight, b->inflight_len);
			job->fetch_carry_tries = 1;
		}
		PG_RE_THROW();
	}
	PG_END_TRY();

	MemoryContextDelete(msgcxt);
	pgbg_fetch_emit(job, tupstore, tupdesc, max_rows, has_after,
					rsinfo->econtext->ecxt_per_query_memory);
}
