-- Keys memory_guard's records to this database (src/moved.rs), by the names they keep. Run as
-- the extension's owner, under search_path = pg_catalog, pg_temp.
DELETE FROM memory_guard.keyed_in;
-- The carried fields first: their targets are found through the migration entries of the
-- ledger, whose OIDs are still the old ones here.
WITH moved AS (
    SELECT DISTINCT l.copy_oid AS old_target, pg_catalog.to_regclass(l.copy_name) AS new_target,
           l.source_oid AS old_source, pg_catalog.to_regclass(l.source_name) AS new_source
    FROM memory_guard.ledger l
    WHERE l.kind = 'migration' AND l.copy_oid IS NOT NULL
)
UPDATE memory_guard.memory_notes_carryover c
SET target_oid = m.new_target, source_oid = coalesce(m.new_source, 0)
FROM moved m
WHERE c.target_oid = m.old_target AND c.source_oid = m.old_source
  AND m.new_target IS NOT NULL AND m.new_target <> m.old_target;
-- The ledger: each table and copy by its name; an owner, where the table is still there.
UPDATE memory_guard.ledger l
SET source_oid = coalesce(r.source, 0),
    copy_oid = r.copy,
    source_owner = coalesce((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = r.source), l.source_owner)
FROM (SELECT id, pg_catalog.to_regclass(source_name) AS source, pg_catalog.to_regclass(copy_name) AS copy
      FROM memory_guard.ledger) r
WHERE r.id = l.id
  AND (l.source_oid IS DISTINCT FROM coalesce(r.source, 0) OR l.copy_oid IS DISTINCT FROM r.copy);
-- search_path_history: each function by its signature; what is gone is forgotten. Deleted and
-- written again, so that two functions swapping OIDs cannot collide on the key midway.
WITH gone AS (
    DELETE FROM memory_guard.search_path_history h
    WHERE pg_catalog.to_regprocedure(h.signature) IS DISTINCT FROM h.function_oid
    RETURNING h.signature, h.search_path, h.recorded_at
)
INSERT INTO memory_guard.search_path_history (function_oid, signature, search_path, recorded_at)
SELECT pg_catalog.to_regprocedure(g.signature), g.signature, g.search_path, g.recorded_at
FROM gone g
WHERE pg_catalog.to_regprocedure(g.signature) IS NOT NULL
ON CONFLICT (function_oid) DO NOTHING;
