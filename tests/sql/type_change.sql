-- ALTER COLUMN … TYPE on a column holding values: a WARNING (memory_guard.type_change_mode =
-- warn, the default) when the conversion can lose information; widenings pass silently.
CREATE SCHEMA tc;
SET search_path = tc, public;
CREATE TABLE items (id bigint, name varchar(40), price numeric(10,2), emb vector(3), note text, empty_col varchar(40));
INSERT INTO items VALUES (1, 'a long enough name', 12.34, '[1,2,3]', 'n', NULL);
SHOW memory_guard.type_change_mode;

-- Widenings: nothing to say.
ALTER TABLE items ALTER COLUMN name TYPE varchar(80);
ALTER TABLE items ALTER COLUMN name TYPE text;
ALTER TABLE items ALTER COLUMN price TYPE numeric(12,2);
-- Narrowings and other lossy conversions warn, and proceed.
ALTER TABLE items ALTER COLUMN id TYPE integer;
ALTER TABLE items ALTER COLUMN price TYPE numeric(12,0);
ALTER TABLE items ALTER COLUMN note TYPE varchar(5);
ALTER TABLE items ALTER COLUMN id TYPE bigint USING id * 2;
-- A column NULL everywhere has nothing to lose.
ALTER TABLE items ALTER COLUMN empty_col TYPE varchar(2);
-- error mode: the ALTER fails, nothing changes.
SET memory_guard.type_change_mode = error;
ALTER TABLE items ALTER COLUMN emb TYPE vector(2) USING '[1,2]';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT format_type(atttypid, atttypmod) AS emb_type FROM pg_attribute WHERE attrelid = 'tc.items'::regclass AND attname = 'emb';
SET memory_guard.type_change_mode = off;
ALTER TABLE items ALTER COLUMN note TYPE varchar(1);
RESET memory_guard.type_change_mode;
-- Each setting stands alone: with the drop guard off, the type-change check still reports.
SET memory_guard.drop_mode = off;
ALTER TABLE items ALTER COLUMN name TYPE varchar(3);
RESET memory_guard.drop_mode;
-- Only superusers choose the mode.
CREATE ROLE tc_app;
SET ROLE tc_app;
SET memory_guard.type_change_mode = off;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE tc_app;
-- audit() reports it too.
SELECT seq, severity, category, object FROM memory_guard.audit('ALTER TABLE tc.items ALTER COLUMN price TYPE integer;');
-- The check runs (from the ProcessUtility hook, once the library is loaded) only where the
-- ddl_command_start trigger would have fired, so that trigger's switches still switch it off;
-- and a statement Postgres refuses anyway (read-only) is left to Postgres.
ALTER EVENT TRIGGER memory_guard_ddl_command_start DISABLE;
ALTER TABLE items ALTER COLUMN name TYPE varchar(30);
ALTER EVENT TRIGGER memory_guard_ddl_command_start ENABLE;
SET session_replication_role = replica;
ALTER TABLE items ALTER COLUMN name TYPE varchar(25);
RESET session_replication_role;
BEGIN READ ONLY;
ALTER TABLE items ALTER COLUMN name TYPE varchar(20);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
ALTER TABLE items ALTER COLUMN name TYPE varchar(20);

-- Through an inheritance parent or a partitioned table, the ALTER rewrites every child: values
-- in any of them are at stake, and the report names the child that holds them.
CREATE TABLE tc.parent (id int, label varchar(40));
CREATE TABLE tc.child () INHERITS (tc.parent);
INSERT INTO tc.child VALUES (1, 'a long label');
ALTER TABLE tc.parent ALTER COLUMN label TYPE varchar(5);
CREATE TABLE tc.parted (id int, label varchar(40)) PARTITION BY LIST (id);
CREATE TABLE tc.parted_1 PARTITION OF tc.parted FOR VALUES IN (1);
INSERT INTO tc.parted VALUES (1, 'x');
ALTER TABLE tc.parted ALTER COLUMN label TYPE varchar(20);

-- ALTER TYPE … ALTER ATTRIBUTE … TYPE … CASCADE rewrites the column of every table typed OF
-- the composite type: their values are at stake, and the report names the typed table.
CREATE TYPE tc.shape AS (id int, label varchar(40));
CREATE TABLE tc.shaped OF tc.shape;
INSERT INTO tc.shaped VALUES (1, 'a label too long for five');
SET memory_guard.type_change_mode = error;
ALTER TYPE tc.shape ALTER ATTRIBUTE label TYPE varchar(5) CASCADE;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT label FROM tc.shaped;
-- A widening passes, and so does a typed table without values in the column.
ALTER TYPE tc.shape ALTER ATTRIBUTE label TYPE text CASCADE;
UPDATE tc.shaped SET label = NULL;
ALTER TYPE tc.shape ALTER ATTRIBUTE label TYPE varchar(5) CASCADE;
RESET memory_guard.type_change_mode;

SET memory_guard.drop_mode = off;
DROP SCHEMA tc CASCADE;
RESET memory_guard.drop_mode;
