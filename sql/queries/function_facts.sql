-- The facts the search_path lint needs about functions and procedures outside extensions and
-- system schemas: $1 limits to these OIDs, $2 to these schemas (each NULL for no limit).
SELECT p.oid,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname)
         || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' AS signature,
       CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind,
       n.nspname::text AS schema,
       p.prosecdef AS security_definer,
       p.prorettype IN ('pg_catalog.trigger'::pg_catalog.regtype,
                        'pg_catalog.event_trigger'::pg_catalog.regtype) AS is_trigger,
       (SELECT pg_catalog.substr(c, 13) FROM pg_catalog.unnest(p.proconfig) c
         WHERE c LIKE 'search_path=%') AS search_path,
       h.search_path AS pinned_before,
       p.proowner AS owner
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
-- What it pinned before, if the same owner's (a record keyed in another database may carry an
-- OID that names someone else's function here).
LEFT JOIN memory_guard.search_path_history h
       ON h.function_oid = p.oid AND h.owner_name = pg_catalog.pg_get_userbyid(p.proowner)
WHERE p.prokind IN ('f', 'p')
  AND ($1::oid[] IS NULL OR p.oid = ANY ($1::oid[]))
  AND ($2::name[] IS NULL OR n.nspname = ANY ($2::name[]))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_depend d
        WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
          AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY signature
