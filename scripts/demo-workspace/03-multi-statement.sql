-- Run the whole file (PG Background: Run File in Background): every statement gets its own
-- tab in the result panel; statements without rows show their command tag, and notices go to
-- the Messages tab.
CREATE TEMP TABLE top_customers AS
SELECT customer_id, sum(amount) AS total
FROM demo_orders
GROUP BY customer_id
ORDER BY total DESC
LIMIT 100;

UPDATE top_customers SET total = round(total, 0);

DO $$
BEGIN
  RAISE NOTICE 'top customers computed at %', now();
END
$$;

SELECT c.name, c.region, t.total
FROM top_customers t
JOIN demo_customers c ON c.id = t.customer_id
ORDER BY t.total DESC;

SELECT region, count(*) AS customers FROM demo_customers GROUP BY region ORDER BY region;
