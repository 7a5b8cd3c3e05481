/*-------------------------------------------------------------------------
 *
 * pgbg_queue.c
 *		The worker's side of the queue: the single writer through which every
 *		message reaches the launcher, with its replay log, the switch to a
 *		held-output file when the reader goes away, and the PQcommMethods
 *		that route notices and errors from elog.c into it.
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
 * Durable jobs (DESIGN-durable-jobs.md, section 2)
 * ------------------------------------------------
 * Whatever the launcher takes off the queue dies with it, so only the
 * worker can resume a stream exactly.  A durable job therefore keeps every
 * frame it sends in a replay log until the reader acknowledges it (the
 * status block's acked_seq: fetch_v2's after_seq, or what a legacy call
 * returned, or what result_v2 received).  The log is also the FIFO of
 * frames that did not fit into the ring yet.  When the reader's session
 * ends without releasing the job (the launcher's queue detaches, its
 * process is gone, or its registry entry changes reader: a take-over), the
 * worker switches to file mode for good: the unacknowledged part of the log
 * goes to the job's held-output file (pgbg_held.c) and so does everything
 * it produces afterwards; nothing waits for a reader any more.  An explicit
 * release (detach_v2, a read that reached the end) sets discard_output:
 * then, as before, the output is dropped and the job runs on.  Jobs that
 * are not durable (pg_background.durable off at launch, v1, submit) keep
 * no log: a frame is copied only when the ring has no room for it, as
 * before, and a reader that goes away loses the output.
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
#include "pgbg_durable.h"

/*
 * Frames not yet wholly in the ring wait in the log rather than making the
 * worker sleep: like a socket buffer, it lets the job keep running while the
 * launcher is not scheduled, which matters on a busy machine where a 64 kB
 * ring fills within a fraction of a time slice.  That part is bounded
 * (PGBG_OVERFLOW_MAX); beyond it, and at the end of each statement and of
 * the job, the worker waits for the launcher as before.  The head entry may
 * already be partly in the ring (shm_mq remembers how much), which is fine
 * because it is always retried with the same bytes: entries never move.
 *
 * A durable job's log also keeps the frames that are in the ring or beyond,
 * until they are acknowledged, up to PGBG_REPLAY_MAX; a larger single frame
 * is always accepted.  Above it the worker waits for acknowledgements as it
 * waits for ring space, blocked_on_queue included.
 */
#define PGBG_OVERFLOW_MAX	(4 * 1024 * 1024)
#define PGBG_REPLAY_MAX		(8 * 1024 * 1024)
#define PGBG_LOG_CHUNK		(256 * 1024)

/* A finished job waits this long for its final acknowledgement. */
#define PGBG_FINAL_ACK_WAIT_MS	1000

typedef enum PgbgDrain
{
	PGBG_DRAIN_TRY,				/* move what fits, never wait */
	PGBG_DRAIN_BOUNDED,			/* wait while too much waits for the ring */
	PGBG_DRAIN_ALL				/* wait until everything is in the ring */
} PgbgDrain;

/* Log storage: chunks of entries, each [PgbgLogHdr][frame]. */
typedef struct PgbgLogChunk
{
	struct PgbgLogChunk *next;
	int			size;			/* bytes of data[] */
	int			used;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} PgbgLogChunk;

typedef struct PgbgLogHdr
{
	uint32		len;			/* of the frame that follows */
	int32		nmsgs;			/* messages it stands for */
	int64		first_seq;		/* number of the first of them */
} PgbgLogHdr;

/* An entry's place: its chunk and offset (chunk NULL = the log is empty). */
typedef struct PgbgLogPos
{
	PgbgLogChunk *chunk;
	int			off;
} PgbgLogPos;

typedef enum PgbgOutMode
{
	PGBG_OUT_QUEUE,				/* the launcher reads the ring */
	PGBG_OUT_FILE				/* everything goes to the held-output file */
} PgbgOutMode;

typedef struct PgbgOutput
{
	shm_mq_handle *mqh;
	PgbgOutMode mode;
	bool		durable;		/* keep a replay log (fixed->durable) */
	bool		sending;		/* inside pgbg_send() */
	bool		blocked;		/* mirror of status->blocked_on_queue */
	bool		ring_full;		/* the last put found no room */
	bool		ended;			/* the final message ('Z' or 'E') is out */
	int64		full_since_ms;	/* when it did */
	int64		last_flush_ms;
	StringInfoData rows;		/* rows not sent yet, as one 'B' message */
	int			rows_n;			/* how many */
	int64		next_seq;		/* number of the next message */
	int64		rows_produced;	/* rows numbered so far */
	StringInfoData tagged;		/* a 'C' or 'Z' message with its number */

	/* the log: [ack, put) is in the ring, [put, end) waits for it */
	PgbgLogChunk *head;
	PgbgLogChunk *tail;
	PgbgLogChunk *spare;		/* one free standard chunk, kept */
	PgbgLogPos	ack;			/* first entry not acknowledged */
	PgbgLogPos	put;			/* first entry not wholly in the ring */
	int64		unacked_bytes;	/* entries from ack on */
	int64		unput_bytes;	/* entries from put on */

	/* what was trimmed off the log: where a held file starts */
	int32		trim_stmt_no;	/* 'C' messages trimmed */
	StringInfoData trim_columns;	/* the current result set's 'T' (len 0:
									 * none) */
	int64		trim_columns_seq;	/* its number */
	uint32		reader_epoch;	/* the registry's, when the queue was made */
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
	pgbg_jobs_worker_set_blocked(blocked);
	/* a launcher inside pg_background_wait_v2 wants to know at once */
	if (blocked)
		pgbg_wake_launcher();
}

/* ---- the replay log ---- */

/* Move pos past chunks it has used up. */
static void
pgbg_log_norm(PgbgLogPos *pos)
{
	while (pos->chunk != NULL && pos->off >= pos->chunk->used &&
		   pos->chunk->next != NULL)
	{
		pos->chunk = pos->chunk->next;
		pos->off = 0;
	}
}

/* Is there an entry at pos? */
static bool
pgbg_log_has(PgbgLogPos *pos)
{
	pgbg_log_norm(pos);
	return pos->chunk != NULL && pos->off < pos->chunk->used;
}

static void
pgbg_log_hdr(const PgbgLogPos *pos, PgbgLogHdr *hdr)
{
	memcpy(hdr, pos->chunk->data + pos->off, sizeof(PgbgLogHdr));
}

static void
pgbg_log_free_chunk(PgbgLogChunk *c)
{
	if (pgbg_out.spare == NULL && c->size == PGBG_LOG_CHUNK)
		pgbg_out.spare = c;
	else
		pfree(c);
}

/* Copy a numbered frame into the log (the one copy a durable frame costs). */
static void
pgbg_log_append(const char *data, Size len, int nmsgs, int64 first_seq)
{
	Size		need = sizeof(PgbgLogHdr) + len;
	PgbgLogChunk *c = pgbg_out.tail;
	PgbgLogHdr	hdr;

	if (c == NULL || (Size) (c->size - c->used) < need)
	{
		Size		size = Max(need, PGBG_LOG_CHUNK);

		if (size == PGBG_LOG_CHUNK && pgbg_out.spare != NULL)
		{
			c = pgbg_out.spare;
			pgbg_out.spare = NULL;
		}
		else
			c = MemoryContextAlloc(TopMemoryContext,
								   offsetof(PgbgLogChunk, data) + size);
		c->next = NULL;
		c->size = (int) size;
		c->used = 0;
		if (pgbg_out.tail != NULL)
			pgbg_out.tail->next = c;
		else
		{
			pgbg_out.head = c;
			pgbg_out.ack.chunk = c;
			pgbg_out.ack.off = 0;
			pgbg_out.put.chunk = c;
			pgbg_out.put.off = 0;
		}
		pgbg_out.tail = c;
	}
	hdr.len = (uint32) len;
	hdr.nmsgs = nmsgs;
	hdr.first_seq = first_seq;
	memcpy(c->data + c->used, &hdr, sizeof(hdr));
	memcpy(c->data + c->used + sizeof(hdr), data, len);
	c->used += (int) need;
	pgbg_out.unacked_bytes += need;
	pgbg_out.unput_bytes += need;
}

/* Forget the whole log. */
static void
pgbg_log_reset(void)
{
	PgbgLogChunk *c = pgbg_out.head;

	while (c != NULL)
	{
		PgbgLogChunk *next = c->next;

		pgbg_log_free_chunk(c);
		c = next;
	}
	pgbg_out.head = pgbg_out.tail = NULL;
	pgbg_out.ack.chunk = pgbg_out.put.chunk = NULL;
	pgbg_out.ack.off = pgbg_out.put.off = 0;
	pgbg_out.unacked_bytes = 0;
	pgbg_out.unput_bytes = 0;
}

/*
 * Drop the entries before put whose messages are all acknowledged (up to
 * upto), remembering the statement and result set they leave us in (a held
 * file starts there).
 */
static void
pgbg_log_trim(int64 upto)
{
	PgbgLogPos *ack = &pgbg_out.ack;
	PgbgLogPos *put = &pgbg_out.put;

	for (;;)
	{
		PgbgLogHdr	hdr;
		const char *frame;
		Size		need;

		/* chunks used up go (put is never behind ack) */
		while (ack->chunk != NULL && ack->off >= ack->chunk->used &&
			   ack->chunk->next != NULL)
		{
			PgbgLogChunk *old = ack->chunk;

			if (put->chunk == old)
			{
				put->chunk = old->next;
				put->off = 0;
			}
			ack->chunk = old->next;
			ack->off = 0;
			pgbg_out.head = ack->chunk;
			pgbg_log_free_chunk(old);
		}
		if (ack->chunk == NULL || ack->off >= ack->chunk->used ||
			(ack->chunk == put->chunk && ack->off == put->off))
			break;				/* empty, or the rest is not in the ring */
		pgbg_log_hdr(ack, &hdr);
		if (hdr.first_seq + hdr.nmsgs - 1 > upto)
			break;
		frame = ack->chunk->data + ack->off + sizeof(hdr);
		if (frame[0] == PGBG_MSG_COLUMNS)
		{
			resetStringInfo(&pgbg_out.trim_columns);
			appendBinaryStringInfo(&pgbg_out.trim_columns, frame, hdr.len);
			pgbg_out.trim_columns_seq = hdr.first_seq;
		}
		else if (frame[0] == PGBG_MSG_COMMAND)
		{
			pgbg_out.trim_stmt_no++;
			resetStringInfo(&pgbg_out.trim_columns);
		}
		need = sizeof(hdr) + hdr.len;
		pgbg_out.unacked_bytes -= need;
		ack->off += (int) need;
	}
}

/* Trim what the reader acknowledged. */
static void
pgbg_log_trim_acked(void)
{
	if (pgbg_my_status != NULL)
		pgbg_log_trim((int64) pg_atomic_read_u64(&pgbg_my_status->acked_seq));
}

/* ---- when the reader goes ---- */

/* The launcher released the job on purpose: nobody will read the rest. */
static bool
pgbg_output_discarded(void)
{
	bool		discard;

	SpinLockAcquire(&pgbg_my_status->mutex);
	discard = pgbg_my_status->discard_output;
	SpinLockRelease(&pgbg_my_status->mutex);
	/* an attached reader's detach_v2 says so in the registry entry */
	return discard || pgbg_jobs_output_discarded(pgbg_jobs_worker_ref());
}

/*
 * Has the queue's reader gone without releasing the job?  Its session
 * ended (the registry's before_shmem_exit callback changes the reader and
 * sets our latch; the latch of its PGPROC changes owner), or another
 * session took the job over.  Asked at flush points and while waiting.
 */
static bool
pgbg_reader_lost(void)
{
	PgbgJobRef	ref;

	if (pgbg_out.mode != PGBG_OUT_QUEUE || !pgbg_out.durable)
		return false;
	if (!pgbg_launcher_alive(pgbg_my_fixed))
		return true;
	ref = pgbg_jobs_worker_ref();
	return PgbgJobRefIsValid(ref) &&
		pgbg_jobs_reader_epoch(ref) != pgbg_out.reader_epoch;
}

/*
 * Stop writing to the queue for good.  whereToSendOutput = DestNone keeps
 * elog.c from even building client messages.  The log of a job whose
 * final message is out stays: it may still go to a held file
 * (pgbg_output_finish).
 */
void
pgbg_abandon_output(void)
{
	pgbg_output_abandoned = true;
	pgbg_out.sending = false;
	whereToSendOutput = DestNone;
	if (pgbg_out.rows.data != NULL)
		resetStringInfo(&pgbg_out.rows);
	pgbg_out.rows_n = 0;
	if (!pgbg_out.ended || pgbg_out.mode == PGBG_OUT_FILE)
		pgbg_log_reset();
	pgbg_set_blocked(false);
}

/*
 * The held output reached a bound (or the disk is full): the frame that did
 * not fit, numbered from first, and everything after it are dropped and get
 * no numbers; a notice with number first says so, and the job goes on
 * without output.  Its reader learns the outcome from the registry.
 */
static void
pgbg_cut_output(PgbgHeldResult why, int64 first)
{
	pgbg_out.next_seq = first + 1;
	if (pgbg_my_status != NULL)
		pg_atomic_write_u64(&pgbg_my_status->produced_seq, (uint64) first);
	pgbg_held_truncate(why, first);
	pgbg_log_reset();
	pgbg_out.ended = false;
	pgbg_abandon_output();
}

/*
 * The reader has gone (or was never there to stay): hold the output in a
 * file if this job may, otherwise give it up as before.  Everything not
 * acknowledged is written, the frame being sent included (it is in the
 * log).  Returns true in file mode.
 */
static bool
pgbg_switch_to_file(void)
{
	PgbgJobRef	ref = pgbg_jobs_worker_ref();
	PgbgLogPos	pos;
	int64		first_seq;
	bool		ok;

	if (pgbg_out.mode == PGBG_OUT_FILE)
		return true;
	if (!pgbg_out.durable || pgbg_output_discarded() ||
		pgbg_my_fixed->held_limit <= 0 || !PgbgJobRefIsValid(ref))
	{
		if (PgbgJobRefIsValid(ref))
			pgbg_jobs_set_output(ref, PGBG_OUTPUT_DISCARDED);
		pgbg_out.ended = false;
		pgbg_abandon_output();
		return false;
	}

	/* an old reader must see the queue end */
	if (pgbg_out.mqh != NULL)
	{
		shm_mq_detach(pgbg_out.mqh);
		pgbg_out.mqh = NULL;
	}
	pgbg_set_blocked(false);
	pgbg_log_trim_acked();

	pos = pgbg_out.ack;
	if (pgbg_log_has(&pos))
	{
		PgbgLogHdr	hdr;

		pgbg_log_hdr(&pos, &hdr);
		first_seq = hdr.first_seq;
	}
	else
		first_seq = pgbg_out.next_seq;

	ok = pgbg_held_begin(first_seq, pgbg_out.trim_stmt_no,
						 pgbg_out.trim_columns_seq,
						 pgbg_out.trim_columns.data,
						 pgbg_out.trim_columns.len);
	if (!ok)
	{
		pgbg_jobs_set_output(ref, PGBG_OUTPUT_DISCARDED);
		pgbg_out.ended = false;
		pgbg_abandon_output();
		return false;
	}
	pgbg_out.mode = PGBG_OUT_FILE;
	while (pgbg_log_has(&pos))
	{
		PgbgLogHdr	hdr;
		PgbgHeldResult res;

		pgbg_log_hdr(&pos, &hdr);
		res = pgbg_held_write(pos.chunk->data + pos.off + sizeof(hdr), hdr.len,
							  hdr.first_seq + hdr.nmsgs - 1);
		if (res != PGBG_HELD_OK)
		{
			pgbg_cut_output(res, hdr.first_seq);
			return true;
		}
		pos.off += (int) (sizeof(hdr) + hdr.len);
	}
	pgbg_log_reset();
	pgbg_held_publish(true);
	return true;
}

/*
 * The queue cannot take the frame (the reader detached or left): hold the
 * output, or give it up.  Returns false when output was given up.
 */
static bool
pgbg_reader_left(void)
{
	return pgbg_switch_to_file() && !pgbg_output_abandoned;
}

/*
 * Wait for the reader: room in the ring, or acknowledgements.  A cancel or
 * terminate request while we sleep gives up the queue for good (a message
 * may be half written, and nothing may follow it).  Returns false if output
 * was given up; the caller re-checks the mode (file mode needs no waiting).
 */
static bool
pgbg_wait_for_reader(void)
{
	/* after SIGTERM never wait for a reader */
	if (pgbg_terminating)
	{
		pgbg_abandon_output();
		return false;
	}
	pgbg_set_blocked(true);
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 pgbg_out.durable ? 250 : -1, PGBG_WAIT_EVENT_SEND);
	ResetLatch(MyLatch);
	if (InterruptPending)
	{
		if (QueryCancelPending && !ProcDiePending && pgbg_job_committed)
		{
			/* too late to cancel: keep the commit, drop the output */
			QueryCancelPending = false;
			pgbg_output_cut = true;
			pgbg_out.ended = false;
			pgbg_abandon_output();
			return false;
		}
		if (QueryCancelPending || ProcDiePending)
		{
			pgbg_out.ended = false;
			pgbg_abandon_output();
			CHECK_FOR_INTERRUPTS();
			return false;		/* interrupts were held off */
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (pgbg_reader_lost())
		return pgbg_reader_left();
	return true;
}

/*
 * Put one message into the ring.  With wait = false, SHM_MQ_WOULD_BLOCK
 * means "part or none of it is in the ring, call again with the same
 * bytes".  With wait = true we sleep until there is room.  SHM_MQ_DETACHED
 * means the queue is no longer ours: output was given up, or the job
 * switched to file mode (which has the frame already when it is durable).
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
			/* the launcher went away: hold the output or finish without */
			(void) pgbg_reader_left();
			return res;
		}
		if (!wait)
			return res;
		if (!pgbg_wait_for_reader() || pgbg_out.mode != PGBG_OUT_QUEUE)
			return SHM_MQ_DETACHED;
	}
}

/*
 * Move log entries into the ring, in order.  Returns false if the queue is
 * no longer ours (output given up, or file mode).
 */
static bool
pgbg_drain(PgbgDrain mode, bool flush)
{
	while (pgbg_log_has(&pgbg_out.put))
	{
		PgbgLogHdr	hdr;
		const char *m;
		bool		last;
		bool		wait;
		shm_mq_result res;
		Size		need;

		pgbg_log_hdr(&pgbg_out.put, &hdr);
		need = sizeof(hdr) + hdr.len;
		m = pgbg_out.put.chunk->data + pgbg_out.put.off + sizeof(hdr);
		last = (pgbg_out.unput_bytes == (int64) need);
		wait = (mode == PGBG_DRAIN_ALL ||
				(mode == PGBG_DRAIN_BOUNDED &&
				 pgbg_out.unput_bytes > PGBG_OVERFLOW_MAX));

		res = pgbg_put(m, hdr.len, flush && last, wait);
		if (res == SHM_MQ_DETACHED)
			return false;
		if (res == SHM_MQ_WOULD_BLOCK)
			break;
		pgbg_out.put.off += (int) need;
		pgbg_out.unput_bytes -= need;
		/* without a replay log, what is in the ring is forgotten */
		if (!pgbg_out.durable)
			pgbg_log_trim(PG_INT64_MAX);
	}
	return true;
}

/*
 * Is it worth trying to move log entries into the ring?  Not while the ring
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
static int64
pgbg_number_frame(const char **data, Size *len, int nmsgs)
{
	int64		seq = pgbg_out.next_seq;
	char		kind = (*data)[0];

	pgbg_out.next_seq += nmsgs;
	if (kind == PGBG_MSG_ROWS || kind == PGBG_MSG_ROW)
		pgbg_out.rows_produced += nmsgs;
	if (pgbg_my_status != NULL)
		pg_atomic_write_u64(&pgbg_my_status->produced_seq,
							(uint64) (pgbg_out.next_seq - 1));
	if (kind != PGBG_MSG_COMMAND && kind != PGBG_MSG_DONE)
		return seq;
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
	return seq;
}

/* File mode: append, and publish at the flush points. */
static bool
pgbg_send_to_file(const char *data, Size len, int64 first_seq, bool publish)
{
	PgbgHeldResult res = pgbg_held_write(data, len, pgbg_out.next_seq - 1);

	if (res != PGBG_HELD_OK)
	{
		pgbg_cut_output(res, first_seq);
		return false;
	}
	if (publish)
		pgbg_held_publish(false);
	return true;
}

/*
 * A durable frame is in the log: move what the ring takes, and keep the
 * log within its bounds, waiting for the reader when it is not.
 */
static bool
pgbg_send_logged(int64 now, bool flush, bool drain)
{
	if (pgbg_out.unput_bytes > 0 && pgbg_ring_may_have_room(now) &&
		!pgbg_drain(drain ? PGBG_DRAIN_ALL : PGBG_DRAIN_TRY, flush))
		return pgbg_out.mode == PGBG_OUT_FILE && !pgbg_output_abandoned;
	if (drain && pgbg_out.unput_bytes > 0 &&
		!pgbg_drain(PGBG_DRAIN_ALL, flush))
		return pgbg_out.mode == PGBG_OUT_FILE && !pgbg_output_abandoned;
	if (pgbg_out.unput_bytes > PGBG_OVERFLOW_MAX &&
		!pgbg_drain(PGBG_DRAIN_BOUNDED, flush))
		return pgbg_out.mode == PGBG_OUT_FILE && !pgbg_output_abandoned;

	/* acknowledgements: read at flush points, and when over the bound */
	if (flush || pgbg_out.unacked_bytes > PGBG_REPLAY_MAX)
		pgbg_log_trim_acked();
	while (pgbg_out.unacked_bytes > PGBG_REPLAY_MAX &&
		   pgbg_out.ack.chunk != pgbg_out.tail)
	{
		/* the reader can acknowledge only what reached the ring */
		if (pgbg_out.unput_bytes > 0 && !pgbg_drain(PGBG_DRAIN_TRY, true))
			return pgbg_out.mode == PGBG_OUT_FILE && !pgbg_output_abandoned;
		if (!pgbg_wait_for_reader())
			return false;
		if (pgbg_out.mode != PGBG_OUT_QUEUE)
			return !pgbg_output_abandoned;
		pgbg_log_trim_acked();
	}
	pgbg_set_blocked(false);
	return true;
}

static bool
pgbg_send_message(const char *data, Size len, bool flush, bool drain,
				  int nmsgs)
{
	int64		now;
	int64		first_seq;
	bool		ok = true;

	if (pgbg_output_abandoned)
		return false;
	if (pgbg_out.sending)
	{
		/*
		 * Re-entered from an error raised while we waited for space: give up
		 * rather than wait inside the error path.
		 */
		pgbg_out.ended = false;
		pgbg_abandon_output();
		return false;
	}
	now = pgbg_now_ms();
	if (drain || now - pgbg_out.last_flush_ms >= PGBG_FLUSH_INTERVAL_MS)
		flush = true;

	/*
	 * A reader that left is noticed before this frame gets its numbers: the
	 * held file then starts at the first message not acknowledged, which is
	 * this frame's when the reader had everything (a slow job's reader that
	 * kept up).
	 */
	pgbg_out.sending = true;
	if (pgbg_out.mode == PGBG_OUT_QUEUE && flush && pgbg_reader_lost())
		(void) pgbg_reader_left();
	else if (pgbg_out.mode == PGBG_OUT_FILE && flush && pgbg_held_discarded())
	{
		/* the attached reader released the job: nobody reads the rest */
		pgbg_held_discard();
		pgbg_jobs_publish_produced(pgbg_jobs_worker_ref(), pgbg_out.next_seq - 1,
								   pgbg_out.rows_produced, 0);
		pgbg_out.ended = false;
		pgbg_abandon_output();
	}
	first_seq = pgbg_number_frame(&data, &len, nmsgs);

	if (pgbg_output_abandoned)
		ok = false;
	else if (pgbg_out.mode == PGBG_OUT_FILE)
		ok = pgbg_send_to_file(data, len, first_seq, flush);
	else if (pgbg_out.durable)
	{
		pgbg_log_append(data, len, nmsgs, first_seq);
		ok = pgbg_send_logged(now, flush, drain);
	}
	else
	{
		/* older messages first; if they all fit now, this one needs no copy */
		if (pgbg_out.unput_bytes > 0 && pgbg_ring_may_have_room(now))
			ok = pgbg_drain(PGBG_DRAIN_TRY, false);
		if (!ok)
		{
			/* output given up while draining */
		}
		else if (pgbg_out.unput_bytes == 0)
		{
			shm_mq_result res = pgbg_put(data, len, flush, drain);

			if (res == SHM_MQ_WOULD_BLOCK)
				pgbg_log_append(data, len, nmsgs, first_seq);	/* maybe partly
																 * sent */
			else if (res == SHM_MQ_DETACHED)
				ok = false;
		}
		else
		{
			pgbg_log_append(data, len, nmsgs, first_seq);
			if (drain)
				ok = pgbg_drain(PGBG_DRAIN_ALL, flush);
			/* otherwise it waits for room, like the messages before it */
		}
		if (ok && !pgbg_output_abandoned &&
			pgbg_out.unput_bytes > PGBG_OVERFLOW_MAX)
			ok = pgbg_drain(PGBG_DRAIN_BOUNDED, flush);
	}
	pgbg_out.sending = false;

	ok = ok && !pgbg_output_abandoned;
	if (ok && (data[0] == PGBG_MSG_DONE || data[0] == PGBG_MSG_ERROR))
	{
		pgbg_out.ended = true;
		/* after an error the reader makes "done", with the next number */
		pgbg_jobs_publish_final(pgbg_jobs_worker_ref(),
								data[0] == PGBG_MSG_DONE ? first_seq : first_seq + 1,
								false);
	}
	if (flush)
	{
		pgbg_out.last_flush_ms = now;
		/* for jobs_v2 (rows and bytes held) and attach_v2 (last_seq) */
		pgbg_jobs_publish_produced(pgbg_jobs_worker_ref(), pgbg_out.next_seq - 1,
								   pgbg_out.rows_produced,
								   pgbg_out.mode == PGBG_OUT_FILE ?
								   pgbg_held_bytes() : pgbg_out.unacked_bytes);
	}
	return ok;
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
	pgbg_log_reset();
	if (pgbg_out.spare != NULL)
		pfree(pgbg_out.spare);
	if (pgbg_out.rows.data != NULL)
		pfree(pgbg_out.rows.data);
	if (pgbg_out.tagged.data != NULL)
		pfree(pgbg_out.tagged.data);
	if (pgbg_out.trim_columns.data != NULL)
		pfree(pgbg_out.trim_columns.data);
	memset(&pgbg_out, 0, sizeof(pgbg_out));
	pgbg_out.next_seq = 1;
	pgbg_output_abandoned = true;	/* until there is a queue to write to */
	pgbg_job_committed = false;
	pgbg_output_cut = false;
	if (mq == NULL)
		return;

	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&pgbg_out.trim_columns);
		MemoryContextSwitchTo(oldcxt);
	}
	pgbg_out.durable = pgbg_my_fixed->durable;
	pgbg_out.reader_epoch = 1;	/* the launcher's, from its registration */
	shm_mq_set_sender(mq, MyProc);
	pgbg_out.mqh = shm_mq_attach(mq, seg, NULL);
	pgbg_output_abandoned = false;
	pgbg_out.last_flush_ms = pgbg_now_ms();
	on_dsm_detach(seg, pgbg_output_detached, (Datum) 0);
	/* notices and errors now go to the launcher (see file header) */
	PqCommMethods = &pgbg_comm_methods;
	whereToSendOutput = DestRemote;
}

/*
 * After the job's final message: a durable job's worker may go idle (and
 * serve another job) only once its reader has everything, so it waits a
 * little for the final acknowledgement (the reader acknowledges on receipt,
 * or releases the job).  If it does not come, or the reader goes, the
 * unacknowledged output goes to a held file and the worker exits: a
 * finished job must not hold a worker slot while its output waits.  Returns
 * true if nothing is held.
 */
bool
pgbg_output_finish(void)
{
	TimestampTz deadline;
	bool		held = false;

	if (pgbg_out.mode == PGBG_OUT_FILE)
	{
		pgbg_held_end();
		held = true;
	}
	else if (pgbg_out.durable && pgbg_out.ended && pgbg_my_status != NULL)
	{
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   PGBG_FINAL_ACK_WAIT_MS);
		for (;;)
		{
			long		wait_ms;

			if (pgbg_output_discarded())
				break;
			pgbg_log_trim_acked();
			if (!pgbg_log_has(&pgbg_out.ack))
				break;			/* everything acknowledged */
			wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
													  deadline);
			if (wait_ms <= 0 || pgbg_reader_lost() || pgbg_terminating ||
				ProcDiePending)
			{
				held = pgbg_switch_to_file();
				if (held)
					pgbg_held_end();
				break;
			}
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Min(wait_ms, 100), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			/* a cancel aimed at the finished job must not hit the next one */
			QueryCancelPending = false;
			/* terminated: the output goes to the file first (loop top) */
			if (ProcDiePending)
				continue;
			CHECK_FOR_INTERRUPTS();
		}
	}
	pgbg_out.ended = false;
	pgbg_log_reset();
	return !held;
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
