//! After a move: `pg_dump`/`pg_restore` into another database, or `pg_upgrade`. memory_guard's
//! records travel with the dump (sql/moved.sql), but name tables and functions by OID, and a
//! restore gives them new OIDs (pg_upgrade keeps tables' but not functions'). At their first
//! use in a database they were not keyed in, the records are keyed again by the names they
//! also keep: the ledger's tables and copies, the carried fields' targets, the functions of
//! search_path_history. What no longer resolves stops naming anything (OID 0).
//!
//! Nothing is trusted because of its name alone: a ledger entry still vouches for a drop only
//! when the table and its copy hold what it recorded, checked as before.

use crate::extension::as_extension_owner;
use crate::session::SessionLocal;
use pgrx::prelude::*;
use std::cell::Cell;

/// Whether this session found its records keyed in this very database (committed): asked once.
static KEYED_HERE: SessionLocal<Cell<bool>> = SessionLocal::new(Cell::new(false));

/// Keys the records again if they were keyed in another database. Called before the ledger, the
/// carried fields or search_path_history are read. In a read-only transaction (a standby, say)
/// nothing can be written: the records are read as they are.
pub fn rekey_if_moved() {
    if KEYED_HERE.with(|k| k.get()) || !crate::extension::installed_here() {
        return;
    }
    // SAFETY: backend globals (set at transaction start, and once at connection).
    let (read_only, here) = unsafe {
        (
            pg_sys::XactReadOnly,
            (
                pg_sys::GetSystemIdentifier().to_string(),
                pg_sys::MyDatabaseId,
            ),
        )
    };
    if read_only {
        return;
    }
    let moved = as_extension_owner(|| {
        // Every row must say "here": a restore adds the dumped row (the old database's) to
        // any row written here while the restore was creating functions, before the records'
        // data arrived.
        let keyed_here = Spi::get_one_with_args::<bool>(
            "SELECT bool_and(system_identifier = $1 AND database_oid = $2) FROM memory_guard.keyed_in",
            &[here.0.as_str().into(), here.1.into()],
        )
        .ok()
        .flatten()
        .unwrap_or(false);
        if keyed_here {
            return false;
        }
        Spi::run(include_str!("../sql/queries/rekey.sql")).unwrap_or_else(|e| {
            crate::report::failed("keying memory_guard's records to this database", e)
        });
        Spi::run_with_args(
            "INSERT INTO memory_guard.keyed_in (system_identifier, database_oid) VALUES ($1, $2)",
            &[here.0.as_str().into(), here.1.into()],
        )
        .unwrap_or_else(|e| {
            crate::report::failed("recording where memory_guard's records are keyed", e)
        });
        true
    });
    // Once the new keys are committed, later calls find them; until then, each asks again.
    if !moved {
        KEYED_HERE.with(|k| k.set(true));
    }
}
