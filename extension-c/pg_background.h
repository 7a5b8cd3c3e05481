/*-------------------------------------------------------------------------
 *
 * pg_background.h
 *		Shared definitions for pg_background: the layout of the dynamic
 *		shared memory segment that connects a launching session with its
 *		background worker, the wire format of the messages the worker sends
 *		back, and the session-local registry of launched workers.
 *
 * File map:
 *		pg_background.c   module load, GUCs, small shared helpers, the
 *						  outcome names
 *		pgbg_launch.c     launcher side: starting a job (its segment, a
 *						  worker for it)
 *		pgbg_registry.c   launcher side: the session's registry of job
 *						  handles, their release and the jobs' outcomes
 *		pgbg_reuse.c      keeping a finished worker for the next job: the
 *						  launcher's pool and the worker's idle wait (both
 *						  sides of the idle/claimed/retired handshake)
 *		pgbg_pool.c       the server-wide pool of idle workers that outlive
 *						  their session (pg_background.pool_size)
 *		pgbg_worker.c     the background worker's main loop: attach a job's
 *						  segment, run it, maybe wait for the next one
 *		pgbg_exec.c       the worker running one job: statements, the
 *						  DestReceiver, errors and the recorded outcome
 *		pgbg_queue.c      the worker's single writer to the queue, with its
 *						  replay log and the switch to a held file, and the
 *						  PQcommMethods for notices
 *		pgbg_held.c       held output: the job's file, written by the worker
 *						  once its reader is gone, read by attach_v2's handle
 *		pgbg_jobs.c       the server-wide registry of jobs (pgbg_jobs.h)
 *		pgbg_relay.c      launcher side: receiving messages and decoding
 *						  each one into a PgbgMessage
 *		pgbg_result.c     pg_background_result*: messages to typed rows
 *		pgbg_fetch.c      pg_background_fetch_v2: messages to JSON rows
 *		pgbg_funcs.c      the SQL-callable functions
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_BACKGROUND_H
#define PG_BACKGROUND_H

#include "postgres.h"

#include <signal.h>

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "postmaster/bgworker.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/shm_mq.h"
#include "storage/spin.h"
#include "access/tupdesc.h"
#include "utils/elog.h"

/*
 * Version compatibility.  Only PostgreSQL 15 is built and tested here; the
 * guards below record the API differences we know about so that 13..18
 * compile in principle.
 */
#if PG_VERSION_NUM < 130000
#error "pg_background requires PostgreSQL 13 or later"
#endif

#if PG_VERSION_NUM < 150000
/* shm_mq_send() gained force_flush in 15; older releases always flush. */
#define pgbg_shm_mq_send(mqh, len, data, nowait, flush) \
	shm_mq_send((mqh), (len), (data), (nowait))
#define pg_analyze_and_rewrite_fixedparams(a, b, c, d, e) \
	pg_analyze_and_rewrite((a), (b), (c), (d), (e))
#else
#define pgbg_shm_mq_send(mqh, len, data, nowait, flush) \
	shm_mq_send((mqh), (len), (data), (nowait), (flush))
#endif

/* PortalRun() lost its run_once argument in 18. */
#if PG_VERSION_NUM >= 180000
#define pgbg_portal_run(portal, dest, qc) \
	PortalRun((portal), FETCH_ALL, true, (dest), (dest), (qc))
#else
#define pgbg_portal_run(portal, dest, qc) \
	PortalRun((portal), FETCH_ALL, true, true, (dest), (dest), (qc))
#endif

/* EmitWarningsOnPlaceholders() was renamed in 15. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* Wait events were renamed in 17. */
#if PG_VERSION_NUM >= 170000
#define PGBG_WAIT_EVENT_SEND	WAIT_EVENT_MESSAGE_QUEUE_SEND
#define PGBG_WAIT_EVENT_RECEIVE WAIT_EVENT_MESSAGE_QUEUE_RECEIVE
#else
#define PGBG_WAIT_EVENT_SEND	WAIT_EVENT_MQ_SEND
#define PGBG_WAIT_EVENT_RECEIVE WAIT_EVENT_MQ_RECEIVE
#endif

/* Magic number identifying our DSM segments ("pgbg"). */
#define PGBG_MAGIC				0x70676267

/* shm_toc keys */
#define PGBG_KEY_FIXED			1
#define PGBG_KEY_SQL			2
#define PGBG_KEY_GUC			3
#define PGBG_KEY_QUEUE			4

/* Limits (bytes / milliseconds). */
#define PGBG_MIN_QUEUE_SIZE		4096
#define PGBG_MAX_QUEUE_SIZE		(256 * 1024 * 1024)
#define PGBG_MAX_TIMEOUT_MS		86400000	/* one day */
#define PGBG_MAX_GRACE_MS		3600000 /* one hour */
#define PGBG_PROGRESS_MSG_LEN	256
#define PGBG_ERRMSG_LEN			512
#define PGBG_PREVIEW_LEN		120
#define PGBG_REGISTER_RETRY_MS	2000	/* wait for a free worker slot */
#define PGBG_MAX_ROWS_PER_TUPLE 1000000 /* pg_background.fetch_rows_per_tuple */

/*
 * Receiving a stream (pgbg_receive): after this many messages in a row the
 * launcher polls the queue every PGBG_POLL_US microseconds, at most
 * PGBG_POLL_MAX times in a row, instead of sleeping on its latch; a message
 * that took more than PGBG_POLL_DENSE polls ends the streak.
 */
#define PGBG_POLL_STREAK		1000
#define PGBG_POLL_US			250
#define PGBG_POLL_MAX			40
#define PGBG_POLL_DENSE			4	/* polls for one message that still count
									 * as a stream */

/* How long a worker may keep produced rows unpublished in the queue. */
#define PGBG_FLUSH_INTERVAL_MS	20

/*
 * Message types on the queue.  Every message starts with one type byte.
 * 'N' and 'E' carry the standard frontend/backend error fields (so that
 * pq_parse_errornotice() can decode them); the others are our own compact
 * formats, written without encoding conversion (the worker runs with
 * client_encoding equal to the database encoding, so every string on the
 * queue is in the server encoding).
 *
 *	'T'  columns:	int16 natts, then per column: name\0, uint32 type oid,
 *					int32 typmod, type name\0 (format_type in the worker,
 *					for a type the launcher cannot look up, e.g. one the
 *					job created and has not committed)
 *	'D'  row:		int16 natts, then per column: int32 length (-1 = NULL),
 *					bytes of the text output
 *	'B'  rows:		consecutive rows of one result set, each as the body of
 *					a 'D' message, up to the end of the message (one
 *					message standing for as many as it holds)
 *	'C'  command:	int64 rows (-1 = tag carries no row count), tag\0,
 *					int64 seq
 *	'N'  notice:	error fields
 *	'E'  error:		error fields (elevel >= ERROR ends the stream)
 *	'Z'  done:		int64 seq; the job completed and committed; ends the
 *					stream
 *
 * Sequence numbers: every logical message (a column description, a row, a
 * command tag, a notice, an error, done) gets the next number, from 1, when
 * it enters the stream; a 'B' message of n rows takes n numbers.  Numbers
 * are not sent, both ends count; 'C' and 'Z' carry theirs as a check.
 */
#define PGBG_MSG_COLUMNS		'T'
#define PGBG_MSG_ROW			'D'
#define PGBG_MSG_ROWS			'B'
#define PGBG_MSG_COMMAND		'C'
#define PGBG_MSG_NOTICE			'N'
#define PGBG_MSG_ERROR			'E'
#define PGBG_MSG_DONE			'Z'

/* Final outcome of a job as recorded by the worker in the status block. */
typedef enum PgbgOutcome
{
	PGBG_RUNNING = 0,
	PGBG_COMPLETED,
	PGBG_FAILED,
	PGBG_CANCELED,
	PGBG_LOST					/* launcher's verdict only: the process is
								 * gone without having recorded an outcome */
} PgbgOutcome;

#define PGBG_NUM_OUTCOMES		(PGBG_LOST + 1)

/*
 * How an outcome is shown.  fetch_v2's final "done" row and the log use one
 * vocabulary; list_v2 keeps the one of the original pg_background 1.8, where
 * a finished job is "stopped" (see pgbg_outcome_names in pg_background.c).
 */
typedef struct PgbgOutcomeName
{
	const char *state;			/* fetch_v2 {"state": ...}, log entries */
	const char *list_state;		/* list_v2's state column */
} PgbgOutcomeName;

extern const PgbgOutcomeName pgbg_outcome_names[PGBG_NUM_OUTCOMES];

/*
 * What a worker does after its job, as seen in the job's status block.  Only
 * a worker whose job completed, and whose launcher still listens, goes idle;
 * the launcher may then claim it (with the next job's segment) until the
 * idle timeout retires it.
 */
typedef enum PgbgWorkerState
{
	PGBG_WORKER_BUSY = 0,		/* running the job, or exiting */
	PGBG_WORKER_IDLE,			/* waiting for a next job */
	PGBG_WORKER_CLAIMED,		/* next_job is set; it is on its way */
	PGBG_WORKER_RETIRED			/* will exit, never claim it */
} PgbgWorkerState;

/*
 * Status block shared by launcher and worker, protected by its spinlock.
 * Only plain copies happen under the lock.
 */
typedef struct PgbgStatus
{
	slock_t		mutex;
	int32		progress_pct;	/* -1 until the job reports progress */
	char		progress_msg[PGBG_PROGRESS_MSG_LEN];
	PgbgOutcome outcome;
	char		sqlstate[6];	/* NUL-terminated; set when FAILED/CANCELED */
	char		errmsg[PGBG_ERRMSG_LEN];
	bool		cancel_requested;	/* set by the launcher */
	bool		blocked_on_queue;	/* worker waits for queue space */
	int32		worker_pid;		/* set by the worker when it starts */
	TimestampTz started_at;
	TimestampTz finished_at;

	/*
	 * Reuse of a finished worker for the next job of the same session (the
	 * handshake is described in pgbg_reuse.c).
	 */
	struct PGPROC *worker_proc; /* whose latch the launcher sets */
	PgbgWorkerState worker_state;
	dsm_handle	next_job;		/* set with PGBG_WORKER_CLAIMED */
	bool		retire;			/* launcher: no further job will come */
	bool		pooled;			/* launcher pinned the segment for reuse;
								 * whoever clears this unpins it */
	dsm_handle	outcome_mailbox;	/* launcher let this segment go; the
									 * worker posts its outcome there */
	int32		pool_slot;		/* the launcher's session ended and reserved
								 * this server-wide pool entry (index + 1)
								 * for the worker; 0 = none (pgbg_pool.c) */

	/*
	 * Durable output (pgbg_queue.c).  The reader acknowledges what it holds
	 * (everything up to acked_seq may be forgotten by the worker); the
	 * worker publishes the number of the last message it has sent.  Plain
	 * atomics, outside the spinlock: one store per fetch_v2 call or per
	 * frame.
	 */
	pg_atomic_uint64 acked_seq;
	pg_atomic_uint64 produced_seq;
	bool		discard_output; /* the reader released the job on purpose:
								 * nobody will read the rest */
	bool		truncated;		/* held output was cut at a bound */
} PgbgStatus;

/* Fixed-size part of the DSM segment. */
typedef struct PgbgFixed
{
	Oid			database_id;
	Oid			authenticated_user_id;
	Oid			current_user_id;
	int			sec_context;
	int32		launcher_pid;
	struct PGPROC *launcher_proc;	/* whose latch the worker sets */
	int64		cookie;
	bool		submit_mode;	/* no output at all, never blocks */
	int32		worker_timeout_ms;	/* 0 = none */
	int32		idle_timeout_ms;	/* keep the worker this long; 0 = exit */
	bool		durable;		/* keep output until acknowledged, hold it
								 * when the reader goes (pg_background.durable
								 * at launch; never for v1 or submit) */
	int64		held_limit;		/* bytes of held output allowed
								 * (max_held_bytes_per_job at launch) */
	int32		registry_index; /* the job's server-wide registry entry */
	uint64		registry_generation;	/* (pgbg_jobs.h); 0 = none */
	PgbgStatus	status;
} PgbgFixed;

/*
 * What a launcher keeps of a job it released before the outcome was known
 * (pgbg_registry.c, "lingering"): a small segment of its own, instead of the
 * job's whole segment with its queue.  The worker copies its outcome into
 * it (pgbg_post_outcome) when the status block names it.
 */
typedef struct PgbgMailbox
{
	uint32		magic;			/* PGBG_MAGIC */
	int64		cookie;			/* the job's; checked before writing */
	PgbgFixed	fixed;			/* copy; only its status block is used */
} PgbgMailbox;

/*
 * Launcher-side registry entry.  Everything belonging to one handle lives in
 * its own memory context (cxt), so releasing a handle is a single
 * MemoryContextDelete and nothing can be forgotten.
 */
typedef struct PgbgKey
{
	int64		cookie;
	int32		pid;
	int32		zero;			/* explicit padding, always 0: the hash and
								 * compare functions see the whole struct */
} PgbgKey;

/*
 * One launched job as this session knows it: the job's handle.  (The
 * "session" is the launching backend, which holds up to
 * pg_background.max_workers of these.)
 */
typedef struct PgbgJobHandle
{
	PgbgKey		key;			/* hash key: must be first */
	MemoryContext cxt;			/* owns this struct and all below */
	dsm_segment *seg;			/* NULL once detached */
	PgbgFixed  *fixed;			/* inside seg */
	const char *sql;			/* inside seg */
	BackgroundWorkerHandle *handle; /* allocated in worker_cxt */
	MemoryContext worker_cxt;	/* child of cxt; handed on with the worker
								 * when it is kept for another job */
	shm_mq_handle *mqh;			/* NULL in submit mode */
	Oid			user_id;		/* current user at launch */
	bool		definer;		/* launched by a SECURITY DEFINER function
								 * whose owner the calling role cannot act
								 * as: counts against the owner, not the
								 * session (pgbg_count_held) */
	TimestampTz launched_at;
	int32		queue_size;
	bool		submit_mode;
	bool		consumed;		/* reading of results has started */
	bool		fetching;		/* fetch_v2 is the reader */
	bool		counted;		/* outcome already added to stats */
	bool		registered;		/* present in the registry hash */
	bool		completed;		/* the job is known to have completed */
	uint64		launch_seq;		/* launch order, for v1 lookups */
	int32		stmt_no;		/* fetch_v2: statements completed */

	/*
	 * fetch_v2 rows built from messages already taken off the queue but not
	 * yet delivered (see "Batches" in pgbg_fetch.c); allocated in cxt.
	 */
	StringInfoData fetch_pending;
	int			fetch_pending_at;	/* first entry not yet delivered */
	int			fetch_emit_at;	/* first entry not yet returned by a call */
	int			fetch_unconfirmed;	/* calls whose statement has not ended */
	bool		fetch_done_out; /* "done" returned, its statement not ended */
	char	   *fetch_carry;	/* a message whose conversion failed */
	int			fetch_carry_len;
	int			fetch_carry_tries;	/* conversions of it that failed */
	int32		recv_streak;	/* messages received without waiting */
	char	   *preview;
	char	   *last_error;

	/*
	 * Sequence numbers (see the wire format above).  recv_seq: the last
	 * message taken into this session (pending entries included);
	 * delivered_seq: the last one a successful fetch_v2 call returned;
	 * acked_seq: what the reader acknowledged (after_seq, or implicitly);
	 * skip_to: messages up to here are dropped as they arrive (the reader
	 * has them).
	 */
	int64		recv_seq;
	int64		delivered_seq;
	int64		acked_seq;
	int64		skip_to;
	int64		final_seq;		/* seq of "done" once known, else 0 */
	bool		done_delivered; /* durable mode: "done" returned, waiting
								 * for the final acknowledgement */
	bool		ack_on_receipt; /* result_v2: acknowledge as it reads */
	int64		rows_acked;		/* rows among the acknowledged messages */

	/* the job's server-wide registry entry (pgbg_jobs.h), if any */
	int32		reg_index;
	uint64		reg_generation; /* 0 = none */
	uint32		reader_epoch;	/* ours, as the entry's reader */

	/*
	 * A handle made by attach_v2 (pgbg_durable.h): no segment, its status
	 * block (fixed) is a local copy refreshed from the registry, and its
	 * messages come from the job's held-output file.
	 */
	bool		attached;
	struct PgbgHeldReader *held;
	bool		replay_wanted;	/* attach without after_seq: send the
								 * current result set's columns again */
	char	   *replay_json;	/* those columns, as a "columns" row */
	int64		replay_seq;
	bool		interrupted;	/* a restart interrupted the job */
} PgbgJobHandle;

typedef struct PgbgHeldReader PgbgHeldReader;

/* Why a handle was released, for clear errors on later use. */
typedef enum PgbgReleaseReason
{
	PGBG_RELEASED_CONSUMED,
	PGBG_RELEASED_FINISHED,
	PGBG_RELEASED_DETACHED,
	PGBG_RELEASED_TAKEN_OVER	/* another session attached with takeover */
} PgbgReleaseReason;

/* Per-session statistics (see pg_background_stats_v2). */
typedef struct PgbgStats
{
	int64		launched;
	int64		completed;
	int64		failed;
	int64		canceled;
	double		total_exec_ms;
	int64		timed;
} PgbgStats;

/* GUCs (pg_background.c) */
extern int	pgbg_max_workers;
extern int	pgbg_default_queue_size;
extern int	pgbg_worker_timeout;
extern int	pgbg_log_level;
extern int	pgbg_worker_idle_timeout;
extern int	pgbg_fetch_rows_per_tuple;
extern bool pgbg_durable;
extern int	pgbg_max_held_kb_per_job;
extern int	pgbg_test_pause_fetch_after;
extern int	pgbg_pool_size;
extern int	pgbg_pool_idle_timeout;

/* pg_background.c */
extern void pgbg_check_not_null(FunctionCallInfo fcinfo, int argno,
								const char *argname);
extern void pgbg_check_range(const char *what, int64 value, int64 min,
							 int64 max);
extern void pgbg_copy_clipped(char *dst, const char *src, int dstlen);

/* pgbg_launch.c */
extern PgbgJobHandle *pgbg_launch(text *sql, int32 queue_size, bool submit,
								  bool v1);

/* pgbg_registry.c */
extern void pgbg_tie_to_segment(PgbgJobHandle *job);
extern void pgbg_register_handle(PgbgJobHandle *job, int32 pid, int64 cookie,
								 const char *sql);
extern bool pgbg_forget_session_state(void);
extern PgbgJobHandle *pgbg_lookup(int32 pid, int64 cookie, bool v1);
extern void pgbg_release(PgbgJobHandle *job, PgbgReleaseReason reason);
extern void pgbg_release_keeping_worker(PgbgJobHandle *job);
extern PgbgOutcome pgbg_observe(PgbgJobHandle *job, bool *stopped);
extern PgbgOutcome pgbg_outcome_after_queue(PgbgJobHandle *job,
											PgbgStatus *st);
extern int	pgbg_status_errcode(const PgbgStatus *st);
extern void pgbg_note_outcome(PgbgJobHandle *job, PgbgOutcome outcome,
							  const char *errmsg);
extern bool pgbg_worker_blocked(PgbgJobHandle *job);
extern bool pgbg_wait_for_outcome(PgbgJobHandle *job, int64 timeout_ms,
								  bool detect_deadlock);
extern void pgbg_request_cancel(PgbgJobHandle *job);
extern void pgbg_terminate(PgbgJobHandle *job);
extern int	pgbg_registry_count(void);
extern int	pgbg_sweep_lingering(void);
extern int	pgbg_count_held(bool definer, Oid user_id, int *hidden);
extern void pgbg_registry_foreach(void (*fn) (PgbgJobHandle *job, void *arg),
								  void *arg);
extern PgbgStats *pgbg_stats(void);
extern void pgbg_status_snapshot(PgbgJobHandle *job, PgbgStatus *copy);
extern bool pgbg_session_knows(int32 pid, int64 cookie);

/* pgbg_reuse.c, launcher side */
extern bool pgbg_claim_idle(dsm_handle next_job, Oid user_id,
							MemoryContext *worker_cxt,
							BackgroundWorkerHandle **handle);
extern bool pgbg_keep_idle(PgbgJobHandle *job);
extern void pgbg_drop_idle(void);
extern void pgbg_retire(PgbgFixed *fixed);

/* pgbg_reuse.c, worker side */
extern bool pgbg_reset_session(void);
extern dsm_handle pgbg_wait_for_next_job(int idle_timeout_ms, int *pool_slot);
extern int	pgbg_leave_pool(void);

/* pgbg_pool.c */
#define PGBG_POOL_SLOTS			64
extern bool pgbg_pool_enabled(void);
extern int	pgbg_pool_reserve(Oid user_id, int32 worker_pid,
							  BackgroundWorkerHandle *handle);
extern void pgbg_pool_unreserve(int slot, int32 worker_pid);
extern bool pgbg_pool_claim(dsm_handle next_job, Oid user_id,
							MemoryContext cxt,
							BackgroundWorkerHandle **handle);
extern bool pgbg_pool_retire_one(void);
extern dsm_handle pgbg_pool_wait(int slot);
extern void pgbg_pool_worker_exit(void);

/* pgbg_relay.c */
typedef enum PgbgRecv
{
	PGBG_RECV_MESSAGE,
	PGBG_RECV_EMPTY,
	PGBG_RECV_DETACHED
} PgbgRecv;

/* One column of a PGBG_MSG_COLUMNS message. */
typedef struct PgbgColumnDesc
{
	const char *name;
	Oid			typid;
	int32		typmod;
	const char *type_name;		/* the worker's format_type */
} PgbgColumnDesc;

/*
 * A message from the worker, decoded once (pgbg_decode).  Strings and
 * values point into the received message (valid until the next receive);
 * values are not NUL-terminated, lengths[i] < 0 is SQL NULL.  The arrays
 * belong to the PgbgDecoder and are reused for every message.
 */
typedef struct PgbgMessage
{
	char		kind;			/* PGBG_MSG_* */
	int			natts;			/* COLUMNS, ROW */
	PgbgColumnDesc *columns;	/* COLUMNS */
	const char **values;		/* ROW */
	int		   *lengths;		/* ROW */
	int64		rows;			/* COMMAND: -1 = tag carries no count */
	const char *tag;			/* COMMAND */
	int64		seq;			/* COMMAND, DONE: the worker's number */
	ErrorData  *edata;			/* NOTICE, ERROR */
} PgbgMessage;

typedef struct PgbgDecoder
{
	int			capacity;		/* entries allocated in the arrays below */
	PgbgColumnDesc *columns;
	const char **values;
	int		   *lengths;
	MemoryContext cxt;			/* owns the arrays */
	MemoryContext error_cxt;	/* where an ERROR's ErrorData goes; NULL =
								 * the current context */
} PgbgDecoder;

extern PgbgRecv pgbg_receive(PgbgJobHandle *job, long timeout_ms,
							 StringInfo msg);
extern void pgbg_decoder_init(PgbgDecoder *d, MemoryContext cxt,
							  MemoryContext error_cxt);
extern void pgbg_decode(PgbgDecoder *d, StringInfo raw, PgbgMessage *m);
extern bool pgbg_decode_next_row(PgbgDecoder *d, StringInfo raw,
								 PgbgMessage *m);
extern void pgbg_unexpected_message(char msgtype) pg_attribute_noreturn();
extern void pgbg_check_seq(PgbgJobHandle *job, PgbgMessage *m);
extern int	pgbg_frame_messages(const char *data, int len);
extern void pgbg_store_ack(PgbgJobHandle *job, int64 seq);
extern int64 pgbg_produced_seq(PgbgJobHandle *job);
extern PgbgOutcome pgbg_error_outcome(PgbgJobHandle *job, ErrorData *edata);
extern void pgbg_push_error_context(PgbgJobHandle *job,
									ErrorContextCallback *cb);
extern void pgbg_check_srf_context(FunctionCallInfo fcinfo,
								   bool need_expected);
extern struct Tuplestorestate *pgbg_init_materialize(FunctionCallInfo fcinfo,
													 TupleDesc tupdesc);

/* pgbg_result.c */
extern void pgbg_materialize_result(PgbgJobHandle *job,
									FunctionCallInfo fcinfo);

/* pgbg_fetch.c */
extern void pgbg_materialize_fetch(PgbgJobHandle *job, FunctionCallInfo fcinfo,
								   int32 max_rows, int32 wait_ms,
								   bool has_after, int64 after_seq);

/* pgbg_worker.c */
extern PGDLLEXPORT void pg_background_worker_main(Datum main_arg);
extern void pgbg_name_after_launcher(void);
extern PgbgStatus *pgbg_my_status;
extern PgbgFixed *pgbg_my_fixed;
extern dsm_segment *pgbg_my_seg;
extern volatile sig_atomic_t pgbg_terminating;

/* pgbg_exec.c */
extern bool pgbg_run_job(const char *sql, char *gucstate,
						 MemoryContext jobcxt);

/* pgbg_queue.c */
extern bool pgbg_output_abandoned;
extern bool pgbg_job_committed;
extern bool pgbg_output_cut;
extern void pgbg_output_attach(shm_mq *mq, dsm_segment *seg);
extern void pgbg_output_detach(void);
extern bool pgbg_send(const char *data, Size len, bool flush, bool drain);
extern void pgbg_abandon_output(void);
extern void pgbg_wake_launcher(void);
extern void pgbg_durable_setup(PgbgFixed *fixed, bool submit, bool v1);
extern bool pgbg_output_finish(void);

/* pgbg_reuse.c */
extern bool pgbg_launcher_alive(PgbgFixed *fixed);

#endif							/* PG_BACKGROUND_H */
