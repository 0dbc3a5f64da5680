//! Reading the system catalogs through the syscache, without SQL: the lookups every layer
//! above shares.

use crate::ffi;
use pgrx::pg_sys;

/// Reads the catalog row with this key (an OID, or a C string for a cache by name) through the
/// syscache, as the fixed-size struct `F` of its catalog (`FormData_pg_class` for RELOID, …):
/// `read` sees it, and the tuple for `SysCacheGetAttr`, while the row is pinned. `None` when
/// there is no such row.
pub fn catalog_row<F, R>(
    cache: pg_sys::SysCacheIdentifier::Type,
    key: impl Into<pg_sys::Datum>,
    read: impl FnOnce(&F, pg_sys::HeapTuple) -> R,
) -> Option<R> {
    // SAFETY: a one-key syscache lookup; the tuple stays pinned until ReleaseSysCache, after
    // `read` returns, and its fixed-size part (GETSTRUCT) is the catalog's struct, which the
    // caller names with `F` for the cache it asks.
    unsafe {
        let tup = ffi::SearchSysCache1(cache as i32, key.into());
        if tup.is_null() {
            return None;
        }
        let result = read(&*(heap_struct(tup) as *const F), tup);
        ffi::ReleaseSysCache(tup);
        Some(result)
    }
}

/// Whether a relation with this OID is visible in the catalog to the current command.
pub fn relation_exists(relid: pg_sys::Oid) -> bool {
    exists_in(pg_sys::SysCacheIdentifier::RELOID, relid)
}

/// Whether the catalog row with this OID is visible to the current command.
pub fn exists_in(cache: pg_sys::SysCacheIdentifier::Type, oid: pg_sys::Oid) -> bool {
    // SAFETY: a syscache existence check by OID has no preconditions inside a transaction.
    unsafe {
        ffi::SearchSysCacheExists(
            cache as i32,
            pg_sys::Datum::from(oid),
            pg_sys::Datum::from(0),
            pg_sys::Datum::from(0),
            pg_sys::Datum::from(0),
        )
    }
}

/// The fixed-size part of a heap tuple (Postgres' GETSTRUCT).
///
/// # Safety
/// `tup` must be a valid heap tuple.
pub unsafe fn heap_struct(tup: pg_sys::HeapTuple) -> *const u8 {
    // SAFETY: the caller's contract; t_hoff is the offset of the data within the header.
    unsafe { ((*tup).t_data as *const u8).add((*(*tup).t_data).t_hoff as usize) }
}

// Fixed OIDs and column numbers from the catalog headers that pgrx does not bind; each is
// checked against the running server by a test below.

/// pg_inherits (pg_inherits.h) and its (inhrelid, inhseqno) index; columns inhrelid, inhparent.
pub const INHERITS_RELATION_ID: pg_sys::Oid = pg_sys::Oid::from_u32(2611);
pub const INHERITS_RELID_SEQNO_INDEX_ID: pg_sys::Oid = pg_sys::Oid::from_u32(2680);
pub const ANUM_INHRELID: i16 = 1;
pub const ANUM_INHPARENT: i32 = 2;
/// pg_depend (pg_depend.h) and its (classid, objid, objsubid) index.
pub const DEPEND_RELATION_ID: pg_sys::Oid = pg_sys::Oid::from_u32(2608);
pub const DEPEND_DEPENDER_INDEX_ID: pg_sys::Oid = pg_sys::Oid::from_u32(2673);
/// Catalogs of objects that belong to one table, and pg_language.
pub const ATTRDEF_RELATION_ID: u32 = 2604;
pub const CONSTRAINT_RELATION_ID: u32 = 2606;
pub const REWRITE_RELATION_ID: u32 = 2618;
pub const POLICY_RELATION_ID: u32 = 3256;
pub const TRIGGER_RELATION_ID: u32 = 2620;
pub const LANGUAGE_RELATION_ID: u32 = 2612;
/// Where a catalog of what belongs to one table keeps an object: its index by OID, and the
/// columns of the object's name, of its table and (a default) of its column number.
#[derive(Clone, Copy)]
pub struct PartColumns {
    pub index: u32,
    pub name_column: Option<i32>,
    pub table_column: i32,
    pub attnum_column: Option<i32>,
}

pub const CONSTRAINT_PART: PartColumns = PartColumns {
    index: 2667,          // pg_constraint_oid_index
    name_column: Some(2), // conname
    table_column: CONRELID,
    attnum_column: None,
};
/// pg_constraint.conrelid (contypid follows it): 18 added conenforced before them.
#[cfg(not(feature = "pg18"))]
const CONRELID: i32 = 8;
#[cfg(feature = "pg18")]
const CONRELID: i32 = 9;
pub const TRIGGER_PART: PartColumns = PartColumns {
    index: 2702,          // pg_trigger_oid_index
    name_column: Some(4), // tgname
    table_column: 2,      // tgrelid
    attnum_column: None,
};
pub const POLICY_PART: PartColumns = PartColumns {
    index: 3257,          // pg_policy_oid_index
    name_column: Some(2), // polname
    table_column: 3,      // polrelid
    attnum_column: None,
};
pub const RULE_PART: PartColumns = PartColumns {
    index: 2692,          // pg_rewrite_oid_index
    name_column: Some(2), // rulename
    table_column: 3,      // ev_class
    attnum_column: None,
};
pub const DEFAULT_PART: PartColumns = PartColumns {
    index: 2657, // pg_attrdef_oid_index
    name_column: None,
    table_column: 2,        // adrelid
    attnum_column: Some(3), // adnum
};

/// pg_constraint.contypid: the domain of a domain constraint, 0 otherwise.
pub const ANUM_PG_CONSTRAINT_CONTYPID: i16 = CONRELID as i16 + 1;

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn oid_of(name: &str) -> u32 {
        Spi::get_one::<pg_sys::Oid>(&format!("SELECT '{name}'::pg_catalog.regclass::oid"))
            .unwrap()
            .unwrap()
            .to_u32()
    }

    fn attnum(table: &str, column: &str) -> i32 {
        Spi::get_one::<i16>(&format!(
            "SELECT attnum FROM pg_catalog.pg_attribute WHERE attrelid = '{table}'::pg_catalog.regclass AND attname = '{column}'"
        ))
        .unwrap()
        .map(i32::from)
        .unwrap()
    }

    #[pg_test]
    fn the_hand_declared_catalog_items_match_the_server() {
        assert_eq!(
            super::INHERITS_RELATION_ID.to_u32(),
            oid_of("pg_catalog.pg_inherits")
        );
        assert_eq!(
            super::INHERITS_RELID_SEQNO_INDEX_ID.to_u32(),
            oid_of("pg_catalog.pg_inherits_relid_seqno_index")
        );
        assert_eq!(
            i32::from(super::ANUM_INHRELID),
            attnum("pg_catalog.pg_inherits", "inhrelid")
        );
        assert_eq!(
            super::ANUM_INHPARENT,
            attnum("pg_catalog.pg_inherits", "inhparent")
        );
        assert_eq!(
            super::DEPEND_RELATION_ID.to_u32(),
            oid_of("pg_catalog.pg_depend")
        );
        assert_eq!(
            super::DEPEND_DEPENDER_INDEX_ID.to_u32(),
            oid_of("pg_catalog.pg_depend_depender_index")
        );
        assert_eq!(super::ATTRDEF_RELATION_ID, oid_of("pg_catalog.pg_attrdef"));
        assert_eq!(
            super::CONSTRAINT_RELATION_ID,
            oid_of("pg_catalog.pg_constraint")
        );
        assert_eq!(super::REWRITE_RELATION_ID, oid_of("pg_catalog.pg_rewrite"));
        assert_eq!(super::POLICY_RELATION_ID, oid_of("pg_catalog.pg_policy"));
        assert_eq!(super::TRIGGER_RELATION_ID, oid_of("pg_catalog.pg_trigger"));
        assert_eq!(
            super::LANGUAGE_RELATION_ID,
            oid_of("pg_catalog.pg_language")
        );
        assert_eq!(
            i32::from(super::ANUM_PG_CONSTRAINT_CONTYPID),
            attnum("pg_catalog.pg_constraint", "contypid")
        );
        for (catalog, part, index, name, table, column) in [
            (
                "pg_constraint",
                super::CONSTRAINT_PART,
                "pg_constraint_oid_index",
                Some("conname"),
                "conrelid",
                None,
            ),
            (
                "pg_trigger",
                super::TRIGGER_PART,
                "pg_trigger_oid_index",
                Some("tgname"),
                "tgrelid",
                None,
            ),
            (
                "pg_policy",
                super::POLICY_PART,
                "pg_policy_oid_index",
                Some("polname"),
                "polrelid",
                None,
            ),
            (
                "pg_rewrite",
                super::RULE_PART,
                "pg_rewrite_oid_index",
                Some("rulename"),
                "ev_class",
                None,
            ),
            (
                "pg_attrdef",
                super::DEFAULT_PART,
                "pg_attrdef_oid_index",
                None,
                "adrelid",
                Some("adnum"),
            ),
        ] {
            let catalog = format!("pg_catalog.{catalog}");
            assert_eq!(
                part.index,
                oid_of(&format!("pg_catalog.{index}")),
                "{index}"
            );
            assert_eq!(
                part.name_column,
                name.map(|n| attnum(&catalog, n)),
                "{catalog}"
            );
            assert_eq!(part.table_column, attnum(&catalog, table), "{catalog}");
            assert_eq!(
                part.attnum_column,
                column.map(|c| attnum(&catalog, c)),
                "{catalog}"
            );
        }
    }
}
