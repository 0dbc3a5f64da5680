//! `memory_guard.audit(migration_sql)`: runs a migration statement by statement inside a
//! subtransaction that is always rolled back, with the drop guard and the lint recording findings
//! instead of raising, then applies it a second time to see what fails on a re-run.
//!
//! Statement boundaries come from Postgres' own parser (`raw_parser`). Each statement runs in a
//! subtransaction of its own, so one failure does not hide the problems after it. What the
//! findings say is decided in `memory_guard_core::audit`.

use crate::findings::{self, record};
use crate::report;
use crate::session::SessionLocal;
use memory_guard_core::audit::{self as rules, Finding, StatementKind};
use memory_guard_core::{GuardError, SqlState};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::pg_sys::PgTryBuilder;
use pgrx::prelude::*;
use pgrx::JsonB;
use std::cell::Cell;
use std::ffi::{CStr, CString};

static ERROR_POSITION: SessionLocal<Cell<i32>> = SessionLocal::new(Cell::new(0));

/// Postgres' packed SQLSTATE (MAKE_SQLSTATE) as its five characters.
pub fn unpack_sqlstate(code: i32) -> String {
    (0..5)
        .map(|i| char::from(b'0' + ((code >> (6 * i)) & 0x3F) as u8))
        .collect()
}

fn error_parts(e: &CaughtError) -> (String, String) {
    let r = match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
        CaughtError::RustPanic { ereport, .. } => ereport,
    };
    (
        unpack_sqlstate(r.sql_error_code() as i32),
        r.message().to_string(),
    )
}

struct Statement {
    text: String,
    kind: StatementKind,
    /// For `ALTER TABLE … RENAME TO`: the table's name as written (callers by the old name break).
    renames: Option<String>,
    /// What it creates, as written, for findings about it.
    creates: Option<rules::Created>,
    /// What it does that the audit's rollback could not undo: then it is not run.
    irreversible: Option<String>,
}

#[pg_guard]
unsafe extern "C-unwind" fn remember_position(_arg: *mut std::ffi::c_void) {
    // SAFETY: called by errfinish while the error being raised is on the error stack, which is
    // what geterrposition() reads.
    ERROR_POSITION.with(|p| p.set(unsafe { pg_sys::geterrposition() }));
}

/// Splits the migration with Postgres' own parser. A syntax error comes back with its position.
fn parse(sql: &str) -> Result<Vec<Statement>, (String, i32)> {
    let c =
        CString::new(sql).map_err(|_| ("the migration contains a NUL character".to_string(), 0))?;
    ERROR_POSITION.with(|p| p.set(0));
    let mut callback = pg_sys::ErrorContextCallback {
        previous: std::ptr::null_mut(),
        callback: Some(remember_position),
        arg: std::ptr::null_mut(),
    };
    // SAFETY: the callback lives on this stack frame and is unlinked below on every path; the
    // parser only reads the NUL-terminated copy of the text.
    let parsed = unsafe {
        callback.previous = pg_sys::error_context_stack;
        pg_sys::error_context_stack = &mut callback;
        let r = PgTryBuilder::new(|| {
            Ok(pg_sys::raw_parser(
                c.as_ptr(),
                pg_sys::RawParseMode::RAW_PARSE_DEFAULT,
            ))
        })
        .catch_others(|e| Err(error_parts(&e).1))
        .execute();
        pg_sys::error_context_stack = callback.previous;
        r
    };
    let list = parsed.map_err(|m| (m, ERROR_POSITION.with(|p| p.get())))?;
    let mut out = Vec::new();
    if list.is_null() {
        return Ok(out);
    }
    let bytes = sql.as_bytes();
    // SAFETY: raw_parser returns a List of RawStmt nodes; each element is read within the list's
    // length, and statement locations are byte offsets into the text we passed.
    unsafe {
        for raw in crate::ffi::list_elements::<pg_sys::RawStmt>(list) {
            let start = (*raw).stmt_location.max(0) as usize;
            let end = if (*raw).stmt_len > 0 {
                start + (*raw).stmt_len as usize
            } else {
                bytes.len()
            };
            let text = String::from_utf8_lossy(&bytes[start..end.min(bytes.len())]);
            let text = rules::skip_leading_comments(&text).trim_end().to_string();
            out.push(Statement {
                text,
                kind: classify((*raw).stmt),
                renames: renamed_table((*raw).stmt),
                creates: created_by((*raw).stmt),
                irreversible: irreversible((*raw).stmt),
            });
        }
    }
    Ok(out)
}

/// # Safety
/// `node` must be a statement node from the raw parser.
unsafe fn renamed_table(node: *mut pg_sys::Node) -> Option<String> {
    // SAFETY: a RenameStmt is read only when the tag says so; its RangeVar strings are C strings.
    unsafe {
        if (*node).type_ != pg_sys::NodeTag::T_RenameStmt {
            return None;
        }
        let r = &*(node as *mut pg_sys::RenameStmt);
        if r.renameType != pg_sys::ObjectType::OBJECT_TABLE || r.relation.is_null() {
            return None;
        }
        let rv = &*r.relation;
        let part = |p: *mut std::ffi::c_char| {
            (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        let relname = part(rv.relname)?;
        Some(match part(rv.schemaname) {
            Some(schema) => format!("{}.{}", quote(&schema), quote(&relname)),
            None => quote(&relname),
        })
    }
}

/// What a statement does that a rolled-back transaction does not undo, or `None`: statements
/// that act on the session or the server (PREPARE, LOAD, COPY to a file or program), and calls
/// of functions that do (`rules::irreversible_function`) in the expressions the statement
/// evaluates. What a function body or a DO block calls is not seen.
///
/// # Safety
/// `node` must be a statement node from the raw parser.
unsafe fn irreversible(node: *mut pg_sys::Node) -> Option<String> {
    use pg_sys::NodeTag::*;
    // SAFETY: each node is read as the struct its tag names; expressions are walked with
    // Postgres' raw-tree walker, only from node types it knows.
    unsafe {
        let walk = |expr: *mut pg_sys::Node| -> Option<String> {
            let mut found: Option<String> = None;
            call_found(expr, (&mut found as *mut Option<String>).cast());
            found
        };
        match (*node).type_ {
            T_PrepareStmt => Some("PREPARE keeps a prepared statement for the session".into()),
            T_DeallocateStmt => {
                Some("DEALLOCATE removes a prepared statement of the session".into())
            }
            T_LoadStmt => Some("LOAD loads a library into the session".into()),
            T_CopyStmt => {
                let c = &*node.cast::<pg_sys::CopyStmt>();
                if c.is_program {
                    Some("COPY … PROGRAM runs a program on the server".into())
                } else if !c.filename.is_null() && !c.is_from {
                    Some("COPY … TO a file writes a file on the server".into())
                } else {
                    walk(c.query)
                }
            }
            T_ExecuteStmt => Some("EXECUTE runs a statement prepared outside the audit".into()),
            T_SelectStmt | T_InsertStmt | T_UpdateStmt | T_DeleteStmt | T_MergeStmt => walk(node),
            T_DeclareCursorStmt => walk((*node.cast::<pg_sys::DeclareCursorStmt>()).query),
            T_CallStmt => walk((*node.cast::<pg_sys::CallStmt>()).funccall.cast()),
            T_CreateTableAsStmt => walk((*node.cast::<pg_sys::CreateTableAsStmt>()).query),
            T_ExplainStmt => walk((*node.cast::<pg_sys::ExplainStmt>()).query),
            T_AlterTableStmt => {
                // ADD COLUMN … DEFAULT evaluates the default, and ADD CONSTRAINT … CHECK its
                // expression, for every existing row.
                crate::ffi::list_elements::<pg_sys::AlterTableCmd>(
                    (*node.cast::<pg_sys::AlterTableStmt>()).cmds,
                )
                .filter(|cmd| !(**cmd).def.is_null())
                .find_map(|cmd| match (*(*cmd).def).type_ {
                    T_ColumnDef => walk((*(*cmd).def.cast::<pg_sys::ColumnDef>()).raw_default),
                    T_Constraint => walk((*(*cmd).def.cast::<pg_sys::Constraint>()).raw_expr),
                    _ => None,
                })
            }
            _ => None,
        }
    }
}

/// Walker callback: stops at the first call of a function `rules::irreversible_function` names,
/// writing what it is into `found` (an `Option<String>`).
#[pg_guard]
unsafe extern "C-unwind" fn call_found(
    node: *mut pg_sys::Node,
    found: *mut std::ffi::c_void,
) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: the walker hands over nodes of the raw tree and our own context pointer; a
    // FuncCall's name is a List of String nodes.
    unsafe {
        if (*node).type_ == pg_sys::NodeTag::T_FuncCall {
            let call = &*node.cast::<pg_sys::FuncCall>();
            let name = crate::ffi::list_elements::<pg_sys::String>(call.funcname)
                .last()
                .map(|s| CStr::from_ptr((*s).sval).to_string_lossy().into_owned());
            if let Some(why) = name.as_deref().and_then(rules::irreversible_function) {
                *found.cast::<Option<String>>() =
                    Some(format!("calls {}() ({why})", name.unwrap_or_default()));
                return true;
            }
        }
        pg_sys::raw_expression_tree_walker(node, Some(call_found), found)
    }
}

/// What a CREATE statement creates, named as it writes it.
///
/// # Safety
/// `node` must be a statement node from the raw parser.
unsafe fn created_by(node: *mut pg_sys::Node) -> Option<rules::Created> {
    use pg_sys::NodeTag::*;
    let ident = |p: *const std::ffi::c_char| {
        if p.is_null() {
            return None;
        }
        // SAFETY: a C string of the parse tree (not NULL, checked above).
        let name = unsafe { CStr::from_ptr(p) }.to_string_lossy();
        Some(crate::probe::quote_identifier(&name))
    };
    let range = |rv: *mut pg_sys::RangeVar| {
        // SAFETY: NULL or a RangeVar of the parse tree.
        let rv = unsafe { rv.as_ref() }?;
        let name = ident(rv.relname)?;
        Some(match ident(rv.schemaname) {
            Some(schema) => format!("{schema}.{name}"),
            None => name,
        })
    };
    let made = |noun, name: Option<String>, on: Option<String>| {
        Some(rules::Created {
            noun,
            name: name?,
            on,
        })
    };
    // SAFETY: each node is read as the struct its tag names.
    unsafe {
        match (*node).type_ {
            T_CreateStmt => made(
                "table",
                range((*node.cast::<pg_sys::CreateStmt>()).relation),
                None,
            ),
            T_ViewStmt => made("view", range((*node.cast::<pg_sys::ViewStmt>()).view), None),
            T_CreateSeqStmt => made(
                "sequence",
                range((*node.cast::<pg_sys::CreateSeqStmt>()).sequence),
                None,
            ),
            T_IndexStmt => {
                let s = &*node.cast::<pg_sys::IndexStmt>();
                made("index", ident(s.idxname), range(s.relation))
            }
            T_CreatePolicyStmt => {
                let s = &*node.cast::<pg_sys::CreatePolicyStmt>();
                made("policy", ident(s.policy_name), range(s.table))
            }
            T_CreateTrigStmt => {
                let s = &*node.cast::<pg_sys::CreateTrigStmt>();
                made("trigger", ident(s.trigname), range(s.relation))
            }
            T_CreateFunctionStmt => {
                let s = &*node.cast::<pg_sys::CreateFunctionStmt>();
                let name = crate::ffi::list_elements::<pg_sys::String>(s.funcname)
                    .map(|part| ident((*part).sval))
                    .collect::<Option<Vec<String>>>()
                    .map(|parts| parts.join("."));
                made(
                    if s.is_procedure {
                        "procedure"
                    } else {
                        "function"
                    },
                    name,
                    None,
                )
            }
            T_CreateSchemaStmt => made(
                "schema",
                ident((*node.cast::<pg_sys::CreateSchemaStmt>()).schemaname),
                None,
            ),
            T_CreateExtensionStmt => made(
                "extension",
                ident((*node.cast::<pg_sys::CreateExtensionStmt>()).extname),
                None,
            ),
            _ => None,
        }
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// # Safety
/// `node` must be a statement node from the raw parser.
unsafe fn classify(node: *mut pg_sys::Node) -> StatementKind {
    use pg_sys::NodeTag::*;
    // SAFETY: each node is read as the struct its tag names.
    unsafe {
        match (*node).type_ {
            T_TransactionStmt => StatementKind::TransactionControl,
            T_VacuumStmt => StatementKind::Vacuum,
            T_CreatedbStmt => StatementKind::CreateDatabase,
            T_DropdbStmt => StatementKind::DropDatabase,
            T_AlterSystemStmt => StatementKind::AlterSystem,
            T_CreateTableSpaceStmt | T_DropTableSpaceStmt => StatementKind::Tablespace,
            T_IndexStmt => {
                let s = &*(node as *mut pg_sys::IndexStmt);
                if s.concurrent {
                    StatementKind::CreateIndexConcurrently
                } else if s.if_not_exists {
                    StatementKind::Other
                } else {
                    StatementKind::CreateRelation
                }
            }
            T_DropStmt if (*(node as *mut pg_sys::DropStmt)).concurrent => {
                StatementKind::DropConcurrently
            }
            T_CreateTrigStmt if !(*(node as *mut pg_sys::CreateTrigStmt)).replace => {
                StatementKind::CreateTrigger
            }
            T_CreateFunctionStmt if !(*(node as *mut pg_sys::CreateFunctionStmt)).replace => {
                StatementKind::CreateFunction
            }
            T_CreatePolicyStmt => StatementKind::CreatePolicy,
            T_CreateStmt if !(*(node as *mut pg_sys::CreateStmt)).if_not_exists => {
                StatementKind::CreateRelation
            }
            _ => StatementKind::Other,
        }
    }
}

/// Runs `f` in a subtransaction: kept (released) on success, rolled back on error.
fn in_subtransaction<R>(keep: bool, f: impl FnOnce() -> R) -> Result<R, (String, String)> {
    // Whatever `f` half-did is rolled back with the subtransaction, so unwinding through it
    // leaves nothing inconsistent behind.
    let f = std::panic::AssertUnwindSafe(f);
    // SAFETY: the standard internal-subtransaction dance (as PL/pgSQL's exception blocks do):
    // remember the caller's memory context and resource owner, and restore both after the
    // subtransaction is released or rolled back.
    unsafe {
        let cxt = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(cxt);
        let r = PgTryBuilder::new(move || {
            let f = f;
            Ok((f.0)())
        })
        .catch_others(|e| Err(Box::new(e)))
        .execute();
        if r.is_ok() && keep {
            pg_sys::ReleaseCurrentSubTransaction();
        } else {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
        }
        pg_sys::MemoryContextSwitchTo(cxt);
        pg_sys::CurrentResourceOwner = owner;
        match r {
            Ok(v) => Ok(v),
            // A cancel, a statement timeout or an administrator's interruption is addressed to
            // the audit itself, not a finding about the statement it was running: it ends the
            // audit, once this subtransaction is rolled back.
            Err(e) if interrupts_the_audit(&e) => e.rethrow(),
            Err(e) => Err(error_parts(&e)),
        }
    }
}

/// Class 57, operator intervention: query_canceled (a cancel or statement_timeout),
/// admin_shutdown and the like.
fn interrupts_the_audit(e: &CaughtError) -> bool {
    error_parts(e).0.starts_with("57")
}

/// Postgres calls emit_log_hook only for messages bound for the server log, so for the audit's
/// duration NOTICEs are made loggable; the hook then keeps them from both the log and the
/// client. Set LOCAL inside the audit's subtransaction, the setting goes with its rollback.
fn route_notices_through_hook() {
    // SAFETY: static NUL-terminated names and values; GUC_ACTION_LOCAL scopes the change to the
    // current (sub)transaction. PGC_SUSET: memory_guard sets it for its own hook, not the caller.
    unsafe {
        pg_sys::set_config_option(
            c"log_min_messages".as_ptr(),
            c"notice".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            pgrx::PgLogLevel::ERROR as i32,
            false,
        );
    }
}

fn run_audit(sql: Option<&str>) -> Vec<Finding> {
    const F: &str = "audit";
    let Some(sql) = sql else {
        report::raise(
            &GuardError::new(
                SqlState::NullValueNotAllowed,
                "audit: migration_sql must not be NULL",
            ),
            F,
        )
    };
    if findings::active() {
        report::raise(
            &GuardError::new(
                SqlState::InvalidParameterValue,
                "audit: an audit cannot run inside another",
            ),
            F,
        );
    }
    let statements = match parse(sql) {
        Ok(s) => s,
        Err((message, position)) => return vec![rules::syntax(&message, position, sql)],
    };
    // An interrupted audit leaves by unwinding (see in_subtransaction): it is over all the same.
    let _collecting = findings::Collecting::start();
    let statements = &statements;
    // The whole audit is one subtransaction that is always rolled back.
    let outcome = in_subtransaction(false, || {
        route_notices_through_hook();
        let mut ran = Vec::new();
        for (i, s) in statements.iter().enumerate() {
            let seq = i as i32 + 1;
            if let Some(f) = rules::not_transactional(seq, s.kind, &s.text) {
                record(|_, _| f);
                continue;
            }
            if let Some(what) = &s.irreversible {
                record(|_, _| rules::not_undoable(seq, what, &s.text));
                continue;
            }
            findings::set_current(seq, &s.text, 1);
            // The renamed table's catalog name, resolved before the rename as Postgres will.
            let renamed = s.renames.as_ref().and_then(|name| {
                Spi::get_two_with_args::<String, String>(
                    "SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text FROM pg_catalog.pg_class c \
                     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
                     WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)",
                    &[name.as_str().into()],
                )
                .ok()
                .and_then(|(a, b)| Some((a?, b?)))
            });
            match in_subtransaction(true, || Spi::run(&s.text)) {
                Ok(Ok(())) => {
                    ran.push(i);
                    if let Some((schema, table)) = renamed {
                        findings::add_dropped_table(seq, &s.text, schema, table);
                    }
                }
                Ok(Err(e)) => record(|seq, stmt| rules::failed(seq, "XX000", &e.to_string(), stmt)),
                Err((code, message)) => {
                    record(|seq, stmt| rules::failed(seq, &code, &message, stmt))
                }
            }
        }
        findings::set_current(0, "", 1);
        api_breaks();
        // Apply it again, as a second `supabase db push` or a re-run script would.
        let mut rerun = Vec::new();
        let _ = in_subtransaction(false, || {
            for &i in &ran {
                let s = &statements[i];
                findings::set_current(i as i32 + 1, &s.text, 2);
                if let Err((code, message)) =
                    in_subtransaction(true, || Spi::run(&s.text).map_err(|e| e.to_string()))
                {
                    rerun.push(rules::not_idempotent(
                        i as i32 + 1,
                        s.kind,
                        s.creates.as_ref(),
                        &code,
                        &message,
                        &s.text,
                    ));
                }
            }
        });
        rerun
    });
    let mut found = findings::take();
    match outcome {
        Ok(rerun) => found.extend(rerun),
        Err((code, message)) => found.push(rules::failed(0, &code, &message, "")),
    }
    rules::sort(&mut found);
    found
}

/// Functions whose bodies still name a table pass 1 dropped or renamed.
fn api_breaks() {
    let dropped = findings::dropped_tables();
    for (seq, statement, schema, table) in dropped {
        let qualified = crate::probe::qualified_name(&schema, &table);
        for function in crate::references::functions_naming(&schema, &table) {
            let f = rules::api_break(
                seq,
                &function,
                &qualified,
                table == "memory_notes",
                &statement,
            );
            findings::push(f);
        }
    }
}

fn finding_rows(
    findings: Vec<Finding>,
) -> Vec<(i32, String, String, String, String, String, String)> {
    findings
        .into_iter()
        .map(|f| {
            (
                f.seq,
                f.severity.as_str().into(),
                f.category.as_str().into(),
                f.object,
                f.message,
                f.fix,
                f.statement,
            )
        })
        .collect()
}

/// `memory_guard.audit(migration_sql)`: one row per finding; the database is left as it was.
#[pg_extern(volatile, parallel_unsafe)]
fn audit(
    migration_sql: Option<&str>,
) -> TableIterator<
    'static,
    (
        name!(seq, i32),
        name!(severity, String),
        name!(category, String),
        name!(object, String),
        name!(message, String),
        name!(fix, String),
        name!(statement, String),
    ),
> {
    TableIterator::new(finding_rows(run_audit(migration_sql)))
}

/// `memory_guard.audit_json(migration_sql)`: the same findings as a jsonb array.
#[pg_extern(volatile, parallel_unsafe)]
fn audit_json(migration_sql: Option<&str>) -> JsonB {
    JsonB(serde_json::to_value(run_audit(migration_sql)).expect("findings serialise"))
}

/// Reads a NOTICE's SQLSTATE and text for the emit_log hook.
///
/// # Safety
/// `edata` must be the ErrorData Postgres passes to emit_log_hook.
pub unsafe fn notice_from_hook(edata: *mut pg_sys::ErrorData) {
    // SAFETY: per the contract; message is NULL or a C string owned by the error stack.
    unsafe {
        if (*edata).elevel != pg_sys::NOTICE as i32 || !findings::active() {
            return;
        }
        let message = if (*edata).message.is_null() {
            String::new()
        } else {
            CStr::from_ptr((*edata).message)
                .to_string_lossy()
                .into_owned()
        };
        if findings::notice(&unpack_sqlstate((*edata).sqlerrcode), &message) {
            (*edata).output_to_client = false;
            (*edata).output_to_server = false;
        }
    }
}
