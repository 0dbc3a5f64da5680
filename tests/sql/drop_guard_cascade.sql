-- Drops that are not DROP TABLE but take tables with rows down with them: DROP SCHEMA CASCADE,
-- DROP OWNED BY, DROP TYPE CASCADE of a typed table's type. The guard sees what Postgres' own
-- dependency walk deletes, so every form is covered by the same mechanism.
CREATE SCHEMA app;
CREATE TABLE app.settings (k text, v text);
INSERT INTO app.settings VALUES ('theme', 'dark');
CREATE TABLE app.empty_log (line text);
CREATE VIEW app.settings_view AS SELECT * FROM app.settings;

DROP SCHEMA app CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS settings_kept FROM app.settings;
BEGIN;
SELECT memory_guard.allow_drop('app.settings', reason => 'app retired');
DROP SCHEMA app CASCADE;
COMMIT;
SELECT table_name, command_tag, guard FROM memory_guard.drop_log ORDER BY id;

-- DROP OWNED BY a role that owns a table holding rows.
CREATE ROLE departing;
CREATE SCHEMA owned;
GRANT CREATE, USAGE ON SCHEMA owned TO departing;
SET ROLE departing;
CREATE TABLE owned.their_data (x int);
INSERT INTO owned.their_data VALUES (42);
CREATE TABLE owned.their_empty (x int);
RESET ROLE;
DROP OWNED BY departing;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS their_data_kept FROM owned.their_data;

-- DROP TYPE … CASCADE drops a typed table built on the type.
CREATE TYPE owned.point3 AS (x int, y int, z int);
CREATE TABLE owned.points OF owned.point3;
INSERT INTO owned.points VALUES (1, 2, 3);
DROP TYPE owned.point3 CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS points_kept FROM owned.points;

-- DROP FUNCTION … CASCADE where a partition key uses the function drops the whole table.
CREATE FUNCTION owned.bucket(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 % 2';
CREATE TABLE owned.buckets (x int) PARTITION BY LIST (owned.bucket(x));
CREATE TABLE owned.buckets_0 PARTITION OF owned.buckets FOR VALUES IN (0);
INSERT INTO owned.buckets VALUES (2);
DROP FUNCTION owned.bucket(int) CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS buckets_kept FROM owned.buckets;

-- The refusal names what CASCADE would take from other tables as pg_identify_object names
-- it: a foreign key, a column default, a policy, a function of the table's row type. Most are
-- named only when a report needs them, from the catalog as the deleting command saw it.
CREATE TABLE owned.kept (id int PRIMARY KEY);
INSERT INTO owned.kept VALUES (1);
CREATE SEQUENCE owned.kept_seq OWNED BY owned.kept.id;
CREATE FUNCTION owned.label(owned.kept) RETURNS text LANGUAGE sql AS 'SELECT $1.id::text';
CREATE FUNCTION owned.touch() RETURNS trigger LANGUAGE plpgsql SET search_path = '' AS $$BEGIN RETURN NEW; END$$;
CREATE TABLE owned."Other" (kept_id int REFERENCES owned.kept (id),
                            n bigint DEFAULT nextval('owned.kept_seq'));
CREATE POLICY "Mine" ON owned."Other" USING (kept_id IN (SELECT id FROM owned.kept));
CREATE TRIGGER touch BEFORE UPDATE ON owned."Other" FOR EACH ROW EXECUTE FUNCTION owned.touch();
DROP TABLE owned.kept CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- A function goes with its schema, and a trigger with its function.
CREATE SCHEMA doomed;
CREATE TABLE doomed.rows_here (x int);
INSERT INTO doomed.rows_here VALUES (1);
CREATE FUNCTION doomed.touch() RETURNS trigger LANGUAGE plpgsql SET search_path = '' AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER doomed_touch BEFORE UPDATE ON owned."Other" FOR EACH ROW EXECUTE FUNCTION doomed.touch();
DROP SCHEMA doomed CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) AS kept_kept FROM owned.kept;

SET memory_guard.drop_mode = off;
DROP SCHEMA doomed CASCADE;
DROP OWNED BY departing;
DROP SCHEMA owned CASCADE;
DROP ROLE departing;
RESET memory_guard.drop_mode;
TRUNCATE memory_guard.drop_log;
