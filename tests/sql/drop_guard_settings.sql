-- memory_guard.drop_mode: enforce (default), warn, log, off; settable only by superusers.
LOAD 'memory_guard';  -- a new session knows the setting once the library is loaded (first DDL or call)
SHOW memory_guard.drop_mode;
SELECT context FROM pg_settings WHERE name = 'memory_guard.drop_mode';
CREATE SCHEMA settings;
CREATE TABLE settings.t1 AS SELECT 1 AS x;
CREATE TABLE settings.t2 AS SELECT 1 AS x;
CREATE TABLE settings.t3 AS SELECT 1 AS x;
CREATE TABLE settings.t4 AS SELECT 1 AS x;
-- warn: the drop proceeds with the whole report as a WARNING, and drop_log says it was unguarded.
SET memory_guard.drop_mode = warn;
DROP TABLE settings.t1;
-- log: the drop proceeds and the client hears nothing, even asking for LOG messages; the report
-- goes to the server log only (run_regress.sh checks it there), and drop_log says it was unguarded.
SET memory_guard.drop_mode = log;
SET client_min_messages = log;
DROP TABLE settings.t4;
-- The lint and the type-change check have the same mode: here a trigger function without a
-- pinned search_path, and a lossy conversion, both silent.
SET memory_guard.search_path_mode = log;
CREATE FUNCTION settings.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
SET memory_guard.type_change_mode = log;
ALTER TABLE settings.t3 ALTER COLUMN x TYPE smallint;
RESET client_min_messages;
RESET memory_guard.search_path_mode;
RESET memory_guard.type_change_mode;
-- off: no check, nothing logged.
SET memory_guard.drop_mode = off;
DROP TABLE settings.t2;
RESET memory_guard.drop_mode;
SELECT table_name, guard, reason FROM memory_guard.drop_log ORDER BY id;
SET memory_guard.drop_mode = 'block';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET memory_guard.no_such_setting = on;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A role that is not a superuser cannot switch the guard off for itself.
CREATE ROLE app_migrator;
GRANT ALL ON SCHEMA settings TO app_migrator;
ALTER TABLE settings.t3 OWNER TO app_migrator;
SET ROLE app_migrator;
SET memory_guard.drop_mode = off;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT set_config('memory_guard.drop_mode', 'off', false);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ALTER ROLE app_migrator SET memory_guard.drop_mode = off;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE settings.t3;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- Nor by setting it in a new session before the library is loaded (a placeholder).
\c
SET ROLE app_migrator;
SET memory_guard.drop_mode = off;
DROP TABLE settings.t3;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SHOW memory_guard.drop_mode;
RESET ROLE;
SELECT count(*) AS t3_kept FROM settings.t3;

SET memory_guard.drop_mode = off;
DROP SCHEMA settings CASCADE;
RESET memory_guard.drop_mode;
DROP ROLE app_migrator;
TRUNCATE memory_guard.drop_log;
