/*-------------------------------------------------------------------------
 *
 * pgbg_worker.c
 *		The pg_background background worker's main loop: attach to the
 *		launcher's segment, run its job (pgbg_exec.c), and, if the job
 *		completed, wait for the next job of the same session (pgbg_reuse.c),
 *		or, once that session has ended, of a new session of the same
 *		database and role (pgbg_pool.c), instead of exiting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_db_role_setting.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pg_background.h"
#include "pgbg_jobs.h"

/* The status block of the job this process runs (NULL elsewhere). */
PgbgStatus *pgbg_my_status = NULL;
PgbgFixed  *pgbg_my_fixed = NULL;
dsm_segment *pgbg_my_seg = NULL;

/* Set by our SIGTERM handler: from then on never wait for queue space. */
volatile sig_atomic_t pgbg_terminating = false;

static void
pgbg_die(SIGNAL_ARGS)
{
	pgbg_terminating = true;
	die(postgres_signal_arg);
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

	pgbg_output_attach(fixed->submit_mode ? NULL :
					   shm_toc_lookup(toc, PGBG_KEY_QUEUE, false),
					   seg);
	return seg;
}

/*
 * Tell the launcher we are there: we hold a reference to the job's segment,
 * and we are a backend others can signal by PID.  The launcher returns our
 * PID only then, so a pg_terminate_backend() or pg_cancel_backend() right
 * after the launch finds us in the ProcArray (a first job announces itself
 * after InitPostgres, not when it has merely mapped the segment).
 */
static void
pgbg_announce(void)
{
	SpinLockAcquire(&pgbg_my_status->mutex);
	pgbg_my_status->worker_pid = MyProcPid;
	pgbg_my_status->worker_proc = MyProc;
	pgbg_my_status->started_at = GetCurrentTimestamp();
	SpinLockRelease(&pgbg_my_status->mutex);
	pgbg_wake_launcher();
}

/* pg_stat_activity shows which session a worker belongs to. */
void
pgbg_name_after_launcher(void)
{
	char		appname[NAMEDATALEN];

	snprintf(appname, sizeof(appname), "pg_background:%d",
			 pgbg_my_fixed->launcher_pid);
	SetConfigOption("application_name", appname, PGC_USERSET, PGC_S_SESSION);
}

static void
pgbg_worker_exit(int code, Datum arg)
{
	/* an entry of the server-wide pool reserved for us, or ours */
	pgbg_pool_unreserve(pgbg_leave_pool(), MyProcPid);
	pgbg_pool_worker_exit();
	/* a job that could not record its outcome: lost (or canceled) */
	pgbg_jobs_worker_exit();
}

/*
 * What InitPostgres decided once for our connection from the catalogs: the
 * authenticated user's superuser status (SET SESSION AUTHORIZATION trusts
 * the copy taken at connection time), that it may log in and connect, and
 * the per-role and per-database settings applied at connection.  Any row
 * behind those that was changed (a new tuple version) or removed counts as
 * a change; a false alarm only costs a new worker.
 */
typedef struct PgbgIdentity
{
	bool		valid;
	bool		rolsuper;
	bool		rolcanlogin;
	TransactionId authid_xmin;
	ItemPointerData authid_tid;
	TransactionId db_xmin;
	ItemPointerData db_tid;
	uint32		settings_sig;
} PgbgIdentity;

static PgbgIdentity pgbg_connected_as;

static uint32
pgbg_tuple_sig(uint32 sig, HeapTuple tup)
{
	uint32		parts[3];

	parts[0] = HeapTupleHeaderGetRawXmin(tup->t_data);
	parts[1] = ItemPointerGetBlockNumber(&tup->t_self);
	parts[2] = ItemPointerGetOffsetNumber(&tup->t_self);
	return hash_combine(sig, hash_bytes((const unsigned char *) parts,
										 sizeof(parts)));
}

/* Read our connection's identity from the current catalogs. */
static void
pgbg_read_identity(Oid database_id, Oid user_id, PgbgIdentity *id)
{
	HeapTuple	tup;
	Relation	rel;
	SysScanDesc scan;

	memset(id, 0, sizeof(PgbgIdentity));
	StartTransactionCommand();
	/* see the role and database as they are now */
	AcceptInvalidationMessages();

	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(user_id));
	if (!HeapTupleIsValid(tup))
	{
		CommitTransactionCommand();
		return;
	}
	id->rolsuper = ((Form_pg_authid) GETSTRUCT(tup))->rolsuper;
	id->rolcanlogin = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	id->authid_xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
	id->authid_tid = tup->t_self;
	ReleaseSysCache(tup);

	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(database_id));
	if (!HeapTupleIsValid(tup))
	{
		CommitTransactionCommand();
		return;
	}
	id->db_xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
	id->db_tid = tup->t_self;
	ReleaseSysCache(tup);

	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_db_role_setting s = (Form_pg_db_role_setting) GETSTRUCT(tup);

		if ((s->setdatabase == database_id || s->setdatabase == InvalidOid) &&
			(s->setrole == user_id || s->setrole == InvalidOid))
			id->settings_sig = pgbg_tuple_sig(id->settings_sig, tup);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	id->valid = true;
}

/*
 * A pooled worker was claimed by a new session: may it serve it?  Only if
 * nothing InitPostgres took from the catalogs for our connection changed
 * since (review R4 finding 4: a role demoted with NOSUPERUSER got superuser
 * back through a worker that connected while it was one).  Otherwise we
 * exit before mapping the job, and the claimer starts a new worker.
 */
static bool
pgbg_identity_unchanged(Oid database_id, Oid user_id)
{
	PgbgIdentity now;

	if (!pgbg_connected_as.valid)
		return false;
	pgbg_read_identity(database_id, user_id, &now);
	return now.valid && now.rolcanlogin &&
		now.rolsuper == pgbg_connected_as.rolsuper &&
		now.authid_xmin == pgbg_connected_as.authid_xmin &&
		ItemPointerEquals(&now.authid_tid, &pgbg_connected_as.authid_tid) &&
		now.db_xmin == pgbg_connected_as.db_xmin &&
		ItemPointerEquals(&now.db_tid, &pgbg_connected_as.db_tid) &&
		now.settings_sig == pgbg_connected_as.settings_sig;
}

/*
 * State DISCARD ALL does not reset, and which must not reach another
 * session through the pool (review R4 finding 2): a library's global state
 * (dblink's open connections, auto_explain and its settings, any LOADed
 * module) and custom placeholder variables, which cannot be removed once
 * made.  Neither can be enumerated or reset in general, so a worker that
 * gained either since it started is not pooled.  Libraries are read from
 * /proc/self/maps; without it nothing is pooled.
 */
static List *pgbg_start_libs = NIL;
static bool pgbg_libs_known = false;
static int	pgbg_start_placeholders = 0;

static bool
pgbg_lib_listed(List *libs, const char *path)
{
	ListCell   *lc;

	foreach(lc, libs)
		if (strcmp(strVal(lfirst(lc)), path) == 0)
			return true;
	return false;
}

/* The shared objects mapped into this process (strings in TopMemoryContext). */
static bool
pgbg_mapped_libs(List **libs)
{
	FILE	   *f = AllocateFile("/proc/self/maps", "r");
	char		line[MAXPGPATH + 128];
	MemoryContext oldcxt;

	*libs = NIL;
	if (f == NULL)
		return false;
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *path = strchr(line, '/');
		size_t		len;

		if (path == NULL || strstr(path, ".so") == NULL)
			continue;
		len = strlen(path);
		if (len > 0 && path[len - 1] == '\n')
			path[len - 1] = '\0';
		if (!pgbg_lib_listed(*libs, path))
			*libs = lappend(*libs, makeString(pstrdup(path)));
	}
	MemoryContextSwitchTo(oldcxt);
	FreeFile(f);
	return true;
}

static int
pgbg_count_placeholders(void)
{
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();
	int			count = 0;
	int			i;

	for (i = 0; i < n; i++)
		if (vars[i]->flags & GUC_CUSTOM_PLACEHOLDER)
			count++;
	return count;
}

static void
pgbg_note_start_state(void)
{
	pgbg_libs_known = pgbg_mapped_libs(&pgbg_start_libs);
	pgbg_start_placeholders = pgbg_count_placeholders();
}

/* May this worker serve another session, as far as its own state goes? */
static bool
pgbg_poolable(void)
{
	List	   *now;
	ListCell   *lc;
	bool		ok = true;

	if (!pgbg_libs_known || pgbg_count_placeholders() > pgbg_start_placeholders)
		return false;
	if (!pgbg_mapped_libs(&now))
		return false;
	foreach(lc, now)
	{
		const char *path = strVal(lfirst(lc));
		const char *base = strrchr(path, '/') + 1;

		/* PL/pgSQL keeps no state a session can see or set */
		if (strcmp(base, "plpgsql.so") == 0)
			continue;
		if (!pgbg_lib_listed(pgbg_start_libs, path))
		{
			ok = false;
			break;
		}
	}
	foreach(lc, now)
		pfree(strVal(lfirst(lc)));
	list_free_deep(now);
	return ok;
}

/*
 * A worker taken from the pool runs another session's jobs: random() must
 * not continue a sequence the previous session seeded (setseed), so seed it
 * anew as a fresh backend would.
 */
static void
pgbg_reseed_random(void)
{
	uint64		r;
	double		seed;

	if (!pg_strong_random(&r, sizeof(r)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random seed")));
	/* 53 random bits, mapped onto setseed's [-1, 1] */
	seed = ((double) (r >> 11) / (double) (UINT64CONST(1) << 53)) * 2.0 - 1.0;
	(void) DirectFunctionCall1(setseed, Float8GetDatum(seed));
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
	/* a pooled worker rereads pg_background.pool_size (pgbg_pool_wait) */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	seg = pgbg_attach_job(DatumGetUInt32(main_arg), &sql, &gucstate);
	before_shmem_exit(pgbg_worker_exit, (Datum) 0);
	database_id = pgbg_my_fixed->database_id;
	user_id = pgbg_my_fixed->authenticated_user_id;

	BackgroundWorkerInitializeConnectionByOid(database_id, user_id, 0);
	pgbg_announce();
	/*
	 * Only needed if we may be pooled (cheap next to InitPostgres); a worker
	 * started while the pool was off is never handed to another session.
	 */
	if (pgbg_pool_enabled() && pgbg_my_fixed->idle_timeout_ms > 0)
	{
		pgbg_read_identity(database_id, user_id, &pgbg_connected_as);
		pgbg_note_start_state();
	}

	jobcxt = AllocSetContextCreate(TopMemoryContext, "pg_background job",
								   ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		dsm_handle	next;
		int			pool_slot = 0;
		int			idle_timeout_ms = pgbg_my_fixed->idle_timeout_ms;
		bool		completed = pgbg_run_job(sql, gucstate, jobcxt);

		/*
		 * Only a job whose reader has all of its output may hand the worker
		 * on; otherwise the output goes to a held file and we exit.
		 */
		if (!pgbg_output_finish() || !completed || idle_timeout_ms <= 0)
			break;
		MemoryContextReset(jobcxt);
		if (!pgbg_reset_session())
			break;
		next = pgbg_wait_for_next_job(idle_timeout_ms, &pool_slot);
		if (next == 0 && pool_slot == 0)
			break;

		/*
		 * Only the server-wide pool hands us to another session; a kept
		 * worker serves its own session, whose state this is, as a backend
		 * keeps its libraries and seed across statements.
		 */
		if (next == 0 && !pgbg_poolable())
		{
			ereport(DEBUG1,
					(errmsg_internal("pg_background: worker not pooled, it loaded a library or made a custom variable")));
			break;				/* our exit frees the reserved entry */
		}

		/* leave the old segment first: its detach callback ends output */
		pgbg_my_status = NULL;
		pgbg_my_fixed = NULL;
		pgbg_output_detach();
		dsm_detach(seg);

		/*
		 * Our session ended and the server-wide pool took us: wait there,
		 * mapping nothing, for a job of a new session of our database and
		 * role.
		 */
		if (next == 0)
		{
			next = pgbg_pool_wait(pool_slot);

			/*
			 * A new session claimed us: if our connection's role or database
			 * changed meanwhile, exit without mapping its job (the claimer
			 * then starts a new worker, pgbg_get_worker).  A kept worker of
			 * the same session is not checked: that session keeps what it
			 * was granted at connection, as any backend does.
			 */
			if (next != 0 && !pgbg_identity_unchanged(database_id, user_id))
			{
				ereport(DEBUG1,
						(errmsg_internal("pg_background: pooled worker exits, its role or database changed since it connected")));
				break;
			}
			if (next != 0)
				pgbg_reseed_random();
		}
		if (next == 0)
			break;
		seg = pgbg_attach_job(next, &sql, &gucstate);

		/*
		 * Only the session that launched us, or a session of the same
		 * database and user through the pool, can claim us; check anyway.
		 */
		if (pgbg_my_fixed->database_id != database_id ||
			pgbg_my_fixed->authenticated_user_id != user_id)
			ereport(FATAL,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("pg_background worker was handed a job of another database or user")));
		QueryCancelPending = false;
		pgbg_announce();
	}
}
