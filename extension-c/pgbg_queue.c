/*-------------------------------------------------------------------------
 *
 * pgbg_queue.c
 *		The worker's side of the queue: the single writer through which every
 *		message reaches the launcher, with its overflow FIFO, and the
 *		PQcommMethods that route notices and errors from elog.c into it.
 *
 * All bytes that reach the queue go through pgbg_send(): rows and command
 * tags from our DestReceiver (pgbg_exec.c), and notices/errors from elog.c,
 * which we catch by installing our own PQcommMethods (the mechanism
 * pq_redirect_to_shm_mq() uses for parallel workers).  We do not use
 * pqmq.c's methods because a queue must have exactly one writer that knows
 * its state:
 *   - rows are sent with force_flush = false, so the launcher is woken once
 *     per quarter of the ring rather than once per row; a notice sent by a
 *     second writer would publish its bytes at a position that ignores our
 *     unflushed ones;
 *   - while we wait for space we set the shared "blocked on full queue" flag
 *     that pg_background_wait_v2 uses to detect a reader that will never
 *     come;
 *   - a message may be half written when a cancel or terminate interrupts
 *     the wait.  Nothing may follow it, so we stop writing to the queue
 *     altogether (the final outcome is still recorded in the status block).
 *
 * If the launcher detaches (pg_background_detach, or its session ends), the
 * sends report SHM_MQ_DETACHED: we stop producing output and let the job
 * run to completion and commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "libpq/libpq.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/dsm.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "tcop/dest.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"

#include "pg_background.h"

/*
 * State of our single writer to the queue.
 *
 * Messages that do not fit into the ring go to a private FIFO ("overflow")
 * instead of making the worker sleep: like a socket buffer, it lets the job
 * keep running while the launcher is not scheduled, which matters on a busy
 * machine where a 64 kB ring fills within a fraction of a time slice.  The
 * FIFO is bounded (PGBG_OVERFLOW_MAX); beyond that, and at the end of each
 * statement and of the job, the worker waits for the launcher as before.
 * Entries are a uint32 length followed by the message; the head entry may
 * already be partly in the ring (shm_mq remembers how much), which is fine
 * because it is always retried with the same bytes.
 */
#define PGBG_OVERFLOW_MAX	(4 * 1024 * 1024)

typedef enum PgbgDrain
{
	PGBG_DRAIN_TRY,				/* move what fits, never wait */
	PGBG_DRAIN_BOUNDED,			/* wait while the FIFO exceeds its limit */
	PGBG_DRAIN_ALL				/* wait until everything is in the ring */
} PgbgDrain;

typedef struct PgbgOutput
{
	shm_mq_handle *mqh;
	bool		sending;		/* inside pgbg_send() */
	bool		blocked;		/* mirror of status->blocked_on_queue */
	bool		ring_full;		/* the last put found no room */
	int64		full_since_ms;	/* when it did */
	int64		last_flush_ms;
	StringInfoData overflow;	/* FIFO; .cursor = start of the head entry */
	StringInfoData rows;		/* rows not sent yet, as one 'B' message */
	int			rows_n;			/* how many */
	int64		next_seq;		/* number of the next message */
	StringInfoData tagged;		/* a 'C' or 'Z' message with its number */
} PgbgOutput;

/*
 * Rows go out several to a message, up to this many bytes: a message costs
 * the worker (which limits a stream) a shm_mq_send() and the launcher a
 * receive, about a tenth of the worker's time for narrow rows when every
 * row was its own message.  Rows wait in the frame only as long as they
 * would have waited unpublished in the ring (see pgbg_send), and a larger
 * row goes alone as a 'D' message.
 */
#define PGBG_ROWS_FRAME		8192

static PgbgOutput pgbg_out;

/*
 * No more output, ever, for this job: the launcher went away, a send was
 * interrupted, or the job is submit-only.  Read for every row, so it is a
 * plain variable.
 */
bool		pgbg_output_abandoned = true;

/*
 * The job's last transaction has committed (set by pgbg_exec.c).  From then
 * on a cancel or the job's deadline cannot undo anything: while we wait for
 * the launcher to take the final messages, a cancel only gives up the
 * output (pgbg_output_cut), and the job is still reported completed.
 */
bool		pgbg_job_committed = false;
bool		pgbg_output_cut = false;

static int64 pgbg_now_ms(void);
static bool pgbg_send_rows(void);
static bool pgbg_send_message(const char *data, Size len, bool flush,
							  bool drain, int nmsgs);
static void pgbg_set_blocked(bool blocked);
static shm_mq_result pgbg_put(const char *data, Size len, bool flush,
							  bool wait);
static void pgbg_overflow_append(const char *data, Size len);
static bool pgbg_drain(PgbgDrain mode, bool flush);
static bool pgbg_ring_may_have_room(int64 now);
static void pgbg_output_detached(dsm_segment *seg, Datum arg);
static void pgbg_comm_reset(void);
static int	pgbg_comm_flush(void);
static int	pgbg_comm_flush_if_writable(void);
static bool pgbg_comm_is_send_pending(void);
static int	pgbg_comm_putmessage(char msgtype, const char *s, size_t len);
static void pgbg_comm_putmessage_noblock(char msgtype, const char *s,
										 size_t len);

static const PQcommMethods pgbg_comm_methods = {
	pgbg_comm_reset,
	pgbg_comm_flush,
	pgbg_comm_flush_if_writable,
	pgbg_comm_is_send_pending,
	pgbg_comm_putmessage,
	pgbg_comm_putmessage_noblock
};

/*
 * Millisecond clock for the flush interval.  It is read for every row, so
 * use the cheap coarse clock where there is one; 20 ms does not need more.
 */
static int64
pgbg_now_ms(void)
{
#ifdef CLOCK_MONOTONIC_COARSE
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#else
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	return (int64) INSTR_TIME_GET_MILLISEC(now);
#endif
}

void
pgbg_wake_launcher(void)
{
	if (pgbg_my_fixed != NULL && pgbg_my_fixed->launcher_proc != NULL)
		SetLatch(&pgbg_my_fixed->launcher_proc->procLatch);
}

static void
pgbg_set_blocked(bool blocked)
{
	if (pgbg_out.blocked == blocked || pgbg_my_status == NULL)
		return;
	pgbg_out.blocked = blocked;
	SpinLockAcquire(&pgbg_my_status->mutex);
	pgbg_my_status->blocked_on_queue = blocked;
	SpinLockRelease(&pgbg_my_status->mutex);
	/* a launcher inside pg_background_wait_v2 wants to know at once */
	if (blocked)
		pgbg_wake_launcher();
}

/*
 * Stop writing to the queue for good.  whereToSendOutput = DestNone keeps
 * elog.c from even building client messages.
 */
void
pgbg_abandon_output(void)
{
	pgbg_output_abandoned = true;
	pgbg_out.sending = false;
	whereToSendOutput = DestNone;
	if (pgbg_out.rows.data != NULL)
		resetStringInfo(&pgbg_out.rows);
	if (pgbg_out.overflow.data != NULL)
	{
		resetStringInfo(&pgbg_out.overflow);
		pgbg_out.overflow.cursor = 0;
	}
	pgbg_set_blocked(false);
}

/*
 * Put one message into the ring.  With wait = false, SHM_MQ_WOULD_BLOCK
 * means "part or none of it is in the ring, call again with the same
 * bytes".  With wait = true we sleep until there is room; a cancel or
 * terminate request while we sleep gives up the queue for good (the message
 * may be half written, and nothing may follow it), and SHM_MQ_DETACHED is
 * returned also in that case.
 */
static shm_mq_result
pgbg_put(const char *data, Size len, bool flush, bool wait)
{
	for (;;)
	{
		shm_mq_result res;

		res = pgbg_shm_mq_send(pgbg_out.mqh, len, data, true, flush);
		if (res == SHM_MQ_WOULD_BLOCK)
		{
			pgbg_out.ring_full = true;
			pgbg_out.full_since_ms = pgbg_now_ms();
		}
		else
			pgbg_out.ring_full = false;
		if (res == SHM_MQ_SUCCESS)
		{
			pgbg_set_blocked(false);
			return res;
		}
		if (res == SHM_MQ_DETACHED)
		{
			/* The launcher went away: finish the job without output. */
			pgbg_abandon_output();
			return res;
		}
		if (!wait)
			return res;

		/* after SIGTERM never wait for a reader */
		if (pgbg_terminating)
		{
			pgbg_abandon_output();
			return SHM_MQ_DETACHED;
		}
		pgbg_set_blocked(true);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, 0,
						 PGBG_WAIT_EVENT_SEND);
		ResetLatch(MyLatch);
		if (InterruptPending)
		{
			if (QueryCancelPending && !ProcDiePending && pgbg_job_committed)
			{
				/* too late to cancel: keep the commit, drop the output */
				QueryCancelPending = false;
				pgbg_output_cut = true;
				pgbg_abandon_output();
				return SHM_MQ_DETACHED;
			}
			if (QueryCancelPending || ProcDiePending)
			{
				pgbg_abandon_output();
				CHECK_FOR_INTERRUPTS();
				return SHM_MQ_DETACHED; /* interrupts were held off */
			}
			CHECK_FOR_INTERRUPTS();
		}
	}
}

static void
pgbg_overflow_append(const char *data, Size len)
{
	uint32		len32 = (uint32) len;
	StringInfo	buf = &pgbg_out.overflow;

	if (buf->data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(buf);
		MemoryContextSwitchTo(oldcxt);
	}
	appendBinaryStringInfo(buf, (const char *) &len32, sizeof(len32));
	appendBinaryStringInfo(buf, data, len);
}

/*
 * Move FIFO entries into the ring, in order.  Returns false if output was
 * given up.
 */
static bool
pgbg_drain(PgbgDrain mode, bool flush)
{
	StringInfo	buf = &pgbg_out.overflow;

	while (buf->data != NULL && buf->cursor < buf->len)
	{
		uint32		mlen;
		const char *m;
		bool		last;
		bool		wait;
		shm_mq_result res;

		memcpy(&mlen, buf->data + buf->cursor, sizeof(mlen));
		m = buf->data + buf->cursor + sizeof(mlen);
		last = (buf->cursor + (int) sizeof(mlen) + (int) mlen == buf->len);
		wait = (mode == PGBG_DRAIN_ALL ||
				(mode == PGBG_DRAIN_BOUNDED &&
				 buf->len - buf->cursor > PGBG_OVERFLOW_MAX));

		res = pgbg_put(m, mlen, flush && last, wait);
		if (res == SHM_MQ_DETACHED)
			return false;
		if (res == SHM_MQ_WOULD_BLOCK)
			break;
		buf->cursor += sizeof(mlen) + mlen;
	}

	if (buf->data != NULL)
	{
		if (buf->cursor == buf->len)
		{
			resetStringInfo(buf);
			buf->cursor = 0;
		}
		else if (buf->cursor >= 1024 * 1024)
		{
			/* compact; the head keeps its bytes, only their address moves */
			memmove(buf->data, buf->data + buf->cursor, buf->len - buf->cursor);
			buf->len -= buf->cursor;
			buf->data[buf->len] = '\0';
			buf->cursor = 0;
		}
	}
	return true;
}

/*
 * Is it worth trying to move FIFO entries into the ring?  Not while the ring
 * was full at our last attempt, until the reader has freed space: shm_mq
 * sets our latch whenever the reader marks data as read.  Every attempt on a
 * full ring costs a SetLatch() of the reader (a kill() when it sleeps), and
 * a job producing rows faster than the reader takes them would make one
 * attempt per row.  Resetting the latch here is safe: every wait on it
 * rechecks its condition first.
 */
static bool
pgbg_ring_may_have_room(int64 now)
{
	if (!pgbg_out.ring_full)
		return true;
	if (MyLatch->is_set)
	{
		ResetLatch(MyLatch);
		return true;
	}

	/*
	 * The executor may have consumed the wakeup: a wait of its own (a lock,
	 * pg_sleep, Gather) resets the same latch.  Retry now and then anyway.
	 */
	return now - pgbg_out.full_since_ms >= PGBG_FLUSH_INTERVAL_MS;
}

/*
 * Send one message.  Returns false when output has been given up (launcher
 * gone, or interrupted while waiting).  Rows pass flush = false: they are
 * published when a quarter of the ring is pending or when
 * PGBG_FLUSH_INTERVAL_MS have passed since the last publication, so that a
 * slow producer's rows still show up promptly.  drain = true (end of a
 * statement, errors, the final message) waits until this and every earlier
 * message is in the ring.
 *
 * A row ('D', flush and drain false) joins the rows frame instead, which
 * goes out when it is full, when the flush interval has passed (as an
 * unpublished row in the ring would have been published then), and before
 * any other message, so that the order of messages never changes.
 */
bool
pgbg_send(const char *data, Size len, bool flush, bool drain)
{
	StringInfo	rows = &pgbg_out.rows;

	if (pgbg_output_abandoned)
		return false;
	if (len > 0 && len < PGBG_ROWS_FRAME && data[0] == PGBG_MSG_ROW &&
		!flush && !drain && !pgbg_out.sending)
	{
		if (rows->data == NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

			initStringInfo(rows);
			MemoryContextSwitchTo(oldcxt);
		}
		if (rows->len == 0)
			appendStringInfoCharMacro(rows, PGBG_MSG_ROWS);
		appendBinaryStringInfo(rows, data + 1, len - 1);
		pgbg_out.rows_n++;
		if (rows->len < PGBG_ROWS_FRAME &&
			pgbg_now_ms() - pgbg_out.last_flush_ms < PGBG_FLUSH_INTERVAL_MS)
			return true;
		return pgbg_send_rows();
	}
	if (rows->len > 0 && !pgbg_out.sending && !pgbg_send_rows())
		return false;
	return pgbg_send_message(data, len, flush, drain, 1);
}

/* The rows frame goes out. */
static bool
pgbg_send_rows(void)
{
	bool		ok;

	ok = pgbg_send_message(pgbg_out.rows.data, pgbg_out.rows.len, false,
						   false, pgbg_out.rows_n);
	resetStringInfo(&pgbg_out.rows);
	pgbg_out.rows_n = 0;
	return ok;
}

/*
 * Number the nmsgs messages of a frame as it enters the stream.  'C' and
 * 'Z' get their number appended (the reader checks it against its own
 * count); the frame to send is returned in *data and *len.
 */
static void
pgbg_number_frame(const char **data, Size *len, int nmsgs)
{
	int64		seq = pgbg_out.next_seq;
	char		kind = (*data)[0];

	pgbg_out.next_seq += nmsgs;
	if (pgbg_my_status != NULL)
		pg_atomic_write_u64(&pgbg_my_status->produced_seq,
							(uint64) (pgbg_out.next_seq - 1));
	if (kind != PGBG_MSG_COMMAND && kind != PGBG_MSG_DONE)
		return;
	if (pgbg_out.tagged.data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&pgbg_out.tagged);
		MemoryContextSwitchTo(oldcxt);
	}
	resetStringInfo(&pgbg_out.tagged);
	appendBinaryStringInfo(&pgbg_out.tagged, *data, *len);
	pq_sendint64(&pgbg_out.tagged, seq);
	*data = pgbg_out.tagged.data;
	*len = pgbg_out.tagged.len;
}

static bool
pgbg_send_message(const char *data, Size len, bool flush, bool drain,
				  int nmsgs)
{
	int64		now;
	bool		ok = true;
	StringInfo	fifo = &pgbg_out.overflow;

	if (pgbg_output_abandoned)
		return false;
	if (pgbg_out.sending)
	{
		/*
		 * Re-entered from an error raised while we waited for space: give up
		 * rather than wait inside the error path.
		 */
		pgbg_abandon_output();
		return false;
	}
	pgbg_number_frame(&data, &len, nmsgs);

	now = pgbg_now_ms();
	if (drain || now - pgbg_out.last_flush_ms >= PGBG_FLUSH_INTERVAL_MS)
		flush = true;

	pgbg_out.sending = true;

	/* older messages first; if they all fit now, this one needs no copy */
	if (fifo->data != NULL && fifo->cursor < fifo->len &&
		pgbg_ring_may_have_room(now))
		ok = pgbg_drain(PGBG_DRAIN_TRY, false);

	if (!ok)
	{
		/* output given up while draining */
	}
	else if (fifo->data == NULL || fifo->cursor == fifo->len)
	{
		shm_mq_result res = pgbg_put(data, len, flush, drain);

		if (res == SHM_MQ_WOULD_BLOCK)
			pgbg_overflow_append(data, len);	/* maybe partly sent */
		else if (res == SHM_MQ_DETACHED)
			ok = false;
	}
	else
	{
		pgbg_overflow_append(data, len);
		if (drain)
			ok = pgbg_drain(PGBG_DRAIN_ALL, flush);
		/* otherwise it waits for room, like the messages before it */
	}
	if (ok && !pgbg_output_abandoned && fifo->data != NULL &&
		fifo->len - fifo->cursor > PGBG_OVERFLOW_MAX)
		ok = pgbg_drain(PGBG_DRAIN_BOUNDED, flush);
	pgbg_out.sending = false;

	if (flush)
		pgbg_out.last_flush_ms = now;
	return ok && !pgbg_output_abandoned;
}

/* The segment is going away (process exit): never touch the queue again. */
static void
pgbg_output_detached(dsm_segment *seg, Datum arg)
{
	pgbg_output_abandoned = true;
	pgbg_out.mqh = NULL;
	whereToSendOutput = DestNone;
}

/* PQcommMethods: only notices and errors are meaningful to the launcher. */
static void
pgbg_comm_reset(void)
{
}

static int
pgbg_comm_flush(void)
{
	return 0;
}

static int
pgbg_comm_flush_if_writable(void)
{
	return 0;
}

static bool
pgbg_comm_is_send_pending(void)
{
	return false;
}

static int
pgbg_comm_putmessage(char msgtype, const char *s, size_t len)
{
	StringInfoData buf;
	bool		ok;

	/* Protocol chatter such as ParameterStatus has no reader here. */
	if (msgtype != PGBG_MSG_NOTICE && msgtype != PGBG_MSG_ERROR)
		return 0;
	if (pgbg_output_abandoned)
		return EOF;

	/*
	 * Copy into a message of our own with the type byte in front.  Notices
	 * are rare compared to rows; this allocation lives in the caller's
	 * (error) context and goes away with it.
	 */
	initStringInfo(&buf);
	appendStringInfoChar(&buf, msgtype);
	appendBinaryStringInfo(&buf, s, len);
	/* an error ends the job: everything must reach the ring */
	ok = pgbg_send(buf.data, buf.len, true, msgtype == PGBG_MSG_ERROR);
	pfree(buf.data);
	return ok ? 0 : EOF;
}

static void
pgbg_comm_putmessage_noblock(char msgtype, const char *s, size_t len)
{
	(void) pgbg_comm_putmessage(msgtype, s, len);
}

/*
 * Take over the queue of a new job (mq NULL: a submitted job, no output).
 * Whatever the previous job of this process left is dropped.
 */
void
pgbg_output_attach(shm_mq *mq, dsm_segment *seg)
{
	/* a previous job's FIFO buffer may be large: do not keep it */
	if (pgbg_out.overflow.data != NULL)
		pfree(pgbg_out.overflow.data);
	if (pgbg_out.rows.data != NULL)
		pfree(pgbg_out.rows.data);
	if (pgbg_out.tagged.data != NULL)
		pfree(pgbg_out.tagged.data);
	memset(&pgbg_out, 0, sizeof(pgbg_out));
	pgbg_out.next_seq = 1;
	pgbg_output_abandoned = true;	/* until there is a queue to write to */
	pgbg_job_committed = false;
	pgbg_output_cut = false;
	if (mq == NULL)
		return;

	shm_mq_set_sender(mq, MyProc);
	pgbg_out.mqh = shm_mq_attach(mq, seg, NULL);
	pgbg_output_abandoned = false;
	pgbg_out.last_flush_ms = pgbg_now_ms();
	on_dsm_detach(seg, pgbg_output_detached, (Datum) 0);
	/* notices and errors now go to the launcher (see file header) */
	PqCommMethods = &pgbg_comm_methods;
	whereToSendOutput = DestRemote;
}

/* Leave the queue of a finished job before its segment is detached. */
void
pgbg_output_detach(void)
{
	if (pgbg_out.mqh != NULL)
		shm_mq_detach(pgbg_out.mqh);	/* frees the handle */
	pgbg_out.mqh = NULL;
}

/*
 * Launcher: what a new job's worker does with its output, decided at launch
 * so that a SET later in the session changes nothing under a running job.
 * Nobody can resume a v1 job (it has no cookie) or a submitted one (it has
 * no output), so they never keep their output.
 */
void
pgbg_durable_setup(PgbgFixed *fixed, bool submit, bool v1)
{
	fixed->durable = pgbg_durable && !submit && !v1;
	fixed->held_limit = (int64) pgbg_max_held_kb_per_job * 1024;
	pg_atomic_init_u64(&fixed->status.acked_seq, 0);
	pg_atomic_init_u64(&fixed->status.produced_seq, 0);
}
