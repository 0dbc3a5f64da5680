-- memory_guard's objects in this database, one line each, in an order that does not depend on
-- how they came to be (a fresh install, or an update): tests/clients/update.sh compares the two.
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'memory_guard'),
nsp AS (SELECT oid FROM pg_namespace WHERE nspname = 'memory_guard'),
rel AS (SELECT c.* FROM pg_class c, nsp WHERE c.relnamespace = nsp.oid AND c.relkind IN ('r', 'p'))
SELECT d FROM (
  SELECT format('column %s.%s #%s %s%s%s', r.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')) AS d
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
  UNION ALL
  SELECT format('identity %s.%s %s', r.relname, a.attname, a.attidentity)
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND a.attidentity <> ''
  UNION ALL
  SELECT format('table %s rls=%s force=%s acl=%s', relname, relrowsecurity, relforcerowsecurity, relacl) FROM rel
  UNION ALL
  SELECT 'index ' || regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON')
  FROM pg_index i JOIN rel r ON r.oid = i.indrelid
  UNION ALL
  SELECT format('constraint %s %s', r.relname, pg_get_constraintdef(c.oid))
  FROM pg_constraint c JOIN rel r ON r.oid = c.conrelid
  UNION ALL
  SELECT format('policy %s %s %s %s', r.relname, p.polname, p.polcmd, pg_get_expr(p.polqual, p.polrelid))
  FROM pg_policy p JOIN rel r ON r.oid = p.polrelid
  UNION ALL
  SELECT format('function %s volatility=%s parallel=%s definer=%s strict=%s config=%s body=%s',
                p.oid::regprocedure, p.provolatile, p.proparallel, p.prosecdef, p.proisstrict,
                p.proconfig, md5(p.prosrc))
  FROM pg_proc p, nsp WHERE p.pronamespace = nsp.oid
  UNION ALL
  SELECT 'dumped ' || c::regclass::text FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'memory_guard'
  UNION ALL
  SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e'
  UNION ALL
  SELECT format('event trigger %s %s %s', evtname, evtevent, evtenabled) FROM pg_event_trigger
) x ORDER BY d;
