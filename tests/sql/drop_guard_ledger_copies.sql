-- A ledger entry vouches for a drop only while what it recorded is still there, unchanged: a
-- backup's copy (dropped or edited since, it vouches for nothing), or the rows a migration
-- carried into memories and the side table (deleted or edited since, likewise).
CREATE SCHEMA lc;
CREATE TABLE lc.t AS SELECT g AS id, 'row ' || g AS body FROM generate_series(1, 10) g;
SELECT r->>'row_count' AS backed_up FROM memory_guard.backup_table('lc.t') r;
SELECT copy_name AS copy FROM memory_guard.ledger WHERE source_name = 'lc.t' \gset
-- Unchanged copy: the drop passes, guarded by the backup (rolled back to keep the table).
BEGIN;
DROP TABLE lc.t;
SELECT table_name, guard FROM memory_guard.drop_log WHERE table_name = 'lc.t';
ROLLBACK;
-- The copy was edited: the backup no longer vouches.
UPDATE :copy SET body = 'changed' WHERE id = 1;
\set VERBOSITY terse
DROP TABLE lc.t;
\set VERBOSITY default
UPDATE :copy SET body = 'row 1' WHERE id = 1;
BEGIN;
DROP TABLE lc.t;
SELECT table_name, guard FROM memory_guard.drop_log WHERE table_name = 'lc.t';
ROLLBACK;
-- The copy was dropped (its drop acknowledged): nothing vouches for the table any more.
BEGIN;
SELECT memory_guard.allow_drop(:'copy', reason => 'backups pruned') IS NOT NULL AS allowed;
DROP TABLE :copy;
COMMIT;
\set VERBOSITY terse
DROP TABLE lc.t;
\set VERBOSITY default

-- A migration vouches while memories and the side table still rebuild every legacy row.
CREATE TABLE lc.notes (id uuid PRIMARY KEY, workspace_id uuid, content text, source text,
    tags text[], created_at timestamptz, embedding vector(1536), memory_type text, importance text,
    updated_at timestamptz, archived boolean, run_id uuid, metadata jsonb);
CREATE TABLE lc.mem (id uuid PRIMARY KEY, workspace_id uuid, session_id uuid, content text,
    summary text, embedding vector(1536), importance_score real, memory_type text, category text,
    symbols text[], strategies text[], created_at timestamptz, updated_at timestamptz,
    archived boolean, source text, confidence real);
INSERT INTO lc.notes
SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, NULL, 'note ' || g, 'test',
       ARRAY['t'], timestamptz '2025-11-01' + g * interval '1 hour', NULL, 'fact', 'high',
       NULL, false, NULL, jsonb_build_object('n', g)
FROM generate_series(1, 20) g;
SELECT r->>'newly_migrated' AS migrated, r->>'verified' AS verified
FROM memory_guard.migrate_memory_notes('lc.notes', 'lc.mem') r;
BEGIN;
DROP TABLE lc.notes;
SELECT table_name, guard FROM memory_guard.drop_log WHERE table_name = 'lc.notes';
ROLLBACK;
-- One migrated row edited in memories: the legacy row it rebuilds differs.
UPDATE lc.mem SET content = 'edited' WHERE id = '00000000-0000-0000-0000-000000000001';
\set VERBOSITY terse
DROP TABLE lc.notes;
\set VERBOSITY default
UPDATE lc.mem SET content = 'note 1' WHERE id = '00000000-0000-0000-0000-000000000001';
-- The carried rows deleted from memories: nothing is left anywhere but the source.
DELETE FROM lc.mem;
\set VERBOSITY terse
DROP TABLE lc.notes;
\set VERBOSITY default
SELECT count(*) AS notes_still_there FROM lc.notes;

-- Backups of two tables, dropped in one transaction with other DDL between the drops: the
-- ledger check of the later statements must not revisit the table already dropped.
CREATE TABLE lc.b1 AS SELECT g AS id FROM generate_series(1, 5) g;
CREATE TABLE lc.b2 AS SELECT g AS id FROM generate_series(1, 5) g;
ALTER TABLE lc.b2 ENABLE ROW LEVEL SECURITY;
CREATE POLICY b2_read ON lc.b2 USING (true);
SELECT count(*) AS backups FROM (SELECT memory_guard.backup_table('lc.b1') UNION ALL SELECT memory_guard.backup_table('lc.b2')) b;
BEGIN;
DROP TABLE lc.b1;
DROP POLICY b2_read ON lc.b2;
DROP TABLE lc.b2;
COMMIT;
SELECT table_name, guard FROM memory_guard.drop_log WHERE table_name IN ('lc.b1', 'lc.b2') ORDER BY 1;

SET memory_guard.drop_mode = off;
DELETE FROM memory_guard.memory_notes_carryover WHERE target_oid = 'lc.mem'::regclass;
DELETE FROM memory_guard.ledger WHERE source_name LIKE 'lc.%';
DELETE FROM memory_guard.drop_log WHERE table_name LIKE 'lc.%' OR table_name LIKE 'memory_guard_backup.lc%';
DROP SCHEMA lc CASCADE;
RESET memory_guard.drop_mode;
