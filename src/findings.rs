//! What a running `memory_guard.audit()` has found. While an audit runs, the drop guard, the
//! TRUNCATE guard, the lint and the type-change check record findings here instead of raising
//! (see [`record_or_report`]); `audit.rs` starts the collection, and reads it at the end.

use crate::report;
use crate::session::SessionLocal;
use memory_guard_core::audit::{self as rules, Finding};
use memory_guard_core::{GuardError, Reaction};
use std::cell::RefCell;

/// What the running audit has seen. `pass` 1 is the first application (findings are kept),
/// 2 the re-run (only failures count, and they are recorded by `run_audit` itself).
struct Collector {
    pass: u8,
    seq: i32,
    statement: String,
    findings: Vec<Finding>,
    /// (seq, statement, schema, table) of every table pass 1 dropped or renamed away.
    dropped_tables: Vec<(i32, String, String, String)>,
}

static AUDIT: SessionLocal<RefCell<Option<Collector>>> = SessionLocal::new(RefCell::new(None));

/// Whether an audit is running in this backend: the guard and the lint then record, not raise.
pub fn active() -> bool {
    AUDIT.with(|a| a.borrow().is_some())
}

/// Records a finding for the statement being audited (first pass only).
pub fn record(make: impl FnOnce(i32, &str) -> Finding) {
    AUDIT.with(|a| {
        if let Some(c) = a.borrow_mut().as_mut() {
            if c.pass == 1 {
                let f = make(c.seq, &c.statement);
                c.findings.push(f);
            }
        }
    });
}

/// Called by the drop guard for each table a statement deletes during an audit: remembered
/// (first pass only), to find the functions that still name it.
pub fn record_dropped_table(schema: String, table: String) {
    AUDIT.with(|a| {
        if let Some(c) = a.borrow_mut().as_mut().filter(|c| c.pass == 1) {
            let (seq, stmt) = (c.seq, c.statement.clone());
            c.dropped_tables.push((seq, stmt, schema, table));
        }
    });
}

/// From the emit_log hook: a NOTICE during an audit. "… already exists, skipping" becomes a
/// no-op finding; every NOTICE is kept from the client (the audit's rows say what matters).
/// Returns whether an audit is running.
pub fn notice(sqlstate: &str, message: &str) -> bool {
    AUDIT.with(|a| {
        let mut a = a.borrow_mut();
        let Some(c) = a.as_mut() else { return false };
        if c.pass == 1 {
            if let Some(f) = rules::no_op(c.seq, sqlstate, message, &c.statement) {
                c.findings.push(f);
            }
        }
        true
    })
}

/// An audit's collection, from [`Collecting::start`] until dropped (also when an interrupted
/// audit unwinds).
pub struct Collecting(());

impl Collecting {
    pub fn start() -> Collecting {
        AUDIT.with(|a| {
            *a.borrow_mut() = Some(Collector {
                pass: 1,
                seq: 0,
                statement: String::new(),
                findings: vec![],
                dropped_tables: vec![],
            })
        });
        Collecting(())
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        AUDIT.with(|a| {
            if let Ok(mut a) = a.try_borrow_mut() {
                *a = None;
            }
        });
    }
}

/// The statement being audited, and the pass (1: the first application, 2: the re-run).
pub fn set_current(seq: i32, statement: &str, pass: u8) {
    AUDIT.with(|a| {
        if let Some(c) = a.borrow_mut().as_mut() {
            c.seq = seq;
            c.statement = statement.to_string();
            c.pass = pass;
        }
    });
}

/// Records a finding the audit made itself.
pub fn push(f: Finding) {
    AUDIT.with(|a| {
        if let Some(c) = a.borrow_mut().as_mut() {
            c.findings.push(f);
        }
    });
}

/// A table pass 1 renamed away: callers by the old name break, as for a dropped one.
pub fn add_dropped_table(seq: i32, statement: &str, schema: String, table: String) {
    AUDIT.with(|a| {
        if let Some(c) = a.borrow_mut().as_mut() {
            c.dropped_tables
                .push((seq, statement.to_string(), schema, table));
        }
    });
}

/// (seq, statement, schema, table) of every table pass 1 dropped or renamed away.
pub fn dropped_tables() -> Vec<(i32, String, String, String)> {
    AUDIT.with(|a| {
        a.borrow()
            .as_ref()
            .map(|c| c.dropped_tables.clone())
            .unwrap_or_default()
    })
}

/// The findings so far, taken.
pub fn take() -> Vec<Finding> {
    AUDIT.with(|a| {
        a.borrow_mut()
            .as_mut()
            .map(|c| std::mem::take(&mut c.findings))
            .unwrap_or_default()
    })
}

/// During an audit, records what `finding` makes of the statement; otherwise reports `err`
/// under `reaction` (raising, warning or logging) from `function`.
pub fn record_or_report(
    err: &GuardError,
    reaction: Option<Reaction>,
    function: &'static str,
    finding: impl FnOnce(i32, &str) -> Finding,
) {
    if active() {
        record(finding);
    } else {
        report::emit(err, reaction, function);
    }
}
