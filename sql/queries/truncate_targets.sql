-- Every table a TRUNCATE empties: the named ones ($1), the partitions and inheritance children
-- of those named without ONLY ($2) and of children reached so, and with CASCADE ($3) the tables
-- referencing any of them by foreign key, transitively, as TRUNCATE itself does.
WITH RECURSIVE tables(relid, descend) AS (
    SELECT t, t = ANY ($2::oid[]) FROM pg_catalog.unnest($1::oid[]) t
  UNION
    SELECT x.relid, x.descend
    FROM tables t
    CROSS JOIN LATERAL (
        SELECT i.inhrelid, true FROM pg_catalog.pg_inherits i
        WHERE t.descend AND i.inhparent = t.relid
      UNION ALL
        SELECT c.conrelid, true FROM pg_catalog.pg_constraint c
        WHERE $3 AND c.contype = 'f' AND c.confrelid = t.relid
    ) x(relid, descend)
)
SELECT DISTINCT relid FROM tables ORDER BY relid
