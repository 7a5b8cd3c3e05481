/*-------------------------------------------------------------------------
 *
 * pgbg_exec.c
 *		The worker running one job: become the launching user with the
 *		launcher's settings, run the SQL string the way a simple-protocol
 *		query is run, stream rows and command tags through a DestReceiver
 *		into the queue (pgbg_queue.c), and record the job's outcome.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/printtup.h"
#include "access/xact.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "pgstat.h"
#include "tcop/cmdtag.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "storage/dsm.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/ps_status.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "pg_background.h"
#include "pgbg_jobs.h"

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
static bool pgbg_timer_for_deadline = false;	/* armed for the deadline */

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
static bool pgbg_end_statement(RawStmt *parsetree, bool is_last,
							   bool use_implicit_block);
static void pgbg_execute(const char *sql, MemoryContext jobcxt,
						 PgbgReceiver *receiver);
static void pgbg_arm_timer(bool statement);
static void pgbg_statement_starts(void);
static void pgbg_statement_ends(void);
static void pgbg_stop_timers(void);
static void pgbg_last_commit_done(void);
static void pgbg_post_outcome(dsm_handle mailbox);
static void pgbg_record_outcome(PgbgOutcome outcome, ErrorData *edata);
static bool pgbg_deadline_fired(ErrorData *edata);
static void pgbg_handle_error(MemoryContext jobcxt);

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
 * The text output of the commonest column types, written straight into the
 * message: the same bytes as their output functions, without the palloc'd
 * string, its strlen and the copy (a sixth of a streaming worker's time for
 * an int and a text column, measured with perf).  Returns false for any
 * other output function.
 */
static bool
pgbg_append_value_fast(StringInfo buf, Oid outfunc, Datum value)
{
	int			len;
	int			at;

	switch (outfunc)
	{
		case F_INT2OUT:
		case F_INT4OUT:
		case F_INT8OUT:
			/* the length, then up to 20 digits and a sign, and the NUL */
			enlargeStringInfo(buf, 4 + MAXINT8LEN + 1);
			at = buf->len;
			if (outfunc == F_INT2OUT)
				len = pg_itoa(DatumGetInt16(value), buf->data + at + 4);
			else if (outfunc == F_INT4OUT)
				len = pg_ltoa(DatumGetInt32(value), buf->data + at + 4);
			else
				len = pg_lltoa(DatumGetInt64(value), buf->data + at + 4);
			pq_sendint32(buf, (uint32) len);
			buf->len += len;
			return true;
		case F_TEXTOUT:
		case F_VARCHAROUT:
		case F_BPCHAROUT:
			{
				/* text_to_cstring() without the copy; detoasting is per row */
				text	   *t = DatumGetTextPP(value);

				len = VARSIZE_ANY_EXHDR(t);
				pq_sendint32(buf, (uint32) len);
				appendBinaryStringInfo(buf, VARDATA_ANY(t), len);
				return true;
			}
		default:
			return false;
	}
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

	if (pgbg_output_abandoned)
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
		else if (!pgbg_append_value_fast(&r->buf, r->finfo[i].fn_oid,
										 slot->tts_values[i]))
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

	if (pgbg_output_abandoned)
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

/*
 * A cancel requested before our signal handler could see it: by the
 * launcher (status block) or by an observer in another session (the job's
 * registry entry).
 */
static void
pgbg_check_cancel_request(void)
{
	bool		requested;

	SpinLockAcquire(&pgbg_my_status->mutex);
	requested = pgbg_my_status->cancel_requested;
	SpinLockRelease(&pgbg_my_status->mutex);
	if (requested || pgbg_jobs_worker_cancel_requested())
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
	pgbg_timer_for_deadline = (fin != 0 && fin == pgbg_job_deadline);
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
	pgbg_timer_for_deadline = false;
	pgbg_timing_statement = false;
}

/*
 * The job's last transaction has ended; nothing it did can be undone any
 * more.  Neither the job's deadline nor a cancel may turn it into a failure
 * now (a client told "canceled" would run it again): the timers stop before
 * the final messages go out, and a cancel that arrives from here on, or
 * arrived during the commit, only gives up the output (see pgbg_put).  The
 * job is then reported completed from the status block; the worker is not
 * kept, so that its queue ends and the reader learns the outcome.
 */
static void
pgbg_last_commit_done(void)
{
	bool		requested;

	pgbg_stop_timers();
	pgbg_job_committed = true;
	SpinLockAcquire(&pgbg_my_status->mutex);
	requested = pgbg_my_status->cancel_requested;
	SpinLockRelease(&pgbg_my_status->mutex);
	if (QueryCancelPending || requested || pgbg_jobs_worker_cancel_requested())
	{
		QueryCancelPending = false;
		pgbg_output_cut = true;
		pgbg_abandon_output();
	}
}

/*
 * After a statement, as exec_simple_query() does: the last one ends the
 * implicit block and commits, a transaction control statement commits, any
 * other makes its effects visible to the next.  Returns true if the
 * transaction command ended.
 */
static bool
pgbg_end_statement(RawStmt *parsetree, bool is_last, bool use_implicit_block)
{
	if (is_last)
	{
		if (use_implicit_block)
			EndImplicitTransactionBlock();
		if (IsTransactionBlock())
		{
			/*
			 * BEGIN without COMMIT: a client disconnecting now would lose the
			 * work, and so do we, but say so.
			 */
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
					 errmsg("pg_background job ended inside a transaction block"),
					 errdetail("The open transaction was rolled back.")));
			AbortOutOfAnyTransaction();
		}
		else
			CommitTransactionCommand();
		return true;
	}
	if (IsA(parsetree->stmt, TransactionStmt))
	{
		CommitTransactionCommand();
		return true;
	}
	CommandCounterIncrement();
	return false;
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
		if (pgbg_end_statement(parsetree, is_last, use_implicit_block))
			xact_started = false;
		if (is_last)
			pgbg_last_commit_done();

		pgbg_send_command_complete(receiver, &qc);
		MemoryContextDelete(stmtcxt);
	}

	/* only when the string held no statement at all (e.g. a comment) */
	pgbg_statement_ends();
	if (xact_started)
	{
		CommitTransactionCommand();
		pgbg_last_commit_done();
	}
	debug_query_string = NULL;
}

/*
 * The launcher released the job before its outcome was known and let its
 * segment go (see pgbg_linger): copy the outcome into the small segment it
 * keeps instead.  The cookie check guards against a handle that was reused
 * after the launcher went away.
 */
static void
pgbg_post_outcome(dsm_handle mailbox)
{
	dsm_segment *seg = dsm_attach(mailbox);
	PgbgMailbox *box;

	if (seg == NULL)
		return;					/* the launcher is gone */
	box = dsm_segment_address(seg);
	if (dsm_segment_map_length(seg) >= sizeof(PgbgMailbox) &&
		box->magic == PGBG_MAGIC && box->cookie == pgbg_my_fixed->cookie)
	{
		PgbgStatus *dst = &box->fixed.status;
		PgbgStatus	src;

		SpinLockAcquire(&pgbg_my_status->mutex);
		memcpy(&src, pgbg_my_status, sizeof(src));
		SpinLockRelease(&pgbg_my_status->mutex);

		SpinLockAcquire(&dst->mutex);
		dst->outcome = src.outcome;
		memcpy(dst->sqlstate, src.sqlstate, sizeof(dst->sqlstate));
		memcpy(dst->errmsg, src.errmsg, sizeof(dst->errmsg));
		dst->started_at = src.started_at;
		dst->finished_at = src.finished_at;
		SpinLockRelease(&dst->mutex);
	}
	dsm_detach(seg);
}

/*
 * Record the outcome in the status block (for the launcher), the mailbox (a
 * launcher that let the segment go) and the registry entry (for everyone
 * else: jobs_v2, attachers, observers).
 */
static void
pgbg_record_outcome(PgbgOutcome outcome, ErrorData *edata)
{
	dsm_handle	mailbox;
	char		sqlstate[6];
	char		errmsg[PGBG_ERRMSG_LEN];

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
	mailbox = pgbg_my_status->outcome_mailbox;
	memcpy(sqlstate, pgbg_my_status->sqlstate, sizeof(sqlstate));
	memcpy(errmsg, pgbg_my_status->errmsg, sizeof(errmsg));
	SpinLockRelease(&pgbg_my_status->mutex);
	if (mailbox != DSM_HANDLE_INVALID)
		pgbg_post_outcome(mailbox);
	pgbg_jobs_worker_outcome(outcome, edata ? sqlstate : NULL,
							 edata ? errmsg : NULL);
	pgbg_wake_launcher();
}

/*
 * Was this error the job's deadline?  The timer fired (it is no longer
 * active) while it was armed for pg_background.worker_timeout rather than
 * for statement_timeout; a cancel from anyone else, or a statement_timeout
 * handled just after the deadline, leaves one of the two false.  Must be
 * asked before the timers are stopped.
 */
static bool
pgbg_deadline_fired(ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
		pgbg_timer_for_deadline &&
		!get_timeout_active(STATEMENT_TIMEOUT);
}

/*
 * The job failed.  Release its locks and resources first, and only then
 * report the error through the queue, which may have to wait for the
 * launcher to make room: a failed job must not hold locks while it waits
 * for a reader.  Finally record the outcome.
 *
 * The outcome is "canceled" only when a cancel was asked for (cancel_v2,
 * or a launcher that went away, which also sets the flag); a timeout is an
 * error like any other (README, "States").  The flag is read when the error
 * is caught: a job that failed on its own and is canceled while it reports
 * the error still failed.
 */
static void
pgbg_handle_error(MemoryContext jobcxt)
{
	ErrorData  *edata;
	bool		canceled;

	MemoryContextSwitchTo(jobcxt);
	edata = CopyErrorData();
	FlushErrorState();

	SpinLockAcquire(&pgbg_my_status->mutex);
	canceled = pgbg_my_status->cancel_requested;
	SpinLockRelease(&pgbg_my_status->mutex);
	canceled |= pgbg_jobs_worker_cancel_requested();

	/*
	 * Core says "statement timeout" for both uses of the timer; say which
	 * limit it was when it was the job's.  The message itself names it, so
	 * that a reader who gets the error from the status block alone (the
	 * worker was blocked on a full queue and gave up its output) knows too.
	 */
	if (!canceled && pgbg_deadline_fired(edata))
	{
		edata->message = pstrdup("canceling statement due to pg_background.worker_timeout");
		edata->detail = psprintf("The job ran longer than pg_background.worker_timeout (%d ms).",
								 pgbg_my_fixed->worker_timeout_ms);
	}

	pgbg_stop_timers();
	QueryCancelPending = false;
	AbortOutOfAnyTransaction();

	/*
	 * Re-raise to get the standard logging and client report (to our queue),
	 * then swallow it.  As on success, the message goes out before the
	 * outcome is recorded.  Interrupts are held: a cancel that arrives while
	 * we wait for room in the queue must only make us give up the queue
	 * (pgbg_put), not raise an error here, where no handler is left to
	 * catch it (it would become FATAL and lose this error).
	 */
	edata->elevel = ERROR;
	PG_TRY();
	{
		ThrowErrorData(edata);
	}
	PG_CATCH();
	{
		/* here, not before the throw: errfinish() clears the holdoff count */
		HOLD_INTERRUPTS();
		EmitErrorReport();
		FlushErrorState();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();

	pgbg_record_outcome(canceled ? PGBG_CANCELED : PGBG_FAILED, edata);

	/* a cancel that came too late to matter must not fail the exit path */
	QueryCancelPending = false;
}

/*
 * Run the job of the current segment.  Returns true if it completed and its
 * output reached the queue whole, i.e. the worker may serve another job.
 */
bool
pgbg_run_job(const char *sql, char *gucstate, MemoryContext jobcxt)
{
	PgbgFixed  *fixed = pgbg_my_fixed;
	volatile bool completed = false;

	PG_TRY();
	{
		PgbgReceiver *receiver;

		pgbg_jobs_worker_begin(fixed);

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
		if (!pgbg_output_abandoned)
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
	if (pgbg_output_cut)
		completed = false;		/* its reader must see the queue end */
	ereport(pgbg_log_level,
			(errmsg_internal("pg_background: worker for session %d finished",
							 fixed->launcher_pid)));
	return completed;
}
