//! The migration audit's findings: what each kind of problem is called, how severe it is, and
//! the fix to suggest. The extension runs the migration in a rolled-back subtransaction and turns
//! what it observes into these.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What went wrong, in the seed audit's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A statement would delete rows (the drop guard's refusal).
    DataLoss,
    /// A function still names a table the migration dropped.
    ApiBreak,
    /// A search_path finding of the lint.
    Security,
    /// The statement fails when the migration is applied a second time.
    Idempotency,
    /// A missing extension, type or function.
    Dependency,
    /// IF NOT EXISTS found the object there: the statement did nothing.
    NoOp,
    /// The statement cannot run inside a transaction, so it was not executed.
    NotTransactional,
    /// The statement failed for another reason.
    Error,
    /// The text does not parse.
    Syntax,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::DataLoss => "data_loss",
            Category::ApiBreak => "api_break",
            Category::Security => "security",
            Category::Idempotency => "idempotency",
            Category::Dependency => "dependency",
            Category::NoOp => "no_op",
            Category::NotTransactional => "not_transactional",
            Category::Error => "error",
            Category::Syntax => "syntax",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The statement's position in the migration, from 1; 0 for findings about the whole text.
    pub seq: i32,
    pub severity: Severity,
    pub category: Category,
    pub object: String,
    pub message: String,
    pub fix: String,
    pub statement: String,
}

/// Statements Postgres refuses inside a transaction block, by what the parser says they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    TransactionControl,
    Vacuum,
    CreateIndexConcurrently,
    DropConcurrently,
    CreateDatabase,
    DropDatabase,
    AlterSystem,
    Tablespace,
    /// `CREATE TRIGGER` without OR REPLACE.
    CreateTrigger,
    /// `CREATE FUNCTION/PROCEDURE` without OR REPLACE.
    CreateFunction,
    CreatePolicy,
    /// `CREATE TABLE` / `CREATE INDEX` without IF NOT EXISTS.
    CreateRelation,
    Other,
}

impl StatementKind {
    /// The kind of object a trigger or policy statement creates, for a DROP naming it.
    fn noun(self) -> &'static str {
        match self {
            StatementKind::CreateTrigger => "trigger",
            StatementKind::CreatePolicy => "policy",
            _ => "object",
        }
    }

    /// Why the audit does not run it, for statements that cannot run in a transaction.
    pub fn not_transactional(self) -> Option<&'static str> {
        Some(match self {
            StatementKind::TransactionControl => {
                "transaction control: the audit runs the migration in one transaction of its own"
            }
            StatementKind::Vacuum => "VACUUM cannot run inside a transaction block",
            StatementKind::CreateIndexConcurrently => {
                "CREATE INDEX CONCURRENTLY cannot run inside a transaction block"
            }
            StatementKind::DropConcurrently => {
                "DROP INDEX CONCURRENTLY cannot run inside a transaction block"
            }
            StatementKind::CreateDatabase | StatementKind::DropDatabase => {
                "CREATE/DROP DATABASE cannot run inside a transaction block"
            }
            StatementKind::AlterSystem => "ALTER SYSTEM cannot run inside a transaction block",
            StatementKind::Tablespace => {
                "CREATE/DROP TABLESPACE cannot run inside a transaction block"
            }
            _ => return None,
        })
    }
}

/// The finding for a statement Postgres would not run in a transaction: it is not executed.
pub fn not_transactional(seq: i32, kind: StatementKind, statement: &str) -> Option<Finding> {
    let why = kind.not_transactional()?;
    let (severity, fix) = match kind {
        StatementKind::TransactionControl => (
            Severity::Info,
            "Leave transaction control to the migration tool (psql --single-transaction, sqitch)."
                .to_string(),
        ),
        _ => (
            Severity::Medium,
            "Run it in a migration of its own, outside a transaction (and outside this audit)."
                .to_string(),
        ),
    };
    Some(Finding {
        seq,
        severity,
        category: Category::NotTransactional,
        object: String::new(),
        message: format!("not executed: {why}"),
        fix,
        statement: statement.to_string(),
    })
}

/// Why calling `function` (its name, unqualified) has an effect the audit's rollback cannot undo,
/// or `None`. By name, so a function of the user's of the same name is not run either: the
/// audit then says less, never does more.
pub fn irreversible_function(function: &str) -> Option<&'static str> {
    Some(match function {
        "nextval" | "setval" => "sequences do not roll back",
        "pg_advisory_lock"
        | "pg_advisory_lock_shared"
        | "pg_try_advisory_lock"
        | "pg_try_advisory_lock_shared"
        | "pg_advisory_unlock"
        | "pg_advisory_unlock_shared"
        | "pg_advisory_unlock_all" => "session-level advisory locks outlive the transaction",
        "dblink" | "dblink_exec" | "dblink_connect" | "dblink_connect_u" | "dblink_send_query"
        | "dblink_open" | "dblink_disconnect" => {
            "it runs SQL in another session, which commits on its own"
        }
        "pg_logical_emit_message" | "pg_backup_start" | "pg_backup_stop" => {
            "it writes to the server's log of changes or backups, outside the transaction"
        }
        f if f.starts_with("pg_replication_origin_") => "replication origins do not roll back",
        "lo_export" | "pg_file_write" | "pg_file_rename" | "pg_file_unlink" => {
            "it changes files on the server"
        }
        "pg_terminate_backend" | "pg_cancel_backend" => "it signals another session",
        "pg_reload_conf" | "pg_rotate_logfile" | "pg_switch_wal" | "pg_create_restore_point" => {
            "it acts on the server, outside any transaction"
        }
        "pg_stat_reset"
        | "pg_stat_reset_shared"
        | "pg_stat_reset_single_table_counters"
        | "pg_stat_reset_single_function_counters"
        | "pg_stat_reset_slru"
        | "pg_stat_reset_replication_slot"
        | "pg_stat_reset_subscription_stats" => "statistics resets do not roll back",
        "pg_create_physical_replication_slot"
        | "pg_create_logical_replication_slot"
        | "pg_drop_replication_slot"
        | "pg_copy_physical_replication_slot"
        | "pg_copy_logical_replication_slot" => "replication slots do not roll back",
        _ => return None,
    })
}

/// The finding for a statement whose effect the audit's rollback could not undo (`what`: what it
/// does, and why): it is not executed.
pub fn not_undoable(seq: i32, what: &str, statement: &str) -> Finding {
    Finding {
        seq,
        severity: Severity::Medium,
        category: Category::NotTransactional,
        object: String::new(),
        message: format!("not executed: {what}, which the audit's rollback cannot undo"),
        fix: "Review it by hand: the audit cannot show what it does without doing it for good."
            .to_string(),
        statement: statement.to_string(),
    }
}

/// A failed statement: a missing dependency (undefined type, function, extension files) or
/// another error. Later statements still run.
pub fn failed(seq: i32, sqlstate: &str, message: &str, statement: &str) -> Finding {
    let dependency = matches!(sqlstate, "42704" | "42883" | "58P01" | "0A000");
    let fix = if dependency {
        match missing_type(message) {
            Some("vector") => {
                "CREATE EXTENSION IF NOT EXISTS vector; (pgvector) before this statement"
                    .to_string()
            }
            Some(t) => format!(
                "Create type {t} (or the extension that provides it) before this statement."
            ),
            None => {
                "Create what it needs before this statement (an earlier migration may be missing)."
                    .to_string()
            }
        }
    } else {
        "Fix the statement; the audit rolled it back and went on.".to_string()
    };
    Finding {
        seq,
        // Either way the migration as written would stop here.
        severity: Severity::High,
        category: if dependency {
            Category::Dependency
        } else {
            Category::Error
        },
        object: missing_type(message)
            .map(|t| format!("type {t}"))
            .unwrap_or_default(),
        message: format!("{message} (SQLSTATE {sqlstate})"),
        fix,
        statement: statement.to_string(),
    }
}

/// `type "vector" does not exist` → `vector`.
fn missing_type(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("type \"")?;
    let end = rest.find('"')?;
    rest[end..]
        .starts_with("\" does not exist")
        .then(|| &rest[..end])
}

/// The statement failed when the migration was applied a second time.
/// What a statement creates, named as the statement writes it (quoted where needed), with the
/// table it is created on for a policy, trigger or index.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub noun: &'static str,
    pub name: String,
    pub on: Option<String>,
}

impl Created {
    pub fn describe(&self) -> String {
        match &self.on {
            Some(table) => format!("{} {} on {table}", self.noun, self.name),
            None => format!("{} {}", self.noun, self.name),
        }
    }

    /// `DROP <noun> IF EXISTS <name> ON <table>`, for what has no IF NOT EXISTS.
    fn drop_if_exists(&self) -> String {
        let noun = self.noun.to_uppercase();
        match &self.on {
            Some(table) => format!("DROP {noun} IF EXISTS {} ON {table};", self.name),
            None => format!("DROP {noun} IF EXISTS {};", self.name),
        }
    }
}

pub fn not_idempotent(
    seq: i32,
    kind: StatementKind,
    created: Option<&Created>,
    sqlstate: &str,
    message: &str,
    statement: &str,
) -> Finding {
    let drop_first = created.map_or_else(
        || format!("DROP {} IF EXISTS … ON …", kind.noun().to_uppercase()),
        |c| c.drop_if_exists(),
    );
    let fix = match kind {
        // Postgres has no CREATE TRIGGER IF NOT EXISTS; OR REPLACE exists since 14.
        StatementKind::CreateTrigger => format!(
            "{} (PostgreSQL 14+), or {drop_first} before it",
            replace_leading(statement, "CREATE TRIGGER", "CREATE OR REPLACE TRIGGER")
        ),
        StatementKind::CreateFunction => {
            let s = replace_leading(statement, "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION");
            replace_leading(&s, "CREATE PROCEDURE", "CREATE OR REPLACE PROCEDURE")
        }
        StatementKind::CreatePolicy => {
            format!("{drop_first} before it (CREATE POLICY has no IF NOT EXISTS)")
        }
        StatementKind::CreateRelation => "Add IF NOT EXISTS.".to_string(),
        _ => "Make it safe to repeat (IF NOT EXISTS, OR REPLACE, or a DROP … IF EXISTS before it)."
            .to_string(),
    };
    Finding {
        seq,
        severity: Severity::Medium,
        category: Category::Idempotency,
        object: created.map(Created::describe).unwrap_or_default(),
        message: format!(
            "fails when the migration is applied again: {message} (SQLSTATE {sqlstate})"
        ),
        fix,
        statement: statement.to_string(),
    }
}

/// Replaces `from` at the start of `statement` (after leading whitespace and comments are
/// skipped by the caller's parser, the statement starts with its keywords), case-insensitively.
fn replace_leading(statement: &str, from: &str, to: &str) -> String {
    let words: Vec<&str> = from.split(' ').collect();
    let statement = skip_leading_comments(statement);
    let mut rest = statement;
    for w in &words {
        let Some(head) = rest.get(..w.len()) else {
            return statement.to_string();
        };
        if !head.eq_ignore_ascii_case(w) {
            return statement.to_string();
        }
        rest = rest[w.len()..].trim_start();
    }
    format!("{to} {rest}")
}

/// The statement without the comments and whitespace Postgres' parser leaves in front of it.
pub fn skip_leading_comments(statement: &str) -> &str {
    let mut s = statement.trim_start();
    loop {
        if s.starts_with("--") {
            s = s.find('\n').map_or("", |i| &s[i + 1..]).trim_start();
        } else if s.starts_with("/*") {
            s = s.find("*/").map_or("", |i| &s[i + 2..]).trim_start();
        } else {
            return s;
        }
    }
}

/// A `… IF NOT EXISTS` that found its object: from the NOTICE Postgres gives ("… already exists,
/// skipping"), recognised by its SQLSTATE.
pub fn no_op(seq: i32, sqlstate: &str, message: &str, statement: &str) -> Option<Finding> {
    matches!(sqlstate, "42P07" | "42701" | "42710" | "42P06" | "42723").then(|| Finding {
        seq,
        severity: Severity::Info,
        category: Category::NoOp,
        object: String::new(),
        message: format!("did nothing: {message}"),
        fix: String::new(),
        statement: statement.to_string(),
    })
}

/// A function whose body names a table the migration dropped: callers break at run time.
pub fn api_break(
    seq: i32,
    function: &str,
    table: &str,
    has_shim: bool,
    statement: &str,
) -> Finding {
    let fix = if has_shim {
        "SELECT memory_guard.install_search_memory_notes_shim(); -- after migrate_memory_notes(), answers from memories".to_string()
    } else {
        format!("Change {function} to use the table that replaces {table}, or drop it.")
    };
    Finding {
        seq,
        severity: Severity::High,
        category: Category::ApiBreak,
        object: format!("function {function}"),
        message: format!("{function} still names {table}, which the migration drops or renames: every call will fail"),
        fix,
        statement: statement.to_string(),
    }
}

/// A syntax error: nothing was executed.
pub fn syntax(message: &str, position: i32, sql: &str) -> Finding {
    let (line, column) = line_column(sql, position);
    Finding {
        seq: 0,
        severity: Severity::Critical,
        category: Category::Syntax,
        object: String::new(),
        message: format!("{message} at line {line}, column {column} (position {position})"),
        fix: "Fix the syntax; nothing was executed.".to_string(),
        statement: String::new(),
    }
}

/// 1-based line and column of a 1-based character position (Postgres' cursorpos).
pub fn line_column(sql: &str, position: i32) -> (usize, usize) {
    let before: String = sql.chars().take((position.max(1) - 1) as usize).collect();
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// Findings in migration order, most severe first within a statement.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| a.seq.cmp(&b.seq).then(b.severity.cmp(&a.severity)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trigger_fix_is_valid_postgres() {
        let stmt = "CREATE TRIGGER update_memories_updated_at\n  BEFORE UPDATE ON memories\n  FOR EACH ROW\n  EXECUTE FUNCTION update_updated_at_column()";
        let created = Created {
            noun: "trigger",
            name: "update_memories_updated_at".into(),
            on: Some("memories".into()),
        };
        let f = not_idempotent(
            7,
            StatementKind::CreateTrigger,
            Some(&created),
            "42710",
            "trigger \"x\" already exists",
            stmt,
        );
        assert!(
            f.fix.starts_with(
                "CREATE OR REPLACE TRIGGER update_memories_updated_at\n  BEFORE UPDATE"
            ),
            "{}",
            f.fix
        );
        assert!(!f.fix.contains("IF NOT EXISTS"));
        assert!(
            f.fix.ends_with(
                "or DROP TRIGGER IF EXISTS update_memories_updated_at ON memories; before it"
            ),
            "{}",
            f.fix
        );
        assert_eq!(f.object, "trigger update_memories_updated_at on memories");
        assert_eq!(f.category.as_str(), "idempotency");
        assert_eq!(f.severity, Severity::Medium);
    }

    #[test]
    fn the_policy_fix_names_the_policy_and_its_table() {
        let created = Created {
            noun: "policy",
            name: "\"Team reads\"".into(),
            on: Some("public.memories".into()),
        };
        let f = not_idempotent(
            3,
            StatementKind::CreatePolicy,
            Some(&created),
            "42710",
            "policy exists",
            "CREATE POLICY \"Team reads\" ON public.memories USING (true)",
        );
        assert_eq!(
            f.fix,
            "DROP POLICY IF EXISTS \"Team reads\" ON public.memories; before it (CREATE POLICY has no IF NOT EXISTS)"
        );
        assert_eq!(f.object, "policy \"Team reads\" on public.memories");
        // Unnamed, it still says what to drop.
        let f = not_idempotent(
            3,
            StatementKind::CreatePolicy,
            None,
            "42710",
            "m",
            "CREATE POLICY",
        );
        assert!(
            f.fix.starts_with("DROP POLICY IF EXISTS … ON …"),
            "{}",
            f.fix
        );
        assert_eq!(f.object, "");
    }

    #[test]
    fn calls_a_rollback_cannot_undo_are_named_with_the_reason() {
        assert_eq!(
            irreversible_function("setval"),
            Some("sequences do not roll back")
        );
        assert!(irreversible_function("dblink_exec").is_some());
        assert!(irreversible_function("pg_advisory_lock").is_some());
        // The transaction-scoped variants and ordinary functions are run.
        assert_eq!(irreversible_function("pg_advisory_xact_lock"), None);
        assert_eq!(irreversible_function("now"), None);
        let f = not_undoable(
            2,
            "calls setval() (sequences do not roll back)",
            "SELECT setval('s', 1)",
        );
        assert_eq!(f.category, Category::NotTransactional);
        assert_eq!(
            f.message,
            "not executed: calls setval() (sequences do not roll back), which the audit's rollback cannot undo"
        );
    }

    #[test]
    fn leading_comments_are_skipped() {
        assert_eq!(
            skip_leading_comments("  -- a; b\n /* c */ CREATE TRIGGER t"),
            "CREATE TRIGGER t"
        );
        assert_eq!(
            replace_leading(
                "-- x\nCREATE FUNCTION f()",
                "CREATE FUNCTION",
                "CREATE OR REPLACE FUNCTION"
            ),
            "CREATE OR REPLACE FUNCTION f()"
        );
    }

    #[test]
    fn leading_keywords_are_matched_case_insensitively() {
        assert_eq!(
            replace_leading(
                "create   trigger t",
                "CREATE TRIGGER",
                "CREATE OR REPLACE TRIGGER"
            ),
            "CREATE OR REPLACE TRIGGER t"
        );
        assert_eq!(
            replace_leading("CREATE TABLE t", "CREATE TRIGGER", "X"),
            "CREATE TABLE t"
        );
        assert_eq!(replace_leading("CR", "CREATE TRIGGER", "X"), "CR");
    }

    #[test]
    fn a_missing_vector_type_is_a_dependency() {
        let f = failed(
            3,
            "42704",
            "type \"vector\" does not exist",
            "CREATE TABLE m (e vector(3))",
        );
        assert_eq!(f.category, Category::Dependency);
        assert_eq!(f.object, "type vector");
        assert!(f.fix.starts_with("CREATE EXTENSION IF NOT EXISTS vector"));
        let other = failed(3, "23505", "duplicate key", "INSERT …");
        assert_eq!(other.category, Category::Error);
    }

    #[test]
    fn no_ops_are_recognised_by_sqlstate() {
        assert!(no_op(
            1,
            "42701",
            "column \"x\" of relation \"t\" already exists, skipping",
            "ALTER …"
        )
        .is_some());
        assert!(no_op(
            1,
            "42P07",
            "relation \"t\" already exists, skipping",
            "CREATE …"
        )
        .is_some());
        assert!(no_op(1, "00000", "table \"t\" does not exist, skipping", "DROP …").is_none());
    }

    #[test]
    fn non_transactional_statements_are_named() {
        assert!(not_transactional(1, StatementKind::Vacuum, "VACUUM").is_some());
        assert_eq!(
            not_transactional(1, StatementKind::TransactionControl, "BEGIN")
                .unwrap()
                .severity,
            Severity::Info
        );
        assert!(not_transactional(1, StatementKind::CreateTrigger, "CREATE TRIGGER …").is_none());
    }

    #[test]
    fn positions_become_lines_and_columns() {
        assert_eq!(line_column("SELECT 1;\nSELEC 2;", 11), (2, 1));
        assert_eq!(line_column("abc", 2), (1, 2));
        let f = syntax(
            "syntax error at or near \"SELEC\"",
            11,
            "SELECT 1;\nSELEC 2;",
        );
        assert!(
            f.message.ends_with("at line 2, column 1 (position 11)"),
            "{}",
            f.message
        );
    }

    #[test]
    fn sorting_keeps_migration_order_then_severity() {
        let mut v = vec![
            no_op(2, "42P07", "m", "s").unwrap(),
            api_break(0, "f()", "t", false, ""),
            failed(2, "42704", "type \"x\" does not exist", "s"),
        ];
        sort(&mut v);
        assert_eq!(
            v.iter().map(|f| (f.seq, f.severity)).collect::<Vec<_>>(),
            vec![
                (0, Severity::High),
                (2, Severity::High),
                (2, Severity::Info)
            ]
        );
    }

    #[test]
    fn findings_serialise_with_snake_case_names() {
        let j = serde_json::to_value(api_break(4, "public.f()", "public.t", true, "DROP TABLE t"))
            .unwrap();
        assert_eq!(j["category"], "api_break");
        assert_eq!(j["severity"], "high");
        assert!(j["fix"]
            .as_str()
            .unwrap()
            .contains("install_search_memory_notes_shim"));
    }
}
