-- memory_guard.audit(): the seed's four-hour manual audit as one call. On the history up to
-- 20251119194601 with data, auditing 20251123000000 reproduces the seed's issue matrix, and the
-- database is exactly as before afterwards.
\set ECHO none
\set QUIET on
SET client_min_messages = error;
\i fixtures/history_before_20251123.psql
RESET client_min_messages;
\set ECHO all
\set migration `cat fixtures/20251123000000_enhance_memory_system.sql`

-- A fingerprint of the catalog (public's relations, columns, functions, triggers, policies) and
-- of the data, to compare after the audit.
CREATE TEMP VIEW fingerprint AS
SELECT md5(concat_ws('|',
  (SELECT string_agg(format('%s:%s:%s', c.relname, c.relkind, c.relnatts), ',' ORDER BY c.relname)
     FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace),
  (SELECT string_agg(format('%s.%s:%s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod)), ',' ORDER BY 1)
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT string_agg(format('%s:%s:%s', p.oid::regprocedure, md5(p.prosrc), p.proconfig), ',' ORDER BY 1)
     FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace),
  (SELECT string_agg(t.tgname, ',' ORDER BY t.tgname) FROM pg_trigger t WHERE NOT t.tgisinternal),
  (SELECT string_agg(p.polname, ',' ORDER BY p.polname) FROM pg_policy p),
  (SELECT md5(string_agg(md5(n::text), '' ORDER BY md5(n::text))) FROM memory_notes n),
  (SELECT count(*) FROM backtest_runs))) AS fingerprint;
CREATE TEMP TABLE before AS SELECT fingerprint FROM fingerprint;

SELECT seq, severity, category, object, message, fix, left(statement, 45) AS statement
FROM memory_guard.audit(:'migration');

-- The seed's matrix: item 1 (DROP memory_notes) critical data loss, item 5 (search_path
-- regression) security, item 6 (CREATE TRIGGER on re-run) idempotency, item 8
-- (search_memory_notes) API break; items 2, 3 and 7 give nothing above info.
SELECT category, max(severity) AS severity, count(*) FROM memory_guard.audit(:'migration') GROUP BY 1 ORDER BY 1;

-- Nothing persisted, locks released.
SELECT (SELECT fingerprint FROM before) = (SELECT fingerprint FROM fingerprint) AS unchanged;
SELECT count(*) AS memory_notes, to_regclass('memories') AS memories FROM memory_notes;
SELECT count(*) AS locks_left FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = 'memory_notes'::regclass;
SELECT count(*) AS drop_log_rows FROM memory_guard.drop_log;

-- The same findings as jsonb.
SELECT jsonb_array_length(j) AS findings, j->0->>'category' AS first_category,
       (SELECT array_agg(DISTINCT f->>'severity' ORDER BY f->>'severity') FROM jsonb_array_elements(j) f) AS severities
FROM memory_guard.audit_json(:'migration') j;

-- IF NOT EXISTS that did nothing is info; a re-run failure is found by running it twice, not by
-- reading the text.
SELECT seq, severity, category, message, fix FROM memory_guard.audit($m$
  CREATE TABLE IF NOT EXISTS memory_notes (id int);
  ALTER TABLE backtest_runs ADD COLUMN IF NOT EXISTS notes TEXT;
  CREATE INDEX idx_audit_probe ON backtest_runs (strategy);
  CREATE POLICY audit_probe ON backtest_runs USING (true);
  CREATE FUNCTION audit_probe() RETURNS int LANGUAGE sql AS 'SELECT 1';
$m$);

-- Statements a transaction cannot hold become findings, never a crash; the rest still runs.
SELECT seq, severity, category, message FROM memory_guard.audit($m$
  BEGIN;
  VACUUM backtest_runs;
  CREATE INDEX CONCURRENTLY idx_c ON backtest_runs (status);
  DROP INDEX CONCURRENTLY idx_memory_notes_run_id;
  CREATE DATABASE audit_db;
  DROP TABLE backtest_runs;
  COMMIT;
$m$);
-- A syntax error is a finding with its position; nothing runs.
SELECT seq, severity, category, message FROM memory_guard.audit(E'DROP TABLE memory_notes;\nCREAT TABLE x (a int);');
SELECT count(*) AS memory_notes_after_syntax_error FROM memory_notes;
-- Dollar quoting, comments and nested bodies are split by Postgres' parser, not by semicolons.
SELECT seq, category, left(statement, 40) AS statement FROM memory_guard.audit($m$
  -- a comment; with a semicolon
  CREATE FUNCTION audit_semi() RETURNS text LANGUAGE plpgsql SET search_path = '' AS $b$ BEGIN RETURN 'a;b'; END $b$;
  /* another; one */ SELECT 1;
  CREATE TABLE audit_t2 (a text DEFAULT 'x;y');
$m$) ORDER BY seq;
-- A renamed table breaks its callers too.
SELECT seq, severity, category, object FROM memory_guard.audit('ALTER TABLE memory_notes RENAME TO memory_notes_old;');
SELECT memory_guard.audit(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS empty_migration FROM memory_guard.audit('');

-- Item 4: without pgvector (a database where 20251119184427 never ran), the missing type is a
-- dependency finding, and the audit goes on to the statements after it.
CREATE DATABASE audit_no_vector;
\c audit_no_vector
\set ECHO none
\set QUIET on
SET client_min_messages = error;
CREATE EXTENSION memory_guard;
\i fixtures/20251119174252_create_base_tables.sql
\i fixtures/20251119174321_enable_rls.sql
RESET client_min_messages;
\set QUIET off
\set ECHO all
SELECT seq, severity, category, object, fix FROM memory_guard.audit(:'migration')
WHERE category = 'dependency' ORDER BY seq LIMIT 3;
SELECT count(*) > 0 AS later_statements_audited FROM memory_guard.audit(:'migration') WHERE seq > 20;
\c memory_guard_regress
DROP DATABASE audit_no_vector;

-- TRUNCATE is reported though this session did not preload the library: the audit runs its
-- statements inside the library's own hooks.
SELECT memory_guard.truncate_guarded() AS preloaded;
SELECT seq, severity, category, object FROM memory_guard.audit('TRUNCATE memory_notes CASCADE;');
SELECT count(*) > 0 AS memory_notes_kept FROM memory_notes;

-- What a rolled-back transaction cannot undo is reported, not run: a sequence moved, a
-- session-level advisory lock, a prepared statement, a file written on the server.
CREATE SEQUENCE audit_ids;
SELECT nextval('audit_ids') AS before_audit;
SELECT seq, category, message FROM memory_guard.audit($m$
SELECT setval('audit_ids', 1000);
SELECT pg_advisory_lock(4242);
PREPARE audit_plan AS SELECT 1;
INSERT INTO memory_notes (id, workspace_id, content) SELECT gen_random_uuid(), workspace_id, 'x' || nextval('audit_ids') FROM memory_notes LIMIT 1;
COPY (SELECT 1) TO 'audit_side_effect.csv';
SELECT pg_catalog.pg_advisory_xact_lock(4243);
MERGE INTO memory_notes m USING (SELECT 1) s ON false
  WHEN NOT MATCHED THEN INSERT (id, workspace_id, content) VALUES (gen_random_uuid(), gen_random_uuid(), pg_advisory_lock(4244)::text);
DECLARE audit_cursor CURSOR FOR SELECT nextval('audit_ids');
EXECUTE some_plan;
ALTER TABLE memory_notes ADD CONSTRAINT moves_ids CHECK (nextval('audit_ids') > 0);
$m$) ORDER BY seq;
SELECT last_value AS after_audit FROM audit_ids;
SELECT count(*) AS advisory_locks_left FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT count(*) AS prepared_left FROM pg_prepared_statements WHERE name = 'audit_plan';
DROP SEQUENCE audit_ids;

-- A cancel or a statement timeout ends the audit (57014) instead of becoming a finding about
-- the statement it interrupted; the next audit runs as usual.
SET statement_timeout = '200ms';
SELECT * FROM memory_guard.audit('SELECT pg_sleep(5); SELECT pg_sleep(5); SELECT pg_sleep(5);');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT count(*) AS findings FROM memory_guard.audit('SELECT 1;');

SET memory_guard.drop_mode = off;
SET client_min_messages = warning;
DROP TABLE memory_notes, backtest_runs, chat_sessions, workspaces CASCADE;
DROP FUNCTION search_memory_notes, update_updated_at_column;
RESET client_min_messages;
RESET memory_guard.drop_mode;
