-- TRUNCATE is guarded when the library is preloaded (shared_preload_libraries or
-- session_preload_libraries): event triggers never see it. Without preloading it is not, and
-- memory_guard.truncate_guarded() says so.
SELECT memory_guard.truncate_guarded() AS guarded_here;
CREATE TABLE trunc_unguarded AS SELECT 1 AS x;
TRUNCATE trunc_unguarded;
DROP TABLE trunc_unguarded;

CREATE DATABASE trunc_preloaded;
ALTER DATABASE trunc_preloaded SET session_preload_libraries = 'memory_guard';
\c trunc_preloaded
-- Loaded, but the extension is not installed here yet: the hook stays out of the way.
CREATE TABLE before_install AS SELECT 1 AS x;
TRUNCATE before_install;
CREATE EXTENSION memory_guard;
SELECT memory_guard.truncate_guarded() AS guarded_here;
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO notes VALUES (1, 'keep');
CREATE TABLE empty_notes (id int);
CREATE TABLE note_refs (note_id int REFERENCES notes (id));
INSERT INTO note_refs VALUES (1);

TRUNCATE notes CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE empty_notes;
TRUNCATE empty_notes, notes CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT (SELECT count(*) FROM notes) AS notes, (SELECT count(*) FROM note_refs) AS refs;
-- CASCADE takes the referencing table's rows too: both need a guard.
BEGIN;
SELECT memory_guard.allow_drop('notes', reason => 'reloading from the warehouse');
TRUNCATE notes CASCADE;
ROLLBACK;
BEGIN;
SELECT memory_guard.allow_drop('notes', reason => 'reloading from the warehouse');
SELECT memory_guard.allow_drop('note_refs', reason => 'rebuilt with the notes');
TRUNCATE notes CASCADE;
COMMIT;
SELECT table_name, command_tag, guard, reason FROM memory_guard.drop_log ORDER BY id;

-- Partitions, a backup as the guard, temporary tables.
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO events VALUES (1, '2025-02-01');
TRUNCATE events;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT r->>'row_count' AS backed_up FROM memory_guard.backup_table('events') r;
TRUNCATE events;
SELECT count(*) AS events_left FROM events;
CREATE TEMP TABLE scratch AS SELECT 1 AS x;
TRUNCATE scratch;
SET memory_guard.drop_mode = off;
INSERT INTO notes VALUES (2, 'again');
TRUNCATE notes CASCADE;
RESET memory_guard.drop_mode;

-- Every utility statement passes through the hook, which lets Postgres' own errors reach the
-- client untouched: the position (LINE … ^) and CONTEXT.
CREATE TABLE bad_collation (a int COLLATE "C");
DO $$ BEGIN PERFORM 1 / 0; END $$;
COPY notes FROM stdin;
3	third
3	again
\.
-- A guarded TRUNCATE that fails afterwards (here a trigger refuses) leaves no drop_log row: the
-- row is written in the statement's own subtransaction.
INSERT INTO notes VALUES (3, 'kept');
CREATE FUNCTION refuse_truncate() RETURNS trigger LANGUAGE plpgsql SET search_path = ''
AS $$ BEGIN RAISE EXCEPTION 'notes are never truncated' USING ERRCODE = 'P0001'; END $$;
CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON notes EXECUTE FUNCTION refuse_truncate();
SELECT count(*) AS drop_log_before FROM memory_guard.drop_log \gset
BEGIN;
SELECT memory_guard.allow_drop('notes', reason => 'reloading');
SAVEPOINT before_truncate;
TRUNCATE notes CASCADE;
ROLLBACK TO before_truncate;
COMMIT;
SELECT count(*) - :drop_log_before AS new_drop_log_rows, (SELECT count(*) FROM notes) AS notes
FROM memory_guard.drop_log;

-- A foreign table's rows are on its server: TRUNCATE deletes them there (postgres_fdw), and
-- memory_guard cannot see them, so it never takes them for none. The server here is another
-- database of this cluster, without memory_guard.
CREATE DATABASE trunc_remote;
\c trunc_remote
CREATE TABLE remote_notes AS SELECT g AS id FROM generate_series(1, 3) g;
\c trunc_preloaded
CREATE EXTENSION postgres_fdw;
DO $$ BEGIN
  EXECUTE format('CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
                 split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'), 'trunc_remote');
END $$;
CREATE USER MAPPING FOR CURRENT_USER SERVER remote;
CREATE FOREIGN TABLE notes_over_there (id int) SERVER remote OPTIONS (table_name 'remote_notes');
TRUNCATE notes_over_there;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS remote_rows FROM notes_over_there;
BEGIN;
SELECT memory_guard.allow_drop('notes_over_there', reason => 'rebuilt nightly from the source');
TRUNCATE notes_over_there;
COMMIT;
SELECT count(*) AS remote_rows FROM notes_over_there;
SELECT table_name, command_tag, guard, estimated_rows FROM memory_guard.drop_log
WHERE table_name = 'public.notes_over_there';

-- In a read-only transaction Postgres' own refusal comes first, untouched (25006), and nothing
-- is locked or probed for a TRUNCATE that cannot run.
BEGIN READ ONLY;
TRUNCATE notes;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

\c memory_guard_regress
DROP DATABASE trunc_preloaded;
DROP DATABASE trunc_remote;
