#!/usr/bin/env bash
# lint_functions() over a database with 10,000 functions, against the plain catalog query that
# lists functions without a search_path (what splinter's function_search_path_mutable does).
# Both run alternately in one session on one throwaway cluster; prints the median ratio.
#   bash bench/lint_functions.sh [functions] [rounds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
N=${1:-10000}
ROUNDS=${2:-7}
source scripts/cluster.sh
cluster_start
trap cluster_stop EXIT
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION memory_guard" -c "SET memory_guard.search_path_mode = off" -c "
DO \$\$
BEGIN
  FOR i IN 1..$N LOOP
    CASE i % 4
      WHEN 0 THEN EXECUTE format('CREATE FUNCTION public.f%s(int) RETURNS int LANGUAGE sql AS ''SELECT \$1''', i);
      WHEN 1 THEN EXECUTE format('CREATE FUNCTION public.f%s() RETURNS trigger LANGUAGE plpgsql AS ''BEGIN RETURN NEW; END''', i);
      WHEN 2 THEN EXECUTE format('CREATE FUNCTION public.f%s() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS ''SELECT 1''', i);
      ELSE EXECUTE format('CREATE FUNCTION public.f%s() RETURNS int LANGUAGE sql SET search_path = public AS ''SELECT 1''', i);
    END CASE;
  END LOOP;
END \$\$;"
psql -X -q -v ON_ERROR_STOP=1 -At <<SQL
CREATE TEMP TABLE timings (round int, what text, ms float8);
DO \$\$
DECLARE t0 timestamptz; n bigint;
BEGIN
  FOR r IN 1..$ROUNDS LOOP
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM memory_guard.lint_functions();
    INSERT INTO timings VALUES (r, 'lint_functions', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM pg_proc p JOIN pg_namespace ns ON ns.oid = p.pronamespace
      LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
      WHERE ns.nspname NOT IN ('pg_catalog', 'information_schema') AND d.objid IS NULL
        AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search_path=%');
    INSERT INTO timings VALUES (r, 'catalog_query', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END \$\$;
SELECT format('functions=%s rounds=%s', $N, $ROUNDS);
SELECT format('%-16s median %s ms', what, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1))
FROM timings GROUP BY what ORDER BY what;
SELECT format('ratio lint_functions / catalog_query (median of per-round ratios): %s',
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l.ms / c.ms)::numeric, 2))
FROM timings l JOIN timings c ON c.round = l.round AND c.what = 'catalog_query'
WHERE l.what = 'lint_functions';
SQL
