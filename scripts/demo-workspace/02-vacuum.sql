-- VACUUM cannot run inside a transaction block, and it can take a long time on a big table.
-- As a background job it runs in its own worker while you go on working.
VACUUM (VERBOSE, ANALYZE) demo_orders;
