-- backup_table() and restore_table(): a verified copy guards the drop while the table is
-- unchanged; restore brings back exactly the same rows.
CREATE SCHEMA bk;
CREATE TABLE bk.readings (id int PRIMARY KEY, sensor text, value numeric, at timestamptz, tags text[]);
INSERT INTO bk.readings
SELECT g, 'sensor-' || (g % 7), round((g * 1.37)::numeric, 2), timestamptz '2025-01-01' + g * interval '1 hour',
       CASE WHEN g % 5 = 0 THEN NULL ELSE ARRAY['a', 'b'] END
FROM generate_series(1, 300) g;
CREATE TEMP TABLE readings_before AS SELECT * FROM bk.readings;
-- Row-level security that hides every row from the owner does not hide them from the backup.
ALTER TABLE bk.readings ENABLE ROW LEVEL SECURITY;
ALTER TABLE bk.readings FORCE ROW LEVEL SECURITY;

SELECT r->>'source' AS source, r->>'row_count' AS row_count, r->>'backup' LIKE 'memory_guard_backup.bk__readings__%' AS named
FROM memory_guard.backup_table('bk.readings') r;
SELECT kind, source_name, row_count FROM memory_guard.ledger ORDER BY id;
-- A change after the backup: the drop is refused again.
UPDATE bk.readings SET value = value + 1 WHERE id = 1;
DROP TABLE bk.readings;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE bk.readings SET value = value - 1 WHERE id = 1;
-- Unchanged since the backup: the drop passes, guarded by it.
DROP TABLE bk.readings;
SELECT table_name, guard, details->>'ledger_id' IS NOT NULL AS has_ledger_id FROM memory_guard.drop_log;

SELECT r->>'restored_as' AS restored_as, r->>'row_count' AS row_count FROM memory_guard.restore_table('bk.readings') r;
SELECT count(*) AS missing FROM (SELECT * FROM readings_before EXCEPT SELECT * FROM bk.readings) x;
SELECT count(*) AS extra FROM (SELECT * FROM bk.readings EXCEPT SELECT * FROM readings_before) x;
SELECT pg_get_userbyid(relowner) = current_user AS owned_as_before FROM pg_class WHERE oid = 'bk.readings'::regclass;
-- The backups themselves hold rows: dropping one is guarded like any table.
SELECT format('DROP TABLE %s', copy_name) AS drop_backup FROM memory_guard.ledger WHERE kind = 'backup' ORDER BY id LIMIT 1 \gset
\set VERBOSITY sqlstate
:drop_backup;
\set VERBOSITY default

-- Partitioned tables: the copy holds every partition's rows, and each partition is guarded.
CREATE TABLE bk.events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE bk.events_2024 PARTITION OF bk.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE bk.events_2025 PARTITION OF bk.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO bk.events VALUES (1, '2024-03-01'), (2, '2025-03-01');
SELECT r->>'row_count' AS row_count FROM memory_guard.backup_table('bk.events') r;
DROP TABLE bk.events;
SELECT table_name, guard FROM memory_guard.drop_log ORDER BY id;

-- Bad input: clear errors, nothing created.
SELECT memory_guard.backup_table(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.backup_table('bk.no_such_table');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE VIEW bk.v AS SELECT 1 AS x;
SELECT memory_guard.backup_table('bk.v');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TEMP TABLE tmp_t AS SELECT 1 AS x;
SELECT memory_guard.backup_table('tmp_t');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.restore_table('bk.never_backed_up');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.restore_table('bk.readings');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.restore_table('bk.readings', target => 'x; DROP SCHEMA bk CASCADE; --');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.restore_table(NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Only the table's owner may back it up (the copy is made with rights that see every row).
CREATE ROLE nosy;
GRANT USAGE ON SCHEMA bk TO nosy;
SET ROLE nosy;
SELECT memory_guard.backup_table('bk.readings');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT memory_guard.restore_table('bk.readings', target => 'bk.copy_for_nosy');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP OWNED BY nosy;
DROP ROLE nosy;

SET memory_guard.drop_mode = off;
DROP SCHEMA bk CASCADE;
SET client_min_messages = warning;  -- backup names carry a timestamp
DROP SCHEMA memory_guard_backup CASCADE;
RESET client_min_messages;
RESET memory_guard.drop_mode;
TRUNCATE memory_guard.drop_log, memory_guard.ledger;

-- Checksums digest each value's bytes as stored, detoasted: the same value digests alike
-- whether it is kept inline, compressed or out of line, and any difference shows. Neighbouring
-- values cannot run into each other, and NULL is not the empty string.
CREATE TEMP TABLE stored (how text, v text);
CREATE TEMP TABLE stored_plain (v text);
ALTER TABLE stored_plain ALTER v SET STORAGE main;      -- compressed, kept in the row
CREATE TEMP TABLE stored_out (v text);
ALTER TABLE stored_out ALTER v SET STORAGE external;    -- out of line, uncompressed
INSERT INTO stored VALUES ('compressible', repeat('memory ', 20000)),
                          ('incompressible', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 5000) g));
INSERT INTO stored_plain SELECT v FROM stored;
INSERT INTO stored_out SELECT v FROM stored;
SELECT s.how, pg_column_size(s.v) < length(s.v) AS compressed,
       memory_guard.row_digest(s.v) = memory_guard.row_digest(p.v) AS same_as_in_row,
       memory_guard.row_digest(s.v) = memory_guard.row_digest(o.v) AS same_as_out_of_line,
       memory_guard.row_digest(s.v) = memory_guard.row_digest(s.v || '') AS same_as_in_memory,
       memory_guard.row_digest(s.v) <> memory_guard.row_digest(s.v || '.') AS one_more_byte_shows
FROM stored s JOIN stored_plain p ON p.v = s.v JOIN stored_out o ON o.v = s.v ORDER BY 1;
SELECT memory_guard.row_digest('ab'::text, 'c'::text) <> memory_guard.row_digest('a'::text, 'bc'::text) AS values_kept_apart,
       memory_guard.row_digest(NULL::text) <> memory_guard.row_digest(''::text) AS null_is_not_empty,
       memory_guard.row_digest(1, NULL::int) <> memory_guard.row_digest(NULL::int, 1) AS order_counts,
       memory_guard.row_digest(now()::date) = memory_guard.row_digest(now()::date) AS by_value_alike;
