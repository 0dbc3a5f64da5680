-- Objects the current statement dropped through a normal dependency, i.e. because of CASCADE.
-- Only valid inside a sql_drop event trigger.
SELECT object_type || ' ' || object_identity
FROM pg_catalog.pg_event_trigger_dropped_objects()
WHERE normal
  -- a view's _RETURN rule goes with the view, which is listed itself
  AND NOT (object_type = 'rule' AND object_name = '_RETURN')
ORDER BY object_type, object_identity
