//! Shards of Citus tables whose drop the coordinator acknowledged: read from
//! `memory_guard.distributed_permit`, which Citus carries to the workers of the distributed
//! transaction (`distributed.rs` sets it); and what a node knows of Citus tables: which they
//! are, whether they hold rows (looked for through Citus), their estimate over the shards.

use crate::extension::{as_extension_owner, with_safe_search_path, with_settings};
use crate::session::SessionLocal;
use crate::{gucs, probe, report};
use memory_guard_core::distributed::{self, DistributedPermit};
use memory_guard_core::drop_policy::RowEstimate;
use pgrx::prelude::*;
use std::cell::RefCell;

/// Shards on this node (a reference table's placement on the coordinator) of tables this
/// backend judged itself, as the coordinator, in this transaction, by relation and the
/// subtransaction that judged them: they were judged with their table and are not recorded
/// again. Only exact shard relations land here; a setting made by hand never does.
static JUDGED_HERE: SessionLocal<RefCell<Vec<(pg_sys::Oid, pg_sys::SubTransactionId)>>> =
    SessionLocal::new(RefCell::new(Vec::new()));

/// Notes the shards of these Citus tables (a table and its partitions) that live on this node.
pub fn judged_here(relids: &[pg_sys::Oid]) {
    let local: Vec<pg_sys::Oid> = with_settings(&[(c"citus.override_table_visibility", c"off")], || {
        with_safe_search_path(|| {
            Spi::connect(|client| {
                client
                    .select(
                        // Citus names a shard `<table>_<shardid>` in its table's schema (its
                        // shard_name() leaves `public.` out, which to_regclass then misses).
                        "SELECT pg_catalog.to_regclass(pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' \
                                OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname OPERATOR(pg_catalog.||) '_' \
                                OPERATOR(pg_catalog.||) s.shardid::pg_catalog.text))::pg_catalog.oid \
                         FROM pg_catalog.pg_dist_shard s \
                         JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.logicalrelid \
                         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
                         WHERE s.logicalrelid::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1)",
                        None,
                        &[relids.to_vec().into()],
                    )?
                    .map(|row| row.get::<pg_sys::Oid>(1))
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| v.into_iter().flatten().collect())
            })
        })
    })
    .unwrap_or_else(|e| report::failed("reading Citus' pg_dist_shard", e));
    // SAFETY: reads the backend's current subtransaction id.
    let sub = unsafe { pg_sys::GetCurrentSubTransactionId() };
    JUDGED_HERE.with(|j| j.borrow_mut().extend(local.into_iter().map(|r| (r, sub))));
}

pub fn transaction_end() {
    JUDGED_HERE.with(|j| j.borrow_mut().clear());
}

/// A subtransaction rolled back: what it and its children judged was never judged.
pub fn subtransaction_aborted(sub: pg_sys::SubTransactionId) {
    JUDGED_HERE.with(|j| j.borrow_mut().retain(|(_, s)| *s < sub));
}

/// What covers a relation about to lose data, when it is a shard of an acknowledged table.
pub enum Covered {
    /// A shard of a table this backend judged as the distributed table: nothing more to do.
    JudgedHere,
    /// A worker's shard of a table the coordinator acknowledged (the setting names it): lets it
    /// through when the role may drop it, recorded here.
    Permit(DistributedPermit),
}

/// `relid`, `schema` and `relname` of a relation about to lose data (it may be gone from the
/// catalog already).
pub fn covered(relid: pg_sys::Oid, schema: &str, relname: &str) -> Option<Covered> {
    if JUDGED_HERE.with(|j| j.borrow().iter().any(|(r, _)| *r == relid)) {
        return Some(Covered::JudgedHere);
    }
    let value = gucs::distributed_permit();
    if value.is_empty() || !citus_metadata_here() || on_coordinator() {
        // Only a Citus worker takes the setting: a coordinator judges its tables itself.
        return None;
    }
    let permits = distributed::parse(&value);
    distributed::covering(&permits, schema, relname)
        .cloned()
        .map(Covered::Permit)
}

/// Whether Citus' metadata exists in this database (one syscache lookup).
pub fn citus_metadata_here() -> bool {
    // SAFETY: a syscache lookup of a name in pg_catalog.
    unsafe {
        pg_sys::get_relname_relid(
            c"pg_dist_partition".as_ptr(),
            pg_sys::Oid::from(pg_sys::PG_CATALOG_NAMESPACE),
        ) != pg_sys::InvalidOid
    }
}

/// The Citus tables in schema `nsp`.
pub fn citus_tables_in(nsp: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    citus_tables_where("c.relnamespace", nsp)
}

/// The Citus tables `role` owns.
pub fn citus_tables_owned_by(role: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    citus_tables_where("c.relowner", role)
}

fn citus_tables_where(column: &str, oid: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let query = format!(
        "SELECT p.logicalrelid::pg_catalog.oid FROM pg_catalog.pg_dist_partition p \
         JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.logicalrelid \
         WHERE {column} OPERATOR(pg_catalog.=) $1 ORDER BY 1"
    );
    with_safe_search_path(|| {
        Spi::connect(|client| {
            client
                .select(&query, None, &[oid.into()])?
                .map(|row| row.get::<pg_sys::Oid>(1))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.into_iter().flatten().collect())
        })
    })
    .unwrap_or_else(|e| report::failed("reading Citus' pg_dist_partition", e))
}

pub fn on_coordinator() -> bool {
    with_safe_search_path(|| Spi::get_one::<bool>("SELECT pg_catalog.citus_is_coordinator()"))
        .ok()
        .flatten()
        .unwrap_or(true)
}

pub fn is_citus_table(relid: pg_sys::Oid) -> bool {
    with_safe_search_path(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid OPERATOR(pg_catalog.=) $1)",
            &[relid.into()],
        )
    })
    .unwrap_or_else(|e| report::failed("reading Citus' pg_dist_partition", e))
    .unwrap_or(false)
}

/// Whether the distributed table `relid` holds a row, or with `column` a value in it: looked
/// for through Citus, in every shard wherever it lives, under this transaction's snapshot, as
/// the current role, over the connections the statement will use (a read as another role would
/// hold shard locks on connections the statement cannot use, and deadlock it), one per node (a
/// statement on a distributed schema later in the transaction refuses to follow a read spread
/// over several). `None` when the role's own look could miss rows: it may not read the table,
/// or row-level security applies to it.
pub fn holds_rows(relid: pg_sys::Oid, name: &str, column: Option<&str>) -> Option<bool> {
    let readable = with_safe_search_path(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT pg_catalog.has_table_privilege($1, 'SELECT') \
               AND NOT EXISTS (SELECT FROM pg_catalog.pg_class c \
                                WHERE c.oid OPERATOR(pg_catalog.=) $1 AND c.relrowsecurity \
                                  AND (c.relforcerowsecurity \
                                       OR NOT pg_catalog.pg_has_role(c.relowner, 'USAGE')) \
                                  AND NOT (SELECT r.rolbypassrls OR r.rolsuper FROM pg_catalog.pg_roles r \
                                            WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER))",
            &[relid.into()],
        )
    })
    .ok()
    .flatten()
    .unwrap_or(false);
    if !readable {
        return None;
    }
    let query = match column {
        None => format!("SELECT EXISTS (SELECT 1 FROM {name})"),
        Some(c) => format!(
            "SELECT EXISTS (SELECT 1 FROM {name} WHERE pg_catalog.num_nonnulls({}) OPERATOR(pg_catalog.>) 0)",
            probe::quote_identifier(c)
        ),
    };
    Some(
        with_settings(
            &[
                (c"citus.max_adaptive_executor_pool_size", c"1"),
                (c"row_security", c"off"),
            ],
            || with_safe_search_path(|| Spi::get_one::<bool>(&query)),
        )
        .unwrap_or_else(|e| report::failed("looking for rows through Citus", e))
        .unwrap_or(false),
    )
}

/// The planner's row estimates of the shards, summed (each node keeps those of its shards), or
/// unknown with the shards' pages when one was never analyzed or a node does not answer.
pub fn summed_estimate(relid: pg_sys::Oid) -> RowEstimate {
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
