-- An application role that owns its tables tries every way around the guard. Each is refused
-- with a SQLSTATE, and the guard still holds at the end. (Superusers can switch it off; the
-- README lists those escape hatches.)
CREATE ROLE app_owner LOGIN;
CREATE SCHEMA app AUTHORIZATION app_owner;
SET ROLE app_owner;
CREATE TABLE app.precious AS SELECT g AS id FROM generate_series(1, 10) g;
\set VERBOSITY sqlstate
SET memory_guard.drop_mode = off;
SET memory_guard.search_path_mode = off;
SET memory_guard.type_change_mode = off;
SET session_replication_role = replica;
ALTER EVENT TRIGGER memory_guard_ddl_command_start DISABLE;
DROP EVENT TRIGGER memory_guard_ddl_command_start;
CREATE EVENT TRIGGER my_trigger ON ddl_command_start EXECUTE FUNCTION memory_guard.on_ddl_command_start();
DROP EXTENSION memory_guard;
ALTER EXTENSION memory_guard DROP EVENT TRIGGER memory_guard_ddl_command_start;
INSERT INTO memory_guard.drop_log (role_name, table_oid, table_name, command_tag, guard) VALUES ('x', 0, 'x', 'x', 'backup');
DELETE FROM memory_guard.drop_log;
TRUNCATE memory_guard.drop_log;
INSERT INTO memory_guard.ledger (kind, source_oid, source_name, source_owner, copy_name, row_count, checksum)
  VALUES ('backup', 'app.precious'::regclass, 'app.precious', 0, 'nowhere', 10, 'forged');
UPDATE memory_guard.ledger SET checksum = 'forged';
INSERT INTO memory_guard.memory_notes_carryover (legacy_id, source_oid, target_oid) VALUES (gen_random_uuid(), 0, 0);
SELECT * FROM memory_guard.memory_notes_carryover;
CREATE FUNCTION memory_guard.allow_drop(text, text) RETURNS text LANGUAGE sql AS 'SELECT 1::text';
ALTER FUNCTION memory_guard.on_ddl_command_start() SET search_path = public;
LOAD 'memory_guard';
\set VERBOSITY default
-- Still guarded, and nothing was forged.
DROP TABLE app.precious;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Nor can it hijack the guard's own queries by shadowing an operator in a schema it puts before
-- pg_catalog: memory_guard runs its SQL with search_path = pg_catalog, so the spy, which does
-- fire for the role's own query, never fires inside the guard or the lint.
CREATE FUNCTION app.oid_eq_spy(oid, oid) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE WARNING 'spy called by %', current_user; RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR app.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = app.oid_eq_spy);
SET search_path = app, pg_catalog;
SELECT 'pg_class'::regclass::oid = 1259 AS spy_armed;
DROP TABLE app.precious;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
RESET search_path;
RESET ROLE;
SELECT (SELECT count(*) FROM memory_guard.drop_log) AS drop_log_rows,
       (SELECT count(*) FROM memory_guard.ledger) AS ledger_rows,
       (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'memory_guard%' AND evtenabled = 'O') AS enabled_triggers;
SET memory_guard.drop_mode = off;
DROP SCHEMA app CASCADE;
RESET memory_guard.drop_mode;
DROP ROLE app_owner;
