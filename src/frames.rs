//! Where a DDL statement begins and ends, as memory_guard sees it.
//!
//! The object-access hook reports objects as Postgres deletes, creates or alters them; the drop
//! guard and the lint collect those reports and judge them when the statement that caused them
//! ends, at the exit of memory_guard's ProcessUtility hook (`entry/hooks.rs`). Event triggers
//! on `sql_drop` or `ddl_command_end` would give the same moment, but while any such trigger
//! exists Postgres tracks every dropped object and copies every parse tree of every DDL
//! statement in the database, which is most of what a guard costs (bench/ddl_overhead.sh).
//!
//! So the only event trigger is `ddl_command_start`, and it is there to load the library
//! (`entry/event_trigger.rs`). The statement during which the library is loaded is the one our
//! ProcessUtility hook cannot wrap: its reports are judged as they arrive (see [`wrapped`]).

use crate::ffi;
use crate::session::{next_seq, reset, SessionLocal};
use pgrx::pg_sys;
use std::cell::{Cell, RefCell};

/// The complete queries our ProcessUtility hook is running, innermost last.
static FRAMES: SessionLocal<RefCell<Vec<Frame>>> = SessionLocal::new(RefCell::new(Vec::new()));
/// The command tag of the latest complete query (or, in the statement that loaded the
/// library, of its ddl_command_start), for reports judged as they arrive or at commit.
static LAST_TAG: SessionLocal<Cell<pg_sys::CommandTag::Type>> =
    SessionLocal::new(Cell::new(pg_sys::CommandTag::CMDTAG_UNKNOWN));

struct Frame {
    /// The subtransaction it began in.
    subid: pg_sys::SubTransactionId,
    /// What a CREATE FUNCTION or PROCEDURE without OR REPLACE says of the function it writes.
    new_function: Option<NewFunction>,
    /// The tag of the statement around it, if any, for when it ends.
    outer_tag: pg_sys::CommandTag::Type,
}

/// A function a CREATE FUNCTION or PROCEDURE without OR REPLACE writes: it had no earlier
/// version, and its statement may already show that the lint has nothing to say of it.
#[derive(Clone, Copy, PartialEq)]
pub enum NewFunction {
    /// Not SECURITY DEFINER, no `SET search_path`, not a trigger function.
    Plain,
    Other,
}

/// A complete query begins (called by the ProcessUtility hook, outside any Rust guard, so it
/// does nothing that can raise). `new_function`: what a CREATE FUNCTION or PROCEDURE without OR
/// REPLACE says of the function it writes. Returns its mark, for
/// [`Scoped::take_since`](crate::session::Scoped::take_since).
pub fn begin(tag: pg_sys::CommandTag::Type, new_function: Option<NewFunction>) -> u64 {
    let outer_tag = LAST_TAG.with(|t| t.replace(tag));
    let mark = next_seq();
    let frame = Frame {
        // SAFETY: inside a transaction; reads a field of the transaction state.
        subid: unsafe { ffi::GetCurrentSubTransactionId() },
        new_function,
        outer_tag,
    };
    // Never borrowed between statements; a panic here would take the backend down.
    FRAMES.with(|f| f.try_borrow_mut().map(|mut f| f.push(frame)).ok());
    mark
}

/// What the running statement says of a function it writes, if it is a CREATE FUNCTION or
/// PROCEDURE without OR REPLACE.
pub fn new_function() -> Option<NewFunction> {
    FRAMES.with(|f| f.borrow().last().and_then(|fr| fr.new_function))
}

/// The query begun with [`begin`] ended without an error.
pub fn end() {
    let frame = FRAMES.with(|f| f.try_borrow_mut().ok().and_then(|mut f| f.pop()));
    if let Some(frame) = frame {
        LAST_TAG.with(|t| t.set(frame.outer_tag));
    }
}

/// Whether a running ProcessUtility hook call will judge what is reported now. False only in
/// the statement that loaded the library (and in deletions outside any utility statement):
/// there, reports are judged as they arrive.
pub fn wrapped() -> bool {
    FRAMES.with(|f| !f.borrow().is_empty())
}

pub fn last_tag() -> pg_sys::CommandTag::Type {
    LAST_TAG.with(|t| t.get())
}

pub fn tag_name(tag: pg_sys::CommandTag::Type) -> String {
    // SAFETY: GetCommandTagName returns a static C string for every tag value.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::GetCommandTagName(tag)) }
        .to_string_lossy()
        .into_owned()
}

/// The tag of a statement's parse tree.
pub fn tag_of(node: *mut pg_sys::Node) -> pg_sys::CommandTag::Type {
    if node.is_null() {
        return pg_sys::CommandTag::CMDTAG_UNKNOWN;
    }
    // SAFETY: node is the utility statement of a PlannedStmt Postgres is executing.
    unsafe { ffi::CreateCommandTag(node) }
}

/// In the statement that loads the library (no frame of ours around it), its ddl_command_start
/// gives the tag reports are judged under.
pub fn unwrapped_statement_begins(tag: pg_sys::CommandTag::Type) {
    LAST_TAG.with(|t| t.set(tag));
}

/// A subtransaction aborted: a query that raised inside it never reached its [`end`].
pub fn subtransaction_aborted(sub: pg_sys::SubTransactionId) {
    FRAMES.with(|f| f.borrow_mut().retain(|fr| fr.subid != sub));
}

/// The transaction ended: no query of it is running any more. Outside any Rust guard.
pub fn transaction_end() {
    FRAMES.with(reset);
}
