/*-------------------------------------------------------------------------
 *
 * pgbg_launch.c
 *		Launcher side of pg_background: starting a job, i.e. building its
 *		dynamic shared memory segment and getting a background worker to run
 *		it.
 *
 * pgbg_launch() follows the shape of test_shm_mq's setup: build the segment
 * (pgbg_setup_segment), start a worker (pgbg_start_worker: claim an idle
 * worker of ours, pgbg_reuse.c, or a pooled one, pgbg_pool.c, or register
 * a new one and retry while all slots are taken), wait until the worker has mapped the segment
 * (pgbg_wait_until_attached), and enter the handle into the session's
 * registry (pgbg_register_handle, pgbg_registry.c).  Any error on the way
 * undoes the launch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pg_background.h"
#include "pgbg_jobs.h"

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
 * Everything that can refuse a launch by user_id before anything is
 * allocated.  Returns the queue size to use (0 means the default).
 */
static int32
pgbg_check_launch(const char *sql, int32 queue_size, Oid user_id,
				  bool definer)
{
	int			held;
	int			hidden;

	pgbg_check_sql(sql);
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

	/*
	 * A worker would run outside the restrictions of a security-restricted
	 * operation (e.g. an index expression evaluated by a maintenance
	 * command), which would let that code escape them.
	 */
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot start a pg_background worker during a security-restricted operation")));

	held = pgbg_count_held(definer, user_id, &hidden);
	if (held >= pgbg_max_workers && definer)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("role \"%s\" already holds %d pg_background workers in this session",
						GetUserNameFromId(user_id, false), held),
				 errdetail("pg_background.max_workers is %d; jobs launched by a SECURITY DEFINER function count against the function's owner.",
						   pgbg_max_workers),
				 errhint("The owner's handles are read, waited for or detached by code running as the owner.")));
	if (held >= pgbg_max_workers && hidden > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("this session already holds %d pg_background workers", held),
				 errdetail("pg_background.max_workers is %d per session; %d of them were launched under another role and are not shown to role \"%s\".",
						   pgbg_max_workers, hidden,
						   GetUserNameFromId(user_id, false)),
				 errhint("SET ROLE to the launching role to read, wait for or detach them, or raise pg_background.max_workers.")));
	if (held >= pgbg_max_workers)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("this session already holds %d pg_background workers", held),
				 errdetail("pg_background.max_workers is %d per session.",
						   pgbg_max_workers),
				 errhint("Read, wait for or detach finished workers, or raise pg_background.max_workers.")));
	return queue_size;
}

/* A nonzero random cookie: 0 never names a handle. */
static int64
pgbg_new_cookie(void)
{
	int64		cookie = 0;

	while (cookie == 0)
	{
		if (!pg_strong_random(&cookie, sizeof(cookie)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random cookie for the worker handle")));
	}
	return cookie;
}

/*
 * Create the segment of a job and fill it: the fixed part with the status
 * block, the SQL, the launcher's settings and (unless submit) the queue, of
 * which we become the receiver.  The segment's detach callback owns the
 * handle from here on.
 */
static void
pgbg_setup_segment(PgbgJobHandle *job, const char *sql, int64 cookie,
				   int sec_context, bool v1)
{
	Size		sql_len = strlen(sql);
	Size		guc_len = EstimateGUCStateSpace();
	Size		segsize;
	shm_toc_estimator e;
	shm_toc    *toc;
	PgbgFixed  *fixed;
	char	   *sqlbuf;
	char	   *gucbuf;

	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, sizeof(PgbgFixed));
	shm_toc_estimate_chunk(&e, sql_len + 1);
	shm_toc_estimate_chunk(&e, guc_len);
	if (!job->submit_mode)
		shm_toc_estimate_chunk(&e, (Size) job->queue_size);
	shm_toc_estimate_keys(&e, job->submit_mode ? 3 : 4);
	segsize = shm_toc_estimate(&e);

	/*
	 * dsm_create() raises an error rather than returning NULL when we do not
	 * pass DSM_CREATE_NULL_IF_MAXSEGMENTS.
	 */
	job->seg = dsm_create(segsize, 0);
	pgbg_tie_to_segment(job);

	toc = shm_toc_create(PGBG_MAGIC, dsm_segment_address(job->seg), segsize);

	/*
	 * shm_toc_allocate() cannot return NULL: in PostgreSQL 13-18 it raises
	 * "out of shared memory" itself when the estimate was too small (review
	 * C2).  The estimate above covers every chunk.
	 */
	fixed = shm_toc_allocate(toc, sizeof(PgbgFixed));
	memset(fixed, 0, sizeof(PgbgFixed));
	fixed->database_id = MyDatabaseId;
	fixed->authenticated_user_id = GetAuthenticatedUserId();
	fixed->current_user_id = job->user_id;
	fixed->sec_context = sec_context;
	fixed->launcher_pid = MyProcPid;
	fixed->launcher_proc = MyProc;
	fixed->cookie = cookie;
	fixed->submit_mode = job->submit_mode;
	fixed->worker_timeout_ms = pgbg_worker_timeout;

	/*
	 * v1 callers know a worker by its PID alone; a PID that comes back for
	 * the next job would make their old PID reach the new job.
	 */
	fixed->idle_timeout_ms = (job->submit_mode || v1) ? 0 :
		pgbg_worker_idle_timeout;
	pgbg_durable_setup(fixed, job->submit_mode, v1);
	SpinLockInit(&fixed->status.mutex);
	fixed->status.progress_pct = -1;
	fixed->status.outcome = PGBG_RUNNING;
	shm_toc_insert(toc, PGBG_KEY_FIXED, fixed);
	job->fixed = fixed;

	sqlbuf = shm_toc_allocate(toc, sql_len + 1);
	memcpy(sqlbuf, sql, sql_len + 1);
	shm_toc_insert(toc, PGBG_KEY_SQL, sqlbuf);
	job->sql = sqlbuf;

	gucbuf = shm_toc_allocate(toc, guc_len);
	SerializeGUCState(guc_len, gucbuf);
	shm_toc_insert(toc, PGBG_KEY_GUC, gucbuf);

	if (!job->submit_mode)
	{
		shm_mq	   *mq;
		MemoryContext oldcxt;

		mq = shm_mq_create(shm_toc_allocate(toc, (Size) job->queue_size),
						   (Size) job->queue_size);
		shm_toc_insert(toc, PGBG_KEY_QUEUE, mq);
		shm_mq_set_receiver(mq, MyProc);
		oldcxt = MemoryContextSwitchTo(job->cxt);
		job->mqh = shm_mq_attach(mq, job->seg, NULL);
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * Register a new worker for the job's segment.
 *
 * A finished worker's slot is freed only when the postmaster reaps the
 * process, which lags behind the end of the job (our caller has long moved
 * on) and can take seconds on a loaded machine.  So when all slots are
 * taken, keep trying for a short while before giving up; the wait is
 * interruptible.
 */
static void
pgbg_register_worker(PgbgJobHandle *job)
{
	BackgroundWorker worker;
	TimestampTz first_try = GetCurrentTimestamp();

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
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(job->seg));
	/* so that we get a latch wakeup when it starts and stops */
	worker.bgw_notify_pid = MyProcPid;

	for (;;)
	{
		MemoryContext oldcxt;
		bool		registered;

		if (job->worker_cxt == NULL)
			job->worker_cxt = AllocSetContextCreate(job->cxt,
													"pg_background worker handle",
													ALLOCSET_SMALL_SIZES);
		oldcxt = MemoryContextSwitchTo(job->worker_cxt);
		registered = RegisterDynamicBackgroundWorker(&worker, &job->handle);
		MemoryContextSwitchTo(oldcxt);
		if (registered)
			return;
		/* our own idle workers give their slots back first, then a pooled one */
		pgbg_drop_idle();
		(void) pgbg_pool_retire_one();
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

/*
 * Get a worker to run the job: an idle worker of ours takes it if there is
 * one (it only has to map the new segment), else one from the server-wide
 * pool of this database and role (pgbg_pool.c), otherwise a new one is
 * started.  worker_idle_timeout = 0 asks for a new process per job, so it
 * skips the pool too.
 */
static bool
pgbg_start_worker(PgbgJobHandle *job, bool v1)
{
	bool		reused = false;
	BgwHandleStatus status;
	pid_t		pid;

	if (pgbg_worker_idle_timeout <= 0)
		pgbg_drop_idle();
	else if (!v1)
	{
		reused = pgbg_claim_idle(dsm_segment_handle(job->seg), job->user_id,
								 &job->worker_cxt, &job->handle);
		if (!reused && pgbg_pool_enabled())
		{
			if (job->worker_cxt == NULL)
				job->worker_cxt = AllocSetContextCreate(job->cxt,
														"pg_background worker handle",
														ALLOCSET_SMALL_SIZES);
			reused = pgbg_pool_claim(dsm_segment_handle(job->seg),
									 job->user_id, job->worker_cxt,
									 &job->handle);
		}
	}
	if (reused)
	{
		MemoryContextSetParent(job->worker_cxt, job->cxt);
		return true;
	}

	pgbg_register_worker(job);
	status = WaitForBackgroundWorkerStartup(job->handle, &pid);
	if (status == BGWH_POSTMASTER_DIED)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("cannot start background processes without postmaster"),
				 errhint("Kill all remaining database processes and restart the database.")));
	return false;
}

/*
 * Wait until the worker has mapped the segment (it records its PID right
 * after), and return that PID.  Until then ours is the only reference, and
 * releasing the handle (detach, or this session ending) would destroy the
 * segment under a worker that has not started its job yet.  A very short
 * job may even have finished and been reaped already; its recorded PID
 * tells us it ran.  A reused worker that exits before it maps the segment
 * (terminated while we claimed it) returns 0: the caller starts a new one.
 */
static int32
pgbg_wait_until_attached(PgbgJobHandle *job, bool reused)
{
	for (;;)
	{
		int32		worker_pid;
		pid_t		pid;

		SpinLockAcquire(&job->fixed->status.mutex);
		worker_pid = job->fixed->status.worker_pid;
		SpinLockRelease(&job->fixed->status.mutex);
		if (worker_pid != 0)
			return worker_pid;
		if (GetBackgroundWorkerPid(job->handle, &pid) == BGWH_STOPPED)
		{
			if (reused)
				return 0;
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("could not start background process"),
					 errhint("More details may be available in the server log.")));
		}
		/* the worker sets our latch; the timeout is only a safety net */
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Get the job's segment mapped by a worker (pgbg_start_worker), and return
 * that worker's PID.  The queue learns the worker's handle only now, so
 * that a reused worker that died first can be replaced by a new one.
 */
static int32
pgbg_get_worker(PgbgJobHandle *job, bool v1)
{
	bool		reused = pgbg_start_worker(job, v1);
	int32		pid = pgbg_wait_until_attached(job, reused);

	/* a worker that took over the queue before dying cannot be replaced */
	if (pid == 0 && job->mqh != NULL &&
		shm_mq_get_sender(shm_mq_get_queue(job->mqh)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("background process exited before it started the job"),
				 errhint("More details may be available in the server log.")));
	if (pid == 0)
	{
		pfree(job->handle);
		job->handle = NULL;
		(void) pgbg_start_worker(job, true);
		pid = pgbg_wait_until_attached(job, false);
	}
	if (job->mqh != NULL)
		shm_mq_set_handle(job->mqh, job->handle);
	return pid;
}

/*
 * The handle's segment is detached: the launching session let the job go
 * (read to the end, detached, or handed its worker on), so it no longer
 * reads the job's output.  At session exit the registry's own exit callback
 * has decided already (the output may be held for an attacher).
 */
static void
pgbg_launch_on_detach(dsm_segment *seg, Datum arg)
{
	PgbgFixed  *fixed = (PgbgFixed *) DatumGetPointer(arg);

	if (proc_exit_inprogress)
		return;
	pgbg_jobs_release_reader(pgbg_fixed_job_ref(fixed), 0,
							 PGBG_OUTPUT_DISCARDED);
}

/*
 * Enter the job into the server-wide registry before its worker can run
 * it: the worker finds its entry through the segment.  53400 when the
 * registry is full; an invalid ref when durability is unavailable.
 */
static void
pgbg_register_job(PgbgJobHandle *job, const char *sql, int64 cookie)
{
	PgbgJobRef	ref;

	/* output is held for an attacher only if the worker will keep it */
	ref = pgbg_jobs_register(cookie, job->user_id, sql, job->submit_mode,
							 job->fixed->durable);
	job->fixed->registry_index = ref.index;
	job->fixed->registry_generation = ref.generation;
	job->reg_index = ref.index;
	job->reg_generation = ref.generation;
	job->reader_epoch = PgbgJobRefIsValid(ref) ? 1 : 0;
	if (PgbgJobRefIsValid(ref))
		on_dsm_detach(job->seg, pgbg_launch_on_detach,
					  PointerGetDatum(job->fixed));
}

/*
 * Launch a worker for the given SQL.  On success the new handle is in the
 * registry and its DSM mapping is pinned (it no longer belongs to the
 * current resource owner, so it survives the launching transaction).  On
 * failure nothing remains: no handle, no segment, no running job.
 */
PgbgJobHandle *
pgbg_launch(text *sql, int32 queue_size, bool submit, bool v1)
{
	char	   *sqlstr = text_to_cstring(sql);
	MemoryContext cxt;
	PgbgJobHandle *job;
	int64		cookie;
	Oid			user_id;
	int			sec_context;
	bool		definer;

	GetUserIdAndSecContext(&user_id, &sec_context);
	pgbg_jobs_sweep_if_due();

	/*
	 * Inside a SECURITY DEFINER function whose owner the session's role
	 * cannot act as, the job is the owner's (see pgbg_count_held).
	 */
	definer = (sec_context & SECURITY_LOCAL_USERID_CHANGE) != 0 &&
		!has_privs_of_role(GetOuterUserId(), user_id);
	queue_size = pgbg_check_launch(sqlstr, queue_size, user_id, definer);
	cookie = pgbg_new_cookie();

	cxt = AllocSetContextCreate(TopMemoryContext, "pg_background handle",
								ALLOCSET_SMALL_SIZES);
	job = MemoryContextAllocZero(cxt, sizeof(PgbgJobHandle));
	job->cxt = cxt;
	job->submit_mode = submit;
	job->queue_size = submit ? 0 : queue_size;
	job->user_id = user_id;
	job->definer = definer;

	PG_TRY();
	{
		int32		pid;

		pgbg_setup_segment(job, sqlstr, cookie, sec_context, v1);
		pgbg_register_job(job, sqlstr, cookie);
		pid = pgbg_get_worker(job, v1);
		pgbg_jobs_set_worker(pgbg_fixed_job_ref(job->fixed), pid, job->handle);
		pgbg_register_handle(job, pid, cookie, sqlstr);
	}
	PG_CATCH();
	{
		/* A launch that failed must not leave a job running, nor an entry. */
		if (job->fixed != NULL)
			pgbg_jobs_unregister(pgbg_fixed_job_ref(job->fixed));
		if (job->handle != NULL)
			TerminateBackgroundWorker(job->handle);
		if (job->seg != NULL)
			dsm_detach(job->seg);	/* callback frees cxt */
		else
			MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	pfree(sqlstr);

	ereport(pgbg_log_level,
			(errmsg_internal("pg_background: launched worker %d (%s) for session %d",
							 job->key.pid, submit ? "submit" : "result",
							 MyProcPid)));
	return job;
}

