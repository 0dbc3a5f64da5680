-- The search_path lint at DDL time (WARNING by default, ERROR in error mode) and
-- lint_functions() for what already exists.
CREATE SCHEMA lint;
SET search_path = lint, public;
LOAD 'memory_guard';

-- The seed's update_updated_at_column(): v1 without a setting, v2 pins it, v3 loses it again.
CREATE FUNCTION lint.update_updated_at_column() RETURNS trigger AS $$
BEGIN NEW.updated_at = now(); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION lint.update_updated_at_column() RETURNS trigger AS $$
BEGIN NEW.updated_at = now(); RETURN NEW; END $$ LANGUAGE plpgsql SET search_path = public;
CREATE OR REPLACE FUNCTION lint.update_updated_at_column() RETURNS trigger AS $$
BEGIN NEW.updated_at = now(); RETURN NEW; END $$ LANGUAGE plpgsql;

-- A plain function that loses its setting through ALTER … RESET is a regression too.
CREATE FUNCTION lint.total() RETURNS int LANGUAGE sql SET search_path = lint AS 'SELECT 1';
ALTER FUNCTION lint.total() RESET search_path;
-- SECURITY DEFINER: needs a setting, and pg_temp listed last.
CREATE FUNCTION lint.definer_none() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
CREATE FUNCTION lint.definer_temp_first() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_temp, lint AS 'SELECT 1';
CREATE FUNCTION lint.definer_ok() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = lint, pg_temp AS 'SELECT 1';
CREATE FUNCTION lint.definer_empty() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = '' AS 'SELECT 1';
-- ALTER FUNCTION … SECURITY DEFINER makes an existing function security-relevant.
CREATE FUNCTION lint.becomes_definer() RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER FUNCTION lint.becomes_definer() SECURITY DEFINER;
-- A schema where PUBLIC may create objects is unsafe on a pinned path (quoted names parsed).
CREATE SCHEMA "Open Space";
GRANT CREATE ON SCHEMA "Open Space" TO PUBLIC;
CREATE FUNCTION lint.trg_open() RETURNS trigger LANGUAGE plpgsql
  SET search_path = "Open Space", lint AS $$ BEGIN RETURN NEW; END $$;
-- So is a schema owned by another role: that role could plant objects the definer then runs.
CREATE ROLE other_owner;
CREATE SCHEMA theirs AUTHORIZATION other_owner;
CREATE FUNCTION lint.definer_theirs() RETURNS int LANGUAGE sql SECURITY DEFINER
  SET search_path = theirs, pg_temp AS 'SELECT 1';
CREATE PROCEDURE lint.proc_definer() LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
-- Not security-relevant and never pinned: no warning at DDL time (info in lint_functions()).
CREATE FUNCTION lint.plain(a int) RETURNS int LANGUAGE sql AS 'SELECT $1';

SELECT function, rule, severity, fix FROM memory_guard.lint_functions(ARRAY['lint']) ORDER BY 1, 2;

-- Supabase's splinter lint function_search_path_mutable lists functions outside extensions with
-- no search_path setting. Its check, restated: every function it lists, lint_functions() lists.
CREATE TEMP VIEW splinter_mutable AS
SELECT p.oid::regprocedure AS function
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'lint'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search_path=%');
SELECT count(*) AS splinter_findings FROM splinter_mutable;
SELECT function AS missed_by_memory_guard FROM splinter_mutable
EXCEPT SELECT function FROM memory_guard.lint_functions(ARRAY['lint']);
-- …and reports what splinter cannot see: unsafe pinned values (the path is set, so splinter is
-- satisfied).
SELECT function, rule FROM memory_guard.lint_functions(ARRAY['lint'])
WHERE function NOT IN (SELECT function FROM splinter_mutable) ORDER BY 1;

-- Every fix applied, the lint finds nothing more.
DO $$
DECLARE f record;
BEGIN
  FOR f IN SELECT fix FROM memory_guard.lint_functions(ARRAY['lint']) LOOP
    EXECUTE f.fix;
  END LOOP;
END $$;
SELECT count(*) AS findings_after_fixes FROM memory_guard.lint_functions(ARRAY['lint']);

-- Error mode: the statement fails and nothing changes.
SET memory_guard.search_path_mode = error;
CREATE FUNCTION lint.refused() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS refused_exists FROM pg_proc WHERE proname = 'refused';
ALTER FUNCTION lint.update_updated_at_column() RESET search_path;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT proconfig FROM pg_proc WHERE oid = 'lint.update_updated_at_column()'::regprocedure;
-- Without RETURNS a function's result type is its OUT parameter's, which a language without a
-- validator lets be trigger: it is checked as the trigger function it is.
CREATE FUNCTION lint.out_trigger(OUT r trigger) LANGUAGE internal AS 'suppress_redundant_updates_trigger';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS out_trigger_exists FROM pg_proc WHERE proname = 'out_trigger';
-- A restore (pg_dump's output turns check_function_bodies off) recreates functions as they
-- were: error mode reports instead of refusing, and the function is there.
SET check_function_bodies = off;
CREATE FUNCTION lint.restored() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
RESET check_function_bodies;
SELECT count(*) AS restored_exists FROM pg_proc WHERE proname = 'restored';
SET memory_guard.search_path_mode = off;
CREATE FUNCTION lint.unchecked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
RESET memory_guard.search_path_mode;
-- Only superusers choose the mode.
CREATE ROLE lint_app;
SET ROLE lint_app;
SET memory_guard.search_path_mode = off;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE lint_app;

-- Functions that belong to extensions are skipped; memory_guard's own pass its lint when they
-- are looked at as if they were not. allow_drop, audit and audit_json resolve the caller's names
-- through the caller's search_path on purpose (as DROP and the migration do), and so does
-- on_ddl_command_start for an ALTER TABLE it checks in the statement that loads the library, as
-- the ALTER will. The guard and the lint, which run from hooks, set search_path = pg_catalog in
-- code, only around the SQL they run (extension::with_safe_search_path).
-- row_digest runs no SQL, and is called once per row of every checksum: a setting on it would be
-- saved and restored at each call. These are the only findings.
BEGIN;
DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
           JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'memory_guard' LOOP
    EXECUTE format('ALTER EXTENSION memory_guard DROP FUNCTION %s', f);
  END LOOP;
END $$;
SELECT function, rule, severity FROM memory_guard.lint_functions(ARRAY['memory_guard']);
ROLLBACK;

SET memory_guard.drop_mode = off;
DROP SCHEMA lint CASCADE;
DROP SCHEMA "Open Space" CASCADE;
DROP SCHEMA theirs CASCADE;
DROP ROLE other_owner;
RESET memory_guard.drop_mode;

-- A fix keeps the function working: it pins the schemas the function resolved its names
-- through, not only its own. As on Supabase, uuid_generate_v4() lives in schema extensions
-- (uuid-ossp's, stood in for here by a function of the same name, as contrib may lack it), and
-- sessions run with search_path = public, extensions (a database setting here).
CREATE DATABASE lint_supabase;
ALTER DATABASE lint_supabase SET search_path = public, extensions;
\c lint_supabase
SET client_min_messages = error;
CREATE EXTENSION memory_guard;
RESET client_min_messages;
CREATE SCHEMA extensions;
CREATE FUNCTION extensions.uuid_generate_v4() RETURNS uuid LANGUAGE sql AS 'SELECT pg_catalog.gen_random_uuid()';
CREATE TABLE notes (id uuid, body text);
-- At CREATE time, the report's fix uses the statement's own search_path.
CREATE FUNCTION set_note_id() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN NEW.id := uuid_generate_v4(); RETURN NEW; END $$;
CREATE TRIGGER set_note_id BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION set_note_id();
-- lint_functions() of existing functions uses the path sessions start with.
SELECT function, rule, fix FROM memory_guard.lint_functions(ARRAY['public']);
-- Its fix applied, the trigger still works when fired under another search_path.
DO $$
DECLARE f record;
BEGIN
  FOR f IN SELECT fix FROM memory_guard.lint_functions(ARRAY['public']) LOOP
    EXECUTE f.fix;
  END LOOP;
END $$;
SET search_path = pg_catalog;
INSERT INTO public.notes (body) VALUES ('fired with only pg_catalog on the path');
SELECT count(*) AS notes_with_ids FROM public.notes WHERE id IS NOT NULL;
RESET search_path;
SELECT count(*) AS findings_after_fixes FROM memory_guard.lint_functions(ARRAY['public']);
\c memory_guard_regress
DROP DATABASE lint_supabase;
