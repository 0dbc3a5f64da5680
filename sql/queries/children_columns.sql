-- The column named $2 in every inheritance child and partition of table $1, at any depth: what
-- an ALTER COLUMN ... TYPE without ONLY rewrites besides the table itself.
WITH RECURSIVE tree(relid) AS (
    SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = $1
  UNION
    SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.relid
)
SELECT t.relid, a.attnum
FROM tree t
JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid AND a.attname = $2 AND NOT a.attisdropped
ORDER BY t.relid
