/*-------------------------------------------------------------------------
 *
 * pgbg_jobs.c
 *		The server-wide registry of pg_background jobs (durable jobs).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_background.h"
#include "pgbg_jobs.h"

void
pgbg_jobs_init(void)
{
}
