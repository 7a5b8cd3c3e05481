/*-------------------------------------------------------------------------
 *
 * pgbg_worker.c
 *		The pg_background background worker: attach to the launcher's
 *		segment, become the launching user with the launcher's settings, run
 *		the SQL string the way a simple-protocol query is run, and stream
 *		everything back through the shm_mq.
 *
 * Output path
 * -----------
 * All bytes that reach the queue go through pgbg_send(): rows and command
 * tags from our DestReceiver, and notices/errors from elog.c, which we catch
 * by installing our own PQcommMethods (the mechanism pq_redirect_to_shm_mq()
 * uses for parallel workers).  We do not use pqmq.c's methods because a
 * queue must have exactly one writer that knows its state:
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

#include "access/printtup.h"
#include "access/xact.h"
#include "commands/async.h"
#include "commands/discard.h"
#include "libpq/libpq.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/cmdtag.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/ps_status.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "pg_background.h"

/* The status block of the job this process runs (NULL elsewhere). */
PgbgStatus *pgbg_my_status = NULL;

static PgbgFixed *pgbg_my_fixed = NULL;
static dsm_segment *pgbg_my_seg = NULL;

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
	bool		abandoned;		/* no more output, ever */
	bool		sending;		/* inside pgbg_send() */
	bool		blocked;		/* mirror of status->blocked_on_queue */
	bool		ring_full;		/* the last put found no room */
	int64		full_since_ms;	/* when it did */
	int64		last_flush_ms;
	StringInfoData overflow;	/* FIFO; .cursor = start of the head entry */
} PgbgOutput;

static PgbgOutput pgbg_out;

/*
 * Timing of a job's statements.  One timer, core's STATEMENT_TIMEOUT, does
 * both jobs: statement_timeout as exec_simple_query() applies it (armed when
 * a statement starts, disarmed when it ends, so a SET inside the job counts
 * from the next statement), and pg_background.worker_timeout, the job's
 * deadline.  The timer is armed for whichever comes first.  Using core's
 * timeout keeps core's handling: the handler sends us SIGINT, and
 * ProcessInterrupts() reports "canceling statement due to statement timeout"
 * (57014), or a lock timeout when that fired first.
 */
static TimestampTz pgbg_job_deadline = 0;	/* 0 = no worker_timeout */
static bool pgbg_timing_statement = false;

/* Set by our SIGTERM handler: from then on never wait for queue space. */
static volatile sig_atomic_t pgbg_terminating = false;

/* DestReceiver streaming rows to the queue. */
typedef struct PgbgReceiver
{
	DestReceiver pub;
	MemoryContext setcxt;		/* per result set: output functions */
	MemoryContext rowcxt;		/* per row, reset after each */
	int			natts;
	FmgrInfo   *finfo;
	StringInfoData buf;			/* reused message buffer */
} PgbgReceiver;

static void pgbg_die(SIGNAL_ARGS);
static int64 pgbg_now_ms(void);
static void pgbg_set_blocked(bool blocked);
static void pgbg_wake_launcher(void);
static void pgbg_abandon_output(void);
static shm_mq_result pgbg_put(const char *data, Size len, bool flush,
							  bool wait);
static void pgbg_overflow_append(const char *data, Size len);
static bool pgbg_drain(PgbgDrain mode, bool flush);
static bool pgbg_ring_may_have_room(int64 now);
static void pgbg_name_after_launcher(void);
static bool pgbg_send(const char *data, Size len, bool flush, bool drain);
static void pgbg_output_detached(dsm_segment *seg, Datum arg);
static void pgbg_comm_reset(void);
static int	pgbg_comm_flush(void);
static int	pgbg_comm_flush_if_writable(void);
static bool pgbg_comm_is_send_pending(void);
static int	pgbg_comm_putmessage(char msgtype, const char *s, size_t len);
static void pgbg_comm_putmessage_noblock(char msgtype, const char *s,
										 size_t len);
static void pgbg_rstartup(DestReceiver *self, int operation,
						  TupleDesc typeinfo);
static bool pgbg_receive_slot(TupleTableSlot *slot, DestReceiver *self);
static void pgbg_rshutdown(DestReceiver *self);
static void pgbg_rdestroy(DestReceiver *self);
static PgbgReceiver *pgbg_create_receiver(MemoryContext parent);
static void pgbg_send_command_complete(PgbgReceiver *r, QueryCompletion *qc);
static void pgbg_report_statement(const char *sql, RawStmt *stmt);
static void pgbg_check_statement(RawStmt *stmt);
static void pgbg_check_cancel_request(void);
static void pgbg_execute(const char *sql, MemoryContext jobcxt,
						 PgbgReceiver *receiver);
static void pgbg_arm_timer(bool statement);
static void pgbg_statement_starts(void);
static void pgbg_statement_ends(void);
static void pgbg_stop_timers(void);
static void pgbg_record_outcome(PgbgOutcome outcome, ErrorData *edata);
static void pgbg_handle_error(MemoryContext jobcxt);

static const PQcommMethods pgbg_comm_methods = {
	pgbg_comm_reset,
	pgbg_comm_flush,
	pgbg_comm_flush_if_writable,
	pgbg_comm_is_send_pending,
	pgbg_comm_putmessage,
	pgbg_comm_putmessage_noblock
};

static void
pgbg_die(SIGNAL_ARGS)
{
	pgbg_terminating = true;
	die(postgres_signal_arg);
}

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

static void
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
static void
pgbg_abandon_output(void)
{
	pgbg_out.abandoned = true;
	pgbg_out.sending = false;
	whereToSendOutput = DestNone;
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
 */
static bool
pgbg_send(const char *data, Size len, bool flush, bool drain)
{
	int64		now;
	bool		ok = true;
	StringInfo	fifo = &pgbg_out.overflow;

	if (pgbg_out.abandoned)
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
	if (ok && !pgbg_out.abandoned && fifo->data != NULL &&
		fifo->len - fifo->cursor > PGBG_OVERFLOW_MAX)
		ok = pgbg_drain(PGBG_DRAIN_BOUNDED, flush);
	pgbg_out.sending = false;

	if (flush)
		pgbg_out.last_flush_ms = now;
	return ok && !pgbg_out.abandoned;
}

/* The segment is going away (process exit): never touch the queue again. */
static void
pgbg_output_detached(dsm_segment *seg, Datum arg)
{
	pgbg_out.abandoned = true;
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
	if (pgbg_out.abandoned)
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
 * Receiver startup: a new result set begins.  Look up the output functions
 * once and send the column descriptions.
 */
static void
pgbg_rstartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	PgbgReceiver *r = (PgbgReceiver *) self;
	MemoryContext oldcxt;
	int			i;

	MemoryContextReset(r->setcxt);
	oldcxt = MemoryContextSwitchTo(r->setcxt);
	r->natts = typeinfo->natts;
	r->finfo = palloc0(sizeof(FmgrInfo) * Max(r->natts, 1));

	resetStringInfo(&r->buf);
	appendStringInfoChar(&r->buf, PGBG_MSG_COLUMNS);
	pq_sendint16(&r->buf, (uint16) r->natts);
	for (i = 0; i < r->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(typeinfo, i);
		const char *name = NameStr(att->attname);
		const char *typname;
		Oid			outfunc;
		bool		isvarlena;

		getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &r->finfo[i], r->setcxt);

		appendBinaryStringInfo(&r->buf, name, strlen(name) + 1);
		pq_sendint32(&r->buf, (uint32) att->atttypid);
		pq_sendint32(&r->buf, (uint32) att->atttypmod);
		/* the job may have made the type; only we can name it for sure */
		typname = format_type_with_typemod(att->atttypid, att->atttypmod);
		appendBinaryStringInfo(&r->buf, typname, strlen(typname) + 1);
	}
	MemoryContextSwitchTo(oldcxt);

	(void) pgbg_send(r->buf.data, r->buf.len, false, false);
}

/*
 * One row: text output of every column, built in a per-row context that is
 * reset afterwards, into one reused buffer, and sent as one message.
 */
static bool
pgbg_receive_slot(TupleTableSlot *slot, DestReceiver *self)
{
	PgbgReceiver *r = (PgbgReceiver *) self;
	MemoryContext oldcxt;
	int			i;

	if (pgbg_out.abandoned)
		return true;			/* nobody listens: skip the output work */

	slot_getallattrs(slot);
	oldcxt = MemoryContextSwitchTo(r->rowcxt);

	resetStringInfo(&r->buf);
	appendStringInfoCharMacro(&r->buf, PGBG_MSG_ROW);
	pq_sendint16(&r->buf, (uint16) r->natts);
	for (i = 0; i < r->natts; i++)
	{
		if (slot->tts_isnull[i])
			pq_sendint32(&r->buf, (uint32) -1);
		else
		{
			char	   *s = OutputFunctionCall(&r->finfo[i],
											   slot->tts_values[i]);
			int			len = strlen(s);

			pq_sendint32(&r->buf, (uint32) len);
			appendBinaryStringInfo(&r->buf, s, len);
		}
	}
	MemoryContextSwitchTo(oldcxt);

	(void) pgbg_send(r->buf.data, r->buf.len, false, false);
	MemoryContextReset(r->rowcxt);

	/* do not keep a buffer sized for one huge row for the rest of the job */
	if (r->buf.maxlen > 8 * 1024 * 1024)
	{
		pfree(r->buf.data);
		initStringInfo(&r->buf);
	}
	return true;
}

static void
pgbg_rshutdown(DestReceiver *self)
{
}

static void
pgbg_rdestroy(DestReceiver *self)
{
}

static PgbgReceiver *
pgbg_create_receiver(MemoryContext parent)
{
	PgbgReceiver *r = MemoryContextAllocZero(parent, sizeof(PgbgReceiver));
	MemoryContext oldcxt;

	r->pub.receiveSlot = pgbg_receive_slot;
	r->pub.rStartup = pgbg_rstartup;
	r->pub.rShutdown = pgbg_rshutdown;
	r->pub.rDestroy = pgbg_rdestroy;
	r->pub.mydest = DestRemote;
	r->setcxt = AllocSetContextCreate(parent, "pg_background result set",
									  ALLOCSET_SMALL_SIZES);
	r->rowcxt = AllocSetContextCreate(parent, "pg_background row",
									  ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(parent);
	initStringInfo(&r->buf);
	MemoryContextSwitchTo(oldcxt);
	return r;
}

/* CommandComplete: row count (or -1) and the tag as psql would print it. */
static void
pgbg_send_command_complete(PgbgReceiver *r, QueryCompletion *qc)
{
	char		tag[COMPLETION_TAG_BUFSIZE];
	const char *name = GetCommandTagName(qc->commandTag);
	int64		rows = -1;

	if (command_tag_display_rowcount(qc->commandTag))
	{
		rows = (int64) qc->nprocessed;
		if (qc->commandTag == CMDTAG_INSERT)
			snprintf(tag, sizeof(tag), "%s 0 " UINT64_FORMAT, name,
					 qc->nprocessed);
		else
			snprintf(tag, sizeof(tag), "%s " UINT64_FORMAT, name,
					 qc->nprocessed);
	}
	else
		strlcpy(tag, name, sizeof(tag));

	if (pgbg_out.abandoned)
		return;
	resetStringInfo(&r->buf);
	appendStringInfoChar(&r->buf, PGBG_MSG_COMMAND);
	pq_sendint64(&r->buf, rows);
	appendBinaryStringInfo(&r->buf, tag, strlen(tag) + 1);
	/* a statement's output is all in the ring before the next one starts */
	(void) pgbg_send(r->buf.data, r->buf.len, true, true);
}

/* Show the statement being run in pg_stat_activity. */
static void
pgbg_report_statement(const char *sql, RawStmt *stmt)
{
	int			loc = stmt->stmt_location;
	int			len = stmt->stmt_len;
	char	   *text;

	if (loc < 0 || loc > (int) strlen(sql))
		loc = 0;
	if (len <= 0)
		len = strlen(sql + loc);
	text = pnstrdup(sql + loc, len);
	pgstat_report_activity(STATE_RUNNING, text);
	pfree(text);
}

/*
 * Statements that need a client connection cannot work here: COPY from or
 * to the client would wait for a protocol peer that does not exist.
 */
static void
pgbg_check_statement(RawStmt *stmt)
{
	if (IsA(stmt->stmt, CopyStmt))
	{
		CopyStmt   *copy = (CopyStmt *) stmt->stmt;

		if (copy->filename == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("COPY %s is not supported in pg_background",
							copy->is_from ? "FROM STDIN" : "TO STDOUT"),
					 errdetail("A background worker has no client connection to copy to or from."),
					 errhint("Use COPY with a file name or PROGRAM, or INSERT/SELECT.")));
	}
}

/* A cancel requested before our signal handler could see it. */
static void
pgbg_check_cancel_request(void)
{
	bool		requested;

	SpinLockAcquire(&pgbg_my_status->mutex);
	requested = pgbg_my_status->cancel_requested;
	SpinLockRelease(&pgbg_my_status->mutex);
	if (requested)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling statement due to user request")));
}

/*
 * Arm STATEMENT_TIMEOUT for the job's deadline and, when a statement is
 * being timed, for statement_timeout from now, whichever is earlier.
 */
static void
pgbg_arm_timer(bool statement)
{
	TimestampTz fin = pgbg_job_deadline;

	if (statement && StatementTimeout > 0)
	{
		TimestampTz stmt_fin;

		stmt_fin = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   StatementTimeout);
		if (fin == 0 || stmt_fin < fin)
			fin = stmt_fin;
	}
	if (fin != 0)
		enable_timeout_at(STATEMENT_TIMEOUT, fin);
	else if (get_timeout_active(STATEMENT_TIMEOUT))
		disable_timeout(STATEMENT_TIMEOUT, false);
	pgbg_timing_statement = statement;
}

/*
 * Like start_xact_command(): the clock of a statement that is already being
 * timed keeps running, so the first statement's time includes parsing the
 * string, as in exec_simple_query().
 */
static void
pgbg_statement_starts(void)
{
	if (!pgbg_timing_statement)
		pgbg_arm_timer(true);
}

/* Like disable_statement_timeout(): only the job's deadline remains. */
static void
pgbg_statement_ends(void)
{
	if (pgbg_timing_statement)
		pgbg_arm_timer(false);
}

/* The job is over: nothing may fire while we report or wait for the next. */
static void
pgbg_stop_timers(void)
{
	disable_all_timeouts(false);
	pgbg_job_deadline = 0;
	pgbg_timing_statement = false;
}

/*
 * Run the whole SQL string, following exec_simple_query() in postgres.c:
 * parse once (so error positions refer to the whole string), then for each
 * statement analyze, rewrite, plan, and run it in an unnamed portal.  With
 * several statements they share an implicit transaction block unless
 * transaction control statements say otherwise; a single statement such as
 * VACUUM runs outside any block.
 */
static void
pgbg_execute(const char *sql, MemoryContext jobcxt, PgbgReceiver *receiver)
{
	List	   *parsetree_list;
	ListCell   *lc;
	bool		use_implicit_block;
	bool		xact_started;
	MemoryContext oldcxt;

	debug_query_string = sql;
	pgstat_report_activity(STATE_RUNNING, sql);

	StartTransactionCommand();
	xact_started = true;
	pgbg_statement_starts();

	/* parse trees must survive commits between statements */
	oldcxt = MemoryContextSwitchTo(jobcxt);
	parsetree_list = pg_parse_query(sql);
	MemoryContextSwitchTo(oldcxt);

	use_implicit_block = (list_length(parsetree_list) > 1);

	foreach(lc, parsetree_list)
	{
		RawStmt    *parsetree = lfirst_node(RawStmt, lc);
		bool		is_last = (lnext(parsetree_list, lc) == NULL);
		bool		snapshot_set = false;
		CommandTag	commandTag;
		QueryCompletion qc;
		MemoryContext stmtcxt;
		List	   *querytree_list;
		List	   *plantree_list;
		Portal		portal;
		int16		format = 0; /* text */

		pgbg_report_statement(sql, parsetree);
		commandTag = CreateCommandTag(parsetree->stmt);
		set_ps_display(GetCommandTagName(commandTag));
		InitializeQueryCompletion(&qc);

		if (!xact_started)
		{
			StartTransactionCommand();
			xact_started = true;
		}
		pgbg_statement_starts();
		if (use_implicit_block)
			BeginImplicitTransactionBlock();

		pgbg_check_cancel_request();
		CHECK_FOR_INTERRUPTS();
		pgbg_check_statement(parsetree);

		if (analyze_requires_snapshot(parsetree))
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			snapshot_set = true;
		}

		/* plans live until the portal is dropped; one context per statement */
		stmtcxt = AllocSetContextCreate(jobcxt, "pg_background statement",
										ALLOCSET_DEFAULT_SIZES);
		oldcxt = MemoryContextSwitchTo(stmtcxt);

		querytree_list = pg_analyze_and_rewrite_fixedparams(parsetree, sql,
															NULL, 0, NULL);
		plantree_list = pg_plan_queries(querytree_list, sql,
										CURSOR_OPT_PARALLEL_OK, NULL);

		if (snapshot_set)
			PopActiveSnapshot();

		CHECK_FOR_INTERRUPTS();

		portal = CreatePortal("", true, true);
		portal->visible = false;
		PortalDefineQuery(portal, NULL, sql, commandTag, plantree_list, NULL);
		PortalStart(portal, NULL, 0, InvalidSnapshot);
		PortalSetResultFormat(portal, 1, &format);
		MemoryContextSwitchTo(oldcxt);

		(void) pgbg_portal_run(portal, &receiver->pub, &qc);
		PortalDrop(portal, false);

		/* as in exec_simple_query(), the commit is not timed */
		pgbg_statement_ends();
		if (is_last)
		{
			if (use_implicit_block)
				EndImplicitTransactionBlock();
			if (IsTransactionBlock())
			{
				/*
				 * BEGIN without COMMIT: a client disconnecting now would lose
				 * the work, and so do we, but say so.
				 */
				ereport(WARNING,
						(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
						 errmsg("pg_background job ended inside a transaction block"),
						 errdetail("The open transaction was rolled back.")));
				AbortOutOfAnyTransaction();
			}
			else
				CommitTransactionCommand();
			xact_started = false;
		}
		else if (IsA(parsetree->stmt, TransactionStmt))
		{
			CommitTransactionCommand();
			xact_started = false;
		}
		else
			CommandCounterIncrement();

		pgbg_send_command_complete(receiver, &qc);
		MemoryContextDelete(stmtcxt);
	}

	/* only when the string held no statement at all (e.g. a comment) */
	pgbg_statement_ends();
	if (xact_started)
		CommitTransactionCommand();
	debug_query_string = NULL;
}

static void
pgbg_record_outcome(PgbgOutcome outcome, ErrorData *edata)
{
	SpinLockAcquire(&pgbg_my_status->mutex);
	pgbg_my_status->outcome = outcome;
	pgbg_my_status->finished_at = GetCurrentTimestamp();
	if (edata != NULL)
	{
		strlcpy(pgbg_my_status->sqlstate, unpack_sql_state(edata->sqlerrcode),
				sizeof(pgbg_my_status->sqlstate));
		pgbg_copy_clipped(pgbg_my_status->errmsg,
						  edata->message ? edata->message : "unknown error",
						  PGBG_ERRMSG_LEN);
	}
	SpinLockRelease(&pgbg_my_status->mutex);
	pgbg_wake_launcher();
}

/*
 * The job failed.  Release its locks and resources first, and only then
 * report the error through the queue, which may have to wait for the
 * launcher to make room: a failed job must not hold locks while it waits
 * for a reader.  Finally record the outcome.
 */
static void
pgbg_handle_error(MemoryContext jobcxt)
{
	ErrorData  *edata;
	bool		canceled;

	MemoryContextSwitchTo(jobcxt);
	edata = CopyErrorData();
	FlushErrorState();

	/*
	 * Core says "statement timeout" for both uses of the timer; say which
	 * limit it was when it was the job's.
	 */
	SpinLockAcquire(&pgbg_my_status->mutex);
	canceled = pgbg_my_status->cancel_requested;
	SpinLockRelease(&pgbg_my_status->mutex);
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && !canceled &&
		pgbg_job_deadline != 0 &&
		GetCurrentTimestamp() >= pgbg_job_deadline &&
		edata->detail == NULL)
		edata->detail = psprintf("The job ran longer than pg_background.worker_timeout (%d ms).",
								 pgbg_my_fixed->worker_timeout_ms);

	pgbg_stop_timers();
	QueryCancelPending = false;
	AbortOutOfAnyTransaction();

	/*
	 * Re-raise to get the standard logging and client report (to our queue),
	 * then swallow it.  As on success, the message goes out before the
	 * outcome is recorded.
	 */
	edata->elevel = ERROR;
	PG_TRY();
	{
		ThrowErrorData(edata);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();

	SpinLockAcquire(&pgbg_my_status->mutex);
	canceled = pgbg_my_status->cancel_requested;
	SpinLockRelease(&pgbg_my_status->mutex);
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		canceled = true;
	pgbg_record_outcome(canceled ? PGBG_CANCELED : PGBG_FAILED, edata);
}

/*
 * Map a job's segment and take over its queue.  Returns the segment, whose
 * mapping lasts until we detach it.
 */
static dsm_segment *
pgbg_attach_job(dsm_handle handle, char **sql, char **gucstate)
{
	dsm_segment *seg;
	shm_toc    *toc;
	PgbgFixed  *fixed;

	seg = dsm_attach(handle);
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map dynamic shared memory segment"),
				 errdetail("The launching session probably released the worker before it started.")));
	/* not owned by a resource owner: it is ours until we detach it */
	dsm_pin_mapping(seg);
	toc = shm_toc_attach(PGBG_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bad magic number in dynamic shared memory segment"),
				 errdetail("Expected magic number 0x%08X.", PGBG_MAGIC)));

	fixed = shm_toc_lookup(toc, PGBG_KEY_FIXED, false);
	*sql = shm_toc_lookup(toc, PGBG_KEY_SQL, false);
	*gucstate = shm_toc_lookup(toc, PGBG_KEY_GUC, false);
	pgbg_my_seg = seg;
	pgbg_my_fixed = fixed;
	pgbg_my_status = &fixed->status;

	/* tells the launcher we hold a reference to the segment now */
	SpinLockAcquire(&pgbg_my_status->mutex);
	pgbg_my_status->worker_pid = MyProcPid;
	pgbg_my_status->worker_proc = MyProc;
	pgbg_my_status->started_at = GetCurrentTimestamp();
	SpinLockRelease(&pgbg_my_status->mutex);
	pgbg_wake_launcher();

	/* a previous job's FIFO buffer may be large: do not keep it */
	if (pgbg_out.overflow.data != NULL)
		pfree(pgbg_out.overflow.data);
	memset(&pgbg_out, 0, sizeof(pgbg_out));
	pgbg_out.abandoned = true;	/* until there is a queue to write to */
	if (!fixed->submit_mode)
	{
		shm_mq	   *mq = shm_toc_lookup(toc, PGBG_KEY_QUEUE, false);

		shm_mq_set_sender(mq, MyProc);
		pgbg_out.mqh = shm_mq_attach(mq, seg, NULL);
		pgbg_out.abandoned = false;
		pgbg_out.last_flush_ms = pgbg_now_ms();
		on_dsm_detach(seg, pgbg_output_detached, (Datum) 0);
		/* notices and errors now go to the launcher (see file header) */
		PqCommMethods = &pgbg_comm_methods;
		whereToSendOutput = DestRemote;
	}
	return seg;
}

/* pg_stat_activity shows which session a worker belongs to. */
static void
pgbg_name_after_launcher(void)
{
	char		appname[NAMEDATALEN];

	snprintf(appname, sizeof(appname), "pg_background:%d",
			 pgbg_my_fixed->launcher_pid);
	SetConfigOption("application_name", appname, PGC_USERSET, PGC_S_SESSION);
}

/*
 * Run the job of the current segment.  Returns true if it completed.
 */
static bool
pgbg_run_job(const char *sql, char *gucstate, MemoryContext jobcxt)
{
	PgbgFixed  *fixed = pgbg_my_fixed;
	volatile bool completed = false;

	PG_TRY();
	{
		PgbgReceiver *receiver;

		/* check hooks of some settings need catalog access */
		StartTransactionCommand();
		RestoreGUCState(gucstate);
		CommitTransactionCommand();

		/*
		 * Send strings to the launcher untranslated: it hands them to its own
		 * client, converting them exactly once.
		 */
		SetClientEncoding(GetDatabaseEncoding());

		/* become the launching user in the launcher's security context */
		SetUserIdAndSecContext(fixed->current_user_id, fixed->sec_context);

		pgbg_name_after_launcher();

		ereport(pgbg_log_level,
				(errmsg_internal("pg_background: worker for session %d started",
								 fixed->launcher_pid)));

		if (fixed->worker_timeout_ms > 0)
		{
			pgbg_job_deadline =
				TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											fixed->worker_timeout_ms);
			pgbg_arm_timer(false);
		}

		receiver = pgbg_create_receiver(jobcxt);
		pgbg_execute(sql, jobcxt, receiver);

		pgbg_stop_timers();

		/*
		 * The final message goes out before the outcome is recorded, so that
		 * a launcher that saw the outcome (pg_background_wait_v2) finds every
		 * message in the queue.
		 */
		if (!pgbg_out.abandoned)
		{
			char		done = PGBG_MSG_DONE;

			(void) pgbg_send(&done, 1, true, true);
		}
		completed = true;
	}
	PG_CATCH();
	{
		pgbg_handle_error(jobcxt);
	}
	PG_END_TRY();

	/*
	 * Nothing may follow the final message: a launcher that has read it may
	 * have released the queue already.
	 */
	if (completed)
	{
		pgbg_abandon_output();
		pgbg_record_outcome(PGBG_COMPLETED, NULL);
	}
	ereport(pgbg_log_level,
			(errmsg_internal("pg_background: worker for session %d finished",
							 fixed->launcher_pid)));
	return completed;
}

/*
 * Keeping a worker for the next job
 * ---------------------------------
 * A worker whose job completed can serve the next job of the same launching
 * session, which saves a process start (several milliseconds, most of the
 * cost of a short job).  Before it waits, it discards every piece of session
 * state a job can leave behind, exactly as DISCARD ALL does (settings, role
 * and session authorization, temporary tables, prepared statements, cursors,
 * session advisory locks, LISTEN registrations, sequence caches, cached
 * plans), and the next job restores the launcher's settings as usual.  What
 * DISCARD ALL keeps (caches, loaded libraries, the global state of untrusted
 * procedural languages) is why a worker only serves further jobs of the
 * same session and role (pgbg_claim_idle).  Jobs the finished job launched
 * itself, any failure here, or a job that did not complete: the process
 * exits.
 */
static bool
pgbg_reset_session(void)
{
	bool		ok = true;

	if (!pgbg_forget_session_state())
		return false;

	whereToSendOutput = DestNone;
	PG_TRY();
	{
		DiscardStmt *stmt = makeNode(DiscardStmt);

		stmt->target = DISCARD_ALL;
		SetUserIdAndSecContext(GetSessionUserId(), 0);
		StartTransactionCommand();
		DiscardCommand(stmt, true);
		CommitTransactionCommand();
		pfree(stmt);
		/* still the launcher's worker in pg_stat_activity while it waits */
		pgbg_name_after_launcher();
		pgstat_report_stat(true);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		ok = false;
	}
	PG_END_TRY();
	return ok && !IsTransactionOrTransactionBlock();
}

/*
 * Leave the current segment for good as far as reuse goes: no claim can
 * succeed afterwards, and if the launcher pinned the segment for us we unpin
 * it, so that it goes away with our mapping.  Also runs at process exit.
 */
static void
pgbg_leave_pool(void)
{
	bool		pooled;

	if (pgbg_my_status == NULL)
		return;
	SpinLockAcquire(&pgbg_my_status->mutex);
	pooled = pgbg_my_status->pooled;
	pgbg_my_status->pooled = false;
	if (pgbg_my_status->worker_state != PGBG_WORKER_CLAIMED)
		pgbg_my_status->worker_state = PGBG_WORKER_RETIRED;
	SpinLockRelease(&pgbg_my_status->mutex);
	if (pooled)
		dsm_unpin_segment(dsm_segment_handle(pgbg_my_seg));
}

static void
pgbg_worker_exit(int code, Datum arg)
{
	pgbg_leave_pool();
}

/*
 * Is the session that launched our job still there?  A backend keeps its
 * PID in its PGPROC after it exits (the slot just goes back on the free
 * list), so comparing that PID only notices the end of the session once
 * another backend happens to take the same slot.  The latch tells more:
 * ProcKill() disowns it (owner_pid = 0) as the session ends, and a new owner
 * of the slot has its own PID there.  Only a new backend in the same slot
 * with the very same PID could fool this check; the launcher's exit callback
 * (pgbg_launch.c) retires its idle workers directly, so that case would need
 * the exit callbacks to be skipped, which happens only when a backend
 * crashes, and then the postmaster restarts every process anyway.
 */
static bool
pgbg_launcher_alive(PgbgFixed *fixed)
{
	PGPROC	   *proc = fixed->launcher_proc;

	return proc->procLatch.owner_pid == fixed->launcher_pid &&
		proc->pid == fixed->launcher_pid;
}

/*
 * Wait for the launcher to hand us the segment of its next job.  Returns 0
 * when the idle timeout expires, the launcher lets us go or its session has
 * ended.  Either way we have left the pool (pgbg_leave_pool) when we return.
 */
static dsm_handle
pgbg_wait_for_next_job(int idle_timeout_ms)
{
	PgbgStatus *st = pgbg_my_status;
	PgbgFixed  *fixed = pgbg_my_fixed;
	TimestampTz deadline;

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   idle_timeout_ms);
	SpinLockAcquire(&st->mutex);
	if (!st->retire)
		st->worker_state = PGBG_WORKER_IDLE;
	SpinLockRelease(&st->mutex);
	/* a launcher waiting in pgbg_claim_idle() wants to know */
	pgbg_wake_launcher();
	/* "idle" in pg_stat_activity means: ready for the next job */
	pgstat_report_activity(STATE_IDLE, NULL);
	set_ps_display("idle");

	for (;;)
	{
		PgbgWorkerState state;
		dsm_handle	next = 0;
		long		wait_ms;
		bool		launcher_gone;

		launcher_gone = !pgbg_launcher_alive(fixed);
		wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
												  deadline);
		SpinLockAcquire(&st->mutex);
		state = st->worker_state;
		if (state == PGBG_WORKER_CLAIMED)
			next = st->next_job;
		else if (st->retire || wait_ms <= 0 || launcher_gone ||
				 pgbg_terminating)
			st->worker_state = state = PGBG_WORKER_RETIRED;
		SpinLockRelease(&st->mutex);

		if (state != PGBG_WORKER_IDLE)
		{
			pgbg_leave_pool();
			return next;
		}

		/* poll for the launcher's exit a few times a second */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(wait_ms, 250), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		/* a cancel aimed at the finished job must not hit the next one */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Entry point of the background worker.
 */
void
pg_background_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	char	   *sql;
	char	   *gucstate;
	MemoryContext jobcxt;
	Oid			database_id;
	Oid			user_id;

	pqsignal(SIGTERM, pgbg_die);
	pqsignal(SIGINT, StatementCancelHandler);
	BackgroundWorkerUnblockSignals();

	seg = pgbg_attach_job(DatumGetUInt32(main_arg), &sql, &gucstate);
	before_shmem_exit(pgbg_worker_exit, (Datum) 0);
	database_id = pgbg_my_fixed->database_id;
	user_id = pgbg_my_fixed->authenticated_user_id;

	BackgroundWorkerInitializeConnectionByOid(database_id, user_id, 0);

	jobcxt = AllocSetContextCreate(TopMemoryContext, "pg_background job",
								   ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		dsm_handle	next;
		int			idle_timeout_ms = pgbg_my_fixed->idle_timeout_ms;

		if (!pgbg_run_job(sql, gucstate, jobcxt) || idle_timeout_ms <= 0)
			break;
		MemoryContextReset(jobcxt);
		if (!pgbg_reset_session())
			break;
		next = pgbg_wait_for_next_job(idle_timeout_ms);
		if (next == 0)
			break;

		/* leave the old segment first: its detach callback ends output */
		pgbg_my_status = NULL;
		pgbg_my_fixed = NULL;
		if (pgbg_out.mqh != NULL)
			shm_mq_detach(pgbg_out.mqh);	/* frees the handle */
		pgbg_out.mqh = NULL;
		dsm_detach(seg);
		seg = pgbg_attach_job(next, &sql, &gucstate);

		/* only the session that launched us can claim us; check anyway */
		if (pgbg_my_fixed->database_id != database_id ||
			pgbg_my_fixed->authenticated_user_id != user_id)
			ereport(FATAL,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("pg_background worker was handed a job of another database or user")));
		QueryCancelPending = false;
	}
}
