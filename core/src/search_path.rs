//! The search_path lint: which functions need a pinned, safe `search_path`, and what to say when
//! one lacks it.
//!
//! A function without `SET search_path` resolves unqualified names through the *caller's* path.
//! For SECURITY DEFINER functions, trigger and event-trigger functions that is an injection route
//! (a caller who can create objects earlier on the path runs code with the function's rights);
//! for a function that used to pin its path, losing the setting is a silent regression.

use crate::error::{CheckMode, GuardError, SqlState};

/// One entry of a search_path, as Postgres reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathEntry {
    /// `"$user"`: the schema named like the current role, whatever role that is.
    CurrentUser,
    /// A schema name, unquoted and case-folded as Postgres does.
    Schema(String),
}

/// Parses a search_path value the way Postgres' SplitIdentifierString does: comma-separated,
/// whitespace around entries ignored, unquoted names folded to lower case, `"…"` kept exactly
/// (with `""` for a quote inside). `""` alone (what `SET search_path = ''` stores) is an empty path.
pub fn parse_search_path(value: &str) -> Result<Vec<PathEntry>, String> {
    let chars: Vec<char> = value.chars().collect();
    let mut entries = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i == chars.len() {
        return Ok(entries);
    }
    loop {
        skip_ws(&mut i);
        let (name, quoted) = if chars.get(i) == Some(&'"') {
            let mut name = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!("unterminated quoted name in search_path {value:?}"))
                    }
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        name.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        name.push(*c);
                        i += 1;
                    }
                }
            }
            (name, true)
        } else {
            let start = i;
            while i < chars.len() && chars[i] != ',' && !chars[i].is_whitespace() {
                i += 1;
            }
            if start == i {
                return Err(format!("empty name in search_path {value:?}"));
            }
            (
                chars[start..i].iter().collect::<String>().to_lowercase(),
                false,
            )
        };
        if quoted && name == "$user" {
            entries.push(PathEntry::CurrentUser);
        } else if !name.is_empty() {
            entries.push(PathEntry::Schema(name));
        }
        skip_ws(&mut i);
        match chars.get(i) {
            None => return Ok(entries),
            Some(',') => i += 1,
            Some(c) => return Err(format!("unexpected {c:?} in search_path {value:?}")),
        }
    }
}

/// Renders a path for a `SET search_path = …` clause: names quoted only where needed.
pub fn render_search_path(entries: &[PathEntry]) -> String {
    if entries.is_empty() {
        return "''".to_string();
    }
    entries
        .iter()
        .map(|e| match e {
            PathEntry::CurrentUser => "\"$user\"".to_string(),
            PathEntry::Schema(s) => quote_ident(s),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Quotes an identifier unless it is a plain lower-case name. (Keywords are quoted by the
/// extension, which has Postgres' list; the names seen here are schema names.)
pub fn quote_ident(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// The catalog facts about one function that the lint needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFacts {
    /// `schema.name(argtypes)`, as `ALTER FUNCTION` accepts it.
    pub signature: String,
    /// `FUNCTION` or `PROCEDURE`, for the fix statement.
    pub kind: String,
    pub schema: String,
    /// The function's owner (role OID).
    pub owner: u32,
    pub security_definer: bool,
    /// Returns `trigger` or `event_trigger`.
    pub is_trigger: bool,
    /// The current `search_path` setting, if any.
    pub search_path: Option<String>,
    /// The setting before the statement ran: `None` when the function is new (or unknown),
    /// `Some(None)` when it existed without one.
    pub previous_search_path: Option<Option<String>>,
    /// The schemas it resolved its names through, in order, as far as the lint can tell: the
    /// session's search_path when the statement writing it ran, or the default path of
    /// sessions for a lint of existing functions. A fix that pins less than these can break a
    /// function that calls what lives there (`uuid_generate_v4()` in Supabase's `extensions`).
    pub resolves_with: Vec<String>,
}

/// Who may create objects in a schema, as the extension read it from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFacts {
    pub name: String,
    /// Roles that may CREATE in it (owner, grantees, their members; 0 for PUBLIC); superusers,
    /// who may do anything anyway, are left out.
    pub creators: Vec<u32>,
}

impl SchemaFacts {
    /// Whether a role other than `owner` (the function's owner) may plant objects in it.
    fn open_to_others(&self, owner: u32) -> bool {
        self.creators.iter().any(|&r| r != owner)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found with one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub function: String,
    /// Stable rule name: `search_path_missing`, `search_path_regression`, `search_path_unsafe_schema`,
    /// `search_path_pg_temp_not_last`, `search_path_mutable`.
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub detail: String,
    /// The exact statement that fixes it.
    pub fix: String,
    /// The search_path value the fix sets, as written in `SET search_path = …`.
    pub path: String,
}

impl Finding {
    /// The report for DDL time: in error mode an ERROR (42P17, the definition is unsafe), in
    /// warn mode a WARNING (01000). The HINT is the fix.
    pub fn to_report(&self, mode: CheckMode) -> GuardError {
        // In error mode the statement is rolled back, so the function may not exist to ALTER.
        let (state, hint) = match mode {
            CheckMode::Error => (
                SqlState::InvalidObjectDefinition,
                format!("Add SET search_path = {} to the statement.", self.path),
            ),
            _ => (SqlState::Warning, format!("Pin it: {}", self.fix)),
        };
        GuardError::new(state, self.message.clone())
            .detail(self.detail.clone())
            .hint(hint)
    }
}

fn why_relevant(f: &FunctionFacts) -> Option<&'static str> {
    if f.security_definer {
        Some("a SECURITY DEFINER function")
    } else if f.is_trigger {
        Some("a trigger function")
    } else if matches!(f.previous_search_path, Some(Some(_))) {
        Some("a function that pinned its search_path before")
    } else {
        None
    }
}

/// The path to suggest when a function has none: its own schema, then the schemas it resolved
/// its names through, each only if no role but the owner may create objects in it (an unsafe
/// one is left out: the body must qualify what it uses there), and pg_temp last for SECURITY
/// DEFINER functions (pg_temp is searched first unless listed). Schemas that do not exist
/// (absent from `schemas`) and the implicit pg_catalog and pg_temp are left out.
fn suggested_path(f: &FunctionFacts, schemas: &[SchemaFacts]) -> Vec<PathEntry> {
    let mut p: Vec<PathEntry> = Vec::new();
    for name in std::iter::once(&f.schema).chain(&f.resolves_with) {
        let entry = PathEntry::Schema(name.clone());
        let safe = schemas
            .iter()
            .any(|k| &k.name == name && !k.open_to_others(f.owner));
        let own_schema = name == &f.schema;
        if (safe || (own_schema && !schemas.iter().any(|k| &k.name == name)))
            && name != "pg_catalog"
            && name != "pg_temp"
            && !p.contains(&entry)
        {
            p.push(entry);
        }
    }
    if f.security_definer {
        p.push(PathEntry::Schema("pg_temp".into()));
    }
    p
}

/// `entries` without what is unsafe for `f` (a schema a role other than its owner may create
/// in, "$user"), with pg_temp last for SECURITY DEFINER.
fn safe_path(f: &FunctionFacts, entries: &[PathEntry], schemas: &[SchemaFacts]) -> Vec<PathEntry> {
    let mut p: Vec<PathEntry> = entries
        .iter()
        .filter(|e| match e {
            PathEntry::CurrentUser => false,
            PathEntry::Schema(s) => !schemas
                .iter()
                .any(|k| &k.name == s && k.open_to_others(f.owner)),
        })
        .cloned()
        .collect();
    if f.security_definer {
        p.retain(|e| *e != PathEntry::Schema("pg_temp".into()));
        p.push(PathEntry::Schema("pg_temp".into()));
    }
    p
}

/// Lints one function. `schemas` describes every schema named in its path (unknown schemas are
/// taken as missing, which is safe: nobody can create objects in them without creating them).
pub fn lint_function(f: &FunctionFacts, schemas: &[SchemaFacts]) -> Vec<Finding> {
    let mut out = Vec::new();
    let relevant = why_relevant(f);
    let finding = |rule, severity, message: String, detail: String, path: String| Finding {
        function: f.signature.clone(),
        rule,
        severity,
        message,
        detail,
        fix: format!(
            "ALTER {} {} SET search_path = {};",
            f.kind, f.signature, path
        ),
        path,
    };

    let Some(value) = &f.search_path else {
        match (relevant, &f.previous_search_path) {
            (_, Some(Some(old))) => out.push(finding(
                "search_path_regression",
                Severity::Warning,
                format!("{} {} lost its pinned search_path", f.kind.to_lowercase(), f.signature),
                format!("It had search_path={old} before this statement and now has none, so it resolves names through each caller's search_path."),
                // The old path again, as far as it is still safe: a schema others may now create
                // in, or "$user", is left out, and pg_temp goes last for SECURITY DEFINER.
                match parse_search_path(old) {
                    Ok(entries) => render_search_path(&safe_path(f, &entries, schemas)),
                    Err(_) => render_search_path(&suggested_path(f, schemas)),
                },
            )),
            (Some(why), _) => out.push(finding(
                "search_path_missing",
                Severity::Warning,
                format!("{} {} has no pinned search_path", f.kind.to_lowercase(), f.signature),
                format!("It is {why}, and resolves names through the search_path of whoever fires or calls it."),
                render_search_path(&suggested_path(f, schemas)),
            )),
            (None, _) => out.push(finding(
                "search_path_mutable",
                Severity::Info,
                format!("{} {} has a role mutable search_path", f.kind.to_lowercase(), f.signature),
                "It is not security-relevant, but its behaviour depends on the caller's search_path.".to_string(),
                render_search_path(&suggested_path(f, schemas)),
            )),
        }
        return out;
    };

    let Some(why) = relevant else { return out };
    let entries = match parse_search_path(value) {
        Ok(e) => e,
        Err(e) => {
            out.push(finding(
                "search_path_unsafe_schema",
                Severity::Warning,
                format!(
                    "{} {} has a search_path memory_guard cannot read",
                    f.kind.to_lowercase(),
                    f.signature
                ),
                e,
                render_search_path(&suggested_path(f, schemas)),
            ));
            return out;
        }
    };
    if entries.is_empty() {
        return out; // search_path = '': everything must be schema-qualified, nothing to hijack
    }
    let unsafe_entries: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            PathEntry::CurrentUser => {
                Some("\"$user\" (a different schema for each role)".to_string())
            }
            PathEntry::Schema(s) => schemas
                .iter()
                .find(|k| &k.name == s && k.open_to_others(f.owner))
                .map(|_| {
                    format!(
                        "{} (roles other than the function's owner may create objects in it)",
                        quote_ident(s)
                    )
                }),
        })
        .collect();
    let fixed = safe_path(f, &entries, schemas);
    if !unsafe_entries.is_empty() {
        out.push(finding(
            "search_path_unsafe_schema",
            Severity::Warning,
            format!(
                "{} {} pins an unsafe search_path",
                f.kind.to_lowercase(),
                f.signature
            ),
            format!(
                "It is {why} and its search_path={value} includes {}.",
                unsafe_entries.join(", ")
            ),
            render_search_path(&fixed),
        ));
    }
    let pg_temp_last = entries.last() == Some(&PathEntry::Schema("pg_temp".into()));
    if f.security_definer && !pg_temp_last {
        out.push(finding(
            "search_path_pg_temp_not_last",
            Severity::Warning,
            format!("{} {} does not list pg_temp last", f.kind.to_lowercase(), f.signature),
            format!("It is a SECURITY DEFINER function with search_path={value}; unless pg_temp is listed last, any caller's temporary objects are searched first."),
            render_search_path(&fixed),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str) -> PathEntry {
        PathEntry::Schema(name.into())
    }

    fn func() -> FunctionFacts {
        FunctionFacts {
            signature: "public.update_updated_at_column()".into(),
            kind: "FUNCTION".into(),
            schema: "public".into(),
            owner: 10,
            security_definer: false,
            is_trigger: true,
            search_path: None,
            previous_search_path: None,
            resolves_with: vec![],
        }
    }

    #[test]
    fn the_fix_keeps_the_schemas_the_function_resolved_its_names_through() {
        // Supabase: created under search_path "$user", public, extensions; uuid_generate_v4()
        // lives in extensions. Pinning only public would make every call fail.
        let schemas = vec![
            SchemaFacts {
                name: "public".into(),
                creators: vec![10],
            },
            SchemaFacts {
                name: "extensions".into(),
                creators: vec![10],
            },
            SchemaFacts {
                name: "scratch".into(),
                creators: vec![10, 0],
            },
        ];
        let f = FunctionFacts {
            security_definer: true,
            resolves_with: vec![
                "public".into(),
                "extensions".into(),
                "scratch".into(),    // open to every role: left out
                "pg_catalog".into(), // implicit
                "missing".into(),    // does not exist
            ],
            ..func()
        };
        let findings = lint_function(&f, &schemas);
        assert_eq!(findings[0].path, "public, extensions, pg_temp");
        assert_eq!(
            findings[0].fix,
            "ALTER FUNCTION public.update_updated_at_column() SET search_path = public, extensions, pg_temp;"
        );
    }

    #[test]
    fn a_regression_fix_leaves_out_what_is_no_longer_safe() {
        // It pinned "$user", public, app; public is now open to every role.
        let f = FunctionFacts {
            security_definer: true,
            previous_search_path: Some(Some("\"$user\", public, app".into())),
            ..func()
        };
        let findings = lint_function(&f, &public_open());
        assert_eq!(findings[0].rule, "search_path_regression");
        assert_eq!(findings[0].path, "app, pg_temp");
    }

    fn public_owned() -> Vec<SchemaFacts> {
        vec![SchemaFacts {
            name: "public".into(),
            creators: vec![10],
        }]
    }

    fn public_open() -> Vec<SchemaFacts> {
        vec![
            // public: PUBLIC may create; app: owned by the functions' owner (10) alone.
            SchemaFacts {
                name: "public".into(),
                creators: vec![10, 0],
            },
            SchemaFacts {
                name: "app".into(),
                creators: vec![10],
            },
        ]
    }

    #[test]
    fn parses_as_postgres_does() {
        assert_eq!(parse_search_path("public").unwrap(), vec![s("public")]);
        assert_eq!(
            parse_search_path("Public , App").unwrap(),
            vec![s("public"), s("app")]
        );
        assert_eq!(
            parse_search_path("\"$user\", public").unwrap(),
            vec![PathEntry::CurrentUser, s("public")]
        );
        assert_eq!(
            parse_search_path("\"My Schema\",pg_temp").unwrap(),
            vec![s("My Schema"), s("pg_temp")]
        );
        assert_eq!(
            parse_search_path("\"a,b\"\"c\"").unwrap(),
            vec![s("a,b\"c")]
        );
        assert_eq!(parse_search_path("\"\"").unwrap(), vec![]);
        assert_eq!(parse_search_path("").unwrap(), vec![]);
        assert!(parse_search_path("a,,b").is_err());
        assert!(parse_search_path("\"open").is_err());
        assert!(parse_search_path("a b").is_err());
        // $user unquoted is just a name.
        assert_eq!(parse_search_path("$user").unwrap(), vec![s("$user")]);
    }

    #[test]
    fn renders_back_to_valid_sql() {
        assert_eq!(
            render_search_path(&[s("public"), s("pg_temp")]),
            "public, pg_temp"
        );
        assert_eq!(
            render_search_path(&[s("My Schema"), PathEntry::CurrentUser]),
            "\"My Schema\", \"$user\""
        );
        assert_eq!(render_search_path(&[]), "''");
        let v = "\"a,b\"\"c\", x";
        assert_eq!(
            parse_search_path(&render_search_path(&parse_search_path(v).unwrap())).unwrap(),
            parse_search_path(v).unwrap()
        );
    }

    #[test]
    fn seed_regression_reports_the_lost_setting() {
        let f = FunctionFacts {
            previous_search_path: Some(Some("public".into())),
            ..func()
        };
        // Postgres 15's public: only its owner may create in it.
        let found = lint_function(&f, &public_owned());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "search_path_regression");
        assert!(
            found[0].detail.contains("search_path=public"),
            "{}",
            found[0].detail
        );
        assert_eq!(
            found[0].fix,
            "ALTER FUNCTION public.update_updated_at_column() SET search_path = public;"
        );
    }

    #[test]
    fn a_plain_function_that_lost_its_setting_is_a_regression_too() {
        let f = FunctionFacts {
            is_trigger: false,
            previous_search_path: Some(Some("app".into())),
            ..func()
        };
        assert_eq!(
            lint_function(&f, &public_open())[0].rule,
            "search_path_regression"
        );
    }

    #[test]
    fn trigger_and_definer_functions_need_a_setting() {
        let found = lint_function(&func(), &public_open());
        assert_eq!(found[0].rule, "search_path_missing");
        assert_eq!(found[0].severity, Severity::Warning);
        let definer = FunctionFacts {
            is_trigger: false,
            security_definer: true,
            ..func()
        };
        let found = lint_function(&definer, &public_open());
        assert_eq!(
            found[0].fix,
            "ALTER FUNCTION public.update_updated_at_column() SET search_path = pg_temp;"
        );
        let in_app = FunctionFacts {
            schema: "app".into(),
            signature: "app.f()".into(),
            ..definer
        };
        assert_eq!(
            lint_function(&in_app, &public_open())[0].fix,
            "ALTER FUNCTION app.f() SET search_path = app, pg_temp;"
        );
    }

    #[test]
    fn other_functions_without_a_setting_are_info() {
        let f = FunctionFacts {
            is_trigger: false,
            ..func()
        };
        let found = lint_function(&f, &public_open());
        assert_eq!(found[0].rule, "search_path_mutable");
        assert_eq!(found[0].severity, Severity::Info);
    }

    #[test]
    fn a_schema_others_can_create_in_is_unsafe() {
        let f = FunctionFacts {
            search_path: Some("public".into()),
            ..func()
        };
        let found = lint_function(&f, &public_open());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "search_path_unsafe_schema");
        assert_eq!(
            found[0].fix,
            "ALTER FUNCTION public.update_updated_at_column() SET search_path = '';"
        );
        let f = FunctionFacts {
            search_path: Some("app, public".into()),
            ..func()
        };
        assert_eq!(
            lint_function(&f, &public_open())[0].fix,
            "ALTER FUNCTION public.update_updated_at_column() SET search_path = app;"
        );
    }

    #[test]
    fn trusted_and_empty_paths_are_safe() {
        for p in ["app", "\"\"", "pg_catalog, app", "app, pg_temp"] {
            let f = FunctionFacts {
                search_path: Some(p.into()),
                ..func()
            };
            assert!(lint_function(&f, &public_open()).is_empty(), "{p}");
        }
        let definer = FunctionFacts {
            security_definer: true,
            is_trigger: false,
            search_path: Some("app, pg_temp".into()),
            ..func()
        };
        assert!(lint_function(&definer, &public_open()).is_empty());
        let definer = FunctionFacts {
            security_definer: true,
            search_path: Some("\"\"".into()),
            ..func()
        };
        assert!(lint_function(&definer, &public_open()).is_empty());
    }

    #[test]
    fn a_schema_owned_by_another_role_is_unsafe_for_this_owner() {
        let schemas = vec![SchemaFacts {
            name: "app".into(),
            creators: vec![20],
        }];
        let f = FunctionFacts {
            search_path: Some("app".into()),
            ..func()
        };
        assert_eq!(
            lint_function(&f, &schemas)[0].rule,
            "search_path_unsafe_schema"
        );
        let owned = FunctionFacts { owner: 20, ..f };
        assert!(lint_function(&owned, &schemas).is_empty());
    }

    #[test]
    fn definer_needs_pg_temp_last() {
        let f = FunctionFacts {
            security_definer: true,
            search_path: Some("pg_temp, app".into()),
            ..func()
        };
        let found = lint_function(&f, &public_open());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "search_path_pg_temp_not_last");
        assert_eq!(
            found[0].fix,
            "ALTER FUNCTION public.update_updated_at_column() SET search_path = app, pg_temp;"
        );
    }

    #[test]
    fn current_user_entry_is_unsafe() {
        let f = FunctionFacts {
            search_path: Some("\"$user\", app".into()),
            ..func()
        };
        let found = lint_function(&f, &public_open());
        assert_eq!(found[0].rule, "search_path_unsafe_schema");
        assert!(found[0].detail.contains("\"$user\""));
    }

    #[test]
    fn applying_the_fix_leaves_nothing_to_find() {
        let cases = [
            FunctionFacts { ..func() },
            FunctionFacts {
                security_definer: true,
                ..func()
            },
            FunctionFacts {
                search_path: Some("\"$user\", public".into()),
                security_definer: true,
                ..func()
            },
            FunctionFacts {
                search_path: Some("pg_temp, app".into()),
                security_definer: true,
                ..func()
            },
        ];
        for f in cases {
            for finding in lint_function(&f, &public_open()) {
                let value = finding
                    .fix
                    .split(" SET search_path = ")
                    .nth(1)
                    .unwrap()
                    .trim_end_matches(';');
                let value = if value == "''" {
                    "\"\"".to_string()
                } else {
                    value.to_string()
                };
                let fixed = FunctionFacts {
                    search_path: Some(value),
                    previous_search_path: None,
                    ..f.clone()
                };
                assert!(
                    lint_function(&fixed, &public_open()).is_empty(),
                    "{:?} after {}",
                    f,
                    finding.fix
                );
            }
        }
    }

    #[test]
    fn reports_carry_the_fix_as_hint_and_the_mode_sets_the_code() {
        let f = FunctionFacts {
            previous_search_path: Some(Some("public".into())),
            ..func()
        };
        let finding = &lint_function(&f, &public_owned())[0];
        let warn = finding.to_report(CheckMode::Warn);
        assert_eq!(warn.sqlstate.code(), "01000");
        assert_eq!(warn.hint.as_deref(), Some("Pin it: ALTER FUNCTION public.update_updated_at_column() SET search_path = public;"));
        let error = finding.to_report(CheckMode::Error);
        assert_eq!(error.sqlstate.code(), "42P17");
        assert_eq!(
            error.hint.as_deref(),
            Some("Add SET search_path = public to the statement.")
        );
        assert_eq!(
            warn.message,
            "function public.update_updated_at_column() lost its pinned search_path"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("public"), "public");
        assert_eq!(quote_ident("My Schema"), "\"My Schema\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
    }
}
