//! The search_path lint: warns (or refuses) when CREATE/ALTER FUNCTION leaves a security-relevant
//! function without a safe, pinned search_path, and `lint_functions()` for what already exists.
//!
//! `ddl_command_start` records the settings of every function the statement may replace (by
//! name), so `ddl_command_end` can tell a lost setting (a regression) from one never set. The
//! analysis itself is `memory_guard_core::search_path`.

use crate::event_trigger::{
    event_data, may_be_security_relevant, target_function_name, with_catalog_search_path,
};
use crate::owner::as_extension_owner;
use crate::{gucs, report};
use memory_guard_core::error::CheckMode;
use memory_guard_core::search_path::{
    lint_function, Finding, FunctionFacts, SchemaFacts, Severity,
};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::PgOid;
use std::cell::{Cell, RefCell};

thread_local! {
    /// (function OID, its search_path) for functions the running statement may replace.
    static BEFORE: RefCell<Vec<(pg_sys::Oid, Option<String>)>> = const { RefCell::new(Vec::new()) };
    /// Set at ddl_command_start when the statement cannot give a warning: ddl_command_end skips.
    static NOTHING_TO_CHECK: Cell<bool> = const { Cell::new(false) };
    /// The ddl_command_start query, planned once per backend (it runs for every CREATE FUNCTION).
    static BEFORE_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
}

fn creating_extension() -> bool {
    // SAFETY: reading a backend-global flag set by CREATE/ALTER EXTENSION.
    unsafe { pg_sys::creating_extension }
}

#[pg_extern(sql = "
CREATE FUNCTION memory_guard.on_function_ddl_start() RETURNS event_trigger
LANGUAGE c SET search_path = pg_catalog AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
")]
fn on_function_ddl_start(fcinfo: pg_sys::FunctionCallInfo) {
    let (_, parsetree) = event_data(fcinfo, "on_function_ddl_start");
    BEFORE.with(|b| b.borrow_mut().clear());
    NOTHING_TO_CHECK.with(|n| n.set(false));
    if (gucs::search_path_mode() == CheckMode::Off && !crate::audit::active())
        || creating_extension()
    {
        return;
    }
    let Some(name) = target_function_name(parsetree) else {
        return;
    };
    let before = settings_before(&name);
    let lost_one_possible = before.iter().any(|(_, sp)| sp.is_some());
    NOTHING_TO_CHECK.with(|n| n.set(!lost_one_possible && !may_be_security_relevant(parsetree)));
    BEFORE.with(|b| *b.borrow_mut() = before);
}

/// The search_path settings of every function named `name`, with a plan kept across calls.
fn settings_before(name: &str) -> Vec<(pg_sys::Oid, Option<String>)> {
    BEFORE_PLAN.with(|cell| {
        Spi::connect(|c| {
            let mut plan = cell.borrow_mut();
            if plan.is_none() {
                let types = [PgOid::BuiltIn(pg_sys::BuiltinOid::TEXTOID)];
                *plan = Some(
                    c.prepare(
                        include_str!("../sql/queries/search_path_before.sql"),
                        &types,
                    )?
                    .keep(),
                );
            }
            let args: [DatumWithOid; 1] = [name.into()];
            c.select(plan.as_ref().expect("prepared above"), None, &args)
                .map(|rows| {
                    rows.filter_map(|r| {
                        Some((r.get::<pg_sys::Oid>(1).ok()??, r.get::<String>(2).ok()?))
                    })
                    .collect()
                })
        })
        .unwrap_or_default()
    })
}

#[pg_extern(sql = "
CREATE FUNCTION memory_guard.on_function_ddl_end() RETURNS event_trigger
LANGUAGE c AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
")]
fn on_function_ddl_end(fcinfo: pg_sys::FunctionCallInfo) {
    event_data(fcinfo, "on_function_ddl_end");
    let before = BEFORE.with(|b| std::mem::take(&mut *b.borrow_mut()));
    if NOTHING_TO_CHECK.with(|n| n.replace(false)) {
        return; // a plain function that pinned nothing before and pins nothing now
    }
    with_catalog_search_path(|| check_functions(before));
}

/// The ddl_command_end work: lint what the statement created or changed.
fn check_functions(before: Vec<(pg_sys::Oid, Option<String>)>) {
    let auditing = crate::audit::active();
    let mode = if auditing {
        CheckMode::Warn
    } else {
        gucs::search_path_mode()
    };
    if mode == CheckMode::Off || creating_extension() {
        return;
    }
    let oids: Vec<pg_sys::Oid> = Spi::connect(|c| {
        c.select(
            "SELECT DISTINCT objid FROM pg_catalog.pg_event_trigger_ddl_commands() \
             WHERE classid = 'pg_catalog.pg_proc'::pg_catalog.regclass",
            None,
            &[],
        )
        .map(|rows| {
            rows.filter_map(|r| r.get::<pg_sys::Oid>(1).ok().flatten())
                .collect()
        })
    })
    .unwrap_or_default();
    if oids.is_empty() {
        return;
    }
    let mut functions = function_facts(Some(&oids), None);
    for (oid, facts) in functions.iter_mut() {
        // What the function had before this statement: what ddl_command_start saw (it existed),
        // else nothing (it is new).
        facts.previous_search_path = before
            .iter()
            .find(|(o, _)| o == oid)
            .map(|(_, sp)| sp.clone());
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
            if auditing {
                crate::audit::record(|seq, stmt| memory_guard_core::audit::Finding {
                    seq,
                    severity: memory_guard_core::audit::Severity::Medium,
                    category: memory_guard_core::audit::Category::Security,
                    object: format!("function {}", finding.function),
                    message: format!("{}: {}", finding.message, finding.detail),
                    fix: finding.fix.clone(),
                    statement: stmt.to_string(),
                });
                continue;
            }
            let report = finding.to_report(mode);
            report::emit(&report, mode.reaction(), "on_function_ddl_end");
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
    as_extension_owner(|| {
        Spi::run_with_args(
            "INSERT INTO memory_guard.search_path_history (function_oid, signature, search_path) \
             VALUES ($1, $2, $3) ON CONFLICT (function_oid) DO UPDATE \
             SET signature = EXCLUDED.signature, search_path = EXCLUDED.search_path, recorded_at = now()",
            &args,
        )
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

/// Facts for the functions with these OIDs and/or in these schemas. `previous_search_path` is
/// what search_path_history remembers (a regression if the function has lost it since).
fn function_facts(
    oids: Option<&[pg_sys::Oid]>,
    schemas: Option<Vec<String>>,
) -> Vec<(pg_sys::Oid, FunctionFacts)> {
    let args: Vec<DatumWithOid> = vec![oids.map(|o| o.to_vec()).into(), schemas.into()];
    Spi::connect(|c| {
        c.select(
            include_str!("../sql/queries/function_facts.sql"),
            None,
            &args,
        )
        .map(|rows| {
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
                    },
                ))
            })
            .collect()
        })
    })
    .unwrap_or_else(|e| pgrx::error!("memory_guard: reading function facts failed: {e}"))
}

/// The rows of `memory_guard.lint_functions()`; the SQL wrapper turns the OID into regprocedure.
#[pg_extern(stable, parallel_safe, name = "_lint_functions")]
#[search_path(pg_catalog)]
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
    let schema_list = schema_facts();
    let rows: Vec<_> = function_facts(None, schemas)
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
