-- $1 resolved as DROP would resolve it (search_path, quoting): OID and relkind, or NULLs. A name
-- of three parts is a column (schema.table.column), not a table in another database.
SELECT c.oid, c.relkind::text
FROM (SELECT CASE WHEN pg_catalog.array_length(pg_catalog.parse_ident($1), 1) <= 2
                  THEN pg_catalog.to_regclass($1) END AS oid) r
LEFT JOIN pg_catalog.pg_class c ON c.oid = r.oid
