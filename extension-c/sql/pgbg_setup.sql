--
-- pg_background regression tests: setup and helpers shared by all files
--
CREATE EXTENSION pg_background;

-- Run a statement, return 'ok' or 'SQLSTATE: message'.  Worker PIDs vary
-- from run to run, so they are replaced by N.
CREATE FUNCTION pgbg_try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' ||
        regexp_replace(SQLERRM, '(PID|worker) -?[0-9]+', '\1 N', 'g');
END
$$;

-- Read a job completely through fetch_v2, waiting as long as it takes.
CREATE FUNCTION pgbg_drain(p int4, c int8, batch int4 DEFAULT 10000)
RETURNS TABLE (kind text, stmt int4, data json)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    finished bool := false;
BEGIN
    WHILE NOT finished LOOP
        FOR r IN SELECT * FROM pg_background_fetch_v2(p, c, batch, 1000) f LOOP
            kind := r.kind; stmt := r.stmt; data := r.data;
            RETURN NEXT;
            finished := finished OR r.kind = 'done';
        END LOOP;
    END LOOP;
END
$$;

-- Wait (up to a minute) until a condition over pg_stat_activity / tables
-- holds; returns whether it did.  Used instead of fixed sleeps.
CREATE FUNCTION pgbg_await(cond text) RETURNS bool
LANGUAGE plpgsql AS $$
DECLARE
    ok bool;
BEGIN
    FOR i IN 1..600 LOOP
        EXECUTE 'SELECT (' || cond || ')' INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.1);
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
    RETURN false;
END
$$;

CREATE TABLE pgbg_t (id int, v text);
