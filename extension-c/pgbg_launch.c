/*-------------------------------------------------------------------------
 *
 * pgbg_launch.c
 *		Launcher side of pg_background: building the dynamic shared memory
 *		segment, registering the background worker, and the session-local
 *		registry of handles.
 *
 * Registry design
 * ---------------
 * Each launched worker gets one PgbgSession, allocated in its own memory
 * context (a child of TopMemoryContext) together with everything else the
 * handle needs: the BackgroundWorkerHandle, the shm_mq_handle, the SQL
 * preview and the last error.  The DSM segment is the owner of the whole
 * thing: an on_dsm_detach callback removes the hash entry and deletes the
 * memory context.  Releasing a handle is therefore exactly one dsm_detach(),
 * whichever path gets there first (explicit release, error during launch,
 * session exit), and dsm.c runs each callback once, so a double release or
 * a leak of a partial entry cannot happen.
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
 * Idle workers
 * ------------
 * When a handle whose job completed is released, its worker is usually
 * still alive and about to wait for another job (pg_background.
 * worker_idle_timeout).  Instead of detaching the segment we keep it in a
 * tiny per-session pool: its status block is the channel through which the
 * next launch hands the worker a new segment, which saves the fork and the
 * start-up of a new process.  Only this session can reach its idle workers,
 * so a job never runs in a process that served another session or user,
 * and the worker discards all session state (like DISCARD ALL) between
 * jobs.  We do not stay mapped to a pooled segment (it may hold a large
 * queue): it is pinned and handed to the worker, which unpins it when it
 * leaves it, so it lives exactly as long as the idle worker.  An idle worker
 * exits when its timeout expires, when it is told to retire (a launch that
 * needs its slot, worker_idle_timeout set to 0) or when its session ends.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_toc.h"
#include "parser/scansup.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "pg_background.h"

#define PGBG_TOMBSTONES 64

typedef struct PgbgEntry
{
	PgbgKey		key;			/* must be first */
	PgbgSession *sess;
} PgbgEntry;

typedef struct PgbgTombstone
{
	PgbgKey		key;
	PgbgReleaseReason reason;
	bool		used;
} PgbgTombstone;

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

/*
 * Handles released before their job's outcome was known (detached while
 * running, or canceled and released before the worker stopped).  They are
 * gone for the user, but we keep our mapping of the segment, whose status
 * block will tell the outcome, so that pg_background_stats_v2 counts every
 * job once.  The worker keeps the segment alive anyway while it runs; only
 * the queue is given up, at once, so the job's output is discarded.
 */
static List *pgbg_lingering = NIL;

/* pgbg_idle_at_exit() is registered (once, with the first idle worker) */
static bool pgbg_idle_exit_hook = false;

static HTAB *pgbg_registry = NULL;
static uint64 pgbg_launch_seq = 0;
static PgbgStats pgbg_session_stats;
static PgbgTombstone pgbg_tombstones[PGBG_TOMBSTONES];
static int	pgbg_tombstone_next = 0;

static void pgbg_on_detach(dsm_segment *seg, Datum arg);
static void pgbg_linger(PgbgSession *sess);
static void pgbg_retire(PgbgFixed *fixed);
static bool pgbg_keep_idle(PgbgSession *sess);
static dsm_segment *pgbg_attach_pooled(PgbgIdle *slot, PgbgFixed **fixed);
static void pgbg_forget_idle(PgbgIdle *slot);
static bool pgbg_claim_idle(dsm_handle next_job, Oid user_id, PgbgIdle *out);
static void pgbg_drop_idle(void);
static void pgbg_idle_at_exit(int code, Datum arg);

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
pgbg_registry_foreach(void (*fn) (PgbgSession *sess, void *arg), void *arg)
{
	HASH_SEQ_STATUS status;
	PgbgEntry  *entry;

	if (pgbg_registry == NULL)
		return;
	hash_seq_init(&status, pgbg_registry);
	while ((entry = hash_seq_search(&status)) != NULL)
		fn(entry->sess, arg);
}

/*
 * Whose handles are these?  A job runs with the privileges of the role that
 * launched it (inside a SECURITY DEFINER function: the function's owner),
 * and its results are that role's data, so only a role having its
 * privileges may see the handle in list_v2, read, cancel or release it
 * (pgbg_lookup).  The quota follows the same rule: a launch counts the
 * handles its role can see and release, so that the hint of the quota error
 * can always be followed, and a SECURITY DEFINER function's jobs, which the
 * caller can neither see nor free, count against its owner, not against the
 * caller.
 */
int
pgbg_count_manageable(Oid user_id)
{
	HASH_SEQ_STATUS status;
	PgbgEntry  *entry;
	int			n = 0;

	if (pgbg_registry == NULL)
		return 0;
	hash_seq_init(&status, pgbg_registry);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (has_privs_of_role(user_id, entry->sess->user_id))
			n++;
	}
	return n;
}

PgbgStats *
pgbg_stats(void)
{
	return &pgbg_session_stats;
}

/* Reject empty or whitespace-only SQL before spending a worker on it. */
static void
pgbg_check_sql(const char *sql)
{
	const char *p;

	for (p = sql; *p; p++)
	{
		if (!scanner_isspace(*p))
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("SQL string must not be empty")));
}

/*
 * Launch a worker for the given SQL.  On success the new handle is in the
 * registry and its DSM mapping is pinned (it no longer belongs to the
 * current resource owner, so it survives the launching transaction).
 */
PgbgSession *
pgbg_launch(text *sql, int32 queue_size, bool submit, bool v1)
{
	char	   *sqlstr = text_to_cstring(sql);
	Size		sql_len = strlen(sqlstr);
	Size		guc_len;
	Size		segsize;
	shm_toc_estimator e;
	MemoryContext cxt;
	MemoryContext oldcxt;
	PgbgSession *sess;
	PgbgIdle	idle;
	volatile bool reused = false;
	int64		cookie = 0;
	Oid			user_id;
	int			sec_context;
	int			held;

	pgbg_check_sql(sqlstr);
	(void) pgbg_sweep_lingering();

	if (queue_size == 0)
		queue_size = pgbg_default_queue_size;
	StaticAssertStmt(PGBG_MIN_QUEUE_SIZE >= 1024,
					 "queue minimum must exceed shm_mq_minimum_size");
	if (queue_size < PGBG_MIN_QUEUE_SIZE || queue_size > PGBG_MAX_QUEUE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue size must be between %d and %d bytes, got %d",
						PGBG_MIN_QUEUE_SIZE, PGBG_MAX_QUEUE_SIZE, queue_size),
				 errhint("Use 0 for the default (pg_background.default_queue_size).")));
	Assert((Size) PGBG_MIN_QUEUE_SIZE >= shm_mq_minimum_size);

	GetUserIdAndSecContext(&user_id, &sec_context);

	/*
	 * A worker would run outside the restrictions of a security-restricted
	 * operation (e.g. an index expression evaluated by a maintenance
	 * command), which would let that code escape them.
	 */
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot start a pg_background worker during a security-restricted operation")));

	held = pgbg_count_manageable(user_id);
	if (held >= pgbg_max_workers)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("role \"%s\" already holds %d pg_background workers in this session",
						GetUserNameFromId(user_id, false), held),
				 errdetail("pg_background.max_workers is %d; it counts the handles of this session that pg_background_list_v2 shows to the role.",
						   pgbg_max_workers),
				 errhint("Read, wait for or detach finished workers, or raise pg_background.max_workers.")));

	while (cookie == 0)
	{
		if (!pg_strong_random(&cookie, sizeof(cookie)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random cookie for the worker handle")));
	}

	/* Size the segment: fixed data, SQL, GUC state and (unless submit) queue. */
	guc_len = EstimateGUCStateSpace();
	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, sizeof(PgbgFixed));
	shm_toc_estimate_chunk(&e, sql_len + 1);
	shm_toc_estimate_chunk(&e, guc_len);
	if (!submit)
		shm_toc_estimate_chunk(&e, (Size) queue_size);
	shm_toc_estimate_keys(&e, submit ? 3 : 4);
	segsize = shm_toc_estimate(&e);

	cxt = AllocSetContextCreate(TopMemoryContext, "pg_background handle",
								ALLOCSET_SMALL_SIZES);
	sess = MemoryContextAllocZero(cxt, sizeof(PgbgSession));
	sess->cxt = cxt;
	sess->submit_mode = submit;
	sess->queue_size = submit ? 0 : queue_size;
	sess->user_id = user_id;

	PG_TRY();
	{
		shm_toc    *toc;
		PgbgFixed  *fixed;
		char	   *sqlbuf;
		char	   *gucbuf;
		BackgroundWorker worker;
		BgwHandleStatus status;
		pid_t		pid = 0;
		PgbgEntry  *entry;
		bool		found;

		/*
		 * dsm_create() raises an error rather than returning NULL when we do
		 * not pass DSM_CREATE_NULL_IF_MAXSEGMENTS.
		 */
		sess->seg = dsm_create(segsize, 0);
		on_dsm_detach(sess->seg, pgbg_on_detach, PointerGetDatum(sess));

		toc = shm_toc_create(PGBG_MAGIC, dsm_segment_address(sess->seg),
							 segsize);

		/*
		 * shm_toc_allocate() cannot return NULL: in PostgreSQL 13-18 it
		 * raises "out of shared memory" itself when the estimate was too
		 * small (review C2).  The estimate above covers every chunk.
		 */
		fixed = shm_toc_allocate(toc, sizeof(PgbgFixed));
		memset(fixed, 0, sizeof(PgbgFixed));
		fixed->database_id = MyDatabaseId;
		fixed->authenticated_user_id = GetAuthenticatedUserId();
		fixed->current_user_id = user_id;
		fixed->sec_context = sec_context;
		fixed->launcher_pid = MyProcPid;
		fixed->launcher_proc = MyProc;
		fixed->cookie = cookie;
		fixed->submit_mode = submit;
		fixed->worker_timeout_ms = pgbg_worker_timeout;
		/*
		 * v1 callers know a worker by its PID alone; a PID that comes back
		 * for the next job would make their old PID reach the new job.
		 */
		fixed->idle_timeout_ms = (submit || v1) ? 0 : pgbg_worker_idle_timeout;
		SpinLockInit(&fixed->status.mutex);
		fixed->status.progress_pct = -1;
		fixed->status.outcome = PGBG_RUNNING;
		shm_toc_insert(toc, PGBG_KEY_FIXED, fixed);
		sess->fixed = fixed;

		sqlbuf = shm_toc_allocate(toc, sql_len + 1);
		memcpy(sqlbuf, sqlstr, sql_len + 1);
		shm_toc_insert(toc, PGBG_KEY_SQL, sqlbuf);
		sess->sql = sqlbuf;

		gucbuf = shm_toc_allocate(toc, guc_len);
		SerializeGUCState(guc_len, gucbuf);
		shm_toc_insert(toc, PGBG_KEY_GUC, gucbuf);

		if (!submit)
		{
			shm_mq	   *mq;

			mq = shm_mq_create(shm_toc_allocate(toc, (Size) queue_size),
							   (Size) queue_size);
			shm_toc_insert(toc, PGBG_KEY_QUEUE, mq);
			shm_mq_set_receiver(mq, MyProc);
			oldcxt = MemoryContextSwitchTo(cxt);
			sess->mqh = shm_mq_attach(mq, sess->seg, NULL);
			MemoryContextSwitchTo(oldcxt);
		}

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
			BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = BGW_NEVER_RESTART;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_background");
		snprintf(worker.bgw_function_name, BGW_MAXLEN,
				 "pg_background_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN,
				 "pg_background worker for PID %d", MyProcPid);
		snprintf(worker.bgw_type, BGW_MAXLEN, "pg_background");
		worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(sess->seg));
		/* so that we get a latch wakeup when it starts and stops */
		worker.bgw_notify_pid = MyProcPid;

		/*
		 * An idle worker of ours takes the job if there is one: it only has
		 * to map the new segment.
		 */
		if (pgbg_worker_idle_timeout <= 0)
			pgbg_drop_idle();
		else if (!v1)
			reused = pgbg_claim_idle(dsm_segment_handle(sess->seg), user_id,
									 &idle);
		if (reused)
		{
			sess->worker_cxt = idle.worker_cxt;
			sess->handle = idle.handle;
			MemoryContextSetParent(sess->worker_cxt, cxt);
		}

		/*
		 * A finished worker's slot is freed only when the postmaster reaps
		 * the process, which lags behind the end of the job (our caller has
		 * long moved on) and can take seconds on a loaded machine.  So when
		 * all slots are taken, keep trying for a short while before giving
		 * up; the wait is interruptible.
		 */
		{
			TimestampTz first_try = GetCurrentTimestamp();
			bool		registered;

			for (registered = reused; !registered;)
			{
				if (sess->worker_cxt == NULL)
					sess->worker_cxt = AllocSetContextCreate(cxt,
															 "pg_background worker handle",
															 ALLOCSET_SMALL_SIZES);
				oldcxt = MemoryContextSwitchTo(sess->worker_cxt);
				registered = RegisterDynamicBackgroundWorker(&worker,
															 &sess->handle);
				MemoryContextSwitchTo(oldcxt);
				if (registered)
					break;
				/* our own idle workers give their slots back first */
				pgbg_drop_idle();
				if (TimestampDifferenceExceeds(first_try, GetCurrentTimestamp(),
											   PGBG_REGISTER_RETRY_MS))
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
							 errmsg("could not register background process"),
							 errdetail("All background worker slots are in use."),
							 errhint("Raise max_worker_processes (currently %d) and restart the server, or wait for other background workers to finish.",
									 max_worker_processes)));
				(void) WaitLatch(MyLatch,
								 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 20, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
		}

		if (sess->mqh != NULL)
			shm_mq_set_handle(sess->mqh, sess->handle);

		status = reused ? BGWH_STARTED :
			WaitForBackgroundWorkerStartup(sess->handle, &pid);
		if (status == BGWH_POSTMASTER_DIED)
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("cannot start background processes without postmaster"),
					 errhint("Kill all remaining database processes and restart the database.")));

		/*
		 * Wait until the worker has mapped the segment (it records its PID
		 * right after).  Until then ours is the only reference, and releasing
		 * the handle (detach, or this session ending) would destroy the
		 * segment under a worker that has not started its job yet.  A very
		 * short job may even have finished and been reaped already; its
		 * recorded PID tells us it ran.
		 */
		for (;;)
		{
			int32		worker_pid;

			SpinLockAcquire(&fixed->status.mutex);
			worker_pid = fixed->status.worker_pid;
			SpinLockRelease(&fixed->status.mutex);
			if (worker_pid != 0)
			{
				pid = worker_pid;
				break;
			}
			if (GetBackgroundWorkerPid(sess->handle, &pid) == BGWH_STOPPED)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
						 errmsg("could not start background process"),
						 errhint("More details may be available in the server log.")));
			/* the worker sets our latch; the timeout is only a safety net */
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}

		sess->key = pgbg_make_key((int32) pid, cookie);
		sess->launched_at = GetCurrentTimestamp();
		sess->launch_seq = ++pgbg_launch_seq;
		sess->preview = MemoryContextAlloc(cxt, PGBG_PREVIEW_LEN + 1);
		pgbg_copy_clipped(sess->preview, sqlstr, PGBG_PREVIEW_LEN + 1);

		pgbg_registry_init();
		entry = hash_search(pgbg_registry, &sess->key, HASH_ENTER, &found);
		/* HASH_ENTER raises "out of memory" itself; it never returns NULL */
		if (found)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("pg_background handle (%d, " INT64_FORMAT ") already exists",
							pid, cookie)));
		entry->sess = sess;
		sess->registered = true;

		/* From here on the registry, not the resource owner, owns it. */
		dsm_pin_mapping(sess->seg);
	}
	PG_CATCH();
	{
		/* A launch that failed must not leave a job running. */
		if (sess->handle != NULL)
			TerminateBackgroundWorker(sess->handle);
		if (sess->seg != NULL)
			dsm_detach(sess->seg);	/* callback frees cxt */
		else
			MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	pgbg_session_stats.launched++;
	pfree(sqlstr);

	ereport(pgbg_log_level,
			(errmsg_internal("pg_background: launched worker %d (%s) for session %d",
							 sess->key.pid, submit ? "submit" : "result",
							 MyProcPid)));
	return sess;
}

/*
 * DSM detach callback: the only place a handle is freed.
 */
static void
pgbg_on_detach(dsm_segment *seg, Datum arg)
{
	PgbgSession *sess = (PgbgSession *) DatumGetPointer(arg);

	/* a worker that outlives its handle must not wait for another job */
	if (sess->fixed != NULL)
		pgbg_retire(sess->fixed);
	sess->seg = NULL;
	if (sess->registered && pgbg_registry != NULL)
		(void) hash_search(pgbg_registry, &sess->key, HASH_REMOVE, NULL);
	MemoryContextDelete(sess->cxt);
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
 * pgbg_on_detach).  A still-running worker is not affected; its further
 * output is discarded.  sess is invalid afterwards.
 */
void
pgbg_release(PgbgSession *sess, PgbgReleaseReason reason)
{
	PgbgKey		key = sess->key;
	bool		stopped;

	if (!sess->counted)
		(void) pgbg_observe(sess, &stopped);	/* count the outcome if final */
	pgbg_add_tombstone(key, reason);
	if (sess->seg != NULL && !sess->counted)
		pgbg_linger(sess);
	else if (sess->seg != NULL && !pgbg_keep_idle(sess))
		dsm_detach(sess->seg);
	ereport(pgbg_log_level,
			(errmsg_internal("pg_background: released worker %d (%s)", key.pid,
							 reason == PGBG_RELEASED_DETACHED ? "detached" :
							 reason == PGBG_RELEASED_CONSUMED ? "results consumed" :
							 "finished")));
}

/*
 * A released handle whose outcome is not known yet: out of the registry (it
 * no longer counts against the quota, and no function can reach it), its
 * queue let go and its worker told not to wait for another job, but the
 * segment stays mapped until pgbg_sweep_lingering() sees the outcome.  Our
 * mapping keeps the segment alive after the worker is gone, so every entry
 * point sweeps (launch, every handle function, list_v2, stats_v2): a
 * finished job's segment lasts at most until the session's next call.
 */
static void
pgbg_linger(PgbgSession *sess)
{
	MemoryContext oldcxt;

	if (sess->registered && pgbg_registry != NULL)
		(void) hash_search(pgbg_registry, &sess->key, HASH_REMOVE, NULL);
	sess->registered = false;
	pgbg_retire(sess->fixed);
	if (sess->mqh != NULL)
	{
		shm_mq_detach(sess->mqh);	/* the worker stops sending */
		sess->mqh = NULL;
	}
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	pgbg_lingering = lappend(pgbg_lingering, sess);
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
		PgbgSession *sess = (PgbgSession *) lfirst(lc);
		bool		stopped;

		(void) pgbg_observe(sess, &stopped);
		if (!sess->counted)
		{
			running++;
			continue;
		}
		pgbg_lingering = foreach_delete_current(pgbg_lingering, lc);
		dsm_detach(sess->seg);	/* frees sess */
	}
	return running;
}

/*
 * Find a handle of this session and check that the current user may use it.
 * v1 callers know only the PID; cookie is ignored for them.
 */
PgbgSession *
pgbg_lookup(int32 pid, int64 cookie, bool v1)
{
	PgbgSession *sess = NULL;
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
				sess = entry->sess;
		}
		if (sess == NULL)
		{
			hash_seq_init(&status, pgbg_registry);
			while ((entry = hash_seq_search(&status)) != NULL)
			{
				if (entry->key.pid != pid)
					continue;
				pid_known = true;
				if (v1 && (sess == NULL ||
						   entry->sess->launch_seq > sess->launch_seq))
					sess = entry->sess;
			}
		}
	}

	if (sess == NULL)
	{
		PgbgTombstone *t = pgbg_find_tombstone(pid, cookie, v1);

		if (t != NULL && t->reason == PGBG_RELEASED_CONSUMED)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("results of pg_background worker %d were already consumed", pid),
					 errdetail("Results can be read only once; the handle was released after reading.")));
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
	 * Security model (review S2): a worker runs with the privileges of the
	 * role that launched it, and only a role having those privileges may
	 * read, wait on, cancel or detach it.  This matters after SET ROLE or
	 * SET SESSION AUTHORIZATION within one session.  The SQL text itself is
	 * checked by the worker, as that role, like any other query.
	 */
	if (!has_privs_of_role(GetUserId(), sess->user_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for pg_background worker %d", pid),
				 errdetail("The worker was launched by role \"%s\".",
						   GetUserNameFromId(sess->user_id, true) ?
						   GetUserNameFromId(sess->user_id, true) : "?")));
	return sess;
}

/* Copy the status block under its lock. */
void
pgbg_status_snapshot(PgbgSession *sess, PgbgStatus *copy)
{
	SpinLockAcquire(&sess->fixed->status.mutex);
	memcpy(copy, &sess->fixed->status, sizeof(PgbgStatus));
	SpinLockRelease(&sess->fixed->status.mutex);
}

/*
 * Current outcome of a job.  *stopped tells whether the process is gone.
 * A process that is gone without having recorded an outcome is LOST (or
 * CANCELED when we asked it to stop).  The first time a final outcome is
 * seen it is added to the session statistics.
 */
PgbgOutcome
pgbg_observe(PgbgSession *sess, bool *stopped)
{
	PgbgStatus	st;
	pid_t		pid;
	PgbgOutcome outcome;

	/* process state first: an outcome read afterwards is then final */
	*stopped = (GetBackgroundWorkerPid(sess->handle, &pid) != BGWH_STARTED);
	pgbg_status_snapshot(sess, &st);
	outcome = st.outcome;
	if (outcome == PGBG_RUNNING && *stopped)
		outcome = st.cancel_requested ? PGBG_CANCELED : PGBG_LOST;
	if (outcome != PGBG_RUNNING)
		pgbg_note_outcome(sess, outcome, st.errmsg[0] ? st.errmsg : NULL);
	return outcome;
}

/*
 * Add a job's final outcome to the session statistics, once.  Called when
 * the outcome is first seen, either in the status block or as the final
 * message on the queue (which the worker sends before it records the
 * outcome, so that a waiter never returns before the last message is
 * readable).
 */
void
pgbg_note_outcome(PgbgSession *sess, PgbgOutcome outcome, const char *errmsg)
{
	PgbgStatus	st;
	TimestampTz end;

	if (sess->counted || outcome == PGBG_RUNNING)
		return;
	sess->counted = true;
	sess->completed = (outcome == PGBG_COMPLETED);
	if (outcome == PGBG_COMPLETED)
		pgbg_session_stats.completed++;
	else if (outcome == PGBG_CANCELED)
		pgbg_session_stats.canceled++;
	else
		pgbg_session_stats.failed++;

	pgbg_status_snapshot(sess, &st);
	end = st.finished_at != 0 ? st.finished_at : GetCurrentTimestamp();
	if (st.started_at != 0 && end >= st.started_at)
	{
		pgbg_session_stats.total_exec_ms += (double) (end - st.started_at) / 1000.0;
		pgbg_session_stats.timed++;
	}
	if (outcome != PGBG_COMPLETED && sess->last_error == NULL)
	{
		/* bounded, like the status block's copy (review: message size) */
		sess->last_error = MemoryContextAlloc(sess->cxt, PGBG_ERRMSG_LEN);
		pgbg_copy_clipped(sess->last_error,
						  errmsg ? errmsg :
						  outcome == PGBG_LOST ?
						  "worker exited without reporting a result" :
						  "canceled",
						  PGBG_ERRMSG_LEN);
	}
	ereport(pgbg_log_level,
			(errmsg_internal("pg_background: worker %d finished: %s",
							 sess->key.pid,
							 outcome == PGBG_COMPLETED ? "completed" :
							 outcome == PGBG_CANCELED ? "canceled" :
							 outcome == PGBG_LOST ? "lost" : "error")));
}

/* Is the worker waiting for us to make room in its queue? */
bool
pgbg_worker_blocked(PgbgSession *sess)
{
	bool		blocked;

	SpinLockAcquire(&sess->fixed->status.mutex);
	blocked = sess->fixed->status.blocked_on_queue;
	SpinLockRelease(&sess->fixed->status.mutex);
	return blocked;
}

/*
 * Ask the worker to cancel its current statement: set the shared flag (the
 * worker checks it before each statement, which closes the window before
 * its signal handlers are in place) and send SIGINT, which the worker
 * handles like a backend's query cancel.
 */
void
pgbg_request_cancel(PgbgSession *sess)
{
	pid_t		pid;

	SpinLockAcquire(&sess->fixed->status.mutex);
	sess->fixed->status.cancel_requested = true;
	SpinLockRelease(&sess->fixed->status.mutex);

	/*
	 * Only signal a process the postmaster still knows as this worker; the
	 * handle's generation check means a recycled slot never matches.
	 */
	if (GetBackgroundWorkerPid(sess->handle, &pid) == BGWH_STARTED)
		(void) kill(pid, SIGINT);
}

void
pgbg_terminate(PgbgSession *sess)
{
	TerminateBackgroundWorker(sess->handle);
}

/*
 * Tell the worker of a segment we are leaving that no further job will come
 * through it.  Its PGPROC may belong to another process by now; a spurious
 * latch wakeup is harmless.
 */
static void
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
 * with us.  Returns false if the caller should simply detach.
 */
static bool
pgbg_keep_idle(PgbgSession *sess)
{
	PgbgIdle   *slot = NULL;
	PgbgStatus *st = &sess->fixed->status;
	bool		keep;
	pid_t		pid;
	int			i;

	if (!sess->completed || sess->submit_mode || sess->worker_cxt == NULL ||
		sess->fixed->idle_timeout_ms <= 0 || pgbg_worker_idle_timeout <= 0)
		return false;
	if (GetBackgroundWorkerPid(sess->handle, &pid) != BGWH_STARTED)
		return false;
	for (i = 0; i < PGBG_MAX_IDLE && slot == NULL; i++)
	{
		if (!pgbg_idle[i].used)
			slot = &pgbg_idle[i];
	}
	if (slot == NULL)
		return false;

	/* pin first: once "pooled" is visible the worker may unpin at any time */
	dsm_pin_segment(sess->seg);
	SpinLockAcquire(&st->mutex);
	keep = !st->retire && (st->worker_state == PGBG_WORKER_BUSY ||
						   st->worker_state == PGBG_WORKER_IDLE);
	if (keep)
		st->pooled = true;
	SpinLockRelease(&st->mutex);
	if (!keep)
	{
		dsm_unpin_segment(dsm_segment_handle(sess->seg));
		return false;
	}

	if (!pgbg_idle_exit_hook)
	{
		before_shmem_exit(pgbg_idle_at_exit, (Datum) 0);
		pgbg_idle_exit_hook = true;
	}
	slot->used = true;
	slot->seg_handle = dsm_segment_handle(sess->seg);
	slot->cookie = sess->fixed->cookie;
	slot->user_id = sess->user_id;
	slot->worker_cxt = sess->worker_cxt;
	slot->handle = sess->handle;
	MemoryContextSetParent(sess->worker_cxt, TopMemoryContext);

	/* release the handle without telling the worker to retire */
	cancel_on_dsm_detach(sess->seg, pgbg_on_detach, PointerGetDatum(sess));
	if (sess->registered && pgbg_registry != NULL)
		(void) hash_search(pgbg_registry, &sess->key, HASH_REMOVE, NULL);
	dsm_detach(sess->seg);
	MemoryContextDelete(sess->cxt);
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
 * Give an idle worker of ours the segment of the next job; on success *out
 * receives the worker's handle (its memory context is the caller's now).
 * A worker released a moment ago may not have reached its idle state yet
 * (it records its outcome and cleans up after the final message); wait a
 * little for it rather than pay for a new process.
 */
static bool
pgbg_claim_idle(dsm_handle next_job, Oid user_id, PgbgIdle *out)
{
	TimestampTz start = 0;

	for (;;)
	{
		bool		pending = false;
		int			i;

		for (i = 0; i < PGBG_MAX_IDLE; i++)
		{
			PgbgIdle   *slot = &pgbg_idle[i];
			dsm_segment *seg;
			PgbgFixed  *fixed;
			PgbgWorkerState state;
			struct PGPROC *proc;
			pid_t		pid;

			/*
			 * Only for a job of the same role: what DISCARD ALL leaves (loaded
			 * libraries, global state of untrusted procedural languages) must
			 * not pass from one role's job to another's.
			 */
			if (!slot->used || slot->user_id != user_id)
				continue;
			seg = pgbg_attach_pooled(slot, &fixed);
			if (seg == NULL)
			{
				pgbg_forget_idle(slot);
				continue;
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
				*out = *slot;
				memset(slot, 0, sizeof(PgbgIdle));
				return true;
			}
			if (state == PGBG_WORKER_BUSY &&
				GetBackgroundWorkerPid(slot->handle, &pid) == BGWH_STARTED)
				pending = true;
			else
				pgbg_forget_idle(slot);
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

/* Let all idle workers of this session go, giving their slots back. */
static void
pgbg_drop_idle(void)
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
			pgbg_retire(fixed);
			dsm_detach(seg);
		}
		pgbg_forget_idle(slot);
	}
}

/*
 * The session ends, however it ends (disconnect, pg_terminate_backend, a
 * FATAL error): its idle workers can never get another job, so tell them to
 * exit now instead of letting them hold their max_worker_processes slots
 * until their idle timeout.  They also notice the launcher's exit by
 * themselves (pgbg_launcher_alive), within a quarter of a second; this makes
 * it immediate.  The pooled segments are mapped without a resource owner:
 * the transaction of an exiting session may not have been cleaned up yet.
 */
static void
pgbg_idle_at_exit(int code, Datum arg)
{
	ResourceOwner save = CurrentResourceOwner;

	CurrentResourceOwner = NULL;
	pgbg_drop_idle();
	CurrentResourceOwner = save;
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
