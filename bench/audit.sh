#!/usr/bin/env bash
# memory_guard.audit() of the 20251123000000 fixture against applying the same migration
# directly (then rolling it back), alternating in one session on a database holding the seed's
# history and data. Prints the medians and their ratio.
#   bash bench/audit.sh [rounds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ROUNDS=${1:-9}
source scripts/cluster.sh
cluster_start
trap cluster_stop EXIT
export PGOPTIONS="-c client_min_messages=error"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION memory_guard"
psql -X -q -v ON_ERROR_STOP=1 -f tests/fixtures/history_before_20251123.psql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -At -v rounds="$ROUNDS" <<'SQL'
\set migration `cat tests/fixtures/20251123000000_enhance_memory_system.sql`
CREATE TEMP TABLE timings (round int, what text, ms float8);
CREATE TEMP TABLE migration AS SELECT :'migration'::text AS sql, :rounds AS rounds;
DO $$
DECLARE t0 timestamptz; m text := (SELECT sql FROM migration); n int; rounds int := (SELECT rounds FROM migration);
BEGIN
  FOR r IN 1..rounds LOOP
    t0 := clock_timestamp();
    SELECT count(*) INTO n FROM memory_guard.audit(m);
    INSERT INTO timings VALUES (r, 'audit', extract(epoch FROM clock_timestamp() - t0) * 1000);
    t0 := clock_timestamp();
    BEGIN
      PERFORM memory_guard.allow_drop('public.memory_notes', 'benchmark');
      EXECUTE m;
      RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'roll back';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    INSERT INTO timings VALUES (r, 'apply_direct', extract(epoch FROM clock_timestamp() - t0) * 1000);
  END LOOP;
END $$;
SELECT format('rounds=%s (first round included)', :rounds);
SELECT format('%-13s median %s ms', what, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1))
FROM timings GROUP BY what ORDER BY what;
SELECT format('ratio audit / apply_direct (median of per-round ratios): %s',
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY a.ms / d.ms)::numeric, 2))
FROM timings a JOIN timings d ON d.round = a.round AND d.what = 'apply_direct' WHERE a.what = 'audit';
SQL
