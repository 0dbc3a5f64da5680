-- The column named $2 in every table typed OF the composite type whose relation is $1, and in
-- their inheritance children and partitions: what ALTER TYPE ... ALTER ATTRIBUTE ... CASCADE
-- rewrites.
WITH RECURSIVE tree(relid) AS (
    SELECT t.oid FROM pg_catalog.pg_class t JOIN pg_catalog.pg_class c ON t.reloftype = c.reltype
    WHERE c.oid = $1
  UNION
    SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.relid
)
SELECT t.relid, a.attnum
FROM tree t
JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid AND a.attname = $2 AND NOT a.attisdropped
ORDER BY t.relid
