-- Removes memory_guard's managed edition: its event triggers first (so nothing guards the
-- removal itself), then the TRUNCATE triggers it put on tables, then its schema with drop_log.
-- Run it as the role that installed it:
--   psql -v ON_ERROR_STOP=1 --single-transaction -f managed/memory_guard_managed_uninstall.sql
-- Keep a copy of memory_guard.drop_log first if its history matters.
DO $pin$ BEGIN PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true); END $pin$;

DROP EVENT TRIGGER IF EXISTS memory_guard_ddl_command_start;
DROP EVENT TRIGGER IF EXISTS memory_guard_sql_drop;
DROP EVENT TRIGGER IF EXISTS memory_guard_ddl_command_end;

DO $uninstall$
DECLARE
    t record;
BEGIN
    IF to_regprocedure('memory_guard.truncate_guard()') IS NULL THEN
        RETURN;
    END IF;
    FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
              WHERE tgfoid = 'memory_guard.truncate_guard()'::regprocedure
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
    END LOOP;
END
$uninstall$;

DROP SCHEMA IF EXISTS memory_guard CASCADE;
