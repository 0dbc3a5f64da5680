//! Permanent tables never depend on temporary types. Postgres empties a session's temporary
//! schema (at disconnect, or DISCARD TEMP) with internal cascading deletes, which take along a
//! permanent table typed `OF` a temporary type, or a column of one, rows and all, with no DROP
//! anyone could guard. So the statement that would create such a dependency is refused before
//! it runs: CREATE TABLE, and ALTER TABLE adding a column, changing a column's type, or `OF`.

use crate::{gucs, report};
use memory_guard_core::drop_policy::{temporary_dependency_error, DropMode};
use pgrx::pg_sys;
use std::ffi::CStr;

/// Whether a statement could give a permanent table a temporary type, read from its parse tree
/// and this backend's state alone, outside any Rust guard: most statements are not one, and in
/// a session that has no temporary schema only a type named in another session's can be.
///
/// # Safety
/// `node` is NULL or a statement's raw parse tree.
pub unsafe fn may_add_a_type(node: *mut pg_sys::Node) -> bool {
    let (mut temp, mut temp_toast) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
    // SAFETY: reads two backend globals.
    unsafe { crate::ffi::GetTempNamespaceState(&mut temp, &mut temp_toast) };
    let session_has_temp_types = temp != pg_sys::InvalidOid;
    let may_be_temporary =
        // SAFETY: a TypeName of the parse tree (below).
        |t: *const pg_sys::TypeName| !t.is_null() && (session_has_temp_types || unsafe { names_a_temp_schema(t) });
    // SAFETY: nodes are read as the structs their tags name (caller's contract).
    unsafe {
        if node.is_null() {
            return false;
        }
        match (*node).type_ {
            pg_sys::NodeTag::T_CreateStmt => {
                let stmt = &*(node as *mut pg_sys::CreateStmt);
                may_be_temporary(stmt.ofTypename)
                    || crate::ffi::list_elements::<pg_sys::Node>(stmt.tableElts).any(|e| {
                        (*e).type_ == pg_sys::NodeTag::T_ColumnDef
                            && may_be_temporary((*(e as *mut pg_sys::ColumnDef)).typeName)
                    })
            }
            pg_sys::NodeTag::T_AlterTableStmt => {
                let cmds = (*(node as *mut pg_sys::AlterTableStmt)).cmds;
                crate::ffi::list_elements::<pg_sys::AlterTableCmd>(cmds).any(|cmd| {
                    let def = (*cmd).def;
                    match (*cmd).subtype {
                        pg_sys::AlterTableType::AT_AddColumn
                        | pg_sys::AlterTableType::AT_AlterColumnType => {
                            !def.is_null()
                                && may_be_temporary((*(def as *mut pg_sys::ColumnDef)).typeName)
                        }
                        pg_sys::AlterTableType::AT_AddOf => may_be_temporary(def as *const _),
                        _ => false,
                    }
                })
            }
            _ => false,
        }
    }
}

/// Whether a TypeName is qualified by a temporary schema (`pg_temp`, `pg_temp_3`, …).
///
/// # Safety
/// `t` is a TypeName of a parse tree.
unsafe fn names_a_temp_schema(t: *const pg_sys::TypeName) -> bool {
    // SAFETY: a TypeName's names are a List of String nodes (gram.y); all but the last qualify.
    unsafe {
        let names = (*t).names;
        let qualifiers = if names.is_null() {
            0
        } else {
            (*names).length.max(1) - 1
        };
        crate::ffi::list_elements::<pg_sys::String>(names)
            .take(qualifiers as usize)
            .any(|n| {
                let part = (*n).sval;
                !part.is_null() && CStr::from_ptr(part).to_bytes().starts_with(b"pg_temp")
            })
    }
}

/// Refuses (or, under `memory_guard.drop_mode`, reports) a statement that would make a
/// permanent table or column depend on a temporary type. Called just before it runs.
///
/// # Safety
/// `node` is the CreateStmt or AlterTableStmt Postgres is about to execute.
pub unsafe fn before_statement(node: *mut pg_sys::Node) {
    let mode = gucs::drop_mode();
    // SAFETY: reading a backend-global flag set by CREATE/ALTER EXTENSION.
    let in_extension_script = unsafe { pg_sys::creating_extension };
    if mode == DropMode::Off || in_extension_script || !crate::extension::installed_here() {
        return;
    }
    // SAFETY: the caller's contract; each node is read as the struct its tag names.
    let found = unsafe {
        match (*node).type_ {
            pg_sys::NodeTag::T_CreateStmt => created_table(&*(node as *mut pg_sys::CreateStmt)),
            pg_sys::NodeTag::T_AlterTableStmt => {
                altered_table(&*(node as *mut pg_sys::AlterTableStmt))
            }
            _ => None,
        }
    };
    if let Some((table, column, temp_type)) = found {
        let tag = crate::frames::tag_name(crate::frames::tag_of(node));
        let err = temporary_dependency_error(&tag, &table, column.as_deref(), &temp_type);
        report::emit(&err, mode.reaction(), "temp_dependency");
    }
}

/// (table, column, temporary type) of the first temporary type a CREATE TABLE gives a permanent
/// table.
///
/// # Safety
/// `stmt` is a CreateStmt's parse tree.
unsafe fn created_table(stmt: &pg_sys::CreateStmt) -> Option<(String, Option<String>, String)> {
    // SAFETY: the parse tree's RangeVar, ColumnDefs and TypeNames, read as such.
    unsafe {
        let rv = &*stmt.relation;
        let in_pg_temp =
            !rv.schemaname.is_null() && CStr::from_ptr(rv.schemaname).to_bytes() == b"pg_temp";
        if rv.relpersistence as u8 == pg_sys::RELPERSISTENCE_TEMP || in_pg_temp {
            return None;
        }
        let table = range_var_name(rv);
        if !stmt.ofTypename.is_null() {
            if let Some(t) = temporary_type(stmt.ofTypename) {
                return Some((table, None, t));
            }
        }
        for element in crate::ffi::list_elements::<pg_sys::Node>(stmt.tableElts) {
            if (*element).type_ != pg_sys::NodeTag::T_ColumnDef {
                continue;
            }
            let def = &*(element as *mut pg_sys::ColumnDef);
            if let Some(t) = def_type(def) {
                return Some((table, Some(quoted(def.colname)), t));
            }
        }
        None
    }
}

/// The same for an ALTER TABLE of a permanent table.
///
/// # Safety
/// `stmt` is an AlterTableStmt's parse tree.
unsafe fn altered_table(stmt: &pg_sys::AlterTableStmt) -> Option<(String, Option<String>, String)> {
    // SAFETY: the parse tree's nodes, read as their tags name them; the relation is looked up
    // without a lock (ALTER TABLE takes its own, and checks rights, next) and may be missing.
    unsafe {
        let relid = pg_sys::RangeVarGetRelidExtended(
            stmt.relation,
            pg_sys::NoLock as i32,
            pg_sys::RVROption::RVR_MISSING_OK,
            None,
            std::ptr::null_mut(),
        );
        if relid == pg_sys::InvalidOid
            || pg_sys::get_rel_persistence(relid) as u8 == pg_sys::RELPERSISTENCE_TEMP
        {
            return None;
        }
        let table = range_var_name(&*stmt.relation);
        for cmd in crate::ffi::list_elements::<pg_sys::AlterTableCmd>(stmt.cmds) {
            let cmd = &*cmd;
            if cmd.def.is_null() {
                continue;
            }
            let found = match cmd.subtype {
                pg_sys::AlterTableType::AT_AddColumn => {
                    let def = &*(cmd.def as *mut pg_sys::ColumnDef);
                    def_type(def).map(|t| (Some(quoted(def.colname)), t))
                }
                pg_sys::AlterTableType::AT_AlterColumnType => {
                    let def = &*(cmd.def as *mut pg_sys::ColumnDef);
                    def_type(def).map(|t| (Some(quoted(cmd.name)), t))
                }
                pg_sys::AlterTableType::AT_AddOf => {
                    temporary_type(cmd.def as *const pg_sys::TypeName).map(|t| (None, t))
                }
                _ => None,
            };
            if let Some((column, t)) = found {
                return Some((table, column, t));
            }
        }
        None
    }
}

/// # Safety
/// `def` is a ColumnDef of a parse tree.
unsafe fn def_type(def: &pg_sys::ColumnDef) -> Option<String> {
    // SAFETY: as the caller's contract.
    (!def.typeName.is_null()).then(|| unsafe { temporary_type(def.typeName) })?
}

/// The type a TypeName names, if it (or the base type of a domain, or the element type of an
/// array, at any depth) lives in a temporary schema: its name. Looked up as Postgres will,
/// through the search_path (where pg_temp comes first for types); a name that does not resolve
/// is left to Postgres to report.
///
/// # Safety
/// `type_name` is a TypeName of a parse tree.
unsafe fn temporary_type(type_name: *const pg_sys::TypeName) -> Option<String> {
    // SAFETY: a type lookup by name that returns InvalidOid when missing, then syscache reads
    // of pg_type rows by OID.
    unsafe {
        let mut typid = pg_sys::LookupTypeNameOid(std::ptr::null_mut(), type_name, true);
        // A chain of domains and arrays is short; the bound only guards against a cycle.
        for _ in 0..32 {
            if typid == pg_sys::InvalidOid || typid.to_u32() < pg_sys::FirstNormalObjectId {
                return None;
            }
            let row = crate::catalog::catalog_row(
                pg_sys::SysCacheIdentifier::TYPEOID,
                typid,
                |t: &pg_sys::FormData_pg_type, _| {
                    (
                        t.typnamespace,
                        t.typtype as u8,
                        t.typbasetype,
                        t.typelem,
                        t.typlen,
                    )
                },
            )?;
            let (namespace, typtype, base, elem, len) = row;
            if pg_sys::isAnyTempNamespace(namespace) {
                // This session's temporary types print unqualified (pg_temp is on the path);
                // named as pg_temp's, not by the temporary schema's number.
                let name = CStr::from_ptr(pg_sys::format_type_be(typid))
                    .to_string_lossy()
                    .into_owned();
                return Some(if name.contains('.') {
                    name
                } else {
                    format!("pg_temp.{name}")
                });
            }
            typid = if typtype == pg_sys::TYPTYPE_DOMAIN {
                base
            } else if elem != pg_sys::InvalidOid && len == -1 {
                elem
            } else {
                return None;
            };
        }
        None
    }
}

/// A RangeVar's name as written, quoted.
///
/// # Safety
/// `rv` is a RangeVar of a parse tree.
unsafe fn range_var_name(rv: &pg_sys::RangeVar) -> String {
    // SAFETY: the RangeVar's names are NULL or C strings (caller's contract).
    unsafe {
        if rv.schemaname.is_null() {
            quoted(rv.relname)
        } else {
            crate::probe::qualified_name(
                &CStr::from_ptr(rv.schemaname).to_string_lossy(),
                &CStr::from_ptr(rv.relname).to_string_lossy(),
            )
        }
    }
}

/// # Safety
/// `name` is a C string.
unsafe fn quoted(name: *const std::ffi::c_char) -> String {
    // SAFETY: the caller's contract; quote_identifier returns its argument or a palloc'd copy.
    unsafe {
        CStr::from_ptr(pg_sys::quote_identifier(name))
            .to_string_lossy()
            .into_owned()
    }
}
