//! The migration toolkit: verified backups and restores, the lossless memory_notes → memories
//! migration, and the ledger check the drop guard uses to let a copied table go.
//!
//! Copies are read and written as the extension's owner, so row-level security cannot hide rows
//! from a backup or a checksum; callers must own the tables they copy or restore.

use crate::checksum::{checksum_of, count_and_sum, row_sum, with_toast_memo};
use crate::extension::{
    as_extension_owner, as_owner, as_relation_owner, as_relation_owner_under_policies,
    current_user_acts_as, extension_owner, lending, relation_owner, with_safe_search_path,
};
use crate::probe;
use crate::report;
use crate::statement::SessionLocal;
use memory_guard_core::checksum::{checksum_sql, digest_sum_sql, RowSum};
use memory_guard_core::drop_policy::{CopyKind, VerifiedCopy};
use memory_guard_core::migration::{
    check_columns, check_embedding_dims, importance_score_sql, rebuilt_legacy_terms, Column,
    MigrationReport, LEGACY_ROW_COLUMNS, SOURCE_COLUMNS, TARGET_COLUMNS,
};
use memory_guard_core::{GuardError, SqlState};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;
use std::time::Instant;

/// Rows per INSERT batch; a progress NOTICE follows each batch of a large migration.
const BATCH: i64 = 10_000;

// Each statement of the toolkit runs under the safe search_path pushed anew for it: a trigger
// or DEFAULT that ran in an earlier statement (as its table's owner) may have changed the
// setting, and the change must not reach the next statement.
fn one<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Option<T> {
    with_safe_search_path(|| Spi::get_one_with_args::<T>(sql, args))
        .unwrap_or_else(|e| pgrx::error!("memory_guard: {e}"))
}

fn run(sql: &str, args: &[DatumWithOid]) {
    with_safe_search_path(|| Spi::run_with_args(sql, args))
        .unwrap_or_else(|e| pgrx::error!("memory_guard: {e}"));
}

/// A relation's name, schema-qualified and quoted, from the syscache: the same whatever
/// search_path is in force (user code run by the toolkit can change it), and spliced into SQL.
/// A temporary relation is named through `pg_temp`, which names this session's own temporary
/// schema whatever its number.
fn rel_name(relid: pg_sys::Oid) -> String {
    match probe::relation_catalog_name(relid) {
        Some((schema, relname)) if schema.starts_with("pg_temp_") => {
            probe::qualified_name("pg_temp", &relname)
        }
        Some((schema, relname)) => probe::qualified_name(&schema, &relname),
        None => relid.to_u32().to_string(),
    }
}

/// Called by the drop guard at the first deletion of a statement, when Postgres' dependency
/// walk has locked everything it will delete and nothing is deleted yet (later, a table's row
/// type, indexes and toast table may already be gone). For each table with a ledger entry that
/// this transaction holds in AccessExclusiveLock: is its latest copy still exact?
pub fn verified_copies_of_locked_tables() -> Vec<(u32, VerifiedCopy)> {
    if ledger_is_empty() {
        return Vec::new(); // the common case, answered without a query: every DROP asks
    }
    crate::moved::rekey_if_moved();
    let entries: Vec<LedgerEntry> = as_extension_owner(|| {
        Spi::connect(|c| {
            let rows = c.select(
                "SELECT DISTINCT ON (source_oid) source_oid, id, kind, row_count, checksum, copy_oid, \
                        (details OPERATOR(pg_catalog.->>) 'copy_rows')::pg_catalog.int8, \
                        details OPERATOR(pg_catalog.->>) 'copy_checksum' \
                 FROM memory_guard.ledger ORDER BY source_oid, id DESC",
                None,
                &[],
            )?;
            rows.map(|r| {
                Ok::<_, pgrx::spi::Error>(LedgerEntry {
                    source: r.get(1)?.unwrap_or(pg_sys::InvalidOid),
                    id: r.get(2)?.unwrap_or_default(),
                    kind: r.get::<String>(3)?.unwrap_or_default(),
                    rows: r.get(4)?.unwrap_or_default(),
                    checksum: r.get::<String>(5)?.unwrap_or_default(),
                    copy: r.get(6)?,
                    copy_sum: r.get::<i64>(7)?.zip(r.get::<String>(8)?),
                })
            })
            .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|e| pgrx::error!("memory_guard: could not read the ledger: {e}"))
    });
    entries
        .into_iter()
        .filter(|e| {
            // SAFETY: a lookup in this backend's local lock table; no preconditions.
            unsafe {
                pg_sys::CheckRelationOidLockedByMe(
                    e.source,
                    pg_sys::AccessExclusiveLock as i32,
                    false,
                )
            }
        })
        // Read under that lock, by OID: still a plain table (a view that took its OID would run
        // its owner's code), and one whose rows its owner can read whole.
        .filter(|e| probe::checksummable_table(e.source))
        .filter_map(|e| {
            let kind = CopyKind::from_ledger(&e.kind)?;
            let now = as_relation_owner(e.source, || checksum_of(&rel_name(e.source), true));
            (now.0 == e.rows && now.1 == e.checksum && copy_still_holds(&e, kind)).then_some((
                e.source.to_u32(),
                VerifiedCopy {
                    kind,
                    ledger_id: e.id,
                },
            ))
        })
        .collect()
}

/// A ledger entry, as the drop guard reads it.
struct LedgerEntry {
    source: pg_sys::Oid,
    id: i64,
    kind: String,
    rows: i64,
    checksum: String,
    /// The backup copy, or the migration's target.
    copy: Option<pg_sys::Oid>,
    /// What the copy held when it was made (rows, checksum); for a migration, the legacy rows.
    copy_sum: Option<(i64, String)>,
}

/// Whether what vouches for the source is still there, unchanged: a backup's copy (still
/// memory_guard's own table, holding what it held), or the rows a migration carried into its
/// target and the side table (rebuilt and digested as the target's owner). An entry that lacks
/// what is needed to tell vouches for nothing.
fn copy_still_holds(e: &LedgerEntry, kind: CopyKind) -> bool {
    let (Some(copy), Some((rows, checksum))) = (e.copy, e.copy_sum.as_ref()) else {
        return false;
    };
    let now = match kind {
        CopyKind::Backup => {
            if !trusted_copy(copy) {
                return false;
            }
            as_extension_owner(|| checksum_of(&rel_name(copy), true))
        }
        CopyKind::Migration => {
            // Locked first, so what is checked next is what will be read (a lock on an OID
            // that no longer names a relation takes nothing from anyone).
            // SAFETY: a lock on a relation by OID, held to the end of the transaction.
            unsafe { pg_sys::LockRelationOid(copy, pg_sys::AccessShareLock as i32) };
            let Some(owner) = relation_owner(copy) else {
                return false;
            };
            if !is_table(relkind(copy).0) || probe::rls_hides_rows_from(copy, owner) {
                return false;
            }
            let sum = as_relation_owner_under_policies(copy, || {
                carried_rows_sum(&rel_name(e.source), &rel_name(copy), copy)
            });
            (sum.rows, sum.checksum())
        }
    };
    now.0 == *rows && now.1 == *checksum
}

/// The ledger was found empty in this transaction (cleared at its end, and when this backend
/// writes the ledger): every DROP asks. Another session's entry committed meanwhile counts
/// from this session's next transaction, so a drop it would guard is refused until then.
static LEDGER_EMPTY: SessionLocal<std::cell::Cell<bool>> =
    SessionLocal::new(std::cell::Cell::new(false));

pub fn forget_ledger_state() {
    LEDGER_EMPTY.with(|e| e.set(false));
}

/// Whether memory_guard.ledger has never held a row (no pages), read from its size on disk.
fn ledger_is_empty() -> bool {
    if LEDGER_EMPTY.with(|e| e.get()) {
        return true;
    }
    let relid = crate::extension::ledger_relid();
    if relid == pg_sys::InvalidOid {
        return true;
    }
    // Asked of the file without opening the relation: a lock and a relation cache entry in
    // every transaction that drops anything cost more than the question.
    let empty = crate::probe::permanent_relation_is_empty(relid);
    LEDGER_EMPTY.with(|e| e.set(empty));
    empty
}

/// Raises 42501 unless the current user owns `relid` (or is a member of its owner). Asked of
/// the syscache before any lock, so a role without rights learns nothing and makes no one wait.
fn require_owner(relid: pg_sys::Oid, to_do: &str, function: &'static str) {
    if !relation_owner(relid).is_some_and(current_user_acts_as) {
        let name = rel_name(relid);
        report::raise(
            &GuardError::new(
                SqlState::InsufficientPrivilege,
                format!("{function}: must own {name} to {to_do}"),
            )
            .hint(format!("Run it as the owner of {name}, or as a superuser.")),
            function,
        );
    }
}

/// (relkind, temporary) from the syscache; `('\0', false)` for no such relation.
fn relkind(relid: pg_sys::Oid) -> (u8, bool) {
    probe::catalog_row(
        pg_sys::SysCacheIdentifier::RELOID,
        relid,
        |form: &pg_sys::FormData_pg_class, _| {
            (
                form.relkind as u8,
                form.relpersistence as u8 == pg_sys::RELPERSISTENCE_TEMP,
            )
        },
    )
    .unwrap_or((0, false))
}

fn is_table(kind: u8) -> bool {
    kind == pg_sys::RELKIND_RELATION || kind == pg_sys::RELKIND_PARTITIONED_TABLE
}

/// Takes `lockmode` on `relid` once the caller is known to own it, then checks again under the
/// lock what may have changed while it waited: still a table of the caller's (a rule that turned
/// it into a view, or a new owner, committed meanwhile, is refused).
fn lock_own_table(relid: pg_sys::Oid, lockmode: u32, to_do: &str, function: &'static str) -> u8 {
    require_owner(relid, to_do, function);
    // SAFETY: a lock on a relation by OID, held to the end of the transaction.
    unsafe { pg_sys::LockRelationOid(relid, lockmode as i32) };
    let (kind, temp) = relkind(relid);
    if !is_table(kind) || temp {
        report::raise(
            &GuardError::new(SqlState::WrongObjectType, format!("{function}: {} is not a permanent table", rel_name(relid)))
                .detail("Only ordinary and partitioned tables are copied: other relations hold no rows of their own, temporary ones do not outlive the session."),
            function,
        );
    }
    require_owner(relid, to_do, function);
    kind
}

#[allow(clippy::too_many_arguments)]
fn ledger_insert(
    kind: &str,
    relid: pg_sys::Oid,
    copy: &str,
    copy_oid: Option<pg_sys::Oid>,
    count: i64,
    checksum: &str,
    details: serde_json::Value,
) -> i64 {
    let args: Vec<DatumWithOid> = vec![
        kind.into(),
        relid.into(),
        rel_name(relid).as_str().into(),
        copy.into(),
        count.into(),
        checksum.into(),
        JsonB(details).into(),
        copy_oid.into(),
    ];
    forget_ledger_state();
    as_extension_owner(|| {
        one::<i64>(
            "INSERT INTO memory_guard.ledger (kind, source_oid, source_name, source_owner, copy_name, row_count, checksum, role_name, details, copy_oid) \
             SELECT $1, $2, $3, c.relowner, $4, $5, $6, SESSION_USER, $7, $8 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $2 \
             RETURNING id",
            &args,
        )
        .unwrap_or_else(|| pgrx::error!("memory_guard: could not write the ledger entry of {}", rel_name(relid)))
    })
}

/// The schema a backup goes into, created if need be: always one memory_guard's owner owns,
/// where no other role may create, so that no one can swap a copy for something else.
fn backup_schema_oid(schema: &str, function: &'static str) -> pg_sys::Oid {
    let owner = extension_owner()
        .unwrap_or_else(|| pgrx::error!("memory_guard is not installed in this database"));
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
        pg_sys::pg_database_aclcheck(
            pg_sys::MyDatabaseId,
            pg_sys::GetUserId(),
            pg_sys::ACL_CREATE as pg_sys::AclMode,
        )
    } == pg_sys::AclResult::ACLCHECK_OK;
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
    schema_oid().unwrap_or_else(|| pgrx::error!("memory_guard: schema {schema} was not created"))
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
    crate::moved::rekey_if_moved();
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
        pg_sys::pg_namespace_aclcheck(
            nsp,
            pg_sys::GetUserId(),
            pg_sys::ACL_CREATE as pg_sys::AclMode,
        ) == pg_sys::AclResult::ACLCHECK_OK
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
    .unwrap_or_else(|| pgrx::error!("memory_guard: {name} was not created"))
}

/// Locks a backup copy against change and says whether it is still memory_guard's own: a plain
/// table owned by the extension's owner, in a schema that owner owns.
fn trusted_copy(copy: pg_sys::Oid) -> bool {
    let Some(owner) = extension_owner() else {
        return false;
    };
    if relation_owner(copy) != Some(owner) {
        return false;
    }
    // SAFETY: a lock on a relation by OID, held to the end of the transaction.
    unsafe { pg_sys::LockRelationOid(copy, pg_sys::AccessShareLock as i32) };
    // Checked again under the lock: what it is now is what will be read.
    relkind(copy).0 == pg_sys::RELKIND_RELATION
        && relation_owner(copy) == Some(owner)
        && one::<pg_sys::Oid>(
            "SELECT n.nspowner FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE c.oid OPERATOR(pg_catalog.=) $1",
            &[copy.into()],
        ) == Some(owner)
}

/// A relation's columns, in order, each type said to be trusted when it is pg_catalog's or a
/// member of the vector extension (by OID, not by name).
fn columns(relid: pg_sys::Oid) -> Vec<Column> {
    Spi::connect(|c| {
        c.select(
            "SELECT a.attname::pg_catalog.text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    t.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace \
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                               JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid \
                               WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass \
                                 AND d.objid OPERATOR(pg_catalog.=) t.oid AND d.deptype OPERATOR(pg_catalog.=) 'e' \
                                 AND e.extname OPERATOR(pg_catalog.=) 'vector') \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid \
             WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            None,
            &[relid.into()],
        )
        .map(|rows| {
            rows.filter_map(|r| {
                Some(Column {
                    name: r.get::<String>(1).ok()??,
                    type_name: r.get::<String>(2).ok()??,
                    trusted_type: r.get::<bool>(3).ok()??,
                })
            })
            .collect()
        })
    })
    .unwrap_or_default()
}

/// Copies the source rows not carried yet into the target and the side table, a range of heap
/// blocks at a time (a progress NOTICE after each), and returns what the verification compares:
/// the digest sum of every source row, and that of the rows it carried.
///
/// Each batch is one statement that reads its source rows once: it digests them all, inserts the
/// new ones, and digests the legacy rows rebuilt from what the two inserts returned, which is
/// what they stored after defaults, coercions and BEFORE triggers. The caller checks rows
/// carried by earlier calls by reading them back (before the copy, or after it when a trigger
/// or rule could change rows behind RETURNING).
#[allow(clippy::too_many_arguments)]
fn copy_in_batches(
    src: &str,
    tgt: &str,
    source: pg_sys::Oid,
    target: pg_sys::Oid,
    source_rows: i64,
    already: i64,
    source_terms: &[String],
    rebuilt_terms: &[String],
    migrated: &mut i64,
) -> (RowSum, RowSum) {
    // The source and its inheritance children are locked against writers: their sizes hold.
    let blocks = one::<i64>(
        "WITH RECURSIVE tree(relid) AS (SELECT $1::pg_catalog.oid UNION \
           SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.relid) \
         SELECT coalesce(max(pg_catalog.pg_relation_size(relid)), 0) / pg_catalog.current_setting('block_size')::bigint FROM tree",
        &[source.into()],
    )
    .unwrap_or(0);
    let step = if source_rows > 0 {
        (blocks * BATCH / source_rows).max(1)
    } else {
        blocks.max(1)
    };
    let batch_sql = format!(
        "WITH batch AS (SELECT s.*, memory_guard.row_digest({src_terms}) AS mg_digest, \
             {fresh} AS mg_fresh \
           FROM {src} s \
           WHERE s.ctid >= pg_catalog.format('(%s,0)', $1::bigint)::pg_catalog.tid \
             AND s.ctid < pg_catalog.format('(%s,0)', $2::bigint)::pg_catalog.tid), \
         i AS (INSERT INTO {tgt} (id, workspace_id, session_id, content, summary, embedding, importance_score, \
           memory_type, category, symbols, strategies, created_at, updated_at, archived, source, confidence) \
           SELECT id, workspace_id, NULL, content, content, embedding, {score}, coalesce(memory_type, 'observation'), \
           NULL, tags, '{{}}', created_at, coalesce(updated_at, created_at), coalesce(archived, false), source, 1.0 \
           FROM batch WHERE mg_fresh RETURNING id, workspace_id, content, source, symbols, created_at, embedding), \
         x AS (INSERT INTO memory_guard.memory_notes_carryover (legacy_id, source_oid, target_oid, memory_type, \
           importance, updated_at, archived, run_id, metadata) \
           SELECT id, $3, $4, memory_type, importance, updated_at, archived, run_id, metadata FROM batch WHERE mg_fresh \
           RETURNING legacy_id, memory_type, importance, updated_at, archived, run_id, metadata) \
         SELECT (SELECT count(*) FROM batch)::bigint, (SELECT coalesce(sum(mg_digest), 0) FROM batch)::text, \
           count(*)::bigint, {carried} \
         FROM i JOIN x ON x.legacy_id = i.id",
        src_terms = source_terms.join(", "),
        score = importance_score_sql("importance"),
        carried = digest_sum_sql(rebuilt_terms),
        // A first migration spares each row the look-up: none of them has been carried.
        fresh = if already == 0 {
            "true"
        } else {
            "NOT EXISTS (SELECT 1 FROM memory_guard.memory_notes_carryover c WHERE c.target_oid = $4 AND c.legacy_id = s.id)"
        },
    );
    let (mut source_sum, mut carried) = (RowSum::default(), RowSum::default());
    let mut lo = 0i64;
    while lo < blocks {
        let args: Vec<DatumWithOid> =
            vec![lo.into(), (lo + step).into(), source.into(), target.into()];
        let (batch, new) = with_toast_memo(|| {
            with_safe_search_path(|| {
                Spi::connect(|c| {
                    let row = c.select(&batch_sql, Some(1), &args)?.first();
                    Ok::<_, pgrx::spi::Error>((
                        row_sum(row.get::<i64>(1)?, row.get::<String>(2)?),
                        row_sum(row.get::<i64>(3)?, row.get::<String>(4)?),
                    ))
                })
            })
        })
        .unwrap_or_else(|e| pgrx::error!("memory_guard: migrate_memory_notes: {e}"));
        source_sum = source_sum + batch;
        carried = carried + new;
        *migrated += new.rows;
        lo += step;
        if source_rows > BATCH {
            pgrx::notice!(
                "memory_guard: migrate_memory_notes: {} of {} rows carried",
                already + *migrated,
                source_rows
            );
        }
    }
    (source_sum, carried)
}

/// The count and digest sum of the legacy rows of `src` that `tgt` (OID `target`) and the side
/// table hold, rebuilt from them: what a migration verifies, and what the drop guard checks
/// again before a migration may vouch for the source's drop. Run as the target's owner (the side
/// table shows each owner its own targets' rows).
fn carried_rows_sum(src: &str, tgt: &str, target: pg_sys::Oid) -> RowSum {
    let from = format!(
        "{tgt} m JOIN memory_guard.memory_notes_carryover c \
         ON c.target_oid OPERATOR(pg_catalog.=) {} AND c.legacy_id OPERATOR(pg_catalog.=) m.id \
         WHERE m.id IN (SELECT id FROM {src})",
        target.to_u32()
    );
    count_and_sum(&checksum_sql(&rebuilt_legacy_terms("m", "c"), &from))
}

/// Whether what `INSERT ... RETURNING` returned may not be what the target holds once a batch
/// is done: a user trigger on INSERT (an AFTER trigger runs after RETURNING; any trigger's code
/// may change other rows) or a rule, on the target, any of its partitions, or the side table.
/// Internal triggers (foreign-key checks) change no rows.
fn target_can_change_rows_behind_returning(target: pg_sys::Oid) -> bool {
    one::<bool>(
        "WITH rels AS (SELECT $1::pg_catalog.regclass AS relid UNION SELECT relid FROM pg_catalog.pg_partition_tree($1) \
                       UNION SELECT 'memory_guard.memory_notes_carryover'::pg_catalog.regclass) \
         SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid IN (SELECT relid FROM rels) \
                          AND NOT t.tgisinternal AND (t.tgtype & 4) <> 0) \
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.ev_class IN (SELECT relid FROM rels))",
        &[target.into()],
    )
    .unwrap_or(true)
}

/// `memory_guard.migrate_memory_notes(source, target, dry_run)`.
#[pg_extern(volatile, parallel_unsafe, name = "_migrate_memory_notes")]
#[search_path(pg_catalog, pg_temp)]
fn migrate_memory_notes(
    source: Option<pg_sys::Oid>,
    target: Option<pg_sys::Oid>,
    dry_run: Option<bool>,
) -> JsonB {
    const F: &str = "migrate_memory_notes";
    crate::moved::rekey_if_moved();
    let (Some(source), Some(target)) = (source, target) else {
        report::raise(
            &GuardError::new(
                SqlState::NullValueNotAllowed,
                "migrate_memory_notes: source and target must not be NULL",
            ),
            F,
        )
    };
    let dry_run = dry_run.unwrap_or(false);
    let started = Instant::now();
    let src = rel_name(source);
    let tgt = rel_name(target);
    let src_cols = columns(source);
    let tgt_cols = columns(target);
    report::ok_or_raise(check_columns(&src, &src_cols, SOURCE_COLUMNS), F);
    report::ok_or_raise(check_columns(&tgt, &tgt_cols, TARGET_COLUMNS), F);
    let emb = |cols: &[Column]| {
        cols.iter()
            .find(|c| c.name == "embedding")
            .cloned()
            .expect("checked above")
    };
    report::ok_or_raise(check_embedding_dims(&emb(&src_cols), &emb(&tgt_cols)), F);
    let not_a_table = |relid: pg_sys::Oid, name: &str, role: &str| {
        if !is_table(relkind(relid).0) {
            report::raise(
                &GuardError::new(SqlState::WrongObjectType, format!("migrate_memory_notes: {name} is not a table"))
                    .detail(format!("The {role} must be an ordinary or partitioned table: rows written through a view or a foreign table cannot be verified where they land."))
                    .hint("Name the table itself."),
                F,
            );
        }
    };
    not_a_table(source, &src, "source");
    not_a_table(target, &tgt, "target");
    require_owner(source, "migrate from it", F);
    require_owner(target, "migrate into it", F);
    let owner = relation_owner(target).expect("checked above");
    for (relid, name) in [(source, &src), (target, &tgt)] {
        if probe::rls_hides_rows_from(relid, owner) {
            report::raise(
                &GuardError::new(SqlState::InsufficientPrivilege, format!("migrate_memory_notes: row-level security hides rows of {name} from the owner of {tgt}"))
                    .detail("The migration reads and verifies as the target's owner: rows a policy hides from it would be left behind unnoticed.")
                    .hint(format!("ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY; for the migration, in the same transaction, or give the owner BYPASSRLS.")),
                F,
            );
        }
    }

    // As the target's owner, restricted: its triggers, defaults, CHECKs and index expressions
    // run with that owner's rights, as they would for any INSERT the owner made. The side table
    // takes the carried fields under its row-level security (rows of targets the writer owns).
    let report = as_relation_owner_under_policies(target, || {
        // One migration of a source at a time; writers of the source wait until we commit, so
        // what we verify is what stays.
        run("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('memory_guard.migrate_memory_notes'), $1::int)", &[(source.to_u32() as i32).into()]);
        run(&format!("LOCK TABLE {src} IN SHARE MODE"), &[]);
        run(
            &format!("LOCK TABLE {tgt} IN SHARE ROW EXCLUSIVE MODE"),
            &[],
        );
        // What each is now, under the locks, is what will be read and written.
        not_a_table(source, &src, "source");
        not_a_table(target, &tgt, "target");
        let source_rows =
            one::<i64>(&format!("SELECT count(*)::bigint FROM {src}"), &[]).unwrap_or(0);
        let already = one::<i64>(
            &format!(
                "SELECT count(*)::bigint FROM {src} s JOIN memory_guard.memory_notes_carryover c \
                 ON c.target_oid = {} AND c.legacy_id = s.id",
                target.to_u32()
            ),
            &[],
        )
        .unwrap_or(0);
        // The legacy row, as the source holds it and as it is rebuilt from the target (m) and
        // the side table (c). The two must digest alike, row for row.
        let source_terms: Vec<String> = LEGACY_ROW_COLUMNS
            .iter()
            .map(|c| format!("s.{c}"))
            .collect();
        let held = || carried_rows_sum(&src, &tgt, target);
        let mut migrated = 0i64;
        let carried_terms = rebuilt_legacy_terms("i", "x");
        let mut copy = || {
            copy_in_batches(
                &src,
                &tgt,
                source,
                target,
                source_rows,
                already,
                &source_terms,
                &carried_terms,
                &mut migrated,
            )
        };
        let (source_sum, carried) = if dry_run {
            (
                count_and_sum(&checksum_sql(&source_terms, &format!("{src} s"))),
                held(),
            )
        } else if target_can_change_rows_behind_returning(target) {
            // A trigger or rule may change rows after RETURNING saw them (or rows of earlier
            // batches): read every carried row back once the copy is done.
            let (source_sum, _) = copy();
            (source_sum, held())
        } else {
            // Rows carried by earlier calls are read back before the copy, the new ones as the
            // inserts returned them.
            let present = held();
            let (source_sum, new) = copy();
            (source_sum, present + new)
        };
        let src_n = source_sum.rows;
        let src_k = source_sum.checksum();
        let verified = source_sum == carried && src_n == source_rows;
        if !dry_run && !verified {
            report::raise(
                &GuardError::new(SqlState::DataCorrupted, format!("migrate_memory_notes: {tgt} does not hold an exact copy of {src}"))
                    .detail(format!(
                        "{} source rows (checksum {}), {} rebuilt from {tgt} and memory_guard.memory_notes_carryover (checksum {}). Nothing was migrated.",
                        src_n, src_k, carried.rows, carried.checksum()
                    ))
                    .hint("Carried rows were changed in the target (since an earlier call, or by a trigger on it), or the target holds rows with the same ids."),
                F,
            );
        }
        if !dry_run {
            // The drop guard compares checksum_of(source) with the ledger. When the source is
            // exactly the legacy columns in order, with no children, that is the sum just taken:
            // spare the table another pass.
            let legacy_only = src_cols
                .iter()
                .map(|c| c.name.as_str())
                .eq(LEGACY_ROW_COLUMNS.iter().copied())
                && !one::<bool>(
                    "SELECT relhassubclass FROM pg_catalog.pg_class WHERE oid = $1",
                    &[source.into()],
                )
                .unwrap_or(true);
            let (n, k) = if legacy_only {
                (src_n, src_k.clone())
            } else {
                checksum_of(&src, true)
            };
            ledger_insert(
                "migration",
                source,
                &tgt,
                Some(target),
                n,
                &k,
                // What the target and side table hold of the source: checked again before
                // this entry may vouch for the source's drop.
                serde_json::json!({ "legacy_checksum": src_k, "copy_rows": src_n, "copy_checksum": src_k }),
            );
        }
        MigrationReport {
            source: src.clone(),
            target: tgt.clone(),
            dry_run,
            source_rows,
            newly_migrated: if dry_run {
                source_rows - already
            } else {
                migrated
            },
            already_present: already,
            checksum: src_k,
            verified,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    });
    JsonB(serde_json::to_value(report).expect("the report serialises"))
}

/// `memory_guard.legacy_note_fields(legacy_ids, memories)`: the legacy memory_type and
/// importance of migrated notes, which memories cannot hold, for the ids among `legacy_ids` that
/// the caller can see in `memories` (its privileges and row-level security decide, read as the
/// caller). The side table itself is private and is read as the extension's owner, for rows
/// carried into that very table only.
// Parallel unsafe: it switches to the extension's owner to read the side table. Volatile: after
// a dump and restore it keys memory_guard's records to the new database first (moved.rs).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn legacy_note_fields(
    legacy_ids: Option<Vec<Option<pgrx::Uuid>>>,
    memories: Option<pg_sys::Oid>,
) -> TableIterator<
    'static,
    (
        name!(legacy_id, Option<pgrx::Uuid>),
        name!(memory_type, Option<String>),
        name!(importance, Option<String>),
    ),
> {
    let (Some(ids), Some(memories)) = (legacy_ids, memories) else {
        return TableIterator::new(Vec::new());
    };
    crate::moved::rekey_if_moved();
    if !is_table(relkind(memories).0) {
        report::raise(
            &GuardError::new(
                SqlState::WrongObjectType,
                format!("legacy_note_fields: {} is not a table", rel_name(memories)),
            )
            .hint("Pass the memories table the notes were migrated into."),
            "legacy_note_fields",
        );
    }
    // The whole table, not a column grant on its ids: the fields belong to its rows.
    // SAFETY: an ACL check of the current user by OIDs; the relation exists (checked above).
    let may_read = unsafe {
        pg_sys::pg_class_aclcheck(
            memories,
            pg_sys::GetUserId(),
            pg_sys::ACL_SELECT as pg_sys::AclMode,
        )
    } == pg_sys::AclResult::ACLCHECK_OK;
    if !may_read {
        report::raise(
            &GuardError::new(
                SqlState::InsufficientPrivilege,
                format!("legacy_note_fields: permission denied for table {}", rel_name(memories)),
            )
            .hint("The carried fields of a note are shown to roles that may read its row of memories (SELECT on the table)."),
            "legacy_note_fields",
        );
    }
    let ids: Vec<pgrx::Uuid> = ids.into_iter().flatten().collect();
    if ids.is_empty() {
        return TableIterator::new(Vec::new());
    }
    let visible = one::<Vec<Option<pgrx::Uuid>>>(
        &format!(
            "SELECT pg_catalog.array_agg(m.id) FROM {} m WHERE m.id OPERATOR(pg_catalog.=) ANY ($1)",
            rel_name(memories)
        ),
        &[ids.into()],
    )
    .unwrap_or_default();
    let visible: Vec<pgrx::Uuid> = visible.into_iter().flatten().collect();
    if visible.is_empty() {
        return TableIterator::new(Vec::new());
    }
    let rows = as_extension_owner(|| {
        Spi::connect(|c| {
            c.select(
                "SELECT c.legacy_id, c.memory_type, c.importance FROM memory_guard.memory_notes_carryover c \
                 WHERE c.target_oid OPERATOR(pg_catalog.=) $2 AND c.legacy_id OPERATOR(pg_catalog.=) ANY ($1)",
                None,
                &[visible.into(), memories.into()],
            )
            .map(|rows| {
                rows.map(|r| {
                    (
                        r.get::<pgrx::Uuid>(1).ok().flatten(),
                        r.get::<String>(2).ok().flatten(),
                        r.get::<String>(3).ok().flatten(),
                    )
                })
                .collect::<Vec<_>>()
            })
        })
        .unwrap_or_else(|e| pgrx::error!("memory_guard: legacy_note_fields: {e}"))
    });
    TableIterator::new(rows)
}
