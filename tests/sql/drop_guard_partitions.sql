-- Partitioned tables and inheritance: rows in any partition or child count, and the error names
-- the table a person dropped, with the partitions that hold the rows.
CREATE SCHEMA parts;
SET search_path = parts, public;
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- Sub-partitioned, rows two levels down.
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
  PARTITION BY LIST (id);
CREATE TABLE events_2026_a PARTITION OF events_2026 FOR VALUES IN (1, 2, 3);
INSERT INTO events VALUES (1, '2024-05-01'), (2, '2026-02-01');

-- Dropping the parent is refused: its partitions hold rows.
DROP TABLE events;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- So is dropping a partition that holds rows on its own, or the intermediate level.
DROP TABLE events_2024;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP TABLE events_2026;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows_left FROM events;
-- An empty partition may go.
DROP TABLE events_2025;
-- A permit on the parent covers its partitions.
BEGIN;
SELECT memory_guard.allow_drop('events', reason => 'events moved to the warehouse');
DROP TABLE events;
COMMIT;
SELECT table_name, guard, reason, details->>'root' AS root, details->>'is_partition' AS is_partition
FROM memory_guard.drop_log ORDER BY table_name;
TRUNCATE memory_guard.drop_log;

-- Inheritance: rows only in a child still make the parent's drop with CASCADE lose them.
CREATE TABLE animals (name text);
CREATE TABLE dogs (breed text) INHERITS (animals);
INSERT INTO dogs VALUES ('rex', 'collie');
DROP TABLE animals CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Without CASCADE Postgres itself refuses first.
DROP TABLE animals;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The empty parent alone may go once the child is detached.
ALTER TABLE dogs NO INHERIT animals;
DROP TABLE animals;
SELECT count(*) AS dogs_kept FROM dogs;

SET memory_guard.drop_mode = off;
DROP SCHEMA parts CASCADE;
RESET memory_guard.drop_mode;
