//! `memory_guard.backup_table()` and `memory_guard.restore_table()`: verified copies of a table
//! into a schema memory_guard owns, each recorded in the ledger (`ledger.rs`), and restores from
//! them.
//!
//! Copies are made by the extension's owner and filled and checksummed as the table's owner, so
//! no trigger or default runs with more rights than that owner has, and row-level security
//! cannot hide rows from a copy; callers must own the tables they copy or restore.

use crate::checksum::checksum_of;
use crate::extension::{
    as_extension_owner, as_owner, as_relation_owner, current_user_acts_as, extension_owner,
    lending, relation_owner,
};
use crate::ledger::{ledger_insert, trusted_copy};
use crate::tables::{lock_own_table, one, rel_name, run};
use crate::{probe, report};
use memory_guard_core::{GuardError, SqlState};
use pgrx::prelude::*;
use pgrx::JsonB;

/// The schema a backup goes into, created if need be: always one memory_guard's owner owns,
/// where no other role may create, so that no one can swap a copy for something else.
fn backup_schema_oid(schema: &str, function: &'static str) -> pg_sys::Oid {
    let owner = extension_owner().unwrap_or_else(|| crate::extension::not_installed());
    let schema_oid = || {
        one::<pg_sys::Oid>(
            "SELECT (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) $1)",
            &[schema.into()],
        )
    };
    let existing = schema_oid();
    if let Some(nsp) = existing {
        // Owned by memory_guard's owner and made by memory_guard for backups: not any schema
        // of that owner's (its own memory_guard schema, information_schema, which pg_dump
        // leaves out), where a copy would block a reinstall or be lost.
        let ours = one::<bool>(
            "SELECT n.nspowner OPERATOR(pg_catalog.=) $2 \
                    AND pg_catalog.obj_description(n.oid, 'pg_namespace') OPERATOR(pg_catalog.=) $3 \
             FROM pg_catalog.pg_namespace n WHERE n.oid OPERATOR(pg_catalog.=) $1",
            &[nsp.into(), owner.into(), BACKUP_SCHEMA_MARK.into()],
        );
        if ours != Some(true) {
            report::raise(
                &GuardError::new(
                    SqlState::InsufficientPrivilege,
                    format!("{function}: schema {} is not memory_guard's", probe::quote_identifier(schema)),
                )
                .detail("Backups go only into schemas memory_guard made for them, owned by its owner, where no other role can drop, replace or change a copy.")
                .hint("Leave backup_schema out (memory_guard_backup), or name a schema that does not exist yet."),
                function,
            );
        }
        return nsp;
    }
    // A new schema is a new object in the database: only for roles that may create schemas,
    // except memory_guard's own default.
    // SAFETY: an ACL check of the current user on this database; cannot raise.
    let may_create = unsafe {
        crate::ffi::acl_ok(
            pg_sys::DatabaseRelationId,
            pg_sys::MyDatabaseId,
            pg_sys::ACL_CREATE as pg_sys::AclMode,
        )
    };
    if schema != DEFAULT_BACKUP_SCHEMA && !may_create {
        report::raise(
            &GuardError::new(
                SqlState::InsufficientPrivilege,
                format!("{function}: may not create schema {}", probe::quote_identifier(schema)),
            )
            .detail("The schema does not exist, and creating it needs the CREATE privilege on the database.")
            .hint(format!("Leave backup_schema out ({DEFAULT_BACKUP_SCHEMA}), or ask the database owner to create the schema for memory_guard.")),
            function,
        );
    }
    as_extension_owner(|| {
        let q = probe::quote_identifier(schema);
        run(&format!("CREATE SCHEMA {q}"), &[]);
        run(&format!("REVOKE ALL ON SCHEMA {q} FROM PUBLIC"), &[]);
        run(
            &format!(
                "COMMENT ON SCHEMA {q} IS {}",
                memory_guard_core::sql_text::quote_literal(BACKUP_SCHEMA_MARK)
            ),
            &[],
        );
    });
    schema_oid().unwrap_or_else(|| {
        crate::report::failed(
            "creating a backup schema",
            format!("{schema} was not created"),
        )
    })
}

const DEFAULT_BACKUP_SCHEMA: &str = "memory_guard_backup";
/// The comment that marks a schema memory_guard made for backups.
const BACKUP_SCHEMA_MARK: &str =
    "memory_guard backups: verified copies recorded in memory_guard.ledger";

/// `memory_guard.backup_table(tbl, backup_schema)`: a full copy, verified, with a ledger entry.
///
/// The copy belongs to memory_guard's owner, in a schema only that owner may create in; it is
/// filled as the table's owner (its code, domains included, runs with no more rights than it
/// has), and both sides are checksummed by their own owners.
#[pg_extern(volatile, parallel_unsafe, name = "_backup_table")]
#[search_path(pg_catalog, pg_temp)]
fn backup_table(tbl: Option<pg_sys::Oid>, backup_schema: Option<&str>) -> JsonB {
    const F: &str = "backup_table";
    crate::moved::rekey_if_moved();
    let Some(tbl) = tbl else {
        report::raise(
            &GuardError::new(
                SqlState::NullValueNotAllowed,
                "backup_table: tbl must not be NULL",
            ),
            F,
        )
    };
    let schema = backup_schema
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            report::raise(
                &GuardError::new(
                    SqlState::NullValueNotAllowed,
                    "backup_table: backup_schema must not be NULL or empty",
                ),
                F,
            )
        });
    let kind = lock_own_table(tbl, pg_sys::ShareLock, "back it up", F);
    let source = rel_name(tbl);
    let owner = relation_owner(tbl).expect("locked above");
    if probe::rls_hides_rows_from(tbl, owner) {
        report::raise(
            &GuardError::new(SqlState::InsufficientPrivilege, format!("backup_table: row-level security hides rows of {source} from its owner"))
                .detail("A backup is copied and checksummed as the table's owner, and FORCE ROW LEVEL SECURITY applies its policies to that owner: the copy could leave rows out.")
                .hint(format!("ALTER TABLE {source} NO FORCE ROW LEVEL SECURITY; in the same transaction, back it up, then FORCE it again; or give the owner BYPASSRLS.")),
            F,
        );
    }
    let nsp = backup_schema_oid(schema, F);
    let only = if kind == pg_sys::RELKIND_RELATION {
        "ONLY "
    } else {
        ""
    };
    // The copy's shape comes from the table's columns without running anything (WITH NO DATA
    // neither plans nor executes the query).
    let (copy_oid, copy_name) = as_extension_owner(|| {
        let copy_name = one::<String>(
            "SELECT pg_catalog.quote_ident(s.nspname) || '.' || pg_catalog.quote_ident(\
               pg_catalog.left(n.nspname || '__' || c.relname, 40) || '__' || \
               pg_catalog.to_char(pg_catalog.clock_timestamp(), 'YYYYMMDDHH24MISSUS')) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace, \
                  pg_catalog.pg_namespace s \
             WHERE c.oid OPERATOR(pg_catalog.=) $1 AND s.oid OPERATOR(pg_catalog.=) $2",
            &[tbl.into(), nsp.into()],
        )
        .unwrap_or_default();
        run(
            &format!("CREATE TABLE {copy_name} AS SELECT * FROM {only}{source} WITH NO DATA"),
            &[],
        );
        // Whatever default privileges its owner has: a copy is nobody else's to read.
        let grantees = one::<String>(
            "SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' \
                    ELSE pg_catalog.quote_ident(r.rolname) END, ', ') \
             FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a \
             LEFT JOIN pg_catalog.pg_authid r ON r.oid OPERATOR(pg_catalog.=) a.grantee \
             WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND a.grantee OPERATOR(pg_catalog.<>) c.relowner",
            &[copy_name.as_str().into()],
        );
        if let Some(grantees) = grantees {
            run(
                &format!("REVOKE ALL ON TABLE {copy_name} FROM {grantees}"),
                &[],
            );
        }
        (created(&copy_name), copy_name)
    });
    lending(copy_oid, owner, "INSERT", || {
        as_owner(owner, || {
            run(
                &format!("INSERT INTO {copy_name} SELECT * FROM {only}{source}"),
                &[],
            )
        })
    });
    let src = as_owner(owner, || checksum_of(&source, !only.is_empty()));
    let copy = as_extension_owner(|| checksum_of(&copy_name, true));
    if src != copy {
        report::raise(
            &GuardError::new(SqlState::DataCorrupted, format!("backup_table: the copy of {source} does not match it"))
                .detail(format!("{} rows (checksum {}) in the table, {} (checksum {}) in the copy; nothing was kept.", src.0, src.1, copy.0, copy.1)),
            F,
        );
    }
    let ledger_id = ledger_insert(
        "backup",
        tbl,
        &copy_name,
        Some(copy_oid),
        src.0,
        &src.1,
        serde_json::json!({ "copy_rows": copy.0, "copy_checksum": copy.1 }),
    );
    // The guard checks each table that holds rows: record every leaf partition too.
    if kind == pg_sys::RELKIND_PARTITIONED_TABLE {
        let leaves: Vec<pg_sys::Oid> = Spi::connect(|c| {
            c.select(
                "SELECT relid FROM pg_catalog.pg_partition_tree($1) WHERE isleaf",
                None,
                &[tbl.into()],
            )
            .map(|rows| {
                rows.filter_map(|r| r.get::<pg_sys::Oid>(1).ok().flatten())
                    .collect()
            })
        })
        .unwrap_or_default();
        for leaf in leaves {
            let (n, k) = as_relation_owner(leaf, || checksum_of(&rel_name(leaf), true));
            ledger_insert(
                "backup",
                leaf,
                &copy_name,
                Some(copy_oid),
                n,
                &k,
                serde_json::json!({ "partition_of": source, "copy_rows": copy.0, "copy_checksum": copy.1 }),
            );
        }
    }
    JsonB(serde_json::json!({
        "source": source, "backup": copy_name, "row_count": src.0, "checksum": src.1, "ledger_id": ledger_id,
    }))
}

/// `memory_guard.restore_table(source, target)`: recreates the latest backup of `source` (a
/// table name as it was) under `target` (default: the same name), verified against the ledger.
///
/// Only the copy the ledger names by OID is read, and only while it is still memory_guard's own
/// table in a schema of memory_guard's owner. The new table is created and filled as the role
/// that owned the source, which must be the caller or one of the caller's roles.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn restore_table(source: Option<&str>, target: default!(Option<&str>, "NULL")) -> JsonB {
    const F: &str = "restore_table";
    crate::moved::require_keyed(F);
    let Some(source) = source else {
        report::raise(
            &GuardError::new(
                SqlState::NullValueNotAllowed,
                "restore_table: source must not be NULL",
            ),
            F,
        )
    };
    // Read as the extension's owner, and filtered here: the caller's own view of the ledger
    // shows the same rows (those of tables its roles own), and this one is not bent by it.
    type Backup = (i64, String, Option<pg_sys::Oid>, i64, String, pg_sys::Oid);
    // Every backup of that name, newest first, read as the extension's owner and filtered here
    // by owner before one is chosen: the newest of any role's could be someone else's table of
    // the same name, created and backed up after the caller's was dropped.
    let all: Vec<Backup> = as_extension_owner(|| {
        Spi::connect(|c| {
            let rows = c.select(
                "SELECT l.id, l.source_name, l.copy_oid, l.row_count, l.checksum, l.source_owner \
                 FROM memory_guard.ledger l \
                 WHERE l.kind OPERATOR(pg_catalog.=) 'backup' AND NOT l.details OPERATOR(pg_catalog.?) 'partition_of' \
                   AND (l.source_name OPERATOR(pg_catalog.=) $1 \
                    OR l.source_name OPERATOR(pg_catalog.=) (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p), '.') FROM pg_catalog.unnest(pg_catalog.parse_ident($1)) p)) \
                 ORDER BY l.id DESC",
                None,
                &[source.into()],
            )?;
            rows.map(|row| {
                Ok::<_, pgrx::spi::Error>(Some((
                    row.get::<i64>(1)?.unwrap_or_default(),
                    row.get::<String>(2)?.unwrap_or_default(),
                    row.get::<pg_sys::Oid>(3)?,
                    row.get::<i64>(4)?.unwrap_or_default(),
                    row.get::<String>(5)?.unwrap_or_default(),
                    row.get::<pg_sys::Oid>(6)?.unwrap_or(pg_sys::InvalidOid),
                )))
            })
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()
        })
    })
    .unwrap_or_else(|e| report::raise(&GuardError::new(SqlState::UndefinedTable, format!("restore_table: {e}")), F));
    // The ledger entries of other roles' tables are not the caller's to know about: said as if
    // there were none.
    let mine: Vec<Backup> = all
        .into_iter()
        .filter(|b| current_user_acts_as(b.5))
        .collect();
    let Some((ledger_id, source_name, copy_oid, count, checksum, owner)) = mine.first().cloned()
    else {
        report::raise(
            &GuardError::new(SqlState::UndefinedTable, format!("restore_table: no backup of {source}"))
                .hint("memory_guard.ledger lists the backups of your tables (kind = 'backup'); name the table as its source_name says."),
            F,
        )
    };
    if mine.iter().any(|b| b.5 != owner) {
        let owners: Vec<String> = mine
            .iter()
            .map(|b| crate::extension::role_name(b.5))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        report::raise(
            &GuardError::new(SqlState::InvalidParameterValue, format!("restore_table: backups of {source} belong to several roles: {}", owners.join(", ")))
                .detail("Tables of the same name, owned by different roles, were backed up; a restore by name would pick one for you.")
                .hint(format!("Restore as the owner whose table you mean: SET ROLE {}; SELECT memory_guard.restore_table(...); RESET ROLE;", owners[0])),
            F,
        );
    }
    let copy = copy_oid.filter(|c| trusted_copy(*c)).unwrap_or_else(|| {
        report::raise(
            &GuardError::new(SqlState::DataCorrupted, format!("restore_table: the backup of {source_name} is gone or is not memory_guard's"))
                .detail("A restore reads only the copy the ledger recorded, while it is still memory_guard's own table in memory_guard's schema."),
            F,
        )
    });
    let copy_name = rel_name(copy);
    // The name is spliced into SQL: parse and re-quote it.
    let target = match target {
        None => source_name.clone(),
        Some(t) => one::<String>(
            "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p), '.') FROM pg_catalog.unnest(pg_catalog.parse_ident($1)) p \
             HAVING pg_catalog.count(*) OPERATOR(pg_catalog.=) 2",
            &[t.into()],
        )
        .unwrap_or_else(|| {
            report::raise(
                &GuardError::new(SqlState::InvalidParameterValue, format!("restore_table: target {t:?} is not a schema-qualified table name")),
                F,
            )
        }),
    };
    let target_schema = one::<pg_sys::Oid>(
        "SELECT pg_catalog.to_regnamespace(pg_catalog.quote_ident((pg_catalog.parse_ident($1))[1]))",
        &[target.as_str().into()],
    );
    // SAFETY: an ACL check of the current user on a schema by OID; cannot raise.
    let may_create = target_schema.is_some_and(|nsp| unsafe {
        crate::ffi::acl_ok(
            pg_sys::NamespaceRelationId,
            nsp,
            pg_sys::ACL_CREATE as pg_sys::AclMode,
        )
    });
    if !may_create {
        report::raise(
            &GuardError::new(SqlState::InsufficientPrivilege, format!("restore_table: may not create {target}"))
                .detail("Restoring creates a table: it needs the CREATE privilege on the target's schema, which must exist.")
                .hint("Restore into a schema you may create in: SELECT memory_guard.restore_table(source, target => 'schema.new_name');"),
            F,
        );
    }
    let exists = one::<bool>(
        "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
        &[target.as_str().into()],
    )
    .unwrap_or(false);
    if exists {
        report::raise(
            &GuardError::new(SqlState::DuplicateTable, format!("restore_table: {target} exists"))
                .hint("Restore under another name: SELECT memory_guard.restore_table(source, target => 'schema.new_name');"),
            F,
        );
    }
    lending(copy, owner, "SELECT", || {
        as_owner(owner, || {
            run(
                &format!("CREATE TABLE {target} AS SELECT * FROM ONLY {copy_name}"),
                &[],
            )
        })
    });
    let restored = created(&target);
    let (n, k) = as_relation_owner(restored, || checksum_of(&target, true));
    if n != count || k != checksum {
        report::raise(
            &GuardError::new(SqlState::DataCorrupted, format!("restore_table: {target} does not match the backup of {source_name}"))
                .detail(format!("The ledger says {count} rows (checksum {checksum}); the restored table has {n} ({k}). Nothing was restored.")),
            F,
        );
    }
    JsonB(
        serde_json::json!({ "source": source_name, "restored_as": target, "backup": copy_name, "row_count": n, "checksum": k, "ledger_id": ledger_id }),
    )
}

/// The OID of the table `name` (qualified, quoted) that the call has just created.
fn created(name: &str) -> pg_sys::Oid {
    one::<pg_sys::Oid>(
        "SELECT $1::pg_catalog.regclass::pg_catalog.oid",
        &[name.into()],
    )
    .unwrap_or_else(|| {
        crate::report::failed("creating a backup", format!("{name} was not created"))
    })
}
