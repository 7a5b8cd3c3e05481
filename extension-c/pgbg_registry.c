/*-------------------------------------------------------------------------
 *
 * pgbg_registry.c
 *		The launching session's registry of job handles: entering a started
 *		job, finding a handle for a SQL-callable function, releasing it, and
 *		what the session knows about each job's outcome.
 *
 * Design
 * ------
 * Each launched job gets one PgbgJobHandle, allocated in its own memory
 * context (a child of TopMemoryContext) together with everything else the
 * handle needs: the BackgroundWorkerHandle, the shm_mq_handle, the SQL
 * preview and the last error.  The DSM segment is the owner of the whole
 * thing: an on_dsm_detach callback (pgbg_on_detach) removes the hash entry
 * and deletes the memory context.  Releasing a handle is therefore exactly
 * one dsm_detach(), whichever path gets there first (explicit release, error
 * during launch, session exit), and dsm.c runs each callback once, so a
 * double release or a leak of a partial entry cannot happen.
 *
 * The hash is keyed by (pid, cookie).  The cookie comes from
 * pg_strong_random(), so a handle whose PID has been reused by another
 * worker simply does not match; v1 functions, which only know the PID, scan
 * the (small, bounded by pg_background.max_workers) table for it and take
 * the most recent launch.  The registry is local to the backend: the only
 * concurrency is with our own DSM detach callbacks, which run synchronously
 * in this process, so no lock is needed.
 *
 * Handles that have been released are remembered in a small ring of
 * "tombstones", so that reading results twice or fetching after the end
 * gets a precise error instead of "not attached".
 *
 * A released handle whose job completed may hand its worker to the next
 * launch instead of letting it exit (pgbg_reuse.c); one whose outcome is
 * not known yet lingers until it is (pgbg_linger).
 *
 * A handle may also be attached (attach_v2, pgbg_attach): the job was
 * launched by another session, or by one that is gone.  It has no segment:
 * its status block is a local copy refreshed from the server-wide registry
 * (pgbg_jobs.h) and its messages come from the job's held-output file
 * (pgbg_held.c).  Every handle with a registry entry is checked to still be
 * the job's reader: a take-over by another session drops it with 55006.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pg_background.h"
#include "pgbg_durable.h"

#define PGBG_TOMBSTONES 64

typedef struct PgbgEntry
{
	PgbgKey		key;			/* must be first */
	PgbgJobHandle *job;
} PgbgEntry;

typedef struct PgbgTombstone
{
	PgbgKey		key;
	PgbgReleaseReason reason;
	bool		used;
} PgbgTombstone;

static HTAB *pgbg_registry = NULL;
static uint64 pgbg_launch_seq = 0;
static PgbgStats pgbg_session_stats;
static PgbgTombstone pgbg_tombstones[PGBG_TOMBSTONES];
static int	pgbg_tombstone_next = 0;

/*
 * Handles released before their job's outcome was known (detached while
 * running, or canceled and released before the worker stopped).  They are
 * gone for the user, but we keep our mapping of the segment, whose status
 * block will tell the outcome, so that pg_background_stats_v2 counts every
 * job once.  The worker keeps the segment alive anyway while it runs; only
 * the queue is given up, at once, so the job's output is discarded.
 */
static List *pgbg_lingering = NIL;

static void pgbg_on_detach(dsm_segment *seg, Datum arg);
static void pgbg_free_attached(PgbgJobHandle *job);
static void pgbg_attached_refresh(PgbgJobHandle *job);
static bool pgbg_move_to_mailbox(PgbgJobHandle *job);
static void pgbg_linger(PgbgJobHandle *job);
static void pgbg_raise_not_found(int32 pid, int64 cookie, bool v1,
								 bool pid_known) pg_attribute_noreturn();

/* Build a key with the padding zeroed: the hash covers the whole struct. */
static PgbgKey
pgbg_make_key(int32 pid, int64 cookie)
{
	PgbgKey		key;

	memset(&key, 0, sizeof(key));
	key.pid = pid;
	key.cookie = cookie;
	return key;
}

static void
pgbg_registry_init(void)
{
	HASHCTL		ctl;

	if (pgbg_registry != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(PgbgKey);
	ctl.entrysize = sizeof(PgbgEntry);
	ctl.hcxt = TopMemoryContext;
	pgbg_registry = hash_create("pg_background registry", 16, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

int
pgbg_registry_count(void)
{
	return pgbg_registry ? (int) hash_get_num_entries(pgbg_registry) : 0;
}

/*
 * Call fn for every registered handle.  fn must not release handles.
 */
void
pgbg_registry_foreach(void (*fn) (PgbgJobHandle *job, void *arg), void *arg)
{
	HASH_SEQ_STATUS status;
	PgbgEntry  *entry;

	if (pgbg_registry == NULL)
		return;
	hash_seq_init(&status, pgbg_registry);
	while ((entry = hash_seq_search(&status)) != NULL)
		fn(entry->job, arg);
}

/*
 * Whose handles are these, and what do they count against?  A job runs with
 * the privileges of the role that launched it (inside a SECURITY DEFINER
 * function: the function's owner), and its results are that role's data, so
 * only a role having its privileges may see the handle in list_v2, read,
 * cancel or release it (pgbg_lookup).
 *
 * pg_background.max_workers is a ceiling for the session, whatever role it
 * has switched to: SET ROLE to roles that cannot see each other's handles
 * must not give each of them a quota of its own.  Such handles stay
 * freeable by the session, which can SET ROLE back (the quota error says
 * so).  The one exception is a SECURITY DEFINER function whose owner the
 * calling role cannot act as (definer): its jobs are the owner's, which the
 * caller can neither see nor free, so they count against the owner (the
 * definer handles of roles the owner has privileges of) and not against the
 * session.
 *
 * Returns the handles a launch of this kind counts; *hidden is how many of
 * them user_id cannot see.
 */
int
pgbg_count_held(bool definer, Oid user_id, int *hidden)
{
	HASH_SEQ_STATUS status;
	PgbgEntry  *entry;
	int			n = 0;

	*hidden = 0;
	if (pgbg_registry == NULL)
		return 0;
	hash_seq_init(&status, pgbg_registry);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		PgbgJobHandle *job = entry->job;
		bool		visible = has_privs_of_role(user_id, job->user_id);

		if (job->definer != definer || (definer && !visible))
			continue;
		n++;
		if (!visible)
			(*hidden)++;
	}
	return n;
}

PgbgStats *
pgbg_stats(void)
{
	return &pgbg_session_stats;
}

/*
 * A new job's segment owns its handle from now on: detaching the segment,
 * for whatever reason, frees the handle (see the file header).
 */
void
pgbg_tie_to_segment(PgbgJobHandle *job)
{
	on_dsm_detach(job->seg, pgbg_on_detach, PointerGetDatum(job));
}

/*
 * Enter the started job into the registry under (pid, cookie).  From here
 * on the registry, not the resource owner, owns the segment's mapping.
 */
void
pgbg_register_handle(PgbgJobHandle *job, int32 pid, int64 cookie,
					 const char *sql)
{
	PgbgEntry  *entry;
	bool		found;

	job->key = pgbg_make_key(pid, cookie);
	job->launched_at = GetCurrentTimestamp();
	job->launch_seq = ++pgbg_launch_seq;
	job->preview = MemoryContextAlloc(job->cxt, PGBG_PREVIEW_LEN + 1);
	pgbg_copy_clipped(job->preview, sql, PGBG_PREVIEW_LEN + 1);

	pgbg_registry_init();
	entry = hash_search(pgbg_registry, &job->key, HASH_ENTER, &found);
	/* HASH_ENTER raises "out of memory" itself; it never returns NULL */
	if (found)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("pg_background handle (%d, " INT64_FORMAT ") already exists",
						pid, cookie)));
	entry->job = job;
	job->registered = true;

	dsm_pin_mapping(job->seg);
	pgbg_session_stats.launched++;
}

/*
 * DSM detach callback: the only place a handle is freed.
 */
static void
pgbg_on_detach(dsm_segment *seg, Datum arg)
{
	PgbgJobHandle *job = (PgbgJobHandle *) DatumGetPointer(arg);

	/* a worker that outlives its handle must not wait for another job */
	if (job->fixed != NULL)
		pgbg_retire(job->fixed);
	job->seg = NULL;
	if (job->registered && pgbg_registry != NULL)
		(void) hash_search(pgbg_registry, &job->key, HASH_REMOVE, NULL);
	MemoryContextDelete(job->cxt);
}

static void
pgbg_add_tombstone(PgbgKey key, PgbgReleaseReason reason)
{
	PgbgTombstone *t = &pgbg_tombstones[pgbg_tombstone_next];

	t->key = key;
	t->reason = reason;
	t->used = true;
	pgbg_tombstone_next = (pgbg_tombstone_next + 1) % PGBG_TOMBSTONES;
}

static PgbgTombstone *
pgbg_find_tombstone(int32 pid, int64 cookie, bool v1)
{
	int			i;

	/* newest first */
	for (i = 1; i <= PGBG_TOMBSTONES; i++)
	{
		PgbgTombstone *t;

		t = &pgbg_tombstones[(pgbg_tombstone_next - i + PGBG_TOMBSTONES) % PGBG_TOMBSTONES];
		if (t->used && t->key.pid == pid && (v1 || t->key.cookie == cookie))
			return t;
	}
	return NULL;
}

/*
 * Release a handle: detach from the segment, which frees everything (see
 * pgbg_on_detach), unless its worker is kept for the next job
 * (pgbg_keep_idle).  A still-running worker is not affected; its further
 * output is discarded.  job is invalid afterwards.
 */
void
pgbg_release(PgbgJobHandle *job, PgbgReleaseReason reason)
{
	PgbgKey		key = job->key;
	bool		stopped;

	if (!job->counted)
		(void) pgbg_observe(job, &stopped); /* count the outcome if final */
	pgbg_add_tombstone(key, reason);

	/*
	 * An explicit release: nobody will read the rest, so the worker drops
	 * its output instead of holding it, and the registry entry may go once
	 * the job has ended ("done" returned means delivered).  A handle that
	 * was taken over does neither: the output is the new reader's.
	 */
	if (reason != PGBG_RELEASED_TAKEN_OVER)
	{
		if (job->fixed != NULL && !job->attached)
		{
			SpinLockAcquire(&job->fixed->status.mutex);
			job->fixed->status.discard_output = true;
			SpinLockRelease(&job->fixed->status.mutex);
		}
		pgbg_jobs_release_reader(pgbg_handle_ref(job), job->reader_epoch,
								 reason == PGBG_RELEASED_FINISHED ?
								 PGBG_OUTPUT_DELIVERED : PGBG_OUTPUT_DISCARDED);
	}

	if (job->attached)
		pgbg_free_attached(job);
	else if (reason == PGBG_RELEASED_TAKEN_OVER && job->seg != NULL)
		dsm_detach(job->seg);
	else if (job->seg != NULL && !job->counted)
		pgbg_linger(job);
	else if (job->seg != NULL && !pgbg_keep_idle(job))
		dsm_detach(job->seg);
	ereport(pgbg_log_level,
			(errmsg_internal("pg_background: released worker %d (%s)", key.pid,
							 reason == PGBG_RELEASED_DETACHED ? "detached" :
							 reason == PGBG_RELEASED_CONSUMED ? "results consumed" :
							 reason == PGBG_RELEASED_TAKEN_OVER ? "taken over" :
							 "finished")));
}

/*
 * Swap a lingering handle's segment for a small mailbox of its own (see
 * PgbgMailbox), so that the job's segment, queue included, goes away with
 * its worker rather than with our next call.  Under the status block's lock
 * either the worker has recorded its outcome already (then false: nothing
 * is swapped) or it will see the mailbox when it does.  A mailbox we cannot
 * create leaves the handle as it was.
 */
static bool
pgbg_move_to_mailbox(PgbgJobHandle *job)
{
	dsm_segment *box_seg;
	PgbgMailbox *box;
	PgbgStatus *st = &job->fixed->status;
	bool		running;

	box_seg = dsm_create(sizeof(PgbgMailbox), DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (box_seg == NULL)
		return false;
	dsm_pin_mapping(box_seg);
	box = dsm_segment_address(box_seg);
	memset(box, 0, sizeof(PgbgMailbox));
	box->magic = PGBG_MAGIC;
	box->cookie = job->key.cookie;
	memcpy(&box->fixed, job->fixed, offsetof(PgbgFixed, status));

	SpinLockAcquire(&st->mutex);
	running = (st->outcome == PGBG_RUNNING);
	if (running)
	{
		st->outcome_mailbox = dsm_segment_handle(box_seg);
		memcpy(&box->fixed.status, st, sizeof(PgbgStatus));
	}
	SpinLockRelease(&st->mutex);
	if (!running)
	{
		dsm_detach(box_seg);
		return false;
	}

	/* the copy was taken under the lock: give it its own, and no worker */
	SpinLockInit(&box->fixed.status.mutex);
	box->fixed.status.worker_proc = NULL;
	box->fixed.status.outcome_mailbox = DSM_HANDLE_INVALID;
	box->fixed.status.pooled = false;
	box->fixed.status.next_job = DSM_HANDLE_INVALID;

	cancel_on_dsm_detach(job->seg, pgbg_on_detach, PointerGetDatum(job));
	dsm_detach(job->seg);
	job->seg = box_seg;
	job->fixed = &box->fixed;
	job->sql = NULL;
	on_dsm_detach(box_seg, pgbg_on_detach, PointerGetDatum(job));
	return true;
}

/*
 * A released handle whose outcome is not known yet: out of the registry (it
 * no longer counts against the quota, and no function can reach it), its
 * queue let go and its worker told not to wait for another job.  We keep
 * only a small mailbox mapped (pgbg_move_to_mailbox), where the worker will
 * post its outcome, until pgbg_sweep_lingering() sees it; every entry point
 * sweeps (launch, every handle function, list_v2, stats_v2).  The job's own
 * segment, whose queue may be large, goes away when the worker exits.
 */
static void
pgbg_linger(PgbgJobHandle *job)
{
	MemoryContext oldcxt;
	bool		stopped;

	if (job->registered && pgbg_registry != NULL)
		(void) hash_search(pgbg_registry, &job->key, HASH_REMOVE, NULL);
	job->registered = false;
	pgbg_retire(job->fixed);
	if (job->mqh != NULL)
	{
		shm_mq_detach(job->mqh);	/* the worker stops sending */
		job->mqh = NULL;
	}
	if (!pgbg_move_to_mailbox(job))
	{
		/* the outcome arrived meanwhile: nothing needs to linger */
		(void) pgbg_observe(job, &stopped);
		if (job->counted)
		{
			dsm_detach(job->seg);	/* frees job */
			return;
		}
	}
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	pgbg_lingering = lappend(pgbg_lingering, job);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Count the outcomes of released jobs that have one now, and let their
 * segments go.  Returns how many are still running.
 */
int
pgbg_sweep_lingering(void)
{
	ListCell   *lc;
	int			running = 0;

	foreach(lc, pgbg_lingering)
	{
		PgbgJobHandle *job = (PgbgJobHandle *) lfirst(lc);
		bool		stopped;

		(void) pgbg_observe(job, &stopped);
		if (!job->counted)
		{
			running++;
			continue;
		}
		pgbg_lingering = foreach_delete_current(pgbg_lingering, lc);
		dsm_detach(job->seg);	/* frees job */
	}
	return running;
}

/*
 * Free a handle whose worker the pool has taken over (pgbg_keep_idle): as
 * pgbg_on_detach, but without telling the worker to retire.
 */
void
pgbg_release_keeping_worker(PgbgJobHandle *job)
{
	cancel_on_dsm_detach(job->seg, pgbg_on_detach, PointerGetDatum(job));
	if (job->registered && pgbg_registry != NULL)
		(void) hash_search(pgbg_registry, &job->key, HASH_REMOVE, NULL);
	dsm_detach(job->seg);
	MemoryContextDelete(job->cxt);
}

/*
 * No handle of this session matches: say why, as precisely as the
 * tombstones and the registry allow.
 */
static void
pgbg_raise_not_found(int32 pid, int64 cookie, bool v1, bool pid_known)
{
	PgbgTombstone *t = pgbg_find_tombstone(pid, cookie, v1);

	if (t != NULL && t->reason == PGBG_RELEASED_CONSUMED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("results of pg_background worker %d were already consumed", pid),
				 errdetail("Results can be read only once; the handle was released after reading.")));
	if (t != NULL && t->reason == PGBG_RELEASED_TAKEN_OVER)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("pg_background worker %d was taken over by another session", pid),
				 errdetail("Another session attached to the job with takeover => true.")));
	if (t != NULL && t->reason == PGBG_RELEASED_FINISHED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_background worker %d has finished and its handle was released", pid),
				 errdetail("pg_background_fetch_v2 already returned the final \"done\" row.")));
	if (pid_known)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("cookie mismatch for pg_background worker %d", pid),
				 errdetail("The handle does not identify a worker launched by this session; the PID may have been reused.")));
	if (t != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("PID %d is not attached to this session", pid),
				 errdetail("It was detached.")));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("PID %d is not attached to this session", pid)));
}

/*
 * Find a handle of this session and check that the current user may use it.
 * v1 callers know only the PID; cookie is ignored for them.
 */
PgbgJobHandle *
pgbg_lookup(int32 pid, int64 cookie, bool v1)
{
	PgbgJobHandle *job = NULL;
	bool		pid_known = false;

	(void) pgbg_sweep_lingering();
	if (pgbg_registry != NULL)
	{
		HASH_SEQ_STATUS status;
		PgbgEntry  *entry;

		if (!v1)
		{
			PgbgKey		key = pgbg_make_key(pid, cookie);

			entry = hash_search(pgbg_registry, &key, HASH_FIND, NULL);
			if (entry != NULL)
				job = entry->job;
		}
		if (job == NULL)
		{
			hash_seq_init(&status, pgbg_registry);
			while ((entry = hash_seq_search(&status)) != NULL)
			{
				if (entry->key.pid != pid)
					continue;
				pid_known = true;
				if (v1 && (job == NULL ||
						   entry->job->launch_seq > job->launch_seq))
					job = entry->job;
			}
		}
	}

	if (job == NULL)
		pgbg_raise_not_found(pid, cookie, v1, pid_known);

	/* another session attached with takeover: this handle is no reader */
	if (PgbgJobRefIsValid(pgbg_handle_ref(job)))
	{
		int32		by_pid;

		/*
		 * The epoch moved without us: taken over, even when the taker has
		 * gone since (then nobody reads, and the output is held for the next
		 * attach).  An entry freed meanwhile is a take-over only if it was
		 * freed by another reader (the taker read it to the end); otherwise
		 * the handle finds out from the outcome.
		 */
		if (!pgbg_jobs_is_reader(pgbg_handle_ref(job), job->reader_epoch,
								 &by_pid) &&
			(pgbg_jobs_entry(pgbg_handle_ref(job)) != NULL ||
			 pgbg_jobs_freed_after_takeover(pgbg_handle_ref(job),
											job->reader_epoch)))
		{
			pgbg_release(job, PGBG_RELEASED_TAKEN_OVER);
			if (by_pid != 0 && by_pid != MyProcPid)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 errmsg("pg_background worker %d was taken over by session %d",
								pid, by_pid),
						 errdetail("Another session attached to the job with takeover => true; this session no longer reads it.")));
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("pg_background worker %d was taken over by another session",
							pid),
					 errdetail("That session has ended since; attach again with pg_background_attach_v2 to read the job.")));
		}
	}

	/*
	 * Security model (review S2): a worker runs with the privileges of the
	 * role that launched it, and only a role having those privileges may
	 * read, wait on, cancel or detach it.  This matters after SET ROLE or
	 * SET SESSION AUTHORIZATION within one session.  The SQL text itself is
	 * checked by the worker, as that role, like any other query.
	 */
	if (!has_privs_of_role(GetUserId(), job->user_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for pg_background worker %d", pid),
				 errdetail("The worker was launched by role \"%s\".",
						   GetUserNameFromId(job->user_id, true) ?
						   GetUserNameFromId(job->user_id, true) : "?")));
	return job;
}

/* Copy the status block under its lock. */
void
pgbg_status_snapshot(PgbgJobHandle *job, PgbgStatus *copy)
{
	PgbgJobEntry *e;

	if (job->attached)
		pgbg_attached_refresh(job);
	SpinLockAcquire(&job->fixed->status.mutex);
	memcpy(copy, &job->fixed->status, sizeof(PgbgStatus));
	SpinLockRelease(&job->fixed->status.mutex);

	/* an observer's cancel (another session) is asked in the registry */
	if (!copy->cancel_requested && !job->attached &&
		(e = pgbg_jobs_entry(pgbg_handle_ref(job))) != NULL)
	{
		SpinLockAcquire(&e->mutex);
		if (e->generation == job->reg_generation)
			copy->cancel_requested = e->cancel_requested;
		SpinLockRelease(&e->mutex);
	}
}

/*
 * Current outcome of a job.  *stopped tells whether the process is gone.
 * A process that is gone without having recorded an outcome is LOST (or
 * CANCELED when we asked it to stop).  The first time a final outcome is
 * seen it is added to the session statistics.
 */
PgbgOutcome
pgbg_observe(PgbgJobHandle *job, bool *stopped)
{
	PgbgStatus	st;
	pid_t		pid;
	PgbgOutcome outcome;

	/* process state first: an outcome read afterwards is then final */
	if (job->attached)
	{
		pgbg_status_snapshot(job, &st);
		*stopped = (st.outcome != PGBG_RUNNING);
	}
	else
	{
		*stopped = (GetBackgroundWorkerPid(job->handle, &pid) != BGWH_STARTED);
		pgbg_status_snapshot(job, &st);
	}
	outcome = st.outcome;
	if (outcome == PGBG_RUNNING && *stopped)
		outcome = st.cancel_requested ? PGBG_CANCELED : PGBG_LOST;
	if (outcome != PGBG_RUNNING)
		pgbg_note_outcome(job, outcome, st.errmsg[0] ? st.errmsg : NULL);
	return outcome;
}

/*
 * The outcome of a job whose output has ended (its queue is detached, or a
 * submitted job that has an outcome), with a copy of its status block in
 * *st.  A job still running by the postmaster's account has ended anyway:
 * its queue ended without a final message, and the process is about to be
 * reaped, so it is LOST (or CANCELED when we asked it to stop).
 */
PgbgOutcome
pgbg_outcome_after_queue(PgbgJobHandle *job, PgbgStatus *st)
{
	bool		stopped;
	PgbgOutcome outcome = pgbg_observe(job, &stopped);

	pgbg_status_snapshot(job, st);
	if (outcome == PGBG_RUNNING)
	{
		outcome = st->cancel_requested ? PGBG_CANCELED : PGBG_LOST;
		pgbg_note_outcome(job, outcome, NULL);
	}
	return outcome;
}

/* The SQLSTATE the worker recorded with its outcome, as an error code; 0 = none. */
int
pgbg_status_errcode(const PgbgStatus *st)
{
	if (st->sqlstate[0] == '\0')
		return 0;
	return MAKE_SQLSTATE(st->sqlstate[0], st->sqlstate[1], st->sqlstate[2],
						 st->sqlstate[3], st->sqlstate[4]);
}

/*
 * Add a job's final outcome to the session statistics, once.  Called when
 * the outcome is first seen, either in the status block or as the final
 * message on the queue (which the worker sends before it records the
 * outcome, so that a waiter never returns before the last message is
 * readable).
 */
void
pgbg_note_outcome(PgbgJobHandle *job, PgbgOutcome outcome, const char *errmsg)
{
	PgbgStatus	st;
	TimestampTz end;

	if (job->counted || outcome == PGBG_RUNNING)
		return;
	job->counted = true;
	job->completed = (outcome == PGBG_COMPLETED);
	if (outcome == PGBG_COMPLETED)
		pgbg_session_stats.completed++;
	else if (outcome == PGBG_CANCELED)
		pgbg_session_stats.canceled++;
	else
		pgbg_session_stats.failed++;

	pgbg_status_snapshot(job, &st);
	end = st.finished_at != 0 ? st.finished_at : GetCurrentTimestamp();
	if (st.started_at != 0 && end >= st.started_at)
	{
		pgbg_session_stats.total_exec_ms += (double) (end - st.started_at) / 1000.0;
		pgbg_session_stats.timed++;
	}
	if (outcome != PGBG_COMPLETED && job->last_error == NULL)
	{
		/* bounded, like the status block's copy (review: message size) */
		job->last_error = MemoryContextAlloc(job->cxt, PGBG_ERRMSG_LEN);
		pgbg_copy_clipped(job->last_error,
						  errmsg ? errmsg :
						  outcome == PGBG_LOST ?
						  "worker exited without reporting a result" :
						  "canceled",
						  PGBG_ERRMSG_LEN);
	}
	ereport(pgbg_log_level,
			(errmsg_internal("pg_background: worker %d finished: %s",
							 job->key.pid, pgbg_outcome_names[outcome].state)));
}

/*
 * Wait until the job has an outcome (completed, failed, canceled) or its
 * process is gone.  timeout_ms < 0 waits without limit.  Returns false on
 * timeout.
 *
 * A worker that is blocked because its queue is full can only go on when
 * this session reads; since we are busy waiting, that would be a deadlock.
 * We detect it and raise 55000 instead of hanging (both for the plain and
 * for the timeout variant: no amount of waiting helps).
 */
bool
pgbg_wait_for_outcome(PgbgJobHandle *job, int64 timeout_ms, bool detect_deadlock)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		bool		stopped;
		/* an attached job's outcome sets no latch of ours: poll */
		long		wait = job->attached ? 100 : 1000;

		if (pgbg_observe(job, &stopped) != PGBG_RUNNING)
			return true;
		if (detect_deadlock && !job->submit_mode && pgbg_worker_blocked(job))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pg_background worker %d cannot finish because its result queue is full",
							job->key.pid),
					 errdetail("The worker waits for this session to read its results."),
					 errhint("Read the results with pg_background_result_v2 or pg_background_fetch_v2, release them with pg_background_detach_v2, or use pg_background_submit_v2 for jobs whose results are not needed.")));
		if (timeout_ms >= 0)
		{
			int64		elapsed = (GetCurrentTimestamp() - start) / 1000;

			if (elapsed >= timeout_ms)
				return false;
			wait = (long) Min(wait, timeout_ms - elapsed);
		}
		/* the worker sets our latch when it records an outcome or blocks */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Is the worker waiting for us to make room in its queue? */
bool
pgbg_worker_blocked(PgbgJobHandle *job)
{
	bool		blocked;

	SpinLockAcquire(&job->fixed->status.mutex);
	blocked = job->fixed->status.blocked_on_queue;
	SpinLockRelease(&job->fixed->status.mutex);
	return blocked;
}

/*
 * Ask the worker to cancel its current statement: set the shared flag (the
 * worker checks it before each statement, which closes the window before
 * its signal handlers are in place) and send SIGINT, which the worker
 * handles like a backend's query cancel.
 */
void
pgbg_request_cancel(PgbgJobHandle *job)
{
	pid_t		pid;

	if (job->attached)
	{
		pgbg_jobs_observer_cancel(job->key.pid, job->key.cookie, -1);
		return;
	}

	SpinLockAcquire(&job->fixed->status.mutex);
	job->fixed->status.cancel_requested = true;
	SpinLockRelease(&job->fixed->status.mutex);

	/*
	 * Only signal a process the postmaster still knows as this worker; the
	 * handle's generation check means a recycled slot never matches.
	 */
	if (GetBackgroundWorkerPid(job->handle, &pid) == BGWH_STARTED)
		(void) kill(pid, SIGINT);
}

void
pgbg_terminate(PgbgJobHandle *job)
{
	if (job->attached)
		pgbg_jobs_observer_cancel(job->key.pid, job->key.cookie, 0);
	else
		TerminateBackgroundWorker(job->handle);
}

/*
 * A worker about to serve another job calls this: the jobs it launched
 * itself (pg_background inside pg_background) belong to the job that
 * launched them, not to the next one.  Returns false, and the worker exits
 * as before, if the finished job left handles behind; otherwise the
 * statistics, tombstones and idle workers of that job are dropped.
 */
bool
pgbg_forget_session_state(void)
{
	if (pgbg_registry_count() > 0 || pgbg_sweep_lingering() > 0)
		return false;
	pgbg_drop_idle();
	memset(&pgbg_session_stats, 0, sizeof(pgbg_session_stats));
	memset(pgbg_tombstones, 0, sizeof(pgbg_tombstones));
	pgbg_tombstone_next = 0;
	pgbg_launch_seq = 0;
	return true;
}


/* ---- handles attached to a job of another session (attach_v2) ---- */

/* Is (pid, cookie) a handle of this session, or was it one? */
bool
pgbg_session_knows(int32 pid, int64 cookie)
{
	PgbgKey		key = pgbg_make_key(pid, cookie);

	if (pgbg_registry != NULL &&
		hash_search(pgbg_registry, &key, HASH_FIND, NULL) != NULL)
		return true;
	return pgbg_find_tombstone(pid, cookie, false) != NULL;
}

/* No segment to detach: the handle goes with its memory. */
static void
pgbg_free_attached(PgbgJobHandle *job)
{
	if (job->registered && pgbg_registry != NULL)
		(void) hash_search(pgbg_registry, &job->key, HASH_REMOVE, NULL);
	pgbg_held_reader_close(job->held);
	MemoryContextDelete(job->cxt);
}

/*
 * An attached handle's status block is a copy of what the registry entry
 * says; the outcome names map one to one, an interrupted job is lost.
 */
static void
pgbg_attached_refresh(PgbgJobHandle *job)
{
	PgbgJobEntry e;
	PgbgStatus *st = &job->fixed->status;
	PgbgOutcome outcome;

	if (!pgbg_jobs_snapshot(pgbg_handle_ref(job), &e))
	{
		/* freed meanwhile (retention, eviction): whatever it was, it ended */
		SpinLockAcquire(&st->mutex);
		if (st->outcome == PGBG_RUNNING)
			st->outcome = PGBG_LOST;
		SpinLockRelease(&st->mutex);
		return;
	}
	switch (e.state)
	{
		case PGBG_JOB_COMPLETED:
			outcome = PGBG_COMPLETED;
			break;
		case PGBG_JOB_ERROR:
			outcome = PGBG_FAILED;
			break;
		case PGBG_JOB_CANCELED:
			outcome = PGBG_CANCELED;
			break;
		case PGBG_JOB_LOST:
		case PGBG_JOB_INTERRUPTED:
			outcome = PGBG_LOST;
			break;
		default:
			outcome = PGBG_RUNNING;
			break;
	}
	SpinLockAcquire(&st->mutex);
	st->outcome = outcome;
	memcpy(st->sqlstate, e.sqlstate, sizeof(st->sqlstate));
	memcpy(st->errmsg, e.errmsg, sizeof(st->errmsg));
	st->progress_pct = e.progress_pct;
	memcpy(st->progress_msg, e.progress_msg, sizeof(st->progress_msg));
	st->cancel_requested = e.cancel_requested;
	st->started_at = e.launched_at;
	st->finished_at = e.finished_at;
	st->truncated = e.truncated;
	st->blocked_on_queue = false;	/* file mode never waits for a reader */
	SpinLockRelease(&st->mutex);
	job->interrupted = (e.state == PGBG_JOB_INTERRUPTED);
}

/*
 * Will the attached job's file grow no more?  Its outcome is recorded
 * before a finished worker has decided where its output goes: in queue mode
 * a worker still there is waiting for its final acknowledgement, and moves
 * its output to the file when it sees its new reader.
 */
bool
pgbg_attached_finished(PgbgJobHandle *job)
{
	PgbgStatus	st;
	PgbgJobEntry e;
	pid_t		pid;

	pgbg_status_snapshot(job, &st);
	if (st.outcome == PGBG_RUNNING)
		return false;
	if (!pgbg_jobs_snapshot(pgbg_handle_ref(job), &e) ||
		e.mode == PGBG_MODE_FILE ||
		e.output == PGBG_OUTPUT_NONE || e.output == PGBG_OUTPUT_DISCARDED ||
		!e.bgw_valid)
		return true;
	return GetBackgroundWorkerPid((BackgroundWorkerHandle *) &e.bgw, &pid) !=
		BGWH_STARTED;
}

/*
 * The held file's header says where its first record stands: numbering,
 * statements, and the result set it is inside of.  An attach without
 * after_seq shows that result set's columns again (see the fetch reader).
 */
void
pgbg_attached_start(PgbgJobHandle *job, int64 first_seq, int32 stmt_no,
					int64 columns_seq, const char *columns, int columns_len)
{
	job->recv_seq = first_seq - 1;
	job->stmt_no = stmt_no;
	if (job->replay_wanted && columns != NULL && columns_seq <= job->skip_to)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(job->cxt);

		job->replay_json = pgbg_fetch_replay_json(columns, columns_len);
		job->replay_seq = columns_seq;
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * attach_v2: make this session the reader of a job of another session (or
 * of its own, by a new handle), from after_seq + 1 (NULL: from what was
 * acknowledged), with a handle of this session that reads the job's held
 * output.  The registry does the checks (who, which database, a live other
 * reader: 42704, 42501, 55000, 55006).
 */
PgbgJobHandle *
pgbg_attach(int32 pid, int64 cookie, bool has_after, int64 after_seq,
			bool takeover, PgbgJobEntry *snap)
{
	PgbgJobRef	ref;
	uint32		epoch;
	MemoryContext cxt;
	PgbgJobHandle *job;
	PgbgJobHandle *old = NULL;
	PgbgKey		key = pgbg_make_key(pid, cookie);
	PgbgEntry  *entry;
	int			hidden;
	int			held;
	int64		from;
	bool		found;

	(void) pgbg_sweep_lingering();
	pgbg_registry_init();
	entry = hash_search(pgbg_registry, &key, HASH_FIND, NULL);
	if (entry != NULL)
		old = entry->job;

	/*
	 * The session that launched the job reads it already; the entries since
	 * its last acknowledgement are kept for a rewind (fetch_v2 after_seq).
	 */
	if (old != NULL && !old->attached)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_background worker %d was launched by this session", pid),
				 errhint("Read it with pg_background_fetch_v2, after_seq => the last message you have.")));
	held = pgbg_count_held(false, GetUserId(), &hidden);
	if (old == NULL && held >= pgbg_max_workers)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("this session already holds %d pg_background workers", held),
				 errdetail("pg_background.max_workers is %d per session; an attached job counts like a launched one.",
						   pgbg_max_workers)));

	/* every check of after_seq is made there, before the reader changes */
	epoch = pgbg_jobs_attach(pid, cookie, takeover, has_after, after_seq,
							 &ref, snap);
	from = has_after ? after_seq : snap->acked_seq;

	/* a handle of ours for the same job is replaced (a self take-over) */
	if (old != NULL)
		pgbg_release(old, PGBG_RELEASED_TAKEN_OVER);

	cxt = AllocSetContextCreate(TopMemoryContext, "pg_background handle",
								ALLOCSET_SMALL_SIZES);
	job = MemoryContextAllocZero(cxt, sizeof(PgbgJobHandle));
	job->cxt = cxt;
	job->key = key;
	job->attached = true;
	job->fixed = MemoryContextAllocZero(cxt, sizeof(PgbgFixed));
	SpinLockInit(&job->fixed->status.mutex);
	job->fixed->status.progress_pct = -1;
	job->fixed->status.outcome = PGBG_RUNNING;
	job->fixed->cookie = cookie;
	job->user_id = snap->owner;
	job->submit_mode = snap->submit;
	job->launched_at = snap->launched_at;
	job->launch_seq = ++pgbg_launch_seq;
	job->preview = MemoryContextAlloc(cxt, PGBG_PREVIEW_LEN + 1);
	strlcpy(job->preview, snap->preview, PGBG_PREVIEW_LEN + 1);
	job->reg_index = ref.index;
	job->reg_generation = ref.generation;
	job->reader_epoch = epoch;
	job->held = pgbg_held_reader_create(cxt);
	job->counted = true;		/* launched by another session: its stats */
	job->recv_seq = from;
	job->skip_to = from;
	job->acked_seq = from;
	job->delivered_seq = from;
	job->rows_acked = snap->rows_acked;
	job->replay_wanted = !has_after;

	/*
	 * The reader has "done" already (its final acknowledgement was lost):
	 * the next fetch_v2 with after_seq = done's number is that
	 * acknowledgement, and returns nothing.
	 */
	if (pgbg_job_state_final(snap->state) &&
		snap->state != PGBG_JOB_INTERRUPTED &&
		snap->final_seq > 0 && from >= snap->final_seq)
	{
		job->final_seq = snap->final_seq;
		job->done_delivered = true;
	}

	entry = hash_search(pgbg_registry, &job->key, HASH_ENTER, &found);
	entry->job = job;
	job->registered = true;
	(void) pgbg_jobs_publish_acked(ref, epoch, from, job->rows_acked, NULL);
	ereport(pgbg_log_level,
			(errmsg_internal("pg_background: attached to worker %d from " INT64_FORMAT,
							 pid, from)));
	return job;
}
