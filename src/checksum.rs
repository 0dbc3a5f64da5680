//! Content checksums of tables: what the ledger records for a backup or a migration, what the
//! drop guard compares before it lets a copied table go, and what a migration verifies.
//!
//! A row's digest hashes its values as stored, not their text: printing a 1536-dimension
//! embedding costs far more than hashing its 6 kB. Copies made by INSERT ... SELECT or CREATE
//! TABLE AS carry the bytes unchanged, so a row and its copy digest alike, and any changed value
//! changes the digest. The digests are not cryptographic: they catch a copy that differs, which
//! is all the guard asks of them (an owner who wants rows gone can simply delete them).

use crate::session::SessionLocal;
use memory_guard_core::checksum::{checksum_sql, RowSum};
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hasher;

/// The columns of a relation in order, quoted. Columns are listed rather than taken as a whole
/// row: during a DROP the table's row type may already be gone when the guard checks it.
fn checksum_columns(rel_sql: &str) -> Vec<String> {
    crate::extension::with_safe_search_path(|| Spi::connect(|c| {
        c.select(
            "SELECT pg_catalog.quote_ident(attname) FROM pg_catalog.pg_attribute \
             WHERE attrelid = $1::pg_catalog.regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            None,
            &[rel_sql.into()],
        )
        .map(|rows| rows.filter_map(|r| r.get::<String>(1).ok().flatten()).collect())
    }))
    .unwrap_or_else(|e| crate::report::failed(&format!("columns of {rel_sql}"), e))
}

/// Reads a row count and a digest sum (as text) into a `RowSum`.
pub fn row_sum(rows: Option<i64>, sum: Option<String>) -> RowSum {
    let sum = sum.unwrap_or_default();
    RowSum::parse(rows.unwrap_or(0), &sum).unwrap_or_else(|| {
        crate::report::failed("a digest sum", format!("{sum} is not an integer"))
    })
}

/// Runs a `checksum_sql` query.
pub fn count_and_sum(sql: &str) -> RowSum {
    // Pushed anew for each statement: see tables.rs, `one`.
    let (rows, sum) = crate::extension::with_safe_search_path(|| Spi::get_two::<i64, String>(sql))
        .unwrap_or_else(|e| crate::report::failed("a checksum", e));
    row_sum(rows, sum)
}

/// (row count, checksum) of a relation's rows, order-independent. `only` leaves out inheritance
/// children and partitions.
pub fn checksum_of(rel_sql: &str, only: bool) -> (i64, String) {
    let columns: Vec<String> = checksum_columns(rel_sql)
        .iter()
        .map(|name| format!("t.{name}"))
        .collect();
    let from = format!("{}{rel_sql} t", if only { "ONLY " } else { "" });
    let total = count_and_sum(&checksum_sql(&columns, &from));
    (total.rows, total.checksum())
}

/// (toast relation, value id) → (length, hash) of the value's bytes.
type ToastMemo = HashMap<(u32, u32), (u64, u64)>;

/// While a migration batch runs: the hash of each on-disk toasted value already read, by
/// (toast relation, value id). The batch digests each source row, inserts it, and digests
/// what it inserted; the inserted embedding is still the source's toast pointer, so its 6 kB
/// need not be fetched a third time. Sound only while the source is locked against writers,
/// so it is switched on for one statement at a time.
static TOAST_MEMO: SessionLocal<RefCell<Option<ToastMemo>>> = SessionLocal::new(RefCell::new(None));

/// Runs `f` with the toast-value memo on (see `TOAST_MEMO`); it is dropped afterwards, also on
/// error.
pub fn with_toast_memo<R>(f: impl FnOnce() -> R) -> R {
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            TOAST_MEMO.with(|m| *m.borrow_mut() = None);
        }
    }
    TOAST_MEMO.with(|m| *m.borrow_mut() = Some(HashMap::new()));
    let _off = Off;
    f()
}

/// The length and type facts of each argument of a `row_digest` call site, kept in its fn_extra.
#[derive(Clone, Copy)]
struct ArgType {
    typlen: i16,
    byval: bool,
}

#[pg_extern(sql = "
CREATE FUNCTION memory_guard.row_digest(VARIADIC \"any\") RETURNS bigint
IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
COMMENT ON FUNCTION memory_guard.row_digest(VARIADIC \"any\") IS
  'A 64-bit hash (seahash) of its arguments as stored, detoasted, NULLs included: one row''s term in memory_guard''s table checksums.';
")]
fn row_digest(fcinfo: pg_sys::FunctionCallInfo) -> i64 {
    // SAFETY: Postgres passes `nargs` arguments, each a datum of the type its call site gives
    // (get_fn_expr_argtype) or a null. The per-call-site type facts live in fn_extra, allocated
    // in fn_mcxt, which lives as long as the FmgrInfo that owns fn_extra.
    unsafe {
        let nargs = usize::try_from((*fcinfo).nargs).unwrap_or(0);
        let flinfo = (*fcinfo).flinfo;
        if (*flinfo).fn_extra.is_null() {
            let types = pg_sys::MemoryContextAlloc(
                (*flinfo).fn_mcxt,
                nargs.max(1) * std::mem::size_of::<ArgType>(),
            )
            .cast::<ArgType>();
            for i in 0..nargs {
                let typid = pg_sys::get_fn_expr_argtype(flinfo, i as i32);
                if typid == pg_sys::InvalidOid {
                    crate::report::raise(
                        &memory_guard_core::GuardError::new(
                            memory_guard_core::SqlState::DatatypeMismatch,
                            format!(
                                "row_digest: cannot determine the type of argument {}",
                                i + 1
                            ),
                        )
                        .hint(
                            "Call it with a row of a table, as memory_guard.row_digest(t) FROM t.",
                        ),
                        "row_digest",
                    );
                }
                let (mut typlen, mut byval) = (0i16, false);
                pg_sys::get_typlenbyval(typid, &mut typlen, &mut byval);
                types.add(i).write(ArgType { typlen, byval });
            }
            (*flinfo).fn_extra = types.cast();
        }
        let types = std::slice::from_raw_parts((*flinfo).fn_extra.cast::<ArgType>(), nargs);
        let mut hasher = seahash::SeaHasher::new();
        for (arg, t) in (*fcinfo).args.as_slice(nargs).iter().zip(types) {
            if arg.isnull {
                hasher.write_u8(0);
            } else {
                hasher.write_u8(1);
                let (len, hash) = value_hash(arg.value, t.typlen, t.byval);
                hasher.write_u64(len);
                hasher.write_u64(hash);
            }
        }
        hasher.finish() as i64
    }
}

/// (length, seahash) of one non-null value's bytes: a varlena's payload detoasted, a by-value
/// datum's `typlen` low bytes, a fixed-length value's `typlen` bytes, a cstring's bytes.
///
/// # Safety
/// `value` must be a valid non-null datum of a type with this `typlen` and `byval`.
unsafe fn value_hash(value: pg_sys::Datum, typlen: i16, byval: bool) -> (u64, u64) {
    if byval {
        let len = usize::try_from(typlen).unwrap_or(8).min(8);
        return (
            len as u64,
            seahash::hash(&value.value().to_le_bytes()[..len]),
        );
    }
    let ptr = value.cast_mut_ptr::<u8>();
    if typlen == -1 {
        // SAFETY: a varlena, perhaps toasted, compressed or short-headed. An on-disk toast
        // pointer's identity is read from its (unaligned) payload. pg_detoast_datum_packed
        // returns the value itself or a palloc'd plain copy, which is freed once hashed.
        unsafe {
            let raw = ptr.cast::<pg_sys::varlena>();
            let key = toast_key(raw);
            if let Some(hit) =
                key.and_then(|k| TOAST_MEMO.with(|m| m.borrow().as_ref()?.get(&k).copied()))
            {
                return hit;
            }
            let plain = pg_sys::pg_detoast_datum_packed(raw);
            let len = pgrx::varlena::varsize_any_exhdr(plain);
            let bytes =
                std::slice::from_raw_parts(pgrx::varlena::vardata_any(plain).cast::<u8>(), len);
            let found = (len as u64, seahash::hash(bytes));
            if plain != raw {
                pg_sys::pfree(plain.cast());
            }
            if let Some(k) = key {
                TOAST_MEMO.with(|m| m.borrow_mut().as_mut().map(|memo| memo.insert(k, found)));
            }
            return found;
        }
    }
    // SAFETY: a fixed-length by-reference value points to typlen bytes; a cstring (-2) is
    // NUL-terminated.
    unsafe {
        let len = match usize::try_from(typlen) {
            Ok(len) => len,
            Err(_) => std::ffi::CStr::from_ptr(ptr.cast()).to_bytes().len(),
        };
        (
            len as u64,
            seahash::hash(std::slice::from_raw_parts(ptr, len)),
        )
    }
}

/// (toast relation, value id) of an on-disk toast pointer; `None` for any other varlena.
///
/// # Safety
/// `raw` must point to a valid varlena.
unsafe fn toast_key(raw: *const pg_sys::varlena) -> Option<(u32, u32)> {
    // SAFETY: a 1-byte-header external varlena has its tag in its second byte and, for
    // VARTAG_ONDISK, a varatt_external after it, not necessarily aligned.
    unsafe {
        if !pgrx::varlena::varatt_is_1b_e(raw)
            || u32::from(pgrx::varlena::vartag_external(raw))
                != pg_sys::vartag_external::VARTAG_ONDISK
        {
            return None;
        }
        let ext = std::ptr::read_unaligned(
            pgrx::varlena::vardata_1b_e(raw).cast::<pg_sys::varatt_external>(),
        );
        Some((ext.va_toastrelid.to_u32(), ext.va_valueid.to_u32()))
    }
}
