-- A million rows. They stream into the grid while the job runs; scroll anywhere, the grid
-- only keeps what is on screen, and the rest waits in the result store.
SELECT g AS id,
       md5(g::text) AS hash,
       now() - g * interval '1 second' AS at
FROM generate_series(1, 1000000) AS g;
