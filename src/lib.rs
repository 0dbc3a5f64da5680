//! memory_guard: a Postgres extension that keeps migrations from silently destroying data.
//!
//! Each capability has its own file: `drop_guard.rs` (the drop guard and `allow_drop`),
//! `search_path_lint.rs`, `type_change.rs`, `truncate_guard.rs`, `migrate.rs` (the migration
//! toolkit), `audit.rs` (dry runs). Around them: `hooks.rs` (Postgres hooks), `statement.rs`
//! (where a statement begins and ends, and the one event trigger), `probe.rs` (a table's facts
//! under lock), `ffi.rs` (the Postgres calls on every statement's path), `checksum.rs`,
//! `gucs.rs` (settings), `report.rs` (errors). Decisions live in the pgrx-free
//! `memory_guard_core` crate.
#![forbid(unsafe_op_in_unsafe_fn)]

::pgrx::pg_module_magic!(name, version);

mod audit;
mod checksum;
mod drop_guard;
mod extension;
mod ffi;
mod gucs;
mod hooks;
mod migrate;
mod moved;
mod probe;
mod references;
mod report;
mod search_path_lint;
mod statement;
mod temp_dependency;
mod truncate_guard;
mod type_change;

::pgrx::extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
::pgrx::extension_sql_file!(
    "../sql/event_triggers.sql",
    name = "event_triggers",
    requires = [statement::on_ddl_command_start]
);
::pgrx::extension_sql_file!(
    "../sql/search_path_lint.sql",
    name = "search_path_lint",
    requires = ["schema", search_path_lint::lint_functions_rows]
);

::pgrx::extension_sql_file!("../sql/ledger.sql", name = "ledger", requires = ["schema"]);
::pgrx::extension_sql_file!(
    "../sql/migrate.sql",
    name = "migrate",
    requires = [
        "ledger",
        migrate::migrate_memory_notes,
        migrate::backup_table
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
    gucs::init();
    truncate_guard::init();
    hooks::init();
    statement::init();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
