-- A job that tells you how far it is: pg_background_progress(percent, message) from inside
-- the worker shows up in the Jobs view while the job runs.
DO $$
DECLARE
  batch int;
BEGIN
  FOR batch IN 1..20 LOOP
    PERFORM pg_background_progress(batch * 5, format('batch %s of 20', batch));
    PERFORM pg_sleep(1);
  END LOOP;
END
$$;
