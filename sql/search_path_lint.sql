-- The last search_path each function pinned, so a later loss of it is a regression that
-- lint_functions() still reports. Written only by memory_guard (as the extension owner).
CREATE TABLE memory_guard.search_path_history (
    function_oid oid PRIMARY KEY,
    signature    text NOT NULL,
    search_path  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    owner_name   text            -- the function's owner: after a move, bound again only to its function
);
REVOKE ALL ON memory_guard.search_path_history FROM PUBLIC;
GRANT SELECT ON memory_guard.search_path_history TO PUBLIC;

-- What exists when the extension is installed counts as history.
INSERT INTO memory_guard.search_path_history (function_oid, signature, search_path, owner_name)
SELECT p.oid,
       pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(p.proname)
         OPERATOR(pg_catalog.||) '(' OPERATOR(pg_catalog.||) pg_catalog.pg_get_function_identity_arguments(p.oid) OPERATOR(pg_catalog.||) ')',
       pg_catalog.substr(c, 13), pg_catalog.pg_get_userbyid(p.proowner)
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace,
     pg_catalog.unnest(p.proconfig) c
WHERE c LIKE 'search_path=%';

CREATE FUNCTION memory_guard.lint_functions(schemas name[] DEFAULT NULL)
RETURNS TABLE (function regprocedure, rule text, severity text, message text, fix text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.function_oid::pg_catalog.regprocedure, f.rule, f.severity, f.message, f.fix
    FROM memory_guard._lint_functions(schemas) f
$$;
COMMENT ON FUNCTION memory_guard.lint_functions(name[]) IS
  'search_path findings for existing functions outside extensions (all schemas, or these).';
