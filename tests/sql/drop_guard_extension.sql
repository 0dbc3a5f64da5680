-- The extension never blocks its own install, upgrade or removal, even with its log full.
CREATE TABLE ext_t AS SELECT 1 AS x;
BEGIN;
SELECT memory_guard.allow_drop('ext_t', reason => 'fill the log');
DROP TABLE ext_t;
COMMIT;
SELECT count(*) AS log_rows FROM memory_guard.drop_log;
-- Only the guard writes the log: other roles can read it, not change it.
CREATE ROLE log_reader;
SET ROLE log_reader;
SELECT count(*) AS visible_rows FROM memory_guard.drop_log;
DELETE FROM memory_guard.drop_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO memory_guard.drop_log (role_name, table_oid, table_name, command_tag, guard)
VALUES ('x', 0, 'forged', 'DROP TABLE', 'allow_drop');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE log_reader;
-- Its own objects are not droppable one by one; the extension goes as a whole.
DROP TABLE memory_guard.drop_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Except its side table: after a migration it holds the only copy of what memories cannot keep,
-- so the extension does not take it along while it holds rows, unless permitted.
INSERT INTO memory_guard.memory_notes_carryover (legacy_id, source_oid, target_oid, importance)
VALUES ('00000000-0000-0000-0000-000000000001', 0, 0, 'critical');
DROP EXTENSION memory_guard;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
BEGIN;
SELECT memory_guard.allow_drop('memory_guard.memory_notes_carryover', reason => 'carried fields exported') IS NOT NULL AS allowed;
DROP EXTENSION memory_guard;
SELECT count(*) AS extensions_left FROM pg_extension WHERE extname = 'memory_guard';
ROLLBACK;
DELETE FROM memory_guard.memory_notes_carryover;
DROP EXTENSION memory_guard;
SELECT count(*) AS event_triggers_left FROM pg_event_trigger WHERE evtname LIKE 'memory_guard%';
-- Without the extension, drops are unguarded (in this backend the library stays loaded: its hook
-- must be inert here).
CREATE TABLE unguarded AS SELECT 1 AS x;
DROP TABLE unguarded;
CREATE EXTENSION memory_guard;
SELECT count(*) AS fresh_log_rows FROM memory_guard.drop_log;
SELECT evtname, evtevent, evtenabled FROM pg_event_trigger ORDER BY evtname;
