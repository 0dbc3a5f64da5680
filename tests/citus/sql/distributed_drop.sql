-- memory_guard on a Citus coordinator: DROP TABLE (and TRUNCATE, DROP COLUMN) of distributed and
-- reference tables holding rows. The rows live in the shards on the workers (32 shards over 2
-- workers); the coordinator's own relation "events" is empty. The coordinator's guard judges the
-- distributed table, and a permit given on the coordinator carries the acknowledged drop through
-- every shard, recorded once in the coordinator's drop_log.
SET citus.shard_count = 32;
SELECT count(*) AS nodes FROM pg_dist_node;
SELECT extname FROM pg_extension WHERE extname IN ('citus', 'memory_guard') ORDER BY 1;

CREATE TABLE events (id bigint PRIMARY KEY, payload text);
SELECT create_distributed_table('events', 'id');
INSERT INTO events SELECT g, 'event ' || g FROM generate_series(1, 1000) g;
CREATE TABLE countries (code text PRIMARY KEY, name text);
SELECT create_reference_table('countries');
INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Germany');
CREATE TABLE empty_events (id bigint PRIMARY KEY);
SELECT create_distributed_table('empty_events', 'id');
SELECT logicalrelid, partmethod, repmodel FROM pg_dist_partition ORDER BY logicalrelid::text;
SELECT count(*) AS events_rows FROM events;
SELECT count(*) AS shards, count(DISTINCT nodeport) AS nodes_holding_shards
  FROM pg_dist_shard JOIN pg_dist_placement USING (shardid) JOIN pg_dist_node USING (groupid)
  WHERE logicalrelid = 'events'::regclass;

-- Unacknowledged: refused by the coordinator's guard, naming the distributed table, before any
-- shard is touched (a worker without memory_guard would not be asked).
DROP TABLE events;
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS events_rows_after_refusal FROM events;
TRUNCATE events;
\echo SQLSTATE :SQLSTATE
ALTER TABLE events DROP COLUMN payload;
\echo SQLSTATE :SQLSTATE
-- A reference table (a placement on every node, the coordinator included) likewise.
DROP TABLE countries;
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS events_rows_still FROM events;
SELECT count(*) AS countries_rows_still FROM countries;

-- Acknowledged on the coordinator, in the same transaction.
BEGIN;
SELECT memory_guard.allow_drop('events', 'test');
DROP TABLE events;
\echo SQLSTATE :SQLSTATE
COMMIT;
SELECT to_regclass('public.events') IS NOT NULL AS events_still_there;
SELECT table_name, command_tag, guard, reason FROM memory_guard.drop_log ORDER BY 1, 2;

-- An empty distributed table drops without a permit.
DROP TABLE empty_events;
\echo SQLSTATE :SQLSTATE
SELECT to_regclass('public.empty_events') IS NOT NULL AS empty_events_still_there;

-- With statistics on the shards, the estimate is their sum.
CREATE TABLE metrics (id bigint PRIMARY KEY, value float8);
SELECT create_distributed_table('metrics', 'id');
INSERT INTO metrics SELECT g, g / 10.0 FROM generate_series(1, 500) g;
ANALYZE metrics;
DROP TABLE metrics;
\echo SQLSTATE :SQLSTATE

-- TRUNCATE and DROP COLUMN acknowledged on the coordinator go through on every shard.
BEGIN;
SELECT memory_guard.allow_drop('metrics', 'metrics recomputed nightly');
TRUNCATE metrics;
COMMIT;
SELECT count(*) AS metrics_rows FROM metrics;
INSERT INTO metrics SELECT g, g FROM generate_series(1, 10) g;
BEGIN;
SELECT memory_guard.allow_drop('metrics.value', 'values recomputed');
ALTER TABLE metrics DROP COLUMN value;
COMMIT;
SELECT count(*) AS metrics_columns FROM pg_attribute WHERE attrelid = 'metrics'::regclass AND attnum > 0 AND NOT attisdropped;

-- A reference table has a placement here too: acknowledged, it goes, recorded once.
BEGIN;
SELECT memory_guard.allow_drop('countries', 'country list moved to a service');
DROP TABLE countries;
COMMIT;
SELECT to_regclass('public.countries') IS NOT NULL AS countries_still_there;
-- The coordinator's drop_log: one row per distributed table, none per shard.
SELECT table_name, command_tag, guard, reason, estimated_rows FROM memory_guard.drop_log ORDER BY id;

-- A worker records the shards it dropped under the coordinator's permit.
\c :worker1
SELECT count(*) > 0 AS shard_drops_recorded,
       count(*) FILTER (WHERE reason NOT LIKE '% (permit of the Citus coordinator for public.%, claimed by %)') AS without_origin
  FROM memory_guard.drop_log;

-- Workers' guards keep protecting shards changed directly on a worker.
\c :coordinator
INSERT INTO metrics SELECT g FROM generate_series(100, 200) g;
\c :worker1
SET citus.override_table_visibility = off;
SET citus.enable_manual_changes_to_shards = on;
SELECT format('TRUNCATE %s', c.oid::regclass) AS truncate_a_shard
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relname ~ '^metrics_[0-9]+$'
   AND EXISTS (SELECT FROM pg_dist_shard s WHERE 'metrics_' || s.shardid = c.relname)
 ORDER BY c.relname LIMIT 1 \gset
\set VERBOSITY terse
:truncate_a_shard;
\echo SQLSTATE :SQLSTATE
-- A permit set by hand on a worker is no more than allow_drop there: it goes through, and is
-- recorded on that worker.
BEGIN;
SET LOCAL memory_guard.distributed_permit = '[{"schema":"public","table":"metrics","reason":"set by hand","by":"someone"}]';
:truncate_a_shard;
COMMIT;
\set VERBOSITY default
SELECT count(*) AS hand_permits_recorded FROM memory_guard.drop_log WHERE reason LIKE 'set by hand%';
\c :coordinator

-- DROP SCHEMA … CASCADE takes the distributed tables in it: judged on the coordinator too.
CREATE SCHEMA analytics;
CREATE TABLE analytics.visits (id bigint PRIMARY KEY);
SELECT create_distributed_table('analytics.visits', 'id');
INSERT INTO analytics.visits SELECT g FROM generate_series(1, 50) g;
DROP SCHEMA analytics CASCADE;
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS visits_kept FROM analytics.visits;
BEGIN;
SELECT memory_guard.allow_drop('analytics.visits', 'analytics moved out');
DROP SCHEMA analytics CASCADE;
COMMIT;
SELECT to_regnamespace('analytics') IS NULL AS analytics_gone;
SELECT table_name, command_tag, guard FROM memory_guard.drop_log WHERE table_name LIKE 'analytics.%';

-- A lossy type change of a distributed table's column holding values: reported once, by the
-- coordinator, as the distributed table's column (memory_guard.type_change_mode = warn).
CREATE TABLE readings (id bigint PRIMARY KEY, level bigint);
SELECT create_distributed_table('readings', 'id');
INSERT INTO readings SELECT g, g FROM generate_series(1, 20) g;
SET client_min_messages = warning;
ALTER TABLE readings ALTER COLUMN level TYPE smallint;
RESET client_min_messages;
SET memory_guard.type_change_mode = error;
ALTER TABLE readings ALTER COLUMN level TYPE boolean USING level > 10;
\echo SQLSTATE :SQLSTATE
RESET memory_guard.type_change_mode;
