/*-------------------------------------------------------------------------
 *
 * pgbg_durable.h
 *		Durable jobs (issue 11): the held-output file (pgbg_held.c), and
 *		handles attached to a job of another session (pgbg_registry.c,
 *		pgbg_fetch.c).  Separate from pg_background.h because it needs the
 *		server-wide registry's types (pgbg_jobs.h), which need that one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBG_DURABLE_H
#define PGBG_DURABLE_H

#include "pg_background.h"
#include "pgbg_jobs.h"

/* The registry entry a handle names (invalid when there is none). */
static inline PgbgJobRef
pgbg_handle_ref(const PgbgJobHandle *job)
{
	PgbgJobRef	ref;

	ref.index = job->reg_index;
	ref.generation = job->reg_generation;
	return ref;
}

/* pgbg_held.c, worker */
typedef enum PgbgHeldResult
{
	PGBG_HELD_OK,
	PGBG_HELD_JOB_LIMIT,		/* pg_background.max_held_bytes_per_job */
	PGBG_HELD_SERVER_LIMIT,		/* pg_background.max_held_bytes */
	PGBG_HELD_NO_SPACE,			/* the disk */
	PGBG_HELD_FAILED			/* no file */
} PgbgHeldResult;

extern bool pgbg_held_begin(int64 first_seq, int32 stmt_no, int64 columns_seq,
							const char *columns, int columns_len);
extern PgbgHeldResult pgbg_held_write(const char *frame, Size len,
									  int64 last_seq);
extern void pgbg_held_publish(bool force);
extern void pgbg_held_truncate(PgbgHeldResult why, int64 seq);
extern void pgbg_held_end(void);
extern int64 pgbg_held_bytes(void);
extern bool pgbg_held_discarded(void);
extern void pgbg_held_discard(void);

/* pgbg_held.c, reader */
extern PgbgHeldReader *pgbg_held_reader_create(MemoryContext cxt);
extern void pgbg_held_reader_close(PgbgHeldReader *r);
extern PgbgRecv pgbg_held_receive(PgbgJobHandle *job, long timeout_ms,
								  StringInfo msg);

/* pgbg_registry.c: attached handles */
extern PgbgJobHandle *pgbg_attach(int32 pid, int64 cookie, bool has_after,
								  int64 after_seq, bool takeover,
								  PgbgJobEntry *snapshot);
extern void pgbg_attached_start(PgbgJobHandle *job, int64 first_seq,
								int32 stmt_no, int64 columns_seq,
								const char *columns, int columns_len);
extern bool pgbg_attached_finished(PgbgJobHandle *job);

/* pgbg_fetch.c */
extern char *pgbg_fetch_replay_json(const char *frame, int len);

#endif							/* PGBG_DURABLE_H */
