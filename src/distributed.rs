//! Citus: a distributed, reference or Citus-local table keeps its rows in shards, on the workers
//! (and for reference tables on every node). On the coordinator its own relation is empty, so the
//! ordinary probe would let `DROP TABLE events` through and leave the shards to the workers'
//! guards, which name a shard and cannot see a permit given on the coordinator.
//!
//! So, on the coordinator, before Citus sees the statement: a DROP TABLE, TRUNCATE or ALTER
//! TABLE … DROP COLUMN naming a Citus table is judged as that table, its rows looked for
//! through Citus itself (a distributed `SELECT EXISTS`), with the estimate summed over the
//! shards' statistics. What goes through (a permit, warn or log mode) is recorded once in the
//! coordinator's drop_log and carried to the workers as `SET LOCAL
//! memory_guard.distributed_permit`, which Citus sends on every connection of the distributed
//! transaction; each node's guard then lets the shards of that table go (`shards.rs`).

use crate::drop_guard;
use crate::extension::{
    as_extension_owner, current_user_acts_as, with_safe_search_path, with_settings,
};
use crate::{gucs, probe, report, shards};
use memory_guard_core::distributed::{self, DistributedPermit};
use memory_guard_core::drop_policy::{DropMode, DroppedTable, RowEstimate};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

/// Whether `node` may need judging here: one syscache lookup for Citus' metadata table.
pub fn concerns(node: *mut pg_sys::Node) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: the node is the utility statement Postgres is about to run; only its tag is read.
    let tag = unsafe { (*node).type_ };
    matches!(
        tag,
        pg_sys::NodeTag::T_DropStmt
            | pg_sys::NodeTag::T_TruncateStmt
            | pg_sys::NodeTag::T_AlterTableStmt
    ) && citus_metadata_here()
}

fn citus_metadata_here() -> bool {
    // SAFETY: a syscache lookup of a name in pg_catalog.
    unsafe {
        pg_sys::get_relname_relid(
            c"pg_dist_partition".as_ptr(),
            pg_sys::Oid::from(pg_sys::PG_CATALOG_NAMESPACE),
        ) != pg_sys::InvalidOid
    }
}

/// The tables (and for ALTER TABLE the columns) a statement names, with its tag.
///
/// # Safety
/// `node` is the utility statement Postgres is about to run, of a type `concerns` accepted.
unsafe fn named_targets(
    node: *mut pg_sys::Node,
) -> (&'static str, Vec<(pg_sys::Oid, Option<String>)>) {
    let lookup = |rv: *mut pg_sys::RangeVar| {
        // SAFETY: a name lookup without a lock; InvalidOid when missing.
        unsafe {
            pg_sys::RangeVarGetRelidExtended(
                rv,
                pg_sys::NoLock as i32,
                pg_sys::RVROption::RVR_MISSING_OK,
                None,
                std::ptr::null_mut(),
            )
        }
    };
    let mut out = Vec::new();
    // SAFETY: the node is read as the struct its tag names; their lists hold the node types
    // Postgres' grammar puts there.
    unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_DropStmt => {
                let stmt = &*(node as *mut pg_sys::DropStmt);
                if stmt.removeType == pg_sys::ObjectType::OBJECT_SCHEMA
                    && stmt.behavior == pg_sys::DropBehavior::DROP_CASCADE
                {
                    // The Citus tables in the schemas, which CASCADE takes along.
                    for name in crate::ffi::list_elements::<pg_sys::String>(stmt.objects) {
                        let nsp = pg_sys::get_namespace_oid((*name).sval, true);
                        if nsp != pg_sys::InvalidOid {
                            out.extend(citus_tables_in(nsp).into_iter().map(|r| (r, None)));
                        }
                    }
                    return ("DROP SCHEMA", out);
                }
                if stmt.removeType != pg_sys::ObjectType::OBJECT_TABLE {
                    return ("DROP TABLE", out);
                }
                for names in crate::ffi::list_elements::<pg_sys::List>(stmt.objects) {
                    out.push((lookup(pg_sys::makeRangeVarFromNameList(names)), None));
                }
                ("DROP TABLE", out)
            }
            pg_sys::NodeTag::T_TruncateStmt => {
                let stmt = &*(node as *mut pg_sys::TruncateStmt);
                for rv in crate::ffi::list_elements::<pg_sys::RangeVar>(stmt.relations) {
                    out.push((lookup(rv), None));
                }
                ("TRUNCATE TABLE", out)
            }
            _ => {
                let stmt = &*(node as *mut pg_sys::AlterTableStmt);
                if stmt.objtype != pg_sys::ObjectType::OBJECT_TABLE || stmt.relation.is_null() {
                    return ("ALTER TABLE", out);
                }
                let relid = lookup(stmt.relation);
                for cmd in crate::ffi::list_elements::<pg_sys::AlterTableCmd>(stmt.cmds) {
                    if (*cmd).subtype == pg_sys::AlterTableType::AT_DropColumn
                        && !(*cmd).name.is_null()
                    {
                        let name = std::ffi::CStr::from_ptr((*cmd).name)
                            .to_string_lossy()
                            .into_owned();
                        out.push((relid, Some(name)));
                    }
                }
                ("ALTER TABLE", out)
            }
        }
    }
}

/// Judges the Citus tables a statement names, before Citus runs it on the shards.
///
/// # Safety
/// `node` is the utility statement Postgres is about to run, and `concerns(node)` held.
#[pg_guard]
pub unsafe extern "C-unwind" fn before_statement(node: *mut pg_sys::Node) {
    let mode = gucs::drop_mode();
    if mode == DropMode::Off || !crate::extension::installed_here() {
        return;
    }
    // SAFETY: as the caller promises.
    let (tag, targets) = unsafe { named_targets(node) };
    if targets.is_empty() || !on_coordinator() {
        // On a worker, Citus itself runs the shell table's share of a statement the coordinator
        // judged; the shards there are each node's guard's.
        return;
    }
    for (relid, column) in targets {
        if relid == pg_sys::InvalidOid || !is_citus_table(relid) || !may_change(relid, tag) {
            // Postgres' own error (missing table, missing right) comes first, unhelped.
            continue;
        }
        judge_table(tag, mode, relid, column);
    }
}

fn citus_tables_in(nsp: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    with_safe_search_path(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT p.logicalrelid::pg_catalog.oid FROM pg_catalog.pg_dist_partition p \
                     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.logicalrelid \
                     WHERE c.relnamespace OPERATOR(pg_catalog.=) $1 ORDER BY 1",
                    None,
                    &[nsp.into()],
                )?
                .map(|row| row.get::<pg_sys::Oid>(1))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.into_iter().flatten().collect())
        })
    })
    .unwrap_or_else(|e| report::failed("reading Citus' pg_dist_partition", e))
}

fn on_coordinator() -> bool {
    with_safe_search_path(|| Spi::get_one::<bool>("SELECT pg_catalog.citus_is_coordinator()"))
        .ok()
        .flatten()
        .unwrap_or(true)
}

fn is_citus_table(relid: pg_sys::Oid) -> bool {
    with_safe_search_path(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid OPERATOR(pg_catalog.=) $1)",
            &[relid.into()],
        )
    })
    .unwrap_or_else(|e| report::failed("reading Citus' pg_dist_partition", e))
    .unwrap_or(false)
}

/// Rights before looking: only a role that may drop (or, for TRUNCATE, truncate) the table has
/// its rows looked for; any other gets Postgres' own error when the statement runs.
fn may_change(relid: pg_sys::Oid, tag: &str) -> bool {
    if tag == "TRUNCATE TABLE" {
        return with_safe_search_path(|| {
            Spi::get_one_with_args::<bool>(
                "SELECT pg_catalog.has_table_privilege($1, 'TRUNCATE')",
                &[relid.into()],
            )
        })
        .ok()
        .flatten()
        .unwrap_or(false);
    }
    let (owner, nsp_owner) = with_safe_search_path(|| {
        Spi::get_two_with_args::<pg_sys::Oid, pg_sys::Oid>(
            "SELECT c.relowner, n.nspowner FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE c.oid OPERATOR(pg_catalog.=) $1",
            &[relid.into()],
        )
    })
    .unwrap_or((None, None));
    [owner, nsp_owner]
        .into_iter()
        .flatten()
        .any(current_user_acts_as)
}

fn judge_table(tag: &str, mode: DropMode, relid: pg_sys::Oid, column: Option<String>) {
    let Some((schema, relname)) = probe::relation_catalog_name(relid) else {
        return;
    };
    let name = probe::qualified_name(&schema, &relname);
    // Through Citus, as memory_guard's owner: every shard, wherever it lives, under a snapshot
    // of this transaction; row-level security and the caller's missing rights hide nothing.
    let query = match &column {
        None => format!("SELECT EXISTS (SELECT 1 FROM {name})"),
        Some(c) => format!(
            "SELECT EXISTS (SELECT 1 FROM {name} WHERE pg_catalog.num_nonnulls({}) OPERATOR(pg_catalog.>) 0)",
            probe::quote_identifier(c)
        ),
    };
    // One connection per node: a statement on a distributed schema later in this transaction
    // refuses to follow a read spread over several.
    let has_rows = as_extension_owner(|| {
        with_settings(&[(c"citus.max_adaptive_executor_pool_size", c"1")], || {
            with_safe_search_path(|| Spi::get_one::<bool>(&query))
        })
    })
    .unwrap_or_else(|e| report::failed("looking for rows through Citus", e))
    .unwrap_or(false);
    if !has_rows {
        return;
    }
    let owner = crate::extension::relation_owner(relid)
        .map(|o| o.to_u32())
        .unwrap_or(0);
    let table = DroppedTable {
        relid: relid.to_u32(),
        name: name.clone(),
        schema: schema.clone(),
        relname: relname.clone(),
        owner,
        ancestors: Vec::new(),
        is_partition: false,
        has_rows: true,
        estimate: summed_estimate(relid),
        created_in_transaction: false,
        verified_copy: None,
        column: column.as_deref().map(probe::quote_identifier),
    };
    let catalog_names = vec![(schema.clone(), relname.clone())];
    let Some(passed) = drop_guard::judge(
        tag,
        mode,
        vec![table],
        &catalog_names,
        Vec::new,
        "distributed",
    ) else {
        return; // an audit recorded it
    };
    let Some((_, guard)) = passed.first() else {
        return;
    };
    let reason = guard.reason().map(str::to_string).unwrap_or_else(|| {
        format!(
            "memory_guard.drop_mode = {} on the coordinator",
            guard.as_str()
        )
    });
    drop_guard::write_drop_log(tag, &passed);
    let permit = DistributedPermit {
        schema: schema.clone(),
        table: relname.clone(),
        reason,
        by: guard
            .granted_by()
            .map(str::to_string)
            .unwrap_or_else(crate::extension::current_role),
    };
    shards::judged_here(&schema, &relname);
    carry_to_workers(&distributed::add(&gucs::distributed_permit(), permit));
}

/// The planner's row estimates of the shards, summed (each node keeps those of its shards), or
/// unknown with the shards' pages when one was never analyzed or a node does not answer.
fn summed_estimate(relid: pg_sys::Oid) -> RowEstimate {
    let summed = as_extension_owner(|| {
        with_safe_search_path(|| {
            Spi::get_three_with_args::<f64, f64, f64>(
                "SELECT pg_catalog.sum(pg_catalog.split_part(r.result, ' ', 1)::pg_catalog.float8), \
                        pg_catalog.min(pg_catalog.split_part(r.result, ' ', 1)::pg_catalog.float8), \
                        pg_catalog.sum(pg_catalog.split_part(r.result, ' ', 2)::pg_catalog.float8) \
                 FROM pg_catalog.run_command_on_shards($1::pg_catalog.regclass, \
                   $q$SELECT c.reltuples::text || ' ' || (pg_catalog.pg_relation_size(c.oid) / \
                      pg_catalog.current_setting('block_size')::int)::text \
                      FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) '%s'::pg_catalog.regclass$q$) r \
                 WHERE r.success",
                &[relid.into()],
            )
        })
    });
    match summed {
        Ok((Some(rows), Some(min), pages)) if min >= 0.0 => RowEstimate::Sharded {
            rows: Some(rows.max(1.0) as u64),
            pages: pages.unwrap_or(0.0) as u64,
        },
        Ok((_, _, pages)) => RowEstimate::Sharded {
            rows: None,
            pages: pages.unwrap_or(0.0) as u64,
        },
        Err(_) => RowEstimate::Sharded {
            rows: None,
            pages: 0,
        },
    }
}

/// `SET LOCAL memory_guard.distributed_permit`, made so that Citus sends it on every connection
/// of this distributed transaction (it does for SET LOCAL in a transaction block or a DO block
/// while citus.propagate_set_commands = local), and here too.
fn carry_to_workers(value: &str) {
    let literal = value.replace('\'', "''");
    let block = format!(
        "DO $memory_guard$ BEGIN \
           SET LOCAL citus.propagate_set_commands = 'local'; \
           SET LOCAL memory_guard.distributed_permit = '{literal}'; \
         END $memory_guard$"
    );
    // Not under with_safe_search_path: leaving its settings level would take this SET LOCAL
    // back here too. The block names nothing a search_path could resolve.
    let args: Vec<DatumWithOid> = Vec::new();
    Spi::run_with_args(&block, &args)
        .unwrap_or_else(|e| report::failed("carrying the permit to the Citus workers", e));
}
