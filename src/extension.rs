//! The one place memory_guard changes whose rights it runs with, and the search_path every
//! statement it issues runs under (design.md, section 5).
//!
//! - [`as_extension_owner`]: only to write memory_guard's own tables, where no user code can run.
//! - [`as_relation_owner`]: to read or write a user's table, as its owner under
//!   SECURITY_RESTRICTED_OPERATION (as VACUUM and REFRESH MATERIALIZED VIEW run user code), so
//!   a trigger, DEFAULT, CHECK, domain or index expression on it never runs with more rights
//!   than the table's owner already has.
//! - [`with_safe_search_path`]: `pg_catalog, pg_temp`, pg_temp named last. Naming it is what
//!   keeps temporary types and relations from winning over pg_catalog's: left out, pg_temp is
//!   searched first for them.
//!
//! A switch is undone when `f` returns; if `f` raises, the (sub)transaction's abort restores the
//! user and pops the GUC level itself, as it does for a SECURITY DEFINER function.

use crate::report;
use crate::session::SessionLocal;
use memory_guard_core::{GuardError, SqlState};
use pgrx::prelude::*;
use std::cell::Cell;

const SAFE_SEARCH_PATH: &std::ffi::CStr = c"pg_catalog, pg_temp";

/// Sets each `(name, value)` at a new GUC nest level, as a function's SET clause would.
fn push_settings(settings: &[(&std::ffi::CStr, &std::ffi::CStr)]) -> i32 {
    // SAFETY: what fmgr does for a function with SET clauses: a new nest level and settings
    // saved for it, popped by `pop_settings` or by the (sub)transaction's abort.
    unsafe {
        let level = pg_sys::NewGUCNestLevel();
        for (name, value) in settings {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
        level
    }
}

/// Pops the level pushed by `push_settings`, undoing every setting changed at it or inside it,
/// not only those pushed: code run inside (a trigger of the table's owner, say) must not leave
/// a `search_path` or any other setting behind for the caller, as VACUUM and REFRESH
/// MATERIALIZED VIEW discard what their user code set.
fn pop_settings(level: i32) {
    // SAFETY: pops the level pushed by `push_settings`; `false` reverts, as on abort.
    unsafe { pg_sys::AtEOXact_GUC(false, level) };
}

/// Runs `f` with these settings, undone afterwards (with anything `f` set).
pub fn with_settings<R>(
    settings: &[(&std::ffi::CStr, &std::ffi::CStr)],
    f: impl FnOnce() -> R,
) -> R {
    let level = push_settings(settings);
    let r = f();
    pop_settings(level);
    r
}

/// Runs `f` with `search_path = pg_catalog, pg_temp`, only around the SQL the guard runs (a SET
/// clause on a function is applied and undone on every call, while most statements need no SQL
/// from the guard at all).
pub fn with_safe_search_path<R>(f: impl FnOnce() -> R) -> R {
    let level = push_settings(&[(c"search_path", SAFE_SEARCH_PATH)]);
    let r = f();
    pop_settings(level);
    r
}

/// Runs `f` as `role`, under SECURITY_RESTRICTED_OPERATION, with the safe search_path; with
/// `row_security = off` as well when `rls_off`, so that row-level security that would hide rows
/// from `role` raises instead of silently leaving them out of a copy or a checksum.
fn as_role<R>(role: pg_sys::Oid, rls_off: bool, f: impl FnOnce() -> R) -> R {
    let (mut saved_user, mut saved_ctx) = (pg_sys::InvalidOid, 0);
    // SAFETY: reads and sets the backend's current-user state; restored below, or by the
    // (sub)transaction's abort if `f` raises.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_ctx);
        pg_sys::SetUserIdAndSecContext(
            role,
            saved_ctx
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
    }
    let mut settings = vec![(c"search_path", SAFE_SEARCH_PATH)];
    if rls_off {
        settings.push((c"row_security", c"off"));
    }
    let level = push_settings(&settings);
    let r = f();
    pop_settings(level);
    // SAFETY: as above.
    unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_ctx) };
    r
}

/// memory_guard's extension OID in this database and the OIDs of its drop_log, which exists
/// exactly as long as the extension does, and of its ledger: the hook asks for every object
/// a statement deletes, and a syscache probe of drop_log is far cheaper than reading
/// pg_extension. An answer of "not installed" is only trusted for the transaction.
static EXTENSION: SessionLocal<Cell<Option<Installed>>> = SessionLocal::new(Cell::new(None));
/// drop_log was found in this transaction: no need to probe for it again until it ends or
/// an extension is created, altered or dropped.
static EXTENSION_SEEN: SessionLocal<Cell<bool>> = SessionLocal::new(Cell::new(false));

/// memory_guard as installed in this database (all `InvalidOid` when it is not).
#[derive(Clone, Copy)]
struct Installed {
    extension: pg_sys::Oid,
    drop_log: pg_sys::Oid,
    ledger: pg_sys::Oid,
    carryover: pg_sys::Oid,
    /// memory_guard.keyed_in, which 0.2.0 added: `InvalidOid` while a database still has the
    /// 0.1.0 objects (new binaries installed, ALTER EXTENSION memory_guard UPDATE not yet run).
    keyed_in: pg_sys::Oid,
}

/// Called outside any Rust guard at the end of every transaction: only resets this backend's
/// own state.
pub fn transaction_end() {
    EXTENSION_SEEN.with(|s| s.set(false));
    if EXTENSION
        .with(|e| e.get())
        .is_some_and(|known| known.extension == pg_sys::InvalidOid)
    {
        forget_extension_oid();
    }
}

/// What a rolled-back savepoint did to extensions is undone: look for drop_log again.
pub fn subtransaction_aborted() {
    EXTENSION_SEEN.with(|s| s.set(false));
}

/// CREATE, ALTER or DROP EXTENSION ran: which extension is memory_guard may have changed.
pub fn forget_extension_oid() {
    EXTENSION.with(|e| e.set(None));
    EXTENSION_SEEN.with(|s| s.set(false));
}

/// Whether memory_guard is installed in this database (a preloaded library runs in all).
pub fn installed_here() -> bool {
    extension_oid() != pg_sys::InvalidOid
}

fn extension_oid() -> pg_sys::Oid {
    installed().extension
}

/// The OID of memory_guard.drop_log, `InvalidOid` when the extension is not installed here.
pub fn drop_log_relid() -> pg_sys::Oid {
    installed().drop_log
}

/// Whether `relid` is one of memory_guard's own tables that go with it on DROP EXTENSION
/// memory_guard: its records, not users' data. memory_notes_carryover is the exception: after a
/// migration it holds the only copy of the fields memories cannot keep.
pub fn is_own_record_table(relid: pg_sys::Oid) -> bool {
    let installed = installed();
    // SAFETY: a pg_depend lookup by OIDs; returns InvalidOid when the table is no member.
    let member_of = unsafe { pg_sys::getExtensionOfObject(pg_sys::RelationRelationId, relid) };
    member_of == installed.extension && relid != installed.carryover
}

/// The OID of memory_guard.keyed_in, `InvalidOid` when the extension is not installed here or
/// still has its 0.1.0 objects.
pub fn keyed_in_relid() -> pg_sys::Oid {
    installed().keyed_in
}

/// Whether the extension's objects here are this library's version (or it is not installed):
/// between installing new binaries and ALTER EXTENSION memory_guard UPDATE, the guard and the
/// toolkit go on with the 0.1.0 objects, writing only what those have.
pub fn objects_current() -> bool {
    let known = installed();
    known.extension == pg_sys::InvalidOid || known.keyed_in != pg_sys::InvalidOid
}

/// The OID of memory_guard.ledger, `InvalidOid` when the extension is not installed here.
pub fn ledger_relid() -> pg_sys::Oid {
    installed().ledger
}

fn installed() -> Installed {
    if let Some(known) = EXTENSION.with(|e| e.get()) {
        if known.extension == pg_sys::InvalidOid || EXTENSION_SEEN.with(|s| s.get()) {
            return known;
        }
        // While keyed_in is missing (0.1.0's objects), it is looked for again in each
        // transaction: ALTER EXTENSION memory_guard UPDATE in another session adds it.
        if crate::catalog::relation_exists(known.drop_log) && known.keyed_in != pg_sys::InvalidOid {
            EXTENSION_SEEN.with(|s| s.set(true));
            return known;
        }
    }
    // SAFETY: catalog lookups by static names, missing_ok so they never raise.
    let found = unsafe {
        let schema = pg_sys::get_namespace_oid(c"memory_guard".as_ptr(), true);
        Installed {
            extension: pg_sys::get_extension_oid(c"memory_guard".as_ptr(), true),
            drop_log: pg_sys::get_relname_relid(c"drop_log".as_ptr(), schema),
            ledger: pg_sys::get_relname_relid(c"ledger".as_ptr(), schema),
            carryover: pg_sys::get_relname_relid(c"memory_notes_carryover".as_ptr(), schema),
            keyed_in: pg_sys::get_relname_relid(c"keyed_in".as_ptr(), schema),
        }
    };
    EXTENSION.with(|e| e.set(Some(found)));
    // Looked up just now: good for the rest of the transaction, as a drop_log found above is
    // (without this, a database still on 0.1.0's objects was looked up again at every call).
    if found.drop_log != pg_sys::InvalidOid {
        EXTENSION_SEEN.with(|s| s.set(true));
    }
    found
}

/// The role that owns memory_guard's tables: the owner of `memory_guard.drop_log`, read from
/// the syscache (no SQL a caller's names could bend). `None` when memory_guard is not
/// installed here.
pub fn extension_owner() -> Option<pg_sys::Oid> {
    let drop_log = drop_log_relid();
    if drop_log == pg_sys::InvalidOid {
        return None;
    }
    relation_owner(drop_log)
}

/// A relation's owner, from the syscache.
pub fn relation_owner(relid: pg_sys::Oid) -> Option<pg_sys::Oid> {
    crate::catalog::catalog_row(
        pg_sys::SysCacheIdentifier::RELOID,
        relid,
        |form: &pg_sys::FormData_pg_class, _| form.relowner,
    )
}

pub fn not_installed() -> ! {
    report::raise(
        &GuardError::new(
            SqlState::FeatureNotAvailable,
            "memory_guard is not installed in this database",
        )
        .hint("CREATE EXTENSION memory_guard; in this database first."),
        "memory_guard",
    )
}

/// Runs `f` as the extension's owner, to write memory_guard's own tables (which no other role
/// may write). Raises when memory_guard is not installed: what cannot be recorded must not
/// happen.
pub fn as_extension_owner<R>(f: impl FnOnce() -> R) -> R {
    let owner = extension_owner().unwrap_or_else(|| not_installed());
    as_role(owner, false, f)
}

/// Runs `f` as `role`, restricted, with row-level security raising rather than hiding rows:
/// for work on tables `role` owns (or will own).
pub fn as_owner<R>(role: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    as_role(role, true, f)
}

/// Runs `f` as the owner of `relid`, restricted, with row-level security raising rather than
/// hiding rows: for reading or copying a user's table.
pub fn as_relation_owner<R>(relid: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    as_role(owner_of(relid), true, f)
}

/// As [`as_relation_owner`], with row-level security applied as usual: for work that also
/// writes memory_guard's side tables, whose policies give each owner its own rows. The caller
/// checks first that no policy hides rows of the user's tables from their owner.
pub fn as_relation_owner_under_policies<R>(relid: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    as_role(owner_of(relid), false, f)
}

fn owner_of(relid: pg_sys::Oid) -> pg_sys::Oid {
    relation_owner(relid).unwrap_or_else(|| {
        report::raise(
            &GuardError::new(
                SqlState::UndefinedTable,
                format!("relation with OID {} does not exist", relid.to_u32()),
            ),
            "memory_guard",
        )
    })
}

/// Runs `f` while `role` holds `privilege` (`SELECT` or `INSERT`) on `table`, one of
/// memory_guard's own copies, and USAGE on its schema, which no other role may otherwise use: a
/// backup is filled, and a restore reads it, as the owner of the user's table, never as the
/// extension's owner. Only what `role` lacks is granted, and only that is taken back, inside
/// this transaction, so no other session ever sees it and no grant made before is lost.
pub fn lending<R>(
    table: pg_sys::Oid,
    role: pg_sys::Oid,
    privilege: &str,
    f: impl FnOnce() -> R,
) -> R {
    debug_assert!(matches!(privilege, "SELECT" | "INSERT"));
    // What is missing, each as `<privilege> ON <object>`, and the role's quoted name.
    let (missing, who) = as_extension_owner(|| {
        Spi::get_two_with_args::<Vec<String>, String>(
            "WITH t AS (SELECT c.oid::pg_catalog.regclass::pg_catalog.text AS rel, n.nspname, n.oid AS nsp \
                        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
                        WHERE c.oid OPERATOR(pg_catalog.=) $1) \
             SELECT ARRAY(SELECT pg_catalog.format('%s ON TABLE %s', $2, t.rel) FROM t \
                          WHERE NOT pg_catalog.has_table_privilege($3, $1, $2) \
                          UNION ALL \
                          SELECT pg_catalog.format('USAGE ON SCHEMA %I', t.nspname) FROM t \
                          WHERE NOT pg_catalog.has_schema_privilege($3, t.nsp, 'USAGE')), \
                    (SELECT pg_catalog.quote_ident(rolname) FROM pg_catalog.pg_authid WHERE oid OPERATOR(pg_catalog.=) $3)",
            &[table.into(), privilege.into(), role.into()],
        )
        .unwrap_or_else(|e| report::failed("lending rights", e))
    });
    let who = who.unwrap_or_else(|| {
        report::failed(
            "lending rights",
            format!("no role with OID {}", role.to_u32()),
        )
    });
    let missing = missing.unwrap_or_default();
    let statements = |verb: &str, to_from: &str| -> Option<String> {
        (!missing.is_empty()).then(|| {
            missing
                .iter()
                .map(|m| format!("{verb} {m} {to_from} {who}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    };
    let (grant, revoke) = (statements("GRANT", "TO"), statements("REVOKE", "FROM"));
    let run_as_owner = |sql: &Option<String>| {
        if let Some(sql) = sql {
            as_extension_owner(|| Spi::run(sql))
                .unwrap_or_else(|e| report::failed("lending rights", e));
        }
    };
    run_as_owner(&grant);
    let r = f();
    run_as_owner(&revoke);
    r
}

/// Whether the current user has the privileges of `role` (is it, a member of it, or a
/// superuser): what owning a table means for the toolkit and for `allow_drop`.
pub fn current_user_acts_as(role: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup of role membership by OIDs; cannot raise for valid OIDs.
    unsafe { pg_sys::has_privs_of_role(pg_sys::GetUserId(), role) }
}

/// `RangeVarGetRelidExtended` callback for the TRUNCATE guard: TRUNCATE's own relkind and
/// privilege checks, made before the guard locks anything, so a role that may not truncate a
/// table gets Postgres' error at once, queues no lock, and learns nothing of its rows.
#[pg_guard]
pub unsafe extern "C-unwind" fn may_truncate(
    rv: *const pg_sys::RangeVar,
    relid: pg_sys::Oid,
    _old_relid: pg_sys::Oid,
    _arg: *mut std::ffi::c_void,
) {
    if relid == pg_sys::InvalidOid {
        return;
    }
    // SAFETY: syscache lookups by OID; a relation dropped meanwhile reads as relkind 0 and is
    // left to the lookup's own retry.
    let kind = unsafe { pg_sys::get_rel_relkind(relid) } as u8;
    if kind == 0 {
        return;
    }
    // SAFETY: the RangeVar is the statement's own, valid for the call.
    let name = unsafe { std::ffi::CStr::from_ptr((*rv).relname) };
    if ![
        pg_sys::RELKIND_RELATION,
        pg_sys::RELKIND_PARTITIONED_TABLE,
        pg_sys::RELKIND_FOREIGN_TABLE,
    ]
    .contains(&kind)
    {
        pgrx::ereport!(
            ERROR,
            pgrx::PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("\"{}\" is not a table", name.to_string_lossy())
        );
    }
    require_truncate_right(relid, kind, name);
}

/// Raises Postgres' own error unless the current user may TRUNCATE `relid`: checked for every
/// table a TRUNCATE empties (CASCADE's and inheritance's too) before the guard probes any, as
/// TRUNCATE itself checks each before emptying it.
pub fn require_truncate_right(relid: pg_sys::Oid, kind: u8, name: &std::ffi::CStr) {
    // SAFETY: an ACL check of the current user by OIDs; aclcheck_error raises.
    unsafe {
        let acl = pg_sys::pg_class_aclcheck(
            relid,
            pg_sys::GetUserId(),
            pg_sys::ACL_TRUNCATE as pg_sys::AclMode,
        );
        if acl != pg_sys::AclResult::ACLCHECK_OK {
            pg_sys::aclcheck_error(
                acl,
                pg_sys::get_relkind_objtype(kind as std::ffi::c_char),
                name.as_ptr(),
            );
        }
    }
}

/// `RangeVarGetRelidExtended` callback for the type-change check: ALTER TABLE's ownership check,
/// made before the check locks the table (see [`may_truncate`]).
#[pg_guard]
pub unsafe extern "C-unwind" fn may_alter(
    rv: *const pg_sys::RangeVar,
    relid: pg_sys::Oid,
    _old_relid: pg_sys::Oid,
    _arg: *mut std::ffi::c_void,
) {
    if relid == pg_sys::InvalidOid {
        return;
    }
    // SAFETY: catalog lookups by OID and the statement's own RangeVar; aclcheck_error raises.
    unsafe {
        let kind = pg_sys::get_rel_relkind(relid);
        if kind != 0 && !crate::ffi::owns_relation(relid) {
            pg_sys::aclcheck_error(
                pg_sys::AclResult::ACLCHECK_NOT_OWNER,
                pg_sys::get_relkind_objtype(kind),
                (*rv).relname,
            );
        }
    }
}

/// The current user's name, from the syscache.
pub fn current_role() -> String {
    // SAFETY: reads the backend's current user.
    role_name(unsafe { pg_sys::GetUserId() })
}

/// A role's name, from the syscache; its OID as text if it no longer exists.
pub fn role_name(role: pg_sys::Oid) -> String {
    // SAFETY: a syscache lookup by OID with noerr; the name is palloc'd and copied at once.
    unsafe {
        let name = pg_sys::GetUserNameFromId(role, true);
        if name.is_null() {
            return role.to_u32().to_string();
        }
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
}
