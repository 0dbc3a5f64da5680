-- Keys memory_guard's records to this database after a move (src/moved.rs), by the names they
-- keep: a record is bound again only to an object of the same name owned by the role of the
-- same name; what is not found stops naming anything. Nothing here raises for a name that no
-- longer resolves (no to_regclass or to_regprocedure: a signature naming a dropped type makes
-- those raise). Run as the extension's owner, under search_path = pg_catalog, pg_temp.
DELETE FROM memory_guard.keyed_in;

-- The carried fields first, through the newest migration entry of each target name, whose OIDs
-- are still the old ones here: each row goes to the table its entry names now, if that table's
-- owner has the recorded owner's name, and is set aside (target 0, readable by the extension's
-- owner alone) otherwise; an old OID is never left in place, where it may name another table.
-- Deleted and written again in one statement, so that targets swapping OIDs cannot collide on
-- the key midway.
WITH rel AS (
    SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS name,
           pg_catalog.pg_get_userbyid(c.relowner) AS owner_name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
), newest AS (
    SELECT DISTINCT ON (l.copy_name) l.copy_name, l.copy_oid, l.copy_owner_name
    FROM memory_guard.ledger l
    WHERE l.kind = 'migration' AND l.copy_oid IS NOT NULL
    ORDER BY l.copy_name, l.id DESC
), plan AS (
    SELECT DISTINCT ON (e.copy_oid) e.copy_oid AS old_target, r.oid AS new_target
    FROM newest e JOIN rel r ON r.name = e.copy_name AND r.owner_name = e.copy_owner_name
    ORDER BY e.copy_oid
), gone AS (
    DELETE FROM memory_guard.memory_notes_carryover c WHERE c.target_oid <> 0 RETURNING c.*
)
INSERT INTO memory_guard.memory_notes_carryover
    (legacy_id, source_oid, target_oid, memory_type, importance, updated_at, archived, run_id, metadata, migrated_at)
SELECT g.legacy_id, g.source_oid, coalesce(p.new_target, 0), g.memory_type, g.importance, g.updated_at,
       g.archived, g.run_id, g.metadata, g.migrated_at
FROM gone g LEFT JOIN plan p ON p.old_target = g.target_oid;

-- The ledger: each table, and each copy (a backup's is the extension owner's), by name and
-- owner; owners by name.
WITH rel AS (
    SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS name,
           c.relowner, pg_catalog.pg_get_userbyid(c.relowner) AS owner_name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p')
)
UPDATE memory_guard.ledger l
SET source_oid = coalesce((SELECT r.oid FROM rel r
                           WHERE r.name = l.source_name AND r.owner_name = l.source_owner_name), 0),
    source_owner = coalesce((SELECT a.oid FROM pg_catalog.pg_roles a WHERE a.rolname = l.source_owner_name), 0),
    copy_oid = CASE WHEN l.kind = 'backup'
                    THEN (SELECT r.oid FROM rel r WHERE r.name = l.copy_name AND r.owner_name = CURRENT_USER)
                    ELSE (SELECT r.oid FROM rel r WHERE r.name = l.copy_name AND r.owner_name = l.copy_owner_name)
               END;

-- search_path_history: each function by its signature and owner; what is gone is forgotten.
WITH fn AS (
    SELECT p.oid,
           pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)
             || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' AS signature,
           pg_catalog.pg_get_userbyid(p.proowner) AS owner_name
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
), gone AS (
    DELETE FROM memory_guard.search_path_history h
    RETURNING h.signature, h.search_path, h.recorded_at, h.owner_name
)
INSERT INTO memory_guard.search_path_history (function_oid, signature, search_path, recorded_at, owner_name)
SELECT DISTINCT ON (f.oid) f.oid, g.signature, g.search_path, g.recorded_at, g.owner_name
FROM gone g JOIN fn f ON f.signature = g.signature AND f.owner_name = g.owner_name
ORDER BY f.oid, g.recorded_at DESC;
