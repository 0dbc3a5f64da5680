#!/usr/bin/env bash
# The migration toolkit against what a migration author would write by hand, side by side in one run:
#   1. memory_guard.migrate_memory_notes() against the seed's Option A INSERT ... SELECT, on ROWS
#      memory_notes rows (default 100,000) with 1536-dimension embeddings, alternating, each into an
#      emptied memories; throughput ratio (target: at least 0.8).
#   2. the search_memory_notes shim against the direct query on memories (same workspace, archived
#      filter, nearest first, limit) with an HNSW index, alternating batches of calls in one
#      session; latency ratio (target: at most 1.1).
#   bash bench/migrate_shim.sh [rows] [rounds]      # SHIM=0 skips part 2
# memories' HNSW index is built after part 1: both sides of part 1 would pay the same index
# maintenance, which would only dilute the difference between them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ROWS=${1:-100000}
ROUNDS=${2:-3}
CALLS=${CALLS:-200}
source scripts/cluster.sh
cluster_start "shared_buffers = 1GB" "max_wal_size = 8GB" "maintenance_work_mem = 2GB" \
  "max_parallel_maintenance_workers = 2"
trap cluster_stop EXIT
Q=(psql -X -q -v ON_ERROR_STOP=1)
fixtures=tests/fixtures
"${Q[@]}" -c "CREATE EXTENSION memory_guard" >/dev/null
for f in "$fixtures"/2025111*.sql; do "${Q[@]}" -f "$f" >/dev/null 2>&1; done
grep -v '^DROP TABLE IF EXISTS memory_notes' "$fixtures/20251123000000_enhance_memory_system.sql" \
  | "${Q[@]}" >/dev/null 2>&1
"${Q[@]}" <<SQL
DROP INDEX idx_memories_embedding;
-- The legacy table's HNSW index would make filling it slow, and the migration only reads it.
DROP INDEX idx_memory_notes_embedding;
INSERT INTO workspaces (id, name) SELECT ('00000000-0000-4000-8000-00000000000' || w)::uuid, 'ws ' || w
FROM generate_series(1, 3) w;
-- 1,100 random vectors, summed in pairs: $ROWS distinct embeddings without $ROWS * 1536 random() calls.
CREATE TABLE bench_base AS
SELECT i, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 1536) WHERE i > 0)::vector(1536) AS v
FROM generate_series(0, 1099) i;
INSERT INTO memory_notes (workspace_id, content, source, tags, created_at, embedding, memory_type,
                          importance, updated_at, archived, metadata)
SELECT ('00000000-0000-4000-8000-00000000000' || (1 + g % 3))::uuid,
       'note ' || g || ': breakouts after low-volume consolidations fail more often',
       (ARRAY['chat', 'backtest', 'manual', NULL])[1 + g % 4],
       CASE WHEN g % 10 = 0 THEN NULL ELSE ARRAY['ES', 'breakout'] END,
       timestamptz '2025-11-05 08:00:00+00' + g * interval '1 minute',
       a.v + b.v,
       (ARRAY['observation', 'lesson', NULL])[1 + g % 3],
       (ARRAY['critical', 'high', 'normal', 'low', 'CRITICAL', NULL])[1 + g % 6],
       CASE WHEN g % 7 = 0 THEN NULL ELSE timestamptz '2025-11-06 08:00:00+00' + g * interval '1 minute' END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE g % 5 = 0 END,
       jsonb_build_object('n', g, 'nested', jsonb_build_object('k', g % 13))
FROM generate_series(1, $ROWS) g
JOIN bench_base a ON a.i = g % 1000 JOIN bench_base b ON b.i = 1000 + (g / 1000) % 100;
VACUUM ANALYZE memory_notes;
CREATE TABLE bench_timings (round int, what text, ms float8);
SQL

# Part 1: each run starts from an empty memories and side table, after a checkpoint.
script=$(mktemp)
trap 'rm -f "$script"; cluster_stop' EXIT
# The seed's Option A, as its audit gives it ("Option A: Data Migration").
option_a="INSERT INTO memories (workspace_id, session_id, content, summary, embedding, importance_score,
  memory_type, category, symbols, strategies, created_at, updated_at, archived, source, confidence)
SELECT workspace_id, NULL as session_id, content, content as summary, embedding,
  CASE WHEN importance = 'critical' THEN 0.95 WHEN importance = 'high' THEN 0.8
       WHEN importance = 'normal' THEN 0.5 WHEN importance = 'low' THEN 0.2 ELSE 0.5 END as importance_score,
  COALESCE(memory_type, 'observation') as memory_type, NULL as category, tags as symbols,
  '{}' as strategies, created_at, COALESCE(updated_at, created_at) as updated_at,
  COALESCE(archived, FALSE) as archived, source, 1.0 as confidence
FROM memory_notes;"
{
  echo "SET client_min_messages = warning;"
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then order="option_a memory_guard"; else order="memory_guard option_a"; fi
    for what in $order; do
      echo "TRUNCATE memories CASCADE; TRUNCATE memory_guard.memory_notes_carryover; CHECKPOINT;"
      echo "SELECT clock_timestamp() AS t0 \\gset"
      if [ "$what" = option_a ]; then echo "$option_a"; else echo "SELECT memory_guard.migrate_memory_notes() \\g /dev/null"; fi
      echo "INSERT INTO bench_timings SELECT $r, '$what', extract(epoch FROM clock_timestamp() - :'t0') * 1000;"
    done
  done
} >"$script"
"${Q[@]}" -f "$script"

# Part 2: memories as migrate_memory_notes() left it (the last round may have been Option A).
[ "${SHIM:-1}" = 1 ] && "${Q[@]}" <<SQL
SET client_min_messages = warning;
TRUNCATE memories CASCADE; TRUNCATE memory_guard.memory_notes_carryover;
SELECT memory_guard.migrate_memory_notes() \g /dev/null
CREATE INDEX idx_memories_embedding ON memories USING hnsw (embedding vector_cosine_ops);
VACUUM ANALYZE memories;
SELECT memory_guard.install_search_memory_notes_shim() \g /dev/null
CREATE TABLE bench_queries AS
SELECT q, ('00000000-0000-4000-8000-00000000000' || (1 + q % 3))::uuid AS ws,
       (SELECT embedding FROM memory_notes ORDER BY id OFFSET q * 97 LIMIT 1) AS v
FROM generate_series(0, 49) q;
DO \$\$
DECLARE t0 timestamptz; r int; k int; n int; q record;
BEGIN
  FOR r IN 1..7 LOOP
    FOR k IN 0..1 LOOP
      t0 := clock_timestamp();
      FOR i IN 1..$CALLS LOOP
        SELECT * INTO q FROM bench_queries WHERE bench_queries.q = i % 50;
        IF (k + r) % 2 = 0 THEN
          SELECT count(*) INTO n FROM public.search_memory_notes(q.v, q.ws, 0.0, 5);
        ELSE
          SELECT count(*) INTO n FROM (
            SELECT m.id, m.content, m.memory_type, m.source, m.symbols, m.created_at,
                   1 - (m.embedding <=> q.v) AS similarity
            FROM memories m
            WHERE m.workspace_id = q.ws AND m.embedding IS NOT NULL AND NOT m.archived
            ORDER BY m.embedding <=> q.v LIMIT 5) d WHERE d.similarity >= 0.0;
        END IF;
      END LOOP;
      INSERT INTO bench_timings VALUES (r, CASE WHEN (k + r) % 2 = 0 THEN 'shim' ELSE 'direct' END,
        extract(epoch FROM clock_timestamp() - t0) * 1000 / $CALLS);
    END LOOP;
  END LOOP;
END \$\$;
SQL

"${Q[@]}" -At <<SQL
SELECT format('rows=%s rounds=%s (1536-dimension embeddings)', $ROWS, $ROUNDS);
SELECT format('  %-13s median %s ms  (%s rows/s)', what, round(m::numeric, 1), round(($ROWS / (m / 1000))::numeric))
FROM (SELECT what, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) m FROM bench_timings
      WHERE what IN ('option_a', 'memory_guard') GROUP BY what) s ORDER BY what DESC;
SELECT format('throughput ratio memory_guard / Option A: %s (target >= 0.8)',
       round(((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_timings WHERE what = 'option_a')
            / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_timings WHERE what = 'memory_guard'))::numeric, 3));
SELECT format('shim vs direct query, HNSW index, %s calls per batch, 7 rounds:', $CALLS);
SELECT format('  %-7s median %s ms per call', what, round(m::numeric, 3))
FROM (SELECT what, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) m FROM bench_timings
      WHERE what IN ('shim', 'direct') GROUP BY what) s ORDER BY what DESC;
SELECT format('latency ratio shim / direct: %s (target <= 1.1)',
       round(((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_timings WHERE what = 'shim')
            / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_timings WHERE what = 'direct'))::numeric, 3));
SQL
# Both sides must really use the index (a benchmark of two sequential scans would say nothing).
if [ "${SHIM:-1}" = 1 ]; then
  if "${Q[@]}" -At -c "EXPLAIN (COSTS OFF) SELECT id FROM memories WHERE workspace_id = '00000000-0000-4000-8000-000000000001' AND NOT archived ORDER BY embedding <=> (SELECT v FROM bench_queries LIMIT 1) LIMIT 5" \
      | grep -q idx_memories_embedding; then
    echo "direct query plan: uses idx_memories_embedding (hnsw)"
  else
    echo "WARNING: the direct query does not use the HNSW index"
  fi
fi
