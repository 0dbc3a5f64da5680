-- memory_guard 0.1.0 → 0.2.0, by ALTER EXTENSION memory_guard UPDATE; every record is kept.
-- What changes: the records name owners by name too and are dumped with their ids' sequences,
-- so they survive pg_dump/pg_restore and pg_upgrade (src/moved.rs); the carried fields' key
-- allows set-aside rows (target 0), and their policy waits for the records to be keyed here;
-- two functions that may now write (keying the records) are volatile.
\echo Use "ALTER EXTENSION memory_guard UPDATE TO '0.2.0'" to load this file. \quit

CREATE FUNCTION memory_guard.records_keyed_here() RETURNS bool
STRICT STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'records_keyed_here_wrapper';

-- Where the records are keyed: here, from now on.
CREATE TABLE memory_guard.keyed_in (
    system_identifier text NOT NULL,
    database_oid      oid  NOT NULL
);
REVOKE ALL ON memory_guard.keyed_in FROM PUBLIC;
INSERT INTO memory_guard.keyed_in (system_identifier, database_oid)
SELECT s.system_identifier::pg_catalog.text, d.oid
FROM pg_catalog.pg_control_system() s, pg_catalog.pg_database d
WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database();
SELECT pg_catalog.pg_extension_config_dump('memory_guard.keyed_in', '');

-- Owners by name, from the owners the entries name now.
-- (A role that no longer exists has no name: the entry is then bound to nothing after a move.)
ALTER TABLE memory_guard.ledger ADD COLUMN source_owner_name text, ADD COLUMN copy_owner_name text;
UPDATE memory_guard.ledger l
SET source_owner_name = (SELECT a.rolname::pg_catalog.text FROM pg_catalog.pg_roles a
                         WHERE a.oid OPERATOR(pg_catalog.=) l.source_owner),
    copy_owner_name = (SELECT a.rolname::pg_catalog.text FROM pg_catalog.pg_class c
                       JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) c.relowner
                       WHERE c.oid OPERATOR(pg_catalog.=) l.copy_oid);
-- Role OIDs are shown only once the records are keyed here.
DROP POLICY ledger_owners ON memory_guard.ledger;
CREATE POLICY ledger_owners ON memory_guard.ledger FOR SELECT
    USING ((SELECT memory_guard.records_keyed_here())
           AND pg_catalog.pg_has_role(source_owner, 'USAGE'));
DROP POLICY drop_log_stakeholders ON memory_guard.drop_log;
CREATE POLICY drop_log_stakeholders ON memory_guard.drop_log FOR SELECT
    USING (role_name OPERATOR(pg_catalog.=) CURRENT_USER::pg_catalog.text
           OR session_role OPERATOR(pg_catalog.=) SESSION_USER::pg_catalog.text
           OR ((SELECT memory_guard.records_keyed_here())
               AND pg_catalog.pg_has_role(table_owner, 'USAGE')));

-- search_path_history: each function's owner, and its signature as the lint writes it.
ALTER TABLE memory_guard.search_path_history ADD COLUMN owner_name text;
UPDATE memory_guard.search_path_history h
SET owner_name = (SELECT a.rolname::pg_catalog.text FROM pg_catalog.pg_roles a WHERE a.oid OPERATOR(pg_catalog.=) p.proowner),
    signature = pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'
                OPERATOR(pg_catalog.||) pg_catalog.quote_ident(p.proname) OPERATOR(pg_catalog.||) '('
                OPERATOR(pg_catalog.||) pg_catalog.pg_get_function_identity_arguments(p.oid) OPERATOR(pg_catalog.||) ')'
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
WHERE p.oid OPERATOR(pg_catalog.=) h.function_oid;

-- The carried fields: one key per target except for rows set aside (target 0).
ALTER TABLE memory_guard.memory_notes_carryover DROP CONSTRAINT memory_notes_carryover_pkey;
CREATE UNIQUE INDEX memory_notes_carryover_key ON memory_guard.memory_notes_carryover (target_oid, legacy_id)
    WHERE target_oid OPERATOR(pg_catalog.<>) 0;
DROP POLICY carryover_target_owners ON memory_guard.memory_notes_carryover;
CREATE POLICY carryover_target_owners ON memory_guard.memory_notes_carryover
    USING ((SELECT memory_guard.records_keyed_here())
           AND pg_catalog.pg_has_role(
             (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) target_oid), 'USAGE'));

-- Dumped with the records.
SELECT pg_catalog.pg_extension_config_dump('memory_guard.search_path_history', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('memory_guard.drop_log', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('memory_guard.ledger', 'id'), '');

-- They may key the records before reading them.
ALTER FUNCTION memory_guard.legacy_note_fields(uuid[], oid) VOLATILE;
ALTER FUNCTION memory_guard._lint_functions(text[]) VOLATILE PARALLEL UNSAFE;
ALTER FUNCTION memory_guard.lint_functions(name[]) VOLATILE;
