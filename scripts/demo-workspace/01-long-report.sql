-- Revenue per region and month. The pg_sleep makes it long enough to watch it run:
-- the editor stays free while the worker does the work inside the server.
SELECT c.region,
       date_trunc('month', o.ordered_at)::date AS month,
       count(*)                                AS orders,
       sum(o.amount)                           AS revenue,
       round(avg(o.amount), 2)                 AS avg_order
FROM demo_orders o
JOIN demo_customers c ON c.id = o.customer_id
CROSS JOIN LATERAL (SELECT pg_sleep(0.0001)) AS slow_down
GROUP BY 1, 2
ORDER BY 1, 2;
