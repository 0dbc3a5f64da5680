-- The seed's story with the managed edition, as a hosted project runs it: the migrations are
-- applied by app_owner, a plain role that owns the tables it creates (the managed edition was
-- installed by a superuser, as the platform's admin role would).
CREATE ROLE app_owner LOGIN;
GRANT CREATE ON SCHEMA public TO app_owner;
\set ECHO none
\set QUIET on
SET client_min_messages = warning;
SET ROLE app_owner;
\i fixtures/history_before_20251123.psql
RESET ROLE;
RESET client_min_messages;
\set QUIET off
\set ECHO all
SELECT count(*) AS memory_notes, count(embedding) AS with_embeddings,
       pg_get_userbyid(min(c.relowner)) AS owner
  FROM memory_notes, pg_class c WHERE c.oid = 'memory_notes'::regclass;
-- Every table the history created carries the TRUNCATE guard.
SELECT count(*) FILTER (WHERE t.tgname IS NULL) AS tables_without_guard
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgfoid = 'memory_guard.truncate_guard()'::regprocedure
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p');

-- The problem migration as app_owner, with psql, ON_ERROR_STOP, one transaction: refused at its
-- DROP TABLE IF EXISTS memory_notes CASCADE, and nothing of it stays.
\! psql -X -q -U app_owner -d memory_guard_regress -v ON_ERROR_STOP=1 --single-transaction -f fixtures/20251123000000_enhance_memory_system.sql 2>&1; echo "psql exit status: $?"
SELECT count(*) AS memory_notes_kept FROM memory_notes;
SELECT to_regclass('memories') AS memories_created;
-- TRUNCATE of the same table as app_owner, its owner: refused too.
SET ROLE app_owner;
TRUNCATE memory_notes CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Acknowledged by app_owner in the same transaction, the same file goes through; the lint warns
-- that update_updated_at_column() lost the search_path v2 had pinned.
\! psql -X -q -U app_owner -d memory_guard_regress -v ON_ERROR_STOP=1 --single-transaction -c "SET client_min_messages = warning" -c "SELECT memory_guard.allow_drop('public.memory_notes', reason => 'replaced by memories; rows exported beforehand')" -f fixtures/20251123000000_enhance_memory_system.sql 2>&1; echo "psql exit status: $?"
SELECT to_regclass('memory_notes') AS memory_notes, to_regclass('memories') AS memories;
SELECT table_name, command_tag, estimated_rows, guard, reason, role_name, allowed_by FROM memory_guard.drop_log;
SELECT function, rule, fix FROM memory_guard.lint_functions(ARRAY['public']) WHERE severity = 'warning';
-- memories, created by the migration, got the TRUNCATE guard on the way.
SELECT count(*) AS memories_guarded FROM pg_trigger
 WHERE tgrelid = 'memories'::regclass AND tgfoid = 'memory_guard.truncate_guard()'::regprocedure;
