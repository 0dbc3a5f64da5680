//! What the toolkit's capabilities (backups, restores, the memory_notes migration) and the ledger
//! share about the tables they work on: names as SQL spells them, kinds, the owner check before
//! any lock, and SQL run under the safe search_path.

use crate::extension::{current_user_acts_as, relation_owner, with_safe_search_path};
use crate::{probe, report};
use memory_guard_core::{GuardError, SqlState};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

// Each statement of the toolkit runs under the safe search_path pushed anew for it: a trigger
// or DEFAULT that ran in an earlier statement (as its table's owner) may have changed the
// setting, and the change must not reach the next statement.
pub fn one<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid]) -> Option<T> {
    with_safe_search_path(|| Spi::get_one_with_args::<T>(sql, args))
        .unwrap_or_else(|e| report::failed("a query of the toolkit", e))
}

pub fn run(sql: &str, args: &[DatumWithOid]) {
    with_safe_search_path(|| Spi::run_with_args(sql, args))
        .unwrap_or_else(|e| report::failed("a query of the toolkit", e));
}

/// A relation's name, schema-qualified and quoted, from the syscache: the same whatever
/// search_path is in force (user code run by the toolkit can change it), and spliced into SQL.
/// A temporary relation is named through `pg_temp`, which names this session's own temporary
/// schema whatever its number.
pub fn rel_name(relid: pg_sys::Oid) -> String {
    match probe::relation_catalog_name(relid) {
        Some((schema, relname)) if schema.starts_with("pg_temp_") => {
            probe::qualified_name("pg_temp", &relname)
        }
        Some((schema, relname)) => probe::qualified_name(&schema, &relname),
        None => relid.to_u32().to_string(),
    }
}

/// Raises 42501 unless the current user owns `relid` (or is a member of its owner). Asked of
/// the syscache before any lock, so a role without rights learns nothing and makes no one wait.
pub fn require_owner(relid: pg_sys::Oid, to_do: &str, function: &'static str) {
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
pub fn relkind(relid: pg_sys::Oid) -> (u8, bool) {
    crate::catalog::catalog_row(
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

pub fn is_table(kind: u8) -> bool {
    kind == pg_sys::RELKIND_RELATION || kind == pg_sys::RELKIND_PARTITIONED_TABLE
}

/// Takes `lockmode` on `relid` once the caller is known to own it, then checks again under the
/// lock what may have changed while it waited: still a table of the caller's (a rule that turned
/// it into a view, or a new owner, committed meanwhile, is refused).
pub fn lock_own_table(
    relid: pg_sys::Oid,
    lockmode: u32,
    to_do: &str,
    function: &'static str,
) -> u8 {
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
