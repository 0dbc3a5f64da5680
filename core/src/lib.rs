//! memory_guard's decisions, free of pgrx.
//!
//! The extension gathers facts from Postgres (catalog rows, probe results, settings) into the plain
//! structs defined here; this crate decides what to do with them and words the errors. Cargo keeps
//! pgrx out of this crate, so everything here is tested with plain `cargo test`.

pub mod audit;
pub mod checksum;
pub mod distributed;
pub mod drop_policy;
pub mod error;
pub mod migration;
pub mod search_path;
pub mod sql_text;
pub mod type_change;

pub use error::{GuardError, Reaction, SqlState};
