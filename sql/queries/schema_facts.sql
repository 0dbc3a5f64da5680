-- For each schema, the roles that may CREATE in it (owner, grantees, members of either), with 0
-- standing for PUBLIC. Superusers are left out (they may do anything anyway), and so are the
-- predefined pg_* roles: their members, such as the database owner for pg_database_owner, are
-- checked themselves.
SELECT n.nspname::text,
       ARRAY(SELECT r.oid FROM pg_catalog.pg_roles r
             WHERE NOT r.rolsuper AND r.rolname !~ '^pg_'
               AND pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE')
             UNION
             SELECT 0::oid WHERE EXISTS (
               SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a
               WHERE a.grantee = 0 AND a.privilege_type = 'CREATE')) AS creators
FROM pg_catalog.pg_namespace n
