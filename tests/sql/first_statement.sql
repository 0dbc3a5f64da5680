-- memory_guard's library is loaded by its ddl_command_start trigger, inside the first DDL
-- statement of a session (unless it is preloaded). Its ProcessUtility hook, which judges every
-- later statement when it ends, does not exist yet when that first statement begins: the first
-- statement is judged as each table is met instead. It refuses the same drops; for one table
-- and what CASCADE takes with it, the report is the same. Each \c below starts such a session.
CREATE SCHEMA first;
CREATE TABLE first.notes (id int PRIMARY KEY, body text);
INSERT INTO first.notes VALUES (1, 'keep');
CREATE VIEW first.notes_view AS SELECT * FROM first.notes;
CREATE TABLE first.other (id int);
INSERT INTO first.other VALUES (1);
CREATE TABLE first.parts (id int) PARTITION BY RANGE (id);
CREATE TABLE first.parts_1 PARTITION OF first.parts FOR VALUES FROM (0) TO (10);
INSERT INTO first.parts VALUES (1);
CREATE TABLE first.empty (id int);
TRUNCATE memory_guard.drop_log;

\c
DROP TABLE first.notes CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- In a transaction block, as psql --single-transaction applies a migration file.
\c
BEGIN;
DROP TABLE IF EXISTS first.notes CASCADE;
ROLLBACK;

-- Two tables at stake: the first one met is reported, and nothing is dropped.
\c
DROP TABLE first.other, first.notes CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- A partitioned table: its partition is met first, and is named.
\c
DROP TABLE first.parts;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Empty tables pass, as always.
\c
DROP TABLE first.empty;

-- A drop that passes (here in warn mode) is logged as it passes.
\c
SET memory_guard.drop_mode = warn;
DROP TABLE first.other;
RESET memory_guard.drop_mode;
SELECT table_name, command_tag, guard FROM memory_guard.drop_log ORDER BY id;

-- The lint, too, looks at the first statement's function as it is written.
\c
CREATE FUNCTION first.definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';

-- After the first statement the library's hooks see every statement before Postgres fires
-- ddl_command_start, and the trigger quiets itself in this session's event trigger cache:
-- Postgres calls it once, not for every DDL statement. Any change to an event trigger rebuilds
-- the cache, and it is called once more. The guard and the checks stay on throughout.
\c
BEGIN;
SET LOCAL track_functions = 'all';
CREATE TABLE first.quiet_1 (id int);
CREATE INDEX ON first.quiet_1 (id);
CREATE TABLE first.quiet_2 (v text);
DROP TABLE first.quiet_2;
SELECT pg_stat_get_xact_function_calls('memory_guard.on_ddl_command_start'::regproc) AS trigger_calls;
ALTER EVENT TRIGGER memory_guard_ddl_command_start ENABLE;
CREATE TABLE first.quiet_3 (v text);
INSERT INTO first.quiet_3 VALUES ('short');
ALTER TABLE first.quiet_3 ALTER COLUMN v TYPE varchar(5);
CREATE INDEX ON first.quiet_3 (v);
SELECT pg_stat_get_xact_function_calls('memory_guard.on_ddl_command_start'::regproc) AS trigger_calls;
DROP TABLE first.parts;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- In a new session it loads the library again.
\c
CREATE TABLE first.quiet_4 AS SELECT 1 AS x;
DROP TABLE first.quiet_4;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Nothing at stake was dropped.
SELECT (SELECT count(*) FROM first.notes) AS notes, (SELECT count(*) FROM first.parts) AS parts,
       to_regclass('first.other') IS NULL AS other_dropped, to_regclass('first.empty') IS NULL AS empty_dropped;
SET memory_guard.drop_mode = off;
DROP SCHEMA first CASCADE;
TRUNCATE memory_guard.drop_log;
