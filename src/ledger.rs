//! The ledger: verified copies of tables (backups, and migrations into memories), and the check
//! the drop guard and the TRUNCATE guard make before letting a copied table go: the table still
//! holds what the entry recorded, and so does its copy.

use crate::checksum::{checksum_of, count_and_sum};
use crate::extension::{
    as_extension_owner, as_relation_owner, as_relation_owner_under_policies, extension_owner,
    relation_owner,
};
use crate::probe;
use crate::session::SessionLocal;
use crate::tables::{is_table, one, rel_name, relkind};
use memory_guard_core::checksum::{checksum_sql, RowSum};
use memory_guard_core::drop_policy::{CopyKind, VerifiedCopy};
use memory_guard_core::migration::rebuilt_legacy_terms;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;

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
        .unwrap_or_else(|e| crate::report::failed("reading the ledger", e))
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

/// The end of a transaction: the ledger is asked again in the next one.
pub fn transaction_end() {
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

#[allow(clippy::too_many_arguments)]
pub fn ledger_insert(
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
    transaction_end();
    // 0.1.0's ledger has no owner names (until ALTER EXTENSION memory_guard UPDATE).
    if !crate::extension::objects_current() {
        return as_extension_owner(|| {
            one::<i64>(
                "INSERT INTO memory_guard.ledger (kind, source_oid, source_name, source_owner, copy_name, row_count, checksum, role_name, details, copy_oid) \
                 SELECT $1, $2, $3, c.relowner, $4, $5, $6, SESSION_USER, $7, $8 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $2 \
                 RETURNING id",
                &args,
            )
            .unwrap_or_else(|| crate::report::failed("writing the ledger", format!("no entry written for {}", rel_name(relid))))
        });
    }
    as_extension_owner(|| {
        one::<i64>(
            "INSERT INTO memory_guard.ledger (kind, source_oid, source_name, source_owner, source_owner_name, copy_name, row_count, checksum, role_name, details, copy_oid, copy_owner_name) \
             SELECT $1, $2, $3, c.relowner, pg_catalog.pg_get_userbyid(c.relowner), $4, $5, $6, SESSION_USER, $7, $8, \
                    (SELECT pg_catalog.pg_get_userbyid(k.relowner) FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) $8) \
             FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $2 \
             RETURNING id",
            &args,
        )
        .unwrap_or_else(|| crate::report::failed("writing the ledger", format!("no entry written for {}", rel_name(relid))))
    })
}

/// Locks a backup copy against change and says whether it is still memory_guard's own: a plain
/// table owned by the extension's owner, in a schema that owner owns.
pub fn trusted_copy(copy: pg_sys::Oid) -> bool {
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

/// The count and digest sum of the legacy rows of `src` that `tgt` (OID `target`) and the side
/// table hold, rebuilt from them: what a migration verifies, and what the drop guard checks
/// again before a migration may vouch for the source's drop. Run as the target's owner (the side
/// table shows each owner its own targets' rows).
pub fn carried_rows_sum(src: &str, tgt: &str, target: pg_sys::Oid) -> RowSum {
    let from = format!(
        "{tgt} m JOIN memory_guard.memory_notes_carryover c \
         ON c.target_oid OPERATOR(pg_catalog.=) {} AND c.legacy_id OPERATOR(pg_catalog.=) m.id \
         WHERE m.id IN (SELECT id FROM {src})",
        target.to_u32()
    );
    count_and_sum(&checksum_sql(&rebuilt_legacy_terms("m", "c"), &from))
}
