//! Which `ALTER COLUMN … TYPE` conversions can lose information. Types are compared as Postgres
//! prints them (`format_type`): a narrower length, precision or scale, other vector dimensions, a
//! narrower type, or any USING expression. Known widenings pass; an unknown change is reported,
//! because a guard that guesses "probably fine" is no guard.

use crate::error::{CheckMode, GuardError, SqlState};

/// `character varying(20)` → ("character varying", [20]); `public.vector(3)` → ("vector", [3]).
fn split(t: &str) -> (&str, Vec<i64>) {
    let t = t.trim();
    let (base, args) = match (t.find('('), t.rfind(')')) {
        (Some(o), Some(c)) if c > o => (t[..o].trim(), &t[o + 1..c]),
        _ => (t, ""),
    };
    let base = match base.rfind('.') {
        Some(i) if !base.contains('"') => &base[i + 1..],
        _ => base,
    };
    (
        base,
        args.split(',')
            .filter_map(|a| a.trim().parse().ok())
            .collect(),
    )
}

const INTEGERS: &[&str] = &["smallint", "integer", "bigint"];

/// Known widenings between different types: (from, to).
fn widens(from: &str, to: &str) -> bool {
    let rank = |t: &str| INTEGERS.iter().position(|i| *i == t);
    if let (Some(a), Some(b)) = (rank(from), rank(to)) {
        return b >= a;
    }
    matches!(
        (from, to),
        (_, "text")
            | ("smallint" | "integer" | "bigint", "numeric")
            | ("smallint" | "integer", "double precision")
            | ("real", "double precision")
            | ("character varying" | "character", "character varying") // unbounded target checked below
            | ("date", "timestamp without time zone" | "timestamp with time zone")
            | ("timestamp without time zone", "timestamp with time zone")
            | ("json", "jsonb")
            | ("jsonb", "json")
    )
}

/// Why converting `old` to `new` can lose information, or `None` when it cannot.
pub fn lossy(old: &str, new: &str, using: bool) -> Option<String> {
    let by_type = lossy_by_type(old, new);
    if by_type.is_none() && using {
        return Some(
            "it is converted with a USING expression, which can change or drop what is stored"
                .into(),
        );
    }
    by_type
}

fn lossy_by_type(old: &str, new: &str) -> Option<String> {
    let (ob, oa) = split(old);
    let (nb, na) = split(new);
    if ob == nb {
        return match ob {
            "vector" | "halfvec" | "sparsevec" if oa != na => Some(format!(
                "its dimensions change from {} to {}",
                show(&oa),
                show(&na)
            )),
            "character varying" | "character" | "bit" | "bit varying" => narrower_length(&oa, &na),
            "numeric" => match (oa.as_slice(), na.as_slice()) {
                (_, []) => None,
                ([], _) => Some("unconstrained numeric values get a precision and scale".into()),
                (o, n) => {
                    let (op, os) = (o[0], *o.get(1).unwrap_or(&0));
                    let (np, ns) = (n[0], *n.get(1).unwrap_or(&0));
                    (ns < os || np - ns < op - os)
                        .then(|| format!("numeric({op},{os}) narrows to numeric({np},{ns})"))
                }
            },
            _ if oa.len() == 1 && na.len() == 1 && na[0] < oa[0] => {
                Some(format!("its precision drops from {} to {}", oa[0], na[0]))
            }
            _ => None,
        };
    }
    if widens(ob, nb) {
        // varchar(n) → varchar: unbounded is wider; a bounded target needs the length check.
        if nb == "character varying" && !na.is_empty() {
            return narrower_length(&oa, &na).or_else(|| {
                (oa.is_empty()).then(|| "values longer than the new length would be cut".into())
            });
        }
        return None;
    }
    Some(format!("{old} values do not all fit {new}"))
}

fn show(a: &[i64]) -> String {
    a.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn narrower_length(old: &[i64], new: &[i64]) -> Option<String> {
    match (old.first(), new.first()) {
        (_, None) => None,
        (None, Some(n)) => Some(format!("values longer than {n} would be cut")),
        (Some(o), Some(n)) if n < o => Some(format!("the length limit drops from {o} to {n}")),
        _ => None,
    }
}

/// The report for a lossy change of a column holding values.
/// The report of a lossy conversion of `table`'s column `column` (quoted) by `command` (ALTER
/// TABLE, or ALTER TYPE … CASCADE rewriting a typed table).
pub fn report(
    command: &str,
    table: &str,
    column: &str,
    old: &str,
    new: &str,
    why: &str,
    mode: CheckMode,
) -> GuardError {
    let (state, hint) = match mode {
        CheckMode::Error => (
            SqlState::DataStillExists,
            format!(
                "Back the table up first (SELECT memory_guard.backup_table({});), or ask a superuser for SET memory_guard.type_change_mode = warn.",
                crate::sql_text::quote_literal(table)
            ),
        ),
        _ => (SqlState::Warning, "Check the converted values; a backup taken before (memory_guard.backup_table) keeps the originals.".to_string()),
    };
    GuardError::new(
        state,
        format!(
            "{command} converts column {table}.{column} from {old} to {new}, which can lose information"
        ),
    )
    .detail(format!("The column holds values, and {why}."))
    .hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widenings_pass() {
        for (o, n) in [
            ("integer", "bigint"),
            ("smallint", "integer"),
            ("character varying(20)", "character varying(40)"),
            ("character varying(20)", "text"),
            ("character varying(20)", "character varying"),
            ("integer", "numeric"),
            ("real", "double precision"),
            ("numeric(10,2)", "numeric(12,2)"),
            ("numeric(10,2)", "numeric"),
            ("date", "timestamp with time zone"),
            ("json", "jsonb"),
            ("public.vector(3)", "vector(3)"),
        ] {
            assert_eq!(lossy(o, n, false), None, "{o} -> {n}");
        }
    }

    #[test]
    fn narrowings_are_reported() {
        for (o, n) in [
            ("character varying(40)", "character varying(20)"),
            ("text", "character varying(20)"),
            ("bigint", "integer"),
            ("double precision", "real"),
            ("numeric(10,2)", "numeric(10,0)"),
            ("numeric(10,2)", "numeric(6,2)"),
            ("numeric", "numeric(10,2)"),
            ("numeric", "integer"),
            ("timestamp with time zone", "date"),
            ("vector(1536)", "vector(768)"),
            ("public.vector(1536)", "public.vector(3072)"),
            ("jsonb", "boolean"),
            ("time(6) without time zone", "time(0) without time zone"),
        ] {
            assert!(lossy(o, n, false).is_some(), "{o} -> {n}");
        }
        assert!(lossy("integer", "bigint", true).unwrap().contains("USING"));
        assert_eq!(
            lossy("vector(1536)", "vector(768)", false).unwrap(),
            "its dimensions change from 1536 to 768"
        );
    }

    #[test]
    fn reports_name_the_column_and_follow_the_mode() {
        let w = report(
            "ALTER TABLE",
            "public.t",
            "c",
            "bigint",
            "integer",
            "bigint values do not all fit integer",
            CheckMode::Warn,
        );
        assert_eq!(w.sqlstate.code(), "01000");
        assert_eq!(w.message, "ALTER TABLE converts column public.t.c from bigint to integer, which can lose information");
        let e = report(
            "ALTER TYPE",
            "app.notes",
            "c",
            "a",
            "b",
            "x",
            CheckMode::Error,
        );
        assert_eq!(e.sqlstate.code(), "2BP01");
        assert!(e
            .message
            .starts_with("ALTER TYPE converts column app.notes.c"));
        assert!(e.hint.unwrap().contains("backup_table('app.notes')"));
    }
}
