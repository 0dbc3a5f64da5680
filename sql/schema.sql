-- memory_guard's own tables. The schema itself is created by CREATE EXTENSION (control file).

GRANT USAGE ON SCHEMA memory_guard TO PUBLIC;

-- Every drop of a table holding rows that went past the guard, committed with the drop.
CREATE TABLE memory_guard.drop_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dropped_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    role_name      text        NOT NULL,          -- current_user of the dropping statement
    session_role   text        NOT NULL DEFAULT pg_catalog.session_user(),
    txid           xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    table_oid      oid         NOT NULL,
    table_name     text        NOT NULL,          -- schema-qualified, quoted as Postgres quotes it
    column_name    text,                          -- for a dropped column (quoted), else NULL
    command_tag    text        NOT NULL,          -- e.g. DROP TABLE, DROP SCHEMA
    estimated_rows bigint,                        -- NULL when the table had no statistics
    guard          text        NOT NULL
        CHECK (guard IN ('allow_drop', 'backup', 'migration', 'created_in_transaction', 'warn_mode', 'log_mode')),
    reason         text,
    details        jsonb       NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE memory_guard.drop_log IS
  'Drops of tables holding rows that memory_guard let through, with the guard that allowed each.';

-- Written only by the guard (as the extension owner); readable by everyone who runs migrations.
REVOKE ALL ON memory_guard.drop_log FROM PUBLIC;
GRANT SELECT ON memory_guard.drop_log TO PUBLIC;

-- Keep the log in pg_dump output.
SELECT pg_catalog.pg_extension_config_dump('memory_guard.drop_log', '');
