//! Errors as data: every refusal carries the SQLSTATE, message, DETAIL and HINT the extension reports.

use std::fmt;

/// How a report reaches the statement, whichever mode setting chose it: the statement fails, the
/// client gets a WARNING, or only the server log hears of it. Every `*_mode` maps onto these, so
/// a new mode is one arm in core and nothing in the pgrx layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Refuse,
    Warn,
    Log,
}

/// `memory_guard.search_path_mode` and `memory_guard.type_change_mode`: what a check's finding at
/// DDL time meets. (`drop_mode` has its own names: `enforce` rather than `error`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckMode {
    /// Findings are WARNINGs; the statement goes through.
    Warn,
    /// The first finding is an ERROR; the statement changes nothing.
    Error,
    /// Findings go to the server log only; the client sees nothing.
    Log,
    /// No check at DDL time.
    Off,
}

impl CheckMode {
    /// What a finding meets; `None` when the check is off.
    pub const fn reaction(self) -> Option<Reaction> {
        match self {
            CheckMode::Error => Some(Reaction::Refuse),
            CheckMode::Warn => Some(Reaction::Warn),
            CheckMode::Log => Some(Reaction::Log),
            CheckMode::Off => None,
        }
    }
}

/// The SQLSTATEs memory_guard raises. The README lists each with its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlState {
    /// 2BP01 dependent_objects_still_exist: the statement would delete rows still stored in a table.
    DataStillExists,
    /// 22004 null_value_not_allowed: a required argument is NULL.
    NullValueNotAllowed,
    /// 22023 invalid_parameter_value: an argument is present but unusable (e.g. an empty reason).
    InvalidParameterValue,
    /// 42P01 undefined_table: the named table does not exist.
    UndefinedTable,
    /// 42809 wrong_object_type: the named object is not a table memory_guard can guard.
    WrongObjectType,
    /// 39P01 trigger_protocol_violated: an event-trigger function called some other way.
    TriggerProtocolViolated,
    /// 42P17 invalid_object_definition: a function definition the lint refuses (error mode).
    InvalidObjectDefinition,
    /// 01000 warning: the code of the lint's WARNINGs.
    Warning,
    /// 42703 undefined_column: a table lacks a column the migration needs.
    UndefinedColumn,
    /// 42804 datatype_mismatch: a needed column has the wrong type or dimensions.
    DatatypeMismatch,
    /// 42501 insufficient_privilege: the caller may not back up, restore or migrate this table.
    InsufficientPrivilege,
    /// XX001 data_corrupted: a copy did not verify (row count or checksum differ); rolled back.
    DataCorrupted,
    /// 42P07 duplicate_table: a restore would overwrite a table that exists.
    DuplicateTable,
    /// 0A000 feature_not_supported: an optional dependency (pgvector) is not installed.
    FeatureNotAvailable,
    /// 42P16 invalid_table_definition: a permanent table would depend on a temporary type.
    InvalidTableDefinition,
    /// 55000 object_not_in_prerequisite_state: memory_guard's records came from another
    /// database (a dump and restore) and are not keyed to this one yet.
    NotReady,
    /// 58000 system_error: memory_guard could not read or write its own records or the catalog
    /// (a query of its own failed): a bug, or an installation changed by hand.
    SystemError,
}

impl SqlState {
    pub const fn code(self) -> &'static str {
        match self {
            SqlState::DataStillExists => "2BP01",
            SqlState::NullValueNotAllowed => "22004",
            SqlState::InvalidParameterValue => "22023",
            SqlState::UndefinedTable => "42P01",
            SqlState::WrongObjectType => "42809",
            SqlState::TriggerProtocolViolated => "39P01",
            SqlState::InvalidObjectDefinition => "42P17",
            SqlState::Warning => "01000",
            SqlState::UndefinedColumn => "42703",
            SqlState::DatatypeMismatch => "42804",
            SqlState::InsufficientPrivilege => "42501",
            SqlState::DataCorrupted => "XX001",
            SqlState::DuplicateTable => "42P07",
            SqlState::FeatureNotAvailable => "0A000",
            SqlState::InvalidTableDefinition => "42P16",
            SqlState::NotReady => "55000",
            SqlState::SystemError => "58000",
        }
    }
}

impl fmt::Display for SqlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal, ready to be reported by the extension's one reporting boundary (`src/report.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GuardError {
    pub sqlstate: SqlState,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl GuardError {
    pub fn new(sqlstate: SqlState, message: impl Into<String>) -> Self {
        GuardError {
            sqlstate,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_mode_has_its_reaction() {
        assert_eq!(CheckMode::Error.reaction(), Some(Reaction::Refuse));
        assert_eq!(CheckMode::Warn.reaction(), Some(Reaction::Warn));
        assert_eq!(CheckMode::Log.reaction(), Some(Reaction::Log));
        assert_eq!(CheckMode::Off.reaction(), None);
    }

    #[test]
    fn codes_are_five_characters_and_never_internal_error() {
        for s in [
            SqlState::DataStillExists,
            SqlState::NullValueNotAllowed,
            SqlState::InvalidParameterValue,
            SqlState::UndefinedTable,
            SqlState::WrongObjectType,
            SqlState::TriggerProtocolViolated,
            SqlState::InvalidObjectDefinition,
            SqlState::Warning,
            SqlState::UndefinedColumn,
            SqlState::DatatypeMismatch,
            SqlState::InsufficientPrivilege,
            SqlState::DataCorrupted,
            SqlState::DuplicateTable,
            SqlState::FeatureNotAvailable,
            SqlState::SystemError,
            SqlState::NotReady,
            SqlState::InvalidTableDefinition,
        ] {
            assert_eq!(s.code().len(), 5);
            assert_ne!(s.code(), "XX000");
        }
    }

    #[test]
    fn builder_keeps_every_part() {
        let e = GuardError::new(SqlState::UndefinedTable, "no such table")
            .detail("d")
            .hint("h");
        assert_eq!(e.to_string(), "no such table");
        assert_eq!(e.detail.as_deref(), Some("d"));
        assert_eq!(e.hint.as_deref(), Some("h"));
        assert_eq!(e.sqlstate.code(), "42P01");
    }
}
