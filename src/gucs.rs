//! Every memory_guard setting, with typed accessors that return core enums.
//!
//! Policy settings are PGC_SUSET: an application role must not be able to switch the guard off
//! for itself. The prefix is reserved so a misspelt `memory_guard.*` setting is an error, not a
//! silently ignored placeholder.

use memory_guard_core::drop_policy::DropMode;
use memory_guard_core::error::CheckMode;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

#[derive(Clone, Copy, PostgresGucEnum)]
enum DropModeGuc {
    #[name = c"enforce"]
    Enforce,
    #[name = c"warn"]
    Warn,
    #[name = c"log"]
    Log,
    #[name = c"off"]
    Off,
}

static DROP_MODE: GucSetting<DropModeGuc> = GucSetting::<DropModeGuc>::new(DropModeGuc::Enforce);

#[derive(Clone, Copy, PostgresGucEnum)]
enum CheckModeGuc {
    #[name = c"warn"]
    Warn,
    #[name = c"error"]
    Error,
    #[name = c"log"]
    Log,
    #[name = c"off"]
    Off,
}

static SEARCH_PATH_MODE: GucSetting<CheckModeGuc> =
    GucSetting::<CheckModeGuc>::new(CheckModeGuc::Warn);

// The same values; a separate static because each setting has its own value.
static TYPE_CHANGE_MODE: GucSetting<CheckModeGuc> =
    GucSetting::<CheckModeGuc>::new(CheckModeGuc::Warn);

// Set by the coordinator's memory_guard with SET LOCAL, which Citus carries to every worker
// connection of the distributed transaction (`distributed.rs`). Anyone may set it: on a node it
// grants only what `allow_drop` would grant the same role there, and what it lets through is
// logged there.
static DISTRIBUTED_PERMIT: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(None);

pub fn define() {
    GucRegistry::define_enum_guc(
        c"memory_guard.drop_mode",
        c"What memory_guard does with an unguarded drop of a table holding rows.",
        c"enforce: the statement fails; warn: it proceeds with a WARNING and is logged; log: it proceeds, reported in the server log only; off: no check. Superuser only.",
        &DROP_MODE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"memory_guard.search_path_mode",
        c"What memory_guard does when a security-relevant function lacks a safe, pinned search_path.",
        c"warn: a WARNING; error: the CREATE/ALTER FUNCTION fails; log: the server log only; off: no check at DDL time. Superuser only.",
        &SEARCH_PATH_MODE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"memory_guard.type_change_mode",
        c"What memory_guard does when ALTER COLUMN ... TYPE can lose information in a column holding values.",
        c"warn: a WARNING; error: the ALTER TABLE fails; log: the server log only; off: no check. Superuser only.",
        &TYPE_CHANGE_MODE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"memory_guard.distributed_permit",
        c"Distributed tables whose rows the Citus coordinator's memory_guard let go in this transaction.",
        c"Set by memory_guard on a Citus coordinator with SET LOCAL, for the workers that drop the shards. Not for setting by hand.",
        &DISTRIBUTED_PERMIT,
        GucContext::Userset,
        GucFlags::NO_SHOW_ALL,
    );
    // SAFETY: called once from _PG_init, in the backend's main thread, with a static C string.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"memory_guard".as_ptr()) };
}

/// pg_upgrade (binary upgrade mode) restores the old cluster's schema as it was: memory_guard
/// steps aside there, as if every mode were off.
fn upgrading() -> bool {
    // SAFETY: a backend global, set from the command line before any library is loaded.
    unsafe { pgrx::pg_sys::IsBinaryUpgrade }
}

pub fn drop_mode() -> DropMode {
    if upgrading() {
        return DropMode::Off;
    }
    match DROP_MODE.get() {
        DropModeGuc::Enforce => DropMode::Enforce,
        DropModeGuc::Warn => DropMode::Warn,
        DropModeGuc::Log => DropMode::Log,
        DropModeGuc::Off => DropMode::Off,
    }
}

pub fn search_path_mode() -> CheckMode {
    check_mode(&SEARCH_PATH_MODE)
}

pub fn type_change_mode() -> CheckMode {
    check_mode(&TYPE_CHANGE_MODE)
}

fn check_mode(setting: &GucSetting<CheckModeGuc>) -> CheckMode {
    if upgrading() {
        return CheckMode::Off;
    }
    match setting.get() {
        CheckModeGuc::Warn => CheckMode::Warn,
        CheckModeGuc::Error => CheckMode::Error,
        CheckModeGuc::Log => CheckMode::Log,
        CheckModeGuc::Off => CheckMode::Off,
    }
}

/// `memory_guard.distributed_permit` as set in this transaction (empty when unset).
pub fn distributed_permit() -> String {
    DISTRIBUTED_PERMIT
        .get()
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default()
}
