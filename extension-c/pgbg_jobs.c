/*-------------------------------------------------------------------------
 *
 * pgbg_jobs.c
 *		The server-wide registry of pg_background jobs (durable jobs, issue
 *		11; DESIGN-durable-jobs.md sections 3 to 5).
 *
 * Memory
 * ------
 * PostgreSQL 15 has no named DSM segments, and requiring
 * shared_preload_libraries would be a new hard requirement.  So a tiny
 * anchor (PgbgJobsAnchor) lives in the main shared memory, made by the
 * first backend that needs it (ShmemInitStruct under AddinShmemInitLock,
 * from the slack the server keeps for lazily initialised modules; when we
 * are preloaded, a shmem_request_hook reserves it).  The anchor holds the
 * registry's LWLock and the handle of a pinned DSM segment with the
 * registry itself: a header and pg_background.max_jobs entries.  Each
 * backend maps it once, for good (dsm_pin_mapping).
 *
 * After a crash the postmaster reinitialises the main shared memory and
 * destroys every DSM segment, so the anchor comes back zeroed and the
 * registry gone: the first use after any start creates a new registry.
 * That is where a restart is noticed: the held-output directory is emptied
 * (the postmaster does it too, unless remove_temp_files_after_crash is off),
 * and every job the journal shows launched but not freed becomes an
 * "interrupted" entry, reported to whoever asks.
 *
 * Journal
 * -------
 * pg_stat_tmp/pg_background.journal: fixed-size records, L (launch), F
 * (freed), I (interrupted, carried over a restart), each one write() on an
 * O_APPEND descriptor, never fsynced (a postgres crash keeps the page cache;
 * an OS crash may lose the last records, which only means a job is not
 * reported as interrupted).  L is written under the registry lock, so that
 * a job freed right away cannot have its F land before it; F after the
 * lock is released.  Over
 * PGBG_JOURNAL_MAX bytes it is rewritten from the live entries (under the
 * lock) and renamed over the old one; the generation in the anchor tells
 * appenders to reopen, and to append again what may have gone to the old
 * file (replay is by key, so a duplicate is harmless).
 *
 * Freeing
 * -------
 * An entry is freed when its state is final and its output delivered or
 * discarded (or it never had any: submit_v2), by whoever makes the last of
 * those true; when the registry is full and it is the oldest finished entry
 * whose output only waits (held, delivered, none); or when its retention
 * expired (the lazy sweep).  Every free removes the job's held-output file
 * and writes an F record, both after the lock is released.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pg_background.h"
#include "pgbg_jobs.h"

PG_FUNCTION_INFO_V1(pg_background_jobs_v2);

#define PGBG_JOBS_MAGIC			0x70676a63	/* "pgjc": the header gained the take-over ring */
#define PGBG_JOURNAL_REC_SIZE	256
#define PGBG_JOURNAL_MAX		(1024 * 1024)
#define PGBG_SWEEP_MAX_US		((int64) 60 * USECS_PER_SEC)
#define PGBG_OBSERVER_POLL_MS	50
#define PGBG_TEMP_BASE_DIR		"base/pgsql_tmp"

int			pgbg_max_jobs = 1024;
int			pgbg_max_held_mb = 4096;
int			pgbg_held_output_retention = 86400;

/* In the main shared memory: found by name, zeroed by every restart. */
typedef struct PgbgJobsAnchor
{
	LWLock		lock;			/* the registry lock */
	int			tranche_id;
	dsm_handle	registry;		/* DSM_HANDLE_INVALID until created */
	TimestampTz created_at;
	pg_atomic_uint32 journal_generation;
} PgbgJobsAnchor;

#define PGBG_TAKEN_OVER_RING	512

typedef struct PgbgTakenOver
{
	uint64		generation;		/* 0 = unused */
	uint32		epoch;			/* the reader's epoch when it was freed */
} PgbgTakenOver;

/* The registry: a pinned DSM segment. */
typedef struct PgbgJobsHeader
{
	pg_atomic_uint64 held_bytes;	/* reservations, server-wide */
	pg_atomic_uint64 next_sweep_at; /* TimestampTz; 0 = now */
	uint32		magic;
	int32		max_jobs;
	int32		nused;
	int32		free_head;		/* -1 = full */
	int32		sweep_retention;	/* retention next_sweep_at assumed */
	uint64		next_generation;
	TimestampTz created_at;

	/*
	 * Entries freed after their reader changed (registry lock).  A handle
	 * whose entry is gone cannot otherwise tell "the taker read it to the
	 * end and freed it" from its own release, and would read its old queue
	 * again (review R4 finding 1).
	 */
	uint32		taken_next;
	PgbgTakenOver taken[PGBG_TAKEN_OVER_RING];
	PgbgJobEntry entries[FLEXIBLE_ARRAY_MEMBER];
} PgbgJobsHeader;

/* A journal record: fixed size, so that replay can skip a torn tail. */
typedef union PgbgJournalRec
{
	struct
	{
		char		type;		/* 'L', 'F', 'I' */
		int32		pid;
		int64		cookie;
		Oid			owner;
		Oid			database;
		int32		launcher_pid;
		TimestampTz launched_at;
		TimestampTz finished_at;	/* I only */
		char		preview[PGBG_PREVIEW_LEN];
	}			r;
	char		raw[PGBG_JOURNAL_REC_SIZE];
} PgbgJournalRec;

StaticAssertDecl(sizeof(PgbgJournalRec) == PGBG_JOURNAL_REC_SIZE,
				 "journal records have a fixed size");

/* What a free leaves to do once the lock is released. */
typedef struct PgbgFreed
{
	int32		pid;
	int64		cookie;
	bool		journaled;
} PgbgFreed;

typedef struct PgbgFreedList
{
	int			n;
	int			cap;
	PgbgFreed  *items;
	PgbgFreed	local[4];
} PgbgFreedList;

static PgbgJobsAnchor *pgbg_anchor = NULL;
static bool pgbg_anchor_failed = false;
static PgbgJobsHeader *pgbg_reg = NULL;
static int	pgbg_journal_fd = -1;
static uint32 pgbg_journal_fd_gen = 0;
static bool pgbg_reader_exit_armed = false;
static PgbgJobRef pgbg_worker_job = {-1, 0};

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

static void pgbg_jobs_reader_exit(int code, Datum arg);

/* ---------------------------------------------------------------------
 * Setup
 * ---------------------------------------------------------------------
 */

#if PG_VERSION_NUM >= 150000
static void
pgbg_jobs_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(PgbgJobsAnchor)));
}
#endif

void
pgbg_jobs_init(void)
{
	/*
	 * SIGHUP, read when the registry is created (the first use after a
	 * start): it cannot be PGC_POSTMASTER without preloading.
	 */
	DefineCustomIntVariable("pg_background.max_jobs",
							"Number of jobs the server-wide pg_background registry holds.",
							"Read when the registry is created, at the first use after a server start.  Finished jobs whose output waits for a reader are evicted, oldest first, when it is full.",
							&pgbg_max_jobs,
							1024, 16, 100000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	/* MB: four terabytes in kB would not fit an int setting */
	DefineCustomIntVariable("pg_background.max_held_bytes",
							"Server-wide limit of output held for pg_background jobs whose reader is gone.",
							"Reserved in 1 MB extents; a job whose output reaches it has the rest of its output discarded, with a warning in its output.",
							&pgbg_max_held_mb,
							4096, 1, 4 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_background.held_output_retention",
							"How long the unread output of a finished pg_background job is kept.",
							"Counted from the end of the job or its last read; removed at the first pg_background call after that.",
							&pgbg_held_output_retention,
							86400, 1, 30 * 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = pgbg_jobs_shmem_request;
	}
#else
	if (process_shared_preload_libraries_in_progress)
		RequestAddinShmemSpace(MAXALIGN(sizeof(PgbgJobsAnchor)));
#endif
}

/*
 * Find or make the anchor.  Without preloading it comes from the slack of
 * the main shared memory; if that is used up, ShmemInitStruct raises an
 * error, which we turn into "durability off for this server run" (it
 * releases ShmemIndexLock before raising; we release AddinShmemInitLock).
 */
static bool
pgbg_jobs_attach_anchor(void)
{
	PgbgJobsAnchor *anchor = NULL;
	bool		found = false;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (pgbg_anchor != NULL)
		return true;
	if (pgbg_anchor_failed)
		return false;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	PG_TRY();
	{
		anchor = ShmemInitStruct("pg_background anchor",
								 sizeof(PgbgJobsAnchor), &found);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		/* errfinish() cleared the holdoff count LWLockAcquire had raised */
		HOLD_INTERRUPTS();
		anchor = NULL;
	}
	PG_END_TRY();
	if (anchor != NULL && !found)
	{
		memset(anchor, 0, sizeof(PgbgJobsAnchor));
		anchor->tranche_id = LWLockNewTrancheId();
		LWLockInitialize(&anchor->lock, anchor->tranche_id);
		anchor->registry = DSM_HANDLE_INVALID;
		pg_atomic_init_u32(&anchor->journal_generation, 1);
	}
	LWLockRelease(AddinShmemInitLock);

	if (anchor == NULL)
	{
		pgbg_anchor_failed = true;
		ereport(LOG,
				(errmsg("pg_background: no shared memory left for the job registry; durable jobs are off"),
				 errhint("Add pg_background to shared_preload_libraries.")));
		return false;
	}
	LWLockRegisterTranche(anchor->tranche_id, "pg_background");
	pgbg_anchor = anchor;
	return true;
}

static inline PgbgJobEntry *
pgbg_entry_at(int index)
{
	return &pgbg_reg->entries[index];
}

static void pgbg_registry_create(void);

/* Map the registry, creating it first if this server run has none yet. */
bool
pgbg_jobs_available(void)
{
	dsm_handle	handle;
	dsm_segment *seg;

	if (pgbg_reg != NULL)
		return true;
	if (!pgbg_jobs_attach_anchor())
		return false;

	LWLockAcquire(&pgbg_anchor->lock, LW_SHARED);
	handle = pgbg_anchor->registry;
	LWLockRelease(&pgbg_anchor->lock);
	if (handle == DSM_HANDLE_INVALID)
	{
		LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
		if (pgbg_anchor->registry == DSM_HANDLE_INVALID)
			pgbg_registry_create();
		handle = pgbg_anchor->registry;
		LWLockRelease(&pgbg_anchor->lock);
		if (pgbg_reg != NULL)
			return true;		/* we made it, and mapped it */
	}

	/* pinned until the server stops: it cannot go away under us */
	seg = dsm_attach(handle);
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not map the pg_background job registry")));
	dsm_pin_mapping(seg);
	pgbg_reg = dsm_segment_address(seg);
	if (pgbg_reg->magic != PGBG_JOBS_MAGIC)
	{
		pgbg_reg = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("bad magic number in the pg_background job registry")));
	}
	return true;
}

void
pgbg_jobs_unavailable_error(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("durable pg_background jobs are not available on this server"),
			 errdetail("There was no shared memory left for the server-wide job registry."),
			 errhint("add pg_background to shared_preload_libraries")));
}

void
pgbg_jobs_require(void)
{
	if (!pgbg_jobs_available())
		pgbg_jobs_unavailable_error();
}

/* ---------------------------------------------------------------------
 * Names and small helpers
 * ---------------------------------------------------------------------
 */

const char *
pgbg_job_state_name(PgbgJobState state)
{
	switch (state)
	{
		case PGBG_JOB_RUNNING:
			return "running";
		case PGBG_JOB_COMPLETED:
			return "completed";
		case PGBG_JOB_ERROR:
			return "error";
		case PGBG_JOB_CANCELED:
			return "canceled";
		case PGBG_JOB_LOST:
			return "lost";
		case PGBG_JOB_INTERRUPTED:
			return "interrupted";
		case PGBG_JOB_FREE:
			break;
	}
	return "free";
}

const char *
pgbg_job_output_name(PgbgJobOutput output)
{
	switch (output)
	{
		case PGBG_OUTPUT_LIVE:
			return "live";
		case PGBG_OUTPUT_ATTACHED:
			return "attached";
		case PGBG_OUTPUT_HELD:
			return "held";
		case PGBG_OUTPUT_DELIVERED:
			return "delivered";
		case PGBG_OUTPUT_DISCARDED:
			return "discarded";
		case PGBG_OUTPUT_NONE:
			return "none";
	}
	return "none";
}

bool
pgbg_job_state_final(PgbgJobState state)
{
	return state != PGBG_JOB_FREE && state != PGBG_JOB_RUNNING;
}

/*
 * Is the entry's reader a live session?  The same test as for a launcher:
 * the PGPROC still belongs to the PID we recorded.  A stale reader (its
 * session died without clearing itself) never blocks anyone.
 */
static bool
pgbg_reader_alive(const PgbgJobEntry *e)
{
	return e->reader_pid != 0 && e->reader_proc != NULL &&
		e->reader_proc->pid == e->reader_pid;
}

static bool
pgbg_i_am_reader(const PgbgJobEntry *e)
{
	return e->reader_pid == MyProcPid && e->reader_proc == MyProc;
}

/* Entry for ref, or NULL; the generation may change right after. */
PgbgJobEntry *
pgbg_jobs_entry(PgbgJobRef ref)
{
	PgbgJobEntry *e;

	if (!PgbgJobRefIsValid(ref) || pgbg_reg == NULL ||
		ref.index < 0 || ref.index >= pgbg_reg->max_jobs)
		return NULL;
	e = pgbg_entry_at(ref.index);
	return e->generation == ref.generation ? e : NULL;
}

/*
 * Entry for ref with its mutex held, or NULL (nothing held): the generation
 * is checked again under the lock, since the entry may be freed and reused
 * until the lock is taken.
 */
static PgbgJobEntry *
pgbg_lock_live(PgbgJobRef ref)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);

	if (e == NULL)
		return NULL;
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation)
		return e;
	SpinLockRelease(&e->mutex);
	return NULL;
}

bool
pgbg_jobs_snapshot(PgbgJobRef ref, PgbgJobEntry *copy)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	bool		ok;

	if (e == NULL)
		return false;
	SpinLockAcquire(&e->mutex);
	ok = (e->generation == ref.generation);
	if (ok)
		memcpy(copy, e, sizeof(PgbgJobEntry));
	SpinLockRelease(&e->mutex);
	return ok;
}

/* Lower next_sweep_at to at (never raise it). */
static void
pgbg_sweep_no_later_than(TimestampTz at)
{
	uint64		cur = pg_atomic_read_u64(&pgbg_reg->next_sweep_at);

	while ((uint64) at < cur)
	{
		if (pg_atomic_compare_exchange_u64(&pgbg_reg->next_sweep_at, &cur,
										   (uint64) at))
			break;
	}
}

static TimestampTz
pgbg_expiry(const PgbgJobEntry *e)
{
	return TimestampTzPlusMilliseconds(Max(e->finished_at, e->last_read_at),
									   (int64) pgbg_held_output_retention * 1000);
}

/* ---------------------------------------------------------------------
 * Files: the held-output directory and the journal
 * ---------------------------------------------------------------------
 */

void
pgbg_jobs_held_path(int32 pid, int64 cookie, char *buf)
{
	snprintf(buf, MAXPGPATH, "%s/j%d_%016llx", PGBG_HELD_DIR, pid,
			 (unsigned long long) cookie);
}

void
pgbg_jobs_ensure_held_dir(void)
{
	struct stat st;

	if (stat(PGBG_HELD_DIR, &st) == 0)
		return;
	/* base/pgsql_tmp itself is made on demand by fd.c, so it may be missing */
	if (MakePGDirectory(PGBG_TEMP_BASE_DIR) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m",
						PGBG_TEMP_BASE_DIR)));
	if (MakePGDirectory(PGBG_HELD_DIR) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m",
						PGBG_HELD_DIR)));
}

/* Empty the held-output directory (registry creation: nothing is held). */
static void
pgbg_remove_held_files(void)
{
	DIR		   *dir;
	struct dirent *de;
	char		path[MAXPGPATH];

	dir = AllocateDir(PGBG_HELD_DIR);
	if (dir == NULL)
		return;					/* ENOENT: nothing to do */
	while ((de = ReadDirExtended(dir, PGBG_HELD_DIR, LOG)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", PGBG_HELD_DIR, de->d_name);
		if (unlink(path) < 0 && errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not remove file \"%s\": %m", path)));
	}
	FreeDir(dir);
}

static void
pgbg_unlink_held(int32 pid, int64 cookie)
{
	char		path[MAXPGPATH];

	pgbg_jobs_held_path(pid, cookie, path);
	if (unlink(path) < 0 && errno != ENOENT)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
}

static void
pgbg_journal_fill(PgbgJournalRec *rec, char type, const PgbgJobEntry *e)
{
	memset(rec, 0, sizeof(PgbgJournalRec));
	rec->r.type = type;
	rec->r.pid = e->pid;
	rec->r.cookie = e->cookie;
	rec->r.owner = e->owner;
	rec->r.database = e->database;
	rec->r.launcher_pid = e->launcher_pid;
	rec->r.launched_at = e->launched_at;
	rec->r.finished_at = e->finished_at;
	memcpy(rec->r.preview, e->preview, PGBG_PREVIEW_LEN);
}

static void pgbg_journal_compact_locked(void);

/*
 * Append one record.  Without the registry lock (locked = false), the
 * journal may be compacted meanwhile (the generation moves): the record may
 * then have gone to the replaced file, so it is appended again to the new
 * one.  With the lock held exclusively nothing can move, and an oversized
 * journal is compacted right away.  Failures are logged, never raised: the
 * journal only improves what a restart reports.
 */
static void
pgbg_journal_append(const PgbgJournalRec *rec, bool locked)
{
	int			tries;

	for (tries = 0; tries < 3; tries++)
	{
		uint32		gen = pg_atomic_read_u32(&pgbg_anchor->journal_generation);
		ssize_t		n;
		off_t		end;

		if (pgbg_journal_fd >= 0 && pgbg_journal_fd_gen != gen)
		{
			close(pgbg_journal_fd);
			pgbg_journal_fd = -1;
		}
		if (pgbg_journal_fd < 0)
		{
			pgbg_journal_fd = BasicOpenFilePerm(PGBG_JOURNAL_FILE,
												O_WRONLY | O_APPEND | O_CREAT | PG_BINARY,
												S_IRUSR | S_IWUSR);
			if (pgbg_journal_fd < 0)
			{
				ereport(LOG,
						(errcode_for_file_access(),
						 errmsg("could not open file \"%s\": %m",
								PGBG_JOURNAL_FILE)));
				return;
			}
			pgbg_journal_fd_gen = gen;
		}
		n = write(pgbg_journal_fd, rec, sizeof(PgbgJournalRec));
		if (n != sizeof(PgbgJournalRec))
		{
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not write to file \"%s\": %m",
							PGBG_JOURNAL_FILE)));
			return;
		}
		end = lseek(pgbg_journal_fd, 0, SEEK_CUR);
		if (locked)
		{
			if (end > PGBG_JOURNAL_MAX)
				pgbg_journal_compact_locked();
			return;
		}
		if (pg_atomic_read_u32(&pgbg_anchor->journal_generation) != gen)
			continue;
		if (end > PGBG_JOURNAL_MAX)
		{
			LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
			if (pg_atomic_read_u32(&pgbg_anchor->journal_generation) == gen)
				pgbg_journal_compact_locked();
			LWLockRelease(&pgbg_anchor->lock);
		}
		return;
	}
}

/*
 * Rewrite the journal from the registry: L for every started job, I for the
 * interrupted ones; then rename it over the old one and move the generation.
 * Registry lock held exclusively.
 */
static void
pgbg_journal_compact_locked(void)
{
	char		tmp[MAXPGPATH];
	int			fd;
	int			i;
	bool		ok = true;

	snprintf(tmp, sizeof(tmp), "%s.tmp", PGBG_JOURNAL_FILE);
	fd = BasicOpenFilePerm(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY,
						   S_IRUSR | S_IWUSR);
	if (fd < 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmp)));
		return;
	}
	for (i = 0; i < pgbg_reg->max_jobs && ok; i++)
	{
		PgbgJobEntry *e = pgbg_entry_at(i);
		PgbgJournalRec rec;

		if (e->generation == 0 || !e->journaled)
			continue;
		pgbg_journal_fill(&rec, e->state == PGBG_JOB_INTERRUPTED ? 'I' : 'L', e);
		if (write(fd, &rec, sizeof(rec)) != sizeof(rec))
			ok = false;
	}
	if (close(fd) != 0)
		ok = false;
	if (!ok || rename(tmp, PGBG_JOURNAL_FILE) != 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", PGBG_JOURNAL_FILE)));
		(void) unlink(tmp);
		return;
	}
	pg_atomic_fetch_add_u32(&pgbg_anchor->journal_generation, 1);
}

/* ---------------------------------------------------------------------
 * Entries: allocation and freeing (registry lock held exclusively)
 * ---------------------------------------------------------------------
 */

static void
pgbg_freed_init(PgbgFreedList *fl)
{
	fl->n = 0;
	fl->cap = lengthof(fl->local);
	fl->items = fl->local;
}

static void
pgbg_freed_add(PgbgFreedList *fl, int32 pid, int64 cookie, bool journaled)
{
	if (fl->n == fl->cap)
	{
		/* only the sweep frees more than a few at a time */
		PgbgFreed  *items = MemoryContextAlloc(TopMemoryContext,
											   sizeof(PgbgFreed) * fl->cap * 2);

		memcpy(items, fl->items, sizeof(PgbgFreed) * fl->n);
		if (fl->items != fl->local)
			pfree(fl->items);
		fl->items = items;
		fl->cap *= 2;
	}
	fl->items[fl->n].pid = pid;
	fl->items[fl->n].cookie = cookie;
	fl->items[fl->n].journaled = journaled;
	fl->n++;
}

/* After the lock: remove the files, write the F records. */
static void
pgbg_freed_finish(PgbgFreedList *fl)
{
	int			i;

	for (i = 0; i < fl->n; i++)
	{
		PgbgFreed  *f = &fl->items[i];

		if (f->pid != 0)
			pgbg_unlink_held(f->pid, f->cookie);
		if (f->journaled)
		{
			PgbgJournalRec rec;

			memset(&rec, 0, sizeof(rec));
			rec.r.type = 'F';
			rec.r.pid = f->pid;
			rec.r.cookie = f->cookie;
			pgbg_journal_append(&rec, false);
		}
	}
	if (fl->items != fl->local)
		pfree(fl->items);
	pgbg_freed_init(fl);
}

static void
pgbg_entry_free_locked(PgbgJobEntry *e, PgbgFreedList *fl)
{
	int			index = e - pgbg_reg->entries;

	Assert(LWLockHeldByMeInMode(&pgbg_anchor->lock, LW_EXCLUSIVE));
	pgbg_freed_add(fl, e->pid, e->cookie, e->journaled);

	/* the launcher reads at epoch 1: any other epoch means a new reader */
	if (e->reader_epoch != 1)
	{
		PgbgTakenOver *t;

		t = &pgbg_reg->taken[pgbg_reg->taken_next % PGBG_TAKEN_OVER_RING];
		pgbg_reg->taken_next++;
		t->generation = e->generation;
		t->epoch = e->reader_epoch;
	}
	if (e->bytes_reserved > 0)
		pg_atomic_fetch_sub_u64(&pgbg_reg->held_bytes,
								(uint64) e->bytes_reserved);
	SpinLockAcquire(&e->mutex);
	e->generation = 0;
	e->state = PGBG_JOB_FREE;
	e->pid = 0;
	e->cookie = 0;
	e->bytes_reserved = 0;
	e->reader_pid = 0;
	e->reader_proc = NULL;
	SpinLockRelease(&e->mutex);
	e->next_free = pgbg_reg->free_head;
	pgbg_reg->free_head = index;
	pgbg_reg->nused--;
}

/* The freeing rule (DESIGN 3.1). */
static bool
pgbg_entry_freeable(const PgbgJobEntry *e)
{
	if (!pgbg_job_state_final(e->state))
		return false;
	if (e->output == PGBG_OUTPUT_DELIVERED ||
		e->output == PGBG_OUTPUT_DISCARDED)
		return true;
	/* submit_v2: nothing to read; an interrupted job waits for its reader */
	return e->output == PGBG_OUTPUT_NONE && e->state != PGBG_JOB_INTERRUPTED;
}

static void
pgbg_entry_maybe_free_locked(PgbgJobEntry *e, PgbgFreedList *fl)
{
	if (pgbg_entry_freeable(e))
		pgbg_entry_free_locked(e, fl);
	else if (pgbg_job_state_final(e->state))
		pgbg_sweep_no_later_than(pgbg_expiry(e));
}

/* Take a free slot and give it a new generation; NULL when full. */
static PgbgJobEntry *
pgbg_entry_alloc_locked(void)
{
	PgbgJobEntry *e;
	int			index = pgbg_reg->free_head;

	if (index < 0)
		return NULL;
	e = pgbg_entry_at(index);
	pgbg_reg->free_head = e->next_free;
	pgbg_reg->nused++;
	SpinLockAcquire(&e->mutex);
	memset(((char *) e) + offsetof(PgbgJobEntry, generation), 0,
		   sizeof(PgbgJobEntry) - offsetof(PgbgJobEntry, generation));
	e->generation = pgbg_reg->next_generation++;
	e->next_free = -1;
	e->progress_pct = -1;
	SpinLockRelease(&e->mutex);
	return e;
}

/*
 * Registry full: free the oldest finished entry whose output only waits for
 * a reader or for retention (held, delivered, none; or interrupted), and no
 * live session reads it.  Running jobs are bounded by max_worker_processes,
 * so holding output cannot lock other roles out.  A launch that never
 * completed (pid 0) whose launcher is gone goes first.
 */
static bool
pgbg_evict_locked(PgbgFreedList *fl)
{
	PgbgJobEntry *victim = NULL;
	int			i;

	for (i = 0; i < pgbg_reg->max_jobs; i++)
	{
		PgbgJobEntry *e = pgbg_entry_at(i);

		if (e->generation == 0)
			continue;
		if (e->pid == 0 && e->state == PGBG_JOB_RUNNING && !pgbg_reader_alive(e))
		{
			victim = e;
			break;
		}
		if (!pgbg_job_state_final(e->state) || pgbg_reader_alive(e))
			continue;
		if (e->output == PGBG_OUTPUT_LIVE || e->output == PGBG_OUTPUT_ATTACHED)
			continue;			/* cannot happen without a live reader */
		if (victim == NULL || e->finished_at < victim->finished_at)
			victim = e;
	}
	if (victim == NULL)
		return false;
	ereport(LOG,
			(errmsg("pg_background: job registry full, dropping finished job of worker %d (%s, output %s)",
					victim->pid, pgbg_job_state_name(victim->state),
					pgbg_job_output_name(victim->output)),
			 errhint("Raise pg_background.max_jobs (currently %d; takes effect at the next server start).",
					 pgbg_reg->max_jobs)));
	pgbg_entry_free_locked(victim, fl);
	return true;
}

/* ---------------------------------------------------------------------
 * Registry creation: the first use after a server start
 * ---------------------------------------------------------------------
 */

typedef struct PgbgReplayKey
{
	int64		cookie;
	int32		pid;
	int32		zero;
} PgbgReplayKey;

typedef struct PgbgReplayEnt
{
	PgbgReplayKey key;
	PgbgJournalRec rec;
	bool		interrupted_before;
} PgbgReplayEnt;

/*
 * Jobs the journal shows launched (or interrupted by an earlier restart)
 * and never freed were running, or held output, when the server stopped:
 * they become interrupted entries, with no output.
 */
static void
pgbg_replay_journal_locked(void)
{
	HASHCTL		ctl;
	HTAB	   *htab;
	int			fd;
	PgbgJournalRec rec;
	HASH_SEQ_STATUS status;
	PgbgReplayEnt *ent;
	TimestampTz now = GetCurrentTimestamp();

	fd = BasicOpenFile(PGBG_JOURNAL_FILE, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", PGBG_JOURNAL_FILE)));
		return;
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(PgbgReplayKey);
	ctl.entrysize = sizeof(PgbgReplayEnt);
	ctl.hcxt = CurrentMemoryContext;
	htab = hash_create("pg_background journal replay", 256, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* a torn last record (shorter read) is ignored */
	while (read(fd, &rec, sizeof(rec)) == sizeof(rec))
	{
		PgbgReplayKey key;
		bool		found;

		memset(&key, 0, sizeof(key));
		key.pid = rec.r.pid;
		key.cookie = rec.r.cookie;
		if (rec.r.type == 'F')
			(void) hash_search(htab, &key, HASH_REMOVE, NULL);
		else if (rec.r.type == 'L' || rec.r.type == 'I')
		{
			ent = hash_search(htab, &key, HASH_ENTER, &found);
			ent->rec = rec;
			ent->interrupted_before = (rec.r.type == 'I');
		}
	}
	close(fd);

	hash_seq_init(&status, htab);
	while ((ent = hash_seq_search(&status)) != NULL)
	{
		PgbgJobEntry *e = pgbg_entry_alloc_locked();

		if (e == NULL)
		{
			/* max_jobs was lowered: the rest is not reported */
			hash_seq_term(&status);
			break;
		}
		e->pid = ent->rec.r.pid;
		e->cookie = ent->rec.r.cookie;
		e->owner = ent->rec.r.owner;
		e->database = ent->rec.r.database;
		e->launcher_pid = ent->rec.r.launcher_pid;
		e->launched_at = ent->rec.r.launched_at;
		memcpy(e->preview, ent->rec.r.preview, PGBG_PREVIEW_LEN);
		e->preview[PGBG_PREVIEW_LEN - 1] = '\0';
		e->state = PGBG_JOB_INTERRUPTED;
		e->output = PGBG_OUTPUT_NONE;
		/* retention counts from the first restart that interrupted it */
		e->finished_at = (ent->interrupted_before && ent->rec.r.finished_at != 0) ?
			ent->rec.r.finished_at : now;
		strlcpy(e->errmsg, PGBG_INTERRUPTED_MSG, sizeof(e->errmsg));
		e->journaled = true;
		pgbg_sweep_no_later_than(pgbg_expiry(e));
	}
	hash_destroy(htab);
}

/* Anchor lock held exclusively; the anchor names no registry yet. */
static void
pgbg_registry_create(void)
{
	int			max_jobs = pgbg_max_jobs;
	Size		size = add_size(offsetof(PgbgJobsHeader, entries),
								mul_size(sizeof(PgbgJobEntry), max_jobs));
	dsm_segment *seg;
	PgbgJobsHeader *reg;
	int			i;

	seg = dsm_create(size, 0);
	reg = dsm_segment_address(seg);
	memset(reg, 0, size);
	pg_atomic_init_u64(&reg->held_bytes, 0);
	pg_atomic_init_u64(&reg->next_sweep_at, PG_UINT64_MAX);
	reg->magic = PGBG_JOBS_MAGIC;
	reg->max_jobs = max_jobs;
	reg->nused = 0;
	reg->next_generation = 1;
	reg->sweep_retention = pgbg_held_output_retention;
	reg->created_at = GetCurrentTimestamp();
	for (i = 0; i < max_jobs; i++)
	{
		SpinLockInit(&reg->entries[i].mutex);
		reg->entries[i].next_free = (i + 1 < max_jobs) ? i + 1 : -1;
	}
	reg->free_head = 0;
	pgbg_reg = reg;

	/*
	 * Nothing is held after a restart: remove what the postmaster left
	 * (remove_temp_files_after_crash = off), report what was interrupted,
	 * and start the journal afresh from that.
	 */
	PG_TRY();
	{
		pgbg_remove_held_files();
		pgbg_replay_journal_locked();
		pgbg_journal_compact_locked();
	}
	PG_CATCH();
	{
		/* the segment goes with the resource owner; do not point into it */
		pgbg_reg = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	pg_atomic_write_u64(&reg->next_sweep_at,
						Min(pg_atomic_read_u64(&reg->next_sweep_at),
							(uint64) (reg->created_at + PGBG_SWEEP_MAX_US)));

	/* only now: an error above must not leave a pinned segment behind */
	dsm_pin_segment(seg);
	dsm_pin_mapping(seg);
	pgbg_anchor->registry = dsm_segment_handle(seg);
	pgbg_anchor->created_at = reg->created_at;
}

/* ---------------------------------------------------------------------
 * Launch
 * ---------------------------------------------------------------------
 */

static void
pgbg_arm_reader_exit(void)
{
	if (!pgbg_reader_exit_armed)
	{
		before_shmem_exit(pgbg_jobs_reader_exit, (Datum) 0);
		pgbg_reader_exit_armed = true;
	}
}

PgbgJobRef
pgbg_jobs_register(int64 cookie, Oid owner, const char *sql, bool submit,
				   bool holdable)
{
	PgbgJobRef	ref = {-1, 0};
	PgbgJobEntry *e;
	PgbgFreedList fl;
	char		preview[PGBG_PREVIEW_LEN];

	if (!pgbg_jobs_available())
		return ref;
	pgbg_arm_reader_exit();
	pgbg_freed_init(&fl);
	/* clipped here: the SQL may be huge, and strlen must not run under e->mutex */
	pgbg_copy_clipped(preview, sql, PGBG_PREVIEW_LEN);

	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	e = pgbg_entry_alloc_locked();
	if (e == NULL && pgbg_evict_locked(&fl))
		e = pgbg_entry_alloc_locked();
	if (e == NULL)
	{
		int			max_jobs = pgbg_reg->max_jobs;

		LWLockRelease(&pgbg_anchor->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many pg_background jobs on this server"),
				 errdetail("The server-wide job registry holds %d jobs, none of which is finished with its output waiting.",
						   max_jobs),
				 errhint("Raise pg_background.max_jobs (takes effect at the next server start), or wait for running jobs to finish.")));
	}
	SpinLockAcquire(&e->mutex);
	e->cookie = cookie;
	e->owner = owner;
	e->database = MyDatabaseId;
	e->launcher_pid = MyProcPid;
	e->state = PGBG_JOB_RUNNING;
	e->submit = submit;
	e->holdable = holdable && !submit;
	e->output = submit ? PGBG_OUTPUT_NONE : PGBG_OUTPUT_LIVE;
	e->launched_at = GetCurrentTimestamp();
	e->reader_pid = MyProcPid;
	e->reader_proc = MyProc;
	e->reader_epoch = 1;
	memcpy(e->preview, preview, sizeof(preview));
	ref.index = e - pgbg_reg->entries;
	ref.generation = e->generation;
	SpinLockRelease(&e->mutex);
	LWLockRelease(&pgbg_anchor->lock);

	pgbg_freed_finish(&fl);
	return ref;
}

/*
 * BackgroundWorkerHandle is private to bgworker.c; its layout (slot, then
 * generation) has not changed since 9.4.  We copy the values so that any
 * backend can ask the postmaster about this worker.
 */
void
pgbg_jobs_set_worker(PgbgJobRef ref, int32 pid, BackgroundWorkerHandle *handle)
{
	PgbgJobEntry *e;
	PgbgJournalRec rec;

	if (!PgbgJobRefIsValid(ref))
		return;
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	e = pgbg_jobs_entry(ref);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		e->pid = pid;
		if (handle != NULL)
		{
			memcpy(&e->bgw, handle, sizeof(PgbgBgwValues));
			e->bgw_valid = true;
		}
		e->journaled = true;
		SpinLockRelease(&e->mutex);

		/*
		 * Under the lock: the job may end and be freed as soon as we let go
		 * (a submitted job), and its F must never precede its L in the file.
		 */
		pgbg_journal_fill(&rec, 'L', e);
		pgbg_journal_append(&rec, true);
	}
	LWLockRelease(&pgbg_anchor->lock);
}

void
pgbg_jobs_unregister(PgbgJobRef ref)
{
	PgbgJobEntry *e;
	PgbgFreedList fl;

	if (!PgbgJobRefIsValid(ref) || pgbg_reg == NULL)
		return;
	pgbg_freed_init(&fl);
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	e = pgbg_jobs_entry(ref);
	if (e != NULL)
		pgbg_entry_free_locked(e, &fl);
	LWLockRelease(&pgbg_anchor->lock);
	pgbg_freed_finish(&fl);
}

/* ---------------------------------------------------------------------
 * Lookup
 * ---------------------------------------------------------------------
 */

/* Registry lock held; -1 if not found, *pid_known if the PID is. */
static int
pgbg_find_locked(int32 pid, int64 cookie, bool *pid_known)
{
	int			i;

	*pid_known = false;
	if (pid == 0)
		return -1;
	for (i = 0; i < pgbg_reg->max_jobs; i++)
	{
		PgbgJobEntry *e = pgbg_entry_at(i);

		if (e->generation == 0 || e->pid != pid)
			continue;
		if (e->cookie == cookie)
			return i;
		*pid_known = true;
	}
	return -1;
}

bool
pgbg_jobs_find(int32 pid, int64 cookie, PgbgJobRef *ref)
{
	int			index;
	bool		pid_known;

	if (!pgbg_jobs_available())
		return false;
	LWLockAcquire(&pgbg_anchor->lock, LW_SHARED);
	index = pgbg_find_locked(pid, cookie, &pid_known);
	if (index >= 0)
	{
		ref->index = index;
		ref->generation = pgbg_entry_at(index)->generation;
	}
	LWLockRelease(&pgbg_anchor->lock);
	return index >= 0;
}

PgbgJobRef
pgbg_jobs_lookup(int32 pid, int64 cookie, bool same_database)
{
	PgbgJobRef	ref = {-1, 0};
	int			index;
	bool		pid_known;
	Oid			owner = InvalidOid;
	Oid			database = InvalidOid;

	pgbg_jobs_require();
	LWLockAcquire(&pgbg_anchor->lock, LW_SHARED);
	index = pgbg_find_locked(pid, cookie, &pid_known);
	if (index >= 0)
	{
		PgbgJobEntry *e = pgbg_entry_at(index);

		ref.index = index;
		ref.generation = e->generation;
		owner = e->owner;
		database = e->database;
	}
	LWLockRelease(&pgbg_anchor->lock);

	/* the same errors as for a handle of this session (pgbg_registry.c) */
	if (index < 0 && pid_known)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("cookie mismatch for pg_background worker %d", pid),
				 errdetail("The handle does not identify a job of this worker known to the server; the PID may have been reused.")));
	if (index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("PID %d is not attached to this session", pid),
				 errdetail("No pg_background job with this PID and cookie is known to the server.")));

	/*
	 * Only the launching role or a superuser.  Being a member of the role is
	 * not enough (has_privs_of_role is not used): held output may outlive
	 * the membership, and a role that can act as the owner can SET ROLE to
	 * it, which does count, as for every privilege.
	 */
	if (GetUserId() != owner && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for pg_background worker %d", pid),
				 errdetail("Only the role that launched the job and superusers may use it.")));

	/* type OIDs, encodings and format_type are per database */
	if (same_database && database != MyDatabaseId)
	{
		char	   *dbname = get_database_name(database);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_background worker %d runs in another database", pid),
				 errhint("connect to database \"%s\"",
						 dbname ? dbname : "?")));
	}
	return ref;
}

/* ---------------------------------------------------------------------
 * Readers
 * ---------------------------------------------------------------------
 */

/*
 * Registry lock held exclusively.  Make this session e's reader, or raise
 * 55006 when a live other reader exists and takeover is false (after
 * releasing the lock).
 */
static uint32
pgbg_become_reader_locked(PgbgJobEntry *e, bool takeover,
						  PgbgJobEntry *snapshot)
{
	uint32		epoch;
	struct PGPROC *worker;

	if (pgbg_reader_alive(e) && !pgbg_i_am_reader(e) && !takeover)
	{
		int32		pid = e->pid;
		int32		reader = e->reader_pid;

		LWLockRelease(&pgbg_anchor->lock);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("pg_background worker %d is being read by session %d",
						pid, reader),
				 errhint("Pass takeover => true to take it over.")));
	}
	pgbg_arm_reader_exit();
	SpinLockAcquire(&e->mutex);
	e->reader_pid = MyProcPid;
	e->reader_proc = MyProc;
	e->reader_epoch++;
	if (e->reader_epoch == 0)
		e->reader_epoch = 1;
	epoch = e->reader_epoch;
	if (e->output == PGBG_OUTPUT_LIVE || e->output == PGBG_OUTPUT_HELD)
		e->output = PGBG_OUTPUT_ATTACHED;
	e->last_read_at = GetCurrentTimestamp();
	worker = (e->state == PGBG_JOB_RUNNING) ? e->worker_proc : NULL;
	if (snapshot != NULL)
		memcpy(snapshot, e, sizeof(PgbgJobEntry));
	SpinLockRelease(&e->mutex);

	/* the worker watches the epoch: a new reader means file mode */
	if (worker != NULL)
		SetLatch(&worker->procLatch);
	return epoch;
}

uint32
pgbg_jobs_attach(int32 pid, int64 cookie, bool takeover, bool has_after,
				 int64 after_seq, PgbgJobRef *ref, PgbgJobEntry *snapshot)
{
	PgbgJobEntry *e;
	PgbgJobEntry now;
	uint32		epoch;
	int64		last;

	pgbg_jobs_require();
	pgbg_jobs_sweep_if_due();
	*ref = pgbg_jobs_lookup(pid, cookie, true);

	/* two sessions racing: the lock serialises them, one gets 55006 */
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	e = pgbg_jobs_entry(*ref);
	now.generation = 0;
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		memcpy(&now, e, sizeof(PgbgJobEntry));
		SpinLockRelease(&e->mutex);
	}
	if (now.generation != ref->generation)
	{
		LWLockRelease(&pgbg_anchor->lock);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("PID %d is not attached to this session", pid),
				 errdetail("No pg_background job with this PID and cookie is known to the server.")));
	}

	/*
	 * What the reader has, against what is held: checked before anything
	 * changes, so that a failed attach leaves the current reader reading.
	 * Beyond the last message can be told only once the worker writes a
	 * file (in queue mode the registry's counters lag behind the queue).
	 */
	last = Max(Max(now.w_seq, now.last_seq), now.final_seq);
	if (has_after && now.state != PGBG_JOB_INTERRUPTED &&
		after_seq < now.acked_seq)
	{
		LWLockRelease(&pgbg_anchor->lock);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("messages up to " INT64_FORMAT " of pg_background worker %d were already acknowledged and are no longer held",
						now.acked_seq, pid),
				 errdetail("after_seq " INT64_FORMAT " asks for earlier messages.",
						   after_seq)));
	}
	if (has_after && now.state != PGBG_JOB_INTERRUPTED &&
		now.mode == PGBG_MODE_FILE && after_seq > last)
	{
		LWLockRelease(&pgbg_anchor->lock);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after_seq " INT64_FORMAT " is beyond the last message of pg_background worker %d (" INT64_FORMAT ")",
						after_seq, pid, last)));
	}
	epoch = pgbg_become_reader_locked(e, takeover, snapshot);
	LWLockRelease(&pgbg_anchor->lock);
	return epoch;
}

uint32
pgbg_jobs_set_reader(PgbgJobRef ref, bool takeover)
{
	PgbgJobEntry *e;
	uint32		epoch = 0;

	if (!PgbgJobRefIsValid(ref))
		return 0;
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	e = pgbg_jobs_entry(ref);
	if (e != NULL)
		epoch = pgbg_become_reader_locked(e, takeover, NULL);
	LWLockRelease(&pgbg_anchor->lock);
	return epoch;
}

uint32
pgbg_jobs_reader_epoch(PgbgJobRef ref)
{
	PgbgJobEntry *e = pgbg_lock_live(ref);
	uint32		epoch;

	if (e == NULL)
		return 0;
	epoch = e->reader_epoch;
	SpinLockRelease(&e->mutex);
	return epoch;
}

/*
 * ref's entry is gone: was it freed by another reader than the handle at
 * epoch, i.e. after a take-over?  (A handle that freed it itself is gone.)
 */
bool
pgbg_jobs_freed_after_takeover(PgbgJobRef ref, uint32 epoch)
{
	bool		taken = false;
	int			i;

	if (!PgbgJobRefIsValid(ref) || pgbg_reg == NULL)
		return false;
	LWLockAcquire(&pgbg_anchor->lock, LW_SHARED);
	for (i = 0; i < PGBG_TAKEN_OVER_RING; i++)
	{
		if (pgbg_reg->taken[i].generation == ref.generation)
		{
			taken = pgbg_reg->taken[i].epoch != epoch;
			break;
		}
	}
	LWLockRelease(&pgbg_anchor->lock);
	return taken;
}

bool
pgbg_jobs_is_reader(PgbgJobRef ref, uint32 epoch, int32 *by_pid)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	bool		mine = true;

	*by_pid = 0;
	if (e == NULL)
		return false;
	SpinLockAcquire(&e->mutex);
	if (e->generation != ref.generation)
		mine = false;
	else if (e->reader_epoch != epoch || !pgbg_i_am_reader(e))
	{
		mine = false;
		*by_pid = e->reader_pid;
	}
	SpinLockRelease(&e->mutex);
	return mine;
}

void
pgbg_jobs_check_reader(PgbgJobRef ref, uint32 epoch)
{
	int32		by_pid = 0;
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	int32		pid = e ? e->pid : 0;

	if (e != NULL && pgbg_jobs_is_reader(ref, epoch, &by_pid))
		return;
	if (pgbg_jobs_entry(ref) == NULL)
	{
		/* the taker read it to the end and freed it */
		if (pgbg_jobs_freed_after_takeover(ref, epoch))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("pg_background worker was taken over by another session"),
					 errdetail("That session has read the job to the end since.")));
		return;					/* freed meanwhile: the caller finds out */
	}

	/*
	 * The epoch moved without us: another session took the job over (and
	 * may itself have gone since, leaving no reader).
	 */
	if (by_pid != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("pg_background worker %d was taken over by session %d",
						pid, by_pid),
				 errdetail("Another session attached to the job with takeover => true; this session's handle is no longer its reader.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("pg_background worker %d was taken over by another session",
					pid),
			 errdetail("That session has ended since; attach again with pg_background_attach_v2 to read the job.")));
}

/* Registry lock held exclusively; e's reader is this session. */
static void
pgbg_drop_reader_locked(PgbgJobEntry *e, PgbgJobOutput output,
						PgbgFreedList *fl)
{
	struct PGPROC *worker;

	SpinLockAcquire(&e->mutex);
	e->reader_pid = 0;
	e->reader_proc = NULL;
	e->reader_epoch++;
	if (e->reader_epoch == 0)
		e->reader_epoch = 1;
	/* delivered stays delivered: it is the more precise of the two */
	if (e->output != PGBG_OUTPUT_DELIVERED)
		e->output = output;
	if (output == PGBG_OUTPUT_DISCARDED)
		e->discard_output = true;
	e->last_read_at = GetCurrentTimestamp();
	worker = (e->state == PGBG_JOB_RUNNING) ? e->worker_proc : NULL;
	SpinLockRelease(&e->mutex);
	if (worker != NULL)
		SetLatch(&worker->procLatch);
	pgbg_entry_maybe_free_locked(e, fl);
}

void
pgbg_jobs_release_reader(PgbgJobRef ref, uint32 epoch, PgbgJobOutput output)
{
	PgbgJobEntry *e;
	PgbgFreedList fl;

	if (!PgbgJobRefIsValid(ref) || pgbg_reg == NULL)
		return;
	pgbg_freed_init(&fl);
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	e = pgbg_jobs_entry(ref);
	if (e != NULL && pgbg_i_am_reader(e) &&
		(epoch == 0 || e->reader_epoch == epoch))
	{
		if (output == PGBG_OUTPUT_HELD && !e->holdable)
			output = PGBG_OUTPUT_DISCARDED;
		pgbg_drop_reader_locked(e, output, &fl);
	}
	LWLockRelease(&pgbg_anchor->lock);
	pgbg_freed_finish(&fl);
}

void
pgbg_jobs_set_output(PgbgJobRef ref, PgbgJobOutput output)
{
	PgbgJobEntry *e;
	PgbgFreedList fl;

	if (!PgbgJobRefIsValid(ref) || pgbg_reg == NULL)
		return;
	pgbg_freed_init(&fl);
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	e = pgbg_jobs_entry(ref);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		e->output = output;
		if (output == PGBG_OUTPUT_DISCARDED)
			e->discard_output = true;
		SpinLockRelease(&e->mutex);
		pgbg_entry_maybe_free_locked(e, &fl);
	}
	LWLockRelease(&pgbg_anchor->lock);
	pgbg_freed_finish(&fl);
}

void
pgbg_jobs_set_holdable(PgbgJobRef ref, bool holdable)
{
	PgbgJobEntry *e = pgbg_lock_live(ref);

	if (e == NULL)
		return;
	e->holdable = holdable && !e->submit;
	SpinLockRelease(&e->mutex);
}

/*
 * Session exit: every job this session reads loses its reader.  Output that
 * was being read is held for an attacher (or discarded, when it may not be
 * held); a launch that never got its worker is dropped.
 */
static void
pgbg_jobs_reader_exit(int code, Datum arg)
{
	PgbgFreedList fl;
	int			i;

	if (pgbg_reg == NULL || pgbg_anchor == NULL)
		return;
	/* an error while we held the lock left it to the abort we skip now */
	if (LWLockHeldByMe(&pgbg_anchor->lock))
		LWLockRelease(&pgbg_anchor->lock);
	pgbg_freed_init(&fl);
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	for (i = 0; i < pgbg_reg->max_jobs; i++)
	{
		PgbgJobEntry *e = pgbg_entry_at(i);

		if (e->generation == 0 || !pgbg_i_am_reader(e))
			continue;
		if (e->pid == 0 && e->state == PGBG_JOB_RUNNING)
			pgbg_entry_free_locked(e, &fl);
		else if (e->output == PGBG_OUTPUT_LIVE ||
				 e->output == PGBG_OUTPUT_ATTACHED)
			pgbg_drop_reader_locked(e, e->holdable ? PGBG_OUTPUT_HELD :
									PGBG_OUTPUT_DISCARDED, &fl);
		else
			pgbg_drop_reader_locked(e, e->output, &fl);
	}
	LWLockRelease(&pgbg_anchor->lock);
	pgbg_freed_finish(&fl);
}

/* ---------------------------------------------------------------------
 * Worker side
 * ---------------------------------------------------------------------
 */

void
pgbg_jobs_worker_begin(PgbgFixed *fixed)
{
	PgbgJobEntry *e;

	pgbg_worker_job.index = fixed->registry_index;
	pgbg_worker_job.generation = fixed->registry_generation;
	if (!PgbgJobRefIsValid(pgbg_worker_job))
		return;
	if (!pgbg_jobs_available())
	{
		pgbg_worker_job.generation = 0;
		return;
	}
	e = pgbg_lock_live(pgbg_worker_job);
	if (e == NULL)
		return;
	e->worker_proc = MyProc;
	SpinLockRelease(&e->mutex);
}

PgbgJobRef
pgbg_jobs_worker_ref(void)
{
	return pgbg_worker_job;
}

/* Registry lock held exclusively; the job ends with state. */
static void
pgbg_finish_locked(PgbgJobEntry *e, PgbgJobState state, const char *sqlstate,
				   const char *errmsg, PgbgFreedList *fl)
{
	struct PGPROC *reader = NULL;

	SpinLockAcquire(&e->mutex);
	if (e->state == PGBG_JOB_RUNNING)
	{
		e->state = state;
		e->finished_at = GetCurrentTimestamp();
		e->blocked = false;
		if (sqlstate != NULL)
			strlcpy(e->sqlstate, sqlstate, sizeof(e->sqlstate));
		if (errmsg != NULL)
			pgbg_copy_clipped(e->errmsg, errmsg, PGBG_ERRMSG_LEN);
		if (pgbg_reader_alive(e))
			reader = e->reader_proc;
	}
	SpinLockRelease(&e->mutex);
	if (reader != NULL)
		SetLatch(&reader->procLatch);
	pgbg_entry_maybe_free_locked(e, fl);
}

static PgbgJobState
pgbg_state_of_outcome(PgbgOutcome outcome)
{
	switch (outcome)
	{
		case PGBG_COMPLETED:
			return PGBG_JOB_COMPLETED;
		case PGBG_FAILED:
			return PGBG_JOB_ERROR;
		case PGBG_CANCELED:
			return PGBG_JOB_CANCELED;
		case PGBG_LOST:
			return PGBG_JOB_LOST;
		case PGBG_RUNNING:
			break;
	}
	return PGBG_JOB_RUNNING;
}

void
pgbg_jobs_worker_outcome(PgbgOutcome outcome, const char *sqlstate,
						 const char *errmsg)
{
	PgbgJobEntry *e;
	PgbgFreedList fl;

	if (!PgbgJobRefIsValid(pgbg_worker_job) || outcome == PGBG_RUNNING)
		return;
	pgbg_freed_init(&fl);
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	e = pgbg_jobs_entry(pgbg_worker_job);
	if (e != NULL)
		pgbg_finish_locked(e, pgbg_state_of_outcome(outcome), sqlstate,
						   errmsg, &fl);
	LWLockRelease(&pgbg_anchor->lock);
	pgbg_freed_finish(&fl);
}

void
pgbg_jobs_worker_progress(int32 pct, const char *msg)
{
	PgbgJobEntry *e = pgbg_jobs_entry(pgbg_worker_job);

	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	if (e->generation == pgbg_worker_job.generation)
	{
		e->progress_pct = pct;
		if (msg != NULL)
			pgbg_copy_clipped(e->progress_msg, msg, PGBG_PROGRESS_MSG_LEN);
		else
			e->progress_msg[0] = '\0';
	}
	SpinLockRelease(&e->mutex);
}

bool
pgbg_jobs_worker_cancel_requested(void)
{
	PgbgJobEntry *e = pgbg_lock_live(pgbg_worker_job);
	bool		requested;

	if (e == NULL)
		return false;
	requested = e->cancel_requested;
	SpinLockRelease(&e->mutex);
	return requested;
}

void
pgbg_jobs_worker_set_blocked(bool blocked)
{
	PgbgJobEntry *e = pgbg_lock_live(pgbg_worker_job);

	if (e == NULL)
		return;
	e->blocked = blocked;
	SpinLockRelease(&e->mutex);
}

/*
 * The worker exits.  A job still running had no chance to record its
 * outcome (FATAL, pg_terminate_backend, postmaster asking us to stop): it is
 * lost, or canceled if a cancel was asked, exactly as its launcher would
 * conclude from the status block.
 */
void
pgbg_jobs_worker_exit(void)
{
	PgbgJobEntry *e;
	PgbgFreedList fl;

	if (!PgbgJobRefIsValid(pgbg_worker_job) || pgbg_reg == NULL)
		return;
	if (LWLockHeldByMe(&pgbg_anchor->lock))
		LWLockRelease(&pgbg_anchor->lock);
	pgbg_freed_init(&fl);
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	e = pgbg_jobs_entry(pgbg_worker_job);
	if (e != NULL && e->state == PGBG_JOB_RUNNING)
	{
		bool		canceled = e->cancel_requested;

		if (pgbg_my_status != NULL)
		{
			SpinLockAcquire(&pgbg_my_status->mutex);
			canceled |= pgbg_my_status->cancel_requested;
			SpinLockRelease(&pgbg_my_status->mutex);
		}
		pgbg_finish_locked(e, canceled ? PGBG_JOB_CANCELED : PGBG_JOB_LOST,
						   NULL,
						   canceled ? "canceled" :
						   "worker exited without reporting a result",
						   &fl);
	}
	LWLockRelease(&pgbg_anchor->lock);
	pgbg_freed_finish(&fl);
	pgbg_worker_job.generation = 0;
	pgbg_jobs_sweep_if_due();
}

/* ---------------------------------------------------------------------
 * Counters, file mode, bounds
 * ---------------------------------------------------------------------
 */

void
pgbg_jobs_publish_produced(PgbgJobRef ref, int64 last_seq,
						   int64 rows_produced, int64 bytes_held)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);

	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation)
	{
		e->last_seq = last_seq;
		e->rows_produced = rows_produced;
		e->bytes_held = bytes_held;
	}
	SpinLockRelease(&e->mutex);
}

void
pgbg_jobs_publish_final(PgbgJobRef ref, int64 final_seq, bool synth_error)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);

	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation)
	{
		e->final_seq = final_seq;
		e->synth_error = synth_error;
	}
	SpinLockRelease(&e->mutex);
}

bool
pgbg_jobs_publish_acked(PgbgJobRef ref, uint32 epoch, int64 acked_seq,
						int64 rows_acked, pg_atomic_uint64 *status_acked)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	bool		mine = false;

	if (!PgbgJobRefIsValid(ref) || pgbg_reg == NULL)
	{
		/* no registry: nobody can take the job over */
		if (status_acked != NULL)
			pg_atomic_write_u64(status_acked, (uint64) acked_seq);
		return true;
	}
	if (e == NULL)
		return false;
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation && e->reader_epoch == epoch &&
		pgbg_i_am_reader(e))
	{
		mine = true;
		e->acked_seq = acked_seq;
		e->rows_acked = rows_acked;
		e->last_read_at = GetCurrentTimestamp();
		if (status_acked != NULL)
			pg_atomic_write_u64(status_acked, (uint64) acked_seq);
	}
	SpinLockRelease(&e->mutex);
	return mine;
}

bool
pgbg_jobs_output_discarded(PgbgJobRef ref)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	bool		discarded = true;

	if (!PgbgJobRefIsValid(ref) || pgbg_reg == NULL)
		return false;
	if (e == NULL)
		return true;
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation)
		discarded = e->discard_output;
	SpinLockRelease(&e->mutex);
	return discarded;
}

File
pgbg_jobs_create_held_file(PgbgJobRef ref, const char *path)
{
	PgbgJobEntry *e;
	File		file = -1;
	bool		live = false;

	if (!PgbgJobRefIsValid(ref) || pgbg_reg == NULL)
	{
		errno = 0;
		return -1;
	}

	/*
	 * Shared is enough: frees take the lock exclusively and unlink after
	 * releasing it, so a free either came first (we see the entry gone) or
	 * unlinks the file we made.
	 */
	LWLockAcquire(&pgbg_anchor->lock, LW_SHARED);
	e = pgbg_jobs_entry(ref);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		live = (e->generation == ref.generation && !e->discard_output);
		SpinLockRelease(&e->mutex);
	}
	errno = 0;
	if (live)
		file = PathNameOpenFile(path, O_RDWR | O_CREAT | O_TRUNC | PG_BINARY);
	LWLockRelease(&pgbg_anchor->lock);
	return file;
}

void
pgbg_jobs_set_truncated(PgbgJobRef ref)
{
	PgbgJobEntry *e = pgbg_lock_live(ref);

	if (e == NULL)
		return;
	e->truncated = true;
	SpinLockRelease(&e->mutex);
}

void
pgbg_jobs_enter_file_mode(PgbgJobRef ref, int64 w_off, int64 w_seq)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	struct PGPROC *reader = NULL;

	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation)
	{
		e->mode = PGBG_MODE_FILE;
		e->w_off = w_off;
		e->w_seq = w_seq;
		if (e->output == PGBG_OUTPUT_LIVE || e->output == PGBG_OUTPUT_ATTACHED ||
			e->output == PGBG_OUTPUT_HELD)
			e->output = pgbg_reader_alive(e) ? PGBG_OUTPUT_ATTACHED :
				PGBG_OUTPUT_HELD;
		if (pgbg_reader_alive(e))
			reader = e->reader_proc;
	}
	SpinLockRelease(&e->mutex);
	if (reader != NULL)
		SetLatch(&reader->procLatch);
}

void
pgbg_jobs_publish_write(PgbgJobRef ref, int64 w_off, int64 w_seq,
						int64 bytes_held)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	struct PGPROC *reader = NULL;

	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation)
	{
		e->w_off = w_off;
		e->w_seq = w_seq;
		e->bytes_held = bytes_held;
		if (pgbg_reader_alive(e))
			reader = e->reader_proc;
	}
	SpinLockRelease(&e->mutex);
	/* cheap when the reader is not sleeping */
	if (reader != NULL)
		SetLatch(&reader->procLatch);
}

PgbgJobMode
pgbg_jobs_read_position(PgbgJobRef ref, int64 *w_off, int64 *w_seq)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	PgbgJobMode mode = PGBG_MODE_QUEUE;

	*w_off = 0;
	*w_seq = 0;
	if (e == NULL)
		return mode;
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation)
	{
		mode = e->mode;
		*w_off = e->w_off;
		*w_seq = e->w_seq;
	}
	SpinLockRelease(&e->mutex);
	return mode;
}

static int64
pgbg_extents(int64 bytes)
{
	if (bytes <= 0)
		return 0;
	return ((bytes + PGBG_HELD_EXTENT - 1) / PGBG_HELD_EXTENT) * PGBG_HELD_EXTENT;
}

bool
pgbg_jobs_reserve(PgbgJobRef ref, int64 total_bytes)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	uint64		limit = (uint64) pgbg_max_held_mb * PGBG_HELD_EXTENT;
	int64		have;
	int64		want;
	uint64		cur;

	if (e == NULL)
		return false;
	SpinLockAcquire(&e->mutex);
	have = (e->generation == ref.generation) ? e->bytes_reserved : -1;
	SpinLockRelease(&e->mutex);
	if (have < 0)
		return false;
	want = pgbg_extents(total_bytes) - have;
	if (want <= 0)
		return true;

	/* first come, first served; nothing ever waits */
	cur = pg_atomic_read_u64(&pgbg_reg->held_bytes);
	for (;;)
	{
		if (cur + (uint64) want > limit)
			return false;
		if (pg_atomic_compare_exchange_u64(&pgbg_reg->held_bytes, &cur,
										   cur + (uint64) want))
			break;
	}
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation)
	{
		e->bytes_reserved += want;
		want = 0;
	}
	SpinLockRelease(&e->mutex);
	if (want > 0)
	{
		/* freed meanwhile: its reservation was returned without ours */
		pg_atomic_fetch_sub_u64(&pgbg_reg->held_bytes, (uint64) want);
		return false;
	}
	return true;
}

void
pgbg_jobs_release_reservation(PgbgJobRef ref, int64 keep_bytes)
{
	PgbgJobEntry *e = pgbg_jobs_entry(ref);
	int64		give = 0;

	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation)
	{
		int64		keep = pgbg_extents(keep_bytes);

		if (e->bytes_reserved > keep)
		{
			give = e->bytes_reserved - keep;
			e->bytes_reserved = keep;
		}
	}
	SpinLockRelease(&e->mutex);
	if (give > 0)
		pg_atomic_fetch_sub_u64(&pgbg_reg->held_bytes, (uint64) give);
}

int64
pgbg_jobs_held_bytes_total(void)
{
	if (pgbg_reg == NULL)
		return 0;
	return (int64) pg_atomic_read_u64(&pgbg_reg->held_bytes);
}

/* ---------------------------------------------------------------------
 * Retention: the lazy sweep (DESIGN 5.4)
 * ---------------------------------------------------------------------
 */

static void
pgbg_jobs_sweep(bool force)
{
	TimestampTz now;
	TimestampTz next;
	PgbgFreedList fl;
	int			i;
	int			freed = 0;

	if (pgbg_reg == NULL)
		return;
	now = GetCurrentTimestamp();
	if (!force &&
		(uint64) now < pg_atomic_read_u64(&pgbg_reg->next_sweep_at) &&
		pgbg_reg->sweep_retention == pgbg_held_output_retention)
		return;

	pgbg_freed_init(&fl);
	next = now + PGBG_SWEEP_MAX_US;
	LWLockAcquire(&pgbg_anchor->lock, LW_EXCLUSIVE);
	for (i = 0; i < pgbg_reg->max_jobs; i++)
	{
		PgbgJobEntry *e = pgbg_entry_at(i);
		TimestampTz expiry;

		if (e->generation == 0)
			continue;
		/* a launch whose launcher died before it got its worker */
		if (e->pid == 0 && e->state == PGBG_JOB_RUNNING)
		{
			if (!pgbg_reader_alive(e))
			{
				pgbg_entry_free_locked(e, &fl);
				freed++;
			}
			continue;
		}
		if (!pgbg_job_state_final(e->state) || pgbg_reader_alive(e))
			continue;
		expiry = pgbg_expiry(e);
		if (expiry <= now)
		{
			pgbg_entry_free_locked(e, &fl);
			freed++;
		}
		else if (expiry < next)
			next = expiry;
	}
	pgbg_reg->sweep_retention = pgbg_held_output_retention;
	pg_atomic_write_u64(&pgbg_reg->next_sweep_at, (uint64) next);
	LWLockRelease(&pgbg_anchor->lock);
	pgbg_freed_finish(&fl);
	if (freed > 0)
		ereport(pgbg_log_level,
				(errmsg_internal("pg_background: retention removed %d finished jobs",
								 freed)));
}

void
pgbg_jobs_sweep_if_due(void)
{
	if (!pgbg_jobs_available())
		return;
	pgbg_jobs_sweep(false);
}

/* ---------------------------------------------------------------------
 * Observers (DESIGN 3.3)
 * ---------------------------------------------------------------------
 */

/* Signal the worker of ref, if the postmaster still runs it as that job. */
static void
pgbg_signal_worker(PgbgJobRef ref, int sig)
{
	PgbgJobEntry copy;
	pid_t		pid;

	if (!pgbg_jobs_snapshot(ref, &copy) || !copy.bgw_valid ||
		copy.state != PGBG_JOB_RUNNING)
		return;

	/*
	 * The handle's generation check makes a recycled slot never match, and
	 * the PID must be the job's (an idle worker may have moved on to its
	 * session's next job only after this job's state became final).
	 */
	if (GetBackgroundWorkerPid((BackgroundWorkerHandle *) &copy.bgw, &pid) ==
		BGWH_STARTED && pid == copy.pid)
	{
		if (sig == SIGTERM)
			TerminateBackgroundWorker((BackgroundWorkerHandle *) &copy.bgw);
		else
			(void) kill(pid, sig);
	}
}

/* Poll until the job has a final state; false on timeout. */
static bool
pgbg_observer_wait_ref(PgbgJobRef ref, int32 pid, int64 timeout_ms,
					   bool detect_blocked)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		PgbgJobEntry copy;
		long		wait = PGBG_OBSERVER_POLL_MS;

		if (!pgbg_jobs_snapshot(ref, &copy) ||
			pgbg_job_state_final(copy.state))
			return true;		/* finished (a freed entry had finished) */
		if (detect_blocked && copy.blocked && !pgbg_i_am_reader(&copy))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pg_background worker %d cannot finish because its result queue is full",
							pid),
					 errdetail("The worker waits for its reader (session %d) to read its results.",
							   copy.reader_pid),
					 errhint("Read the results in that session, or attach with pg_background_attach_v2.")));
		if (timeout_ms >= 0)
		{
			int64		elapsed = (GetCurrentTimestamp() - start) / 1000;

			if (elapsed >= timeout_ms)
				return false;
			wait = (long) Min(wait, timeout_ms - elapsed);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

void
pgbg_jobs_observer_cancel(int32 pid, int64 cookie, int32 grace_ms)
{
	PgbgJobRef	ref;
	PgbgJobEntry *e;
	bool		running = false;

	pgbg_jobs_sweep_if_due();
	ref = pgbg_jobs_lookup(pid, cookie, false);
	e = pgbg_jobs_entry(ref);
	if (e == NULL)
		return;

	/*
	 * The flag first (the worker checks it before each statement, and when
	 * it catches the error decides "canceled" by it), then SIGINT, which it
	 * handles like a backend's query cancel: the semantics of
	 * pgbg_request_cancel.
	 */
	SpinLockAcquire(&e->mutex);
	if (e->generation == ref.generation && e->state == PGBG_JOB_RUNNING)
	{
		e->cancel_requested = true;
		running = true;
	}
	SpinLockRelease(&e->mutex);
	if (!running)
		return;
	pgbg_signal_worker(ref, SIGINT);

	if (grace_ms >= 0 && !pgbg_observer_wait_ref(ref, pid, grace_ms, false))
	{
		ereport(pgbg_log_level,
				(errmsg_internal("pg_background: terminating worker %d after %d ms grace",
								 pid, grace_ms)));
		pgbg_signal_worker(ref, SIGTERM);
	}
}

bool
pgbg_jobs_observer_wait(int32 pid, int64 cookie, int64 timeout_ms)
{
	PgbgJobRef	ref;

	pgbg_jobs_sweep_if_due();
	ref = pgbg_jobs_lookup(pid, cookie, false);
	return pgbg_observer_wait_ref(ref, pid, timeout_ms, true);
}

bool
pgbg_jobs_observer_progress(int32 pid, int64 cookie, int32 *pct, char *msg)
{
	PgbgJobRef	ref;
	PgbgJobEntry copy;

	pgbg_jobs_sweep_if_due();
	ref = pgbg_jobs_lookup(pid, cookie, false);
	*pct = -1;
	msg[0] = '\0';
	if (!pgbg_jobs_snapshot(ref, &copy) || copy.progress_pct < 0)
		return false;
	*pct = copy.progress_pct;
	strlcpy(msg, copy.progress_msg, PGBG_PROGRESS_MSG_LEN);
	return true;
}

/* ---------------------------------------------------------------------
 * pg_background_jobs_v2()
 * ---------------------------------------------------------------------
 */

#define PGBG_JOBS_NATTS 19

Datum
pg_background_jobs_v2(PG_FUNCTION_ARGS)
{
	static const Oid expected[PGBG_JOBS_NATTS] = {
		INT4OID, INT8OID, NAMEOID, NAMEOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
		TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, INT4OID,
		INT4OID, BOOLOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID
	};
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	PgbgJobEntry *copies;
	int			ncopies = 0;
	int			i;
	bool		all = superuser();
	Oid			me = GetUserId();

	pgbg_check_srf_context(fcinfo, false);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != PGBG_JOBS_NATTS)
		elog(ERROR, "pg_background_jobs_v2 must return %d columns", PGBG_JOBS_NATTS);
	for (i = 0; i < PGBG_JOBS_NATTS; i++)
	{
		if (TupleDescAttr(tupdesc, i)->atttypid != expected[i])
			elog(ERROR, "column %d of pg_background_jobs_v2 has the wrong type", i + 1);
	}

	pgbg_jobs_require();
	/* always: a listing is where retention is seen to work */
	pgbg_jobs_sweep(true);

	tupstore = pgbg_init_materialize(fcinfo, tupdesc);
	tupdesc = ((ReturnSetInfo *) fcinfo->resultinfo)->setDesc;

	/*
	 * Copy under the lock, look names up after.  nused cannot grow while we
	 * hold the lock (only an exclusive holder allocates).
	 */
	LWLockAcquire(&pgbg_anchor->lock, LW_SHARED);
	copies = palloc(sizeof(PgbgJobEntry) * Max(pgbg_reg->nused, 1));
	for (i = 0; i < pgbg_reg->max_jobs; i++)
	{
		PgbgJobEntry *e = pgbg_entry_at(i);

		/* a launch not yet started cannot be used by anyone yet */
		if (e->generation == 0 || e->pid == 0)
			continue;
		if (!all && e->owner != me)
			continue;
		SpinLockAcquire(&e->mutex);
		memcpy(&copies[ncopies], e, sizeof(PgbgJobEntry));
		SpinLockRelease(&e->mutex);
		ncopies++;
	}
	LWLockRelease(&pgbg_anchor->lock);

	for (i = 0; i < ncopies; i++)
	{
		PgbgJobEntry *c = &copies[i];
		Datum		values[PGBG_JOBS_NATTS];
		bool		nulls[PGBG_JOBS_NATTS];
		char	   *role = GetUserNameFromId(c->owner, true);
		char	   *dbname = get_database_name(c->database);
		NameData	rolename;
		NameData	datname;
		bool		reader = pgbg_reader_alive(c);

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int32GetDatum(c->pid);
		values[1] = Int64GetDatum(c->cookie);
		if (role != NULL)
		{
			namestrcpy(&rolename, role);
			values[2] = NameGetDatum(&rolename);
		}
		else
			nulls[2] = true;
		if (dbname != NULL)
		{
			namestrcpy(&datname, dbname);
			values[3] = NameGetDatum(&datname);
		}
		else
			nulls[3] = true;
		values[4] = TimestampTzGetDatum(c->launched_at);
		if (c->finished_at != 0)
			values[5] = TimestampTzGetDatum(c->finished_at);
		else
			nulls[5] = true;
		values[6] = CStringGetTextDatum(pgbg_job_state_name(c->state));
		values[7] = CStringGetTextDatum(pgbg_job_output_name(c->output));
		values[8] = Int64GetDatum(Max(c->rows_produced - c->rows_acked, 0));
		values[9] = Int64GetDatum(c->bytes_held);
		values[10] = Int64GetDatum(c->last_seq);
		values[11] = Int64GetDatum(c->acked_seq);
		if (reader)
			values[12] = Int32GetDatum(c->reader_pid);
		else
			nulls[12] = true;
		values[13] = Int32GetDatum(c->launcher_pid);
		values[14] = BoolGetDatum(c->truncated);
		if (pgbg_job_state_final(c->state) && !reader)
			values[15] = TimestampTzGetDatum(pgbg_expiry(c));
		else
			nulls[15] = true;
		values[16] = CStringGetTextDatum(c->preview);
		if (c->errmsg[0] != '\0')
			values[17] = CStringGetTextDatum(c->errmsg);
		else
			nulls[17] = true;
		if (c->sqlstate[0] != '\0')
			values[18] = CStringGetTextDatum(c->sqlstate);
		else
			nulls[18] = true;
		tuplestore_putvalues(tupstore, tupdesc, values, nulls);
	}
	pfree(copies);
	return (Datum) 0;
}
