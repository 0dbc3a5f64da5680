//! TRUNCATE, which event triggers never see: guarded by a ProcessUtility hook (`entry/hooks.rs`) when
//! the library is preloaded (`shared_preload_libraries` or `session_preload_libraries`), with the
//! same probe, guards, errors and drop_log as the drop guard.

use crate::drop_guard::{self, judge};
use crate::probe;
use crate::session::SessionLocal;
use memory_guard_core::drop_policy::{DroppedTable, Guard};
use pgrx::prelude::*;
use std::cell::Cell;

/// Whether this backend loaded the library at startup, so every TRUNCATE in it is seen.
static PRELOADED: SessionLocal<Cell<bool>> = SessionLocal::new(Cell::new(false));

/// Called from `_PG_init`: preloaded when a preload setting of this session names the library
/// (then it was loaded at session start, before any statement).
pub fn note_preloading() {
    let named = [
        "shared_preload_libraries",
        "session_preload_libraries",
        "local_preload_libraries",
    ]
    .iter()
    .any(|setting| {
        let name = std::ffi::CString::new(*setting).expect("static name");
        // SAFETY: GetConfigOption returns NULL or a C string owned by the GUC machinery,
        // copied before anything can change it.
        let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
        if value.is_null() {
            return false;
        }
        // SAFETY: as above.
        let value = unsafe { std::ffi::CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned();
        memory_guard_core::sql_text::library_list_names(&value, "memory_guard")
    });
    PRELOADED.with(|p| p.set(named));
}

pub fn preloaded() -> bool {
    PRELOADED.with(|p| p.get())
}

/// `memory_guard.truncate_guarded()`: whether TRUNCATE is guarded in this session.
#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
fn truncate_guarded() -> bool {
    preloaded()
}

/// Before TRUNCATE runs: lock its tables as TRUNCATE will (partitions, inheritance children and
/// CASCADE's referencing tables included), probe them, and refuse unguarded ones. Returns what
/// passed, for drop_log.
///
/// # Safety
/// `stmt` must be the TruncateStmt Postgres is about to execute.
pub unsafe fn before_truncate(
    stmt: *mut pg_sys::TruncateStmt,
) -> Option<Vec<(DroppedTable, Guard)>> {
    // An audit runs its statements itself, inside this library's hooks, preloaded or not.
    if !(preloaded() || crate::findings::active()) || !drop_guard::guard_active() {
        return None;
    }
    let mut targets: Vec<pg_sys::Oid> = Vec::new();
    let mut inherit: Vec<bool> = Vec::new();
    // SAFETY: the statement's relation list holds RangeVars (gram.y); RangeVarGetRelidExtended
    // raises for a missing table exactly as TRUNCATE would, checks TRUNCATE's rights before
    // locking (the callback), and takes TRUNCATE's lock.
    unsafe {
        for rv in crate::ffi::list_elements::<pg_sys::RangeVar>((*stmt).relations) {
            let relid = pg_sys::RangeVarGetRelidExtended(
                rv,
                pg_sys::AccessExclusiveLock as i32,
                0,
                Some(crate::extension::may_truncate),
                std::ptr::null_mut(),
            );
            targets.push(relid);
            inherit.push((*rv).inh);
        }
    }
    // SAFETY: stmt is the TruncateStmt being executed (the caller's contract).
    let cascade = unsafe { (*stmt).behavior } == pg_sys::DropBehavior::DROP_CASCADE;
    let oids: Vec<pg_sys::Oid> = targets.clone();
    let inh: Vec<pg_sys::Oid> = oids
        .iter()
        .zip(&inherit)
        .filter(|(_, i)| **i)
        .map(|(o, _)| *o)
        .collect();
    let found: Vec<(pg_sys::Oid, bool)> = crate::extension::with_safe_search_path(|| {
        Spi::connect(|c| {
            c.select(
                include_str!("../sql/queries/truncate_targets.sql"),
                None,
                &[oids.into(), inh.into(), cascade.into()],
            )
            .map(|rows| {
                rows.filter_map(|r| {
                    Some((
                        r.get::<pg_sys::Oid>(1).ok().flatten()?,
                        r.get::<bool>(2).ok().flatten()?,
                    ))
                })
                .collect()
            })
        })
    })
    .unwrap_or_else(|e| crate::report::failed("the tables TRUNCATE empties", e));
    for (relid, by_fk) in &found {
        // SAFETY: the lock TRUNCATE itself takes on every table it empties, before it checks
        // the right on each table CASCADE adds (inheritance children go with their parent's
        // right, as in TRUNCATE); the name is a palloc'd copy, or NULL for a table dropped since.
        unsafe {
            pg_sys::LockRelationOid(*relid, pg_sys::AccessExclusiveLock as i32);
            let name = pg_sys::get_rel_name(*relid);
            if *by_fk && !name.is_null() {
                let kind = pg_sys::get_rel_relkind(*relid) as u8;
                crate::extension::require_truncate_right(
                    *relid,
                    kind,
                    std::ffi::CStr::from_ptr(name),
                );
            }
        }
    }
    // Tables the role may empty but not read are refused without a look inside (see
    // drop_guard::refused_unread); the rest are probed.
    let all: Vec<pg_sys::Oid> = found.iter().map(|(relid, _)| *relid).collect();
    let probed: Vec<pg_sys::Oid> = all
        .iter()
        .copied()
        .filter(|relid| !drop_guard::refused_unread(|| "TRUNCATE TABLE".to_string(), *relid, None))
        .collect();
    let verified = crate::ledger::verified_copies_of_locked_tables();
    let tables = probed
        .iter()
        .filter_map(|relid| {
            let facts =
                probe::probe_locked_table(*relid).or_else(|| probe::foreign_table(*relid))?;
            let (mut t, _) = drop_guard::dropped_table(*relid, facts);
            t.verified_copy = verified
                .iter()
                .find(|(r, _)| *r == relid.to_u32())
                .map(|(_, c)| *c);
            for a in t.ancestors.iter_mut() {
                a.dropped = all.iter().any(|o| o.to_u32() == a.relid);
            }
            Some(t)
        })
        .collect::<Vec<_>>();
    if tables.is_empty() {
        return None;
    }
    judge(
        "TRUNCATE TABLE",
        drop_guard::effective_mode(),
        tables,
        &[],
        Vec::new,
        "truncate_guard",
    )
}
