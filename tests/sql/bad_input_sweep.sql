-- A generated sweep over the argument space of every SQL function of memory_guard (event-trigger
-- functions excepted): NULLs, empty and blank strings, absent, quoted, qualified and odd names,
-- views, temporary and partitioned tables, and 100 kB inputs, in every combination. Run as a role
-- that owns nothing. Each call either works or fails with a SQLSTATE that is not XX000
-- (internal error), the backend survives, and nothing persists.
CREATE ROLE sweeper;
CREATE SCHEMA sweep AUTHORIZATION sweeper;
SET ROLE sweeper;
CREATE TABLE sweep.t AS SELECT 1 AS x;
CREATE VIEW sweep.v AS SELECT 1 AS x;
CREATE TABLE sweep.p (x int) PARTITION BY LIST (x);
CREATE TEMP TABLE tmp AS SELECT 1 AS x;
RESET ROLE;
CREATE TEMP VIEW state AS
SELECT (SELECT count(*) FROM pg_class WHERE relpersistence <> 't') AS relations, (SELECT count(*) FROM pg_proc) AS functions,
       (SELECT count(*) FROM memory_guard.drop_log) AS drop_log, (SELECT count(*) FROM memory_guard.ledger) AS ledger,
       (SELECT count(*) FROM memory_guard.memory_notes_carryover) AS carryover;
CREATE TEMP TABLE outcomes (function text, args text, sqlstate text);
CREATE TEMP TABLE before AS SELECT * FROM state;
GRANT INSERT ON outcomes TO sweeper;
SET ROLE sweeper;
DO $$
DECLARE
  f record; combo text[]; call text; state text;
  candidates jsonb := jsonb_build_object(
    'text', jsonb_build_array('NULL', '''''', ''' ''', '''no_such''', '''"Quoted Name"''', '''sweep.t''', '''sweep.v''',
                             '''sweep.t.x''', '''a.b.c.d''', '''pg_catalog.pg_class''', '''tmp''', 'repeat(''x'', 100000)'),
    'regclass', jsonb_build_array('NULL', '''sweep.t''', '''sweep.v''', '''sweep.p''', '''tmp''', '''pg_catalog.pg_class'''),
    'name', jsonb_build_array('NULL', '''''', '''no_such_schema''', '''sweep''', '''memory_guard_backup''', 'repeat(''y'', 100)'),
    'name[]', jsonb_build_array('NULL', '''{}''', '''{no_such}''', '''{sweep,public}'''),
    'text[]', jsonb_build_array('NULL', '''{}''', '''{sweep}'''),
    'boolean', jsonb_build_array('NULL', 'true', 'false'),
    'oid', jsonb_build_array('NULL', '0', '''sweep.t''::regclass::oid', '''sweep.v''::regclass::oid'),
    'uuid', jsonb_build_array('NULL', 'gen_random_uuid()'),
    -- "any" takes each value with its own type (a cast to "any" is not SQL).
    '"any"', jsonb_build_array('NULL::text', '0', '''x''::text', 'repeat(''x'', 100000)', 'ROW(1, NULL)',
                              '''{1,NULL}''::int[]', '''sweep.t''::regclass', 'now()'),
    'uuid[]', jsonb_build_array('NULL', '''{}''', '''{NULL}''', 'ARRAY[gen_random_uuid()]',
                               'array(SELECT gen_random_uuid() FROM generate_series(1, 10000))'));
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure AS sig, p.proname,
           array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t) AS types
    FROM pg_proc p WHERE p.pronamespace = 'memory_guard'::regnamespace
      AND p.prorettype <> 'event_trigger'::regtype ORDER BY 1
  LOOP
    FOR combo IN
      WITH RECURSIVE c(i, vals) AS (
        SELECT 0, ARRAY[]::text[]
        UNION ALL
        SELECT c.i + 1, c.vals || v.value
        FROM c, jsonb_array_elements_text(candidates -> (f.types[c.i + 1])) v
        WHERE c.i < coalesce(array_length(f.types, 1), 0))
      SELECT vals FROM c WHERE i = coalesce(array_length(f.types, 1), 0)
    LOOP
      call := format('SELECT memory_guard.%I(%s)', f.proname,
                     (SELECT string_agg(CASE WHEN f.types[k] = '"any"' THEN v ELSE format('%s::%s', v, f.types[k]) END, ', ')
                      FROM unnest(combo) WITH ORDINALITY u(v, k)));
      BEGIN
        EXECUTE call;
        state := 'ok';
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'undo';  -- nothing a call did persists
      EXCEPTION WHEN OTHERS THEN
        IF state IS DISTINCT FROM 'ok' THEN state := SQLSTATE; END IF;
      END;
      INSERT INTO outcomes VALUES (f.sig::text, array_to_string(combo, ', '), state);
      state := NULL;
    END LOOP;
  END LOOP;
END $$;
RESET ROLE;
SELECT count(*) AS calls, count(DISTINCT function) AS functions,
       count(*) FILTER (WHERE sqlstate = 'ok') AS worked,
       count(*) FILTER (WHERE sqlstate = 'XX000') AS internal_errors
FROM outcomes;
-- SQLSTATEs seen, per function.
SELECT function, string_agg(DISTINCT sqlstate, ' ' ORDER BY sqlstate) AS outcomes
FROM outcomes GROUP BY 1 ORDER BY 1;
SELECT (SELECT row(b.*)::text FROM before b) = (SELECT row(s.*)::text FROM state s) AS nothing_persisted;
SET memory_guard.drop_mode = off;
DROP SCHEMA sweep CASCADE;
RESET memory_guard.drop_mode;
DROP OWNED BY sweeper;
DROP ROLE sweeper;
