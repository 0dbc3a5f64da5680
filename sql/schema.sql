-- memory_guard's own tables. The schema itself is created by CREATE EXTENSION (control file).

-- CREATE EXTENSION adopts a schema of that name that already exists. memory_guard runs its own
-- functions from it with the owner's rights, so a schema that someone else could have filled
-- first (a function that outranks one of ours, say) is refused, not adopted.
DO $$
DECLARE
    s pg_catalog.pg_namespace%ROWTYPE;
    holds pg_catalog.text;
BEGIN
    SELECT * INTO s FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) 'memory_guard';
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) s.nspowner) THEN
        RAISE EXCEPTION 'memory_guard: schema memory_guard already exists, owned by %, which is not a superuser',
                        s.nspowner::pg_catalog.regrole
            USING ERRCODE = '42P06',
                  DETAIL = 'memory_guard runs the functions of its schema with its owner''s rights: the schema must be its own.',
                  HINT = 'Rename or drop that schema (ALTER SCHEMA memory_guard RENAME TO ...), then CREATE EXTENSION memory_guard again.';
    END IF;
    SELECT pg_catalog.string_agg(o, ', ') INTO holds FROM (
        SELECT pg_catalog.format('relation %I', relname) o FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('function %s', oid::pg_catalog.regprocedure) FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('type %I', typname) FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('operator %s', oid::pg_catalog.regoperator) FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('collation %I', collname) FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('conversion %I', conname) FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('operator family %I', opfname) FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('operator class %I', opcname) FROM pg_catalog.pg_opclass WHERE opcnamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('text search configuration %I', cfgname) FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('text search dictionary %I', dictname) FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) s.oid
        UNION ALL SELECT pg_catalog.format('statistics object %I', stxname) FROM pg_catalog.pg_statistic_ext WHERE stxnamespace OPERATOR(pg_catalog.=) s.oid
    ) found;
    IF holds IS NOT NULL THEN
        RAISE EXCEPTION 'memory_guard: schema memory_guard already exists and holds objects: %', holds
            USING ERRCODE = '42P06',
                  DETAIL = 'memory_guard runs the functions of its schema with its owner''s rights: an object put there first could stand in for one of its own.',
                  HINT = 'Move those objects elsewhere or drop the schema, then CREATE EXTENSION memory_guard again.';
    END IF;
    -- Nobody but the owner may create in it, whatever was granted before.
    EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA memory_guard FROM %s',
        coalesce((SELECT pg_catalog.string_agg(CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                                    ELSE pg_catalog.quote_ident(a.grantee::pg_catalog.regrole::pg_catalog.text) END, ', ')
                  FROM pg_catalog.aclexplode(s.nspacl) a WHERE a.grantee OPERATOR(pg_catalog.<>) s.nspowner), 'PUBLIC'));
END
$$;

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
    details        jsonb       NOT NULL DEFAULT '{}',
    allowed_by     text,                          -- the role whose allow_drop let it through
    table_owner    oid                            -- the table's owner when it was dropped
);
COMMENT ON TABLE memory_guard.drop_log IS
  'Drops of tables holding rows that memory_guard let through, with the guard that allowed each.';

-- Written only by the guard (as the extension owner). A role reads the rows it has a stake in:
-- the drops it made, in its session or as its current role, and those of tables its roles
-- owned. Other tenants' table names, reasons and row counts are not its business.
REVOKE ALL ON memory_guard.drop_log FROM PUBLIC;
GRANT SELECT ON memory_guard.drop_log TO PUBLIC;
ALTER TABLE memory_guard.drop_log ENABLE ROW LEVEL SECURITY;
-- Its policy is created with the records' keying (sql/moved.sql).

-- Keep the log in pg_dump output.
SELECT pg_catalog.pg_extension_config_dump('memory_guard.drop_log', '');
