//! Reading SQL text the way Postgres would, for the few places memory_guard has to.

/// Renders `s` as a SQL string literal (`'it''s'`), for statements shown in HINTs.
pub fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    if s.contains('\\') {
        // A backslash only stays literal inside E'' once doubled; plain '' depends on
        // standard_conforming_strings, which a hint must not assume.
        out.push('E');
    }
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// An identifier, already folded: unquoted ones to lower case, quoted ones kept exactly.
    Ident(String),
    Dot,
    Other,
}

/// Splits a function body into identifier tokens and dots. Comments are skipped; string literals
/// are scanned as code, because dynamic SQL (`EXECUTE 'SELECT … FROM t'`) is a real reference.
fn tokens(body: &str) -> Vec<Token> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Postgres block comments nest.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            let mut ident = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        ident.push('"');
                        i += 2;
                        continue;
                    }
                    break;
                }
                ident.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Ident(ident));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(Token::Ident(word.to_lowercase()));
        } else if c == '.' {
            out.push(Token::Dot);
            i += 1;
        } else {
            if !c.is_whitespace() {
                out.push(Token::Other);
            }
            i += 1;
        }
    }
    out
}

/// Whether a function body names table `schema.table` (names as stored in the catalog): either
/// qualified with that schema or unqualified (resolved through search_path at run time, so it may
/// mean this table). A name qualified with another schema is another table.
pub fn body_references(body: &str, schema: &str, table: &str) -> bool {
    let toks = tokens(body);
    toks.iter().enumerate().any(|(i, t)| {
        if *t != Token::Ident(table.to_string()) {
            return false;
        }
        let qualified_by = match (
            i.checked_sub(2).map(|j| &toks[j]),
            i.checked_sub(1).map(|j| &toks[j]),
        ) {
            (Some(Token::Ident(q)), Some(Token::Dot)) => Some(q.as_str()),
            _ => None,
        };
        match qualified_by {
            None => true,
            Some(q) => q == schema,
        }
    })
}

/// Whether a library list setting (`shared_preload_libraries` and friends: comma-separated,
/// names optionally quoted or given as `$libdir/name`) names `library`.
pub fn library_list_names(setting: &str, library: &str) -> bool {
    setting
        .split(',')
        .map(|e| e.trim().trim_matches('"'))
        .any(|e| {
            let e = e.strip_prefix("$libdir/").unwrap_or(e);
            e == library || e.strip_suffix(".so") == Some(library)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_lists_are_read_as_postgres_writes_them() {
        assert!(library_list_names("memory_guard", "memory_guard"));
        assert!(library_list_names(
            "pg_stat_statements, \"memory_guard\"",
            "memory_guard"
        ));
        assert!(library_list_names(
            "$libdir/memory_guard.so",
            "memory_guard"
        ));
        assert!(!library_list_names("", "memory_guard"));
        assert!(!library_list_names("memory_guard_extra", "memory_guard"));
    }

    #[test]
    fn literal_quoting() {
        assert_eq!(quote_literal("public.t"), "'public.t'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b"), r"E'a\\b'");
    }

    #[test]
    fn finds_unqualified_and_qualified_references() {
        let body =
            "BEGIN RETURN QUERY SELECT n.id FROM memory_notes n WHERE n.archived = false; END";
        assert!(body_references(body, "public", "memory_notes"));
        assert!(body_references(
            "select * from public.memory_notes",
            "public",
            "memory_notes"
        ));
        assert!(body_references(
            "select * from PUBLIC.Memory_Notes",
            "public",
            "memory_notes"
        ));
    }

    #[test]
    fn another_schema_or_a_longer_name_is_not_a_reference() {
        assert!(!body_references(
            "select * from archive.memory_notes",
            "public",
            "memory_notes"
        ));
        assert!(!body_references(
            "select * from memory_notes_backup",
            "public",
            "memory_notes"
        ));
        assert!(!body_references(
            "select my_memory_notes()",
            "public",
            "memory_notes"
        ));
    }

    #[test]
    fn comments_do_not_count_but_dynamic_sql_does() {
        assert!(!body_references(
            "-- reads memory_notes\nselect 1",
            "public",
            "memory_notes"
        ));
        assert!(!body_references(
            "/* memory_notes /* nested */ still comment */ select 1",
            "public",
            "memory_notes"
        ));
        assert!(body_references(
            "EXECUTE 'DELETE FROM memory_notes WHERE x'",
            "public",
            "memory_notes"
        ));
    }

    #[test]
    fn quoted_identifiers_match_exactly() {
        assert!(body_references(
            r#"select * from "Memory Notes""#,
            "public",
            "Memory Notes"
        ));
        assert!(!body_references(
            r#"select * from "MEMORY_NOTES""#,
            "public",
            "memory_notes"
        ));
        assert!(body_references(
            r#"select * from "odd""name""#,
            "public",
            "odd\"name"
        ));
        // An unquoted upper-case name folds to lower case, so it cannot name a mixed-case table.
        assert!(!body_references(
            "select * from Memory_Notes",
            "public",
            "Memory_Notes"
        ));
    }
}
