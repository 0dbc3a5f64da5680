-- A migration carries its acknowledgement in a form that also runs where memory_guard is not
-- installed (a teammate's local database, a branch): the README's DO block calls allow_drop
-- only where memory_guard (either edition) is installed, and does nothing elsewhere.
\set ack 'DO $ack$ BEGIN IF pg_catalog.to_regprocedure(''memory_guard.allow_drop(text,text)'') IS NOT NULL THEN PERFORM memory_guard.allow_drop(''public.ack_notes'', reason => ''notes moved to memories''); END IF; END $ack$;'
CREATE TABLE ack_notes AS SELECT 1 AS id;
-- With memory_guard: the block gives the permit, and the drop goes through, recorded.
BEGIN;
:ack
DROP TABLE ack_notes;
COMMIT;
SELECT table_name, guard, reason FROM memory_guard.drop_log WHERE table_name = 'public.ack_notes';
-- Without the block, the same drop is refused.
CREATE TABLE ack_notes AS SELECT 1 AS id;
\set VERBOSITY terse
DROP TABLE ack_notes;
\set VERBOSITY default
-- Without memory_guard: the same migration runs, and the call to allow_drop is never made.
CREATE DATABASE ack_without_guard;
\c ack_without_guard
SELECT count(*) AS memory_guard_installed FROM pg_extension WHERE extname = 'memory_guard';
CREATE TABLE ack_notes AS SELECT 1 AS id;
BEGIN;
:ack
DROP TABLE ack_notes;
COMMIT;
SELECT to_regclass('ack_notes') AS ack_notes;
\c memory_guard_regress
DROP DATABASE ack_without_guard;
SET memory_guard.drop_mode = off;
DROP TABLE ack_notes;
RESET memory_guard.drop_mode;
DELETE FROM memory_guard.drop_log WHERE table_name = 'public.ack_notes';
