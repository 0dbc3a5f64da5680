#!/usr/bin/env bash
# The drop guard's decision does not grow with the table: a refused DROP TABLE and a refused
# DROP COLUMN on a table of ROWS rows (default 10 million) against the same on a 1-row table,
# alternating in one session. Each refused statement is the full path: lock, probe, decide,
# error, rollback. Prints medians and ratios (target: at most 1.5).
#   bash bench/probe_scale.sh [rows] [rounds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ROWS=${1:-10000000}
ROUNDS=${2:-15}
source scripts/cluster.sh
cluster_start
trap cluster_stop EXIT
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION memory_guard" \
  -c "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, $ROWS) g" \
  -c "CREATE TABLE small AS SELECT 1 AS id, md5('1') AS payload" -c "ANALYZE big, small"
psql -X -q -v ON_ERROR_STOP=1 -At <<SQL
CREATE TEMP TABLE timings (round int, what text, ms float8);
DO \$\$
DECLARE t0 timestamptz; tbl text;
BEGIN
  FOR r IN 1..$ROUNDS LOOP
    FOREACH tbl IN ARRAY ARRAY['big', 'small'] LOOP
      t0 := clock_timestamp();
      BEGIN EXECUTE format('DROP TABLE %I', tbl); EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END;
      INSERT INTO timings VALUES (r, 'drop_table_' || tbl, extract(epoch FROM clock_timestamp() - t0) * 1000);
      t0 := clock_timestamp();
      BEGIN EXECUTE format('ALTER TABLE %I DROP COLUMN payload', tbl); EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END;
      INSERT INTO timings VALUES (r, 'drop_column_' || tbl, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
  END LOOP;
END \$\$;
SELECT format('rows=%s rounds=%s', $ROWS, $ROUNDS);
SELECT format('%-18s median %s ms', what, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3))
FROM timings GROUP BY what ORDER BY what;
SELECT format('ratio %s big/small: %s', k,
       round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings WHERE what = k || '_big')::numeric
           / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM timings WHERE what = k || '_small')::numeric, 2))
FROM unnest(ARRAY['drop_table', 'drop_column']) k;
SQL
