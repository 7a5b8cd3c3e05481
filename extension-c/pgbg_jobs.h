/*-------------------------------------------------------------------------
 *
 * pgbg_jobs.h
 *		The server-wide registry of pg_background jobs (durable jobs, issue
 *		11; DESIGN-durable-jobs.md sections 3 and 4).
 *
 * Every job launched on the server has an entry here, whichever session
 * launched it, from registration (before its worker is started) until it is
 * freed: when its state is final and its output was delivered or discarded,
 * when it is evicted from a full registry, or when its retention expired.
 * An entry is named by a PgbgJobRef (slot index + generation): a slot that
 * was freed and reused has another generation, so a stale reference finds
 * nothing instead of another job.
 *
 * Locking: structural changes (register, free, reader changes, eviction)
 * happen under the registry's LWLock in exclusive mode; the hot fields
 * (counters, progress, write position, flags) under the entry's spinlock.
 * Every function below does its own locking; none may be called with the
 * registry lock held.
 *
 * Durability can be unavailable (the anchor in the main shared memory could
 * not be allocated): pgbg_jobs_available() is then false, launches work as
 * in 1.9 (no entry, PgbgJobRef invalid) and every function taking a ref
 * does nothing for an invalid ref.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBG_JOBS_H
#define PGBG_JOBS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "postmaster/bgworker.h"
#include "storage/fd.h"
#include "storage/spin.h"

#include "pg_background.h"

/* Where held output lives: one file per job, j<pid>_<cookie hex>, 0600. */
#define PGBG_HELD_DIR			"base/pgsql_tmp/pgsql_tmp_pg_background"
/* Launch/free journal that reports jobs a restart interrupted. */
#define PGBG_JOURNAL_FILE		"pg_stat_tmp/pg_background.journal"
/* Reservations against pg_background.max_held_bytes are whole extents. */
#define PGBG_HELD_EXTENT		((int64) 1024 * 1024)
/* last_error of a job found running in the journal after a restart */
#define PGBG_INTERRUPTED_MSG	"interrupted by a server restart"

/* GUCs (pgbg_jobs.c) */
extern int	pgbg_max_jobs;				/* pg_background.max_jobs */
extern int	pgbg_max_held_mb;			/* pg_background.max_held_bytes, MB */
extern int	pgbg_held_output_retention; /* seconds */

/* State of a job, as jobs_v2 shows it (DESIGN 3.1). */
typedef enum PgbgJobState
{
	PGBG_JOB_FREE = 0,			/* slot unused */
	PGBG_JOB_RUNNING,
	PGBG_JOB_COMPLETED,
	PGBG_JOB_ERROR,
	PGBG_JOB_CANCELED,
	PGBG_JOB_LOST,				/* worker exited without an outcome */
	PGBG_JOB_INTERRUPTED		/* running when the server restarted */
} PgbgJobState;

/* Where a job's output stands (DESIGN 3.1). */
typedef enum PgbgJobOutput
{
	PGBG_OUTPUT_LIVE = 0,		/* queue mode, the launcher reads it */
	PGBG_OUTPUT_ATTACHED,		/* a session attached with attach_v2 reads it */
	PGBG_OUTPUT_HELD,			/* no reader: waits for an attach or retention */
	PGBG_OUTPUT_DELIVERED,		/* everything before done acknowledged */
	PGBG_OUTPUT_DISCARDED,		/* detach_v2, result_v2 done, explicit release */
	PGBG_OUTPUT_NONE			/* submit_v2, or interrupted */
} PgbgJobOutput;

typedef enum PgbgJobMode
{
	PGBG_MODE_QUEUE = 0,
	PGBG_MODE_FILE
} PgbgJobMode;

/* A reference to one entry; generation 0 = none. */
typedef struct PgbgJobRef
{
	int32		index;
	uint64		generation;
} PgbgJobRef;

#define PgbgJobRefIsValid(ref)	((ref).generation != 0)

/* The registry entry a job's segment names. */
static inline PgbgJobRef
pgbg_fixed_job_ref(const PgbgFixed *fixed)
{
	PgbgJobRef	ref;

	ref.index = fixed->registry_index;
	ref.generation = fixed->registry_generation;
	return ref;
}

/*
 * The values of a BackgroundWorkerHandle (bgworker.c keeps the struct
 * private: a slot number and the slot's generation, meaningful in every
 * backend).  Copied so that observers in other sessions can signal or
 * terminate the worker through the postmaster's checks.
 */
typedef struct PgbgBgwValues
{
	int			slot;
	uint64		generation;
} PgbgBgwValues;

/*
 * One job.  pgbg_jobs_snapshot() copies it (without its mutex) for readers
 * that want several fields at once.
 */
typedef struct PgbgJobEntry
{
	slock_t		mutex;			/* hot fields below */

	/* key; changed only under the registry lock, then also under mutex */
	uint64		generation;		/* 0 = free */
	int32		pid;			/* 0 until the worker has started */
	int64		cookie;
	int32		next_free;		/* free list link (registry lock) */

	/* who */
	Oid			owner;			/* current user at launch */
	Oid			database;
	int32		launcher_pid;

	/* the worker */
	PgbgBgwValues bgw;
	bool		bgw_valid;
	struct PGPROC *worker_proc;

	/* outcome */
	PgbgJobState state;
	PgbgJobOutput output;
	char		sqlstate[6];	/* NUL-terminated, "" = none */
	char		errmsg[PGBG_ERRMSG_LEN];	/* last_error */
	int32		progress_pct;	/* -1 = none reported */
	char		progress_msg[PGBG_PROGRESS_MSG_LEN];
	char		preview[PGBG_PREVIEW_LEN];

	/* times */
	TimestampTz launched_at;
	TimestampTz finished_at;	/* 0 while running */
	TimestampTz last_read_at;	/* 0 = never read by an attacher */

	/* reader (DESIGN 3.2) */
	int32		reader_pid;		/* 0 = none */
	struct PGPROC *reader_proc;
	uint32		reader_epoch;	/* bumped on every change of reader */

	/* flags */
	bool		submit;			/* launched by submit_v2 */
	bool		holdable;		/* output may be held when its reader goes */
	bool		cancel_requested;	/* set by observers (and cancel_v2) */
	bool		discard_output; /* nobody will read: output discarded */
	bool		truncated;		/* output cut at a bound */
	bool		synth_error;	/* the relay makes the error row */
	bool		blocked;		/* worker waits for queue space */
	bool		journaled;		/* its L record was written (F owed) */

	/* message counters (DESIGN 1) */
	int64		last_seq;		/* last message produced */
	int64		final_seq;		/* seq of done, 0 until known */
	int64		acked_seq;		/* acknowledged by the reader */
	int64		rows_produced;
	int64		rows_acked;

	/* file mode (DESIGN 2.2; one file per job) */
	PgbgJobMode mode;
	int64		w_off;			/* bytes of the file written and readable */
	int64		w_seq;			/* last seq in those bytes */
	int64		bytes_reserved; /* held_bytes reservation, whole extents */
	int64		bytes_held;		/* what jobs_v2 shows as bytes_held */
} PgbgJobEntry;

/* ---- setup ---- */

/* _PG_init: define the GUCs; when preloaded, reserve the anchor. */
extern void pgbg_jobs_init(void);

/*
 * Map the registry, creating it (and reporting the jobs a restart
 * interrupted) if this is its first use since the server started.  False
 * when durability is unavailable for this server run.
 */
extern bool pgbg_jobs_available(void);

/* 55000 with the hint to preload pg_background. */
extern void pgbg_jobs_unavailable_error(void) pg_attribute_noreturn();

/* pgbg_jobs_available() or pgbg_jobs_unavailable_error(). */
extern void pgbg_jobs_require(void);

/* ---- launch (pgbg_launch.c) ---- */

/*
 * Reserve an entry for a job about to be launched by this session (pid 0:
 * not attachable yet), with this session as its reader at epoch 1.  Output
 * starts LIVE (NONE for submit).  holdable = its output may be held when
 * its reader goes (false: discarded then, e.g. v1 or durable = off).  When
 * the registry is full, evicts the oldest finished entry whose output is
 * held, delivered or none; if there is none, 53400.  Returns an invalid ref
 * when durability is unavailable.
 */
extern PgbgJobRef pgbg_jobs_register(int64 cookie, Oid owner, const char *sql,
									 bool submit, bool holdable);

/* The worker has started: its PID and handle; writes the journal's L. */
extern void pgbg_jobs_set_worker(PgbgJobRef ref, int32 pid,
								 BackgroundWorkerHandle *handle);

/* The launch failed: the entry goes, leaving nothing.  Never raises. */
extern void pgbg_jobs_unregister(PgbgJobRef ref);

/* ---- entries ---- */

/* The entry if ref still names it (for spinlocked reads of hot fields). */
extern PgbgJobEntry *pgbg_jobs_entry(PgbgJobRef ref);

/* Copy of the entry; false when ref no longer names it. */
extern bool pgbg_jobs_snapshot(PgbgJobRef ref, PgbgJobEntry *copy);

/* (pid, cookie) -> ref without any check or error; false if unknown. */
extern bool pgbg_jobs_find(int32 pid, int64 cookie, PgbgJobRef *ref);

/*
 * (pid, cookie) -> ref for attach and observers, with their errors: unknown
 * PID 42704 "PID %d is not attached to this session", known PID with
 * another cookie 42704 "cookie mismatch ...", another role (members do not
 * count) 42501, and with same_database another database 55000.
 */
extern PgbgJobRef pgbg_jobs_lookup(int32 pid, int64 cookie,
								   bool same_database);

extern const char *pgbg_job_state_name(PgbgJobState state);
extern const char *pgbg_job_output_name(PgbgJobOutput output);
extern bool pgbg_job_state_final(PgbgJobState state);

/* ---- readers (DESIGN 3.2) ---- */

/*
 * attach_v2's registry part: sweep if due, lookup (same database), check
 * after_seq (55000 below what was acknowledged, 22023 beyond what a worker
 * in file mode wrote), then become the reader: every check comes first, so
 * a failed attach leaves the current reader as it was.  A live other reader and !takeover: 55006 "pg_background
 * worker %d is being read by session %d".  Bumps the epoch; the output
 * becomes ATTACHED unless final (delivered/discarded/none).  Returns the new
 * epoch, *ref and a snapshot taken under the lock (may be NULL).
 */
extern uint32 pgbg_jobs_attach(int32 pid, int64 cookie, bool takeover,
							   bool has_after, int64 after_seq,
							   PgbgJobRef *ref, PgbgJobEntry *snapshot);

/*
 * Become the reader of ref (e.g. a rewind in the launching session, the
 * "self take-over").  Same 55006 rule as attach; returns the new epoch.
 */
extern uint32 pgbg_jobs_set_reader(PgbgJobRef ref, bool takeover);

/* The current reader's epoch (0 if ref is gone); for the worker's checks. */
extern uint32 pgbg_jobs_reader_epoch(PgbgJobRef ref);

/*
 * Is this session still the reader at epoch?  false with *by_pid = the
 * session that took over (0 if none or the entry is gone).
 */
extern bool pgbg_jobs_is_reader(PgbgJobRef ref, uint32 epoch, int32 *by_pid);
extern bool pgbg_jobs_freed_after_takeover(PgbgJobRef ref, uint32 epoch);

/*
 * pgbg_jobs_is_reader or 55006 "pg_background worker %d was taken over by
 * session %d".  An entry that is gone passes (the caller finds out itself).
 */
extern void pgbg_jobs_check_reader(PgbgJobRef ref, uint32 epoch);

/*
 * This session stops reading ref (if it still is the reader at epoch; 0 =
 * any epoch of ours): the reader is cleared, the epoch bumped and the
 * output set to output (DELIVERED after the final acknowledgement,
 * DISCARDED for an explicit release, HELD to leave it for an attacher).
 * Frees the entry when its state is final and the output delivered or
 * discarded.  Never raises an error for a ref that is gone.
 */
extern void pgbg_jobs_release_reader(PgbgJobRef ref, uint32 epoch,
									 PgbgJobOutput output);

/*
 * Set the output state (and the discard flag for DISCARDED) whoever reads;
 * frees the entry when that completes the freeing rule.
 */
extern void pgbg_jobs_set_output(PgbgJobRef ref, PgbgJobOutput output);

/* Whether output may be held when the reader goes (durable = off: false). */
extern void pgbg_jobs_set_holdable(PgbgJobRef ref, bool holdable);

/* ---- worker side ---- */

/* Job start (pgbg_exec.c): map the registry, remember the job's ref. */
extern void pgbg_jobs_worker_begin(PgbgFixed *fixed);

/* The ref of the job this worker runs (invalid outside a registered job). */
extern PgbgJobRef pgbg_jobs_worker_ref(void);

/* Mirror the outcome (pgbg_record_outcome); may free the entry. */
extern void pgbg_jobs_worker_outcome(PgbgOutcome outcome,
									 const char *sqlstate, const char *errmsg);

/* Mirror pg_background_progress(); msg NULL clears the message. */
extern void pgbg_jobs_worker_progress(int32 pct, const char *msg);

/* Did an observer ask to cancel the current job? */
extern bool pgbg_jobs_worker_cancel_requested(void);

/* Mirror status.blocked_on_queue (observer wait's deadlock rule). */
extern void pgbg_jobs_worker_set_blocked(bool blocked);

/*
 * Worker exit path (before_shmem_exit): a job still running becomes lost,
 * or canceled if a cancel was asked; then the lazy sweep.
 */
extern void pgbg_jobs_worker_exit(void);

/* ---- counters and file mode (C-DUR) ---- */

extern void pgbg_jobs_publish_produced(PgbgJobRef ref, int64 last_seq,
									   int64 rows_produced, int64 bytes_held);
extern void pgbg_jobs_publish_final(PgbgJobRef ref, int64 final_seq,
									bool synth_error);
/*
 * reader: acknowledgement; also sets last_read_at.  Fenced by the reader
 * epoch: a handle that is no longer the reader acknowledges nothing (false).
 * status_acked (the worker's status block, NULL for an attached handle) is
 * written under the same lock, so that a worker that sees the epoch move
 * never trims on an acknowledgement made after it moved.  An invalid ref
 * (no registry) writes status_acked alone.
 */
extern bool pgbg_jobs_publish_acked(PgbgJobRef ref, uint32 epoch,
									int64 acked_seq, int64 rows_acked,
									pg_atomic_uint64 *status_acked);

/*
 * worker: did the reader release the job (detach_v2 of an attached handle),
 * or is the entry gone?  Then nobody reads the rest.
 */
extern bool pgbg_jobs_output_discarded(PgbgJobRef ref);

/*
 * worker: create the job's held file while the entry provably exists (under
 * the registry lock, which every free takes before it unlinks): a file made
 * for an entry already freed would never be removed.  Returns -1 (errno
 * set, or 0 when the entry is gone or its output discarded).
 */
extern File pgbg_jobs_create_held_file(PgbgJobRef ref, const char *path);
extern void pgbg_jobs_set_truncated(PgbgJobRef ref);

/*
 * Worker: the job switched to file mode with (w_off, w_seq) written; the
 * output becomes ATTACHED if a live reader exists, HELD otherwise.
 */
extern void pgbg_jobs_enter_file_mode(PgbgJobRef ref, int64 w_off,
									  int64 w_seq);

/* Worker: more of the file is readable; sets the reader's latch. */
extern void pgbg_jobs_publish_write(PgbgJobRef ref, int64 w_off, int64 w_seq,
									int64 bytes_held);

/* Reader: the readable position; returns the mode. */
extern PgbgJobMode pgbg_jobs_read_position(PgbgJobRef ref, int64 *w_off,
										   int64 *w_seq);

/* ---- bounds (DESIGN 5.3) ---- */

/*
 * Make ref's reservation cover total_bytes, reserving whole extents from
 * pg_background.max_held_bytes.  False (nothing reserved) when the
 * server-wide bound would be exceeded; the per-job bound is the caller's.
 */
extern bool pgbg_jobs_reserve(PgbgJobRef ref, int64 total_bytes);

/* Shrink ref's reservation to the extents covering keep_bytes (0 = all). */
extern void pgbg_jobs_release_reservation(PgbgJobRef ref, int64 keep_bytes);

/* Server-wide reserved bytes. */
extern int64 pgbg_jobs_held_bytes_total(void);

/* ---- files ---- */

/* buf (MAXPGPATH) = held-output file of (pid, cookie), relative to PGDATA */
extern void pgbg_jobs_held_path(int32 pid, int64 cookie, char *buf);

/* Create PGBG_HELD_DIR if missing. */
extern void pgbg_jobs_ensure_held_dir(void);

/* ---- retention ---- */

/* The lazy sweep (DESIGN 5.4), when due; cheap when not. */
extern void pgbg_jobs_sweep_if_due(void);

/* ---- observers (DESIGN 3.3): jobs that are not a handle of this session ---- */

/*
 * cancel_v2 / cancel_v2_grace: set cancel_requested and SIGINT the worker;
 * with grace_ms >= 0, terminate it if it has not stopped after grace_ms.
 */
extern void pgbg_jobs_observer_cancel(int32 pid, int64 cookie,
									  int32 grace_ms);

/*
 * wait_v2 / wait_v2_timeout (timeout_ms < 0 = no limit): true once the job
 * has a final state; 55000 when it is blocked on its queue and the caller
 * is not its reader.
 */
extern bool pgbg_jobs_observer_wait(int32 pid, int64 cookie,
									int64 timeout_ms);

/*
 * get_progress_v2: false when no progress was reported; msg is
 * PGBG_PROGRESS_MSG_LEN bytes ("" = none).
 */
extern bool pgbg_jobs_observer_progress(int32 pid, int64 cookie, int32 *pct,
										char *msg);

/* SQL: pg_background_jobs_v2() */
extern Datum pg_background_jobs_v2(PG_FUNCTION_ARGS);

#endif							/* PGBG_JOBS_H */
