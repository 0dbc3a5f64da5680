//! The one place core errors become Postgres reports with SQLSTATE, DETAIL and HINT.

use memory_guard_core::{GuardError, Reaction, SqlState};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

fn code(s: SqlState) -> PgSqlErrorCode {
    match s {
        SqlState::DataStillExists => PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
        SqlState::NullValueNotAllowed => PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
        SqlState::InvalidParameterValue => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        SqlState::UndefinedTable => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
        SqlState::WrongObjectType => PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
        SqlState::TriggerProtocolViolated => {
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED
        }
        SqlState::InvalidObjectDefinition => PgSqlErrorCode::ERRCODE_INVALID_OBJECT_DEFINITION,
        SqlState::Warning => PgSqlErrorCode::ERRCODE_WARNING,
        SqlState::UndefinedColumn => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        SqlState::DatatypeMismatch => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        SqlState::InsufficientPrivilege => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        SqlState::DataCorrupted => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
        SqlState::DuplicateTable => PgSqlErrorCode::ERRCODE_DUPLICATE_TABLE,
        SqlState::FeatureNotAvailable => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        SqlState::InvalidTableDefinition => PgSqlErrorCode::ERRCODE_INVALID_TABLE_DEFINITION,
        SqlState::SystemError => PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
        SqlState::NotReady => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
    }
}

fn build(e: &GuardError, function: &'static str) -> ErrorReport {
    let mut report = ErrorReport::new(
        code(e.sqlstate),
        format!("memory_guard: {}", e.message),
        function,
    );
    if let Some(d) = &e.detail {
        report = report.set_detail(d.clone());
    }
    if let Some(h) = &e.hint {
        report = report.set_hint(h.clone());
    }
    report
}

/// Raises `e` as an ERROR; does not return.
pub fn raise(e: &GuardError, function: &'static str) -> ! {
    build(e, function).report(PgLogLevel::ERROR);
    unreachable!("ERROR reports do not return")
}

/// Reports `e` as a WARNING and carries on.
fn warn(e: &GuardError, function: &'static str) {
    build(e, function).report(PgLogLevel::WARNING);
}

/// Reports `e` as its mode asks: an ERROR (does not return), a WARNING, or a line for the server
/// log only (never the client, whatever client_min_messages says). `None` (a mode that is off)
/// reports nothing.
pub fn emit(e: &GuardError, reaction: Option<Reaction>, function: &'static str) {
    match reaction {
        Some(Reaction::Refuse) => raise(e, function),
        Some(Reaction::Warn) => warn(e, function),
        Some(Reaction::Log) => build(e, function).report(PgLogLevel::LOG_SERVER_ONLY),
        None => {}
    }
}

/// A plain line for the server log only.
pub fn server_log(line: &str) {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
        line.to_string(),
        "memory_guard",
    )
    .report(PgLogLevel::LOG_SERVER_ONLY);
}

/// Raises 58000 for a query of memory_guard's own that failed (`what` it was for, and why):
/// nothing the caller did, and nothing it can fix, but what is not recorded or checked must not
/// go ahead.
pub fn failed(what: &str, why: impl std::fmt::Display) -> ! {
    raise(
        &GuardError::new(SqlState::SystemError, format!("{what}: {why}"))
            .detail("A query memory_guard runs for itself failed; the statement was not let through.")
            .hint("This is a bug of memory_guard, or its installation was changed by hand: report it with the server log's lines around this error, or reinstall the extension."),
        "memory_guard",
    )
}

/// Unwraps a core result, raising its error.
pub fn ok_or_raise<T>(r: Result<T, GuardError>, function: &'static str) -> T {
    r.unwrap_or_else(|e| raise(&e, function))
}
