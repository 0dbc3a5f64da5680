//! The search_path lint: warns (or refuses) when CREATE/ALTER FUNCTION leaves a security-relevant
//! function without a safe, pinned search_path, and `lint_functions()` for what already exists.
//!
//! The object-access hook reports each function a statement writes, while the catalog still
//! shows the statement's own change as not yet made: its setting from before is read then, so
//! that a lost setting (a regression) can be told from one never set. The functions are linted
//! when the statement ends (`entry/hooks.rs`). The analysis itself is
//! `memory_guard_core::search_path`.

use crate::extension::{as_extension_owner, with_safe_search_path};
use crate::frames::{self, NewFunction};
use crate::gucs;
use crate::session::{self, Scoped, SessionLocal};
use memory_guard_core::error::CheckMode;
use memory_guard_core::search_path::{
    lint_function, Finding, FunctionFacts, SchemaFacts, Severity,
};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use std::cell::RefCell;

/// A function a statement wrote, and its search_path before: `None` if it is new.
type Changed = (pg_sys::Oid, Option<Option<String>>);

static CHANGED: SessionLocal<RefCell<Scoped<Changed>>> =
    SessionLocal::new(RefCell::new(Scoped::new()));

/// Called outside any Rust guard (`entry/xact.rs`): it only resets this backend's own state, and
/// says whether it could.
pub fn transaction_end() -> bool {
    CHANGED.with(session::reset)
}

pub fn subtransaction_end(
    aborted: bool,
    sub: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
) {
    CHANGED.with(|c| c.borrow_mut().settle(aborted, sub, parent));
}

fn creating_extension() -> bool {
    // SAFETY: reading a backend-global flag set by CREATE/ALTER EXTENSION.
    unsafe { pg_sys::creating_extension }
}

/// The statements the lint looks at; other writes of pg_proc (GRANT, CREATE AGGREGATE, a range
/// type's constructors) are not a function definition someone just wrote.
fn lints(tag: pg_sys::CommandTag::Type) -> bool {
    use pg_sys::CommandTag::*;
    matches!(
        tag,
        CMDTAG_CREATE_FUNCTION
            | CMDTAG_ALTER_FUNCTION
            | CMDTAG_CREATE_PROCEDURE
            | CMDTAG_ALTER_PROCEDURE
    )
}

/// From the object-access hook: the pg_proc row of `oid` was just inserted or updated.
pub fn function_changed(oid: pg_sys::Oid) {
    if (gucs::search_path_mode() == CheckMode::Off && !crate::findings::active())
        || creating_extension()
        || !crate::extension::installed_here()
    {
        return;
    }
    // The statement's own write is not visible before its next command counter increment, so
    // this is the row as it was (none for a new function). A plain CREATE FUNCTION has nothing
    // to look up, and a lookup of a row that is not there is a catalog index scan; one the lint
    // cannot report (see lint_changed) is not kept at all.
    let before = match frames::new_function() {
        Some(NewFunction::Plain) => return,
        Some(_) => None,
        None => proc_row(oid).map(|r| r.search_path),
    };
    CHANGED.with(|c| c.borrow_mut().push((oid, before)));
    if !frames::wrapped() {
        // No hook of ours will see this statement end (it loaded the library): lint now.
        let changed = CHANGED.with(|c| c.borrow_mut().take_all());
        if lints(frames::last_tag()) {
            lint_changed(changed);
        }
    }
}

/// Whether the statement marked `mark` wrote no function (a busy list counts as written).
pub fn nothing_written_since(mark: u64) -> bool {
    CHANGED.with(|c| c.try_borrow().is_ok_and(|c| !c.has_since(mark)))
}

/// A complete query ended: lint the functions it wrote.
pub fn lint_statement(mark: u64, tag: pg_sys::CommandTag::Type) {
    if CHANGED.with(|c| c.borrow().is_empty()) {
        return;
    }
    let changed = CHANGED.with(|c| c.borrow_mut().take_since(mark));
    if !changed.is_empty() && lints(tag) {
        lint_changed(changed);
    }
}

fn lint_changed(mut changed: Vec<Changed>) {
    // SAFETY: makes the statement's catalog writes visible to what follows, as Postgres does
    // before ddl_command_end triggers; nothing of the statement's own work is left to run.
    unsafe { pg_sys::CommandCounterIncrement() };
    // Several writes of one function in a statement: what it had before is the first one's.
    let mut seen = Vec::new();
    changed.retain(|(oid, _)| {
        let first = !seen.contains(oid);
        seen.push(*oid);
        first
    });
    // A plain function that pinned nothing before and pins nothing now cannot be reported:
    // skip the catalog queries (this is every CREATE FUNCTION of most migrations).
    let may_report = changed.iter().any(|(oid, before)| {
        matches!(before, Some(Some(_)))
            || proc_row(*oid)
                .is_some_and(|r| r.security_definer || r.is_trigger || r.search_path.is_some())
    });
    if may_report {
        // Read before the lint pins its own path: the statement resolved names through this.
        let path = session_schemas();
        with_safe_search_path(|| check_functions(changed, path));
    }
}

/// What a CREATE FUNCTION or PROCEDURE statement shows of the function it creates: `Plain`
/// when the lint can have nothing to say of it (as `lint_changed` decides from its pg_proc row):
/// no SECURITY DEFINER, no `SET search_path`, and a result type not named `trigger` or
/// `event_trigger` (in any schema: a user type of that name only costs the full check). Read
/// from the parse tree alone, outside any Rust guard, before the statement runs. A function
/// without RETURNS (its result type comes from its OUT parameters) is never `Plain`.
///
/// # Safety
/// `stmt` is the raw CreateFunctionStmt Postgres is about to execute.
pub unsafe fn new_function_as_written(stmt: *const pg_sys::CreateFunctionStmt) -> NewFunction {
    let name_is = |s: *const std::ffi::c_char, name: &std::ffi::CStr| {
        // SAFETY: a NUL-terminated string of the parse tree.
        !s.is_null()
            && unsafe { std::ffi::CStr::from_ptr(s) }
                .to_bytes()
                .eq_ignore_ascii_case(name.to_bytes())
    };
    // SAFETY: nodes of the parse tree, each read as the struct its tag names.
    let lintable = unsafe {
        let option_lintable = |node: *mut pg_sys::Node| {
            if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_DefElem {
                return true;
            }
            let def = &*(node as *const pg_sys::DefElem);
            let arg = def.arg;
            if name_is(def.defname, c"security") {
                // SECURITY DEFINER is a true Boolean; INVOKER a false one.
                arg.is_null()
                    || (*arg).type_ != pg_sys::NodeTag::T_Boolean
                    || (*(arg as *const pg_sys::Boolean)).boolval
            } else if name_is(def.defname, c"set") {
                arg.is_null()
                    || (*arg).type_ != pg_sys::NodeTag::T_VariableSetStmt
                    || name_is(
                        (*(arg as *const pg_sys::VariableSetStmt)).name,
                        c"search_path",
                    )
            } else {
                false
            }
        };
        let returns_trigger = {
            let ret = (*stmt).returnType;
            // Without RETURNS a function's result type is that of its OUT parameter, which a
            // language without a validator (PL/Tcl) lets be `trigger`: checked in full.
            (ret.is_null() && !(*stmt).is_procedure)
                || !ret.is_null()
                    && ((*ret).typeOid == pg_sys::TRIGGEROID
                        || (*ret).typeOid == pg_sys::EVENT_TRIGGEROID
                        || crate::ffi::list_elements::<pg_sys::Node>((*ret).names)
                            .last()
                            .is_some_and(|last| {
                                last.is_null()
                                    || (*last).type_ != pg_sys::NodeTag::T_String
                                    || name_is((*(last as *const pg_sys::String)).sval, c"trigger")
                                    || name_is(
                                        (*(last as *const pg_sys::String)).sval,
                                        c"event_trigger",
                                    )
                            }))
        };
        returns_trigger
            || crate::ffi::list_elements::<pg_sys::Node>((*stmt).options).any(option_lintable)
    };
    if lintable {
        NewFunction::Other
    } else {
        NewFunction::Plain
    }
}

/// What the lint needs first from a pg_proc row, read through the syscache.
struct ProcRow {
    security_definer: bool,
    is_trigger: bool,
    search_path: Option<String>,
}

fn proc_row(oid: pg_sys::Oid) -> Option<ProcRow> {
    let cache = pg_sys::SysCacheIdentifier::PROCOID;
    crate::catalog::catalog_row(cache, oid, |form: &pg_sys::FormData_pg_proc, tup| {
        let mut isnull = true;
        // SAFETY: proconfig (a text[] or NULL) read from the pinned row, through the cache it
        // came from; the array is copied into Rust strings before the row is released.
        let settings: Vec<Option<String>> = unsafe {
            let config = pg_sys::SysCacheGetAttr(
                cache as i32,
                tup,
                pg_sys::Anum_pg_proc_proconfig as i16,
                &mut isnull,
            );
            Vec::<Option<String>>::from_datum(config, isnull).unwrap_or_default()
        };
        ProcRow {
            security_definer: form.prosecdef,
            is_trigger: form.prorettype == pg_sys::TRIGGEROID
                || form.prorettype == pg_sys::EVENT_TRIGGEROID,
            search_path: settings
                .into_iter()
                .flatten()
                .find_map(|s| s.strip_prefix("search_path=").map(str::to_string)),
        }
    })
}

/// Lints the functions a statement created or changed.
fn check_functions(before: Vec<Changed>, resolved_with: Vec<String>) {
    let auditing = crate::findings::active();
    let mode = match gucs::search_path_mode() {
        _ if auditing => CheckMode::Warn,
        // A restore (pg_dump's output turns check_function_bodies off) recreates functions as
        // they were; refusing one would leave it missing from the restored database.
        // SAFETY: a backend global, set by SET.
        CheckMode::Error if !unsafe { pg_sys::check_function_bodies } => CheckMode::Warn,
        mode => mode,
    };
    if mode == CheckMode::Off || creating_extension() {
        return;
    }
    crate::moved::rekey_if_moved();
    let oids: Vec<pg_sys::Oid> = before.iter().map(|(oid, _)| *oid).collect();
    let mut functions = function_facts(Some(&oids), None, &resolved_with);
    for (oid, facts) in functions.iter_mut() {
        // What the function had before this statement (`None`: it is new).
        facts.previous_search_path = before
            .iter()
            .find(|(o, _)| o == oid)
            .and_then(|(_, sp)| sp.clone());
    }
    // Who may create in which schema matters only to security-relevant functions (the rest get
    // info findings, not reported here): skip the catalog work on the common path.
    let relevant = |f: &FunctionFacts| {
        f.security_definer
            || f.is_trigger
            || f.search_path.is_some()
            || matches!(f.previous_search_path, Some(Some(_)))
    };
    if !functions.iter().any(|(_, f)| relevant(f)) {
        return;
    }
    let schemas = schema_facts();
    for (oid, facts) in functions {
        for finding in lint_function(&facts, &schemas) {
            if finding.severity < Severity::Warning {
                continue; // info findings are for lint_functions(), not for every CREATE FUNCTION
            }
            let report = finding.to_report(mode);
            crate::findings::record_or_report(
                &report,
                mode.reaction(),
                "search_path_lint",
                |seq, stmt| memory_guard_core::audit::Finding {
                    seq,
                    severity: memory_guard_core::audit::Severity::Medium,
                    category: memory_guard_core::audit::Category::Security,
                    object: format!("function {}", finding.function),
                    message: format!("{}: {}", finding.message, finding.detail),
                    fix: finding.fix.clone(),
                    statement: stmt.to_string(),
                },
            );
        }
        remember(oid, &facts);
    }
}

/// Keeps the latest pinned setting of a function, so that losing it later is still reported.
fn remember(oid: pg_sys::Oid, facts: &FunctionFacts) {
    let Some(sp) = &facts.search_path else { return };
    let args: Vec<DatumWithOid> = vec![
        oid.into(),
        facts.signature.as_str().into(),
        sp.as_str().into(),
    ];
    // 0.1.0's table has no owner_name (until ALTER EXTENSION memory_guard UPDATE).
    if !crate::extension::objects_current() {
        as_extension_owner(|| {
            Spi::run_with_args(
                "INSERT INTO memory_guard.search_path_history (function_oid, signature, search_path) \
                 VALUES ($1, $2, $3) ON CONFLICT (function_oid) DO UPDATE \
                 SET signature = EXCLUDED.signature, search_path = EXCLUDED.search_path, recorded_at = pg_catalog.now()",
                &args,
            )
            .unwrap_or_else(|e| crate::report::failed(&format!("recording the search_path of {}", facts.signature), e))
        });
        return;
    }
    as_extension_owner(|| {
        Spi::run_with_args(
            "INSERT INTO memory_guard.search_path_history (function_oid, signature, search_path, owner_name) \
             SELECT $1, $2, $3, pg_catalog.pg_get_userbyid(p.proowner) FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) $1 \
             ON CONFLICT (function_oid) DO UPDATE \
             SET signature = EXCLUDED.signature, search_path = EXCLUDED.search_path, owner_name = EXCLUDED.owner_name, \
                 recorded_at = pg_catalog.now()",
            &args,
        )
        .unwrap_or_else(|e| crate::report::failed(&format!("recording the search_path of {}", facts.signature), e))
    });
}

fn schema_facts() -> Vec<SchemaFacts> {
    Spi::connect(|c| {
        c.select(include_str!("../sql/queries/schema_facts.sql"), None, &[])
            .map(|rows| {
                rows.filter_map(|r| {
                    Some(SchemaFacts {
                        name: r.get::<String>(1).ok()??,
                        creators: r
                            .get::<Vec<pg_sys::Oid>>(2)
                            .ok()??
                            .into_iter()
                            .map(|o| o.to_u32())
                            .collect(),
                    })
                })
                .collect()
            })
    })
    .unwrap_or_default()
}

/// The schemas of the search_path in effect, in order ("$user" resolved, missing schemas and
/// the implicit pg_catalog and pg_temp left out).
fn session_schemas() -> Vec<String> {
    // SAFETY: fetch_search_path returns a palloc'd list of namespace OIDs (an integer list, read
    // as such within its length); get_namespace_name is a syscache lookup, NULL for a schema
    // dropped meanwhile, copied at once.
    unsafe {
        let list = pg_sys::fetch_search_path(false);
        if list.is_null() {
            return Vec::new();
        }
        (0..(*list).length as usize)
            .filter_map(|i| {
                let nsp = pg_sys::get_namespace_name((*(*list).elements.add(i)).oid_value);
                (!nsp.is_null())
                    .then(|| std::ffi::CStr::from_ptr(nsp).to_string_lossy().into_owned())
            })
            .collect()
    }
}

/// For existing functions, whose creation is past: the search_path sessions start with (the
/// server's, database's or role's setting), "$user" left out.
fn default_schemas() -> Vec<String> {
    // SAFETY: returns the reset value of a built-in setting, a C string owned by the GUC
    // machinery, copied at once.
    let value = unsafe {
        let v = pg_sys::GetConfigOptionResetString(c"search_path".as_ptr());
        if v.is_null() {
            return Vec::new();
        }
        std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned()
    };
    memory_guard_core::search_path::parse_search_path(&value)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| match e {
            memory_guard_core::search_path::PathEntry::Schema(s) => Some(s),
            memory_guard_core::search_path::PathEntry::CurrentUser => None,
        })
        .collect()
}

/// The join condition of function_facts.sql that needs 0.2.0's search_path_history.
const FUNCTION_OWNER_CONDITION: &str = " AND h.owner_name = pg_catalog.pg_get_userbyid(p.proowner)";

/// Facts for the functions with these OIDs and/or in these schemas. `previous_search_path` is
/// what search_path_history remembers (a regression if the function has lost it since).
fn function_facts(
    oids: Option<&[pg_sys::Oid]>,
    schemas: Option<Vec<String>>,
    resolves_with: &[String],
) -> Vec<(pg_sys::Oid, FunctionFacts)> {
    let args: Vec<DatumWithOid> = vec![oids.map(|o| o.to_vec()).into(), schemas.into()];
    const QUERY: &str = include_str!("../sql/queries/function_facts.sql");
    // 0.1.0's search_path_history has no owner_name (until ALTER EXTENSION memory_guard UPDATE):
    // its rows were all written in this database, so the OID alone names the function.
    let query = if crate::extension::objects_current() {
        std::borrow::Cow::Borrowed(QUERY)
    } else {
        std::borrow::Cow::Owned(QUERY.replace(FUNCTION_OWNER_CONDITION, ""))
    };
    Spi::connect(|c| {
        c.select(query.as_ref(), None, &args).map(|rows| {
            rows.filter_map(|r| {
                let oid = r.get::<pg_sys::Oid>(1).ok()??;
                let search_path = r.get::<String>(7).ok()?;
                let pinned_before = r.get::<String>(8).ok()?;
                Some((
                    oid,
                    FunctionFacts {
                        signature: r.get::<String>(2).ok()??,
                        kind: r.get::<String>(3).ok()??,
                        schema: r.get::<String>(4).ok()??,
                        security_definer: r.get::<bool>(5).ok()??,
                        is_trigger: r.get::<bool>(6).ok()??,
                        owner: r.get::<pg_sys::Oid>(9).ok()??.to_u32(),
                        previous_search_path: pinned_before.map(Some),
                        search_path,
                        resolves_with: resolves_with.to_vec(),
                    },
                ))
            })
            .collect()
        })
    })
    .unwrap_or_else(|e| crate::report::failed("reading function facts", e))
}

/// The rows of `memory_guard.lint_functions()`; the SQL wrapper turns the OID into regprocedure.
// Volatile: after a dump and restore it keys search_path_history to the new database first.
#[pg_extern(volatile, parallel_unsafe, name = "_lint_functions")]
#[search_path(pg_catalog, pg_temp)]
fn lint_functions_rows(
    schemas: default!(Option<Vec<String>>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(function_oid, pg_sys::Oid),
        name!(rule, String),
        name!(severity, String),
        name!(message, String),
        name!(fix, String),
    ),
> {
    crate::moved::rekey_if_moved();
    let schema_list = schema_facts();
    let rows: Vec<_> = function_facts(None, schemas, &default_schemas())
        .into_iter()
        .flat_map(|(oid, facts)| {
            lint_function(&facts, &schema_list)
                .into_iter()
                .map(move |f: Finding| {
                    (
                        oid,
                        f.rule.to_string(),
                        f.severity.as_str().to_string(),
                        f.message,
                        f.fix,
                    )
                })
        })
        .collect();
    TableIterator::new(rows)
}
