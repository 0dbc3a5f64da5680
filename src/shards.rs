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

/// Tables this backend judged itself, as the coordinator, in this transaction: their shards on
/// this node (a reference table's placement here) were judged with them and are not
/// recorded again. A value of the setting made by hand never lands here.
static JUDGED_HERE: SessionLocal<RefCell<Vec<(String, String)>>> =
    SessionLocal::new(RefCell::new(Vec::new()));

pub fn judged_here(schema: &str, table: &str) {
    JUDGED_HERE.with(|j| j.borrow_mut().push((schema.to_string(), table.to_string())));
}

pub fn transaction_end() {
    JUDGED_HERE.with(|j| j.borrow_mut().clear());
}

/// What covers a relation about to lose data, when it is a shard of an acknowledged table.
pub enum Covered {
    /// Judged by this backend as the distributed table: nothing more to do.
    JudgedHere,
    /// Acknowledged on the coordinator: lets it through, recorded here.
    Permit(DistributedPermit),
}

/// `schema` and `relname` as the catalog spells them (the relation may be gone already).
pub fn covered(schema: &str, relname: &str) -> Option<Covered> {
    let value = gucs::distributed_permit();
    if value.is_empty() {
        return None;
    }
    let permits = distributed::parse(&value);
    let permit = distributed::covering(&permits, schema, relname)?.clone();
    let here = JUDGED_HERE.with(|j| {
        j.borrow()
            .iter()
            .any(|(s, t)| *s == permit.schema && *t == permit.table)
    });
    Some(if here {
        Covered::JudgedHere
    } else {
        Covered::Permit(permit)
    })
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

pub fn citus_tables_in(nsp: pg_sys::Oid) -> Vec<pg_sys::Oid> {
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

/// Whether the distributed table `name` (qualified, quoted) holds a row, or with `column` a
/// value in it: looked for through Citus, in every shard wherever it lives, under this
/// transaction's snapshot, as memory_guard's owner (row-level security and the caller's rights
/// hide nothing), over one connection per node (a statement on a distributed schema later in
/// the transaction refuses to follow a read spread over several).
pub fn holds_rows(name: &str, column: Option<&str>) -> bool {
    let query = match column {
        None => format!("SELECT EXISTS (SELECT 1 FROM {name})"),
        Some(c) => format!(
            "SELECT EXISTS (SELECT 1 FROM {name} WHERE pg_catalog.num_nonnulls({}) OPERATOR(pg_catalog.>) 0)",
            probe::quote_identifier(c)
        ),
    };
    as_extension_owner(|| {
        with_settings(&[(c"citus.max_adaptive_executor_pool_size", c"1")], || {
            with_safe_search_path(|| Spi::get_one::<bool>(&query))
        })
    })
    .unwrap_or_else(|e| report::failed("looking for rows through Citus", e))
    .unwrap_or(false)
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
