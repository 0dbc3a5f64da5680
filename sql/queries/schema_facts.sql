-- Schemas in which a role other than the owner and superusers (PUBLIC included) may CREATE.
SELECT n.nspname::text,
       EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a
               WHERE a.privilege_type = 'CREATE'
                 AND a.grantee <> n.nspowner
                 AND (a.grantee = 0 OR NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r
                                            WHERE r.oid = a.grantee))) AS creatable_by_others
FROM pg_catalog.pg_namespace n
