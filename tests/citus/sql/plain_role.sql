-- A plain role owning its schema and its distributed tables, on the coordinator: what the guard
-- does for it, and what it cannot get the guard to do.
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE SCHEMA alice AUTHORIZATION alice;
GRANT CREATE, USAGE ON SCHEMA alice TO bob;
SET ROLE alice;
SET citus.shard_count = 8;
CREATE TABLE alice.events (id bigint PRIMARY KEY, payload text);
SELECT create_distributed_table('alice.events', 'id');
INSERT INTO alice.events SELECT g, 'e' || g FROM generate_series(1, 50) g;
CREATE TABLE alice.empty_d (id bigint PRIMARY KEY, v text);
SELECT create_distributed_table('alice.empty_d', 'id');
-- A local table whose name looks like one of events' shards.
CREATE TABLE alice.events_2024 (id int);
INSERT INTO alice.events_2024 SELECT generate_series(1, 10);

-- Empty: TRUNCATE, DROP COLUMN and DROP go through, as the owner, on its own connections.
TRUNCATE alice.empty_d;
ALTER TABLE alice.empty_d DROP COLUMN v;
DROP TABLE alice.empty_d;
-- Holding rows: refused, then acknowledged.
\set VERBOSITY terse
TRUNCATE alice.events;
\set VERBOSITY default
BEGIN;
SELECT memory_guard.allow_drop('alice.events', 'archived');
TRUNCATE alice.events;
COMMIT;
SELECT count(*) AS events_rows FROM alice.events;
SHOW citus.propagate_set_commands;

-- The permit of events covers events' shards, never a table that only looks like one.
INSERT INTO alice.events SELECT g FROM generate_series(1, 5) g;
\set VERBOSITY terse
BEGIN;
SELECT memory_guard.allow_drop('alice.events', 'archived');
DROP TABLE alice.events, alice.events_2024;
ROLLBACK;
BEGIN;
SELECT memory_guard.allow_drop('alice.events', 'archived');
TRUNCATE alice.events;
TRUNCATE alice.events_2024;
ROLLBACK;
-- A permit set by hand on the coordinator is not taken.
BEGIN;
SET LOCAL memory_guard.distributed_permit = '[{"schema":"alice","table":"events","reason":"r","by":"x"}]';
TRUNCATE alice.events_2024;
ROLLBACK;
-- A permit rolled back with its savepoint covers nothing afterwards.
BEGIN;
SELECT memory_guard.allow_drop('alice.events', 'archived');
SAVEPOINT s;
TRUNCATE alice.events;
ROLLBACK TO SAVEPOINT s;
RELEASE SAVEPOINT s;
TRUNCATE alice.events_2024;
ROLLBACK;
\set VERBOSITY default
SELECT count(*) AS lookalike_rows FROM alice.events_2024;

-- DROP COLUMN IF EXISTS of a column that is not there, and a system column: Postgres' own words.
ALTER TABLE alice.events DROP COLUMN IF EXISTS no_such_column;
ALTER TABLE alice.events DROP COLUMN ctid;

-- A partitioned distributed table: the permit reaches its partitions' shards.
CREATE TABLE alice.pev (id bigint, day date, v text) PARTITION BY RANGE (day);
CREATE TABLE alice.pev_2024 PARTITION OF alice.pev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE alice.pev_old PARTITION OF alice.pev FOR VALUES FROM ('2000-01-01') TO ('2024-01-01');
SELECT create_distributed_table('alice.pev', 'id');
INSERT INTO alice.pev VALUES (1, '2024-03-01', 'a'), (2, '2010-01-01', 'b');
\set VERBOSITY terse
TRUNCATE alice.pev;
\set VERBOSITY default
BEGIN;
SELECT memory_guard.allow_drop('alice.pev', 'recomputed');
TRUNCATE alice.pev;
COMMIT;
SELECT count(*) AS pev_rows FROM alice.pev;
RESET ROLE;

-- The owner of a schema does not learn what another role's distributed table in it holds.
SET ROLE bob;
CREATE TABLE alice.secret (id bigint PRIMARY KEY, ssn text);
RESET ROLE;
ALTER TABLE alice.secret OWNER TO bob;
SET ROLE bob;
SELECT create_distributed_table('alice.secret', 'id');
INSERT INTO alice.secret VALUES (1, '123');
RESET ROLE;
SET ROLE alice;
ALTER TABLE alice.secret DROP COLUMN ssn;
RESET ROLE;

SELECT table_name, command_tag, guard, reason, allowed_by FROM memory_guard.drop_log
 WHERE table_name LIKE 'alice.%' ORDER BY id;

-- DROP OWNED deletes the role's distributed tables: judged on the coordinator too.
SET ROLE alice;
\set VERBOSITY terse
DROP OWNED BY alice;
\set VERBOSITY default
RESET ROLE;
SELECT count(*) AS events_kept FROM alice.events;
