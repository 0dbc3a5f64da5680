-- What a Citus worker's guard does with memory_guard.distributed_permit, the permit a coordinator
-- carries to the workers of a distributed transaction (the whole story, with Citus, is
-- tests/citus/). Here without Citus: a table named as a shard is, table_<digits>, stands in for one.
CREATE SCHEMA dp;
SET search_path = dp, public;
CREATE TABLE events_102008 (x int);
INSERT INTO events_102008 VALUES (1);
CREATE TABLE events_x (x int);
INSERT INTO events_x VALUES (1);
CREATE TABLE events_102009 (x int);
INSERT INTO events_102009 VALUES (1);
\set permit '[{"schema":"dp","table":"events","reason":"events moved to the warehouse","by":"coordinator_role"}]'
-- Without the permit, a shard is a table like any other.
\set VERBOSITY terse
DROP TABLE events_102008;
-- The permit covers the table's shards only: not another name, not another schema's shard.
BEGIN;
SET LOCAL memory_guard.distributed_permit = :'permit';
DROP TABLE events_x;
ROLLBACK;
BEGIN;
SET LOCAL memory_guard.distributed_permit = '[{"schema":"public","table":"events","reason":"r","by":"x"}]';
DROP TABLE events_102008;
ROLLBACK;
-- A value that is not a list of permits, or one with a blank reason, grants nothing.
BEGIN;
SET LOCAL memory_guard.distributed_permit = 'on';
DROP TABLE events_102008;
ROLLBACK;
BEGIN;
SET LOCAL memory_guard.distributed_permit = '[{"schema":"dp","table":"events","reason":"  ","by":"x"}]';
DROP TABLE events_102008;
ROLLBACK;
\set VERBOSITY default
-- With it, the shard goes, and this node's drop_log says whose permit it was; allowed_by is the
-- role that ran the drop here, whatever the permit claims.
CREATE ROLE dp_app;
ALTER TABLE events_102008 OWNER TO dp_app;
GRANT USAGE ON SCHEMA dp TO dp_app;
SET ROLE dp_app;
BEGIN;
SET LOCAL memory_guard.distributed_permit = :'permit';
DROP TABLE events_102008;
COMMIT;
RESET ROLE;
SELECT to_regclass('dp.events_102008') IS NULL AS shard_gone;
SELECT table_name, guard, reason, allowed_by, role_name FROM memory_guard.drop_log
 WHERE table_name = 'dp.events_102008';
-- The setting lasts for its transaction only.
\set VERBOSITY terse
DROP TABLE events_102009;
\set VERBOSITY default
SET memory_guard.drop_mode = off;
DROP SCHEMA dp CASCADE;  -- events_x and events_102009
RESET memory_guard.drop_mode;
DROP ROLE dp_app;
DELETE FROM memory_guard.drop_log WHERE table_name LIKE 'dp.%';
