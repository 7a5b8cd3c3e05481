/*-------------------------------------------------------------------------
 *
 * pgbg_held.c
 *		Held output: the file a durable job's output goes to once its reader
 *		has gone (DESIGN-durable-jobs.md, section 2.2), written by the
 *		worker and read by the session that attaches to the job.
 *
 * One file per job, base/pgsql_tmp/pgsql_tmp_pg_background/j<pid>_<cookie>
 * (pgbg_jobs_held_path), 0600.  Under base/pgsql_tmp the postmaster removes
 * it at every start and after a crash, base backups skip it, and the
 * registry unlinks it when the job's entry is freed.  It is opened with
 * PathNameOpenFile, not as a temporary file: temp_file_limit must not fail
 * the user's job inside our output path, and a temporary file's lifetime
 * follows a transaction or a DSM segment, ours the registry entry.  There
 * is no fsync: a crash removes the file anyway.
 *
 * Layout: a 64-byte header (PgbgHeldHeader), the columns frame of the
 * result set the file starts in (if any), then records [uint32 len][frame]
 * with frames byte for byte as on the queue, so one decoder serves both.
 *
 * The writer buffers 64 kB and writes when the buffer is full and at the
 * flush points the queue has (flush interval, end of statement, end of
 * job); after each write it publishes the readable size and the number of
 * the last message in it in the registry entry, which sets the reader's
 * latch.  Space is reserved before it is written, against the job's bound
 * (pg_background.max_held_bytes_per_job, captured at launch) and, in whole
 * extents, against the server's (pg_background.max_held_bytes).  At a bound
 * the job's output is cut (pgbg_held_truncate): one WARNING notice says so,
 * and nothing else is written; the job runs on and its outcome is reported
 * as usual.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pg_background.h"
#include "pgbg_durable.h"

#define PGBG_HELD_MAGIC		"PGBJ"
#define PGBG_HELD_VERSION	1
#define PGBG_HELD_BUFFER	(64 * 1024)
#define PGBG_HELD_READ		(256 * 1024)

typedef struct PgbgHeldHeader
{
	char		magic[4];
	uint32		version;
	int32		pid;
	int32		stmt_no;		/* statements completed before first_seq */
	int64		cookie;
	int64		first_seq;		/* number of the first message of the first
								 * record */
	int64		columns_seq;	/* that columns frame's number */
	uint32		columns_len;	/* bytes of the columns frame after the
								 * header (0: not inside a result set) */
	char		unused[20];
} PgbgHeldHeader;

StaticAssertDecl(sizeof(PgbgHeldHeader) == 64, "held file header is 64 bytes");

/* ---- writer (worker) ---- */

typedef struct PgbgHeldWriter
{
	File		file;			/* -1: none */
	bool		published;		/* entered file mode in the registry */
	bool		truncated;
	off_t		written;		/* bytes in the file */
	StringInfoData buf;			/* bytes not written yet */
	int64		buf_seq;		/* last message in written + buf */
	int64		w_seq;			/* last message in written */
	int64		covered;		/* bytes the server-wide reservation covers */
	PgbgJobRef	ref;
} PgbgHeldWriter;

static PgbgHeldWriter pgbg_hw = {.file = -1};
static bool pgbg_hw_exit_hook = false;

static void
pgbg_held_at_exit(int code, Datum arg)
{
	/* a FATAL error frame must reach the reader too */
	if (pgbg_hw.file >= 0)
		pgbg_held_publish(true);
}

/* Write the buffer; false on an I/O error (errno set). */
static bool
pgbg_held_write_buffer(void)
{
	int			rc;

	if (pgbg_hw.buf.len == 0)
		return true;
	errno = 0;
	rc = FileWrite(pgbg_hw.file, pgbg_hw.buf.data, pgbg_hw.buf.len,
				   pgbg_hw.written, PG_WAIT_EXTENSION);
	if (rc != pgbg_hw.buf.len)
	{
		if (rc >= 0 && errno == 0)
			errno = ENOSPC;		/* a short write: the disk is full */
		/* what was written of it is not readable: take it back */
		(void) FileTruncate(pgbg_hw.file, pgbg_hw.written, PG_WAIT_EXTENSION);
		return false;
	}
	pgbg_hw.written += pgbg_hw.buf.len;
	pgbg_hw.w_seq = pgbg_hw.buf_seq;
	resetStringInfo(&pgbg_hw.buf);
	return true;
}

/*
 * Start the file: the header, with the result set it starts in.  Never
 * raises an error (it runs inside the output path, possibly while an error
 * is being reported): false if the file cannot be made, and the output is
 * given up as without durability.
 */
bool
pgbg_held_begin(int64 first_seq, int32 stmt_no, int64 columns_seq,
				const char *columns, int columns_len)
{
	char		path[MAXPGPATH];
	PgbgHeldHeader hdr;

	pgbg_hw.ref = pgbg_jobs_worker_ref();
	if (!PgbgJobRefIsValid(pgbg_hw.ref))
		return false;
	if (pgbg_hw.buf.data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&pgbg_hw.buf);
		enlargeStringInfo(&pgbg_hw.buf, PGBG_HELD_BUFFER);
		MemoryContextSwitchTo(oldcxt);
	}
	resetStringInfo(&pgbg_hw.buf);
	pgbg_hw.published = false;
	pgbg_hw.truncated = false;
	pgbg_hw.written = 0;
	pgbg_hw.covered = 0;
	pgbg_hw.w_seq = pgbg_hw.buf_seq = first_seq - 1;

	/* base/pgsql_tmp is made on demand by fd.c, so it may be missing */
	(void) MakePGDirectory("base/" PG_TEMP_FILES_DIR);
	(void) MakePGDirectory(PGBG_HELD_DIR);
	pgbg_jobs_held_path(MyProcPid, pgbg_my_fixed->cookie, path);
	pgbg_hw.file = pgbg_jobs_create_held_file(pgbg_hw.ref, path);
	if (pgbg_hw.file < 0 && errno == 0)
		return false;			/* freed (retention, eviction) or discarded */
	if (pgbg_hw.file < 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("pg_background worker %d could not create \"%s\", its output is discarded: %m",
						MyProcPid, path)));
		return false;
	}
	if (!pgbg_hw_exit_hook)
	{
		before_shmem_exit(pgbg_held_at_exit, (Datum) 0);
		pgbg_hw_exit_hook = true;
	}

	memset(&hdr, 0, sizeof(hdr));
	memcpy(hdr.magic, PGBG_HELD_MAGIC, 4);
	hdr.version = PGBG_HELD_VERSION;
	hdr.pid = MyProcPid;
	hdr.cookie = pgbg_my_fixed->cookie;
	hdr.first_seq = first_seq;
	hdr.stmt_no = stmt_no;
	hdr.columns_seq = columns_seq;
	hdr.columns_len = (uint32) columns_len;
	appendBinaryStringInfo(&pgbg_hw.buf, (const char *) &hdr, sizeof(hdr));
	if (columns_len > 0)
		appendBinaryStringInfo(&pgbg_hw.buf, columns, columns_len);
	return true;
}

/*
 * Append one numbered frame (last_seq: its last message).  Reserves first;
 * at a bound nothing is written and the reason is returned.
 */
PgbgHeldResult
pgbg_held_write(const char *frame, Size len, int64 last_seq)
{
	uint32		len32 = (uint32) len;
	int64		total;

	if (pgbg_hw.file < 0 || pgbg_hw.truncated)
		return PGBG_HELD_FAILED;
	total = (int64) pgbg_hw.written + pgbg_hw.buf.len + sizeof(len32) + len;
	if (total > pgbg_my_fixed->held_limit)
		return PGBG_HELD_JOB_LIMIT;
	if (total > pgbg_hw.covered)
	{
		if (!pgbg_jobs_reserve(pgbg_hw.ref, total))
			return PGBG_HELD_SERVER_LIMIT;
		pgbg_hw.covered = (total + PGBG_HELD_EXTENT - 1) / PGBG_HELD_EXTENT *
			PGBG_HELD_EXTENT;
	}
	if (pgbg_hw.buf.len > 0 &&
		pgbg_hw.buf.len + sizeof(len32) + len > PGBG_HELD_BUFFER &&
		!pgbg_held_write_buffer())
		return PGBG_HELD_NO_SPACE;
	appendBinaryStringInfo(&pgbg_hw.buf, (const char *) &len32, sizeof(len32));
	appendBinaryStringInfo(&pgbg_hw.buf, frame, len);
	pgbg_hw.buf_seq = last_seq;
	if (pgbg_hw.buf.len >= PGBG_HELD_BUFFER && !pgbg_held_write_buffer())
		return PGBG_HELD_NO_SPACE;
	return PGBG_HELD_OK;
}

/*
 * Write what is buffered and tell the reader how far it may read.  With
 * force false only when there is something new.
 */
void
pgbg_held_publish(bool force)
{
	if (pgbg_hw.file < 0)
		return;
	if (!pgbg_held_write_buffer())
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("pg_background worker %d could not write its held output: %m",
						MyProcPid)));
		resetStringInfo(&pgbg_hw.buf);
	}
	if (!pgbg_hw.published)
	{
		pgbg_jobs_enter_file_mode(pgbg_hw.ref, pgbg_hw.written, pgbg_hw.w_seq);
		pgbg_hw.published = true;
	}
	else if (force || pgbg_hw.written > 0)
		pgbg_jobs_publish_write(pgbg_hw.ref, pgbg_hw.written, pgbg_hw.w_seq,
								pgbg_hw.written);
}

/*
 * The output is cut at a bound: one WARNING notice with the message number
 * seq says so (its few hundred bytes are the only overshoot allowed), the
 * file is published as it is, and the job is flagged truncated.
 */
void
pgbg_held_truncate(PgbgHeldResult why, int64 seq)
{
	StringInfoData n;
	char		limit[64];
	const char *sqlstate = (why == PGBG_HELD_NO_SPACE) ? "53100" : "53400";
	char	   *msg;
	uint32		len32;

	if (pgbg_hw.file < 0 || pgbg_hw.truncated)
		return;
	if (why == PGBG_HELD_JOB_LIMIT)
		snprintf(limit, sizeof(limit),
				 "pg_background.max_held_bytes_per_job (" INT64_FORMAT " kB)",
				 pgbg_my_fixed->held_limit / 1024);
	else if (why == PGBG_HELD_SERVER_LIMIT)
		snprintf(limit, sizeof(limit), "pg_background.max_held_bytes (%d MB)",
				 pgbg_max_held_mb);
	else
		snprintf(limit, sizeof(limit), "the disk space for held output");
	msg = psprintf("output of pg_background worker %d exceeded %s; the rest of its output is discarded",
				   MyProcPid, limit);

	/* a notice as elog.c would send it (pq_parse_errornotice reads it) */
	initStringInfo(&n);
	appendStringInfoChar(&n, PGBG_MSG_NOTICE);
	appendStringInfoChar(&n, PG_DIAG_SEVERITY);
	appendBinaryStringInfo(&n, "WARNING", 8);
	appendStringInfoChar(&n, PG_DIAG_SEVERITY_NONLOCALIZED);
	appendBinaryStringInfo(&n, "WARNING", 8);
	appendStringInfoChar(&n, PG_DIAG_SQLSTATE);
	appendBinaryStringInfo(&n, sqlstate, 6);
	appendStringInfoChar(&n, PG_DIAG_MESSAGE_PRIMARY);
	appendBinaryStringInfo(&n, msg, strlen(msg) + 1);
	appendStringInfoChar(&n, PG_DIAG_MESSAGE_DETAIL);
	appendStringInfoString(&n, "The job keeps running; its outcome is reported as usual.");
	appendStringInfoChar(&n, '\0');
	appendStringInfoChar(&n, '\0');

	len32 = (uint32) n.len;
	appendBinaryStringInfo(&pgbg_hw.buf, (const char *) &len32, sizeof(len32));
	appendBinaryStringInfo(&pgbg_hw.buf, n.data, n.len);
	pgbg_hw.buf_seq = seq;
	pgbg_hw.truncated = true;
	pfree(n.data);
	pfree(msg);

	SpinLockAcquire(&pgbg_my_status->mutex);
	pgbg_my_status->truncated = true;
	SpinLockRelease(&pgbg_my_status->mutex);
	pgbg_jobs_set_truncated(pgbg_hw.ref);
	pgbg_held_publish(true);
}

/*
 * Has the reader released the job since the file was started (detach_v2 of
 * an attached handle)?  One spinlocked read, at flush points.
 */
bool
pgbg_held_discarded(void)
{
	return pgbg_hw.file >= 0 && pgbg_jobs_output_discarded(pgbg_hw.ref);
}

/*
 * Nobody will read the file: empty it and give its reservation back; the
 * free of the entry unlinks it.  The output is given up by the caller.
 */
void
pgbg_held_discard(void)
{
	if (pgbg_hw.file < 0)
		return;
	(void) FileTruncate(pgbg_hw.file, 0, PG_WAIT_EXTENSION);
	FileClose(pgbg_hw.file);
	pgbg_hw.file = -1;
	pgbg_hw.written = 0;
	pgbg_hw.covered = 0;
	resetStringInfo(&pgbg_hw.buf);
	pgbg_jobs_release_reservation(pgbg_hw.ref, 0);
}

/* Bytes of the held file (jobs_v2's bytes_held). */
int64
pgbg_held_bytes(void)
{
	return (int64) pgbg_hw.written + pgbg_hw.buf.len;
}

/* The job is over: everything is readable; the file stays for the reader. */
void
pgbg_held_end(void)
{
	if (pgbg_hw.file < 0)
		return;
	pgbg_held_publish(true);
	FileClose(pgbg_hw.file);
	pgbg_hw.file = -1;
	/* the reservation shrinks to what the file holds */
	pgbg_jobs_release_reservation(pgbg_hw.ref, pgbg_hw.written);
}

/* ---- reader (the attached session) ---- */

struct PgbgHeldReader
{
	File		file;			/* -1 until opened */
	off_t		off;			/* next byte of the file to read */
	StringInfoData buf;			/* read, not returned yet: [cursor, len) */
	bool		have_header;
};

PgbgHeldReader *
pgbg_held_reader_create(MemoryContext cxt)
{
	PgbgHeldReader *r = MemoryContextAllocZero(cxt, sizeof(PgbgHeldReader));
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

	r->file = -1;
	initStringInfo(&r->buf);
	MemoryContextSwitchTo(oldcxt);
	return r;
}

void
pgbg_held_reader_close(PgbgHeldReader *r)
{
	if (r != NULL && r->file >= 0)
	{
		FileClose(r->file);
		r->file = -1;
	}
}

/* Read up to w_off more bytes into the buffer; false when nothing came. */
static bool
pgbg_held_read_more(PgbgJobHandle *job, PgbgHeldReader *r, int64 w_off)
{
	int			want;
	int			rc;

	if (r->file < 0)
	{
		char		path[MAXPGPATH];

		pgbg_jobs_held_path(job->key.pid, job->key.cookie, path);
		r->file = PathNameOpenFile(path, O_RDONLY | PG_BINARY);
		if (r->file < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open the held output of pg_background worker %d: %m",
							job->key.pid)));
	}
	/* what was returned is gone: the caller's message was valid until now */
	if (r->buf.cursor > 0)
	{
		memmove(r->buf.data, r->buf.data + r->buf.cursor,
				r->buf.len - r->buf.cursor);
		r->buf.len -= r->buf.cursor;
		r->buf.cursor = 0;
	}
	want = (int) Min(w_off - r->off, (int64) PGBG_HELD_READ);
	enlargeStringInfo(&r->buf, want);
	rc = FileRead(r->file, r->buf.data + r->buf.len, want, r->off,
				  PG_WAIT_EXTENSION);
	if (rc < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the held output of pg_background worker %d: %m",
						job->key.pid)));
	r->buf.len += rc;
	r->buf.data[r->buf.len] = '\0';
	r->off += rc;
	return rc > 0;
}

/*
 * The header: where numbering, statements and the result set stand at the
 * file's first record.  The columns frame, if any, is returned in *columns
 * (palloc'd; NULL if none).
 */
static void
pgbg_held_take_header(PgbgJobHandle *job, PgbgHeldReader *r)
{
	PgbgHeldHeader hdr;

	memcpy(&hdr, r->buf.data + r->buf.cursor, sizeof(hdr));
	if (memcmp(hdr.magic, PGBG_HELD_MAGIC, 4) != 0 ||
		hdr.version != PGBG_HELD_VERSION || hdr.pid != job->key.pid ||
		hdr.cookie != job->key.cookie)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("held output of pg_background worker %d has a bad header",
						job->key.pid)));
	r->buf.cursor += sizeof(hdr);
	pgbg_attached_start(job, hdr.first_seq, hdr.stmt_no, hdr.columns_seq,
						hdr.columns_len > 0 ? r->buf.data + r->buf.cursor : NULL,
						(int) hdr.columns_len);
	r->buf.cursor += hdr.columns_len;
	r->have_header = true;
}

/*
 * pgbg_receive() for an attached job: the next record of its file, waiting
 * up to timeout_ms (0: not at all, -1: as long as it takes) for one.
 * PGBG_RECV_DETACHED when the job has ended and everything was read.
 */
PgbgRecv
pgbg_held_receive(PgbgJobHandle *job, long timeout_ms, StringInfo msg)
{
	PgbgHeldReader *r = job->held;
	TimestampTz start = 0;

	for (;;)
	{
		int64		w_off;
		int64		w_seq;
		PgbgJobMode mode;
		int			avail = r->buf.len - r->buf.cursor;
		long		wait = 100;

		if (!r->have_header && avail >= (int) sizeof(PgbgHeldHeader))
		{
			uint32		clen;

			memcpy(&clen, r->buf.data + r->buf.cursor +
				   offsetof(PgbgHeldHeader, columns_len), sizeof(clen));
			if (avail >= (int) (sizeof(PgbgHeldHeader) + clen))
			{
				pgbg_held_take_header(job, r);
				continue;
			}
		}
		if (r->have_header && avail >= (int) sizeof(uint32))
		{
			uint32		len;

			memcpy(&len, r->buf.data + r->buf.cursor, sizeof(len));
			if (avail >= (int) (sizeof(uint32) + len))
			{
				msg->data = r->buf.data + r->buf.cursor + sizeof(uint32);
				msg->len = (int) len;
				msg->maxlen = (int) len;
				msg->cursor = 0;
				r->buf.cursor += sizeof(uint32) + len;
				return PGBG_RECV_MESSAGE;
			}
		}

		/* taken over while we waited: nothing more is ours to read */
		pgbg_jobs_check_reader(pgbg_handle_ref(job), job->reader_epoch);
		mode = pgbg_jobs_read_position(pgbg_handle_ref(job), &w_off, &w_seq);
		if (mode == PGBG_MODE_FILE && r->off < w_off)
		{
			if (pgbg_held_read_more(job, r, w_off))
				continue;
		}
		else if (pgbg_attached_finished(job))
		{
			/* the worker publishes its last write before its outcome */
			mode = pgbg_jobs_read_position(pgbg_handle_ref(job), &w_off, &w_seq);
			if (mode != PGBG_MODE_FILE || r->off >= w_off)
				return PGBG_RECV_DETACHED;
			continue;
		}

		if (timeout_ms == 0)
			return PGBG_RECV_EMPTY;
		if (timeout_ms > 0)
		{
			TimestampTz now = GetCurrentTimestamp();

			if (start == 0)
				start = now;
			wait = Min(wait, timeout_ms - (long) ((now - start) / 1000));
			if (wait <= 0)
				return PGBG_RECV_EMPTY;
		}
		/* the worker sets our latch when it publishes; outcomes do not */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait, PGBG_WAIT_EVENT_RECEIVE);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
