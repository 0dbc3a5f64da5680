-- migrate_memory_notes(): the seed's Option A plus everything it threw away, proven lossless by a
-- round trip; idempotent; verified; and afterwards the migration's DROP passes the guard.
\set ECHO none
\set QUIET on
SET client_min_messages = error;
\i fixtures/history_before_20251123.psql
-- memories and the other new tables, as 20251123000000 creates them (its DROP comes later).
\! grep -v '^DROP TABLE IF EXISTS memory_notes' fixtures/20251123000000_enhance_memory_system.sql > results/enhance_without_drop.sql
\i results/enhance_without_drop.sql
RESET client_min_messages;
\set ECHO all
CREATE TEMP TABLE legacy_before AS SELECT * FROM memory_notes;

-- A dry run reports and writes nothing.
SELECT r->>'source_rows' AS source_rows, r->>'newly_migrated' AS would_migrate, r->>'dry_run' AS dry_run
FROM memory_guard.migrate_memory_notes(dry_run => true) r;
SELECT count(*) AS memories_after_dry_run FROM memories;

SELECT r->>'source_rows' AS source_rows, r->>'newly_migrated' AS newly_migrated,
       r->>'already_present' AS already_present, r->>'verified' AS verified,
       length(r->>'checksum') AS checksum_length
FROM memory_guard.migrate_memory_notes() r;

-- Option A's mapping, on the odd rows too.
SELECT n.importance, m.importance_score, count(*)
FROM memory_notes n JOIN memories m ON m.id = n.id GROUP BY 1, 2 ORDER BY 1 NULLS FIRST;
SELECT count(*) FILTER (WHERE m.summary = n.content) AS summary_is_content,
       count(*) FILTER (WHERE m.symbols IS NOT DISTINCT FROM n.tags) AS symbols_are_tags,
       count(*) FILTER (WHERE m.memory_type = coalesce(n.memory_type, 'observation')) AS type_defaulted,
       count(*) FILTER (WHERE m.confidence = 1.0) AS confidence_one,
       count(*) FILTER (WHERE m.archived = coalesce(n.archived, false)) AS archived_defaulted,
       count(*) FILTER (WHERE m.updated_at = coalesce(n.updated_at, n.created_at)) AS updated_defaulted,
       count(*) FILTER (WHERE m.embedding IS NOT DISTINCT FROM n.embedding) AS same_embedding
FROM memory_notes n JOIN memories m ON m.id = n.id;

-- Lossless: memory_notes rebuilt from memories and the side table equals the original, both ways.
CREATE TEMP VIEW rebuilt AS
SELECT m.id, m.workspace_id, m.content, m.source, m.symbols AS tags, m.created_at, m.embedding,
       c.memory_type, c.importance, c.updated_at, c.archived, c.run_id, c.metadata
FROM memories m JOIN memory_guard.memory_notes_carryover c ON c.legacy_id = m.id;
SELECT count(*) AS missing_from_rebuilt FROM (SELECT * FROM legacy_before EXCEPT SELECT * FROM rebuilt) x;
SELECT count(*) AS extra_in_rebuilt FROM (SELECT * FROM rebuilt EXCEPT SELECT * FROM legacy_before) x;

-- Idempotent: a second call adds nothing; a row added since is carried by the next call.
SELECT r->>'newly_migrated' AS newly_migrated, r->>'already_present' AS already_present
FROM memory_guard.migrate_memory_notes() r;
INSERT INTO memory_notes (id, workspace_id, content, importance, tags, created_at, updated_at)
VALUES ('11111111-1111-4111-8111-111111111111', '00000000-0000-4000-8000-000000000001', 'added later',
        'high', '{}', '2025-11-22 10:00:00+00', '2025-11-22 10:00:00+00');
-- A carried row changed in memories since: the next call does not verify, raises, and writes nothing.
UPDATE memories SET content = content || ' (edited)' WHERE id = md5('memory_note_30')::uuid;
SELECT memory_guard.migrate_memory_notes();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS carried_so_far FROM memory_guard.memory_notes_carryover;
UPDATE memories SET content = replace(content, ' (edited)', '') WHERE id = md5('memory_note_30')::uuid;
-- The source changed since the migration: the drop is blocked again.
DROP TABLE memory_notes CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT r->>'newly_migrated' AS newly_migrated, r->>'already_present' AS already_present
FROM memory_guard.migrate_memory_notes() r;
-- Unchanged since the last migration: the migration's own DROP passes, logged as guarded by it.
DROP TABLE IF EXISTS memory_notes CASCADE;
SELECT table_name, guard, estimated_rows FROM memory_guard.drop_log;

-- Clear errors, nothing changed.
SELECT memory_guard.migrate_memory_notes();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE notes_no_meta (LIKE legacy_before);
ALTER TABLE notes_no_meta DROP COLUMN metadata;
SELECT memory_guard.migrate_memory_notes('notes_no_meta');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE notes_bad_tags (LIKE legacy_before);
ALTER TABLE notes_bad_tags ALTER COLUMN tags TYPE jsonb USING to_jsonb(tags);
SELECT memory_guard.migrate_memory_notes('notes_bad_tags');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE TABLE notes_small (LIKE legacy_before);
ALTER TABLE notes_small ALTER COLUMN embedding TYPE vector(3);
SELECT memory_guard.migrate_memory_notes('notes_small');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A target that already holds a row with a legacy id: the whole call fails, nothing is written.
CREATE TABLE notes_clash (LIKE legacy_before INCLUDING DEFAULTS);
INSERT INTO notes_clash SELECT * FROM legacy_before WHERE id = md5('memory_note_1')::uuid;
DELETE FROM memory_guard.memory_notes_carryover WHERE legacy_id = md5('memory_note_1')::uuid;
SELECT count(*) AS memories_before FROM memories;
SELECT memory_guard.migrate_memory_notes('notes_clash');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS memories_after FROM memories;
-- Only the owner of both tables may migrate.
CREATE ROLE migrator_without_rights;
SET ROLE migrator_without_rights;
SELECT memory_guard.migrate_memory_notes('notes_clash');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE migrator_without_rights;

SELECT memory_guard.migrate_memory_notes(NULL, NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- Verification reads back what the tables hold when a trigger could change rows after
-- RETURNING saw them: an AFTER INSERT trigger that rewrites what was carried is caught, and the
-- whole call is undone.
CREATE TABLE notes_late (LIKE legacy_before INCLUDING DEFAULTS);
INSERT INTO notes_late SELECT * FROM legacy_before WHERE id IN (md5('memory_note_1')::uuid, md5('memory_note_2')::uuid);
UPDATE notes_late SET id = md5('late ' || id::text)::uuid;
CREATE FUNCTION rewrite_after_insert() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN UPDATE memories SET content = 'rewritten' WHERE id = NEW.id; RETURN NULL; END $$;
CREATE TRIGGER rewrite_after_insert AFTER INSERT ON memories FOR EACH ROW EXECUTE FUNCTION rewrite_after_insert();
SELECT count(*) AS memories_before FROM memories;
SELECT memory_guard.migrate_memory_notes('notes_late') IS NOT NULL;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS memories_after FROM memories;
DROP TRIGGER rewrite_after_insert ON memories;
DROP FUNCTION rewrite_after_insert();
-- A view is not a target: what is written through it cannot be verified where it lands.
CREATE VIEW memories_view AS SELECT * FROM memories;
SELECT memory_guard.migrate_memory_notes('notes_late', 'memories_view');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP VIEW memories_view;

-- Large tables: batches of 10,000 rows, each followed by a progress NOTICE.
CREATE TABLE big_notes (LIKE legacy_before);
INSERT INTO big_notes (id, workspace_id, content, created_at)
SELECT md5('big' || g)::uuid, '00000000-0000-4000-8000-000000000001', 'bulk note ' || g, '2025-01-01'
FROM generate_series(1, 20001) g;
SELECT r->>'newly_migrated' AS newly_migrated, r->>'verified' AS verified
FROM memory_guard.migrate_memory_notes('big_notes') r;

-- Leave the database as found: the fixture schema lives in public.
SET memory_guard.drop_mode = off;
SET client_min_messages = warning;
DROP TABLE big_notes, notes_late, notes_no_meta, notes_bad_tags, notes_small, notes_clash, memory_evidence, memories,
  trading_rules, regime_profile_performance, market_events, overfitting_warnings, backtest_runs,
  chat_sessions, workspaces CASCADE;
DROP FUNCTION search_memory_notes, hybrid_search_memories, update_updated_at_column;
RESET client_min_messages;
RESET memory_guard.drop_mode;
TRUNCATE memory_guard.drop_log, memory_guard.ledger, memory_guard.memory_notes_carryover;
