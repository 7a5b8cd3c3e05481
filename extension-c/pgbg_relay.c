/*-------------------------------------------------------------------------
 *
 * pgbg_relay.c
 *		Launcher side: receiving messages from a worker's queue and decoding
 *		each one, once, into a PgbgMessage; the helpers both readers share.
 *		The readers themselves are pgbg_result.c (typed rows for
 *		pg_background_result*) and pgbg_fetch.c (the self-describing
 *		(kind, stmt, data) rows of pg_background_fetch_v2).
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

#include "funcapi.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pg_background.h"
#include "pgbg_durable.h"

typedef struct PgbgErrorContextArg
{
	int32		pid;
} PgbgErrorContextArg;

static void pgbg_error_context(void *arg);

/*
 * Receive the next message.  timeout_ms: 0 = do not wait, -1 = wait as long
 * as it takes, otherwise the longest wait.  The returned msg points into the
 * queue (no copy) and is valid until the next call.
 */
PgbgRecv
pgbg_receive(PgbgJobHandle *job, long timeout_ms, StringInfo msg)
{
	TimestampTz start = 0;
	int			polls = 0;

	/* result_v2 acknowledges every 256 messages, and before it waits */
	if (job->ack_on_receipt && job->recv_seq - job->acked_seq >= 256)
		pgbg_store_ack(job, job->recv_seq);
	if (job->attached)
	{
		if (job->ack_on_receipt && timeout_ms != 0)
			pgbg_store_ack(job, job->recv_seq);
		return pgbg_held_receive(job, timeout_ms, msg);
	}
	for (;;)
	{
		shm_mq_result res;
		Size		nbytes;
		void	   *data;
		long		wait = -1;
		int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;

		res = shm_mq_receive(job->mqh, &nbytes, &data, true);
		if (res == SHM_MQ_SUCCESS)
		{
			if (nbytes == 0)
				continue;
			/* a trickle is no stream: do not keep polling for it */
			if (polls > PGBG_POLL_DENSE)
				job->recv_streak = 0;
			else if (job->recv_streak < PGBG_POLL_STREAK)
				job->recv_streak++;
			msg->data = (char *) data;
			msg->len = (int) nbytes;
			msg->maxlen = (int) nbytes;
			msg->cursor = 0;
			return PGBG_RECV_MESSAGE;
		}
		if (res == SHM_MQ_DETACHED)
		{
			/*
			 * A take-over makes the worker leave the queue: that is no end
			 * of the job, and nothing may be concluded from it (55006).
			 */
			pgbg_jobs_check_reader(pgbg_handle_ref(job), job->reader_epoch);
			return PGBG_RECV_DETACHED;
		}

		if (timeout_ms == 0)
			return PGBG_RECV_EMPTY;
		if (job->ack_on_receipt)
			pgbg_store_ack(job, job->recv_seq);
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
		if (job->recv_streak >= PGBG_POLL_STREAK && polls < PGBG_POLL_MAX)
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
		job->recv_streak = 0;
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
pgbg_push_error_context(PgbgJobHandle *job, ErrorContextCallback *cb)
{
	PgbgErrorContextArg *a = palloc(sizeof(PgbgErrorContextArg));

	a->pid = job->key.pid;
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

/* Both readers know every message type the worker sends. */
void
pgbg_unexpected_message(char msgtype)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("unexpected message type 0x%02x from pg_background worker",
					(unsigned char) msgtype)));
}

void
pgbg_decoder_init(PgbgDecoder *d, MemoryContext cxt, MemoryContext error_cxt)
{
	memset(d, 0, sizeof(PgbgDecoder));
	d->cxt = cxt;
	d->error_cxt = error_cxt;
}

/* Make room for natts columns; the arrays only ever grow. */
static void
pgbg_decoder_reserve(PgbgDecoder *d, int natts)
{
	int			capacity;

	if (natts <= d->capacity)
		return;
	capacity = Max(natts, 16);
	if (d->capacity > 0)
	{
		pfree(d->columns);
		pfree(d->values);
		pfree(d->lengths);
	}
	d->columns = MemoryContextAlloc(d->cxt, sizeof(PgbgColumnDesc) * capacity);
	d->values = MemoryContextAlloc(d->cxt, sizeof(const char *) * capacity);
	d->lengths = MemoryContextAlloc(d->cxt, sizeof(int) * capacity);
	d->capacity = capacity;
}

/* 'T': int16 natts, then per column name\0, type oid, typmod, type name\0 */
static void
pgbg_decode_columns(PgbgDecoder *d, StringInfo raw, PgbgMessage *m)
{
	int			i;

	m->natts = pq_getmsgint(raw, 2);
	pgbg_decoder_reserve(d, m->natts);
	m->columns = d->columns;
	for (i = 0; i < m->natts; i++)
	{
		m->columns[i].name = pq_getmsgrawstring(raw);
		m->columns[i].typid = (Oid) pq_getmsgint(raw, 4);
		m->columns[i].typmod = (int32) pq_getmsgint(raw, 4);
		m->columns[i].type_name = pq_getmsgrawstring(raw);
	}
}

/* 'D': int16 natts, then per column int32 length (-1 = NULL) and bytes */
static void
pgbg_decode_row(PgbgDecoder *d, StringInfo raw, PgbgMessage *m)
{
	int			i;

	m->natts = pq_getmsgint(raw, 2);
	pgbg_decoder_reserve(d, m->natts);
	m->values = d->values;
	m->lengths = d->lengths;
	for (i = 0; i < m->natts; i++)
	{
		int			len = (int) pq_getmsgint(raw, 4);

		m->lengths[i] = len;
		m->values[i] = len < 0 ? NULL : pq_getmsgbytes(raw, len);
	}
}

/*
 * 'N' and 'E': the standard error fields.  An error's data goes to
 * error_cxt when the decoder has one, so that it can outlive the message.
 */
static void
pgbg_decode_error(PgbgDecoder *d, StringInfo raw, PgbgMessage *m)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (m->kind == PGBG_MSG_ERROR && d->error_cxt != NULL)
		cxt = d->error_cxt;
	cxt = MemoryContextSwitchTo(cxt);
	m->edata = palloc0(sizeof(ErrorData));
	pq_parse_errornotice(raw, m->edata);
	MemoryContextSwitchTo(cxt);
}

/*
 * Decode one message from the worker (see the wire format in
 * pg_background.h).  The one place that knows the layout of each kind.
 */
void
pgbg_decode(PgbgDecoder *d, StringInfo raw, PgbgMessage *m)
{
	m->kind = pq_getmsgbyte(raw);
	switch (m->kind)
	{
		case PGBG_MSG_COLUMNS:
			pgbg_decode_columns(d, raw, m);
			break;
		case PGBG_MSG_ROW:
			pgbg_decode_row(d, raw, m);
			break;
		case PGBG_MSG_ROWS:
			/* the rows follow, one per pgbg_decode_next_row() */
			m->natts = 0;
			break;
		case PGBG_MSG_COMMAND:
			m->rows = pq_getmsgint64(raw);
			m->tag = pq_getmsgrawstring(raw);
			m->seq = pq_getmsgint64(raw);
			break;
		case PGBG_MSG_NOTICE:
		case PGBG_MSG_ERROR:
			pgbg_decode_error(d, raw, m);
			break;
		case PGBG_MSG_DONE:
			m->seq = pq_getmsgint64(raw);
			break;
		default:
			pgbg_unexpected_message(m->kind);
	}
}

/*
 * 'C' and 'Z' carry the worker's number for them: it must be the next one
 * this reader counts, or messages were lost or duplicated on the way.
 */
void
pgbg_check_seq(PgbgJobHandle *job, PgbgMessage *m)
{
	if (m->seq != job->recv_seq + 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("pg_background worker %d sent message number " INT64_FORMAT " where " INT64_FORMAT " was expected",
						job->key.pid, m->seq, job->recv_seq + 1)));
}

/* How many messages a frame stands for: the rows of a 'B', else one. */
int
pgbg_frame_messages(const char *data, int len)
{
	int			pos = 1;
	int			n = 0;

	if (len < 1 || data[0] != PGBG_MSG_ROWS)
		return 1;
	while (pos + 2 <= len)
	{
		uint16		natts;
		int			i;

		memcpy(&natts, data + pos, 2);
		natts = pg_ntoh16(natts);
		pos += 2;
		for (i = 0; i < natts && pos + 4 <= len; i++)
		{
			uint32		vlen;

			memcpy(&vlen, data + pos, 4);
			vlen = pg_ntoh32(vlen);
			pos += 4;
			if ((int32) vlen > 0)
				pos += (int) vlen;
		}
		n++;
	}
	return n;
}

/*
 * The reader holds everything up to seq: the worker may forget it.  One
 * store, and a wakeup for a worker that waits for acknowledgements.
 */
void
pgbg_store_ack(PgbgJobHandle *job, int64 seq)
{
	struct PGPROC *proc;
	bool		to_worker;

	if (seq <= job->acked_seq)
		return;
	to_worker = (job->fixed != NULL && job->fixed->durable && !job->attached);

	/*
	 * Only the reader acknowledges: a handle taken over while it was inside
	 * a call must not make the worker forget what the taker has not read.
	 * The registry and the worker's status block are written together under
	 * the entry's lock, after the epoch check (see pgbg_jobs_publish_acked).
	 */
	if (!pgbg_jobs_publish_acked(pgbg_handle_ref(job), job->reader_epoch, seq,
								 job->rows_acked,
								 to_worker ? &job->fixed->status.acked_seq : NULL))
		return;
	job->acked_seq = seq;
	if (!to_worker)
		return;
	SpinLockAcquire(&job->fixed->status.mutex);
	proc = job->fixed->status.worker_proc;
	SpinLockRelease(&job->fixed->status.mutex);
	if (proc != NULL)
		SetLatch(&proc->procLatch);
}

/* The number of the last message the worker has sent. */
int64
pgbg_produced_seq(PgbgJobHandle *job)
{
	if (job->attached)
	{
		int64		w_off;
		int64		w_seq;
		PgbgJobEntry e;
		int64		last = job->recv_seq;

		(void) pgbg_jobs_read_position(pgbg_handle_ref(job), &w_off, &w_seq);
		if (pgbg_jobs_snapshot(pgbg_handle_ref(job), &e))
			last = Max(last, Max(e.last_seq, e.final_seq));
		return Max(last, w_seq);
	}
	if (job->fixed == NULL)
		return job->recv_seq;
	return Max(job->recv_seq,
			   (int64) pg_atomic_read_u64(&job->fixed->status.produced_seq));
}

/*
 * The next row of a 'B' message (after pgbg_decode), into m as a 'D'
 * message's row would be; false after the last one.
 */
bool
pgbg_decode_next_row(PgbgDecoder *d, StringInfo raw, PgbgMessage *m)
{
	if (raw->cursor >= raw->len)
		return false;
	pgbg_decode_row(d, raw, m);
	return true;
}

/*
 * The outcome an error from the worker stands for: a cancel we asked for
 * (whatever error it ended in, e.g. the termination after a grace period)
 * is CANCELED, anything else FAILED, timeouts included (they raise 57014
 * too, but nobody asked for a cancel).  The worker decides the same way
 * when it records its outcome (pgbg_exec.c).
 */
PgbgOutcome
pgbg_error_outcome(PgbgJobHandle *job, ErrorData *edata)
{
	PgbgStatus	st;

	pgbg_status_snapshot(job, &st);
	if (st.cancel_requested)
		return PGBG_CANCELED;
	return PGBG_FAILED;
}
