-- DROP OWNED BY deletes the large objects a role owns along with its other objects, data and
-- all, though no DROP names them: one that holds data is refused there, with the remedies in
-- the HINT. lo_unlink deletes one on purpose and is not the guard's business (like DELETE).
-- Large objects get fixed OIDs here so the output is stable.
CREATE ROLE lo_writer;
CREATE SCHEMA lo_space AUTHORIZATION lo_writer;
SET ROLE lo_writer;
SELECT lo_from_bytea(424242, 'scanned contract, page 1') AS with_data;
SELECT lo_create(424243) AS empty;
CREATE TABLE lo_space.notes (id int);
-- The role itself (not a superuser) drops what it owns.
DROP OWNED BY lo_writer;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT oid FROM pg_largeobject_metadata WHERE oid IN (424242, 424243) ORDER BY 1;
SELECT to_regclass('lo_space.notes') AS notes_table;
-- After that refusal, deleting the large object on purpose is not refused.
SET ROLE lo_writer;
SELECT lo_unlink(424242);
-- What is left holds no data: DROP OWNED goes ahead and takes the empty large object too.
DROP OWNED BY lo_writer;
RESET ROLE;
SELECT count(*) AS large_objects_left FROM pg_largeobject_metadata WHERE oid IN (424242, 424243);
-- REASSIGN OWNED, the HINT's other remedy, keeps them.
SET ROLE lo_writer;
SELECT lo_from_bytea(424244, 'kept') AS with_data;
RESET ROLE;
CREATE ROLE lo_keeper;
REASSIGN OWNED BY lo_writer TO lo_keeper;
DROP OWNED BY lo_writer;
SELECT lomowner::regrole AS owner FROM pg_largeobject_metadata WHERE oid = 424244;
SELECT lo_unlink(424244);
DROP ROLE lo_writer;
DROP ROLE lo_keeper;
