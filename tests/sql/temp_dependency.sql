-- A permanent table never depends on a temporary type. Postgres empties a session's temporary
-- schema (at disconnect, or DISCARD TEMP) with internal cascading deletes: a permanent table
-- typed OF a temporary type, or a column of one, went with it, rows and all, without any DROP
-- the guard could see. The statement that would make such a dependency is refused instead.
CREATE SCHEMA td;
CREATE TABLE td.notes (id int, body text);
INSERT INTO td.notes SELECT g, 'note ' || g FROM generate_series(1, 1000) g;
CREATE TYPE pg_temp.shape AS (id int, body text);
CREATE DOMAIN pg_temp.dtext AS text;
\set VERBOSITY terse
ALTER TABLE td.notes OF pg_temp.shape;
ALTER TABLE td.notes ALTER COLUMN body TYPE pg_temp.dtext;
ALTER TABLE td.notes ADD COLUMN extra pg_temp.dtext;
CREATE TABLE td.typed OF pg_temp.shape;
CREATE TABLE td.arrays (x pg_temp.dtext[]);
CREATE UNLOGGED TABLE td.unlogged (x pg_temp.dtext);
-- An unqualified name finds pg_temp's type first, as Postgres resolves it.
CREATE TABLE td.unqualified (x dtext);
-- A permanent domain over the temporary one goes with it too.
CREATE DOMAIN td.outer_text AS pg_temp.dtext;
CREATE TABLE td.via_domain (x td.outer_text);
\set VERBOSITY default
SELECT count(*) AS tables_created FROM pg_class WHERE relnamespace = 'td'::regnamespace AND relname <> 'notes';
-- Temporary tables may use temporary types.
CREATE TEMP TABLE scratch (x pg_temp.dtext, y pg_temp.shape);
-- The session's temporary objects go, the permanent table and its rows stay.
DISCARD TEMP;
SELECT count(*) AS notes_left, pg_typeof(body) AS body_type FROM td.notes GROUP BY 2;
SET memory_guard.drop_mode = off;
DROP SCHEMA td CASCADE;
RESET memory_guard.drop_mode;
