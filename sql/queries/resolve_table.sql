-- $1 resolved as DROP would resolve it (search_path, quoting): OID and relkind, or NULLs.
SELECT c.oid, c.relkind::text
FROM (SELECT pg_catalog.to_regclass($1) AS oid) r
LEFT JOIN pg_catalog.pg_class c ON c.oid = r.oid
