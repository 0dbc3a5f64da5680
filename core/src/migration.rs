//! Carrying memory_notes into memories without losing anything: the column contracts, the
//! seed's "Option A" mapping, and what Option A throws away (kept in a side table).

use crate::error::{GuardError, SqlState};

/// The seed's importance scale; anything else (NULL, `CRITICAL`, unknown words) scores 0.5. The
/// raw text is kept in the side table, so the score is a convenience, not the record.
pub const IMPORTANCE_SCORES: &[(&str, f32)] = &[
    ("critical", 0.95),
    ("high", 0.8),
    ("normal", 0.5),
    ("low", 0.2),
];
pub const DEFAULT_IMPORTANCE_SCORE: f32 = 0.5;

pub fn importance_score(raw: Option<&str>) -> f32 {
    raw.and_then(|r| IMPORTANCE_SCORES.iter().find(|(k, _)| *k == r))
        .map(|(_, s)| *s)
        .unwrap_or(DEFAULT_IMPORTANCE_SCORE)
}

/// The same mapping as a SQL CASE over `column`, so SQL and Rust cannot disagree.
pub fn importance_score_sql(column: &str) -> String {
    let arms: String = IMPORTANCE_SCORES
        .iter()
        .map(|(k, v)| format!(" WHEN '{k}' THEN {v}"))
        .collect();
    format!("(CASE {column}{arms} ELSE {DEFAULT_IMPORTANCE_SCORE} END)::real")
}

/// A column a table must have: its name and the types (as `format_type` prints them, typmod
/// stripped) that are accepted.
pub struct ColumnNeed {
    pub name: &'static str,
    pub types: &'static [&'static str],
}

const fn need(name: &'static str, types: &'static [&'static str]) -> ColumnNeed {
    ColumnNeed { name, types }
}

/// memory_notes as the seed's migrations left it.
pub const SOURCE_COLUMNS: &[ColumnNeed] = &[
    need("id", &["uuid"]),
    need("workspace_id", &["uuid"]),
    need("content", &["text"]),
    need("source", &["text"]),
    need("tags", &["text[]"]),
    need("created_at", &["timestamp with time zone"]),
    need("embedding", &["vector"]),
    need("memory_type", &["text"]),
    need("importance", &["text"]),
    need("updated_at", &["timestamp with time zone"]),
    need("archived", &["boolean"]),
    need("run_id", &["uuid"]),
    need("metadata", &["jsonb"]),
];

/// The columns of memories the mapping writes.
pub const TARGET_COLUMNS: &[ColumnNeed] = &[
    need("id", &["uuid"]),
    need("workspace_id", &["uuid"]),
    need("session_id", &["uuid"]),
    need("content", &["text"]),
    need("summary", &["text"]),
    need("embedding", &["vector"]),
    need("importance_score", &["real", "double precision", "numeric"]),
    need("memory_type", &["text"]),
    need("category", &["text"]),
    need("symbols", &["text[]"]),
    need("strategies", &["text[]"]),
    need("created_at", &["timestamp with time zone"]),
    need("updated_at", &["timestamp with time zone"]),
    need("archived", &["boolean"]),
    need("source", &["text"]),
    need("confidence", &["real", "double precision", "numeric"]),
];

/// A column as read from the catalog: name and `format_type(atttypid, atttypmod)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_name: String,
    /// The type is pg_catalog's or pgvector's, checked by OID: a type of the same name from
    /// any other schema (a domain called `vector`, say) never matches.
    pub trusted_type: bool,
}

fn base_type(t: &str) -> &str {
    // public.vector(1536) → vector (format_type qualifies types off the search_path); text[] stays
    let t = match t.find('(') {
        Some(i) if !t.ends_with("[]") => &t[..i],
        _ => t,
    };
    match t.rfind('.') {
        Some(i) if !t.contains('"') => &t[i + 1..],
        _ => t,
    }
}

/// Checks `table`'s columns against `needs`: 42703 for a missing column, 42804 for a wrong type.
pub fn check_columns(
    table: &str,
    columns: &[Column],
    needs: &[ColumnNeed],
) -> Result<(), GuardError> {
    for n in needs {
        let Some(c) = columns.iter().find(|c| c.name == n.name) else {
            return Err(GuardError::new(
                SqlState::UndefinedColumn,
                format!("migrate_memory_notes: {table} has no column {}", n.name),
            )
            .detail(format!(
                "Expected {} of type {}.",
                n.name,
                n.types.join(" or ")
            ))
            .hint(
                "Point source/target at tables shaped like the seed's memory_notes and memories.",
            ));
        };
        if !c.trusted_type || !n.types.contains(&base_type(&c.type_name)) {
            return Err(GuardError::new(
                SqlState::DatatypeMismatch,
                format!(
                    "migrate_memory_notes: column {table}.{} is {}, expected {}",
                    n.name,
                    c.type_name,
                    n.types.join(" or ")
                ),
            )
            .hint("Change the column's type, or migrate with your own INSERT … SELECT."));
        }
    }
    Ok(())
}

/// Both embedding columns must have the same dimensions (`vector(1536)`), or values would be
/// rejected or silently meaningless.
pub fn check_embedding_dims(source: &Column, target: &Column) -> Result<(), GuardError> {
    if source.type_name != target.type_name {
        return Err(GuardError::new(
            SqlState::DatatypeMismatch,
            format!(
                "migrate_memory_notes: embedding dimensions differ: source is {}, target is {}",
                source.type_name, target.type_name
            ),
        )
        .hint("Re-embed the notes, or give memories.embedding the source's dimensions."));
    }
    Ok(())
}

/// The legacy row, rebuilt: every memory_notes column in order. The same projection is hashed on
/// the source and on memories + side table; equal checksums prove nothing was lost.
pub const LEGACY_ROW_COLUMNS: &[&str] = &[
    "id",
    "workspace_id",
    "content",
    "source",
    "tags",
    "created_at",
    "embedding",
    "memory_type",
    "importance",
    "updated_at",
    "archived",
    "run_id",
    "metadata",
];

/// The legacy row's columns, in `LEGACY_ROW_COLUMNS` order, as rebuilt from a migration's target
/// (alias `m`) and side table (alias `c`): what Option A keeps in memories comes from `m` (tags
/// as symbols), what it drops from the side table.
pub fn rebuilt_legacy_terms(m: &str, c: &str) -> Vec<String> {
    LEGACY_ROW_COLUMNS
        .iter()
        .map(|col| match *col {
            "id" | "workspace_id" | "content" | "source" | "created_at" | "embedding" => {
                format!("{m}.{col}")
            }
            "tags" => format!("{m}.symbols"),
            other => format!("{c}.{other}"),
        })
        .collect()
}

/// The jsonb report of `migrate_memory_notes()`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MigrationReport {
    pub source: String,
    pub target: String,
    pub dry_run: bool,
    pub source_rows: i64,
    pub newly_migrated: i64,
    pub already_present: i64,
    pub checksum: String,
    pub verified: bool,
    pub duration_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(n: &str, t: &str) -> Column {
        Column {
            name: n.into(),
            type_name: t.into(),
            trusted_type: true,
        }
    }

    #[test]
    fn legacy_rows_are_rebuilt_from_the_target_and_the_side_table() {
        let terms = rebuilt_legacy_terms("m", "c");
        assert_eq!(terms.len(), LEGACY_ROW_COLUMNS.len());
        assert_eq!(terms[0], "m.id");
        assert!(terms.contains(&"m.symbols".to_string()));
        assert!(terms.contains(&"c.metadata".to_string()));
        assert!(!terms.iter().any(|t| t.ends_with(".tags")));
    }

    #[test]
    fn a_type_of_the_right_name_from_another_schema_does_not_match() {
        let mut cols: Vec<Column> = TARGET_COLUMNS
            .iter()
            .map(|n| col(n.name, n.types[0]))
            .collect();
        assert!(check_columns("public.memories", &cols, TARGET_COLUMNS).is_ok());
        let emb = cols.iter_mut().find(|c| c.name == "embedding").unwrap();
        emb.type_name = "mallory.vector".into();
        emb.trusted_type = false;
        let e = check_columns("public.memories", &cols, TARGET_COLUMNS).unwrap_err();
        assert_eq!(e.sqlstate, SqlState::DatatypeMismatch);
        assert!(e.message.contains("mallory.vector"), "{}", e.message);
    }

    fn seed_source() -> Vec<Column> {
        SOURCE_COLUMNS
            .iter()
            .map(|n| {
                col(
                    n.name,
                    if n.name == "embedding" {
                        "vector(1536)"
                    } else {
                        n.types[0]
                    },
                )
            })
            .collect()
    }

    #[test]
    fn importance_follows_option_a() {
        assert_eq!(importance_score(Some("critical")), 0.95);
        assert_eq!(importance_score(Some("high")), 0.8);
        assert_eq!(importance_score(Some("normal")), 0.5);
        assert_eq!(importance_score(Some("low")), 0.2);
        assert_eq!(importance_score(Some("CRITICAL")), 0.5);
        assert_eq!(importance_score(Some("urgent")), 0.5);
        assert_eq!(importance_score(None), 0.5);
    }

    #[test]
    fn importance_sql_has_every_arm() {
        let sql = importance_score_sql("s.importance");
        assert_eq!(
            sql,
            "(CASE s.importance WHEN 'critical' THEN 0.95 WHEN 'high' THEN 0.8 WHEN 'normal' THEN 0.5 WHEN 'low' THEN 0.2 ELSE 0.5 END)::real"
        );
    }

    #[test]
    fn the_seed_tables_pass() {
        assert!(check_columns("public.memory_notes", &seed_source(), SOURCE_COLUMNS).is_ok());
    }

    #[test]
    fn a_missing_column_is_42703() {
        let cols: Vec<Column> = seed_source()
            .into_iter()
            .filter(|c| c.name != "metadata")
            .collect();
        let e = check_columns("public.memory_notes", &cols, SOURCE_COLUMNS).unwrap_err();
        assert_eq!(e.sqlstate.code(), "42703");
        assert_eq!(
            e.message,
            "migrate_memory_notes: public.memory_notes has no column metadata"
        );
    }

    #[test]
    fn a_wrong_type_is_42804() {
        let mut cols = seed_source();
        cols.iter_mut()
            .find(|c| c.name == "tags")
            .unwrap()
            .type_name = "jsonb".into();
        let e = check_columns("public.memory_notes", &cols, SOURCE_COLUMNS).unwrap_err();
        assert_eq!(e.sqlstate.code(), "42804");
        assert!(
            e.message.contains("tags is jsonb, expected text[]"),
            "{}",
            e.message
        );
    }

    #[test]
    fn typmods_do_not_matter_for_the_type_check_but_dimensions_do() {
        assert_eq!(base_type("vector(1536)"), "vector");
        assert_eq!(base_type("public.vector(1536)"), "vector");
        assert_eq!(base_type("extensions.vector"), "vector");
        assert_eq!(
            base_type("character varying(20)[]"),
            "character varying(20)[]"
        );
        assert!(check_embedding_dims(
            &col("embedding", "vector(1536)"),
            &col("embedding", "vector(1536)")
        )
        .is_ok());
        let e = check_embedding_dims(
            &col("embedding", "vector(1536)"),
            &col("embedding", "vector(768)"),
        )
        .unwrap_err();
        assert_eq!(e.sqlstate.code(), "42804");
    }

    #[test]
    fn the_legacy_row_is_every_source_column() {
        let names: Vec<&str> = SOURCE_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names, LEGACY_ROW_COLUMNS);
    }
}
