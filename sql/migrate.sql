-- The toolkit's SQL faces. Defaults are text cast at call time, so they name tables that need not
-- exist when the extension is installed.
CREATE FUNCTION memory_guard.migrate_memory_notes(
    source  regclass DEFAULT 'public.memory_notes'::pg_catalog.text::pg_catalog.regclass,
    target  regclass DEFAULT 'public.memories'::pg_catalog.text::pg_catalog.regclass,
    dry_run boolean  DEFAULT false
) RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
-- Each batch keeps its 10,000 source rows (toast pointers, not embeddings: about 3 MB) in memory
-- while it inserts and digests them; at the default 4 MB they would spill to disk.
SET work_mem = '64MB'
AS $$ SELECT memory_guard._migrate_memory_notes(source::pg_catalog.oid, target::pg_catalog.oid, coalesce(dry_run, false)) $$;
COMMENT ON FUNCTION memory_guard.migrate_memory_notes(regclass, regclass, boolean) IS
  'Carries every memory_notes row into memories, losslessly (side table memory_notes_carryover), idempotent, verified.';

CREATE FUNCTION memory_guard.backup_table(tbl regclass, backup_schema name DEFAULT 'memory_guard_backup')
RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT memory_guard._backup_table(tbl::pg_catalog.oid, backup_schema::pg_catalog.text) $$;
COMMENT ON FUNCTION memory_guard.backup_table(regclass, name) IS
  'Copies a table into backup_schema, verifies the copy and records it in memory_guard.ledger.';
