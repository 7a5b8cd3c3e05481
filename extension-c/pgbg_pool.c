/*-------------------------------------------------------------------------
 *
 * pgbg_pool.c
 *		A server-wide pool of idle workers that outlive the session that
 *		launched them, so that the first job of a new session of the same
 *		database and role does not pay for a process start.
 *
 * Why
 * ---
 * A kept worker (pgbg_reuse.c) only serves the session that launched it,
 * and exits within a second of that session's end (issue 9).  A client that
 * opens a session per job (a web request, pgbench -C) therefore starts a
 * process for every job: fork plus InitPostgres with cold caches, which is
 * what a dblink connection costs too.  With pg_background.pool_size > 0 a
 * session that ends hands its idle workers to this pool instead, and a new
 * session's launch takes one from here before starting a process.  Off by
 * default: with the pool off a kept worker exits with its session as
 * before.
 *
 * Isolation
 * ---------
 * An entry is keyed by (database, authenticated user, role the jobs ran
 * as): the worker's connection was made for that database and user, and
 * what DISCARD ALL leaves behind (loaded libraries, the global state of
 * untrusted procedural languages) must not pass from one role's job to
 * another's.  Before a worker is kept at all its session state has been
 * discarded (pgbg_reset_session), and only a worker whose job completed
 * and whose output was wholly acknowledged ever waits for another job
 * (pgbg_output_finish), so nothing unread is left in it either.
 *
 * Memory and locking
 * ------------------
 * A small fixed array in the main shared memory, made by the first backend
 * that needs it (ShmemInitStruct under AddinShmemInitLock, like the job
 * registry's anchor in pgbg_jobs.c, from the slack the server keeps for
 * modules that are not preloaded), protected by its own LWLock.  A pooled
 * worker maps no segment: it left its last job's segment when it joined,
 * so the pool holds no DSM.  A crash-restart kills every worker and
 * reinitialises the main shared memory, so the array comes back empty.
 *
 * An entry's life (state, under the lock):
 *
 *	FREE -> RESERVED	a launcher whose session ends, for a worker it kept
 *						(pgbg_pool_reserve, from pgbg_reuse.c); the worker's
 *						status block names the entry (pool_slot)
 *	RESERVED -> IDLE	the worker, once it has left its last segment
 *						(pgbg_pool_wait); or -> FREE if it exits instead
 *	IDLE -> CLAIMED		a launch of the same key, with next_job set
 *	IDLE -> RETIRE		a launch of any key that found no free worker slot
 *	CLAIMED, RETIRE, IDLE past its timeout -> FREE		the worker
 *
 * Bounds: pg_background.pool_size entries per key, and never more than a
 * quarter of max_worker_processes server-wide (PGBG_POOL_SLOTS at most),
 * so the pool can never take the last slots from parallel query or other
 * extensions; a pg_background launch that finds no free slot retires a
 * pooled worker of any key before it gives up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/ps_status.h"
#include "utils/timestamp.h"

#include "pg_background.h"

typedef enum PgbgPoolState
{
	PGBG_POOL_FREE = 0,
	PGBG_POOL_RESERVED,
	PGBG_POOL_IDLE,
	PGBG_POOL_CLAIMED,
	PGBG_POOL_RETIRE
} PgbgPoolState;

/*
 * A BackgroundWorkerHandle is opaque, yet the session that claims a pooled
 * worker needs one (to terminate it, to tell a dead worker from a slow
 * one); only the session that registered the worker ever got it.  Its
 * layout, a slot number and that slot's generation, has been the same
 * since dynamic background workers exist (9.4 to 18), so the pool keeps
 * its bytes and hands a copy to the claimer.
 */
typedef struct PgbgHandleImage
{
	int			slot;
	uint64		generation;
} PgbgHandleImage;

typedef struct PgbgPoolEntry
{
	PgbgPoolState state;
	Oid			database_id;
	Oid			authenticated_user_id;
	Oid			user_id;		/* the role its jobs ran as */
	int32		worker_pid;
	PGPROC	   *worker_proc;	/* set once IDLE */
	PgbgHandleImage handle;
	dsm_handle	next_job;		/* with CLAIMED */
	int32		idle_timeout_ms;	/* pool_idle_timeout when pooled */
	TimestampTz since;			/* entered its current state */
} PgbgPoolEntry;

typedef struct PgbgPoolShared
{
	int			tranche_id;
	LWLock		lock;
	PgbgPoolEntry entries[PGBG_POOL_SLOTS];
} PgbgPoolShared;

int			pgbg_pool_size = 0;
int			pgbg_pool_idle_timeout = 60000;

static PgbgPoolShared *pgbg_pool = NULL;
static bool pgbg_pool_failed = false;

/*
 * Find or make the pool's shared memory.  If the server has no slack left
 * ShmemInitStruct raises an error; the pool is then off for this process
 * rather than making every launch fail.  Never raises.
 */
static bool
pgbg_pool_attach(void)
{
	PgbgPoolShared *pool = NULL;
	bool		found = false;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (pgbg_pool != NULL)
		return true;
	if (pgbg_pool_failed)
		return false;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	PG_TRY();
	{
		pool = ShmemInitStruct("pg_background worker pool",
							   sizeof(PgbgPoolShared), &found);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		/* errfinish() cleared the holdoff count LWLockAcquire had raised */
		HOLD_INTERRUPTS();
		pool = NULL;
	}
	PG_END_TRY();
	if (pool != NULL && !found)
	{
		memset(pool, 0, sizeof(PgbgPoolShared));
		pool->tranche_id = LWLockNewTrancheId();
		LWLockInitialize(&pool->lock, pool->tranche_id);
	}
	LWLockRelease(AddinShmemInitLock);

	if (pool == NULL)
	{
		pgbg_pool_failed = true;
		ereport(LOG,
				(errmsg("pg_background: no shared memory left for the worker pool; the pool is off")));
		return false;
	}
	LWLockRegisterTranche(pool->tranche_id, "pg_background pool");
	pgbg_pool = pool;
	return true;
}

/* The server-wide bound: a quarter of the slots, never all of them. */
static int
pgbg_pool_cap(void)
{
	return Min(max_worker_processes / 4, PGBG_POOL_SLOTS);
}

bool
pgbg_pool_enabled(void)
{
	return pgbg_pool_size > 0 && pgbg_pool_cap() > 0;
}

/* ---- launcher side ---- */

/*
 * A session that ends asks for an entry for one of its kept workers.
 * Returns the entry's number (index + 1), or 0 when the pool is off or a
 * bound is reached (the worker then exits as it would without a pool).
 * The caller tells the worker through its status block, and gives the
 * entry back (pgbg_pool_unreserve) if the worker is past being kept.
 */
int
pgbg_pool_reserve(Oid user_id, int32 worker_pid,
				  BackgroundWorkerHandle *handle)
{
	Oid			auth_id = GetAuthenticatedUserId();
	int			same = 0;
	int			used = 0;
	int			free_at = -1;
	int			cap = pgbg_pool_cap();
	int			i;

	if (!pgbg_pool_enabled() || !pgbg_pool_attach())
		return 0;

	LWLockAcquire(&pgbg_pool->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGBG_POOL_SLOTS; i++)
	{
		PgbgPoolEntry *e = &pgbg_pool->entries[i];

		if (e->state == PGBG_POOL_FREE)
		{
			if (free_at < 0)
				free_at = i;
			continue;
		}
		used++;
		if (e->database_id == MyDatabaseId &&
			e->authenticated_user_id == auth_id && e->user_id == user_id)
			same++;
	}
	if (free_at >= 0 && used < cap && same < pgbg_pool_size)
	{
		PgbgPoolEntry *e = &pgbg_pool->entries[free_at];

		memset(e, 0, sizeof(PgbgPoolEntry));
		e->state = PGBG_POOL_RESERVED;
		e->database_id = MyDatabaseId;
		e->authenticated_user_id = auth_id;
		e->user_id = user_id;
		e->worker_pid = worker_pid;
		memcpy(&e->handle, handle, sizeof(PgbgHandleImage));
		e->idle_timeout_ms = pgbg_pool_idle_timeout;
		e->since = GetCurrentTimestamp();
	}
	else
		free_at = -1;
	LWLockRelease(&pgbg_pool->lock);
	return free_at + 1;
}

/*
 * Give back an entry reserved for a worker that will not join: by the
 * launcher when the worker was past being kept, by the worker when it
 * exits instead of joining.  Only a reservation of that worker is freed.
 */
void
pgbg_pool_unreserve(int slot, int32 worker_pid)
{
	PgbgPoolEntry *e;

	if (slot <= 0 || slot > PGBG_POOL_SLOTS || !pgbg_pool_attach())
		return;
	e = &pgbg_pool->entries[slot - 1];
	LWLockAcquire(&pgbg_pool->lock, LW_EXCLUSIVE);
	if (e->state == PGBG_POOL_RESERVED && e->worker_pid == worker_pid)
		e->state = PGBG_POOL_FREE;
	LWLockRelease(&pgbg_pool->lock);
}

/*
 * Give the segment of a new job to a pooled worker of this database, user
 * and role.  On success *handle (allocated in cxt) is the worker's handle.
 * The most recently pooled worker is taken: its caches are the warmest,
 * and the others may time out.
 */
bool
pgbg_pool_claim(dsm_handle next_job, Oid user_id, MemoryContext cxt,
				BackgroundWorkerHandle **handle)
{
	Oid			auth_id = GetAuthenticatedUserId();
	PgbgPoolEntry *best = NULL;
	PGPROC	   *proc = NULL;
	PgbgHandleImage *img;
	int			i;

	if (!pgbg_pool_enabled() || !pgbg_pool_attach())
		return false;

	img = MemoryContextAlloc(cxt, sizeof(PgbgHandleImage));
	LWLockAcquire(&pgbg_pool->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGBG_POOL_SLOTS; i++)
	{
		PgbgPoolEntry *e = &pgbg_pool->entries[i];

		if (e->state != PGBG_POOL_IDLE || e->database_id != MyDatabaseId ||
			e->authenticated_user_id != auth_id || e->user_id != user_id)
			continue;
		if (best == NULL || e->since > best->since)
			best = e;
	}
	if (best != NULL)
	{
		best->state = PGBG_POOL_CLAIMED;
		best->next_job = next_job;
		best->since = GetCurrentTimestamp();
		proc = best->worker_proc;
		memcpy(img, &best->handle, sizeof(PgbgHandleImage));
	}
	LWLockRelease(&pgbg_pool->lock);

	if (best == NULL)
	{
		pfree(img);
		return false;
	}
	SetLatch(&proc->procLatch);
	*handle = (BackgroundWorkerHandle *) img;
	return true;
}

/*
 * A launch found every worker slot taken: retire the pooled worker idle
 * the longest, whatever its key, so that its slot comes free.  Returns
 * whether one was told to go.
 */
bool
pgbg_pool_retire_one(void)
{
	PgbgPoolEntry *oldest = NULL;
	PGPROC	   *proc = NULL;
	int			i;

	if (pgbg_pool == NULL && !pgbg_pool_attach())
		return false;

	LWLockAcquire(&pgbg_pool->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGBG_POOL_SLOTS; i++)
	{
		PgbgPoolEntry *e = &pgbg_pool->entries[i];

		if (e->state == PGBG_POOL_IDLE &&
			(oldest == NULL || e->since < oldest->since))
			oldest = e;
	}
	if (oldest != NULL)
	{
		oldest->state = PGBG_POOL_RETIRE;
		proc = oldest->worker_proc;
	}
	LWLockRelease(&pgbg_pool->lock);
	if (proc != NULL)
		SetLatch(&proc->procLatch);
	return proc != NULL;
}

/* ---- worker side ---- */

/* Our entry's state, after the checks that may end our stay. */
static PgbgPoolState
pgbg_pool_poll(PgbgPoolEntry *e, bool leave, dsm_handle *next)
{
	PgbgPoolState state;
	bool		too_many = false;
	int			i;

	LWLockAcquire(&pgbg_pool->lock, LW_EXCLUSIVE);
	state = e->state;
	if (state == PGBG_POOL_IDLE && pgbg_pool_size > 0)
	{
		int			same = 0;

		/* a lowered pool_size applies to those already pooled */
		for (i = 0; i < PGBG_POOL_SLOTS; i++)
		{
			PgbgPoolEntry *o = &pgbg_pool->entries[i];

			if (o->state != PGBG_POOL_FREE &&
				o->database_id == e->database_id &&
				o->authenticated_user_id == e->authenticated_user_id &&
				o->user_id == e->user_id)
				same++;
		}
		too_many = same > pgbg_pool_size;
	}
	if (state == PGBG_POOL_CLAIMED)
		*next = e->next_job;
	if (state != PGBG_POOL_IDLE || leave || too_many ||
		pgbg_pool_size <= 0)
	{
		e->state = PGBG_POOL_FREE;
		if (state == PGBG_POOL_IDLE)
			state = PGBG_POOL_RETIRE;
	}
	LWLockRelease(&pgbg_pool->lock);
	return state;
}

/*
 * Join the entry our launcher reserved for us (we have left our last
 * segment and discarded the session state) and wait there for a job.
 * Returns the new job's segment, or 0 when we should exit: retired for a
 * launch that needed the slot, the pool's idle timeout, the pool turned
 * off, or shutdown.
 */
dsm_handle
pgbg_pool_wait(int slot)
{
	PgbgPoolEntry *e;
	TimestampTz deadline;
	dsm_handle	next = 0;

	if (slot <= 0 || slot > PGBG_POOL_SLOTS || !pgbg_pool_attach())
		return 0;
	e = &pgbg_pool->entries[slot - 1];

	LWLockAcquire(&pgbg_pool->lock, LW_EXCLUSIVE);
	if (e->state != PGBG_POOL_RESERVED || e->worker_pid != MyProcPid)
	{
		LWLockRelease(&pgbg_pool->lock);
		return 0;
	}
	e->state = PGBG_POOL_IDLE;
	e->worker_proc = MyProc;
	e->since = GetCurrentTimestamp();
	deadline = TimestampTzPlusMilliseconds(e->since, e->idle_timeout_ms);
	LWLockRelease(&pgbg_pool->lock);

	/* no session owns us now; pg_stat_activity says so */
	SetConfigOption("application_name", "pg_background:pool", PGC_USERSET,
					PGC_S_SESSION);
	pgstat_report_activity(STATE_IDLE, NULL);
	set_ps_display("pooled");

	for (;;)
	{
		long		wait_ms;
		PgbgPoolState state;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		wait_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
												  deadline);
		state = pgbg_pool_poll(e, wait_ms <= 0 || pgbg_terminating, &next);
		if (state == PGBG_POOL_CLAIMED)
			return next;
		if (state != PGBG_POOL_IDLE)
			return 0;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		/* a cancel aimed at an earlier job must not hit the next one */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Process exit: free whatever entry names us, the one we waited in or one
 * reserved for us that we did not get to join (an error on the way).
 */
void
pgbg_pool_worker_exit(void)
{
	int			i;

	if (pgbg_pool == NULL && pgbg_pool_size <= 0)
		return;
	if (!pgbg_pool_attach())
		return;
	if (LWLockHeldByMe(&pgbg_pool->lock))
		LWLockRelease(&pgbg_pool->lock);
	LWLockAcquire(&pgbg_pool->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGBG_POOL_SLOTS; i++)
	{
		PgbgPoolEntry *e = &pgbg_pool->entries[i];

		if (e->state != PGBG_POOL_FREE && e->worker_pid == MyProcPid)
			e->state = PGBG_POOL_FREE;
	}
	LWLockRelease(&pgbg_pool->lock);
}
