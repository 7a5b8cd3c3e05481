/*-------------------------------------------------------------------------
 *
 * pgbg_jobs.h
 *		The server-wide registry of pg_background jobs (durable jobs).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBG_JOBS_H
#define PGBG_JOBS_H

#include "postgres.h"

extern void pgbg_jobs_define_gucs(void);

#endif							/* PGBG_JOBS_H */
