-- The managed edition never lends its rights to the roles it guards, and a plain role can
-- neither switch it off nor forge its records. mallory owns only its schema; its payloads
-- announce themselves with a WARNING when they run as a superuser (and try to keep the rights).
CREATE ROLE mallory LOGIN;
CREATE SCHEMA m AUTHORIZATION mallory;
CREATE ROLE victim;
CREATE SCHEMA v AUTHORIZATION victim;
CREATE TABLE v.secret (x int);
INSERT INTO v.secret VALUES (1);
ALTER TABLE v.secret OWNER TO victim;
CREATE TABLE v.empty_secret (x int);
ALTER TABLE v.empty_secret OWNER TO victim;
CREATE FUNCTION m.payload() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    RAISE WARNING 'PWNED: payload ran as %', current_user;
    EXECUTE 'ALTER ROLE mallory SUPERUSER';
  END IF;
  RETURN true;
END $$;
ALTER FUNCTION m.payload() OWNER TO mallory;

-- mallory's own session: it cannot SET ROLE back to a superuser.
\c - mallory
SET search_path = m, pg_catalog;
-- Payloads where a careless guard would resolve names: operators and functions shadowing
-- pg_catalog's in mallory's schema (first on its search_path), a temporary table and type.
CREATE FUNCTION m.text_eq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT m.payload()';
CREATE OPERATOR m.= (LEFTARG = text, RIGHTARG = text, FUNCTION = m.text_eq);
CREATE FUNCTION m.oid_eq(oid, oid) RETURNS boolean LANGUAGE sql AS 'SELECT m.payload()';
CREATE OPERATOR m.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = m.oid_eq);
CREATE FUNCTION m.format(text, text) RETURNS text LANGUAGE sql AS 'SELECT m.payload()::text';
CREATE FUNCTION m.quote_ident(text) RETURNS text LANGUAGE sql AS 'SELECT m.payload()::text';
CREATE FUNCTION m.payload_imm(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT m.payload()';
CREATE FUNCTION m.current_query() RETURNS text LANGUAGE sql AS 'SELECT m.payload()::text';
CREATE TEMP TABLE settings (name text, value text);
CREATE TEMP TABLE pg_class (oid oid);
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (m.payload());
-- A table whose policy, default and index expression are payloads, under FORCE row security.
CREATE TABLE m.mine (id int DEFAULT (m.payload())::int, body text);
CREATE INDEX ON m.mine ((m.payload_imm(id)));
INSERT INTO m.mine VALUES (1, 'keep me');
ALTER TABLE m.mine ENABLE ROW LEVEL SECURITY;
ALTER TABLE m.mine FORCE ROW LEVEL SECURITY;
CREATE POLICY spy ON m.mine USING (m.payload());
CREATE TABLE m.scratch (id int);
INSERT INTO m.scratch VALUES (1);

-- The guard works through all of it, and refuses.
DROP TABLE m.mine;
\echo SQLSTATE :SQLSTATE
TRUNCATE m.mine;
\echo SQLSTATE :SQLSTATE
ALTER TABLE m.mine DROP COLUMN body;
\echo SQLSTATE :SQLSTATE
DROP SCHEMA m CASCADE;
\echo SQLSTATE :SQLSTATE
BEGIN;
SELECT memory_guard.allow_drop('m.scratch', 'payloads everywhere');
DROP TABLE m.scratch;
COMMIT;

-- Switching it off: the settings, the event triggers, the TRUNCATE trigger, the schema.
SET memory_guard.drop_mode = off;  -- a placeholder: the managed edition reads its table only
DROP TABLE m.mine;
\echo SQLSTATE :SQLSTATE
RESET memory_guard.drop_mode;
UPDATE memory_guard.settings SET value = 'off' WHERE name = 'drop_mode';
\echo SQLSTATE :SQLSTATE
INSERT INTO memory_guard.settings VALUES ('drop_mode', 'off');
\echo SQLSTATE :SQLSTATE
ALTER EVENT TRIGGER memory_guard_sql_drop DISABLE;
\echo SQLSTATE :SQLSTATE
DROP EVENT TRIGGER memory_guard_ddl_command_start;
\echo SQLSTATE :SQLSTATE
SET session_replication_role = replica;
\echo SQLSTATE :SQLSTATE
DROP TRIGGER memory_guard_truncate ON m.mine;
\echo SQLSTATE :SQLSTATE
ALTER TRIGGER memory_guard_truncate ON m.mine RENAME TO harmless;
DROP TRIGGER harmless ON m.mine;
\echo SQLSTATE :SQLSTATE
ALTER TABLE m.mine DISABLE TRIGGER ALL;
\echo SQLSTATE :SQLSTATE
ALTER TABLE m.mine DISABLE TRIGGER harmless;
\echo SQLSTATE :SQLSTATE
ALTER TABLE m.mine ENABLE REPLICA TRIGGER harmless;
\echo SQLSTATE :SQLSTATE
DROP SCHEMA memory_guard CASCADE;
\echo SQLSTATE :SQLSTATE
CREATE OR REPLACE FUNCTION memory_guard.allow_drop(text, text) RETURNS text LANGUAGE sql AS 'SELECT 1::text';
\echo SQLSTATE :SQLSTATE
SELECT memory_guard.on_sql_drop();
\echo SQLSTATE :SQLSTATE
SET ROLE postgres;
\echo SQLSTATE :SQLSTATE

-- Forging records: drop_log, permits, probes; reading what is not its own.
INSERT INTO memory_guard.drop_log (role_name, table_oid, table_name, command_tag, guard) VALUES ('x', 0, 'x', 'x', 'allow_drop');
\echo SQLSTATE :SQLSTATE
DELETE FROM memory_guard.drop_log;
\echo SQLSTATE :SQLSTATE
INSERT INTO memory_guard.permits VALUES (pg_current_xact_id(), 'm.mine'::regclass, 0, 'forged', 'mallory');
\echo SQLSTATE :SQLSTATE
SELECT * FROM memory_guard.probes;
\echo SQLSTATE :SQLSTATE
SELECT memory_guard._probe((SELECT oid FROM pg_catalog.pg_class WHERE relname OPERATOR(pg_catalog.=) 'secret'), NULL);
\echo SQLSTATE :SQLSTATE
-- A permit for another role's table, directly or through the inner function with a forged path.
SELECT memory_guard.allow_drop('v.secret', 'not mine');
\echo SQLSTATE :SQLSTATE
SELECT memory_guard._allow_drop('secret', 'not mine', ARRAY['v']::name[]);
\echo SQLSTATE :SQLSTATE

-- Rights before locks: naming another role's table in its statement neither locks nor reads it.
BEGIN;
DROP TABLE IF EXISTS m.nothing_here; -- v.secret v.empty_secret secret empty_secret
SELECT count(*) AS locks_on_victims FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) l.relation
 WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
   AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['secret', 'empty_secret']::name[]);
COMMIT;
\c - postgres

-- Nothing announced itself, mallory is still plain, everything is still there.
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'mallory';
SELECT count(*) AS mine_rows FROM m.mine;
SELECT value AS drop_mode FROM memory_guard.settings WHERE name = 'drop_mode';
SELECT count(*) AS event_triggers_enabled FROM pg_event_trigger WHERE evtname LIKE 'memory_guard%' AND evtenabled = 'O';
SELECT t.tgname, t.tgenabled FROM pg_trigger t
 WHERE t.tgrelid = 'm.mine'::regclass AND t.tgfoid = 'memory_guard.truncate_guard()'::regprocedure;
-- mallory sees its own drop in drop_log, and nothing of others'.
SET ROLE victim;
SELECT count(*) AS victim_sees FROM memory_guard.drop_log;
SET ROLE mallory;
SELECT table_name, guard, reason FROM memory_guard.drop_log;
RESET ROLE;

-- The installing role administers it: the settings table, and the modes it offers.
UPDATE memory_guard.settings SET value = 'warn' WHERE name = 'drop_mode';
DROP TABLE m.mine;
SELECT table_name, guard FROM memory_guard.drop_log ORDER BY id;
UPDATE memory_guard.settings SET value = 'sometimes' WHERE name = 'drop_mode';
\echo SQLSTATE :SQLSTATE
UPDATE memory_guard.settings SET value = 'enforce' WHERE name = 'drop_mode';
