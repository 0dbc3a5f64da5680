//! memory_guard: a Postgres extension that keeps migrations from silently destroying data.
//!
//! The crate reads in layers, each importing only from the layers below it
//! (`scripts/check_layers.py` checks it in the test command):
//! - `entry/`: where Postgres calls in (hooks, transaction callbacks, the event trigger); the
//!   only modules that dispatch to capabilities.
//! - capabilities, one file each, none importing another: `drop_guard` (and `allow_drop`),
//!   `truncate_guard` (which judges as the drop guard does), `type_change`, `temp_dependency`,
//!   `search_path_lint`, `backup` (backups and restores), `memory_notes` (the seed's migration),
//!   `audit` (dry runs).
//! - shared services: `frames` (where a statement begins and ends), `findings` (what an audit
//!   records), `ledger`, `tables`, `extension` (the one place rights are raised), `checksum`,
//!   `probe`, `references`, `moved`.
//! - foundation: `session` (per-session state), `catalog`, `ffi`, `gucs`, `report` (the only
//!   place errors become Postgres reports).
//!
//! Decisions live in the pgrx-free `memory_guard_core` crate.
#![forbid(unsafe_op_in_unsafe_fn)]

::pgrx::pg_module_magic!(name, version);

// Entry points: where Postgres calls in; they dispatch to the capabilities.
mod entry;

// Capabilities: each its own, none imports another (truncate_guard uses the drop guard's
// judgement).
mod audit;
mod backup;
mod distributed;
mod drop_guard;
mod memory_notes;
mod search_path_lint;
mod temp_dependency;
mod truncate_guard;
mod type_change;

// Shared services.
mod checksum;
mod extension;
mod findings;
mod frames;
mod ledger;
mod moved;
mod probe;
mod references;
mod shards;
mod tables;

// Foundation.
mod catalog;
mod ffi;
mod gucs;
mod report;
mod session;

::pgrx::extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
::pgrx::extension_sql_file!(
    "../sql/event_triggers.sql",
    name = "event_triggers",
    requires = [entry::event_trigger::on_ddl_command_start]
);
::pgrx::extension_sql_file!(
    "../sql/search_path_lint.sql",
    name = "search_path_lint",
    requires = ["schema", search_path_lint::lint_functions_rows]
);

::pgrx::extension_sql_file!(
    "../sql/ledger.sql",
    name = "ledger",
    requires = ["schema", moved::records_keyed_here]
);
::pgrx::extension_sql_file!(
    "../sql/migrate.sql",
    name = "migrate",
    requires = [
        "ledger",
        memory_notes::migrate_memory_notes,
        backup::backup_table
    ]
);

::pgrx::extension_sql_file!("../sql/shim.sql", name = "shim", requires = ["ledger"]);
::pgrx::extension_sql_file!(
    "../sql/moved.sql",
    name = "moved",
    requires = ["ledger", "search_path_lint"]
);

::pgrx::extension_sql_file!(
    "../sql/truncate_notice.sql",
    name = "truncate_notice",
    requires = [truncate_guard::truncate_guarded],
    finalize
);

#[allow(non_snake_case)]
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::define();
    truncate_guard::note_preloading();
    entry::install();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
