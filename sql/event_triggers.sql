-- The one event trigger. It loads the library, and with it the hooks that see every statement
-- (hooks.rs, statement.rs), before any DDL runs; and it checks ALTER COLUMN ... TYPE before the
-- ALTER rewrites anything. There is deliberately no sql_drop, table_rewrite or ddl_command_end
-- trigger: while one exists, Postgres tracks the dropped objects and copies the parse tree of
-- every DDL statement in the database, for every session.
CREATE EVENT TRIGGER memory_guard_ddl_command_start
    ON ddl_command_start
    EXECUTE FUNCTION memory_guard.on_ddl_command_start();
