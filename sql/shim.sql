-- The search_memory_notes compatibility shim: the legacy signature and result columns, answered
-- from memories, so callers of the old function keep working once memory_notes is gone.

CREATE FUNCTION memory_guard.install_search_memory_notes_shim(target_schema name DEFAULT 'public')
RETURNS regprocedure
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    vector_schema name;
    memories regclass;
    search text;
    branches text;
    shim regprocedure;
BEGIN
    IF target_schema IS NULL THEN
        RAISE EXCEPTION 'memory_guard: install_search_memory_notes_shim: target_schema must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    SELECT n.nspname INTO vector_schema
    FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'vector';
    IF vector_schema IS NULL THEN
        RAISE EXCEPTION 'memory_guard: the search_memory_notes shim needs pgvector, which is not installed'
            USING ERRCODE = '0A000',
                  DETAIL = 'search_memory_notes takes a vector(1536) and ranks by cosine distance.',
                  HINT = 'CREATE EXTENSION vector; then call memory_guard.install_search_memory_notes_shim() again.';
    END IF;
    memories := pg_catalog.to_regclass(pg_catalog.quote_ident(target_schema) || '.memories');
    IF memories IS NULL THEN
        RAISE EXCEPTION 'memory_guard: install_search_memory_notes_shim: %.memories does not exist',
                        pg_catalog.quote_ident(target_schema)
            USING ERRCODE = '42P01',
                  HINT = 'Create memories first (migration 20251123000000), or name the schema that has it.';
    END IF;
    -- Nearest first, then the threshold: the same rows as filtering first (similarity falls as
    -- distance grows), and the shape an HNSW index on memories.embedding serves. The inner
    -- LIMIT is left open, to be a constant per bucket of counts, or $4.
    search := pg_catalog.format($q$
            WITH m AS (
                SELECT m.id, m.content, m.memory_type, m.importance_score, m.source, m.symbols,
                       m.created_at, 1 - (m.embedding OPERATOR(%2$I.<=>) $1) AS similarity
                FROM %1$I.memories m
                WHERE m.workspace_id = $2 AND m.embedding IS NOT NULL AND NOT m.archived
                ORDER BY m.embedding OPERATOR(%2$I.<=>) $1
                LIMIT %%s)
            SELECT m.id, m.content,
                   CASE WHEN f.legacy_id IS NOT NULL THEN f.memory_type ELSE m.memory_type END,
                   CASE WHEN f.legacy_id IS NOT NULL THEN f.importance
                        WHEN m.importance_score >= 0.95 THEN 'critical'
                        WHEN m.importance_score >= 0.8 THEN 'high'
                        WHEN m.importance_score >= 0.5 THEN 'normal'
                        ELSE 'low' END,
                   m.source, m.symbols, m.created_at, m.similarity
            FROM m
            LEFT JOIN memory_guard.legacy_note_fields(ARRAY(SELECT m.id FROM m), %3$L::pg_catalog.regclass) f ON f.legacy_id = m.id
            WHERE m.similarity >= $3
            ORDER BY m.similarity DESC
            LIMIT $4$q$, target_schema, vector_schema, memories::text);
    SELECT pg_catalog.string_agg(pg_catalog.format('%s $4 <= %s THEN RETURN QUERY %s;',
                                 CASE WHEN b.n = 1 THEN 'IF' ELSE 'ELSIF' END, b.bucket,
                                 pg_catalog.format(search, b.bucket)), ' ' ORDER BY b.n) || ' ELSE'
    INTO branches
    FROM pg_catalog.unnest(ARRAY[5, 20, 100]) WITH ORDINALITY AS b(bucket, n);
    EXECUTE pg_catalog.format($shim$
        CREATE OR REPLACE FUNCTION %1$I.search_memory_notes(
            query_embedding %2$I.vector(1536),
            match_workspace_id uuid,
            match_threshold float DEFAULT 0.7,
            match_count int DEFAULT 5
        )
        RETURNS TABLE (id uuid, content text, memory_type text, importance text, source text,
                       tags text[], created_at timestamptz, similarity float)
        LANGUAGE plpgsql STABLE SECURITY INVOKER
        SET search_path = pg_catalog, pg_temp
        AS $body$
        -- PL/pgSQL, not SQL: a SQL function with a SET clause is never inlined, so its query is
        -- planned without the argument values, and for a LIMIT $4 the planner then assumes a
        -- tenth of the table and sorts it instead of walking the HNSW index (98x slower on
        -- 100,000 rows, bench/migrate_shim.sh). For the usual counts the inner LIMIT is the
        -- smallest constant bucket that holds match_count, so one plan serves every call and
        -- at most a few rows more than asked are read; larger or NULL counts are planned per call.
        #variable_conflict use_column
        BEGIN
            %3$s
                RETURN QUERY %4$s;
            END IF;
        END
        $body$
    $shim$, target_schema, vector_schema, branches, pg_catalog.format(search, '$4'));
    shim := pg_catalog.format('%I.search_memory_notes(%I.vector, uuid, float, int)', target_schema, vector_schema)::regprocedure;
    EXECUTE pg_catalog.format('COMMENT ON FUNCTION %s IS %L', shim,
        'memory_guard compatibility shim: the legacy search_memory_notes, answered from memories');
    RETURN shim;
END
$fn$;
COMMENT ON FUNCTION memory_guard.install_search_memory_notes_shim(name) IS
  'Installs <schema>.search_memory_notes with the legacy signature and columns, answered from memories.';
