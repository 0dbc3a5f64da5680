-- memory_guard.type_change_mode: lossy ALTER COLUMN ... TYPE on columns holding values.
CREATE EVENT TRIGGER memory_guard_ddl_command_start_type_change
    ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION memory_guard.on_alter_table_start();
