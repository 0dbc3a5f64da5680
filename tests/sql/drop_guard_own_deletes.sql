-- Rows the dropping transaction itself deleted are still at stake: their loss commits with the
-- drop. Each of these once went through silently, with no drop_log row.
CREATE SCHEMA od;
CREATE TABLE od.t AS SELECT g AS id FROM generate_series(1, 5) g;
CREATE TABLE od.c AS SELECT g AS id, 'value ' || g AS v FROM generate_series(1, 5) g;
\set VERBOSITY terse
BEGIN;
DELETE FROM od.t;
DROP TABLE od.t;
ROLLBACK;
BEGIN;
UPDATE od.c SET v = NULL;
ALTER TABLE od.c DROP COLUMN v;
ROLLBACK;
BEGIN;
DELETE FROM od.t;
DELETE FROM od.c;
DROP SCHEMA od CASCADE;
ROLLBACK;
-- The delete in a savepoint that was released counts too; in one rolled back, nothing was deleted.
BEGIN;
SAVEPOINT s;
DELETE FROM od.t;
RELEASE SAVEPOINT s;
DROP TABLE od.t;
ROLLBACK;
\set VERBOSITY default
SELECT (SELECT count(*) FROM od.t) AS t_rows, (SELECT count(v) FROM od.c) AS c_values;
-- Rows the transaction inserted and deleted itself were never committed: nothing is lost.
CREATE TABLE od.scratch (id int);
BEGIN;
INSERT INTO od.scratch VALUES (1);
DELETE FROM od.scratch;
DROP TABLE od.scratch;
COMMIT;
SELECT to_regclass('od.scratch') IS NULL AS scratch_dropped;
-- With a permit, the same drop goes through and is logged.
BEGIN;
DELETE FROM od.t;
SELECT memory_guard.allow_drop('od.t', reason => 'emptied on purpose') IS NOT NULL AS allowed;
DROP TABLE od.t;
COMMIT;
SELECT table_name, guard, reason FROM memory_guard.drop_log WHERE table_name = 'od.t';
SET memory_guard.drop_mode = off;
DELETE FROM memory_guard.drop_log WHERE table_name LIKE 'od.%';
DROP SCHEMA od CASCADE;
RESET memory_guard.drop_mode;
