-- memory_guard, managed edition: the drop guard, the TRUNCATE guard and the search_path lint in
-- plain SQL and PL/pgSQL, for hosted Postgres where no native library can be loaded (Supabase,
-- RDS/Aurora, Cloud SQL, Neon).
--
-- Install:    psql -v ON_ERROR_STOP=1 --single-transaction -f managed/memory_guard_managed.sql
--             (or commit it as the first file of supabase/migrations/). Running it again is fine.
-- Uninstall:  psql -v ON_ERROR_STOP=1 --single-transaction -f managed/memory_guard_managed_uninstall.sql
--
-- Run it as the platform's admin role (postgres on Supabase, rds_superuser, cloudsqlsuperuser,
-- neon_superuser) or a superuser: that role owns everything created here, and only it can change
-- the settings or remove the guard. What this edition sees and cannot see, next to the native
-- extension: README.md ("Which edition?") and managed/DIFFERENCES.md.
--
-- How a drop is judged. Event triggers only know a statement's text at ddl_command_start, and at
-- sql_drop the dropped tables can no longer be read. So at ddl_command_start the guard takes the
-- statement's identifiers as candidates (tables named in it; for DROP SCHEMA the tables in the
-- named schemas, for DROP OWNED those of the named roles, for DROP TYPE/DOMAIN/EXTENSION the tables
-- and columns built on the named types), locks each candidate its role could drop against
-- concurrent writes, and looks for a first row. At sql_drop every dropped table or column must have
-- been looked at and found empty, or be acknowledged; anything that was not looked at is refused
-- as unchecked. A wrong guess costs a refusal, never a silent loss.

-- Under --single-transaction (or a migration tool's transaction) the rest of the file resolves
-- names only in pg_catalog: a caller's schemas cannot lend it operators or types.
DO $pin$ BEGIN PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true); END $pin$;

DO $install$
DECLARE
    owner_of_schema name;
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'memory_guard') THEN
        RAISE EXCEPTION USING ERRCODE = '42710',
            MESSAGE = 'memory_guard: the native extension is installed in this database',
            DETAIL = 'The managed edition would guard the same statements a second time.',
            HINT = 'Keep the native extension, or DROP EXTENSION memory_guard before installing the managed edition.';
    END IF;
    SELECT r.rolname INTO owner_of_schema
      FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'memory_guard';
    IF owner_of_schema IS NOT NULL AND owner_of_schema OPERATOR(pg_catalog.<>) current_user THEN
        RAISE EXCEPTION USING ERRCODE = '42P06',
            MESSAGE = pg_catalog.format('memory_guard: schema memory_guard already exists and belongs to %I', owner_of_schema),
            DETAIL = 'The managed edition is owned by the role that installs it; another role''s schema could hold objects the guard would trust.',
            HINT = pg_catalog.format('If memory_guard was installed by %I, run this file as that role; otherwise remove that schema (it is not memory_guard''s) and run it again.', owner_of_schema);
    END IF;
    IF owner_of_schema IS NOT NULL AND NOT EXISTS (
        SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE n.nspname OPERATOR(pg_catalog.=) 'memory_guard' AND c.relname OPERATOR(pg_catalog.=) 'settings') THEN
        IF EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                    WHERE n.nspname OPERATOR(pg_catalog.=) 'memory_guard') THEN
            RAISE EXCEPTION USING ERRCODE = '42P06',
                MESSAGE = 'memory_guard: schema memory_guard already exists and holds objects of something else',
                HINT = 'Rename or remove that schema first.';
        END IF;
    END IF;
END
$install$;

-- A second run (or a newer version of this file) starts from the tables: the event triggers
-- and functions are made again below, so that none of an earlier version's is left behind. The
-- TRUNCATE guard's trigger function stays: the tables' triggers use it, and it is replaced in
-- place. Run with --single-transaction, so that the guard is never half there.
DROP EVENT TRIGGER IF EXISTS memory_guard_ddl_command_start;
DROP EVENT TRIGGER IF EXISTS memory_guard_sql_drop;
DROP EVENT TRIGGER IF EXISTS memory_guard_ddl_command_end;
DO $clean$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
              WHERE n.nspname OPERATOR(pg_catalog.=) 'memory_guard' AND p.proname OPERATOR(pg_catalog.<>) 'truncate_guard'
    LOOP
        EXECUTE pg_catalog.format('DROP FUNCTION %s', f);
    END LOOP;
END
$clean$;

CREATE SCHEMA IF NOT EXISTS memory_guard;
REVOKE ALL ON SCHEMA memory_guard FROM PUBLIC;
GRANT USAGE ON SCHEMA memory_guard TO PUBLIC;

-- Settings: there are no custom GUCs without a library, so they live in a table only the
-- installing role may change.
CREATE TABLE IF NOT EXISTS memory_guard.settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
-- Made again on every run, so that a newer version's settings are allowed.
ALTER TABLE memory_guard.settings DROP CONSTRAINT IF EXISTS settings_known;
ALTER TABLE memory_guard.settings ADD CONSTRAINT settings_known CHECK (
    (name = 'drop_mode' AND value IN ('enforce', 'warn', 'log', 'off'))
    OR (name = 'truncate_triggers' AND value IN ('locked', 'unlocked'))
    OR (name = 'search_path_mode' AND value IN ('warn', 'error', 'off')));
INSERT INTO memory_guard.settings VALUES ('drop_mode', 'enforce'), ('search_path_mode', 'warn'),
    ('truncate_triggers', 'locked')
    ON CONFLICT (name) DO NOTHING;
REVOKE ALL ON memory_guard.settings FROM PUBLIC;
GRANT SELECT ON memory_guard.settings TO PUBLIC;
COMMENT ON TABLE memory_guard.settings IS
  'memory_guard (managed edition): drop_mode = enforce | warn | log | off, search_path_mode = warn | error | off, truncate_triggers = locked | unlocked.';

-- The same columns as the native extension's drop_log.
CREATE TABLE IF NOT EXISTS memory_guard.drop_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dropped_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    role_name      text        NOT NULL,
    session_role   text        NOT NULL DEFAULT pg_catalog.session_user(),
    txid           xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    table_oid      oid         NOT NULL,
    table_name     text        NOT NULL,
    column_name    text,
    command_tag    text        NOT NULL,
    estimated_rows bigint,
    guard          text        NOT NULL
        CHECK (guard IN ('allow_drop', 'backup', 'migration', 'created_in_transaction', 'warn_mode', 'log_mode')),
    reason         text,
    details        jsonb       NOT NULL DEFAULT '{}',
    allowed_by     text,
    table_owner    oid
);
REVOKE ALL ON memory_guard.drop_log FROM PUBLIC;
GRANT SELECT ON memory_guard.drop_log TO PUBLIC;
ALTER TABLE memory_guard.drop_log ENABLE ROW LEVEL SECURITY;
DO $policy$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_policy WHERE polname = 'drop_log_stake'
                      AND polrelid = 'memory_guard.drop_log'::regclass) THEN
        CREATE POLICY drop_log_stake ON memory_guard.drop_log FOR SELECT USING (
            EXISTS (SELECT FROM pg_catalog.pg_roles r
                     WHERE (r.rolname OPERATOR(pg_catalog.=) drop_log.role_name
                            OR r.rolname OPERATOR(pg_catalog.=) drop_log.session_role
                            OR r.oid OPERATOR(pg_catalog.=) drop_log.table_owner)
                       AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));
    END IF;
END $policy$;
COMMENT ON TABLE memory_guard.drop_log IS
  'Drops of tables holding rows that memory_guard let through, with the guard that allowed each.';

-- Permits live for one transaction: the row carries the transaction's id, and a savepoint rolled
-- back takes its permit with it. Nobody but the guard's functions reads or writes these tables.
CREATE UNLOGGED TABLE IF NOT EXISTS memory_guard.permits (
    txid       xid8     NOT NULL,
    target     oid      NOT NULL,
    attnum     smallint NOT NULL DEFAULT 0,   -- 0: the whole table
    reason     text     NOT NULL,
    allowed_by text     NOT NULL
);
CREATE INDEX IF NOT EXISTS permits_txid ON memory_guard.permits (txid);
REVOKE ALL ON memory_guard.permits FROM PUBLIC;

-- What ddl_command_start found, for sql_drop of the same statement.
CREATE UNLOGGED TABLE IF NOT EXISTS memory_guard.probes (
    pid        integer     NOT NULL,
    txid       xid8        NOT NULL,
    started    timestamptz NOT NULL,
    tag        text        NOT NULL,
    relid      oid         NOT NULL,
    attnum     smallint    NOT NULL DEFAULT 0,
    colname    name,
    state      text        NOT NULL CHECK (state IN ('empty', 'rows', 'created', 'unchecked')),
    why        text,
    name       text        NOT NULL,
    estimate   text,            -- in words, for a table reported by itself
    short      text,            -- shorter, for a partition or a column
    est_rows   bigint,
    ancestors  oid[]       NOT NULL DEFAULT '{}',
    is_partition boolean,
    owner      oid
);
CREATE INDEX IF NOT EXISTS probes_pid ON memory_guard.probes (pid);
REVOKE ALL ON memory_guard.probes FROM PUBLIC;

-- Tables created by a transaction still running (for _created_here).
CREATE UNLOGGED TABLE IF NOT EXISTS memory_guard.created (
    txid  xid8 NOT NULL,
    relid oid  NOT NULL
);
CREATE INDEX IF NOT EXISTS created_txid ON memory_guard.created (txid);
REVOKE ALL ON memory_guard.created FROM PUBLIC;

-- Tables carrying the BEFORE TRUNCATE guard, so that dropping or disabling that trigger alone is
-- noticed whatever it was renamed to.
CREATE TABLE IF NOT EXISTS memory_guard.truncate_triggers (
    relid      oid PRIMARY KEY,
    trigger_id oid NOT NULL
);
REVOKE ALL ON memory_guard.truncate_triggers FROM PUBLIC;

-- Each function's search_path setting as last seen (NULL: none), to notice one that loses it.
CREATE TABLE IF NOT EXISTS memory_guard.search_path_history (
    function_oid oid PRIMARY KEY,
    signature    text NOT NULL,
    setting      text
);
REVOKE ALL ON memory_guard.search_path_history FROM PUBLIC;
GRANT SELECT ON memory_guard.search_path_history TO PUBLIC;

--------------------------------------------------------------------------------------------------
-- Foundation
--------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION memory_guard._setting(setting_name text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT value FROM memory_guard.settings WHERE name = setting_name
$$;

-- The role a statement runs as, seen from inside a SECURITY DEFINER function (where current_user
-- is the guard's owner): the SET ROLE in effect, else the session's user.
CREATE OR REPLACE FUNCTION memory_guard._caller() RETURNS name
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN current_setting('role') = 'none' THEN session_user
                ELSE current_setting('role')::name END
$$;

-- Whether role r may drop table rel: Postgres' rule (owner or owner of its schema, or superuser).
CREATE OR REPLACE FUNCTION memory_guard._may_drop(r name, rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = r), false)
        OR EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.oid = rel
                      AND (pg_has_role(r, c.relowner, 'USAGE') OR pg_has_role(r, n.nspowner, 'USAGE')))
$$;

-- Whether role r may read table rel (what the guard tells it about the rows must not be more).
CREATE OR REPLACE FUNCTION memory_guard._may_read(r name, rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = r), false)
        OR pg_has_role(r, (SELECT relowner FROM pg_class WHERE oid = rel), 'USAGE')
        OR has_table_privilege(r, rel, 'SELECT')
$$;

-- Columns whose values are built on a row type (directly, in arrays, domains, ranges, or nested
-- in other composites): dropping an attribute of that row type deletes a part of each value.
CREATE OR REPLACE FUNCTION memory_guard._columns_built_on(rowtype oid)
RETURNS TABLE (relid oid, attname name, attnum smallint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE t(oid) AS (
        SELECT rowtype
        UNION
        SELECT x.oid FROM t, LATERAL (
            SELECT y.oid FROM pg_type y WHERE y.typelem = t.oid OR y.typbasetype = t.oid
            UNION ALL SELECT r.rngtypid FROM pg_range r WHERE r.rngsubtype = t.oid
            UNION ALL SELECT c.reltype FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                       WHERE a.atttypid = t.oid AND c.relkind = 'c' AND NOT a.attisdropped) x)
    SELECT a.attrelid, a.attname, a.attnum FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE a.atttypid IN (SELECT oid FROM t) AND a.attnum > 0 AND NOT a.attisdropped
       AND c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
$$;

-- Whether rel was created by the running transaction: the guard notes each table at CREATE
-- (ddl_command_end), in a row that a rolled-back subtransaction takes with it. Catalog rows'
-- xmin cannot say it: GRANT, ALTER and SET SCHEMA rewrite them in later transactions.
CREATE OR REPLACE FUNCTION memory_guard._created_here(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT FROM memory_guard.created
                    WHERE txid = pg_current_xact_id_if_assigned() AND relid = rel)
$$;

-- A function as the native extension names it: schema-qualified, with its arguments' names.
CREATE OR REPLACE FUNCTION memory_guard._signature(fn oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('%s.%s(%s)', quote_ident(n.nspname), quote_ident(p.proname),
                  pg_get_function_identity_arguments(p.oid))
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = fn
$$;

-- The planner's estimate, scaled to the table's current size, in words and as a number.
CREATE OR REPLACE FUNCTION memory_guard._estimate(rel oid, OUT words text, OUT rows bigint, OUT short text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c pg_class%ROWTYPE;
    pages bigint;
BEGIN
    SELECT * INTO c FROM pg_class WHERE oid = rel;
    pages := pg_relation_size(rel) / current_setting('block_size')::bigint;
    IF c.reltuples < 0 OR c.relpages = 0 THEN
        words := format('an unknown number of rows (no statistics; %s on disk)',
                        CASE WHEN pages = 1 THEN '1 page' ELSE pages || ' pages' END);
        short := format('no statistics, %s', CASE WHEN pages = 1 THEN '1 page' ELSE pages || ' pages' END);
    ELSE
        rows := round(c.reltuples / c.relpages * pages)::bigint;
        words := format('about %s rows', rows);
        short := words;
    END IF;
END
$$;

-- Whether rel (or one column of it) holds something, read as the guard's owner with row-level
-- security off: a policy that would hide rows from the owner makes the read fail, and a failed
-- read counts as unchecked, not as empty. SELECT runs no code of the table's owner.
CREATE OR REPLACE FUNCTION memory_guard._probe(rel oid, col name, OUT state text, OUT why text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET row_security = off AS $$
DECLARE
    found boolean;
BEGIN
    IF col IS NULL THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s)', rel::regclass) INTO found;
    ELSE
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s WHERE pg_catalog.num_nonnulls(%I) OPERATOR(pg_catalog.>) 0)',
                       rel::regclass, col) INTO found;
    END IF;
    IF found THEN
        state := 'rows';
    ELSIF current_setting('transaction_isolation') <> 'read committed'
          AND pg_relation_size(rel) > 0 THEN
        -- The transaction's snapshot may be older than rows committed before the lock was taken.
        state := 'unchecked';
        why := 'nothing is visible to this transaction''s snapshot, which may predate rows committed since (' ||
               current_setting('transaction_isolation') || ')';
    ELSE
        state := 'empty';
    END IF;
EXCEPTION WHEN OTHERS THEN
    state := 'unchecked';
    why := 'memory_guard could not read it: ' || SQLERRM;
END
$$;

-- The identifiers in a statement's text: quoted ones as written, the others folded to lower
-- case. Words of comments and literals come along, which only adds candidates.
CREATE OR REPLACE FUNCTION memory_guard._identifiers(statement text) RETURNS SETOF name
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT CASE WHEN m[1] IS NOT NULL THEN replace(m[1], '""', '"') ELSE lower(m[2]) END::name
      FROM regexp_matches(statement, '"((?:[^"]|"")+)"|([[:alpha:]_][[:alnum:]_$]*)', 'g') AS m
$$;

CREATE OR REPLACE FUNCTION memory_guard._ancestors(rel oid) RETURNS oid[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE up(relid) AS (
        SELECT inhparent FROM pg_inherits WHERE inhrelid = rel
        UNION SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.relid)
    SELECT coalesce(array_agg(relid), '{}') FROM up
$$;

-- The guard's own bookkeeping, which comes and goes with every statement.
CREATE OR REPLACE FUNCTION memory_guard._transient(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT rel IN ('memory_guard.permits'::regclass, 'memory_guard.probes'::regclass,
                   'memory_guard.created'::regclass)
$$;

--------------------------------------------------------------------------------------------------
-- Permits
--------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION memory_guard._allow_drop(target text, reason text, caller_schemas name[],
                                                   invoker name) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller name := memory_guard._caller();
    parts text[];
    n int;
    rel oid;
    col name;
    att smallint := 0;
    kind "char";
    shown text;
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004',
            MESSAGE = 'memory_guard: allow_drop: target must not be NULL',
            HINT = 'Name the table to drop, as in SELECT memory_guard.allow_drop(''schema.table'', reason => ''why the rows may go'');';
    END IF;
    IF reason IS NULL OR btrim(reason) = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('memory_guard: allow_drop: a reason is required to drop %s', target),
            DETAIL = 'drop_log keeps the reason next to the dropped table, for whoever looks for the rows later.',
            HINT = 'Say why the rows may go, as in SELECT memory_guard.allow_drop(''schema.table'', reason => ''why the rows may go'');';
    END IF;
    parts := parse_ident(target);  -- Postgres' own 22023 for a name that is not one
    n := cardinality(parts);
    -- Postgres' own reading of a dotted name, by catalog lookups only: a qualified table, or a
    -- table found through the caller's schemas (in their order), optionally followed by a column.
    IF n >= 3 AND parts[1] = current_database() THEN
        parts := parts[2:n];
        n := n - 1;
    END IF;
    IF n = 1 OR n = 2 THEN
        SELECT c.oid INTO rel FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE n = 2 AND s.nspname = parts[1] AND c.relname = parts[2];
        IF rel IS NULL THEN
            SELECT c.oid INTO rel
              FROM unnest(caller_schemas) WITH ORDINALITY w(nsp, pos)
              JOIN pg_namespace s ON s.nspname = w.nsp
              JOIN pg_class c ON c.relnamespace = s.oid AND c.relname = parts[1]
             ORDER BY w.pos LIMIT 1;
            IF n = 2 THEN col := parts[2]; END IF;
        END IF;
    ELSIF n = 3 THEN
        SELECT c.oid INTO rel FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE s.nspname = parts[1] AND c.relname = parts[2];
        col := parts[3];
    END IF;
    IF rel IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '42P01',
            MESSAGE = format('memory_guard: allow_drop: table %s does not exist', target),
            HINT = 'Name the table as the DROP statement will find it, schema-qualified if it is not on search_path; a column as table.column.';
    END IF;
    SELECT relkind INTO kind FROM pg_class WHERE oid = rel;
    IF kind NOT IN ('r', 'p', 'f') THEN
        RAISE EXCEPTION USING ERRCODE = '42809',
            MESSAGE = format('memory_guard: allow_drop: %s is not a table', rel::regclass),
            DETAIL = 'memory_guard guards tables, partitioned tables and (for TRUNCATE) foreign tables; other relations hold no rows of their own.';
    END IF;
    shown := rel::regclass::text;
    IF col IS NOT NULL THEN
        SELECT attnum INTO att FROM pg_attribute
         WHERE attrelid = rel AND attname = col AND attnum > 0 AND NOT attisdropped;
        IF att IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = '42703',
                MESSAGE = format('memory_guard: allow_drop: column %s of %s does not exist', quote_ident(col), shown),
                HINT = 'Name an existing column, as in schema.table.column.';
        END IF;
        shown := 'column ' || shown || '.' || quote_ident(col);
    END IF;
    -- Both the role the code runs as (a SECURITY DEFINER function's owner, say) and the session's
    -- role must be allowed: a name handed in by a direct caller can only make this stricter.
    IF NOT memory_guard._may_drop(invoker, rel) OR NOT memory_guard._may_drop(caller, rel) THEN
        RAISE EXCEPTION USING ERRCODE = '42501',
            MESSAGE = format('memory_guard: allow_drop: %s may not drop %s',
                             CASE WHEN memory_guard._may_drop(invoker, rel) THEN caller ELSE invoker END,
                             rel::regclass),
            DETAIL = 'Only a role that may drop the table (its owner, the owner of its schema, their members, or a superuser) may say its rows may go.',
            HINT = 'Ask the table''s owner to give the permit.';
    END IF;
    -- Permits of transactions that have ended are garbage.
    DELETE FROM memory_guard.permits WHERE txid < pg_snapshot_xmin(pg_current_snapshot());
    INSERT INTO memory_guard.permits (txid, target, attnum, reason, allowed_by)
    VALUES (pg_current_xact_id(), rel, att, reason,
            CASE WHEN invoker = caller THEN caller::text
                 ELSE format('%s (in a session of %s)', invoker, caller) END);
    RETURN format('drop of %s allowed until the end of this transaction', shown);
END
$$;

-- The SQL face. It runs as the caller only to hand over the caller's schemas, in search order,
-- for resolving an unqualified target as the native extension does, and the role it runs as.
CREATE OR REPLACE FUNCTION memory_guard.allow_drop(target text, reason text DEFAULT NULL) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT memory_guard._allow_drop(target, reason, pg_catalog.current_schemas(true), current_user)
$$;
COMMENT ON FUNCTION memory_guard.allow_drop(text, text) IS
  'Acknowledge, for this transaction only, that the rows of target (a table, or schema.table.column) may be dropped.';

CREATE OR REPLACE FUNCTION memory_guard._permit_for(rel oid, att smallint, ancestors oid[],
                                                   OUT reason text, OUT allowed_by text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.reason, p.allowed_by FROM memory_guard.permits p
     WHERE p.txid = pg_current_xact_id_if_assigned()
       AND (p.target = rel OR p.target = ANY (ancestors))
       AND (p.attnum = 0 OR (p.target = rel AND p.attnum = att))
     ORDER BY p.attnum DESC LIMIT 1
$$;

--------------------------------------------------------------------------------------------------
-- Drop guard
--------------------------------------------------------------------------------------------------

-- Candidates of a statement: (table, column or NULL) pairs it may delete, from its tag and text.
CREATE OR REPLACE FUNCTION memory_guard._candidates(tag text, statement text, caller name)
RETURNS TABLE (relid oid, col name)
-- Planned for each statement's own tag and text (a plan made for any tag reads every catalog
-- row); its estimates would call for JIT compilation, which costs more than the query.
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_custom_plan SET jit = off AS $$
BEGIN
    IF tag IN ('DROP TABLE', 'ALTER TABLE') THEN
        -- Tables named (or named by a routine the statement calls) and their descendants; for
        -- ALTER TABLE, their columns named.
        RETURN QUERY
        WITH RECURSIVE direct AS (SELECT memory_guard._identifiers(statement) AS id),
        ids AS (
            SELECT id FROM direct
            UNION
            SELECT memory_guard._identifiers(p.prosrc) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
             WHERE p.proname IN (SELECT id FROM direct) AND l.lanname IN ('sql', 'plpgsql')),
        down(oid) AS (
            SELECT c.oid FROM pg_class c WHERE c.relname IN (SELECT id FROM ids)
            UNION SELECT i.inhrelid FROM pg_inherits i JOIN down ON i.inhparent = down.oid)
        SELECT c.oid, NULL::name FROM down JOIN pg_class c USING (oid)
         WHERE tag = 'DROP TABLE' AND c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
        UNION ALL
        SELECT a.attrelid, a.attname FROM down JOIN pg_class c USING (oid)
          JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE tag = 'ALTER TABLE' AND c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
           AND a.attnum > 0 AND NOT a.attisdropped AND a.attname IN (SELECT id FROM ids);
        RETURN;
    END IF;
    RETURN QUERY
    -- DDL inside a function or procedure the statement calls runs under the caller's text: the
    -- bodies of SQL and PL/pgSQL routines it names count as part of it.
    WITH direct AS (SELECT memory_guard._identifiers(statement) AS id),
    ids AS (
        SELECT id FROM direct
        UNION
        SELECT memory_guard._identifiers(p.prosrc) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.proname IN (SELECT id FROM direct) AND l.lanname IN ('sql', 'plpgsql')),
    named_types AS (
        SELECT t.oid FROM pg_type t WHERE t.typname IN (SELECT id FROM ids)
           AND tag IN ('DROP TYPE', 'DROP DOMAIN', 'ALTER TYPE')
        UNION
        SELECT d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE tag = 'DROP EXTENSION' AND e.extname IN (SELECT id FROM ids)
           AND d.classid = 'pg_type'::regclass AND d.deptype = 'e'),
    -- Types built on a named type: its arrays, domains over it, at any depth.
    built_on AS (
        WITH RECURSIVE b(oid) AS (
            SELECT oid FROM named_types
            UNION SELECT t.oid FROM pg_type t JOIN b ON t.typelem = b.oid OR t.typbasetype = b.oid)
        SELECT oid FROM b),
    roots AS (
        SELECT c.oid FROM pg_class c WHERE c.relname IN (SELECT id FROM ids)
        UNION
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE tag = 'DROP SCHEMA' AND n.nspname IN (SELECT id FROM ids)
        UNION
        SELECT c.oid FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
         WHERE tag = 'DROP OWNED'
           AND (r.rolname IN (SELECT id FROM ids)
                OR (r.rolname = caller AND EXISTS (SELECT FROM ids WHERE id IN ('current_user', 'current_role')))
                OR (r.rolname = session_user AND EXISTS (SELECT FROM ids WHERE id = 'session_user')))
        UNION
        SELECT c.oid FROM pg_class c WHERE c.reloftype IN (SELECT oid FROM built_on)
        UNION
        SELECT a.attrelid FROM pg_attribute a
         WHERE a.attnum > 0 AND NOT a.attisdropped
           AND (a.atttypid IN (SELECT oid FROM built_on)
                OR (tag = 'DROP COLLATION' AND a.attcollation IN
                    (SELECT oid FROM pg_collation WHERE collname IN (SELECT id FROM ids))))
        UNION
        SELECT d.objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE tag = 'DROP EXTENSION' AND e.extname IN (SELECT id FROM ids)
           AND d.classid = 'pg_class'::regclass AND d.deptype = 'e'),
    tables AS (
        WITH RECURSIVE down(oid) AS (
            SELECT oid FROM roots
            UNION SELECT i.inhrelid FROM pg_inherits i JOIN down ON i.inhparent = down.oid)
        SELECT c.oid FROM down JOIN pg_class c USING (oid)
         WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't')
    SELECT t.oid, NULL::name FROM tables t
     WHERE tag NOT IN ('ALTER TABLE', 'ALTER TYPE', 'DROP TYPE', 'DROP DOMAIN', 'DROP EXTENSION')
        OR (tag IN ('DROP TYPE', 'DROP DOMAIN', 'ALTER TYPE') AND
            EXISTS (SELECT FROM pg_class c WHERE c.oid = t.oid AND c.reloftype IN (SELECT oid FROM built_on)))
        OR (tag = 'DROP EXTENSION' AND EXISTS (
            SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
             WHERE d.classid = 'pg_class'::regclass AND d.objid = t.oid AND d.deptype = 'e'
               AND e.extname IN (SELECT id FROM ids)))
    UNION ALL
    SELECT a.attrelid, a.attname FROM pg_attribute a JOIN tables t ON t.oid = a.attrelid
     WHERE a.attnum > 0 AND NOT a.attisdropped
       AND ((tag IN ('ALTER TABLE', 'ALTER TYPE') AND 'drop' IN (SELECT id FROM ids)
             AND a.attname IN (SELECT id FROM ids))
            OR (tag IN ('DROP TYPE', 'DROP DOMAIN', 'DROP EXTENSION', 'DROP COLLATION')
                AND (a.atttypid IN (SELECT oid FROM built_on)
                     OR (tag = 'DROP COLLATION' AND a.attcollation IN
                         (SELECT oid FROM pg_collation WHERE collname IN (SELECT id FROM ids))))));
END
$$;

CREATE OR REPLACE FUNCTION memory_guard.on_ddl_command_start() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    caller name;
    cand record;
    st text;
    why text;
    est record;
    lock_mode text;
BEGIN
    IF memory_guard._setting('drop_mode') = 'off' THEN
        RETURN;
    END IF;
    -- ALTER TABLE and ALTER TYPE delete data only with DROP (COLUMN or ATTRIBUTE).
    IF tg_tag IN ('ALTER TABLE', 'ALTER TYPE') AND current_query() !~* 'drop' THEN
        RETURN;
    END IF;
    caller := memory_guard._caller();
    DELETE FROM memory_guard.probes
     WHERE pid = pg_backend_pid() OR txid < pg_snapshot_xmin(pg_current_snapshot());
    FOR cand IN
        SELECT c.relid, c.col, c.relid::regclass::text AS name, k.relowner, k.relispartition
          FROM memory_guard._candidates(tg_tag, current_query(), caller) c
          JOIN pg_class k ON k.oid = c.relid
         WHERE NOT memory_guard._transient(c.relid)
         ORDER BY c.relid, c.col
    LOOP
        why := NULL;
        IF NOT memory_guard._may_drop(caller, cand.relid) THEN
            -- Not this role's to drop: it is neither locked nor read for it. Only a cascade could
            -- take it, and then it is refused as unchecked.
            st := 'unchecked';
            why := format('%s may not drop it, so memory_guard did not look inside', caller);
        ELSIF NOT memory_guard._may_read(caller, cand.relid) THEN
            -- The owner of its schema may drop it, but may not learn what it holds.
            st := 'unchecked';
            why := format('%s may drop it but not read it, so memory_guard did not look inside', caller);
        ELSIF memory_guard._created_here(cand.relid) THEN
            -- Nothing committed can be lost; what it holds decides only whether drop_log hears of it.
            st := 'created';
            SELECT p.state INTO why FROM memory_guard._probe(cand.relid, cand.col) p;
        ELSE
            -- Keep writers out until the transaction ends, so that what is found empty stays so.
            BEGIN
                EXECUTE format('LOCK TABLE ONLY %s IN SHARE MODE', cand.relid::regclass);
                SELECT * INTO st, why FROM memory_guard._probe(cand.relid, cand.col);
            EXCEPTION WHEN lock_not_available OR insufficient_privilege THEN
                st := 'unchecked';
                why := 'memory_guard could not lock it: ' || SQLERRM;
            END;
        END IF;
        SELECT * INTO est FROM memory_guard._estimate(cand.relid);
        INSERT INTO memory_guard.probes (pid, txid, started, tag, relid, attnum, colname, state, why, name,
                                         estimate, short, est_rows, ancestors, is_partition, owner)
        VALUES (pg_backend_pid(), pg_current_xact_id(), statement_timestamp(), tg_tag, cand.relid,
                coalesce((SELECT attnum FROM pg_attribute WHERE attrelid = cand.relid AND attname = cand.col), 0),
                cand.col, st, why,
                CASE WHEN cand.col IS NULL THEN cand.name ELSE cand.name || '.' || quote_ident(cand.col) END,
                est.words, est.short, est.rows,
                memory_guard._ancestors(cand.relid), cand.relispartition, cand.relowner);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION memory_guard.on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    mode text := memory_guard._setting('drop_mode');
    caller name := memory_guard._caller();
    obj record;
    permit record;
    refused text[] := '{}';      -- what the report names, in order
    lines jsonb := '{}';         -- name -> its DETAIL line
    parts jsonb := '{}';         -- name -> partitions or children holding its rows
    uses text[] := '{}';
    refused_oids oid[] := '{}';
    first_what text;
    first_kind text;
    top record;
    what text;
    funcs text;
    message text;
    dropped_tables oid[];
    dropped_columns oid[];
    n text;
BEGIN
    IF mode = 'off' THEN
        RETURN;
    END IF;
    SELECT coalesce(array_agg(objid) FILTER (WHERE object_type = 'table'), '{}'),
           coalesce(array_agg(objid) FILTER (WHERE object_type = 'table column'), '{}')
      INTO dropped_tables, dropped_columns
      FROM pg_event_trigger_dropped_objects();

    -- The TRUNCATE guard's trigger goes with its table, or by an administrator's hand only.
    FOR obj IN SELECT d.objid, d.object_identity, g.relid FROM pg_event_trigger_dropped_objects() d
                 JOIN memory_guard.truncate_triggers g ON g.trigger_id = d.objid
                WHERE d.object_type = 'trigger'
    LOOP
        IF obj.relid <> ALL (dropped_tables) AND memory_guard._setting('truncate_triggers') <> 'unlocked' THEN
            RAISE EXCEPTION USING ERRCODE = '42501',
                MESSAGE = format('memory_guard: %s would remove the TRUNCATE guard of table %s',
                                 tg_tag, obj.relid::regclass),
                DETAIL = format('Trigger %s is memory_guard''s; the role that installed memory_guard unlocks its triggers first (memory_guard.settings: truncate_triggers = unlocked).',
                                obj.object_identity),
                HINT = 'To TRUNCATE a table holding rows, acknowledge it first: SELECT memory_guard.allow_drop(''schema.table'', reason => ''why'');';
        END IF;
        DELETE FROM memory_guard.truncate_triggers WHERE relid = obj.relid;
    END LOOP;
    DELETE FROM memory_guard.truncate_triggers WHERE relid = ANY (dropped_tables);
    DELETE FROM memory_guard.search_path_history
     WHERE function_oid IN (SELECT objid FROM pg_event_trigger_dropped_objects()
                             WHERE object_type IN ('function', 'procedure'));

    FOR obj IN
        SELECT d.objid, d.objsubid, d.object_identity, d.address_names,
               pr.state, pr.why, coalesce(pr.name, d.object_identity) AS name, pr.estimate, pr.short, pr.est_rows,
               pr.owner, pr.is_partition, coalesce(pr.ancestors, '{}') AS ancestors
          FROM pg_event_trigger_dropped_objects() d
          LEFT JOIN memory_guard.probes pr
            ON pr.pid = pg_backend_pid() AND pr.txid = pg_current_xact_id()
           AND pr.started = statement_timestamp() AND pr.tag = tg_tag
           AND pr.relid = d.objid AND pr.attnum = d.objsubid
         WHERE d.object_type IN ('table', 'table column') AND NOT d.is_temporary
           AND NOT memory_guard._transient(d.objid)
           AND (coalesce(pr.state, 'unchecked') IN ('rows', 'unchecked')
                OR (pr.state = 'created' AND pr.why = 'rows'))
           -- A column goes with its table: the table is judged.
           AND NOT (d.object_type = 'table column' AND d.objid = ANY (dropped_tables))
         ORDER BY d.object_identity
    LOOP
        -- Rows of a partition (or inheritance child) of a dropped table are reported under the
        -- topmost dropped ancestor: the table, or the column, the statement named.
        SELECT a.name, a.relid INTO top FROM memory_guard.probes a
         WHERE a.pid = pg_backend_pid() AND a.relid = ANY (obj.ancestors)
           AND CASE WHEN obj.objsubid = 0
                    THEN a.attnum = 0 AND a.relid = ANY (dropped_tables) AND NOT (a.ancestors && dropped_tables)
                    ELSE a.attnum > 0 AND a.colname = obj.address_names[3]
                         AND a.relid = ANY (dropped_columns) AND NOT (a.ancestors && dropped_columns) END
         LIMIT 1;
        what := coalesce(top.name, obj.name);
        IF obj.state = 'created' THEN
            SELECT NULL::text AS reason, NULL::text AS allowed_by INTO permit;
        ELSE
            SELECT * INTO permit FROM memory_guard._permit_for(obj.objid, obj.objsubid::smallint, obj.ancestors);
        END IF;
        IF obj.state = 'created' OR permit.reason IS NOT NULL OR mode IN ('warn', 'log') THEN
            INSERT INTO memory_guard.drop_log (role_name, table_oid, table_name, column_name, command_tag,
                                               estimated_rows, guard, reason, allowed_by, table_owner, details)
            VALUES (caller, obj.objid,
                    CASE WHEN obj.objsubid = 0 THEN obj.name
                         ELSE array_to_string(ARRAY(SELECT quote_ident(x) FROM unnest(obj.address_names[1:2]) x), '.') END,
                    CASE WHEN obj.objsubid = 0 THEN NULL ELSE quote_ident(obj.address_names[3]) END,
                    tg_tag, obj.est_rows,
                    CASE WHEN obj.state = 'created' THEN 'created_in_transaction'
                         WHEN permit.reason IS NOT NULL THEN 'allow_drop' ELSE mode || '_mode' END,
                    permit.reason, permit.allowed_by, obj.owner,
                    jsonb_strip_nulls(jsonb_build_object('edition', 'managed', 'state', coalesce(obj.state, 'unchecked'),
                                                         'root', top.name, 'is_partition', obj.is_partition)));
            IF obj.state = 'created' OR permit.reason IS NOT NULL THEN
                CONTINUE;
            END IF;
        END IF;

        refused_oids := refused_oids || obj.objid;
        first_kind := coalesce(first_kind, CASE WHEN obj.objsubid = 0 THEN 'table' ELSE 'column' END);
        first_what := coalesce(first_what, CASE WHEN obj.objsubid = 0 THEN 'table ' ELSE 'column ' END || what
            || CASE WHEN coalesce(obj.state, 'unchecked') <> 'rows' AND top.name IS NULL
                    THEN ', which memory_guard could not check'
                    WHEN obj.objsubid = 0 THEN ', which holds rows' ELSE ', which holds values' END);
        IF NOT (what = ANY (refused)) THEN
            refused := refused || what;
        END IF;
        IF coalesce(obj.state, 'unchecked') <> 'rows' THEN
            lines := lines || jsonb_build_object(obj.name, format('%s %s could not be checked: %s.',
                CASE WHEN obj.objsubid = 0 THEN 'Table' ELSE 'Column' END, obj.name,
                coalesce(obj.why, 'the statement''s text does not name it, so memory_guard did not look inside before the statement ran')));
            IF top.name IS NOT NULL AND NOT (obj.name = ANY (refused)) THEN
                refused := refused || obj.name;
            END IF;
        ELSIF top.name IS NOT NULL THEN
            parts := jsonb_set(parts, ARRAY[top.name], coalesce(parts -> top.name, '[]') || to_jsonb(format('%s %s (%s)',
                CASE WHEN obj.is_partition THEN 'partition' ELSE 'inheritance child' END,
                CASE WHEN obj.objsubid = 0 THEN obj.name
                     ELSE array_to_string(ARRAY(SELECT quote_ident(x) FROM unnest(obj.address_names[1:2]) x), '.') END,
                obj.short)));
        ELSIF obj.objsubid = 0 THEN
            lines := lines || jsonb_build_object(obj.name, format('Table %s holds %s.', obj.name, obj.estimate));
        ELSE
            lines := lines || jsonb_build_object(obj.name, format('Column %s holds values (table: %s).', obj.name, obj.short));
        END IF;
        -- Functions whose bodies name the table keep naming it after the drop.
        IF top.name IS NULL AND obj.objsubid = 0 THEN
            SELECT string_agg(memory_guard._signature(f.oid), ', ' ORDER BY memory_guard._signature(f.oid)) INTO funcs
              FROM pg_proc f JOIN pg_language l ON l.oid = f.prolang
             WHERE l.lanname NOT IN ('internal', 'c')
               AND f.pronamespace <> 'memory_guard'::regnamespace
               AND f.prosrc ~ ('\m' || regexp_replace(obj.address_names[2], '([.^$*+?()[\]{}|\\-])', '\\\1', 'g') || '\M');
            IF funcs IS NOT NULL THEN
                uses := uses || format('Functions whose bodies still use %s and would break: %s.', obj.name, funcs);
            END IF;
        END IF;
        RAISE LOG 'memory_guard: blocked % of % %: estimated_rows=% guard=none reason=none role=%',
            tg_tag, CASE WHEN obj.objsubid = 0 THEN 'table' ELSE 'column' END, obj.name,
            coalesce(obj.est_rows::text, 'unknown'), caller;
    END LOOP;

    -- An attribute of a row type that goes (ALTER TYPE … DROP ATTRIBUTE, a column of a table whose
    -- row type other tables use, a cascade from DROP TYPE/DOMAIN/COLLATION) takes its part of
    -- every value of a column built on that type, in any table, with no rewrite to stop it.
    FOR obj IN
        SELECT DISTINCT h.relid, h.attname, h.attnum, d.object_identity AS gone,
               c.reltype, format('%s.%s', h.relid::regclass, quote_ident(h.attname)) AS name
          FROM pg_event_trigger_dropped_objects() d
          JOIN pg_class c ON c.oid = d.objid
          CROSS JOIN LATERAL memory_guard._columns_built_on(c.reltype) h
         WHERE d.object_type IN ('composite type column', 'table column') AND d.objsubid > 0
           AND h.relid <> ALL (dropped_tables)
           AND NOT (h.relid = d.objid)
         ORDER BY 6
    LOOP
        IF memory_guard._may_read(caller, obj.relid) THEN
            SELECT p.state, p.why INTO top FROM memory_guard._probe(obj.relid, obj.attname) p;
        ELSE
            SELECT 'unchecked' AS state,
                   format('%s may not read it, so memory_guard did not look inside', caller) AS why INTO top;
        END IF;
        CONTINUE WHEN top.state = 'empty';
        SELECT * INTO permit FROM memory_guard._permit_for(obj.relid, obj.attnum, memory_guard._ancestors(obj.relid));
        IF permit.reason IS NOT NULL OR mode IN ('warn', 'log') THEN
            INSERT INTO memory_guard.drop_log (role_name, table_oid, table_name, column_name, command_tag,
                                               guard, reason, allowed_by, table_owner, details)
            VALUES (caller, obj.relid, obj.relid::regclass::text, quote_ident(obj.attname), tg_tag,
                    CASE WHEN permit.reason IS NOT NULL THEN 'allow_drop' ELSE mode || '_mode' END,
                    permit.reason, permit.allowed_by, (SELECT relowner FROM pg_class WHERE oid = obj.relid),
                    jsonb_build_object('edition', 'managed', 'state', top.state, 'attribute_of', obj.gone));
            CONTINUE WHEN permit.reason IS NOT NULL;
        END IF;
        first_kind := coalesce(first_kind, 'column');
        first_what := coalesce(first_what, 'column ' || obj.name || CASE WHEN top.state = 'rows'
            THEN ', which holds values' ELSE ', which memory_guard could not check' END);
        IF NOT (obj.name = ANY (refused)) THEN
            refused := refused || obj.name;
        END IF;
        lines := lines || jsonb_build_object(obj.name, CASE WHEN top.state = 'rows'
            THEN format('Column %s holds values with attribute %s, which goes with this statement.', obj.name, obj.gone)
            ELSE format('Column %s could not be checked: %s; its values lose attribute %s.', obj.name, top.why, obj.gone) END);
        RAISE LOG 'memory_guard: blocked % of column %: attribute % of its type goes, guard=none reason=none role=%',
            tg_tag, obj.name, obj.gone, caller;
    END LOOP;

    IF cardinality(refused) = 0 THEN
        RETURN;
    END IF;
    -- What else goes that a person would miss: not the parts of the dropped tables themselves,
    -- nor the members of a dropped extension.
    SELECT string_agg(d.object_type || ' ' || d.object_identity, ', ' ORDER BY d.object_identity) INTO funcs
      FROM pg_event_trigger_dropped_objects() d
     WHERE NOT d.original AND d.schema_name IS DISTINCT FROM 'pg_toast'
       AND d.object_type IN ('view', 'materialized view', 'function', 'procedure', 'policy', 'trigger',
                             'default value', 'table constraint', 'table column', 'index')
       AND (tg_tag <> 'DROP EXTENSION' OR d.object_type NOT IN ('function', 'procedure'))
       AND (d.normal OR d.object_type NOT IN ('trigger', 'index'))
       AND NOT (d.object_type IN ('trigger', 'default value', 'table constraint', 'index', 'table column')
                AND EXISTS (SELECT FROM pg_event_trigger_dropped_objects() g
                             WHERE g.object_type = 'table' AND g.address_names[1] = d.address_names[1]
                               AND g.address_names[2] = d.address_names[2]))
       AND NOT (d.object_type = 'table column' AND d.objid = ANY (refused_oids));
    FOREACH n IN ARRAY refused LOOP
        IF parts ? n THEN
            lines := lines || jsonb_build_object(n, format('%s %s holds %s in %s.',
                CASE WHEN first_kind = 'table' THEN 'Table' ELSE 'Column' END, n,
                CASE WHEN first_kind = 'table' THEN 'rows' ELSE 'values' END,
                (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(parts -> n) x)));
        END IF;
    END LOOP;
    what := array_to_string(ARRAY(SELECT lines ->> x FROM unnest(refused) WITH ORDINALITY u(x, i)
                                   WHERE lines ? x ORDER BY i), E'\n')
            || CASE WHEN funcs IS NOT NULL THEN E'\n' || format('CASCADE would also drop: %s.', funcs) ELSE '' END
            || CASE WHEN cardinality(uses) > 0 THEN E'\n' || array_to_string(uses, E'\n') ELSE '' END;
    message := CASE WHEN cardinality(refused) = 1 THEN format('memory_guard: %s would delete %s', tg_tag, first_what)
                  ELSE format('memory_guard: %s would delete %s %ss holding %s: %s', tg_tag, cardinality(refused),
                              first_kind, CASE first_kind WHEN 'table' THEN 'rows' ELSE 'values' END,
                              array_to_string(refused, ', ')) END;
    IF mode = 'enforce' THEN
        RAISE EXCEPTION USING ERRCODE = '2BP01',
            MESSAGE = message,
            DETAIL = what || E'\nNothing was dropped.',
            HINT = E'Keep the data first (pg_dump, or CREATE TABLE … AS), then run the statement again.\n'
                   'Or, if it may go, acknowledge it in the same transaction before the statement:'
                   || E'\n' || array_to_string(ARRAY(SELECT format('  SELECT memory_guard.allow_drop(%L, reason => ''why this data may go'');', x)
                                                     FROM unnest(refused) WITH ORDINALITY u(x, i) ORDER BY i), E'\n');
    ELSIF mode = 'warn' THEN
        RAISE WARNING USING
            MESSAGE = message,
            DETAIL = what || E'\nThe statement goes ahead (memory_guard drop_mode = warn), and drop_log records it.';
    END IF;
END
$$;

--------------------------------------------------------------------------------------------------
-- TRUNCATE guard: TRUNCATE fires no event trigger, so each table carries a statement-level
-- BEFORE TRUNCATE trigger. It fires after Postgres has checked the TRUNCATE right and taken its
-- lock, so the look inside sees every committed row.
--------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION memory_guard.truncate_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    mode text := memory_guard._setting('drop_mode');
    caller name := memory_guard._caller();
    st text;
    why text;
    est record;
    permit record;
    name text := tg_relid::regclass::text;
BEGIN
    IF mode = 'off' OR memory_guard._created_here(tg_relid) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO st, why FROM memory_guard._probe(tg_relid, NULL);
    IF st = 'empty' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO est FROM memory_guard._estimate(tg_relid);
    SELECT * INTO permit FROM memory_guard._permit_for(tg_relid, 0::smallint, memory_guard._ancestors(tg_relid));
    IF permit.reason IS NOT NULL OR mode IN ('warn', 'log') THEN
        INSERT INTO memory_guard.drop_log (role_name, table_oid, table_name, command_tag, estimated_rows,
                                           guard, reason, allowed_by, table_owner, details)
        VALUES (caller, tg_relid, name, 'TRUNCATE TABLE', est.rows,
                CASE WHEN permit.reason IS NOT NULL THEN 'allow_drop' ELSE mode || '_mode' END,
                permit.reason, permit.allowed_by, (SELECT relowner FROM pg_class WHERE oid = tg_relid),
                jsonb_build_object('edition', 'managed', 'state', st));
        IF permit.reason IS NULL AND mode = 'warn' THEN
            RAISE WARNING USING
                MESSAGE = format('memory_guard: TRUNCATE TABLE would delete table %s, which holds rows', name),
                DETAIL = format('Table %s holds %s.', name, est.words) || E'\nThe statement goes ahead (memory_guard drop_mode = warn), and drop_log records it.';
        END IF;
        RETURN NULL;
    END IF;
    RAISE LOG 'memory_guard: blocked TRUNCATE TABLE of table %: estimated_rows=% guard=none reason=none role=%',
        name, coalesce(est.rows::text, 'unknown'), caller;
    RAISE EXCEPTION USING ERRCODE = '2BP01',
        MESSAGE = format('memory_guard: TRUNCATE TABLE would delete table %s, %s', name,
                         CASE WHEN st = 'rows' THEN 'which holds rows' ELSE 'which memory_guard could not check' END),
        DETAIL = CASE WHEN st = 'rows' THEN format('Table %s holds %s.', name, est.words)
                      ELSE format('Table %s could not be checked: %s.', name, why) END || E'\nNothing was truncated.',
        HINT = E'Keep the data first (pg_dump, or CREATE TABLE … AS), then run the statement again.\n'
               'Or, if it may go, acknowledge it in the same transaction before the statement:'
               || format(E'\n  SELECT memory_guard.allow_drop(%L, reason => ''why this data may go'');', name);
END
$$;

-- Puts the TRUNCATE guard on one table; a table the installing role may not add triggers to is
-- reported, not refused.
CREATE OR REPLACE FUNCTION memory_guard._attach_truncate_guard(rel oid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    tid oid;
BEGIN
    SELECT t.oid INTO tid FROM pg_trigger t
     WHERE t.tgrelid = rel AND t.tgfoid = 'memory_guard.truncate_guard()'::regprocedure;
    IF tid IS NULL THEN
        BEGIN
            EXECUTE format('CREATE TRIGGER memory_guard_truncate BEFORE TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION memory_guard.truncate_guard()', rel::regclass);
        EXCEPTION WHEN insufficient_privilege OR wrong_object_type OR feature_not_supported THEN
            RAISE WARNING USING
                MESSAGE = format('memory_guard: TRUNCATE of %s is not guarded', rel::regclass),
                DETAIL = format('The role that installed memory_guard (%s) could not add its trigger: %s', current_user, SQLERRM),
                HINT = 'Let that role own the table, or add the trigger as a role that may.';
            RETURN false;
        END;
        SELECT t.oid INTO tid FROM pg_trigger t
         WHERE t.tgrelid = rel AND t.tgfoid = 'memory_guard.truncate_guard()'::regprocedure;
    END IF;
    INSERT INTO memory_guard.truncate_triggers VALUES (rel, tid)
        ON CONFLICT (relid) DO UPDATE SET trigger_id = excluded.trigger_id;
    RETURN true;
END
$$;

--------------------------------------------------------------------------------------------------
-- search_path lint: the native extension's rules (core/src/search_path.rs), in PL/pgSQL.
--------------------------------------------------------------------------------------------------

-- A function's pinned search_path, as its SET clause wrote it (NULL: none).
CREATE OR REPLACE FUNCTION memory_guard._pinned_path(proconfig text[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT substr(c, 13) FROM unnest(proconfig) c WHERE c LIKE 'search_path=%'
$$;

-- The entries of a search_path setting as Postgres reads them ("$user" kept as written).
CREATE OR REPLACE FUNCTION memory_guard._path_entries(setting text) RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(e ORDER BY n) FILTER (WHERE e <> ''), '{}')
      FROM (SELECT CASE WHEN m[1] IS NOT NULL THEN replace(m[1], '""', '"') ELSE lower(btrim(m[2])) END AS e,
                   row_number() OVER () AS n
              FROM regexp_matches(setting, '\s*(?:"((?:[^"]|"")*)"|([^,"]+))\s*(?:,|$)', 'g') AS m) x
$$;

CREATE OR REPLACE FUNCTION memory_guard._render_path(entries text[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN cardinality(entries) = 0 THEN '""'
                ELSE array_to_string(ARRAY(SELECT CASE WHEN e = '$user' THEN '"$user"' ELSE quote_ident(e) END
                                             FROM unnest(entries) WITH ORDINALITY u(e, n) ORDER BY n), ', ') END
$$;

-- Whether a role other than fn_owner may create objects in schema s (superusers aside).
CREATE OR REPLACE FUNCTION memory_guard._open_to_others(s text, fn_owner oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (
        SELECT FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
         WHERE n.nspname = s AND a.privilege_type = 'CREATE'
           AND (a.grantee = 0
                OR (a.grantee <> fn_owner
                    AND NOT coalesce((SELECT rolsuper FROM pg_roles WHERE oid = a.grantee), false)
                    AND NOT (a.grantee = 'pg_database_owner'::regrole
                             AND (SELECT datdba FROM pg_database WHERE datname = current_database())
                                 IN (SELECT oid FROM pg_roles WHERE oid = fn_owner OR rolsuper)))))
$$;

-- Findings for one function. previous: its setting before this statement; known: whether
-- memory_guard had seen the function before.
CREATE OR REPLACE FUNCTION memory_guard._lint(fn oid, previous text, known boolean,
                                              warnings_only boolean DEFAULT false)
RETURNS TABLE (rule text, severity text, message text, detail text, fix text, path text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p pg_proc%ROWTYPE;
    sig text;
    kind text;
    setting text;
    why text;
    entries text[];
    fixed text[];
    suggested text[] := '{}';
    s text;
    bad text[] := '{}';
BEGIN
    SELECT * INTO p FROM pg_proc WHERE oid = fn;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    sig := memory_guard._signature(fn);
    kind := CASE WHEN p.prokind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END;
    setting := memory_guard._pinned_path(p.proconfig);
    why := CASE WHEN p.prosecdef THEN 'a SECURITY DEFINER function'
                WHEN p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) THEN 'a trigger function'
                WHEN known AND previous IS NOT NULL THEN 'a function that pinned its search_path before'
           END;
    -- Nothing to report: a setting on a function that needs none, or (at DDL time, where only
    -- warnings are shown) no setting on such a function.
    IF why IS NULL AND (setting IS NOT NULL OR (warnings_only AND NOT (known AND previous IS NOT NULL))) THEN
        RETURN;
    END IF;
    IF setting IS NULL AND NOT (known AND previous IS NOT NULL) THEN
        -- What to suggest when nothing is pinned: its own schema, then the safe schemas of the
        -- database's default search_path, pg_temp last for SECURITY DEFINER.
        FOR s IN SELECT x FROM unnest(ARRAY[(SELECT nspname::text FROM pg_namespace WHERE oid = p.pronamespace)]
                                 || memory_guard._path_entries(
                                        (SELECT reset_val FROM pg_settings WHERE name = 'search_path'))) x
        LOOP
            IF s = '$user' THEN
                CONTINUE;
            END IF;
            IF s NOT IN ('pg_catalog', 'pg_temp') AND NOT (s = ANY (suggested))
               AND EXISTS (SELECT FROM pg_namespace WHERE nspname = s)
               AND NOT memory_guard._open_to_others(s, p.proowner) THEN
                suggested := suggested || s;
            END IF;
        END LOOP;
        IF p.prosecdef THEN
            suggested := suggested || 'pg_temp'::text;
        END IF;
    END IF;

    IF setting IS NULL THEN
        IF known AND previous IS NOT NULL THEN
            fixed := ARRAY(SELECT e FROM unnest(memory_guard._path_entries(previous)) WITH ORDINALITY u(e, n)
                            WHERE e <> '$user' AND NOT memory_guard._open_to_others(e, p.proowner)
                              AND NOT (p.prosecdef AND e = 'pg_temp') ORDER BY n);
            IF p.prosecdef THEN fixed := fixed || 'pg_temp'::text; END IF;
            RETURN QUERY SELECT 'search_path_regression', 'warning',
                format('%s %s lost its pinned search_path', lower(kind), sig),
                format('It had search_path=%s before this statement and now has none, so it resolves names through each caller''s search_path.', previous),
                format('ALTER %s %s SET search_path = %s;', kind, sig, memory_guard._render_path(fixed)),
                memory_guard._render_path(fixed);
        ELSIF why IS NOT NULL THEN
            RETURN QUERY SELECT 'search_path_missing', 'warning',
                format('%s %s has no pinned search_path', lower(kind), sig),
                format('It is %s, and resolves names through the search_path of whoever fires or calls it.', why),
                format('ALTER %s %s SET search_path = %s;', kind, sig, memory_guard._render_path(suggested)),
                memory_guard._render_path(suggested);
        ELSE
            RETURN QUERY SELECT 'search_path_mutable', 'info',
                format('%s %s has a role mutable search_path', lower(kind), sig),
                'It is not security-relevant, but its behaviour depends on the caller''s search_path.',
                format('ALTER %s %s SET search_path = %s;', kind, sig, memory_guard._render_path(suggested)),
                memory_guard._render_path(suggested);
        END IF;
        RETURN;
    END IF;
    IF why IS NULL THEN
        RETURN;
    END IF;
    entries := memory_guard._path_entries(setting);
    IF cardinality(entries) = 0 THEN
        RETURN;  -- search_path = '': everything is schema-qualified, nothing to hijack
    END IF;
    FOREACH s IN ARRAY entries LOOP
        IF s = '$user' THEN
            bad := bad || '"$user" (a different schema for each role)'::text;
        ELSIF memory_guard._open_to_others(s, p.proowner) THEN
            bad := bad || (quote_ident(s) || ' (roles other than the function''s owner may create objects in it)');
        END IF;
    END LOOP;
    fixed := ARRAY(SELECT e FROM unnest(entries) WITH ORDINALITY u(e, n)
                    WHERE e <> '$user' AND NOT memory_guard._open_to_others(e, p.proowner)
                      AND NOT (p.prosecdef AND e = 'pg_temp') ORDER BY n);
    IF p.prosecdef THEN fixed := fixed || 'pg_temp'::text; END IF;
    IF cardinality(bad) > 0 THEN
        RETURN QUERY SELECT 'search_path_unsafe_schema', 'warning',
            format('%s %s pins an unsafe search_path', lower(kind), sig),
            format('It is %s and its search_path=%s includes %s.', why, setting, array_to_string(bad, ', ')),
            format('ALTER %s %s SET search_path = %s;', kind, sig, memory_guard._render_path(fixed)),
            memory_guard._render_path(fixed);
    END IF;
    IF p.prosecdef AND entries[cardinality(entries)] <> 'pg_temp' THEN
        RETURN QUERY SELECT 'search_path_pg_temp_not_last', 'warning',
            format('%s %s does not list pg_temp last', lower(kind), sig),
            format('It is a SECURITY DEFINER function with search_path=%s; unless pg_temp is listed last, any caller''s temporary objects are searched first.', setting),
            format('ALTER %s %s SET search_path = %s;', kind, sig, memory_guard._render_path(fixed)),
            memory_guard._render_path(fixed);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION memory_guard.lint_functions(schemas name[] DEFAULT NULL)
RETURNS TABLE (function regprocedure, rule text, severity text, message text, fix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.oid::regprocedure, f.rule, f.severity, f.message, f.fix
      FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
      LEFT JOIN memory_guard.search_path_history h ON h.function_oid = p.oid
      CROSS JOIN LATERAL memory_guard._lint(p.oid, h.setting, h.function_oid IS NOT NULL) f
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'memory_guard')
       AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
       AND (schemas IS NULL OR n.nspname = ANY (schemas))
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
     ORDER BY p.oid::regprocedure::text, f.rule
$$;
COMMENT ON FUNCTION memory_guard.lint_functions(name[]) IS
  'search_path findings for existing functions outside extensions (all schemas, or these).';

CREATE OR REPLACE FUNCTION memory_guard.on_ddl_command_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    cmd record;
    h record;
    f record;
    mode text := memory_guard._setting('search_path_mode');
    guarded oid;
BEGIN
    FOR cmd IN SELECT DISTINCT c.objid, c.object_type, c.command_tag
                 FROM pg_event_trigger_ddl_commands() c
                WHERE c.classid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_trigger'::regclass)
    LOOP
        IF cmd.object_type = 'table' AND cmd.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') THEN
            IF EXISTS (SELECT FROM pg_class WHERE oid = cmd.objid AND relkind IN ('r', 'p') AND relpersistence <> 't') THEN
                DELETE FROM memory_guard.created WHERE txid < pg_snapshot_xmin(pg_current_snapshot());
                INSERT INTO memory_guard.created VALUES (pg_current_xact_id(), cmd.objid);
                PERFORM memory_guard._attach_truncate_guard(cmd.objid);
            END IF;
        ELSIF (cmd.object_type = 'table' AND cmd.command_tag = 'ALTER TABLE')
              OR cmd.command_tag IN ('CREATE TRIGGER', 'ALTER TRIGGER') THEN
            -- DISABLE TRIGGER, ENABLE REPLICA TRIGGER (fires only under replication), or CREATE
            -- OR REPLACE TRIGGER with another function or a WHEN: the guard's trigger must stay
            -- what it was made. Only the settings table can unlock it, and only the role that
            -- installed memory_guard may write there (a setting a role's code cannot forge).
            guarded := CASE WHEN cmd.object_type = 'trigger'
                            THEN (SELECT tgrelid FROM pg_trigger WHERE oid = cmd.objid) ELSE cmd.objid END;
            IF EXISTS (SELECT FROM memory_guard.truncate_triggers g
                         LEFT JOIN pg_trigger t ON t.oid = g.trigger_id
                        WHERE g.relid = guarded
                          AND (t.oid IS NULL OR t.tgenabled NOT IN ('O', 'A')
                               OR t.tgfoid <> 'memory_guard.truncate_guard()'::regprocedure
                               OR t.tgtype <> 34 OR t.tgqual IS NOT NULL))
               AND memory_guard._setting('truncate_triggers') <> 'unlocked' THEN
                RAISE EXCEPTION USING ERRCODE = '42501',
                    MESSAGE = format('memory_guard: %s would switch off the TRUNCATE guard of table %s',
                                     cmd.command_tag, guarded::regclass),
                    DETAIL = 'memory_guard''s BEFORE TRUNCATE trigger stays enabled and unchanged unless the role that installed memory_guard unlocks it (memory_guard.settings: truncate_triggers = unlocked).',
                    HINT = 'To TRUNCATE a table holding rows, acknowledge it first: SELECT memory_guard.allow_drop(''schema.table'', reason => ''why'');';
            END IF;
        ELSIF cmd.object_type IN ('function', 'procedure') AND mode <> 'off' THEN
            SELECT * INTO h FROM memory_guard.search_path_history WHERE function_oid = cmd.objid;
            FOR f IN SELECT * FROM memory_guard._lint(cmd.objid, h.setting, h.function_oid IS NOT NULL, true)
                      WHERE severity = 'warning'
            LOOP
                IF mode = 'error' AND current_setting('check_function_bodies') = 'on' THEN
                    RAISE EXCEPTION USING ERRCODE = '42P17', MESSAGE = 'memory_guard: ' || f.message,
                        DETAIL = f.detail, HINT = format('Add SET search_path = %s to the statement.', f.path);
                END IF;
                RAISE WARNING USING MESSAGE = 'memory_guard: ' || f.message, DETAIL = f.detail,
                    HINT = 'Pin it: ' || f.fix;
            END LOOP;
        END IF;
        IF cmd.object_type IN ('function', 'procedure') THEN
            INSERT INTO memory_guard.search_path_history
            SELECT p.oid, p.oid::regprocedure::text,
                   memory_guard._pinned_path(p.proconfig)
              FROM pg_proc p WHERE p.oid = cmd.objid
            -- The last pinned setting is kept: losing it again later is still a regression.
            ON CONFLICT (function_oid) DO UPDATE SET signature = excluded.signature,
                setting = coalesce(excluded.setting, search_path_history.setting);
        END IF;
    END LOOP;
END
$$;

--------------------------------------------------------------------------------------------------
-- Wiring. Only the installing role (or a superuser) may ALTER or DROP these.
--------------------------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA memory_guard FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memory_guard.allow_drop(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION memory_guard._allow_drop(text, text, name[], name) TO PUBLIC;
GRANT EXECUTE ON FUNCTION memory_guard.lint_functions(name[]) TO PUBLIC;
-- Called by the policy on drop_log and the functions above, as whoever reads them.
GRANT EXECUTE ON FUNCTION memory_guard._caller() TO PUBLIC;

CREATE EVENT TRIGGER memory_guard_ddl_command_start ON ddl_command_start
    -- The statements that name what holds data: tables, their schemas, owners, row and column
    -- types. Any other statement that takes a table or column along (DROP FUNCTION … CASCADE of
    -- a partition key's function, say) finds it unchecked at sql_drop, and is refused.
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED', 'DROP TYPE', 'DROP DOMAIN',
                 'DROP EXTENSION', 'DROP COLLATION', 'ALTER TABLE', 'ALTER TYPE')
    EXECUTE FUNCTION memory_guard.on_ddl_command_start();

CREATE EVENT TRIGGER memory_guard_sql_drop ON sql_drop
    EXECUTE FUNCTION memory_guard.on_sql_drop();

CREATE EVENT TRIGGER memory_guard_ddl_command_end ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'CREATE SCHEMA',
                 'CREATE TRIGGER', 'ALTER TRIGGER',
                 'CREATE FUNCTION', 'ALTER FUNCTION', 'CREATE PROCEDURE', 'ALTER PROCEDURE',
                 'ALTER ROUTINE')
    EXECUTE FUNCTION memory_guard.on_ddl_command_end();

-- What existed before: every table gets the TRUNCATE guard, every function's setting is noted.
DO $attach$
DECLARE
    rel oid;
    missed int := 0;
BEGIN
    FOR rel IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
                  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg\_toast%'
                  AND c.oid NOT IN ('memory_guard.permits'::regclass, 'memory_guard.probes'::regclass,
                                    'memory_guard.created'::regclass)
                  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                     AND d.objid = c.oid AND d.deptype = 'e')
                ORDER BY c.oid
    LOOP
        IF NOT memory_guard._attach_truncate_guard(rel) THEN
            missed := missed + 1;
        END IF;
    END LOOP;
    IF missed > 0 THEN
        RAISE WARNING 'memory_guard: TRUNCATE is not guarded on % existing tables (see the warnings above)', missed;
    END IF;
END
$attach$;

INSERT INTO memory_guard.search_path_history
SELECT p.oid, p.oid::regprocedure::text,
       memory_guard._pinned_path(p.proconfig)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
ON CONFLICT (function_oid) DO NOTHING;
