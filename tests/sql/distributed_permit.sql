-- memory_guard.distributed_permit is how a Citus coordinator's permit reaches the workers of a
-- distributed transaction (the whole story, with Citus: tests/citus/). Only a Citus worker takes
-- it: anywhere else, set by hand, it grants nothing, even for a table named as a shard would be.
CREATE SCHEMA dp;
SET search_path = dp, public;
CREATE TABLE events_102008 (x int);
INSERT INTO events_102008 VALUES (1);
\set VERBOSITY terse
BEGIN;
SET LOCAL memory_guard.distributed_permit = '[{"schema":"dp","table":"events","reason":"events moved to the warehouse","by":"coordinator_role"}]';
DROP TABLE events_102008;
ROLLBACK;
BEGIN;
SET LOCAL memory_guard.distributed_permit = 'on';
DROP TABLE events_102008;
ROLLBACK;
\set VERBOSITY default
SELECT count(*) AS rows_kept FROM events_102008;
SET memory_guard.drop_mode = off;
DROP SCHEMA dp CASCADE;
RESET memory_guard.drop_mode;
