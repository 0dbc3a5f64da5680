-- Verified copies of tables: backups (backup_table) and migrations (migrate_memory_notes). A drop
-- of a table whose latest copy still matches it (same row count, same checksum) is guarded.
CREATE TABLE memory_guard.ledger (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('backup', 'migration')),
    source_oid   oid         NOT NULL,
    source_name  text        NOT NULL,   -- schema-qualified, quoted
    source_owner oid         NOT NULL,
    copy_name    text        NOT NULL,   -- the backup table, or the migration target
    row_count    bigint      NOT NULL,
    checksum     text        NOT NULL,   -- sum of every row's memory_guard.row_digest, 32 hex digits
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    role_name    text        NOT NULL DEFAULT CURRENT_USER,
    details      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX ledger_source_oid ON memory_guard.ledger (source_oid, id DESC);
REVOKE ALL ON memory_guard.ledger FROM PUBLIC;
GRANT SELECT ON memory_guard.ledger TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('memory_guard.ledger', '');

-- What the seed's Option A mapping cannot keep in memories, by legacy id: the raw values of every
-- column the mapping changes or drops. memories + this table rebuild memory_notes exactly.
CREATE TABLE memory_guard.memory_notes_carryover (
    legacy_id   uuid PRIMARY KEY,
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
-- It holds application data: readable by the extension owner only (the shim reads it through
-- a SECURITY DEFINER accessor that applies the caller's rights on memories).
REVOKE ALL ON memory_guard.memory_notes_carryover FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('memory_guard.memory_notes_carryover', '');
