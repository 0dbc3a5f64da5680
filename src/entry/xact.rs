//! The end of each transaction and subtransaction: the one list of per-transaction state.
//! A capability that keeps state for a transaction resets it from here, and only from here.

use crate::session::{next_seq, SessionLocal};
use pgrx::pg_sys;
use std::cell::Cell;

/// The push number when the last transaction ended: lists nothing was pushed to since need no
/// reset.
static SEQ_AT_END: SessionLocal<Cell<u64>> = SessionLocal::new(Cell::new(0));

/// Called once from `_PG_init`.
pub fn register() {
    // SAFETY: called once from _PG_init; the callbacks are plain functions that live as long as
    // the library, which Postgres never unloads.
    unsafe {
        pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut());
    }
}

/// Called for every transaction of a session that loaded the library, most of which did nothing
/// memory_guard looks at: so a Rust guard is set up only to judge what is still pending, and
/// the end of a transaction only resets this backend's own state (it cannot raise or panic).
unsafe extern "C-unwind" fn xact_callback(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::XactEvent::*;
    match event {
        // Whatever a statement reported and nothing judged yet is judged before it can commit.
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PRE_PREPARE if !crate::drop_guard::nothing_pending() => {
            // SAFETY: a guarded Rust function without arguments.
            unsafe { judge_before_commit() }
        }
        XACT_EVENT_COMMIT
        | XACT_EVENT_ABORT
        | XACT_EVENT_PREPARE
        | XACT_EVENT_PARALLEL_COMMIT
        | XACT_EVENT_PARALLEL_ABORT => {
            crate::frames::transaction_end();
            let seq = next_seq();
            let pushed = SEQ_AT_END.with(|at| at.get()) != seq;
            crate::ledger::transaction_end();
            crate::moved::transaction_end();
            crate::extension::transaction_end();
            crate::shards::transaction_end();
            let all_reset = crate::drop_guard::transaction_end(pushed)
                & (!pushed || crate::search_path_lint::transaction_end());
            if all_reset {
                SEQ_AT_END.with(|at| at.set(seq));
            }
        }
        _ => {}
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn judge_before_commit() {
    crate::drop_guard::before_commit();
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn subxact_callback(
    event: pg_sys::SubXactEvent::Type,
    sub: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::SubXactEvent::*;
    let aborted = match event {
        SUBXACT_EVENT_ABORT_SUB => true,
        SUBXACT_EVENT_COMMIT_SUB => false,
        _ => return,
    };
    if aborted {
        crate::frames::subtransaction_aborted(sub);
        crate::extension::subtransaction_aborted();
        crate::shards::subtransaction_aborted(sub);
    }
    crate::drop_guard::subtransaction_end(aborted, sub, parent);
    crate::search_path_lint::subtransaction_end(aborted, sub, parent);
}
