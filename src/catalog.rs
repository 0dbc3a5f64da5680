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
