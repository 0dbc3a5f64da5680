-- Event triggers fire in name order; the names say which event and what for.

-- Loads the library (and with it the object-access hook that probes tables as they are deleted)
-- before any DDL statement runs.
CREATE EVENT TRIGGER memory_guard_ddl_command_start_load
    ON ddl_command_start
    EXECUTE FUNCTION memory_guard.on_ddl_command_start();

-- Decides, once the statement's deletions are known, whether it may keep them.
CREATE EVENT TRIGGER memory_guard_sql_drop_guard
    ON sql_drop
    EXECUTE FUNCTION memory_guard.on_sql_drop();
