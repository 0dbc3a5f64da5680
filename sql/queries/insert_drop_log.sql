INSERT INTO memory_guard.drop_log
    (table_oid, table_name, column_name, command_tag, estimated_rows, guard, reason, role_name, details,
     allowed_by, table_owner)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
