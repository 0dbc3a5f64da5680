-- The drop guard on plain tables: which DROP TABLE forms are stopped, which pass, and what the
-- refusal says. Every blocked statement is followed by its SQLSTATE and a check that nothing
-- was dropped.
CREATE SCHEMA basic;
SET search_path = basic, public;
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO notes VALUES (1, 'keep me'), (2, 'me too');
CREATE TABLE empty_one (id int);
CREATE TABLE "Memory Notes" (id int);
INSERT INTO "Memory Notes" VALUES (1);
CREATE FUNCTION basic.read_notes() RETURNS bigint LANGUAGE plpgsql
  AS $$ BEGIN RETURN (SELECT count(*) FROM basic.notes); END $$;

-- Plain, IF EXISTS and CASCADE forms of a table holding rows are refused.
DROP TABLE notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE IF EXISTS notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- CASCADE: DETAIL says what would go with it, and which functions still read the table.
CREATE VIEW notes_view AS SELECT * FROM notes;
DROP TABLE notes CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT to_regclass('basic.notes_view') IS NOT NULL AS view_still_there;
DROP VIEW notes_view;
-- Schema-qualified, quoted, and resolved through search_path.
DROP TABLE basic.notes;
DROP TABLE basic."Memory Notes";
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Several tables in one statement: one empty, one with rows; the whole statement fails.
DROP TABLE empty_one, notes;
SELECT count(*) AS notes_rows FROM notes;
SELECT to_regclass('basic.empty_one') IS NOT NULL AS empty_one_still_there;
-- With statistics, DETAIL gives an estimate of the rows at stake.
CREATE TABLE analyzed AS SELECT g AS id FROM generate_series(1, 500) g;
ANALYZE analyzed;
DROP TABLE analyzed;

-- What passes: empty tables, absent tables under IF EXISTS, temporary tables.
DROP TABLE empty_one;
DROP TABLE IF EXISTS no_such_table;
CREATE TEMP TABLE scratch AS SELECT 1 AS x;
DROP TABLE scratch;
-- A table whose rows were all deleted holds nothing (the probe sees no visible row).
CREATE TABLE emptied AS SELECT g AS id FROM generate_series(1, 1000) g;
DELETE FROM emptied;
DROP TABLE emptied;

-- A table created and filled by the same transaction loses nothing committed: it passes and is logged.
BEGIN;
CREATE TABLE staging AS SELECT g AS id FROM generate_series(1, 5) g;
DROP TABLE staging;
COMMIT;

-- allow_drop guards the drop for the current transaction only.
BEGIN;
SELECT memory_guard.allow_drop('notes', reason => 'replaced by memories');
DROP TABLE notes;
ROLLBACK;
-- The permit ended with the transaction.
DROP TABLE notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A permit granted inside a rolled-back savepoint was never granted.
BEGIN;
SAVEPOINT s1;
SELECT memory_guard.allow_drop('notes', reason => 'changed my mind');
ROLLBACK TO SAVEPOINT s1;
DROP TABLE notes;
ROLLBACK;
-- One inside a released savepoint stays.
BEGIN;
SAVEPOINT s1;
SELECT memory_guard.allow_drop('notes', reason => 'notes moved to memories');
RELEASE SAVEPOINT s1;
DROP TABLE notes;
COMMIT;
SELECT to_regclass('basic.notes') IS NULL AS notes_gone;
-- A permit for one table does not cover another in the same statement.
CREATE TABLE a_full AS SELECT 1 AS x;
CREATE TABLE b_full AS SELECT 2 AS x;
BEGIN;
SELECT memory_guard.allow_drop('a_full', reason => 'obsolete');
DROP TABLE a_full, b_full;
ROLLBACK;
BEGIN;
SELECT memory_guard.allow_drop('a_full', reason => 'obsolete');
SELECT memory_guard.allow_drop('basic.b_full', reason => 'obsolete too');
DROP TABLE a_full, b_full;
COMMIT;
BEGIN;
SELECT memory_guard.allow_drop('"Memory Notes"', reason => 'quoted names work');
DROP TABLE "Memory Notes";
COMMIT;

-- drop_log has every drop of a table holding rows that passed, with its guard and reason.
SELECT table_name, command_tag, guard, reason, role_name = current_user AS by_me,
       estimated_rows IS NULL OR estimated_rows > 0 AS rows_estimated
FROM memory_guard.drop_log ORDER BY id;

-- Bad arguments get a clear error with a SQLSTATE, and grant nothing.
SELECT memory_guard.allow_drop(NULL, 'reason');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.allow_drop('basic.t', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.allow_drop('basic.t', '   ');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.allow_drop('basic.no_such_table', 'reason');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE VIEW v AS SELECT 1 AS x;
SELECT memory_guard.allow_drop('basic.v', 'reason');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.allow_drop('not a "valid name', 'reason');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The event-trigger function refuses to be called directly.
SELECT memory_guard.on_ddl_command_start();
\echo SQLSTATE :LAST_ERROR_SQLSTATE

SET memory_guard.drop_mode = off;
DROP SCHEMA basic CASCADE;
RESET memory_guard.drop_mode;
TRUNCATE memory_guard.drop_log;
