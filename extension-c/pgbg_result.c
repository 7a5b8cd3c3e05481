/*-------------------------------------------------------------------------
 *
 * pgbg_result.c
 *		pg_background_result / pg_background_result_v2: all rows of all
 *		statements of a job, converted to the caller's column types with
 *		their input functions.
 *
 * A statement without a result set contributes its command tag (which needs
 * a single-column definition list, e.g. AS (result text)).  Notices are
 * re-raised as they arrive, the worker's error at the end.  The handle is
 * released when the read returns or fails, so results can be read only
 * once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "pg_background.h"

/* What reading one job's results into the caller's row type needs. */
typedef struct PgbgResultReader
{
	PgbgJobHandle *job;
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	int			natts;
	FmgrInfo   *finfo;			/* input functions */
	Oid		   *typioparams;
	Datum	   *values;
	bool	   *nulls;
	bool		tag_wanted;		/* command tags become rows */
	bool		have_columns;	/* the current statement has a result set */
	StringInfoData cstr;		/* a value, NUL-terminated */
	ErrorData  *worker_error;	/* the error that ended the job */
} PgbgResultReader;

/*
 * The queue ended without a final message: the worker either gave up its
 * output (interrupted mid-message) after recording an outcome, or died
 * without reporting.  Raise accordingly; return only if it completed.
 */
static void
pgbg_raise_from_status(PgbgJobHandle *job)
{
	PgbgStatus	st;
	PgbgOutcome outcome = pgbg_outcome_after_queue(job, &st);

	if (outcome == PGBG_COMPLETED)
		return;
	if (pgbg_status_errcode(&st) != 0)
		ereport(ERROR,
				(errcode(pgbg_status_errcode(&st)),
				 errmsg_internal("%s", st.errmsg)));
	if (outcome == PGBG_CANCELED)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("pg_background worker %d was terminated after a cancel request",
						job->key.pid)));
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("pg_background worker %d exited without reporting a result",
					job->key.pid),
			 errhint("It may have been terminated; see the server log.")));
}

/*
 * Values reach result_v2 as text and go through the declared type's input
 * function.  Most pseudo-types have one that always fails ("cannot accept a
 * value of type internal", an anonymous record): refuse them before any
 * message is read, so that the handle and all its results stay there for a
 * corrected call or for fetch_v2.
 */
static void
pgbg_check_result_type(Oid typid, int attno)
{
	if (get_typtype(typid) != TYPTYPE_PSEUDO || typid == VOIDOID ||
		typid == CSTRINGOID || typid == UNKNOWNOID)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column %d of the column definition list has type %s, which cannot hold a pg_background result",
					attno, format_type_be(typid)),
			 errdetail("Results are converted from their text form with the input function of the declared type."),
			 errhint("Declare the column as text or as the type the job returns; nothing has been read yet.")));
}

/*
 * Look up the input functions of the caller's columns, in per-query memory.
 *
 * A statement without a result set (INSERT, CREATE, VACUUM, ...) yields its
 * command tag as a row, as in the original pg_background, but only when the
 * column definition list is a single string column, e.g. AS (result text);
 * otherwise tags are skipped, so that a job such as "UPDATE ...; SELECT
 * count(*) ..." can be read AS (n bigint).
 */
static void
pgbg_result_reader_init(PgbgResultReader *rr, PgbgJobHandle *job,
						Tuplestorestate *tupstore, TupleDesc tupdesc,
						MemoryContext query_cxt)
{
	MemoryContext oldcxt;
	int			natts = tupdesc->natts;
	int			i;

	memset(rr, 0, sizeof(PgbgResultReader));
	rr->job = job;
	rr->tupstore = tupstore;
	rr->tupdesc = tupdesc;
	rr->natts = natts;

	oldcxt = MemoryContextSwitchTo(query_cxt);
	rr->finfo = palloc0(sizeof(FmgrInfo) * Max(natts, 1));
	rr->typioparams = palloc0(sizeof(Oid) * Max(natts, 1));
	rr->values = palloc0(sizeof(Datum) * Max(natts, 1));
	rr->nulls = palloc0(sizeof(bool) * Max(natts, 1));
	for (i = 0; i < natts; i++)
	{
		Oid			typid = TupleDescAttr(tupdesc, i)->atttypid;
		Oid			infunc;

		pgbg_check_result_type(typid, i + 1);
		getTypeInputInfo(typid, &infunc, &rr->typioparams[i]);
		fmgr_info(infunc, &rr->finfo[i]);
	}
	MemoryContextSwitchTo(oldcxt);

	rr->tag_wanted = (natts == 1 &&
					  TypeCategory(TupleDescAttr(tupdesc, 0)->atttypid) == TYPCATEGORY_STRING);
	initStringInfo(&rr->cstr);
}

static void
pgbg_result_columns(PgbgResultReader *rr, PgbgMessage *m)
{
	if (m->natts != rr->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query result rowtype does not match the specified FROM clause rowtype"),
				 errdetail("The worker's result has %d columns, the column definition list %d.",
						   m->natts, rr->natts)));
	rr->have_columns = true;
}

static void
pgbg_result_row(PgbgResultReader *rr, PgbgMessage *m)
{
	int			i;

	if (m->natts != rr->natts)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("remote query result rowtype does not match the specified FROM clause rowtype")));
	for (i = 0; i < rr->natts; i++)
	{
		char	   *str = NULL;

		/*
		 * textin() is cstring_to_text(): make the datum from the message
		 * directly, without the NUL-terminated copy and its strlen.
		 */
		if (m->lengths[i] >= 0 && rr->finfo[i].fn_oid == F_TEXTIN)
		{
			rr->values[i] = PointerGetDatum(cstring_to_text_with_len(m->values[i],
																	 m->lengths[i]));
			rr->nulls[i] = false;
			continue;
		}
		if (m->lengths[i] >= 0)
		{
			resetStringInfo(&rr->cstr);
			appendBinaryStringInfo(&rr->cstr, m->values[i], m->lengths[i]);
			str = rr->cstr.data;
		}
		/* NULLs too go through the input function (domains) */
		rr->values[i] = InputFunctionCall(&rr->finfo[i], str,
										  rr->typioparams[i],
										  TupleDescAttr(rr->tupdesc, i)->atttypmod);
		rr->nulls[i] = (str == NULL);
	}
	tuplestore_putvalues(rr->tupstore, rr->tupdesc, rr->values, rr->nulls);
}

static void
pgbg_result_command(PgbgResultReader *rr, PgbgMessage *m)
{
	if (!rr->have_columns && rr->tag_wanted)
	{
		rr->values[0] = InputFunctionCall(&rr->finfo[0], (char *) m->tag,
										  rr->typioparams[0],
										  TupleDescAttr(rr->tupdesc, 0)->atttypmod);
		rr->nulls[0] = false;
		tuplestore_putvalues(rr->tupstore, rr->tupdesc, rr->values, rr->nulls);
	}
	rr->have_columns = false;
}

/*
 * An error message from the worker.  Its ErrorData was decoded where it
 * survives the release of the handle; it is raised once the read is over.
 */
static void
pgbg_result_error(PgbgResultReader *rr, PgbgMessage *m)
{
	ErrorData  *edata = m->edata;

	if (edata->elevel < ERROR)
	{
		ThrowErrorData(edata);
		return;
	}

	/*
	 * The worker's FATAL (e.g. it was terminated) ended the worker, not this
	 * session: re-raise as ERROR.
	 */
	edata->elevel = ERROR;
	rr->worker_error = edata;
	pgbg_note_outcome(rr->job, pgbg_error_outcome(rr->job, edata),
					  edata->message);
}

/*
 * Handle one decoded message.  Returns true when it ended the stream.
 */
static bool
pgbg_result_handle(PgbgResultReader *rr, PgbgDecoder *d, StringInfo raw,
				   PgbgMessage *m)
{
	PgbgJobHandle *job = rr->job;
	bool		skip;

	if (m->kind == PGBG_MSG_COMMAND || m->kind == PGBG_MSG_DONE)
		pgbg_check_seq(job, m);
	if (m->kind != PGBG_MSG_ROWS)
		job->recv_seq++;

	/*
	 * Messages up to skip_to the reader has already (an attach with
	 * after_seq): counted, not returned again.
	 */
	skip = (job->recv_seq <= job->skip_to);
	switch (m->kind)
	{
		case PGBG_MSG_COLUMNS:
			pgbg_result_columns(rr, m);
			break;
		case PGBG_MSG_ROW:
			if (skip)
				break;
			job->rows_acked++;
			pgbg_result_row(rr, m);
			break;
		case PGBG_MSG_ROWS:
			while (pgbg_decode_next_row(d, raw, m))
			{
				if (++job->recv_seq <= job->skip_to)
					continue;
				job->rows_acked++;	/* acknowledged on receipt */
				pgbg_result_row(rr, m);
			}
			break;
		case PGBG_MSG_COMMAND:
			if (skip)
				rr->have_columns = false;
			else
				pgbg_result_command(rr, m);
			break;
		case PGBG_MSG_NOTICE:
			if (!skip)
				ThrowErrorData(m->edata);
			break;
		case PGBG_MSG_ERROR:
			pgbg_result_error(rr, m);
			return rr->worker_error != NULL;
		case PGBG_MSG_DONE:
			pgbg_note_outcome(rr->job, PGBG_COMPLETED, NULL);
			return true;
		default:
			pgbg_unexpected_message(m->kind);
	}
	return false;
}

/* Read until the job's final message, or until its queue ends. */
static void
pgbg_result_read_all(PgbgResultReader *rr, MemoryContext query_cxt)
{
	MemoryContext rowcxt;
	PgbgDecoder decoder;

	rowcxt = AllocSetContextCreate(CurrentMemoryContext,
								   "pg_background result row",
								   ALLOCSET_DEFAULT_SIZES);
	pgbg_decoder_init(&decoder, CurrentMemoryContext, query_cxt);
	for (;;)
	{
		StringInfoData raw;
		PgbgMessage m;
		MemoryContext oldcxt;
		bool		end;

		if (pgbg_receive(rr->job, -1, &raw) == PGBG_RECV_DETACHED)
		{
			pgbg_raise_from_status(rr->job);
			break;
		}
		MemoryContextReset(rowcxt);
		oldcxt = MemoryContextSwitchTo(rowcxt);
		pgbg_decode(&decoder, &raw, &m);
		end = pgbg_result_handle(rr, &decoder, &raw, &m);
		MemoryContextSwitchTo(oldcxt);
		if (end)
			break;
	}
	MemoryContextDelete(rowcxt);
}

void
pgbg_materialize_result(PgbgJobHandle *job, FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext query_cxt;
	Tuplestorestate *tupstore;
	PgbgResultReader rr;
	ErrorContextCallback errcb;
	ErrorData  *worker_error;
	int32		pid = job->key.pid;

	pgbg_check_srf_context(fcinfo, true);
	if (job->submit_mode)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_background worker %d has no results", pid),
				 errdetail("It was started with pg_background_submit_v2, which discards results."),
				 errhint("Use pg_background_wait_v2 or pg_background_fetch_v2 to learn its outcome.")));
	if (job->consumed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("results of pg_background worker %d are already being read", pid),
				 errhint("Continue with pg_background_fetch_v2, or release the handle with pg_background_detach_v2.")));

	query_cxt = rsinfo->econtext->ecxt_per_query_memory;
	tupstore = pgbg_init_materialize(fcinfo, rsinfo->expectedDesc);
	pgbg_result_reader_init(&rr, job, tupstore, rsinfo->setDesc, query_cxt);
	job->consumed = true;
	/* read once, at most once: what arrives is acknowledged at once */
	job->ack_on_receipt = true;
	pgbg_push_error_context(job, &errcb);

	PG_TRY();
	{
		pgbg_result_read_all(&rr, query_cxt);
	}
	PG_CATCH();
	{
		pgbg_release(job, PGBG_RELEASED_CONSUMED);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/*
	 * A position in the worker's error refers to the worker's SQL, not to
	 * our caller's query: report it as an internal query position, which
	 * clients display against the text we attach.
	 */
	worker_error = rr.worker_error;
	if (worker_error != NULL && worker_error->cursorpos > 0 &&
		worker_error->internalquery == NULL && job->sql != NULL)
	{
		worker_error->internalquery = MemoryContextStrdup(query_cxt, job->sql);
		worker_error->internalpos = worker_error->cursorpos;
		worker_error->cursorpos = 0;
	}

	pgbg_release(job, PGBG_RELEASED_CONSUMED);
	pfree(rr.cstr.data);

	if (worker_error != NULL)
		ThrowErrorData(worker_error);
	error_context_stack = errcb.previous;
}
