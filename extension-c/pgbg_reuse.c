/*-------------------------------------------------------------------------
 *
 * pgbg_reuse.c
 *		Keeping a worker whose job completed for the next job of the same
 *		session: the launcher's pool of idle workers and the worker's wait
 *		for its next job.  Both sides of the handshake live here.
 *
 * Why
 * ---
 * Starting a process costs far more than a short job (fork, then
 * InitPostgres with cold caches: several milliseconds, most of the cost of
 * a short job).  A worker whose job completed can instead serve the next
 * job of the same launching session.
 *
 * The handshake
 * -------------
 * It runs through the finished job's status block (PgbgStatus in the DSM
 * segment, under its spinlock):
 *
 *	worker_state BUSY	the worker runs the job, or is on its way out
 *		-> IDLE			the worker, after the job completed and its session
 *						state was discarded (pgbg_wait_for_next_job)
 *		-> CLAIMED		the launcher, setting next_job to the segment of a
 *						new job (pgbg_claim_idle); the worker maps it
 *		-> RETIRED		the worker, when it will not take another job: its
 *						idle timeout expired, the launcher set "retire"
 *						(pgbg_retire; also for every idle worker when the
 *						launcher's session ends, pgbg_idle_at_exit), or the
 *						worker saw that session end (pgbg_launcher_alive)
 *
 * Launcher side: when a handle whose job completed is released, instead of
 * detaching the segment we keep it in a tiny per-session pool
 * (pgbg_keep_idle).  We do not stay mapped to a pooled segment (it may hold
 * a large queue): it is pinned and handed to the worker, which unpins it
 * when it leaves it (pgbg_leave_pool; "pooled" says who unpins), so it lives
 * exactly as long as the idle worker.  Only this session can reach its idle
 * workers, so with the server-wide pool off (the default) a job never runs
 * in a process that served another session; with it on, only in one that
 * served sessions of the same database, login user and role (pgbg_pool.c).
 *
 * Worker side: before it waits, the worker discards every piece of session
 * state a job can leave behind, exactly as DISCARD ALL does (settings, role
 * and session authorization, temporary tables, prepared statements,
 * cursors, session advisory locks, LISTEN registrations, sequence caches,
 * cached plans), and the next job restores the launcher's settings as
 * usual.  What DISCARD ALL keeps (caches, loaded libraries, the global state
 * of untrusted procedural languages) is why a worker only serves further
 * jobs of the same session and role.  Jobs the finished job launched
 * itself, any failure here, or a job that did not complete: the process
 * exits.
 *
 * When the session ends its idle workers exit, unless the server-wide pool
 * is on (pg_background.pool_size): then each one the pool has room for is
 * handed to it (pool_slot in the status block, pgbg_pool.c) and waits
 * there for the first job of a new session of the same database and role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/discard.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_toc.h"
#include "tcop/dest.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/ps_status.h"
#include "utils/timestamp.h"

#include "pg_background.h"

/* ---- launcher side ---- */

/* An idle worker of this session and the finished job's segment. */
#define PGBG_MAX_IDLE 2

typedef struct PgbgIdle
{
	bool		used;
	dsm_handle	seg_handle;		/* the worker's last job segment (pinned) */
	int64		cookie;			/* of that job: identifies the segment */
	Oid			user_id;		/* the role that job ran as */
	MemoryContext worker_cxt;	/* owns handle */
	BackgroundWorkerHandle *handle;
} PgbgIdle;

static PgbgIdle pgbg_idle[PGBG_MAX_IDLE];

/* pgbg_idle_at_exit() is registered (once, with the first idle worker) */
static bool pgbg_idle_exit_hook = false;

static void pgbg_idle_at_exit(int code, Datum arg);

/*
 * Tell the worker of a segment we are leaving that no further job will come
 * through it.  Its PGPROC may belong to another process by now; a spurious
 * latch wakeup is harmless.
 */
void
pgbg_retire(PgbgFixed *fixed)
{
	struct PGPROC *proc;

	SpinLockAcquire(&fixed->status.mutex);
	fixed->status.retire = true;
	proc = fixed->status.worker_proc;
	SpinLockRelease(&fixed->status.mutex);
	if (proc != NULL)
		SetLatch(&proc->procLatch);
}

/*
 * Called instead of detaching a released handle's segment: if the job
 * completed and its worker will wait for another one, hand the segment over
 * to that worker and remember the worker in the pool.  The segment is pinned
 * so that it outlives our mapping; the worker unpins it when it leaves it
 * (next job, timeout, or exit), so it disappears with the worker and never
 * with us.  Returns false if the caller should simply detach; otherwise the
 * handle has been freed.
 */
bool
pgbg_keep_idle(PgbgJobHandle *job)
{
	PgbgIdle   *slot = NULL;
	PgbgStatus *st = &job->fixed->status;
	bool		keep;
	pid_t		pid;
	int			i;

	if (!job->completed || job->submit_mode || job->worker_cxt == NULL ||
		job->fixed->idle_timeout_ms <= 0 || pgbg_worker_idle_timeout <= 0)
		return false;
	if (GetBackgroundWorkerPid(job->handle, &pid) != BGWH_STARTED)
		return false;
	for (i = 0; i < PGBG_MAX_IDLE && slot == NULL; i++)
	{
		if (!pgbg_idle[i].used)
			slot = &pgbg_idle[i];
	}
	if (slot == NULL)
		return false;

	/* pin first: once "pooled" is visible the worker may unpin at any time */
	dsm_pin_segment(job->seg);
	SpinLockAcquire(&st->mutex);
	keep = !st->retire && (st->worker_state == PGBG_WORKER_BUSY ||
						   st->worker_state == PGBG_WORKER_IDLE);
	if (keep)
		st->pooled = true;
	SpinLockRelease(&st->mutex);
	if (!keep)
	{
		dsm_unpin_segment(dsm_segment_handle(job->seg));
		return false;
	}

	if (!pgbg_idle_exit_hook)
	{
		before_shmem_exit(pgbg_idle_at_exit, (Datum) 0);
		pgbg_idle_exit_hook = true;
	}
	slot->used = true;
	slot->seg_handle = dsm_segment_handle(job->seg);
	slot->cookie = job->fixed->cookie;
	slot->user_id = job->user_id;
	slot->worker_cxt = job->worker_cxt;
	slot->handle = job->handle;
	MemoryContextSetParent(job->worker_cxt, TopMemoryContext);

	pgbg_release_keeping_worker(job);
	return true;
}

/*
 * Map a pooled worker's segment again, if it still exists and is the one we
 * pooled (a destroyed segment's handle could in theory be reused).
 */
static dsm_segment *
pgbg_attach_pooled(PgbgIdle *slot, PgbgFixed **fixed)
{
	dsm_segment *seg;
	shm_toc    *toc;

	/* a handle of a destroyed segment may now name one of ours */
	if (dsm_find_mapping(slot->seg_handle) != NULL)
		return NULL;
	seg = dsm_attach(slot->seg_handle);
	if (seg == NULL)
		return NULL;
	toc = shm_toc_attach(PGBG_MAGIC, dsm_segment_address(seg));
	*fixed = toc ? shm_toc_lookup(toc, PGBG_KEY_FIXED, true) : NULL;
	if (*fixed == NULL || (*fixed)->cookie != slot->cookie ||
		(*fixed)->launcher_pid != MyProcPid)
	{
		dsm_detach(seg);
		return NULL;
	}
	return seg;
}

static void
pgbg_forget_idle(PgbgIdle *slot)
{
	if (slot->worker_cxt != NULL)
		MemoryContextDelete(slot->worker_cxt);
	memset(slot, 0, sizeof(PgbgIdle));
}

/*
 * Offer the next job to one pooled worker.  Returns its state as found: IDLE
 * means it took the job; BUSY (with the process alive) that it may become
 * idle in a moment; anything else, or a segment that is gone, makes us
 * forget the slot (returned as RETIRED).
 */
static PgbgWorkerState
pgbg_offer_job(PgbgIdle *slot, dsm_handle next_job)
{
	dsm_segment *seg;
	PgbgFixed  *fixed;
	PgbgWorkerState state;
	struct PGPROC *proc;
	pid_t		pid;

	seg = pgbg_attach_pooled(slot, &fixed);
	if (seg == NULL)
	{
		pgbg_forget_idle(slot);
		return PGBG_WORKER_RETIRED;
	}
	SpinLockAcquire(&fixed->status.mutex);
	state = fixed->status.worker_state;
	proc = fixed->status.worker_proc;
	if (state == PGBG_WORKER_IDLE)
	{
		fixed->status.worker_state = PGBG_WORKER_CLAIMED;
		fixed->status.next_job = next_job;
	}
	SpinLockRelease(&fixed->status.mutex);
	dsm_detach(seg);

	if (state == PGBG_WORKER_IDLE)
	{
		SetLatch(&proc->procLatch);
		return state;
	}
	if (state == PGBG_WORKER_BUSY &&
		GetBackgroundWorkerPid(slot->handle, &pid) == BGWH_STARTED)
		return state;
	pgbg_forget_idle(slot);
	return PGBG_WORKER_RETIRED;
}

/*
 * Give an idle worker of ours the segment of the next job; on success
 * *worker_cxt and *handle receive the worker's handle and the context that
 * owns it (the caller's now).  A worker released a moment ago may not have
 * reached its idle state yet (it records its outcome and cleans up after
 * the final message); wait a little for it rather than pay for a new
 * process.
 */
bool
pgbg_claim_idle(dsm_handle next_job, Oid user_id, MemoryContext *worker_cxt,
				BackgroundWorkerHandle **handle)
{
	TimestampTz start = 0;

	for (;;)
	{
		bool		pending = false;
		int			i;

		for (i = 0; i < PGBG_MAX_IDLE; i++)
		{
			PgbgIdle   *slot = &pgbg_idle[i];
			PgbgWorkerState state;

			/*
			 * Only for a job of the same role: what DISCARD ALL leaves (loaded
			 * libraries, global state of untrusted procedural languages) must
			 * not pass from one role's job to another's.
			 */
			if (!slot->used || slot->user_id != user_id)
				continue;
			state = pgbg_offer_job(slot, next_job);
			if (state == PGBG_WORKER_IDLE)
			{
				*worker_cxt = slot->worker_cxt;
				*handle = slot->handle;
				memset(slot, 0, sizeof(PgbgIdle));
				return true;
			}
			if (state == PGBG_WORKER_BUSY)
				pending = true;
		}
		if (!pending)
			return false;
		if (start == 0)
			start = GetCurrentTimestamp();
		else if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 20))
			return false;
		/* the worker sets our latch when it becomes idle */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 5, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Let all idle workers of this session go, giving their slots back; or, as
 * the session ends with the pool on (to_pool), hand each one that may still
 * serve a job to the server-wide pool (pgbg_pool.c) instead.
 */
static void
pgbg_release_idle(bool to_pool)
{
	int			i;

	for (i = 0; i < PGBG_MAX_IDLE; i++)
	{
		PgbgIdle   *slot = &pgbg_idle[i];
		dsm_segment *seg;
		PgbgFixed  *fixed;

		if (!slot->used)
			continue;
		seg = pgbg_attach_pooled(slot, &fixed);
		if (seg != NULL)
		{
			int			pool_slot = 0;
			pid_t		pid;

			if (to_pool &&
				GetBackgroundWorkerPid(slot->handle, &pid) == BGWH_STARTED)
				pool_slot = pgbg_pool_reserve(slot->user_id, (int32) pid,
											  slot->handle);
			if (pool_slot > 0)
			{
				PgbgStatus *st = &fixed->status;
				bool		handed;

				/*
				 * A worker still busy with the job's end may yet find it
				 * cannot be kept (its output not wholly acknowledged); it
				 * gives the entry back then (pgbg_leave_pool's caller).
				 */
				SpinLockAcquire(&st->mutex);
				handed = !st->retire && st->pool_slot == 0 &&
					(st->worker_state == PGBG_WORKER_BUSY ||
					 st->worker_state == PGBG_WORKER_IDLE);
				if (handed)
					st->pool_slot = pool_slot;
				SpinLockRelease(&st->mutex);
				if (!handed)
					pgbg_pool_unreserve(pool_slot, (int32) pid);
			}
			pgbg_retire(fixed);
			dsm_detach(seg);
		}
		pgbg_forget_idle(slot);
	}
}

/* Let all idle workers of this session go, giving their slots back. */
void
pgbg_drop_idle(void)
{
	pgbg_release_idle(false);
}

/*
 * The session ends, however it ends (disconnect, pg_terminate_backend, a
 * FATAL error): its idle workers can never get another job, so tell them to
 * exit now instead of letting them hold their max_worker_processes slots
 * until their idle timeout, unless the pool takes them
 * (pg_background.pool_size).  They also notice the launcher's exit by
 * themselves (pgbg_launcher_alive), within a quarter of a second; this makes
 * it immediate.  The pooled segments are mapped without a resource owner:
 * the transaction of an exiting session may not have been cleaned up yet.
 */
static void
pgbg_idle_at_exit(int code, Datum arg)
{
	ResourceOwner save = CurrentResourceOwner;

	CurrentResourceOwner = NULL;
	pgbg_release_idle(pgbg_pool_enabled());
	CurrentResourceOwner = save;
}

/* ---- worker side ---- */

/*
 * Discard what the finished job left in this session (see the file header).
 * Returns false if the worker should exit instead of waiting.
 */
bool
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
 * Returns the pool entry our leaving launcher reserved for us (0 = none),
 * which the caller either joins or gives back.
 */
int
pgbg_leave_pool(void)
{
	bool		pooled;
	int			pool_slot;

	if (pgbg_my_status == NULL)
		return 0;
	SpinLockAcquire(&pgbg_my_status->mutex);
	pooled = pgbg_my_status->pooled;
	pgbg_my_status->pooled = false;
	pool_slot = pgbg_my_status->pool_slot;
	pgbg_my_status->pool_slot = 0;
	if (pgbg_my_status->worker_state != PGBG_WORKER_CLAIMED)
		pgbg_my_status->worker_state = PGBG_WORKER_RETIRED;
	SpinLockRelease(&pgbg_my_status->mutex);
	if (pooled)
		dsm_unpin_segment(dsm_segment_handle(pgbg_my_seg));
	return pool_slot;
}

/*
 * Is the session that launched our job still there?  A backend keeps its
 * PID in its PGPROC after it exits (the slot just goes back on the free
 * list), so comparing that PID only notices the end of the session once
 * another backend happens to take the same slot.  The latch tells more:
 * ProcKill() disowns it (owner_pid = 0) as the session ends, and a new owner
 * of the slot has its own PID there.  Only a new backend in the same slot
 * with the very same PID could fool this check; the launcher's exit callback
 * (pgbg_idle_at_exit) retires its idle workers directly, so that case would
 * need the exit callbacks to be skipped, which happens only when a backend
 * crashes, and then the postmaster restarts every process anyway.
 */
bool
pgbg_launcher_alive(PgbgFixed *fixed)
{
	PGPROC	   *proc = fixed->launcher_proc;

	return proc->procLatch.owner_pid == fixed->launcher_pid &&
		proc->pid == fixed->launcher_pid;
}

/*
 * Wait for the launcher to hand us the segment of its next job.  Returns 0
 * when the idle timeout expires, the launcher lets us go or its session has
 * ended; then *pool_slot is the server-wide pool's entry the ending session
 * reserved for us, if any (pgbg_pool_wait).  Either way we have left the
 * session's pool (pgbg_leave_pool) when we return.
 */
dsm_handle
pgbg_wait_for_next_job(int idle_timeout_ms, int *pool_slot)
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
			*pool_slot = pgbg_leave_pool();
			if (next != 0 && *pool_slot != 0)
			{
				/* claimed by its session after all: the entry is not needed */
				pgbg_pool_unreserve(*pool_slot, MyProcPid);
				*pool_slot = 0;
			}
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
