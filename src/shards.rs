//! Shards of Citus tables whose drop the coordinator acknowledged: read from
//! `memory_guard.distributed_permit`, which Citus carries to the workers of the distributed
//! transaction (`distributed.rs` sets it).

use crate::gucs;
use crate::session::SessionLocal;
use memory_guard_core::distributed::{self, DistributedPermit};
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
