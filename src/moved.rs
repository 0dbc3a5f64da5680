//! After a move: `pg_dump`/`pg_restore` into another database, or `pg_upgrade`. memory_guard's
//! records travel with the dump (sql/moved.sql), but name tables and functions by OID, and a
//! restore gives them new OIDs (pg_upgrade keeps tables' but not functions'). At their first
//! use in a database they were not keyed in, the records are keyed again (sql/queries/rekey.sql)
//! by the names they also keep, and only to an object of the same name whose owner has the
//! recorded owner's name: a role that takes over a name (a table created where another's was
//! dropped or renamed) gains nothing. What is not found again stops naming anything.
//!
//! Until then an OID in a record may name some other object here. What a record vouches for is
//! checked anyway (a ledger entry lets a drop through only while the table and its copy hold
//! what it recorded); what it would show is withheld: the carried fields (their policy asks
//! [`records_keyed_here`]) and restores.

use crate::extension::as_extension_owner;
use crate::session::SessionLocal;
use pgrx::prelude::*;
use std::cell::Cell;

/// Whether this session found its records keyed in this very database (committed): asked once.
static KEYED_HERE: SessionLocal<Cell<bool>> = SessionLocal::new(Cell::new(false));
/// Whether this transaction keyed them: until it commits, nothing may be remembered for the
/// session (a rollback takes the keying back).
static KEYED_BY_THIS_TRANSACTION: SessionLocal<Cell<bool>> = SessionLocal::new(Cell::new(false));

/// The end of a transaction (entry/xact.rs), outside any Rust guard.
pub fn transaction_end() {
    KEYED_BY_THIS_TRANSACTION.with(|k| k.set(false));
}

/// Remembers for the session that the records are keyed, unless this transaction keyed them.
fn remember_keyed() {
    if !KEYED_BY_THIS_TRANSACTION.with(|k| k.get()) {
        KEYED_HERE.with(|k| k.set(true));
    }
}

/// This database, as `keyed_in` records it: pg_control's system identifier (changed by initdb,
/// so by pg_upgrade) and the database's OID.
fn here() -> (String, pg_sys::Oid) {
    // SAFETY: backend globals, set once at startup and at connection.
    unsafe {
        (
            // As pg_control_system() shows it: a bigint.
            (pg_sys::GetSystemIdentifier() as i64).to_string(),
            pg_sys::MyDatabaseId,
        )
    }
}

/// Whether every row of `keyed_in` says "here". A restore adds the dumped row (the old
/// database's) to any row written here while the restore was creating functions, before the
/// records' data arrived; an empty table says nothing. Read as the extension's owner.
fn keyed_in_here() -> bool {
    let (system, database) = here();
    as_extension_owner(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT bool_and(system_identifier = $1 AND database_oid = $2) FROM memory_guard.keyed_in",
            &[system.as_str().into(), database.into()],
        )
    })
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// `memory_guard.records_keyed_here()`: whether memory_guard's records are keyed to this
/// database (see the module's comment). The carried fields' policy asks it.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
fn records_keyed_here() -> bool {
    if KEYED_HERE.with(|k| k.get()) {
        return true;
    }
    let keyed = crate::extension::installed_here() && keyed_in_here();
    if keyed {
        remember_keyed();
    }
    keyed
}

/// Keys the records again if they were keyed in another database, and says whether they are
/// keyed here now. Called before the ledger, the carried fields or search_path_history are
/// read. Nothing waits for it: in a read-only transaction (a standby, say), or while another
/// session is keying them, the records are left as they are, and `false` is returned.
pub fn rekey_if_moved() -> bool {
    // Not installed, or still 0.1.0's objects (nothing there is keyed).
    if KEYED_HERE.with(|k| k.get()) || crate::extension::keyed_in_relid() == pg_sys::InvalidOid {
        return true;
    }
    if keyed_in_here() {
        remember_keyed();
        return true;
    }
    // SAFETY: a backend global, set at transaction start and by SET TRANSACTION.
    if unsafe { pg_sys::XactReadOnly } || !lock_keyed_in() {
        return false;
    }
    // Another session may have keyed them while this one waited for nothing: asked again under
    // the lock.
    if keyed_in_here() {
        return true;
    }
    let (system, database) = here();
    KEYED_BY_THIS_TRANSACTION.with(|k| k.set(true));
    as_extension_owner(|| {
        // Another cluster's role OIDs name other roles here, or none: drop_log's owners are
        // forgotten (those rows stay visible to the role that dropped and to superusers).
        Spi::run_with_args(
            "UPDATE memory_guard.drop_log SET table_owner = 0 \
             WHERE table_owner <> 0 AND EXISTS (SELECT FROM memory_guard.keyed_in k WHERE k.system_identifier <> $1)",
            &[system.as_str().into()],
        )
        .unwrap_or_else(|e| crate::report::failed("keying drop_log to this cluster", e));
        Spi::run(include_str!("../sql/queries/rekey.sql")).unwrap_or_else(|e| {
            crate::report::failed("keying memory_guard's records to this database", e)
        });
        Spi::run_with_args(
            "INSERT INTO memory_guard.keyed_in (system_identifier, database_oid) VALUES ($1, $2)",
            &[system.as_str().into(), database.into()],
        )
        .unwrap_or_else(|e| {
            crate::report::failed("recording where memory_guard's records are keyed", e)
        });
    });
    // Keyed for this transaction; later sessions find it so once it commits.
    true
}

/// Takes `keyed_in` in ExclusiveLock if no other session holds it (one keying at a time),
/// without waiting: a session that keeps the keying transaction open must not make every DROP
/// elsewhere wait.
fn lock_keyed_in() -> bool {
    let relid = crate::extension::keyed_in_relid();
    // SAFETY: a conditional lock by OID, held to the end of the transaction (or not taken).
    relid != pg_sys::InvalidOid
        && unsafe { pg_sys::ConditionalLockRelationOid(relid, pg_sys::ExclusiveLock as i32) }
}

/// For what would show a record's contents (a restore, the carried fields): raises 55000 unless
/// the records are keyed to this database.
pub fn require_keyed(function: &'static str) {
    if !rekey_if_moved() {
        crate::report::raise(
            &memory_guard_core::GuardError::new(
                memory_guard_core::SqlState::NotReady,
                format!("{function}: memory_guard's records come from another database and are not keyed to this one yet"),
            )
            .detail("After a dump and restore, the records are keyed again by name at their first use in a transaction that may write; another session is doing it now, or this transaction is read-only.")
            .hint("Run it again in a read-write transaction, once no other session is keying them."),
            function,
        );
    }
}
