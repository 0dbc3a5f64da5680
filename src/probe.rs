//! Facts about a table that is about to be deleted, read straight from the table and the catalog.
//!
//! Called from the object-access hook while the deleting statement already holds the table's
//! AccessExclusiveLock, so no other transaction can have a row in flight. The row probe reads the
//! table through its access method with a fresh MVCC snapshot: it stops at the first visible row,
//! sees every row committed before the lock was granted (even under REPEATABLE READ), and ignores
//! row-level security and privileges, which would hide rows from the dropping role but not save
//! them from the drop.

use crate::{catalog, ffi};
use memory_guard_core::drop_policy::{
    ObjectRef, RelationName, RelationPath, RowEstimate, TablePart,
};
use pgrx::pg_sys;
use std::ffi::CStr;

/// InvalidSubTransactionId (c.h): rd_createSubid of a relation not created by this transaction.
const INVALID_SUB_TRANSACTION_ID: pg_sys::SubTransactionId = 0;

/// What the probe found for a plain table with storage that holds rows.
pub struct TableFacts {
    pub schema: String,
    pub relname: String,
    pub name: String,
    pub owner: pg_sys::Oid,
    pub is_partition: bool,
    pub estimate: RowEstimate,
    pub created_in_transaction: bool,
}

/// Probes `relid`, which the caller's statement has locked. `None` for tables without a visible
/// row, and for relations that hold no data of their own to lose: views, partitioned parents
/// (their partitions are probed), indexes, sequences, foreign tables, and temporary tables.
pub fn probe_locked_table(relid: pg_sys::Oid) -> Option<TableFacts> {
    probe(relid, None)
}

/// A foreign table that TRUNCATE is about to empty (the caller's statement has locked it): its
/// rows are on its server, which is never read, so it counts as holding rows. `None` for any
/// other relation.
pub fn foreign_table(relid: pg_sys::Oid) -> Option<TableFacts> {
    let (schema_oid, relname, owner, is_partition) = crate::catalog::catalog_row(
        pg_sys::SysCacheIdentifier::RELOID,
        relid,
        |form: &pg_sys::FormData_pg_class, _| {
            (form.relkind as u8 == pg_sys::RELKIND_FOREIGN_TABLE).then(|| {
                (
                    form.relnamespace,
                    // SAFETY: relname is a NUL-terminated NameData of the pinned row.
                    unsafe { CStr::from_ptr(form.relname.data.as_ptr()) }
                        .to_string_lossy()
                        .into_owned(),
                    form.relowner,
                    form.relispartition,
                )
            })
        },
    )
    .flatten()?;
    // SAFETY: a syscache lookup; NULL for a namespace that is gone.
    let nsp = unsafe { pg_sys::get_namespace_name(schema_oid) };
    if nsp.is_null() {
        return None;
    }
    // SAFETY: a palloc'd C string (checked above).
    let schema = unsafe { CStr::from_ptr(nsp) }
        .to_string_lossy()
        .into_owned();
    Some(TableFacts {
        name: qualified_name(&schema, &relname),
        schema,
        relname,
        owner,
        is_partition,
        estimate: RowEstimate::Remote,
        created_in_transaction: false,
    })
}

/// The probe behind both: `column` set, "holds rows" means "holds a value in that column".
fn probe(relid: pg_sys::Oid, column: Option<i32>) -> Option<TableFacts> {
    // SAFETY: the deleting statement holds a lock on relid (Postgres locks every object before
    // its dependency walk deletes it), so opening without a further lock is valid; the relation
    // stays open only inside this block and is closed on every path. Its pg_class row is copied
    // at once: the scan and the name lookups below can process invalidations, and a relcache
    // rebuild frees the row the entry pointed to.
    unsafe {
        let rel = ffi::relation_open(relid, pg_sys::NoLock as i32);
        let form: pg_sys::FormData_pg_class = *(*rel).rd_rel;
        let created_in_transaction = (*rel).rd_createSubid != INVALID_SUB_TRANSACTION_ID;
        if form.relkind as u8 != pg_sys::RELKIND_RELATION
            || form.relpersistence as u8 == pg_sys::RELPERSISTENCE_TEMP
        {
            ffi::relation_close(rel, pg_sys::NoLock as i32);
            return None;
        }
        // A heap table keeps every row in its main fork: with no pages it has none, and the
        // scan (a snapshot, a scan descriptor, a slot) is spared. Other access methods may keep
        // rows elsewhere, and are always scanned.
        let heap = form.relam == pg_sys::HEAP_TABLE_AM_OID;
        if heap && main_fork_is_empty(rel) {
            ffi::relation_close(rel, pg_sys::NoLock as i32);
            return None;
        }
        let current_pages =
            pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM) as u64;
        let has_rows = !(heap && current_pages == 0) && first_visible_row_exists(rel, column);
        ffi::relation_close(rel, pg_sys::NoLock as i32);
        if !has_rows {
            return None; // nothing to lose: the names are not worth looking up
        }
        let relname = CStr::from_ptr(form.relname.data.as_ptr())
            .to_string_lossy()
            .into_owned();
        let nsp = pg_sys::get_namespace_name(form.relnamespace);
        let schema = CStr::from_ptr(nsp).to_string_lossy().into_owned();
        Some(TableFacts {
            name: qualified_name(&schema, &relname),
            schema,
            relname,
            owner: form.relowner,
            is_partition: form.relispartition,
            estimate: RowEstimate::from_stats(
                form.reltuples as f64,
                form.relpages as i64,
                current_pages,
            ),
            created_in_transaction,
        })
    }
}

/// Whether the relation's main fork has no blocks, asked of the file system with one stat(2)
/// of its first segment. `RelationGetNumberOfBlocks` would open the file (the relcache closes it
/// at every invalidation, and a DROP invalidates a table before deleting it), seek to its end
/// and keep the descriptor: three system calls where one answers the common case. Postgres 15
/// writes each block it adds to the file at once (`mdextend`), so an empty first segment means
/// no blocks. `false` when the file is not empty or cannot be read: then ask the usual way.
///
/// # Safety
/// `rel` must be an open relation with storage.
pub unsafe fn main_fork_is_empty(rel: pg_sys::Relation) -> bool {
    // SAFETY: rel is open (caller's contract), so its physical address is valid.
    file_is_empty(unsafe { Storage::of(rel) })
}

/// Where a relation's main fork lives: Postgres 15's RelFileNode, 16's and later RelFileLocator,
/// and the backend (17: process number) of a temporary relation.
#[derive(Clone, Copy)]
struct Storage {
    tablespace: pg_sys::Oid,
    database: pg_sys::Oid,
    file: pg_sys::Oid,
    backend: i32,
}

/// The backend of a relation that is not temporary (InvalidBackendId; 17: INVALID_PROC_NUMBER).
#[cfg(feature = "pg15")]
const NO_BACKEND: i32 = pg_sys::InvalidBackendId;
#[cfg(not(feature = "pg15"))]
const NO_BACKEND: i32 = pg_sys::INVALID_PROC_NUMBER;

impl Storage {
    /// # Safety
    /// `rel` must be an open relation.
    #[cfg(feature = "pg15")]
    unsafe fn of(rel: pg_sys::Relation) -> Storage {
        // SAFETY: the caller's contract.
        let (node, backend) = unsafe { ((*rel).rd_node, (*rel).rd_backend) };
        Storage {
            tablespace: node.spcNode,
            database: node.dbNode,
            file: node.relNode,
            backend,
        }
    }

    /// # Safety
    /// `rel` must be an open relation.
    #[cfg(not(feature = "pg15"))]
    unsafe fn of(rel: pg_sys::Relation) -> Storage {
        // SAFETY: the caller's contract.
        let (locator, backend) = unsafe { ((*rel).rd_locator, (*rel).rd_backend) };
        Storage {
            tablespace: locator.spcOid,
            database: locator.dbOid,
            file: locator.relNumber,
            backend,
        }
    }
}

/// The same question for a permanent relation that need not be open, from its pg_class row:
/// no lock, no relation cache entry, one stat(2). A relation rewritten meanwhile (a new file)
/// is asked through the file its row names for this command; `false` when the row names no
/// file of its own (a mapped catalog) or the relation is not permanent.
pub fn permanent_relation_is_empty(relid: pg_sys::Oid) -> bool {
    let node = crate::catalog::catalog_row(
        pg_sys::SysCacheIdentifier::RELOID,
        relid,
        |form: &pg_sys::FormData_pg_class, _| {
            (form.relpersistence as u8 == pg_sys::RELPERSISTENCE_PERMANENT
                && form.relfilenode != pg_sys::InvalidOid)
                .then(|| Storage {
                    tablespace: if form.reltablespace == pg_sys::InvalidOid {
                        // SAFETY: a backend-global set once at connection.
                        unsafe { pg_sys::MyDatabaseTableSpace }
                    } else {
                        form.reltablespace
                    },
                    // SAFETY: as above.
                    database: unsafe { pg_sys::MyDatabaseId },
                    file: form.relfilenode,
                    backend: NO_BACKEND,
                })
        },
    )
    .flatten();
    node.is_some_and(file_is_empty)
}

/// Whether the current user may read what the probe would read of `relid` (the table, or the
/// column `attnum`): true for relations the probe never reads (views, partitioned parents,
/// temporary tables, …). A role that may not read a table must not learn from the guard whether
/// it holds rows.
pub fn readable_by_current_user(relid: pg_sys::Oid, attnum: Option<i32>) -> bool {
    // A temporary table of this session's is never probed (nothing outlives the session); one
    // of another session's is not the role's to lose either, unless it may read it.
    let probed_owner = crate::catalog::catalog_row(
        pg_sys::SysCacheIdentifier::RELOID,
        relid,
        |form: &pg_sys::FormData_pg_class, _| {
            let own_temp = form.relpersistence as u8 == pg_sys::RELPERSISTENCE_TEMP
                // SAFETY: compares the namespace with this backend's own temporary ones.
                && unsafe { pg_sys::isTempOrTempToastNamespace(form.relnamespace) };
            (form.relkind as u8 == pg_sys::RELKIND_RELATION && !own_temp).then_some(form.relowner)
        },
    )
    .flatten();
    let Some(owner) = probed_owner else {
        return true;
    };
    // Its owner may always read it: a SELECT it revoked from itself it can grant back.
    if crate::extension::current_user_acts_as(owner) {
        return true;
    }
    // SAFETY: ACL checks of the current user by OIDs and attribute number; they raise only for
    // a relation or column that does not exist, and both exist until the deletion is done.
    let may_select = |rel: pg_sys::Oid| unsafe {
        pg_sys::pg_class_aclcheck(
            rel,
            pg_sys::GetUserId(),
            pg_sys::ACL_SELECT as pg_sys::AclMode,
        ) == pg_sys::AclResult::ACLCHECK_OK
    };
    // SAFETY: as above.
    let may_select_column = |a: i32| unsafe {
        pg_sys::pg_attribute_aclcheck(
            relid,
            a as i16,
            pg_sys::GetUserId(),
            pg_sys::ACL_SELECT as pg_sys::AclMode,
        ) == pg_sys::AclResult::ACLCHECK_OK
    };
    // A partition's or inheritance child's rows are read through any ancestor too.
    may_select(relid)
        || attnum.is_some_and(may_select_column)
        || ancestors(relid).into_iter().any(may_select)
}

/// Whether a table's rows can be checksummed as its owner: a plain table (not a view, nor a
/// partitioned parent with no rows of its own) whose row-level security, if any, does not apply
/// to its owner (not forced, or an owner with BYPASSRLS), so no row is left out of the sum.
pub fn checksummable_table(relid: pg_sys::Oid) -> bool {
    let owner = crate::catalog::catalog_row(
        pg_sys::SysCacheIdentifier::RELOID,
        relid,
        |form: &pg_sys::FormData_pg_class, _| {
            (form.relkind as u8 == pg_sys::RELKIND_RELATION).then_some(form.relowner)
        },
    )
    .flatten();
    owner.is_some_and(|owner| !rls_hides_rows_from(relid, owner))
}

/// Whether row-level security applies to `role` reading `relid`, as Postgres decides it.
pub fn rls_hides_rows_from(relid: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups by OIDs; with noError it never raises for row_security = off.
    unsafe {
        pg_sys::check_enable_rls(relid, role, true)
            == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
    }
}

/// Whether the first segment of a relation's main fork is an empty file.
fn file_is_empty(at: Storage) -> bool {
    if at.tablespace == pg_sys::DEFAULTTABLESPACE_OID && at.backend == NO_BACKEND {
        // A permanent relation in the default tablespace, named as GetRelationPath names it:
        // the common case, spelt here without a palloc'd psprintf and two guarded calls.
        let path = RelationPath::in_default_tablespace(at.database.to_u32(), at.file.to_u32());
        // SAFETY: the path ends in NUL.
        return unsafe { size_is_zero(path.as_bytes_with_nul().as_ptr().cast()) };
    }
    relation_path_is_empty(at)
}

/// GetRelationPath formats its arguments into a path relative to the data directory (the
/// backend's working directory): a palloc'd C string up to 17, a struct holding it from 18.
#[cfg(not(feature = "pg18"))]
fn relation_path_is_empty(at: Storage) -> bool {
    // SAFETY: the palloc'd string is read and freed here.
    unsafe {
        let path = pg_sys::GetRelationPath(
            at.database,
            at.tablespace,
            at.file,
            at.backend,
            pg_sys::ForkNumber::MAIN_FORKNUM,
        );
        let empty = size_is_zero(path);
        pg_sys::pfree(path.cast());
        empty
    }
}

#[cfg(feature = "pg18")]
fn relation_path_is_empty(at: Storage) -> bool {
    // SAFETY: the returned struct holds the NUL-terminated path.
    unsafe {
        let path = pg_sys::GetRelationPath(
            at.database,
            at.tablespace,
            at.file,
            at.backend,
            pg_sys::ForkNumber::MAIN_FORKNUM,
        );
        size_is_zero(path.str_.as_ptr())
    }
}

/// stat(2) of a path: whether it names a file of size zero (`false` when it cannot be read).
///
/// # Safety
/// `path` is a NUL-terminated string.
unsafe fn size_is_zero(path: *const std::ffi::c_char) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: stat writes the struct it is given, and only reads the path.
    unsafe { libc::stat(path, st.as_mut_ptr()) == 0 && st.assume_init().st_size == 0 }
}

/// Probes column `attnum` of `relid` (locked by the caller's statement): its name (quoted, and
/// as in the catalog), when a visible row holds a value in it. The scan stops at the first such
/// row; a column that is NULL everywhere is read to the end. `None` as for [`probe_locked_table`],
/// and for a column without a value.
pub fn probe_locked_column(
    relid: pg_sys::Oid,
    attnum: i32,
) -> Option<(TableFacts, String, String)> {
    let facts = probe(relid, Some(attnum))?;
    // SAFETY: a syscache lookup of a user column of a locked relation; the name is copied (and
    // quoted) before anything can change it.
    let (quoted, raw) = unsafe {
        let name = pg_sys::get_attname(relid, attnum as i16, true);
        if name.is_null() {
            return None;
        }
        (
            CStr::from_ptr(pg_sys::quote_identifier(name))
                .to_string_lossy()
                .into_owned(),
            CStr::from_ptr(name).to_string_lossy().into_owned(),
        )
    };
    Some((facts, quoted, raw))
}

/// Whether a visible row exists (with `column`: one whose value in it is not NULL). Stops at the
/// first such row, so for tables the cost does not depend on the table's size; a column NULL in
/// every row is read to the end.
///
/// Rows this very transaction deleted (or, for a column, set to NULL) are still at stake: their
/// loss commits with the drop (`BEGIN; DELETE FROM t; DROP TABLE t; COMMIT;`). So when no row is
/// visible now, the table is read once more as it was before the transaction's first command:
/// rows it deleted are visible again, rows it inserted are not (nothing committed is lost with
/// them).
///
/// # Safety
/// `rel` must be open and locked by the caller; `column` a user attribute number of it.
unsafe fn first_visible_row_exists(rel: pg_sys::Relation, column: Option<i32>) -> bool {
    // SAFETY: the caller's contract.
    unsafe { scan_for_row(rel, column, false) || scan_for_row(rel, column, true) }
}

/// One pass of [`first_visible_row_exists`]; `before_this_transaction` reads the table as the
/// transaction's first command would have.
///
/// # Safety
/// As for [`first_visible_row_exists`].
unsafe fn scan_for_row(
    rel: pg_sys::Relation,
    column: Option<i32>,
    before_this_transaction: bool,
) -> bool {
    // SAFETY: rel is open (caller's contract); the table AM routine of an open relation is valid;
    // the snapshot is registered for the scan's lifetime and released after; slot and scan are
    // freed before returning. RegisterSnapshot copies the latest snapshot (it is never marked
    // copied), so setting the copy's command id changes no snapshot anyone else holds. The access
    // method's callbacks are plain function pointers, which pgrx does not wrap: the scan runs in
    // the shared guard, and holds nothing with a destructor (on an error, the transaction's
    // resource owner releases the snapshot, the buffers and the scan).
    unsafe {
        ffi::guarded_value(|| {
            let am = &*(*rel).rd_tableam;
            let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
            if before_this_transaction {
                (*snapshot).curcid = pg_sys::FirstCommandId;
            }
            let flags =
                pg_sys::ScanOptions::SO_TYPE_SEQSCAN | pg_sys::ScanOptions::SO_ALLOW_PAGEMODE;
            let scan_begin = am.scan_begin.expect("table AM without scan_begin");
            let scan = scan_begin(
                rel,
                snapshot,
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                flags,
            );
            let slot = pg_sys::table_slot_create(rel, std::ptr::null_mut());
            let next = am
                .scan_getnextslot
                .expect("table AM without scan_getnextslot");
            let mut found = false;
            while next(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
                found = match column {
                    None => true,
                    Some(attnum) => {
                        let mut isnull = true;
                        pg_sys::slot_getattr(slot, attnum, &mut isnull);
                        !isnull
                    }
                };
                if found {
                    break;
                }
            }
            pg_sys::ExecDropSingleTupleTableSlot(slot);
            am.scan_end.expect("table AM without scan_end")(scan);
            pg_sys::UnregisterSnapshot(snapshot);
            found
        })
    }
}

/// Parents of `relid` in pg_inherits (partitioned tables and inheritance parents), transitively,
/// nearest first.
pub fn ancestors(relid: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let mut out: Vec<pg_sys::Oid> = Vec::new();
    let mut frontier = vec![relid];
    while let Some(child) = frontier.pop() {
        for parent in direct_parents(child) {
            if !out.contains(&parent) {
                out.push(parent);
                frontier.insert(0, parent);
            }
        }
    }
    out
}

fn direct_parents(relid: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let mut parents = Vec::new();
    // SAFETY: a catalog index scan with a stack-allocated scan key that outlives the scan; the
    // catalog relation is opened and closed with matching locks, and every tuple is read through
    // the relation's own descriptor while the scan is open.
    unsafe {
        let inh = pg_sys::table_open(
            catalog::INHERITS_RELATION_ID,
            pg_sys::AccessShareLock as i32,
        );
        let mut key = pg_sys::ScanKeyData::default();
        pg_sys::ScanKeyInit(
            &mut key,
            catalog::ANUM_INHRELID,
            pg_sys::BTEqualStrategyNumber as u16,
            pg_sys::Oid::from_u32(pg_sys::F_OIDEQ),
            pg_sys::Datum::from(relid),
        );
        let scan = pg_sys::systable_beginscan(
            inh,
            catalog::INHERITS_RELID_SEQNO_INDEX_ID,
            true,
            std::ptr::null_mut(),
            1,
            &mut key,
        );
        loop {
            let tup = pg_sys::systable_getnext(scan);
            if tup.is_null() {
                break;
            }
            let mut isnull = false;
            let d = pg_sys::heap_getattr(tup, catalog::ANUM_INHPARENT, (*inh).rd_att, &mut isnull);
            if !isnull {
                parents.push(pg_sys::Oid::from_u32(d.value() as u32));
            }
        }
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(inh, pg_sys::AccessShareLock as i32);
    }
    parents
}

/// `schema.table`, quoted as Postgres quotes identifiers.
pub fn qualified_name(schema: &str, relname: &str) -> String {
    let s = std::ffi::CString::new(schema).expect("catalog names have no NUL");
    let r = std::ffi::CString::new(relname).expect("catalog names have no NUL");
    // SAFETY: both arguments are valid NUL-terminated strings; the result is a palloc'd C string
    // that we copy before returning.
    unsafe {
        let q = pg_sys::quote_qualified_identifier(s.as_ptr(), r.as_ptr());
        CStr::from_ptr(q).to_string_lossy().into_owned()
    }
}

/// (schema, table) of a relation that still exists, as spelt in the catalog.
pub fn relation_catalog_name(relid: pg_sys::Oid) -> Option<(String, String)> {
    // SAFETY: syscache lookups by OID; NULL results are checked before use.
    unsafe {
        let rel = pg_sys::get_rel_name(relid);
        if rel.is_null() {
            return None;
        }
        let nsp = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid));
        if nsp.is_null() {
            return None;
        }
        Some((
            CStr::from_ptr(nsp).to_string_lossy().into_owned(),
            CStr::from_ptr(rel).to_string_lossy().into_owned(),
        ))
    }
}

/// `schema.table`, quoted, of a relation that still exists.
pub fn relation_name(relid: pg_sys::Oid) -> Option<String> {
    relation_catalog_name(relid).map(|(s, r)| qualified_name(&s, &r))
}

/// The normal (`true`) and internal (`false`) dependencies of an object, to tell what CASCADE
/// took along: as the catalog shows them now (`None`: the object is about to be deleted), or as
/// it showed them to command `as_of` of this transaction, after the object's deletion removed
/// them (see [`scan_catalog`]).
pub fn dependencies(object: ObjectRef, as_of: Option<pg_sys::CommandId>) -> Vec<(ObjectRef, bool)> {
    let keys = [
        (1, pg_sys::F_OIDEQ, pg_sys::Datum::from(object.0)),
        (2, pg_sys::F_OIDEQ, pg_sys::Datum::from(object.1)),
        (3, pg_sys::F_INT4EQ, pg_sys::Datum::from(object.2)),
    ];
    let mut out = Vec::new();
    scan_catalog(
        catalog::DEPEND_RELATION_ID,
        catalog::DEPEND_DEPENDER_INDEX_ID,
        &keys,
        as_of,
        |tup, desc| {
            let attr = |n: i32| {
                let mut isnull = false;
                // SAFETY: a fixed-width column of a pg_depend row, read through its descriptor
                // while the scan holds the row.
                unsafe { pg_sys::heap_getattr(tup, n, desc, &mut isnull) }.value()
            };
            let normal = match attr(7) as u8 {
                b'n' => true,
                b'i' => false,
                _ => return true,
            };
            out.push(((attr(4) as u32, attr(5) as u32, attr(6) as i32), normal));
            true
        },
    );
    out
}

/// Scans `catalog` through `index` for the rows equal to `keys` (heap column number, equality
/// function, value), handing each to `row` until it answers false. With `as_of`, the rows are those
/// command `as_of` of this transaction saw: rows a transaction deletes stay in the table until
/// it ends, and a snapshot whose command counter is the deleting command's sees them, exactly
/// as that command's own catalog snapshot did. Without, as the catalog shows them now.
fn scan_catalog(
    catalog: pg_sys::Oid,
    index: pg_sys::Oid,
    keys: &[(i16, u32, pg_sys::Datum)],
    as_of: Option<pg_sys::CommandId>,
    mut row: impl FnMut(pg_sys::HeapTuple, pg_sys::TupleDesc) -> bool,
) {
    // SAFETY: a catalog index scan with scan keys that outlive it; the catalog is opened with
    // AccessShareLock (kept to the end of the transaction, as Postgres keeps its own catalog
    // locks, so the next scan finds it in the local lock table), and every row is handed out
    // only while the scan holds it. A snapshot for `as_of` is this backend's own registered copy
    // of the catalog snapshot (RegisterSnapshot copies the static one GetCatalogSnapshot keeps,
    // which is reused until an invalidation, so a report that reads many objects does not take
    // a new snapshot for each), so changing its command counter touches nothing else; it is
    // unregistered after the scan.
    unsafe {
        let snapshot = as_of.map(|cid| {
            let snap = pg_sys::RegisterSnapshot(pg_sys::GetCatalogSnapshot(catalog));
            (*snap).curcid = cid;
            snap
        });
        let rel = pg_sys::table_open(catalog, pg_sys::AccessShareLock as i32);
        let mut scankeys = vec![pg_sys::ScanKeyData::default(); keys.len()];
        for (key, (column, proc_, value)) in scankeys.iter_mut().zip(keys) {
            pg_sys::ScanKeyInit(
                key,
                *column,
                pg_sys::BTEqualStrategyNumber as u16,
                pg_sys::Oid::from_u32(*proc_),
                *value,
            );
        }
        let scan = pg_sys::systable_beginscan(
            rel,
            index,
            true,
            snapshot.unwrap_or(std::ptr::null_mut()),
            keys.len() as i32,
            scankeys.as_mut_ptr(),
        );
        loop {
            let tup = pg_sys::systable_getnext(scan);
            if tup.is_null() || !row(tup, (*rel).rd_att) {
                break;
            }
        }
        pg_sys::systable_endscan(scan);
        if let Some(snap) = snapshot {
            pg_sys::UnregisterSnapshot(snap);
        }
        pg_sys::table_close(rel, pg_sys::NoLock as i32);
    }
}

/// The names of a relation or column as command `as_of` of this transaction saw them: for
/// naming, in a report, a relation the statement has deleted since. Three catalog lookups that
/// only a report pays for, where describing each deleted relation while it still existed cost
/// every DROP about as much.
pub fn relation_name_as_of(object: ObjectRef, as_of: pg_sys::CommandId) -> Option<RelationName> {
    let (_, relid, attnum) = object;
    let by_oid = |oid: u32| [(1, pg_sys::F_OIDEQ, pg_sys::Datum::from(oid))];
    let name_of = |data: &pg_sys::NameData| {
        // SAFETY: a NUL-terminated NameData inside a row the scan holds.
        unsafe { CStr::from_ptr(data.data.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    let (relkind, namespace, relname) = first_row_as_of(
        pg_sys::RelationRelationId,
        pg_sys::Oid::from_u32(pg_sys::ClassOidIndexId),
        &by_oid(relid),
        as_of,
        |form: &pg_sys::FormData_pg_class| {
            (
                form.relkind as u8,
                form.relnamespace,
                name_of(&form.relname),
            )
        },
    )?;
    // SAFETY: compares with this backend's own temporary schema; no catalog access.
    let schema = if unsafe { pg_sys::isTempNamespace(namespace) } {
        "pg_temp".to_string()
    } else {
        first_row_as_of(
            pg_sys::NamespaceRelationId,
            pg_sys::Oid::from_u32(pg_sys::NamespaceOidIndexId),
            &by_oid(namespace.to_u32()),
            as_of,
            |form: &pg_sys::FormData_pg_namespace| name_of(&form.nspname),
        )?
    };
    let column = if attnum == 0 {
        None
    } else {
        let keys = [
            (1, pg_sys::F_OIDEQ, pg_sys::Datum::from(relid)),
            (
                (pg_sys::Anum_pg_attribute_attnum as i16),
                pg_sys::F_INT2EQ,
                pg_sys::Datum::from(attnum as i16),
            ),
        ];
        Some(first_row_as_of(
            pg_sys::AttributeRelationId,
            pg_sys::Oid::from_u32(pg_sys::AttributeRelidNumIndexId),
            &keys,
            as_of,
            |form: &pg_sys::FormData_pg_attribute| name_of(&form.attname),
        )?)
    };
    Some(RelationName {
        relkind,
        schema,
        relname,
        column,
    })
}

/// `(type, identity)` of a deleted relation, column, or object that belongs to one table (see
/// [`described_without_types`]), as command `as_of` of this transaction saw it and its table:
/// for a report that lists it after the statement deleted it.
pub fn describe_as_of(object: ObjectRef, as_of: pg_sys::CommandId) -> Option<(String, String)> {
    let (class, oid, _) = object;
    if class == pg_sys::RelationRelationId.to_u32() {
        return relation_name_as_of(object, as_of)?.describe(quote_identifier);
    }
    // The part's catalog: its index by OID, and the columns of its name and of its table (and,
    // for a default, of its column number).
    let (
        part,
        catalog::PartColumns {
            index,
            name_column,
            table_column,
            attnum_column,
        },
    ) = match class {
        catalog::CONSTRAINT_RELATION_ID => (TablePart::Constraint, catalog::CONSTRAINT_PART),
        catalog::TRIGGER_RELATION_ID => (TablePart::Trigger, catalog::TRIGGER_PART),
        catalog::POLICY_RELATION_ID => (TablePart::Policy, catalog::POLICY_PART),
        catalog::REWRITE_RELATION_ID => (TablePart::Rule, catalog::RULE_PART),
        catalog::ATTRDEF_RELATION_ID => (TablePart::Default, catalog::DEFAULT_PART),
        _ => return None,
    };
    let mut found = None;
    scan_catalog(
        pg_sys::Oid::from_u32(class),
        pg_sys::Oid::from_u32(index),
        &[(1, pg_sys::F_OIDEQ, pg_sys::Datum::from(oid))],
        Some(as_of),
        |tup, desc| {
            let attr = |n: i32| {
                let mut isnull = true;
                // SAFETY: a column of a row the scan holds, read through its descriptor.
                let value = unsafe { pg_sys::heap_getattr(tup, n, desc, &mut isnull) };
                (!isnull).then_some(value)
            };
            let name = name_column.and_then(attr).map(|d| {
                // SAFETY: a name column's datum points at the NameData inside the row.
                unsafe { CStr::from_ptr(d.cast_mut_ptr::<std::ffi::c_char>()) }
                    .to_string_lossy()
                    .into_owned()
            });
            let table = attr(table_column).map(|d| d.value() as u32);
            let attnum = attnum_column
                .and_then(attr)
                .map_or(0, |d| d.value() as i16 as i32);
            found = table.map(|t| (name.unwrap_or_default(), t, attnum));
            false
        },
    );
    let (name, table, attnum) = found?;
    let table = relation_name_as_of((pg_sys::RelationRelationId.to_u32(), table, attnum), as_of)?;
    part.describe(&name, &table, quote_identifier)
}

/// The first row [`scan_catalog`] finds as command `as_of` saw it, read as the fixed-size
/// struct `F` of that catalog.
fn first_row_as_of<F, R>(
    catalog: pg_sys::Oid,
    index: pg_sys::Oid,
    keys: &[(i16, u32, pg_sys::Datum)],
    as_of: pg_sys::CommandId,
    read: impl FnOnce(&F) -> R,
) -> Option<R> {
    let mut read = Some(read);
    let mut found = None;
    scan_catalog(catalog, index, keys, Some(as_of), |tup, _| {
        // SAFETY: the fixed-size part of a row the scan holds, of the catalog whose struct the
        // caller names with `F`.
        let form = unsafe { &*(crate::catalog::heap_struct(tup) as *const F) };
        found = read.take().map(|read| read(form));
        false
    });
    found
}

/// Whether this transaction holds the object in AccessExclusiveLock, as Postgres' dependency
/// walk holds everything it is about to delete (`AcquireDeletionLock`): never false for an
/// object the running statement deletes, and false for what it merely uses, such as the schema
/// of a dropped table or function. Objects locked by earlier statements of the transaction
/// answer true too, which only costs a description.
pub fn may_be_deleted(object: ObjectRef) -> bool {
    let (class, oid, _) = object;
    let lockmode = pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE;
    if class == pg_sys::RelationRelationId.to_u32() {
        // SAFETY: a lookup in this backend's local lock table; no preconditions.
        return unsafe {
            ffi::CheckRelationOidLockedByMe(pg_sys::Oid::from_u32(oid), lockmode, false)
        };
    }
    // What SET_LOCKTAG_OBJECT builds for LockDatabaseObject(class, oid, 0, ...): pg_depend
    // names only objects of this database (shared ones are in pg_shdepend).
    let tag = pg_sys::LOCKTAG {
        // SAFETY: reading a backend-global set once at connection.
        locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        locktag_field2: class,
        locktag_field3: oid,
        locktag_field4: 0,
        locktag_type: pg_sys::LockTagType::LOCKTAG_OBJECT as u8,
        locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
    };
    // SAFETY: a lookup of a fully initialised tag in this backend's local lock table.
    unsafe { ffi::lock_held_by_me(&tag, lockmode) }
}

/// Whether a function certainly has no normal dependency on anything this transaction holds
/// for deletion, read from its pg_proc row alone, without a pg_depend scan. For a plain function
/// the row names every such dependency Postgres records (ProcedureCreate): its schema, its
/// language, its result and argument types, and the transforms of those types for its
/// language. A function whose dependencies are not all in the row answers false, and the caller
/// reads pg_depend: a SQL-standard body or argument defaults (what they use), OUT arguments
/// (more types), a support function, an aggregate (its support functions).
pub fn function_depends_on_nothing_deleted(oid: pg_sys::Oid) -> bool {
    let cache = pg_sys::SysCacheIdentifier::PROCOID;
    crate::catalog::catalog_row(cache, oid, |form: &pg_sys::FormData_pg_proc, tup| {
        let has = |column: u32| {
            let mut isnull = true;
            // SAFETY: a column of the pinned row, read through the cache it came from; only
            // its null flag is used.
            unsafe { ffi::SysCacheGetAttr(cache as i32, tup, column as i16, &mut isnull) };
            !isnull
        };
        let plain = matches!(form.prokind as u8, b'f' | b'p' | b'w')
            && form.prosupport == pg_sys::InvalidOid
            && form.pronargdefaults == 0
            && !has(pg_sys::Anum_pg_proc_proallargtypes)
            && !has(pg_sys::Anum_pg_proc_protrftypes)
            && !has(pg_sys::Anum_pg_proc_prosqlbody);
        if !plain
            || may_be_deleted((
                pg_sys::NamespaceRelationId.to_u32(),
                form.pronamespace.to_u32(),
                0,
            ))
            || may_be_deleted((catalog::LANGUAGE_RELATION_ID, form.prolang.to_u32(), 0))
        {
            return false;
        }
        // SAFETY: proargtypes is an oidvector of pronargs elements stored inside the pinned row.
        let arguments = unsafe {
            form.proargtypes
                .values
                .as_slice(form.proargtypes.dim1.max(0) as usize)
        };
        std::iter::once(&form.prorettype)
            .chain(arguments)
            .all(|&typid| {
                !may_be_deleted((pg_sys::TypeRelationId.to_u32(), typid.to_u32(), 0))
                    // SAFETY: a syscache lookup with missing_ok (through the shared guard).
                    && unsafe { ffi::get_transform_oid(typid, form.prolang, true) }
                        == pg_sys::InvalidOid
            })
    })
    .unwrap_or(false)
}

/// Whether describing the object names no type. Such an object can be described whenever it
/// is met, without looking at its dependencies: the description of an object that names a type
/// (a function's arguments, a domain's constraint) can raise when the type went first, which
/// Postgres' deletion order allows inside a cycle of dependencies (an extension's base type and
/// its I/O functions), so those are described only after their dependencies were checked.
pub fn described_without_types(object: ObjectRef) -> bool {
    let (class, oid, _) = object;
    match class {
        c if c == pg_sys::RelationRelationId.to_u32() => true,
        catalog::ATTRDEF_RELATION_ID
        | catalog::REWRITE_RELATION_ID
        | catalog::TRIGGER_RELATION_ID
        | catalog::POLICY_RELATION_ID => true,
        catalog::CONSTRAINT_RELATION_ID => {
            let cache = pg_sys::SysCacheIdentifier::CONSTROID;
            // pgrx binds no FormData_pg_constraint: the row's fixed part is not read (`u8`).
            crate::catalog::catalog_row(cache, pg_sys::Oid::from_u32(oid), |_: &u8, tup| {
                let mut isnull = true;
                // SAFETY: contypid, a plain oid column of the pinned row, read through the
                // cache it came from.
                let domain = unsafe {
                    ffi::SysCacheGetAttr(
                        cache as i32,
                        tup,
                        catalog::ANUM_PG_CONSTRAINT_CONTYPID,
                        &mut isnull,
                    )
                };
                isnull || domain.value() == 0
            })
            .unwrap_or(false)
        }
        _ => false,
    }
}

/// Whether a type is a relation's row type or the implicit array type of another type.
pub fn is_dependent_type(typid: pg_sys::Oid) -> bool {
    // SAFETY: syscache lookups by OID, InvalidOid when not found.
    unsafe {
        if ffi::get_typ_typrelid(typid) != pg_sys::InvalidOid {
            return true;
        }
        let element = ffi::get_element_type(typid);
        element != pg_sys::InvalidOid && ffi::get_array_type(element) == typid
    }
}

/// `(type, identity)` of an object that still exists, as `pg_identify_object` gives them.
/// `None` when a type it names is already gone: inside a cycle of dependencies (an extension's
/// types and their I/O functions), Postgres may delete a type before an object that names it,
/// and printing that name would raise.
pub fn describe(object: ObjectRef, depends_on: &[(ObjectRef, bool)]) -> Option<(String, String)> {
    let types_gone = depends_on.iter().any(|((class, oid, _), _)| {
        *class == pg_sys::TypeRelationId.to_u32()
            && !crate::catalog::exists_in(
                pg_sys::SysCacheIdentifier::TYPEOID,
                pg_sys::Oid::from_u32(*oid),
            )
    });
    if types_gone {
        return None;
    }
    let address = pg_sys::ObjectAddress {
        classId: pg_sys::Oid::from_u32(object.0),
        objectId: pg_sys::Oid::from_u32(object.1),
        objectSubId: object.2,
    };
    // SAFETY: catalog lookups with missing_ok, which return NULL rather than raise for an
    // object that cannot be found; the palloc'd strings are copied before returning.
    unsafe {
        let kind = pg_sys::getObjectTypeDescription(&address, true);
        let identity = pg_sys::getObjectIdentity(&address, true);
        if kind.is_null() || identity.is_null() {
            return None;
        }
        Some((
            CStr::from_ptr(kind).to_string_lossy().into_owned(),
            CStr::from_ptr(identity).to_string_lossy().into_owned(),
        ))
    }
}

/// One identifier quoted as Postgres quotes it (`quote_identifier`).
pub fn quote_identifier(name: &str) -> String {
    let c = std::ffi::CString::new(name).expect("catalog names have no NUL");
    // SAFETY: a valid NUL-terminated string; the result (it or a palloc'd copy) is copied out.
    unsafe { CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr())) }
        .to_string_lossy()
        .into_owned()
}

/// `(schema, name)` of a table or partitioned table that is not temporary; `None` otherwise.
pub fn permanent_table_name(relid: pg_sys::Oid) -> Option<(String, String)> {
    // SAFETY: syscache lookups by OID, each checked before use.
    unsafe {
        let kind = pg_sys::get_rel_relkind(relid) as u8;
        if kind != pg_sys::RELKIND_RELATION && kind != pg_sys::RELKIND_PARTITIONED_TABLE {
            return None;
        }
        if pg_sys::get_rel_persistence(relid) as u8 == pg_sys::RELPERSISTENCE_TEMP {
            return None;
        }
    }
    relation_catalog_name(relid)
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn main_fork_empty(table: &str) -> bool {
        let oid = Spi::get_one::<pg_sys::Oid>(&format!("SELECT '{table}'::regclass::oid"))
            .unwrap()
            .unwrap();
        // SAFETY: the table exists (it was just created); opened and closed with a lock.
        let empty = unsafe {
            let rel = pg_sys::relation_open(oid, pg_sys::AccessShareLock as i32);
            let empty = super::main_fork_is_empty(rel);
            pg_sys::relation_close(rel, pg_sys::AccessShareLock as i32);
            empty
        };
        // The same answer from the catalog row, without opening the relation.
        assert_eq!(super::permanent_relation_is_empty(oid), empty);
        empty
    }

    #[pg_test]
    fn the_size_check_sees_the_first_row_and_a_truncate() {
        Spi::run("CREATE TABLE t_size (x int)").unwrap();
        assert!(main_fork_empty("t_size"));
        Spi::run("INSERT INTO t_size VALUES (1)").unwrap();
        assert!(!main_fork_empty("t_size"));
        // TRUNCATE gives the table a new, empty file; DELETE leaves its blocks.
        Spi::run("TRUNCATE t_size").unwrap();
        assert!(main_fork_empty("t_size"));
        Spi::run("INSERT INTO t_size VALUES (1); DELETE FROM t_size").unwrap();
        assert!(!main_fork_empty("t_size"));
    }
}
