//! The Postgres functions on the path of every DDL statement, declared here instead of called
//! through pgrx's bindings.
//!
//! pgrx wraps each binding in its own guard (a `sigsetjmp` that turns a Postgres error into a
//! Rust panic), instantiated anew at every call site. What memory_guard costs a DDL statement
//! is mostly how much of its code the statement runs, not how many instructions: on a busy
//! server that code is cold each time (bench/ddl_overhead.sh measured about 80 ns per cache line
//! of it), and those wrappers were a quarter of the lines. So here:
//! - functions that only read backend state and cannot raise are called bare;
//! - the others share one guard, [`guarded`]. If Postgres raises inside it, its longjmp lands in
//!   that guard, crossing only the frames of the wrappers below, which hold plain values and
//!   nothing to drop (exactly what pgrx's own wrappers cross), and pgrx raises it again as a
//!   Rust panic from there.
#![allow(non_snake_case)]

use pgrx::pg_sys;

/// Runs `f`, which calls Postgres functions from [`raw`], inside one pgrx guard.
fn guarded(f: &mut dyn FnMut()) {
    // SAFETY: pgrx's own guard; `f` and the frames it crosses hold no values with destructors.
    unsafe { pg_sys::ffi::pg_guard_ffi_boundary(f) }
}

/// Runs `f`, whose calls into Postgres are not wrapped by pgrx (a table access method's
/// callbacks, reached through the relation's function pointers), inside the shared guard.
///
/// # Safety
/// `f` and the frames it runs must hold no values with destructors: a Postgres error crosses
/// them with a longjmp.
pub unsafe fn guarded_value<R>(f: impl FnOnce() -> R) -> R {
    let mut f = Some(f);
    let mut out = None;
    guarded(&mut || out = f.take().map(|f| f()));
    out.expect("the guarded call returned")
}

mod raw {
    use pgrx::pg_sys::*;
    extern "C-unwind" {
        pub fn GetCurrentSubTransactionId() -> SubTransactionId;
        pub fn GetCurrentCommandId(used: bool) -> CommandId;
        pub fn CreateCommandTag(parsetree: *mut Node) -> CommandTag::Type;
        #[cfg(feature = "pg15")]
        pub fn LockHeldByMe(locktag: *const LOCKTAG, lockmode: LOCKMODE) -> bool;
        // 17 added `orstronger`.
        #[cfg(not(feature = "pg15"))]
        pub fn LockHeldByMe(locktag: *const LOCKTAG, lockmode: LOCKMODE, orstronger: bool) -> bool;
        pub fn CheckRelationOidLockedByMe(relid: Oid, lockmode: LOCKMODE, orstronger: bool)
            -> bool;
        pub fn get_rel_namespace(relid: Oid) -> Oid;
        pub fn get_typ_typrelid(typid: Oid) -> Oid;
        pub fn get_element_type(typid: Oid) -> Oid;
        pub fn get_array_type(typid: Oid) -> Oid;
        pub fn get_transform_oid(type_id: Oid, lang_id: Oid, missing_ok: bool) -> Oid;
        pub fn relation_open(relid: Oid, lockmode: LOCKMODE) -> Relation;
        pub fn relation_close(relation: Relation, lockmode: LOCKMODE);
        pub fn SearchSysCache1(cache: std::ffi::c_int, key1: Datum) -> HeapTuple;
        pub fn SearchSysCacheExists(
            cache: std::ffi::c_int,
            key1: Datum,
            key2: Datum,
            key3: Datum,
            key4: Datum,
        ) -> bool;
        pub fn SysCacheGetAttr(
            cache: std::ffi::c_int,
            tup: HeapTuple,
            attnum: AttrNumber,
            is_null: *mut bool,
        ) -> Datum;
        pub fn ReleaseSysCache(tuple: HeapTuple);
        pub fn EventCacheLookup(event: std::ffi::c_int) -> *mut List;
        pub fn GetTempNamespaceState(temp_namespace: *mut Oid, temp_toast_namespace: *mut Oid);
    }
}

/// The elements of a Postgres `List` of pointers (a parse tree's, or a cache's), as pointers to
/// `T`; none for NIL. Reads the list's own array, so it calls nothing and cannot raise.
///
/// # Safety
/// `list` is NIL or a valid pointer List whose elements are `T`s, alive while iterated.
pub unsafe fn list_elements<T>(list: *mut pg_sys::List) -> impl Iterator<Item = *mut T> {
    let len = if list.is_null() {
        0
    } else {
        // SAFETY: a valid List (the caller's contract).
        unsafe { (*list).length as usize }
    };
    (0..len).map(move |i| {
        // SAFETY: an element of the List's array, below its length (the caller's contract).
        unsafe { (*(*list).elements.add(i)).ptr_value.cast::<T>() }
    })
}

/// Called bare: each reads a field of the transaction state, this backend's lock table or its
/// temporary namespace, and none raises (CreateCommandTag only warns about a node it does not
/// know).
pub use raw::{
    CheckRelationOidLockedByMe, CreateCommandTag, GetCurrentCommandId, GetCurrentSubTransactionId,
    GetTempNamespaceState,
};

/// Whether this backend holds `lockmode` itself on the lock `locktag` names (LockHeldByMe);
/// reads the backend's local lock table and cannot raise.
///
/// # Safety
/// `locktag` must be a fully initialised tag.
pub unsafe fn lock_held_by_me(locktag: *const pg_sys::LOCKTAG, lockmode: pg_sys::LOCKMODE) -> bool {
    // SAFETY: the caller's contract; the declaration matches the major built for (above).
    #[cfg(feature = "pg15")]
    return unsafe { raw::LockHeldByMe(locktag, lockmode) };
    // SAFETY: as above.
    #[cfg(not(feature = "pg15"))]
    return unsafe { raw::LockHeldByMe(locktag, lockmode, false) };
}

/// Postgres functions that may raise (they read the catalog), each called inside [`guarded`]
/// with the arguments and result of its C declaration.
macro_rules! guarded_calls {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $none:expr;)*) => {$(
        /// # Safety
        /// As for the Postgres function of this name.
        pub unsafe fn $name($($arg: $ty),*) -> $ret {
            let mut out = $none;
            // SAFETY: the caller's contract for the Postgres function.
            guarded(&mut || out = unsafe { raw::$name($($arg),*) });
            out
        }
    )*};
}

guarded_calls! {
    fn get_rel_namespace(relid: pg_sys::Oid) -> pg_sys::Oid = pg_sys::InvalidOid;
    fn get_typ_typrelid(typid: pg_sys::Oid) -> pg_sys::Oid = pg_sys::InvalidOid;
    fn get_element_type(typid: pg_sys::Oid) -> pg_sys::Oid = pg_sys::InvalidOid;
    fn get_array_type(typid: pg_sys::Oid) -> pg_sys::Oid = pg_sys::InvalidOid;
    fn get_transform_oid(type_id: pg_sys::Oid, lang_id: pg_sys::Oid, missing_ok: bool)
        -> pg_sys::Oid = pg_sys::InvalidOid;
    fn relation_open(relid: pg_sys::Oid, lockmode: pg_sys::LOCKMODE)
        -> pg_sys::Relation = std::ptr::null_mut();
    fn relation_close(relation: pg_sys::Relation, lockmode: pg_sys::LOCKMODE) -> () = ();
    fn SearchSysCache1(cache: std::ffi::c_int, key1: pg_sys::Datum)
        -> pg_sys::HeapTuple = std::ptr::null_mut();
    fn SearchSysCacheExists(
        cache: std::ffi::c_int,
        key1: pg_sys::Datum,
        key2: pg_sys::Datum,
        key3: pg_sys::Datum,
        key4: pg_sys::Datum
    ) -> bool = false;
    fn SysCacheGetAttr(
        cache: std::ffi::c_int,
        tup: pg_sys::HeapTuple,
        attnum: pg_sys::AttrNumber,
        is_null: *mut bool
    ) -> pg_sys::Datum = pg_sys::Datum::from(0);
    fn ReleaseSysCache(tuple: pg_sys::HeapTuple) -> () = ();
    // utils/evtcache.h, which pgrx does not bind: a rebuild of the cache reads the catalog.
    fn EventCacheLookup(event: std::ffi::c_int) -> *mut pg_sys::List = std::ptr::null_mut();
}

/// An entry of the event trigger cache (utils/evtcache.h of Postgres 15, not bound by pgrx).
#[repr(C)]
pub struct EventTriggerCacheItem {
    pub fnoid: pg_sys::Oid,
    pub enabled: std::ffi::c_char,
    pub tagset: *mut pg_sys::Bitmapset,
}

// Calls whose names or arguments changed between the majors memory_guard builds for: 16 folded
// the per-catalog ACL and owner checks into object_aclcheck/object_ownercheck, and gave
// stringToQualifiedNameList a soft-error context. Each goes through pgrx's binding.

/// The current user's `mode` right on `object` of catalog `class` (a database, a schema).
///
/// # Safety
/// Inside a transaction; `object` is an OID of `class`'s catalog.
pub unsafe fn acl_ok(class: pg_sys::Oid, object: pg_sys::Oid, mode: pg_sys::AclMode) -> bool {
    // SAFETY: the caller's contract; the ACL checks raise only for an object that is gone.
    let result = unsafe {
        #[cfg(feature = "pg15")]
        {
            if class == pg_sys::DatabaseRelationId {
                pg_sys::pg_database_aclcheck(object, pg_sys::GetUserId(), mode)
            } else {
                pg_sys::pg_namespace_aclcheck(object, pg_sys::GetUserId(), mode)
            }
        }
        #[cfg(not(feature = "pg15"))]
        {
            pg_sys::object_aclcheck(class, object, pg_sys::GetUserId(), mode)
        }
    };
    result == pg_sys::AclResult::ACLCHECK_OK
}

/// Whether the current user owns relation `relid` (or is a member of its owner, or superuser).
///
/// # Safety
/// Inside a transaction.
pub unsafe fn owns_relation(relid: pg_sys::Oid) -> bool {
    // SAFETY: the caller's contract; a syscache lookup by OID.
    unsafe {
        #[cfg(feature = "pg15")]
        {
            pg_sys::pg_class_ownercheck(relid, pg_sys::GetUserId())
        }
        #[cfg(not(feature = "pg15"))]
        {
            pg_sys::object_ownercheck(pg_sys::RelationRelationId, relid, pg_sys::GetUserId())
        }
    }
}

/// A qualified name parsed into a List of String nodes (raises 42602 on bad syntax).
///
/// # Safety
/// `name` is a NUL-terminated string.
pub unsafe fn qualified_name_list(name: *const std::ffi::c_char) -> *mut pg_sys::List {
    // SAFETY: the caller's contract; no soft-error context, so bad syntax raises.
    unsafe {
        #[cfg(feature = "pg15")]
        {
            pg_sys::stringToQualifiedNameList(name)
        }
        #[cfg(not(feature = "pg15"))]
        {
            pg_sys::stringToQualifiedNameList(name, std::ptr::null_mut())
        }
    }
}

/// pg_largeobject's OID (catalog/pg_largeobject.h), the class of a large object in the
/// dependency machinery; not bound by pgrx.
pub const LARGE_OBJECT_RELATION_ID: pg_sys::Oid = pg_sys::Oid::from_u32(2613);

/// Whether `item` reads as an EventTriggerCacheItem: `enabled` is one of the trigger states of
/// pg_event_trigger.evtenabled (origin, disabled, replica, always).
pub fn looks_like_a_cache_item(item: &EventTriggerCacheItem) -> bool {
    matches!(item.enabled as u8, b'O' | b'D' | b'R' | b'A')
}

/// `EventTriggerEvent`'s first member.
pub const EVT_DDL_COMMAND_START: std::ffi::c_int = 0;

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    // A Postgres error inside the shared guard reaches the client as that error, and what runs
    // after it in Rust is never reached.
    #[pg_test(error = "could not open relation with OID 4294967294")]
    fn an_error_inside_the_shared_guard_is_raised_as_postgres_raised_it() {
        // SAFETY: relation_open raises for an OID no relation has; that is the point.
        unsafe { super::relation_open(pg_sys::Oid::from(u32::MAX - 1), pg_sys::NoLock as i32) };
        unreachable!("relation_open returned for a relation that does not exist");
    }

    // The hand-declared items, checked against the server running the tests: a layout or a
    // signature that does not match gives other answers than the catalog's.
    #[pg_test]
    fn the_event_trigger_cache_item_matches_the_catalog() {
        let (fnoid, enabled) = Spi::get_two::<pg_sys::Oid, i8>(
            "SELECT evtfoid, evtenabled::\"char\" FROM pg_event_trigger WHERE evtname = 'memory_guard_ddl_command_start'",
        )
        .unwrap();
        let (fnoid, enabled) = (fnoid.unwrap(), enabled.unwrap() as u8);
        // SAFETY: the cache list of this backend, read within the test's transaction.
        let found: Vec<(pg_sys::Oid, u8)> = unsafe {
            super::list_elements::<super::EventTriggerCacheItem>(super::EventCacheLookup(
                super::EVT_DDL_COMMAND_START,
            ))
            .map(|item| ((*item).fnoid, (*item).enabled as u8))
            .collect()
        };
        assert!(found.contains(&(fnoid, enabled)), "{found:?}");
        // SAFETY: as above.
        assert!(unsafe {
            super::list_elements::<super::EventTriggerCacheItem>(super::EventCacheLookup(
                super::EVT_DDL_COMMAND_START,
            ))
            .all(|item| super::looks_like_a_cache_item(&*item))
        });
    }

    #[pg_test]
    fn the_lock_checks_answer_for_held_and_unheld_locks() {
        // Catalogs nothing in the test's transaction has touched; regclass casts take no lock.
        let locked =
            Spi::get_one::<pg_sys::Oid>("SELECT 'pg_catalog.pg_description'::regclass::oid")
                .unwrap()
                .unwrap();
        let unlocked =
            Spi::get_one::<pg_sys::Oid>("SELECT 'pg_catalog.pg_seclabel'::regclass::oid")
                .unwrap()
                .unwrap();
        Spi::run("LOCK TABLE pg_catalog.pg_description IN SHARE MODE").unwrap();
        let share = pg_sys::ShareLock as i32;
        let exclusive = pg_sys::AccessExclusiveLock as i32;
        // SAFETY: lock-table lookups of this backend, with LOCKTAGs built as SET_LOCKTAG_RELATION
        // builds them.
        unsafe {
            assert!(super::CheckRelationOidLockedByMe(locked, share, false));
            assert!(!super::CheckRelationOidLockedByMe(locked, exclusive, false));
            assert!(!super::CheckRelationOidLockedByMe(unlocked, share, true));
            let tag = |relid: pg_sys::Oid| pg_sys::LOCKTAG {
                locktag_field1: pg_sys::MyDatabaseId.to_u32(),
                locktag_field2: relid.to_u32(),
                locktag_field3: 0,
                locktag_field4: 0,
                locktag_type: pg_sys::LockTagType::LOCKTAG_RELATION as u8,
                locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
            };
            assert!(super::lock_held_by_me(&tag(locked), share));
            assert!(!super::lock_held_by_me(&tag(unlocked), share));
        }
    }

    #[pg_test]
    fn the_large_object_class_is_pg_largeobject() {
        let oid = Spi::get_one::<pg_sys::Oid>("SELECT 'pg_catalog.pg_largeobject'::regclass::oid")
            .unwrap()
            .unwrap();
        assert_eq!(super::LARGE_OBJECT_RELATION_ID, oid);
    }

    #[pg_test]
    fn guarded_lookups_answer_as_the_bindings_do() {
        let oid = Spi::get_one::<pg_sys::Oid>("SELECT 'pg_class'::regclass::oid")
            .unwrap()
            .unwrap();
        // SAFETY: syscache lookups by OID inside the test's transaction.
        unsafe {
            assert_eq!(
                super::get_rel_namespace(oid),
                pg_sys::get_rel_namespace(oid)
            );
            assert_eq!(
                super::get_array_type(pg_sys::INT4OID),
                pg_sys::get_array_type(pg_sys::INT4OID)
            );
            assert_eq!(
                super::get_rel_namespace(pg_sys::Oid::from(u32::MAX - 1)),
                pg_sys::InvalidOid
            );
        }
    }
}
