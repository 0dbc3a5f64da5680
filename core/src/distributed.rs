//! Citus: a permit given on the coordinator travels to the workers inside the distributed
//! transaction as a setting (`memory_guard.distributed_permit`), and each node's guard matches the
//! shards it is asked to drop against it. Citus names a shard after its table: `events` in
//! schema `public` has shards `public.events_102008`, … in the same schema.

use serde::{Deserialize, Serialize};

/// One distributed table whose rows may go, as the coordinator acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributedPermit {
    pub schema: String,
    pub table: String,
    /// The reason given on the coordinator (or the mode that let it through there).
    pub reason: String,
    /// The role that gave it.
    pub by: String,
}

/// The setting's value: the permits of the transaction, as JSON. Anything else (a value set by
/// hand that is not such a list, or one with a blank reason) grants nothing.
pub fn parse(value: &str) -> Vec<DistributedPermit> {
    serde_json::from_str::<Vec<DistributedPermit>>(value)
        .map(|v| {
            v.into_iter()
                .filter(|p| !p.reason.trim().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The setting's value with `permit` added (once).
pub fn add(value: &str, permit: DistributedPermit) -> String {
    let mut all = parse(value);
    if !all.contains(&permit) {
        all.push(permit);
    }
    serde_json::to_string(&all).expect("plain strings serialize")
}

/// Whether `relname` in `schema` is a shard of `permit`'s table: the table's name, an
/// underscore, and the shard id's digits.
pub fn is_shard_of(schema: &str, relname: &str, permit: &DistributedPermit) -> bool {
    schema == permit.schema
        && relname
            .strip_prefix(permit.table.as_str())
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// The permit covering a shard, if any.
pub fn covering<'a>(
    permits: &'a [DistributedPermit],
    schema: &str,
    relname: &str,
) -> Option<&'a DistributedPermit> {
    permits.iter().find(|p| is_shard_of(schema, relname, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> DistributedPermit {
        DistributedPermit {
            schema: "public".into(),
            table: "events".into(),
            reason: "moved to the warehouse".into(),
            by: "app".into(),
        }
    }

    #[test]
    fn shards_are_the_table_name_and_a_shard_id() {
        let p = events();
        assert!(is_shard_of("public", "events_102008", &p));
        assert!(
            !is_shard_of("public", "events", &p),
            "the table itself is not a shard"
        );
        assert!(!is_shard_of("public", "events_", &p));
        assert!(!is_shard_of("public", "events_log_102008", &p));
        assert!(!is_shard_of("public", "events_10x2", &p));
        assert!(
            !is_shard_of("other", "events_102008", &p),
            "same name, other schema"
        );
        assert!(!is_shard_of("public", "eventsx_102008", &p));
    }

    #[test]
    fn the_setting_round_trips_and_keeps_each_permit_once() {
        let v = add("", events());
        let v = add(&v, events());
        assert_eq!(parse(&v), vec![events()]);
        let mut other = events();
        other.table = "countries".into();
        let v = add(&v, other.clone());
        assert_eq!(parse(&v), vec![events(), other]);
    }

    #[test]
    fn a_value_that_is_not_a_permit_list_grants_nothing() {
        for v in [
            "",
            "on",
            "{}",
            "[1]",
            r#"[{"schema":"public","table":"events"}]"#,
        ] {
            assert!(parse(v).is_empty(), "{v}");
        }
        let blank = r#"[{"schema":"public","table":"events","reason":"  ","by":"x"}]"#;
        assert!(parse(blank).is_empty(), "a blank reason is no reason");
    }

    #[test]
    fn covering_finds_the_permit_of_the_shard() {
        let permits = vec![events()];
        assert_eq!(
            covering(&permits, "public", "events_102040"),
            Some(&permits[0])
        );
        assert_eq!(covering(&permits, "public", "orders_102040"), None);
    }
}
