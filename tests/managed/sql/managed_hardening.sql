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
SELECT memory_guard._allow_drop('secret', 'not mine', ARRAY['v']::name[], 'postgres');
\echo SQLSTATE :SQLSTATE

-- A GRANT on a system column rewrites the catalog row that once told when a table was made:
-- the guard keeps its own note of the tables a transaction creates.
CREATE TABLE m.granted (id int, c text);
INSERT INTO m.granted VALUES (1, 'keep');
BEGIN;
GRANT SELECT (ctid) ON m.granted TO PUBLIC;
DROP TABLE m.granted;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
BEGIN;
GRANT SELECT (ctid) ON m.granted TO mallory;
REVOKE SELECT (ctid) ON m.granted FROM mallory;
TRUNCATE m.granted;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
-- CREATE OR REPLACE TRIGGER on the guard's trigger, with a function of its own.
CREATE FUNCTION m.noop() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$BEGIN RETURN NULL; END$$;
CREATE OR REPLACE TRIGGER harmless BEFORE TRUNCATE ON m.mine FOR EACH STATEMENT EXECUTE FUNCTION m.noop();
\echo SQLSTATE :SQLSTATE
-- A row type's attribute dropped takes its part of every value built on the type, wherever.
CREATE TYPE m.comp AS (keep int, x text);
CREATE TABLE m.holder (id int, v m.comp, vs m.comp[]);
INSERT INTO m.holder VALUES (1, ROW(1, 'precious'), NULL);
ALTER TYPE m.comp DROP ATTRIBUTE x;
\echo SQLSTATE :SQLSTATE
CREATE TABLE m.shape (id int, secret text);
CREATE TABLE m.shaped (id int, s m.shape);
INSERT INTO m.shaped VALUES (1, ROW(1, 'precious')::m.shape);
ALTER TABLE m.shape DROP COLUMN secret;
\echo SQLSTATE :SQLSTATE
SELECT (v).x AS attribute_kept FROM m.holder;
BEGIN;
SELECT memory_guard.allow_drop('m.holder.v', 'x is recomputed');
ALTER TYPE m.comp DROP ATTRIBUTE x;
COMMIT;

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

-- The owner of a schema may drop another role's table in it, but learns nothing of its rows.
GRANT CREATE, USAGE ON SCHEMA m TO victim;
SET ROLE victim;
CREATE TABLE m.victims_full (x int);
INSERT INTO m.victims_full VALUES (1);
CREATE TABLE m.victims_empty (x int);
RESET ROLE;
\c - mallory
\set VERBOSITY terse
BEGIN;
DROP TABLE m.victims_full;
ROLLBACK;
BEGIN;
DROP TABLE m.victims_empty;
ROLLBACK;
\set VERBOSITY default
-- A table made inside CREATE SCHEMA gets the TRUNCATE guard too.
\c - postgres
GRANT CREATE ON DATABASE memory_guard_regress TO mallory;
\c - mallory
CREATE SCHEMA m2 CREATE TABLE t (id int);
INSERT INTO m2.t VALUES (1);
TRUNCATE m2.t;
\echo SQLSTATE :SQLSTATE
-- mallory's SECURITY DEFINER function, run by the installing role, still acts as mallory: it
-- cannot unlock the guard's trigger, and a permit it gives names mallory.
CREATE TABLE m.t6 (id int);
INSERT INTO m.t6 VALUES (1);
CREATE FUNCTION m.report() RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  PERFORM memory_guard.allow_drop('m.t6', 'approved by the admin, honest');
  DROP TRIGGER memory_guard_truncate ON m.t6;
  RETURN 'ok';
END $$;
CREATE FUNCTION m.permit_only() RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT memory_guard.allow_drop('m.t6', 'approved by the admin, honest') $$;
\c - postgres
BEGIN;
SELECT m.report();
ROLLBACK;
BEGIN;
SELECT m.permit_only();
SELECT allowed_by FROM memory_guard.permits;
ROLLBACK;

-- The installing role administers it: the settings table, and the modes it offers.
UPDATE memory_guard.settings SET value = 'warn' WHERE name = 'drop_mode';
DROP TABLE m.mine;
SELECT table_name, guard FROM memory_guard.drop_log ORDER BY id;
UPDATE memory_guard.settings SET value = 'sometimes' WHERE name = 'drop_mode';
\echo SQLSTATE :SQLSTATE
UPDATE memory_guard.settings SET value = 'enforce' WHERE name = 'drop_mode';
