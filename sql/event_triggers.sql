-- The one event trigger. It loads the library, and with it the hooks that see every statement
-- (src/entry/hooks.rs, src/frames.rs), before the first DDL of a session runs; in that statement, which no
-- hook of ours wraps, it also checks ALTER COLUMN ... TYPE before the ALTER rewrites anything.
-- Once the library is loaded the hooks do all of that, and the trigger quiets itself in the
-- session's own event trigger cache (src/entry/event_trigger.rs, quiet_for_this_session).
-- There is deliberately no sql_drop, table_rewrite or ddl_command_end trigger: while one
-- exists, Postgres tracks the dropped objects and copies the parse tree of every DDL statement
-- in the database, for every session.
CREATE EVENT TRIGGER memory_guard_ddl_command_start
    ON ddl_command_start
    EXECUTE FUNCTION memory_guard.on_ddl_command_start();
