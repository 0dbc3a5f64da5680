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
use crate::extension::{current_user_acts_as, with_safe_search_path};
use crate::{gucs, probe, report, shards};
use memory_guard_core::distributed::{self, DistributedPermit};
use memory_guard_core::drop_policy::{DropMode, DroppedTable};
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
            | pg_sys::NodeTag::T_DropOwnedStmt
            | pg_sys::NodeTag::T_TruncateStmt
            | pg_sys::NodeTag::T_AlterTableStmt
    ) && shards::citus_metadata_here()
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
                            out.extend(shards::citus_tables_in(nsp).into_iter().map(|r| (r, None)));
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
            pg_sys::NodeTag::T_DropOwnedStmt => {
                // The Citus tables of the roles named, which DROP OWNED deletes.
                let stmt = &*(node as *mut pg_sys::DropOwnedStmt);
                for role in crate::ffi::list_elements::<pg_sys::RoleSpec>(stmt.roles) {
                    let oid = pg_sys::get_rolespec_oid(role, true);
                    if oid != pg_sys::InvalidOid {
                        out.extend(
                            shards::citus_tables_owned_by(oid)
                                .into_iter()
                                .map(|r| (r, None)),
                        );
                    }
                }
                ("DROP OWNED", out)
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
                    // A column that is not there (IF EXISTS) or a system column: Postgres'
                    // own NOTICE or error.
                    if (*cmd).subtype == pg_sys::AlterTableType::AT_DropColumn
                        && !(*cmd).name.is_null()
                        && pg_sys::get_attnum(relid, (*cmd).name) > 0
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
    let targets: Vec<_> = targets
        .into_iter()
        .filter(|(relid, _)| *relid != pg_sys::InvalidOid && shards::is_citus_table(*relid))
        .collect();
    // Asked only once a Citus table is at stake: most statements in a Citus database name none.
    if targets.is_empty() || !shards::on_coordinator() {
        // On a worker, Citus itself runs the shell table's share of a statement the coordinator
        // judged; the shards there are each node's guard's.
        return;
    }
    for (relid, column) in targets {
        if !may_change(relid, tag) {
            // Postgres' own error (missing right) comes first, unhelped.
            continue;
        }
        judge_table(tag, mode, relid, column);
    }
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
    // ALTER TABLE is the table owner's alone; a DROP, its schema's owner's too.
    let (owner, nsp_owner) = with_safe_search_path(|| {
        Spi::get_two_with_args::<pg_sys::Oid, pg_sys::Oid>(
            "SELECT c.relowner, n.nspowner FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE c.oid OPERATOR(pg_catalog.=) $1",
            &[relid.into()],
        )
    })
    .unwrap_or((None, None));
    let nsp_owner = if tag == "ALTER TABLE" {
        None
    } else {
        nsp_owner
    };
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
    // None: the role's own look could miss rows; counted as holding them.
    if shards::holds_rows(relid, &name, column.as_deref()) == Some(false) {
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
        estimate: shards::summed_estimate(relid),
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
    // The workers name their shards after each table: the partitions' too.
    let tree = partition_tree(relid);
    shards::judged_here(&tree.iter().map(|(oid, _, _)| *oid).collect::<Vec<_>>());
    let mut value = gucs::distributed_permit();
    for (_, pschema, ptable) in tree {
        value = distributed::add(
            &value,
            DistributedPermit {
                schema: pschema,
                table: ptable,
                ..permit.clone()
            },
        );
    }
    carry_to_workers(&value);
}

/// The table and its partitions, at every level: each one's OID and catalog spelling.
fn partition_tree(relid: pg_sys::Oid) -> Vec<(pg_sys::Oid, String, String)> {
    with_safe_search_path(|| {
        Spi::connect(|client| {
            client
                .select(
                    // pg_partition_tree lists nothing for a table that is not partitioned.
                    "SELECT c.oid, n.nspname::pg_catalog.text, c.relname::pg_catalog.text \
                     FROM (SELECT $1::pg_catalog.regclass AS relid \
                           UNION SELECT p.relid FROM pg_catalog.pg_partition_tree($1::pg_catalog.regclass) p) t \
                     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid \
                     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace",
                    None,
                    &[relid.into()],
                )?
                .map(|row| {
                    Ok::<_, pgrx::spi::SpiError>((
                        row.get::<pg_sys::Oid>(1)?,
                        row.get::<String>(2)?,
                        row.get::<String>(3)?,
                    ))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|v| {
                    v.into_iter()
                        .filter_map(|(o, a, b)| Some((o?, a?, b?)))
                        .collect()
                })
        })
    })
    .unwrap_or_else(|e| report::failed("reading the partitions of a Citus table", e))
}

/// `SET LOCAL memory_guard.distributed_permit`, made so that Citus sends it on every connection
/// of this distributed transaction (it does for SET LOCAL in a transaction block or a DO block
/// while citus.propagate_set_commands = local), and here too.
fn carry_to_workers(value: &str) {
    let literal = value.replace('\'', "''");
    // citus.propagate_set_commands stays `local` for the rest of the transaction: Citus
    // consults it again when it opens a worker connection later in the transaction, which is
    // when it sends the setting along. So the caller's own later SET LOCALs in this transaction
    // reach the workers too.
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
