-- name: statistics_stale
-- The bridge's tables whose planner statistics describe a table under half its size, or were never
-- gathered, once it holds $2 rows or more (see bridge/statistics.py); only those this role may analyze (it
-- owns them: the migrations made them), so a table it cannot analyze is not tried every few seconds.
-- $1 table names name[], $2 fewest live rows worth an ANALYZE int
SELECT s.relname::text AS name
  FROM pg_stat_user_tables s
  JOIN pg_class c ON c.oid = s.relid
 WHERE s.schemaname = current_schema() AND s.relname = ANY ($1::name[])
   AND s.n_live_tup >= $2 AND (c.reltuples < 0 OR s.n_live_tup > 2 * c.reltuples)
   AND pg_has_role(c.relowner, 'USAGE')
 ORDER BY s.n_live_tup DESC
