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

/// How much body is scanned between two calls of the caller's tick: small enough that a query
/// cancel is honoured within milliseconds, large enough that the call costs nothing measurable.
const TICK_BYTES: usize = 64 * 1024;

/// The last tokens seen, as far as the qualification of the next identifier needs them. Holding
/// only these (not a token list, not the identifiers' text) keeps memory independent of the body:
/// a body is attacker-sized, up to the 1 GB a text value may hold.
#[derive(Clone, Copy)]
enum Token {
    /// An identifier; whether it names the wanted schema is all a later `.table` asks of it.
    Ident {
        is_schema: bool,
    },
    Dot,
    Other,
}

/// A position in the body that calls `tick` each time it crosses another [`TICK_BYTES`].
struct Cursor<'a, F: FnMut()> {
    body: &'a str,
    pos: usize,
    next_tick: usize,
    tick: F,
}

impl<'a, F: FnMut()> Cursor<'a, F> {
    fn byte(&self, at: usize) -> Option<u8> {
        self.body.as_bytes().get(at).copied()
    }

    /// The character at the cursor. Every byte-wise skip stops on an ASCII byte or at the end,
    /// so the cursor is on a character boundary whenever this is asked.
    fn char(&self) -> Option<char> {
        debug_assert!(self.body.is_char_boundary(self.pos));
        self.body.get(self.pos..)?.chars().next()
    }

    /// Every step goes through here, comment and quoted-name skips included: one unterminated
    /// comment can be the whole body, and cancel must still get through.
    fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.body.len());
        while self.pos >= self.next_tick {
            (self.tick)();
            self.next_tick += TICK_BYTES;
        }
    }

    /// From `--` to the end of the line, the newline left for the caller (it is whitespace).
    fn skip_line_comment(&mut self) {
        while self.byte(self.pos).is_some_and(|b| b != b'\n') {
            self.advance(1);
        }
    }

    /// From `/*` past its matching `*/`, or to the end: Postgres block comments nest.
    fn skip_block_comment(&mut self) {
        self.advance(2);
        let mut depth = 1usize;
        while let Some(b) = self.byte(self.pos) {
            let next = self.byte(self.pos + 1);
            if b == b'/' && next == Some(b'*') {
                depth += 1;
                self.advance(2);
            } else if b == b'*' && next == Some(b'/') {
                depth -= 1;
                self.advance(2);
                if depth == 0 {
                    return;
                }
            } else {
                self.advance(1);
            }
        }
    }

    /// From an opening `"` past the closing one; returns the text in between, `""` still doubled.
    /// An unterminated name runs to the end of the body and still counts as a name.
    fn quoted(&mut self) -> &'a str {
        self.advance(1);
        let start = self.pos;
        while let Some(b) = self.byte(self.pos) {
            if b == b'"' {
                if self.byte(self.pos + 1) == Some(b'"') {
                    self.advance(2);
                    continue;
                }
                break;
            }
            self.advance(1);
        }
        let raw = &self.body[start..self.pos];
        self.advance(1);
        raw
    }

    /// An unquoted name starting at the cursor, as written (not folded).
    fn unquoted(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.char() {
            if !(c.is_alphanumeric() || c == '_' || c == '$') {
                break;
            }
            self.advance(c.len_utf8());
        }
        &self.body[start..self.pos]
    }
}

/// Whether an unquoted name, folded as Postgres folds it, is `want` (a catalog name). Postgres
/// lowers only ASCII letters in a multibyte encoding, so `NOTÉS` is the table `notÉs`, not `notés`.
fn unquoted_is(written: &str, want: &str) -> bool {
    written.len() == want.len()
        && written
            .bytes()
            .zip(want.bytes())
            .all(|(w, t)| w.to_ascii_lowercase() == t)
}

/// Whether a quoted name's text between the quotes (each `"` in it written `""`) is `want`.
fn quoted_is(raw: &str, want: &str) -> bool {
    // The scanner stops a quoted name at any lone `"`, so every `"` in `raw` is the first of a pair.
    let mut raw = raw.bytes();
    let mut want = want.bytes();
    loop {
        match (raw.next(), want.next()) {
            (None, None) => return true,
            (Some(b'"'), Some(b'"')) => {
                raw.next();
            }
            (Some(r), Some(w)) if r == w => {}
            _ => return false,
        }
    }
}

/// Whether a function body names table `schema.table` (names as stored in the catalog): either
/// qualified with that schema or unqualified (resolved through search_path at run time, so it may
/// mean this table). A name qualified with another schema is another table.
pub fn body_references(body: &str, schema: &str, table: &str) -> bool {
    body_references_checked(body, schema, table, || {})
}

/// [`body_references`], calling `tick` after every 64 KiB of body scanned: a body can be as large
/// as any role cares to store, and the caller must be able to honour a cancel (Postgres'
/// CHECK_FOR_INTERRUPTS) meanwhile. Memory used does not grow with the body.
///
/// Comments (`--`, nested `/* */`) are skipped; string literals are scanned as code, because
/// dynamic SQL (`EXECUTE 'SELECT … FROM t'`) is a real reference.
pub fn body_references_checked(body: &str, schema: &str, table: &str, tick: impl FnMut()) -> bool {
    let mut cur = Cursor {
        body,
        pos: 0,
        next_tick: TICK_BYTES,
        tick,
    };
    // Whitespace and comments are not tokens: `s . t` and `s/**/.t` are qualified as `s.t` is.
    let (mut before_last, mut last) = (Token::Other, Token::Other);
    while let Some(c) = cur.char() {
        let next = cur.byte(cur.pos + 1);
        let token = if c == '-' && next == Some(b'-') {
            cur.skip_line_comment();
            continue;
        } else if c == '/' && next == Some(b'*') {
            cur.skip_block_comment();
            continue;
        } else if c == '"' || c.is_alphabetic() || c == '_' {
            let (is_table, is_schema) = if c == '"' {
                let raw = cur.quoted();
                (quoted_is(raw, table), quoted_is(raw, schema))
            } else {
                let written = cur.unquoted();
                (unquoted_is(written, table), unquoted_is(written, schema))
            };
            if is_table {
                match (before_last, last) {
                    (Token::Ident { is_schema: true }, Token::Dot) => return true,
                    (Token::Ident { is_schema: false }, Token::Dot) => {}
                    _ => return true,
                }
            }
            Token::Ident { is_schema }
        } else if c == '.' {
            cur.advance(1);
            Token::Dot
        } else {
            cur.advance(c.len_utf8());
            if c.is_whitespace() {
                continue;
            }
            Token::Other
        };
        (before_last, last) = (last, token);
    }
    false
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

    /// Scans `body` counting ticks; asserts the count is about one per `TICK_BYTES` scanned.
    fn scan_counting_ticks(body: &str, schema: &str, table: &str) -> bool {
        let mut ticks = 0usize;
        let found = body_references_checked(body, schema, table, || ticks += 1);
        assert!(
            ticks.abs_diff(body.len() / TICK_BYTES) <= 1,
            "{ticks} ticks for {} bytes",
            body.len()
        );
        found
    }

    #[test]
    fn a_large_body_is_scanned_to_its_end_with_a_tick_per_64_kib() {
        // Near misses only: a longer name, another schema's table, a quoted name that differs.
        let filler = r#"memory_notes_backup x.memory_notes "Memory_Notes" 'it''s' -- memory_notes
"#;
        let mut body = filler.repeat(50 * 1024 * 1024 / filler.len());
        assert!(!scan_counting_ticks(&body, "public", "memory_notes"));
        body.push_str("public.memory_notes");
        assert!(scan_counting_ticks(&body, "public", "memory_notes"));
    }

    #[test]
    fn one_unterminated_comment_or_name_as_long_as_the_body_still_ticks() {
        let long = "memory_notes ".repeat(8 * 1024 * 1024 / 13);
        assert!(!scan_counting_ticks(
            &format!("select 1 /* {long}"),
            "public",
            "memory_notes"
        ));
        assert!(!scan_counting_ticks(
            &format!("select 1 -- {long}"),
            "public",
            "memory_notes"
        ));
        assert!(!scan_counting_ticks(
            &format!("select \"{long}"),
            "public",
            "memory_notes"
        ));
        assert!(body_references(
            &format!("select 1 /* /* */ */ {long}"),
            "public",
            "memory_notes"
        ));
    }

    #[test]
    fn unterminated_comment_quoted_name_or_string_at_the_end() {
        let at_end = |body: &str, table: &str| body_references(body, "public", table);
        assert!(!at_end("select 1 /* memory_notes", "memory_notes"));
        assert!(!at_end("select 1 /* /* */ memory_notes", "memory_notes"));
        assert!(!at_end("select 1 -- memory_notes", "memory_notes"));
        // An unterminated quoted name runs to the end and is still a name (Postgres would refuse
        // it, but only when the text is run).
        assert!(at_end(r#"select * from "memory_notes"#, "memory_notes"));
        assert!(at_end(r#"select * from "odd"""#, "odd\""));
        assert!(!at_end(r#"select * from "memory_notes "#, "memory_notes"));
        assert!(at_end(
            "EXECUTE 'select * from memory_notes",
            "memory_notes"
        ));
        // A body that ends inside what could start a comment or a name.
        assert!(at_end("select * from memory_notes -", "memory_notes"));
        assert!(at_end("select * from memory_notes /", "memory_notes"));
        assert!(at_end("select * from memory_notes \"", "memory_notes"));
        assert!(!at_end("", "memory_notes"));
        assert!(at_end(r#"select """#, ""));
    }

    #[test]
    fn non_ascii_letters_are_part_of_names() {
        let refs = |body: &str, schema: &str, table: &str| body_references(body, schema, table);
        assert!(!refs(
            "select * from émemory_notes",
            "public",
            "memory_notes"
        ));
        assert!(!refs(
            "select * from memory_notesé",
            "public",
            "memory_notes"
        ));
        assert!(!refs(
            "select * from memory_éotes",
            "public",
            "memory_notes"
        ));
        assert!(refs("select * from notés", "public", "notés"));
        assert!(refs("select * from schéma.notés", "schéma", "notés"));
        assert!(!refs("select * from schéma.notés", "public", "notés"));
        assert!(refs(r#"select * from "Schéma"."Notés""#, "Schéma", "Notés"));
        // Characters that are not letters separate names, multibyte or not.
        assert!(refs("select 1 😀memory_notes😀", "public", "memory_notes"));
        assert!(refs(
            "select * from\u{a0}memory_notes",
            "public",
            "memory_notes"
        ));
        assert!(refs(
            "select * from memory_notes…",
            "public",
            "memory_notes"
        ));
        assert!(refs("/* é */memory_notes", "public", "memory_notes"));
    }

    #[test]
    fn unquoted_names_fold_only_ascii_letters() {
        // Postgres lowers only A-Z in a UTF-8 database: `NOTÉS` names the table `notÉs`.
        assert!(body_references("select * from NOTÉS", "public", "notÉs"));
        assert!(!body_references("select * from NOTÉS", "public", "notés"));
        assert!(body_references(
            "select * from ÉCOLE.Notes",
            "École",
            "notes"
        ));
    }

    #[test]
    fn whitespace_and_comments_around_the_dot_still_qualify() {
        assert!(body_references(
            "select * from public . memory_notes",
            "public",
            "memory_notes"
        ));
        assert!(!body_references(
            "select * from archive\n.\tmemory_notes",
            "public",
            "memory_notes"
        ));
        assert!(!body_references(
            "select * from archive/* why */./* not */memory_notes",
            "public",
            "memory_notes"
        ));
        assert!(!body_references(
            "select * from archive -- line\n.memory_notes",
            "public",
            "memory_notes"
        ));
        // Anything else before the dot leaves the name unqualified, so it may be this table.
        assert!(body_references(
            "select f().memory_notes",
            "public",
            "memory_notes"
        ));
    }
}
