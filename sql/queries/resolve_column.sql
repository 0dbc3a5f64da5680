-- $1 read as [schema.]table.column: the table's OID and the column's quoted name, or NULLs.
SELECT r.oid, r.attname
FROM (SELECT 1) one
LEFT JOIN LATERAL (
  SELECT c.oid, pg_catalog.quote_ident(a.attname) AS attname
  FROM (SELECT pg_catalog.parse_ident($1) AS p) i
  JOIN pg_catalog.pg_class c
    ON c.oid = pg_catalog.to_regclass(pg_catalog.array_to_string(
         (SELECT pg_catalog.array_agg(pg_catalog.quote_ident(x))
          FROM pg_catalog.unnest(i.p[1:pg_catalog.array_length(i.p, 1) - 1]) x), '.'))
   AND c.relkind IN ('r', 'p')
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid = c.oid AND a.attname = i.p[pg_catalog.array_length(i.p, 1)]
   AND a.attnum > 0 AND NOT a.attisdropped
  WHERE pg_catalog.array_length(i.p, 1) IN (2, 3)
) r ON true
