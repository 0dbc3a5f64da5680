-- The search_path settings of every function named $1, before a CREATE/ALTER FUNCTION runs.
SELECT p.oid,
       (SELECT pg_catalog.substr(c, 13) FROM pg_catalog.unnest(p.proconfig) c
         WHERE c LIKE 'search_path=%')
FROM pg_catalog.pg_proc p
WHERE p.proname = $1::pg_catalog.name
