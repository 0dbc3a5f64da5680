-- Verified copies of tables: backups (backup_table) and migrations (migrate_memory_notes). A drop
-- of a table whose latest copy still matches it (same row count, same checksum) is guarded.
CREATE TABLE memory_guard.ledger (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('backup', 'migration')),
    source_oid   oid         NOT NULL,
    source_name  text        NOT NULL,   -- schema-qualified, quoted
    source_owner oid         NOT NULL,
    copy_name    text        NOT NULL,   -- the backup table, or the migration target
    copy_oid     oid,                    -- the backup table, memory_guard's own: a restore reads nothing else
    row_count    bigint      NOT NULL,
    checksum     text        NOT NULL,   -- sum of every row's memory_guard.row_digest, 32 hex digits
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    role_name    text        NOT NULL DEFAULT CURRENT_USER,
    details      jsonb       NOT NULL DEFAULT '{}',
    -- Owners by name too: after a dump and restore OIDs change, and an entry is bound again only
    -- to a table of that name owned by the role of that name (src/moved.rs). Last, as
    -- ALTER EXTENSION memory_guard UPDATE from 0.1.0 adds them.
    source_owner_name text,
    copy_owner_name   text
);
CREATE INDEX ledger_source_oid ON memory_guard.ledger (source_oid, id DESC);
-- Written only by memory_guard (as the extension owner). A role reads the entries of tables its
-- roles own: a checksum of someone else's table tells about rows it may not read.
REVOKE ALL ON memory_guard.ledger FROM PUBLIC;
GRANT SELECT ON memory_guard.ledger TO PUBLIC;
ALTER TABLE memory_guard.ledger ENABLE ROW LEVEL SECURITY;
-- Only once the records are keyed to this database (a role OID from another cluster may name
-- another role here).
CREATE POLICY ledger_owners ON memory_guard.ledger FOR SELECT
    USING ((SELECT memory_guard.records_keyed_here())
           AND pg_catalog.pg_has_role(source_owner, 'USAGE'));
SELECT pg_catalog.pg_extension_config_dump('memory_guard.ledger', '');

-- What the seed's Option A mapping cannot keep in memories, by legacy id: the raw values of every
-- column the mapping changes or drops. memories + this table rebuild memory_notes exactly.
CREATE TABLE memory_guard.memory_notes_carryover (
    legacy_id   uuid        NOT NULL,
    source_oid  oid         NOT NULL,
    target_oid  oid         NOT NULL,
    memory_type text,
    importance  text,
    updated_at  timestamptz,
    archived    boolean,
    run_id      uuid,
    metadata    jsonb,
    migrated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- By target: a role adds rows for its own targets only, so it can neither take another target's
-- ids first nor learn whether they were carried. Target 0: rows whose target could not be found
-- again after a dump and restore (src/moved.rs), kept for the extension's owner alone.
CREATE UNIQUE INDEX memory_notes_carryover_key ON memory_guard.memory_notes_carryover (target_oid, legacy_id)
    WHERE target_oid OPERATOR(pg_catalog.<>) 0;
-- It holds application data. A migration writes it as the owner of the target table (never with
-- the extension owner's rights, which a trigger on the target would borrow), so the owners of a
-- target read and add the rows carried into it, and nobody else sees them; rows are never
-- changed or removed by anyone but the extension's owner. The shim reads it through
-- legacy_note_fields, which answers only for rows of memories the caller can see.
REVOKE ALL ON memory_guard.memory_notes_carryover FROM PUBLIC;
GRANT SELECT, INSERT ON memory_guard.memory_notes_carryover TO PUBLIC;
ALTER TABLE memory_guard.memory_notes_carryover ENABLE ROW LEVEL SECURITY;
-- Only once the records are keyed to this database: until then a target OID from the database
-- they were dumped from may name someone else's table here.
CREATE POLICY carryover_target_owners ON memory_guard.memory_notes_carryover
    USING ((SELECT memory_guard.records_keyed_here())
           AND pg_catalog.pg_has_role(
             (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) target_oid), 'USAGE'));
SELECT pg_catalog.pg_extension_config_dump('memory_guard.memory_notes_carryover', '');
