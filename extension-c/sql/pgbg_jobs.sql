--
-- pg_background: the server-wide job registry
--
SELECT 1 AS placeholder;
