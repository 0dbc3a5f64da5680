-- The seed's whole story, replayed with memory_guard installed: the history up to 20251119194601
-- and its data, then 20251123000000 as written (stopped by the guard: DROP TABLE IF EXISTS
-- memory_notes CASCADE would lose every stored memory), then with the drop acknowledged.
\set ECHO none
\set QUIET on
SET client_min_messages = warning;
\i fixtures/history_before_20251123.psql
RESET client_min_messages;
\set QUIET off
\set ECHO all
SELECT count(*) AS memory_notes, count(embedding) AS with_embeddings FROM memory_notes;

-- The problem migration, applied as migration tools apply it (psql, ON_ERROR_STOP, one
-- transaction): the guard refuses its line 4, names search_memory_notes() as a function the drop
-- would break, and nothing of the migration stays.
\! psql -X -q -d memory_guard_regress -v ON_ERROR_STOP=1 --single-transaction -f fixtures/20251123000000_enhance_memory_system.sql 2>&1; echo "psql exit status: $?"
SELECT count(*) AS memory_notes_kept FROM memory_notes;
SELECT to_regclass('memories') AS memories_created;

-- Acknowledged in the same transaction, the same file goes through; the lint warns that
-- update_updated_at_column() lost the search_path v2 had pinned.
\! psql -X -q -d memory_guard_regress -v ON_ERROR_STOP=1 --single-transaction -c "SET client_min_messages = warning" -c "SELECT memory_guard.allow_drop('public.memory_notes', reason => 'replaced by memories; rows exported beforehand')" -f fixtures/20251123000000_enhance_memory_system.sql 2>&1; echo "psql exit status: $?"
SELECT to_regclass('memory_notes') AS memory_notes, to_regclass('memories') AS memories;
SELECT table_name, command_tag, estimated_rows, guard, reason FROM memory_guard.drop_log;
SELECT function, rule, fix FROM memory_guard.lint_functions(ARRAY['public']) WHERE severity = 'warning';
-- Re-running the migration fails on its plain CREATE TRIGGER (the audit's item 6).
\! psql -X -q -d memory_guard_regress -v ON_ERROR_STOP=1 --single-transaction -f fixtures/20251123000000_enhance_memory_system.sql 2>&1 | grep ERROR
-- And search_memory_notes() points at the dropped table (the audit's item 8).
SELECT count(*) FROM search_memory_notes(array_fill(0.1::real, ARRAY[1536])::vector, '00000000-0000-4000-8000-000000000001');
