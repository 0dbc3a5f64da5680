//! Where Postgres calls into memory_guard: its hooks, the end of (sub)transactions, and the one
//! event trigger. Only these dispatch to the capabilities; only `lib.rs` imports them.

pub mod event_trigger;
pub mod hooks;
pub mod xact;

/// Called once from `_PG_init`.
pub fn install() {
    hooks::install();
    xact::register();
}
