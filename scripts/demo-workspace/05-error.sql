-- This one fails on purpose. The Messages tab shows the SQLSTATE, message and hint, and
-- "Go to error" puts the cursor on the offending character below.
SELECT region, count(*)
FROM demo_customers
WHERE signup_date > now() - interval '1 year'
GROUP BY regoin;
