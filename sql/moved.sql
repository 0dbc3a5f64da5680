-- pg_dump/pg_restore into another database, or pg_upgrade, give tables and functions new OIDs;
-- memory_guard's records name them by OID and by name. The database each record was keyed in is
-- kept here (dumped with the records); where it is not this one, the records are keyed again
-- by name at their first use (src/moved.rs).
CREATE TABLE memory_guard.keyed_in (
    system_identifier text NOT NULL,   -- pg_control's, changed by initdb (so by pg_upgrade)
    database_oid      oid  NOT NULL
);
REVOKE ALL ON memory_guard.keyed_in FROM PUBLIC;
-- Keyed here from the start. A restore adds the dumped row of the database it came from.
INSERT INTO memory_guard.keyed_in (system_identifier, database_oid)
SELECT s.system_identifier::pg_catalog.text, d.oid
FROM pg_catalog.pg_control_system() s, pg_catalog.pg_database d
WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database();
SELECT pg_catalog.pg_extension_config_dump('memory_guard.keyed_in', '');

-- The records and their ids travel with a dump: a restored drop_log or ledger continues its ids.
SELECT pg_catalog.pg_extension_config_dump('memory_guard.search_path_history', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('memory_guard.drop_log', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('memory_guard.ledger', 'id'), '');

-- drop_log: a role reads the rows it has a stake in: the drops it made, in its session or as its
-- current role, and, once the records are keyed to this database, those of tables its roles
-- owned (a role OID from another cluster may name another role here).
CREATE POLICY drop_log_stakeholders ON memory_guard.drop_log FOR SELECT
    USING (role_name OPERATOR(pg_catalog.=) CURRENT_USER::pg_catalog.text
           OR session_role OPERATOR(pg_catalog.=) SESSION_USER::pg_catalog.text
           OR ((SELECT memory_guard.records_keyed_here())
               AND pg_catalog.pg_has_role(table_owner, 'USAGE')));
