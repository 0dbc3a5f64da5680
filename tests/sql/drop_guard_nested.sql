-- DDL run inside other statements is judged when that inner statement ends, as sql_drop would
-- have judged it: in DO blocks, functions called from SELECT, procedures that COMMIT, and under
-- savepoints and exception handlers, where a rolled-back attempt leaves nothing behind.
CREATE SCHEMA nested;
SET search_path = nested, public;
CREATE TABLE k1 AS SELECT 1 AS x;
CREATE TABLE k2 AS SELECT 1 AS x;
CREATE TABLE k3 AS SELECT 1 AS x;
\set VERBOSITY terse
-- A refusal caught by an exception handler; the next drop is refused on its own.
DO $$
BEGIN
  BEGIN
    DROP TABLE k1;
  EXCEPTION WHEN dependent_objects_still_exist THEN
    RAISE NOTICE 'caught: %', SQLERRM;
  END;
  DROP TABLE k2;
END $$;
-- A function called from a query.
CREATE FUNCTION drop_k3() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DROP TABLE k3; RETURN 1; END $$;
SELECT drop_k3();
-- A procedure that commits between statements: what it committed stays, the refused drop and
-- what came after the COMMIT do not.
CREATE PROCEDURE make_and_drop() LANGUAGE plpgsql AS $$
BEGIN
  CREATE TABLE e1 (id int);
  COMMIT;
  DROP TABLE e1;
  DROP TABLE k3;
END $$;
CALL make_and_drop();
-- A savepoint: the refusal rolls back to it, and the guard still holds after.
BEGIN;
SAVEPOINT a;
DROP TABLE k1;
ROLLBACK TO a;
DROP TABLE k2;
ROLLBACK;
-- A permit given inside a savepoint that is rolled back is gone with it.
BEGIN;
SAVEPOINT b;
SELECT memory_guard.allow_drop('k1', 'rolled back');
ROLLBACK TO b;
DROP TABLE k1;
ROLLBACK;
\set VERBOSITY default
SELECT to_regclass('e1') IS NOT NULL AS e1_kept,
       (SELECT count(*) FROM k1) + (SELECT count(*) FROM k2) + (SELECT count(*) FROM k3) AS rows_kept,
       (SELECT count(*) FROM memory_guard.drop_log) AS logged;
SET memory_guard.drop_mode = off;
RESET search_path;
DROP SCHEMA nested CASCADE;
RESET memory_guard.drop_mode;
