-- The search_memory_notes shim: after migrate → DROP memory_notes, the legacy call answers from
-- memories with the same rows the legacy function gave before.
\set ECHO none
\set QUIET on
SET client_min_messages = error;
\i fixtures/history_before_20251123.psql
\! grep -v '^DROP TABLE IF EXISTS memory_notes' fixtures/20251123000000_enhance_memory_system.sql > results/enhance_without_drop_shim.sql
\i results/enhance_without_drop_shim.sql
RESET client_min_messages;
\set ECHO all

-- The calls to compare: every workspace, query vectors taken from notes, several thresholds and
-- counts (archived notes and the note without an embedding included in the data).
CREATE TEMP TABLE calls AS
SELECT w.id AS workspace, q.g, t.threshold, c.n
FROM workspaces w,
     (SELECT g FROM unnest(ARRAY[8, 12, 20, 55, 101, 150]) g) q,
     (VALUES (0.0::float), (0.7), (0.95)) t(threshold),
     (VALUES (5), (12), (50), (150), (NULL::int)) c(n);  -- each LIMIT bucket, over 100 and NULL
CREATE TEMP TABLE query_vectors AS
SELECT g, (SELECT embedding FROM memory_notes WHERE id = md5('memory_note_' || g)::uuid) AS v
FROM unnest(ARRAY[8, 12, 20, 55, 101, 150]) g;
UPDATE query_vectors SET v = array_fill(0.01::real, ARRAY[1536])::vector WHERE v IS NULL;
CREATE TEMP TABLE legacy_answers AS
SELECT c.workspace, c.g, c.threshold, c.n, r.*
FROM calls c JOIN query_vectors q USING (g),
     LATERAL search_memory_notes(q.v, c.workspace, c.threshold, c.n) r;
SELECT count(*) AS legacy_rows, count(DISTINCT id) AS distinct_notes FROM legacy_answers;

-- The safe path: migrate, the migration's DROP passes, the shim replaces the broken function.
SELECT r->>'verified' AS verified FROM memory_guard.migrate_memory_notes() r;
DROP TABLE IF EXISTS memory_notes CASCADE;
SELECT memory_guard.install_search_memory_notes_shim();
SELECT proname, prosecdef, proconfig, pg_get_function_identity_arguments(oid) AS args,
       pg_get_function_result(oid) AS result
FROM pg_proc WHERE proname = 'search_memory_notes';

CREATE TEMP TABLE shim_answers AS
SELECT c.workspace, c.g, c.threshold, c.n, r.*
FROM calls c JOIN query_vectors q USING (g),
     LATERAL search_memory_notes(q.v, c.workspace, c.threshold, c.n) r;
SELECT count(*) AS missing FROM (SELECT * FROM legacy_answers EXCEPT SELECT * FROM shim_answers) x;
SELECT count(*) AS extra FROM (SELECT * FROM shim_answers EXCEPT SELECT * FROM legacy_answers) x;
-- The defaults of the legacy signature still apply.
SELECT count(*) AS default_call_rows
FROM search_memory_notes((SELECT v FROM query_vectors WHERE g = 20), '00000000-0000-4000-8000-000000000003');

-- The shim's own query can use an HNSW index on memories.embedding (on 205 rows the planner
-- rightly prefers a scan and a sort, so those are switched off to show the index is usable; on
-- 100,000 rows the planner picks the index itself: bench/migrate_shim.sh).
SET enable_seqscan = off;
SET enable_sort = off;
SET plan_cache_mode = force_generic_plan;  -- the plan PL/pgSQL keeps for counts up to 5
DO $$
BEGIN
  EXECUTE format('PREPARE shim_query(vector, uuid, float, int) AS %s',
                 (SELECT substring(prosrc FROM 'RETURN QUERY(.*?);')
                  FROM pg_proc WHERE proname = 'search_memory_notes'));
END $$;
-- (A short vector keeps the plan readable: EXPLAIN plans it without computing a distance.)
EXPLAIN (COSTS OFF) EXECUTE shim_query('[0.01,0.02,0.03]', '00000000-0000-4000-8000-000000000001', 0.7, 5);
DEALLOCATE shim_query;
RESET enable_seqscan;
RESET enable_sort;
RESET plan_cache_mode;

-- It passes the lint, and row-level security on memories still applies to its caller.
SELECT count(*) AS lint_findings FROM memory_guard.lint_functions(ARRAY['public'])
WHERE function::text LIKE 'search_memory_notes%';
CREATE ROLE shim_reader;
GRANT SELECT ON memories TO shim_reader;
SET ROLE shim_reader;
SET app.workspace_id = '00000000-0000-4000-8000-000000000001';
SELECT count(*) AS own_workspace FROM search_memory_notes((SELECT array_fill(0.01::real, ARRAY[1536])::vector), '00000000-0000-4000-8000-000000000001', 0.0, 50);
SELECT count(*) AS other_workspace FROM search_memory_notes((SELECT array_fill(0.01::real, ARRAY[1536])::vector), '00000000-0000-4000-8000-000000000002', 0.0, 50);
RESET app.workspace_id;
RESET ROLE;
DROP OWNED BY shim_reader;
DROP ROLE shim_reader;

-- Bad input.
SELECT memory_guard.install_search_memory_notes_shim(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.install_search_memory_notes_shim('no_such_schema');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- pgvector is optional for everything but the shim: in a database without it the guard works and
-- the shim's installer says what is missing.
CREATE DATABASE shim_no_vector;
\c shim_no_vector
CREATE EXTENSION memory_guard;
CREATE TABLE t AS SELECT 1 AS x;
\set VERBOSITY sqlstate
DROP TABLE t;
\set VERBOSITY default
SELECT memory_guard.install_search_memory_notes_shim();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c memory_guard_regress
DROP DATABASE shim_no_vector;

SET memory_guard.drop_mode = off;
SET client_min_messages = warning;
DROP TABLE memory_evidence, memories, trading_rules, regime_profile_performance, market_events,
  overfitting_warnings, backtest_runs, chat_sessions, workspaces CASCADE;
DROP FUNCTION search_memory_notes, hybrid_search_memories, update_updated_at_column;
RESET client_min_messages;
RESET memory_guard.drop_mode;
TRUNCATE memory_guard.drop_log, memory_guard.ledger, memory_guard.memory_notes_carryover;
