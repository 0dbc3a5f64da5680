-- The guard never lends its rights to the roles it guards (design.md, section 5). A plain role,
-- mallory, owns only its own schema and plants code everywhere the guard might run it: triggers,
-- DEFAULTs, CHECKs, domains, temporary types, aggregates and operators that shadow pg_catalog's,
-- rules that turn a table into a view. Its payload announces itself with a WARNING whenever it
-- runs with superuser rights, and tries to make mallory a superuser; every section must pass
-- without a single "PWNED" line, and mallory must end as a plain role.
CREATE ROLE mallory LOGIN;
CREATE SCHEMA mallory AUTHORIZATION mallory;
CREATE TABLE public.hot (id int, secret text);
INSERT INTO public.hot VALUES (1, '4711');
SET ROLE mallory;
CREATE FUNCTION mallory.pwn() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE WARNING 'PWNED: mallory''s code ran as %', current_user;
        ALTER ROLE mallory SUPERUSER;
    END IF;
    RETURN true;
END $$;
CREATE FUNCTION mallory.pwn_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.pwn(); RETURN NEW; END $$;
CREATE FUNCTION mallory.pwn_text() RETURNS text LANGUAGE sql AS $$ SELECT mallory.pwn()::text $$;
-- Declared IMMUTABLE, falsely, so an index expression may call it.
CREATE FUNCTION mallory.pwn_immutable(text) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT mallory.pwn()::text $$;
-- The payload is armed: as mallory it stays silent.
SELECT mallory.pwn() AS armed;

-- 1. migrate_memory_notes on mallory's own tables runs as their owner: the trigger, DEFAULT,
--    CHECK and index expression on the target see mallory, whoever calls it.
CREATE TABLE mallory.notes (id uuid PRIMARY KEY, workspace_id uuid, content text, source text,
    tags text[], created_at timestamptz, embedding vector(1536), memory_type text, importance text,
    updated_at timestamptz, archived boolean, run_id uuid, metadata jsonb);
CREATE TABLE mallory.mem (id uuid PRIMARY KEY, workspace_id uuid, session_id uuid, content text,
    summary text, embedding vector(1536), importance_score real, memory_type text, category text,
    symbols text[], strategies text[], created_at timestamptz, updated_at timestamptz,
    archived boolean, source text, confidence real,
    planted text DEFAULT mallory.pwn_text() CHECK (mallory.pwn()));
CREATE INDEX ON mallory.mem ((mallory.pwn_immutable(content)));
CREATE TRIGGER planted BEFORE INSERT ON mallory.mem FOR EACH ROW EXECUTE FUNCTION mallory.pwn_trigger();
-- A trigger that leaves settings behind for whoever called the migration: discarded with it.
CREATE FUNCTION mallory.leave_settings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'mallory, pg_catalog', false);
    PERFORM pg_catalog.set_config('statement_timeout', '1ms', false);
    RETURN NEW;
END $$;
CREATE TRIGGER leave_settings BEFORE INSERT ON mallory.mem FOR EACH ROW EXECUTE FUNCTION mallory.leave_settings();
INSERT INTO mallory.notes VALUES ('00000000-0000-0000-0000-000000000001', gen_random_uuid(), 'a note',
    'test', '{a}', now(), NULL, 'fact', 'high', now(), false, NULL, '{"n": 1.50}');
SELECT r->>'newly_migrated' AS newly_migrated, r->>'verified' AS verified
FROM memory_guard.migrate_memory_notes('mallory.notes', 'mallory.mem') r;
-- Run by a superuser on mallory's tables, it still runs as mallory.
INSERT INTO mallory.notes VALUES ('00000000-0000-0000-0000-000000000002', gen_random_uuid(), 'another',
    'test', '{b}', now(), NULL, NULL, 'low', NULL, NULL, NULL, NULL);
RESET ROLE;
SELECT r->>'newly_migrated' AS newly_migrated, r->>'verified' AS verified
FROM memory_guard.migrate_memory_notes('mallory.notes', 'mallory.mem') r;
SELECT current_setting('search_path') AS search_path_after, current_setting('statement_timeout') AS statement_timeout_after;
SET ROLE mallory;
-- The carried fields are mallory's to read (her target), nobody else's.
SELECT count(*) AS carried_rows_mallory_sees FROM memory_guard.memory_notes_carryover;
-- Rows mallory adds to the side table are her targets' only: an id carried elsewhere is not hers
-- to take first, nor to learn about.
INSERT INTO memory_guard.memory_notes_carryover (legacy_id, source_oid, target_oid)
VALUES ('00000000-0000-0000-0000-0000000000aa', 0, 'mallory.mem'::regclass);
\set VERBOSITY terse
INSERT INTO memory_guard.memory_notes_carryover (legacy_id, source_oid, target_oid)
VALUES ('00000000-0000-0000-0000-0000000000aa', 0, 'public.hot'::regclass);
\set VERBOSITY default
-- A domain named vector in another schema is not pgvector's vector.
CREATE DOMAIN mallory.vector AS text;
CREATE TABLE mallory.fake (LIKE mallory.mem);
ALTER TABLE mallory.fake DROP COLUMN embedding, ADD COLUMN embedding mallory.vector;
\set VERBOSITY terse
SELECT memory_guard.migrate_memory_notes('mallory.notes', 'mallory.fake', dry_run => true);
\set VERBOSITY default

-- 2. Temporary types and shadowing names do not reach the guard's SQL.
CREATE TABLE mallory.t (id int, body text);
INSERT INTO mallory.t VALUES (1, 'x');
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (mallory.pwn());
CREATE DOMAIN pg_temp.int4 AS pg_catalog.int4 CHECK (mallory.pwn());
-- (From here on this session's unqualified text and int4 are those domains: a permanent table
-- made with them would go when the session ends, which temp_dependency.sql shows refused. The
-- tables below name pg_catalog's types.)
SELECT r->>'row_count' AS backed_up FROM memory_guard.backup_table('mallory.t') r;
CREATE FUNCTION mallory.sum_sfunc(numeric, bigint) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.pwn(); RETURN coalesce($1, 0) + $2; END $$;
CREATE AGGREGATE mallory.sum(bigint) (SFUNC = mallory.sum_sfunc, STYPE = numeric);
CREATE FUNCTION mallory.int8eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mallory.pwn(); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR mallory.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mallory.int8eq);
SET search_path = mallory, pg_catalog;
-- Unchanged since its backup: the drop passes, guarded by the backup, and mallory's sum never ran.
DROP TABLE mallory.t;
RESET search_path;
SELECT table_name, guard FROM memory_guard.drop_log WHERE table_name = 'mallory.t';

-- 3. The toolkit writes only where the caller may write.
CREATE TABLE mallory.t2 AS SELECT 1 AS id;
\set VERBOSITY terse
SELECT memory_guard.backup_table('mallory.t2', backup_schema => 'mallory');
SELECT memory_guard.backup_table('mallory.t2', backup_schema => 'brand_new_schema');
SELECT memory_guard.backup_table('mallory.t2', backup_schema => 'memory_guard');
SELECT memory_guard.backup_table('mallory.t2', backup_schema => 'information_schema');
\set VERBOSITY default
SELECT count(*) AS brand_new_schemas FROM pg_namespace WHERE nspname = 'brand_new_schema';
SELECT r->>'row_count' AS backed_up FROM memory_guard.backup_table('mallory.t2') r;
\set VERBOSITY terse
SELECT memory_guard.restore_table('mallory.t2', target => 'public.planted');
\set VERBOSITY default
SELECT to_regclass('public.planted') IS NULL AS nothing_planted_in_public;
SELECT r->>'row_count' AS restored FROM memory_guard.restore_table('mallory.t2', target => 'mallory.t2_again') r;
SELECT pg_get_userbyid(relowner) AS restored_owner FROM pg_class WHERE oid = 'mallory.t2_again'::regclass;

-- 4. A copy that is no longer memory_guard's own is never read.
RESET ROLE;
SELECT format('ALTER TABLE %s OWNER TO mallory', copy_name) AS give_away
FROM memory_guard.ledger WHERE source_name = 'mallory.t2' \gset
:give_away;
SET ROLE mallory;
\set VERBOSITY terse
SELECT memory_guard.restore_table('mallory.t2', target => 'mallory.t2_swapped');
\set VERBOSITY default

-- 5. An empty table turned into a view keeps its OID and its ledger entry; the guard never reads
--    the view as anyone but its owner.
CREATE TABLE mallory.becomes_view (id pg_catalog.int4, body pg_catalog.text);
SELECT r->>'row_count' AS backed_up_empty FROM memory_guard.backup_table('mallory.becomes_view') r;
CREATE RULE "_RETURN" AS ON SELECT TO mallory.becomes_view
    DO INSTEAD SELECT 1 AS id, mallory.pwn_text()::pg_catalog.text AS body;
DROP VIEW mallory.becomes_view;

-- 6. Permits only from a role that may drop the table; nobody else's drops, ledger entries or
--    carried fields are visible.
\set VERBOSITY terse
SELECT memory_guard.allow_drop('public.hot', reason => 'mine now');
\set VERBOSITY default
SELECT count(*) AS other_roles_drop_log_rows FROM memory_guard.drop_log WHERE table_name NOT LIKE 'mallory.%';
SELECT count(*) AS other_roles_ledger_rows FROM memory_guard.ledger WHERE source_name NOT LIKE 'mallory.%';
RESET ROLE;
CREATE TABLE public.admin_backed AS SELECT 1 AS id;
SELECT r->>'row_count' AS admin_backup FROM memory_guard.backup_table('public.admin_backed') r;
BEGIN;
SELECT memory_guard.allow_drop('public.admin_backed', reason => 'replaced');
DROP TABLE public.admin_backed;
COMMIT;
SELECT table_name, guard, allowed_by, pg_get_userbyid(table_owner) AS owner FROM memory_guard.drop_log
WHERE table_name = 'public.admin_backed';
-- In a session of her own (logged in as mallory, not a superuser's SET ROLE, whose session
-- user would still be the superuser's), the administrator's drop and backup are not hers to
-- see; her own drops are.
\c - mallory
SELECT count(*) AS admin_drop_log_rows_mallory_sees FROM memory_guard.drop_log WHERE table_name = 'public.admin_backed';
SELECT count(*) AS admin_ledger_rows_mallory_sees FROM memory_guard.ledger WHERE source_name = 'public.admin_backed';
SELECT count(*) > 0 AS her_own_drops_visible FROM memory_guard.drop_log WHERE table_name LIKE 'mallory.%';
\c - postgres
-- legacy_note_fields answers only for rows of memories the caller can see.
RESET ROLE;
CREATE TABLE public.memories_private (id uuid PRIMARY KEY);
INSERT INTO public.memories_private VALUES ('00000000-0000-0000-0000-000000000001');
SET ROLE mallory;
SELECT count(*) AS fields_for_rows_she_cannot_read FROM memory_guard.legacy_note_fields(
    ARRAY['00000000-0000-0000-0000-000000000001'::uuid], 'mallory.mem'::regclass) f
WHERE false;
\set VERBOSITY terse
SELECT * FROM memory_guard.legacy_note_fields(
    ARRAY['00000000-0000-0000-0000-000000000001'::uuid], 'public.memories_private'::regclass);
\set VERBOSITY default
SELECT legacy_id, memory_type, importance FROM memory_guard.legacy_note_fields(
    ARRAY['00000000-0000-0000-0000-000000000001'::uuid], 'mallory.mem'::regclass);

-- A function body of 80 MB naming a table: the refusal that lists it scans the body in place
-- (it once allocated some 33 bytes per byte of body, and the allocation failure aborted the
-- server), and lists it.
CREATE TABLE mallory.named (id int);
INSERT INTO mallory.named VALUES (1);
SELECT format('CREATE FUNCTION mallory.huge() RETURNS void LANGUAGE plpgsql AS $b$ BEGIN /* %s */ PERFORM 1 FROM mallory.named; END $b$',
              repeat('memo named ', 7500000)) AS huge \gset
\set ECHO none
:huge;
\set ECHO all
SELECT pg_column_size(prosrc) > 0 AND length(prosrc) > 80000000 AS body_over_80_mb FROM pg_proc WHERE proname = 'huge';
DROP TABLE mallory.named;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DROP FUNCTION mallory.huge();

-- 7. Rights before locks: mallory's ALTER ... TYPE on a table she does not own gets Postgres' own
--    error, and no word about its values (the lock itself: tests/isolation/specs/rights_before_locks.spec).
\set VERBOSITY terse
ALTER TABLE public.hot ALTER COLUMN secret TYPE varchar(1);
\set VERBOSITY default

-- 8. A cascade into a table mallory may not read is refused whatever the table holds: whether
--    the guard refused would otherwise tell her whether its columns hold values.
CREATE DOMAIN mallory.d AS int;
GRANT USAGE ON SCHEMA mallory TO PUBLIC;
RESET ROLE;
CREATE ROLE alice;
CREATE SCHEMA alice AUTHORIZATION alice;
SET ROLE alice;
CREATE TABLE alice.with_values (a mallory.d, b mallory.d);
INSERT INTO alice.with_values VALUES (NULL, 1);
CREATE TABLE alice.all_null (a mallory.d);
INSERT INTO alice.all_null VALUES (NULL);
SET ROLE mallory;
\set VERBOSITY terse
DROP DOMAIN mallory.d CASCADE;
\set VERBOSITY default
RESET ROLE;
UPDATE alice.with_values SET b = NULL;
SET ROLE mallory;
\set VERBOSITY terse
DROP DOMAIN mallory.d CASCADE;
\set VERBOSITY default
RESET ROLE;
SELECT count(*) AS alice_columns_left FROM pg_attribute
WHERE attrelid IN ('alice.with_values'::regclass, 'alice.all_null'::regclass) AND attnum > 0 AND NOT attisdropped;
SET ROLE mallory;

-- Backups are restored by name only among the caller's own: a later table of the same name
-- that another role made and backed up is not handed to it, nor silently to a superuser.
RESET ROLE;
CREATE SCHEMA shared;
GRANT CREATE, USAGE ON SCHEMA shared TO alice, mallory;
SET ROLE alice;
CREATE TABLE shared.notes (id pg_catalog.int4, body pg_catalog.text);
INSERT INTO shared.notes VALUES (1, 'alice''s');
SELECT r->>'row_count' AS alice_backup FROM memory_guard.backup_table('shared.notes') r;
DROP TABLE shared.notes;
SET ROLE mallory;
CREATE TABLE shared.notes (id pg_catalog.int4, body pg_catalog.text);
INSERT INTO shared.notes VALUES (666, 'mallory''s');
SELECT r->>'row_count' AS mallory_backup FROM memory_guard.backup_table('shared.notes') r;
DROP TABLE shared.notes;
RESET ROLE;
\set VERBOSITY terse
SELECT memory_guard.restore_table('shared.notes');
\set VERBOSITY default
SET ROLE alice;
SELECT r->>'row_count' AS restored FROM memory_guard.restore_table('shared.notes') r;
SELECT body, pg_get_userbyid(relowner) AS owner FROM shared.notes, pg_class WHERE pg_class.oid = 'shared.notes'::regclass;
-- A column grant on memories' ids does not open the carried fields.
CREATE TABLE alice.memories (id uuid PRIMARY KEY, secret pg_catalog.text);
GRANT USAGE ON SCHEMA alice TO mallory;
GRANT SELECT (id) ON alice.memories TO mallory;
SET ROLE mallory;
\set VERBOSITY terse
SELECT * FROM memory_guard.legacy_note_fields(ARRAY[gen_random_uuid()], 'alice.memories'::regclass);
\set VERBOSITY default

RESET ROLE;
SELECT rolsuper AS mallory_is_superuser FROM pg_roles WHERE rolname = 'mallory';

-- 9. CREATE EXTENSION does not adopt a memory_guard schema someone else prepared.
CREATE DATABASE hardening_install;
\c hardening_install
CREATE ROLE dbowner;
CREATE SCHEMA memory_guard AUTHORIZATION dbowner;
\set VERBOSITY terse
CREATE EXTENSION memory_guard;
\set VERBOSITY default
ALTER SCHEMA memory_guard OWNER TO postgres;
CREATE FUNCTION memory_guard.row_digest(integer) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
\set VERBOSITY terse
CREATE EXTENSION memory_guard;
\set VERBOSITY default
DROP SCHEMA memory_guard CASCADE;
\set VERBOSITY terse
CREATE EXTENSION memory_guard;
\set VERBOSITY default
SELECT extname FROM pg_extension WHERE extname = 'memory_guard';

-- 10. TRUNCATE (preloaded): shadowed operators neither empty the list of partitions the guard
--    checks nor keep a guarded TRUNCATE out of drop_log.
CREATE DATABASE hardening_truncate;
ALTER DATABASE hardening_truncate SET session_preload_libraries = 'memory_guard';
\c hardening_truncate
CREATE EXTENSION memory_guard;
CREATE ROLE mallory2;
CREATE SCHEMA m2 AUTHORIZATION mallory2;
SET ROLE mallory2;
CREATE TABLE m2.parted (id int) PARTITION BY LIST (id);
CREATE TABLE m2.parted_1 PARTITION OF m2.parted FOR VALUES IN (1);
INSERT INTO m2.parted VALUES (1);
CREATE FUNCTION m2.never(oid, oid) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR m2.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = m2.never);
CREATE FUNCTION m2.never_name(name, name) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR m2.= (LEFTARG = name, RIGHTARG = name, FUNCTION = m2.never_name);
RESET ROLE;
-- A partition of someone else's: TRUNCATE empties it on the parent's right alone, as Postgres does.
CREATE TABLE m2.parted_2 PARTITION OF m2.parted FOR VALUES IN (2);
INSERT INTO m2.parted VALUES (2);
CREATE TABLE public.refs (parted_id int);
INSERT INTO public.refs VALUES (1);
CREATE TABLE m2.keyed (id int PRIMARY KEY);
ALTER TABLE m2.keyed OWNER TO mallory2;
INSERT INTO m2.keyed VALUES (1);
ALTER TABLE public.refs ADD FOREIGN KEY (parted_id) REFERENCES m2.keyed (id);
SET ROLE mallory2;
-- CASCADE reaches a table mallory2 may not truncate: Postgres' own error, before any probe.
\set VERBOSITY terse
TRUNCATE m2.keyed CASCADE;
\set VERBOSITY default
-- A table mallory2 may empty but not read: refused without a look inside, rows or none.
RESET ROLE;
CREATE TABLE public.truncatable_full AS SELECT 1 AS id;
CREATE TABLE public.truncatable_empty (id int);
GRANT TRUNCATE ON public.truncatable_full, public.truncatable_empty TO mallory2;
SET ROLE mallory2;
\set VERBOSITY terse
TRUNCATE public.truncatable_full;
TRUNCATE public.truncatable_empty;
\set VERBOSITY default
SET search_path = m2, pg_catalog;
\set VERBOSITY terse
TRUNCATE m2.parted;
\set VERBOSITY default
BEGIN;
SELECT memory_guard.allow_drop('m2.parted', reason => 'test');
TRUNCATE m2.parted;
COMMIT;
RESET search_path;
SELECT table_name, command_tag, guard, allowed_by FROM memory_guard.drop_log;
RESET ROLE;
\c memory_guard_regress
DROP DATABASE hardening_install;
DROP DATABASE hardening_truncate;
DROP ROLE mallory2;
DROP ROLE dbowner;
SET memory_guard.drop_mode = off;
DELETE FROM memory_guard.memory_notes_carryover WHERE target_oid = 'mallory.mem'::regclass;
DO $$
DECLARE c text;
BEGIN
    FOR c IN SELECT DISTINCT copy_name FROM memory_guard.ledger
             WHERE kind = 'backup' AND (source_name LIKE 'mallory.%' OR source_name IN ('public.admin_backed', 'shared.notes')) LOOP
        EXECUTE format('DROP TABLE IF EXISTS %s', c);
    END LOOP;
END $$;
DELETE FROM memory_guard.ledger WHERE source_name LIKE 'mallory.%' OR source_name = 'public.admin_backed';
DELETE FROM memory_guard.drop_log WHERE table_name LIKE 'mallory.%' OR table_name = 'public.admin_backed';
DELETE FROM memory_guard.ledger WHERE source_name = 'shared.notes';
DELETE FROM memory_guard.drop_log WHERE table_name = 'shared.notes';
DROP SCHEMA shared CASCADE;
DROP SCHEMA alice CASCADE;
DROP SCHEMA mallory CASCADE;
DROP TABLE public.hot, public.memories_private;
RESET memory_guard.drop_mode;
DROP ROLE alice;
DROP ROLE mallory;
