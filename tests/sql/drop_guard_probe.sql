-- The probe decides "holds rows" by looking for the first visible row, as the table's owner
-- would lose it: row-level security, missing privileges and missing statistics change nothing.
CREATE ROLE probe_owner;
CREATE SCHEMA probe AUTHORIZATION probe_owner;
SET ROLE probe_owner;
-- FORCE ROW LEVEL SECURITY with a policy that shows the owner no row at all.
CREATE TABLE probe.secret (id int, owner_name text);
INSERT INTO probe.secret VALUES (1, 'someone else');
ALTER TABLE probe.secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE probe.secret FORCE ROW LEVEL SECURITY;
CREATE POLICY only_mine ON probe.secret USING (owner_name = current_user);
SELECT count(*) AS rows_the_owner_sees FROM probe.secret;
DROP TABLE probe.secret;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The owner revoked its own SELECT: it cannot read the rows, but could still drop them.
CREATE TABLE probe.no_select (id int);
INSERT INTO probe.no_select VALUES (1);
REVOKE SELECT ON probe.no_select FROM probe_owner;
SELECT * FROM probe.no_select;
DROP TABLE probe.no_select;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Never analyzed: pg_class says -1 tuples; the probe still finds the row.
CREATE TABLE probe.fresh (id int);
INSERT INTO probe.fresh VALUES (1);
SELECT reltuples FROM pg_class WHERE oid = 'probe.fresh'::regclass;
DROP TABLE probe.fresh;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Analyzed while empty, filled since: statistics say 0, the probe says otherwise.
CREATE TABLE probe.stale (id int);
ANALYZE probe.stale;
INSERT INTO probe.stale SELECT generate_series(1, 10);
DROP TABLE probe.stale;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- Rows at the end of a large table behind many dead ones are still found.
CREATE TABLE probe.sparse AS SELECT g AS id FROM generate_series(1, 20000) g;
DELETE FROM probe.sparse WHERE id < 20000;
DROP TABLE probe.sparse;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- An unlogged table holds data too.
CREATE UNLOGGED TABLE probe.cache AS SELECT 1 AS id;
DROP TABLE probe.cache;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- Under REPEATABLE READ the transaction's snapshot is older than the row; the probe is not.
CREATE TABLE probe.late (id int);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) AS seen_by_snapshot FROM probe.late;
\! psql -X -q -d memory_guard_regress -c 'INSERT INTO probe.late VALUES (1)'
SELECT count(*) AS still_seen_by_snapshot FROM probe.late;
DROP TABLE probe.late;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;

SET memory_guard.drop_mode = off;
DROP SCHEMA probe CASCADE;
RESET memory_guard.drop_mode;
DROP ROLE probe_owner;
