-- Data dies without DROP TABLE too: ALTER TABLE … DROP COLUMN of a column holding values, and
-- cascades that take columns (DROP TYPE/DOMAIN/EXTENSION … CASCADE). Same probe, same guards.
CREATE SCHEMA cols;
SET search_path = cols, public;
CREATE TABLE books (id int, title text, note text, blank text);
INSERT INTO books VALUES (1, 'Dune', NULL, NULL), (2, 'Emma', 'borrowed', NULL);
CREATE TABLE shelf (id int, label text);

ALTER TABLE books DROP COLUMN note;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A column NULL in every row, and a column of an empty table, hold nothing.
ALTER TABLE books DROP COLUMN blank;
ALTER TABLE shelf DROP COLUMN label;
-- A column permit guards that column only; a table permit guards all of the table.
BEGIN;
SELECT memory_guard.allow_drop('cols.books.note', reason => 'notes moved to a table of their own');
ALTER TABLE books DROP COLUMN title;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT memory_guard.allow_drop('cols.books.note', reason => 'notes moved to a table of their own');
ALTER TABLE books DROP COLUMN note;
COMMIT;
BEGIN;
SELECT memory_guard.allow_drop('books', reason => 'rebuilding the table');
ALTER TABLE books DROP COLUMN title;
ROLLBACK;
-- A backup of the table guards its columns too.
SELECT r->>'row_count' AS backed_up FROM memory_guard.backup_table('cols.books') r;
ALTER TABLE books DROP COLUMN title;
SELECT table_name, column_name, guard, reason FROM memory_guard.drop_log ORDER BY id;
SELECT memory_guard.allow_drop('cols.books.nope', 'x');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Partitions count: the values are in a partition.
CREATE TABLE readings (id int, at date, raw jsonb) PARTITION BY RANGE (at);
CREATE TABLE readings_2025 PARTITION OF readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO readings VALUES (1, '2025-05-01', '{"v": 1}');
ALTER TABLE readings DROP COLUMN raw;
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Cascades: DROP TYPE … CASCADE and DROP DOMAIN … CASCADE drop the columns of that type.
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE DOMAIN isbn AS text CHECK (length(VALUE) IN (10, 13));
CREATE TABLE loans (id int, mood mood, book_isbn isbn);
INSERT INTO loans VALUES (1, 'calm', '0441172717');
DROP TYPE mood CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP DOMAIN isbn CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS loans_columns FROM information_schema.columns WHERE table_name = 'loans';

SET memory_guard.drop_mode = off;
DROP SCHEMA cols CASCADE;
SET client_min_messages = warning;
DROP SCHEMA memory_guard_backup CASCADE;
RESET client_min_messages;
RESET memory_guard.drop_mode;
RESET search_path;
TRUNCATE memory_guard.drop_log, memory_guard.ledger;

-- DROP EXTENSION vector CASCADE on the seed's database, midway through the safe migration
-- (memories filled, memory_notes still there): every vector column holding values is named.
\set ECHO none
\set QUIET on
SET client_min_messages = error;
\i fixtures/history_before_20251123.psql
\! grep -v '^DROP TABLE IF EXISTS memory_notes' fixtures/20251123000000_enhance_memory_system.sql > results/enhance_without_drop_cols.sql
\i results/enhance_without_drop_cols.sql
\o /dev/null
SELECT memory_guard.migrate_memory_notes();
\o
-- Forget the migration's ledger entry: memory_notes is then unguarded too.
TRUNCATE memory_guard.ledger;
RESET client_min_messages;
\set QUIET off
\set ECHO all
DROP EXTENSION vector CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(embedding) AS embeddings_kept FROM memories;

SET memory_guard.drop_mode = off;
SET client_min_messages = warning;
DROP TABLE memory_notes, memory_evidence, memories, trading_rules, regime_profile_performance,
  market_events, overfitting_warnings, backtest_runs, chat_sessions, workspaces CASCADE;
DROP FUNCTION search_memory_notes, hybrid_search_memories, update_updated_at_column;
RESET client_min_messages;
RESET memory_guard.drop_mode;
TRUNCATE memory_guard.drop_log, memory_guard.ledger, memory_guard.memory_notes_carryover;
