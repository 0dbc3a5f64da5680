-- Every table a TRUNCATE empties: the named ones ($1), the partitions and inheritance children
-- of those named without ONLY ($2) and of children reached so, and with CASCADE ($3) the tables
-- referencing any of them by foreign key, transitively, as TRUNCATE itself does. by_fk: added by
-- CASCADE, which TRUNCATE checks the TRUNCATE right on (children go with their parent's right).
WITH RECURSIVE tables(relid, descend, by_fk) AS (
    SELECT t, t = ANY ($2::oid[]), false FROM pg_catalog.unnest($1::oid[]) t
  UNION
    SELECT x.relid, x.descend, x.by_fk
    FROM tables t
    CROSS JOIN LATERAL (
        SELECT i.inhrelid, true, false FROM pg_catalog.pg_inherits i
        WHERE t.descend AND i.inhparent = t.relid
      UNION ALL
        SELECT c.conrelid, true, true FROM pg_catalog.pg_constraint c
        WHERE $3 AND c.contype = 'f' AND c.confrelid = t.relid
    ) x(relid, descend, by_fk)
)
SELECT relid, bool_or(by_fk) FROM tables GROUP BY relid ORDER BY relid
