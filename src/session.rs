//! Per-session state: what memory_guard keeps between calls in a backend, and the lists of
//! reports that belong to a (sub)transaction. The foundation every other module builds on.

use crate::ffi;
use pgrx::pg_sys;
use std::cell::{Cell, RefCell};

/// State of this session. Postgres runs each session in a process of its own, on one thread,
/// and memory_guard starts no thread (pgrx refuses calls into Postgres from any other): so a
/// plain static holds per-session state, as a `thread_local!` would, without the thread-local
/// storage lookup each access costs from a shared library, on a path every statement takes.
pub struct SessionLocal<T>(std::cell::UnsafeCell<T>);

// SAFETY: only the backend's one thread ever runs memory_guard's code (see above), so the value
// is never reached from two threads.
unsafe impl<T> Sync for SessionLocal<T> {}

impl<T> SessionLocal<T> {
    pub const fn new(value: T) -> Self {
        SessionLocal(std::cell::UnsafeCell::new(value))
    }

    /// `f` on the value, as `LocalKey::with`; changes go through the Cell or RefCell inside.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: only shared references to the value are ever made (one thread, see above).
        f(unsafe { &*self.0.get() })
    }
}

/// One report, kept until the statement that made it ends or its subtransaction does.
struct Entry<T> {
    subid: pg_sys::SubTransactionId,
    seq: u64,
    value: T,
}

/// Reports (or permits) that belong to a (sub)transaction: gone when it aborts, handed to the
/// parent when it commits, and numbered so a statement can take back what it caused.
pub struct Scoped<T> {
    items: Vec<Entry<T>>,
}

/// Per-transaction state that can be emptied for the next transaction.
pub trait Reset {
    /// Empties it, keeping any allocation (the next transaction fills it again).
    fn reset(&mut self);
}

// Each checks first: emptying what is empty already (the usual case) would still run the
// value's drop code, on a path every transaction takes.
impl<T> Reset for Scoped<T> {
    fn reset(&mut self) {
        if !self.items.is_empty() {
            self.items.clear();
        }
    }
}

impl<T> Reset for Vec<T> {
    fn reset(&mut self) {
        if !self.is_empty() {
            self.clear();
        }
    }
}

impl<T> Reset for Option<T> {
    fn reset(&mut self) {
        if self.is_some() {
            *self = None;
        }
    }
}

/// Resets per-transaction state from code that runs outside any Rust guard, where a panic would
/// take the backend down: a value that is borrowed (never, between statements) is left as is,
/// and false returned.
pub fn reset<T: Reset>(cell: &RefCell<T>) -> bool {
    cell.try_borrow_mut().map(|mut value| value.reset()).is_ok()
}

impl<T> Scoped<T> {
    pub const fn new() -> Self {
        Scoped { items: Vec::new() }
    }

    pub fn push(&mut self, value: T) {
        let seq = SEQ.with(|s| {
            let n = s.get();
            s.set(n + 1);
            n
        });
        self.items.push(Entry {
            subid: current_subid(),
            seq,
            value,
        });
    }

    /// Removes and returns what was pushed since `mark` (see [`begin`]).
    pub fn take_since(&mut self, mark: u64) -> Vec<T> {
        let at = self.items.partition_point(|e| e.seq < mark);
        self.items.drain(at..).map(|e| e.value).collect()
    }

    pub fn take_all(&mut self) -> Vec<T> {
        self.take_since(0)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether anything was pushed since `mark`.
    pub fn has_since(&self, mark: u64) -> bool {
        self.items.last().is_some_and(|e| e.seq >= mark)
    }

    /// Drops what was pushed since `mark`.
    pub fn discard_since(&mut self, mark: u64) {
        let at = self.items.partition_point(|e| e.seq < mark);
        self.items.truncate(at);
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|e| &e.value)
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// A subtransaction ended: what it made goes with it (abort) or to its parent (commit).
    pub fn settle(
        &mut self,
        aborted: bool,
        sub: pg_sys::SubTransactionId,
        parent: pg_sys::SubTransactionId,
    ) {
        if aborted {
            self.items.retain(|e| e.subid != sub);
        } else {
            self.items
                .iter_mut()
                .filter(|e| e.subid == sub)
                .for_each(|e| e.subid = parent);
        }
    }
}

/// Numbers every push to a [`Scoped`] list in this session: a statement's mark is the number
/// the next push gets.
static SEQ: SessionLocal<Cell<u64>> = SessionLocal::new(Cell::new(0));

/// The number the next push will get: what was pushed from now on is "since" this mark.
pub fn next_seq() -> u64 {
    SEQ.with(|s| s.get())
}

fn current_subid() -> pg_sys::SubTransactionId {
    // SAFETY: only called inside a transaction (hooks during a statement, SQL functions); it
    // reads a field of the transaction state and cannot raise.
    unsafe { ffi::GetCurrentSubTransactionId() }
}
