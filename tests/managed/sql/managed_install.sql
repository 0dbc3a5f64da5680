-- Installing twice changes nothing; the uninstall removes everything it made, TRUNCATE triggers
-- included; a database with the native extension is refused; so is a memory_guard schema that
-- another role owns.
CREATE TABLE before_reinstall (id int);
INSERT INTO before_reinstall VALUES (1);
CREATE VIEW managed_objects AS
SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = 'memory_guard'::regnamespace) AS functions,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'memory_guard'::regnamespace AND relkind = 'r') AS tables,
       (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'memory_guard%') AS event_triggers,
       (SELECT count(*) FROM pg_trigger WHERE tgname = 'memory_guard_truncate') AS truncate_triggers,
       (SELECT count(*) FROM memory_guard.settings) AS settings;
SELECT * FROM managed_objects;
UPDATE memory_guard.settings SET value = 'warn' WHERE name = 'search_path_mode';
-- What an earlier version of the file made and this one does not is not left behind.
CREATE FUNCTION memory_guard._from_an_older_version() RETURNS int LANGUAGE sql AS 'SELECT 1';
\! PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d memory_guard_regress -f ../managed/memory_guard_managed.sql; echo "exit status: $?"
SELECT * FROM managed_objects;
SELECT name, value FROM memory_guard.settings ORDER BY name;  -- an admin's settings are kept
SELECT to_regprocedure('memory_guard._from_an_older_version()') AS leftover;
DROP VIEW managed_objects;

-- Removed: no function, table, event trigger or TRUNCATE trigger is left; the tables it guarded
-- are untouched, and no longer guarded.
\! PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d memory_guard_regress -f ../managed/memory_guard_managed_uninstall.sql; echo "exit status: $?"
SELECT to_regnamespace('memory_guard') AS schema_left,
       (SELECT count(*) FROM pg_event_trigger) AS event_triggers_left,
       (SELECT count(*) FROM pg_trigger WHERE tgname = 'memory_guard_truncate') AS truncate_triggers_left;
TRUNCATE before_reinstall;
\! PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d memory_guard_regress -f ../managed/memory_guard_managed.sql; echo "exit status: $?"
INSERT INTO before_reinstall VALUES (2);
TRUNCATE before_reinstall;
\echo SQLSTATE :SQLSTATE

-- Where the native extension is installed, the managed edition is not needed and refuses.
CREATE DATABASE managed_beside_native;
\c managed_beside_native
CREATE EXTENSION memory_guard;
\! psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d managed_beside_native -f ../managed/memory_guard_managed.sql 2>&1; echo "exit status: $?"
\c memory_guard_regress
DROP DATABASE managed_beside_native;

-- A memory_guard schema made by another role beforehand is not trusted.
CREATE DATABASE managed_squatted;
\c managed_squatted
CREATE ROLE squatter;
CREATE SCHEMA memory_guard AUTHORIZATION squatter;
\! psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d managed_squatted -f ../managed/memory_guard_managed.sql 2>&1; echo "exit status: $?"
SELECT count(*) AS event_triggers FROM pg_event_trigger;
\c memory_guard_regress
DROP DATABASE managed_squatted;
DROP ROLE squatter;
