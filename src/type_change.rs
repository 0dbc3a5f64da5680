//! `memory_guard.type_change_mode`: reports `ALTER TABLE … ALTER COLUMN … TYPE` on a column
//! holding values when the conversion can lose information (rules in
//! `memory_guard_core::type_change`). Runs just before the ALTER (`entry/hooks.rs`; in the statement
//! that loads the library, at its ddl_command_start, `entry/event_trigger.rs`), after taking the lock the
//! ALTER itself takes, so the probe sees every committed value.

use crate::{gucs, probe};
use memory_guard_core::error::CheckMode;
use memory_guard_core::type_change::{lossy, report as lossy_report};
use pgrx::prelude::*;
use std::ffi::CStr;

/// Called for every ALTER TABLE and ALTER TYPE before it runs.
pub fn before_alter_table(parsetree: *mut pg_sys::Node) {
    let auditing = crate::findings::active();
    let mode = if auditing {
        CheckMode::Warn
    } else {
        gucs::type_change_mode()
    };
    // SAFETY: reading a backend-global flag set by CREATE/ALTER EXTENSION.
    let in_extension_script = unsafe { pg_sys::creating_extension };
    // Its own setting alone decides: memory_guard.drop_mode = off used to silence it too.
    if mode == CheckMode::Off || in_extension_script || !crate::extension::installed_here() {
        return;
    }
    for change in type_changes(parsetree) {
        let Some(why) = lossy(&change.old, &change.new, change.using) else {
            continue;
        };
        // The ALTER rewrites the column in every inheritance child and partition too (unless
        // ONLY): a value in any of them is at stake.
        let Some(facts) = tables_rewritten(&change)
            .into_iter()
            .find_map(|(relid, attnum)| {
                // A Citus table on the coordinator: its values are in its shards.
                if crate::shards::citus_metadata_here()
                    && crate::shards::is_citus_table(relid)
                    && crate::shards::on_coordinator()
                {
                    return distributed_column(relid, attnum);
                }
                probe::probe_locked_column(relid, attnum)
            })
            .map(|(facts, _, _)| facts)
        else {
            continue; // no value to lose
        };
        let column = format!("{}.{}", facts.name, change.column);
        let command = if change.of_type {
            "ALTER TYPE"
        } else {
            "ALTER TABLE"
        };
        let err = lossy_report(
            command,
            &facts.name,
            &change.column,
            &change.old,
            &change.new,
            &why,
            mode,
        );
        crate::findings::record_or_report(&err, mode.reaction(), "type_change", |seq, stmt| {
            memory_guard_core::audit::Finding {
                seq,
                severity: memory_guard_core::audit::Severity::High,
                category: memory_guard_core::audit::Category::DataLoss,
                object: format!("column {column}"),
                message: format!(
                    "{}: {}",
                    err.message,
                    err.detail.clone().unwrap_or_default()
                ),
                fix: "Back the table up first, or convert into a new column and compare."
                    .to_string(),
                statement: stmt.to_string(),
            }
        });
    }
}

/// `probe::probe_locked_column` for a Citus table, whose values live in its shards.
fn distributed_column(
    relid: pg_sys::Oid,
    attnum: i32,
) -> Option<(probe::TableFacts, String, String)> {
    let (schema, relname) = probe::relation_catalog_name(relid)?;
    // SAFETY: a syscache lookup of a user column of the locked relation; copied at once.
    let raw = unsafe {
        let name = pg_sys::get_attname(relid, attnum as i16, true);
        if name.is_null() {
            return None;
        }
        CStr::from_ptr(name).to_string_lossy().into_owned()
    };
    let name = probe::qualified_name(&schema, &relname);
    if crate::shards::holds_rows(relid, &name, Some(raw.as_str())) != Some(true) {
        return None;
    }
    let facts = probe::TableFacts {
        owner: crate::extension::relation_owner(relid).unwrap_or(pg_sys::InvalidOid),
        is_partition: false,
        estimate: crate::shards::summed_estimate(relid),
        created_in_transaction: false,
        schema,
        relname,
        name,
    };
    Some((facts, probe::quote_identifier(&raw), raw))
}

/// Whether an ALTER TABLE has an `ALTER COLUMN … TYPE` subcommand (or an ALTER TYPE an
/// `ALTER ATTRIBUTE … TYPE`, which the parser makes the same node): read from the parse tree
/// alone, outside any Rust guard, so that other ALTERs never enter one.
///
/// # Safety
/// `parsetree` is NULL or a statement's raw parse tree.
pub unsafe fn changes_a_column_type(parsetree: *mut pg_sys::Node) -> bool {
    // SAFETY: nodes are read as the structs their tags name (caller's contract).
    unsafe {
        if parsetree.is_null() || (*parsetree).type_ != pg_sys::NodeTag::T_AlterTableStmt {
            return false;
        }
        let cmds = (*(parsetree as *mut pg_sys::AlterTableStmt)).cmds;
        crate::ffi::list_elements::<pg_sys::AlterTableCmd>(cmds)
            .any(|cmd| (*cmd).subtype == pg_sys::AlterTableType::AT_AlterColumnType)
    }
}

/// The tables (and the column's number in each) whose column an `ALTER COLUMN … TYPE`
/// rewrites: the table, and without ONLY its inheritance children and partitions at any depth,
/// each locked as the ALTER will lock it. Children are found through pg_inherits under the safe
/// search_path; the column is the child's of the same name.
fn tables_rewritten(change: &TypeChange) -> Vec<(pg_sys::Oid, i32)> {
    if change.of_type {
        return typed_tables_rewritten(change);
    }
    let mut out = vec![(change.relid, change.attnum)];
    if !change.inh {
        return out;
    }
    out.extend(locked_columns(
        include_str!("../sql/queries/children_columns.sql"),
        change,
        "the children of a table",
    ));
    out
}

/// `ALTER TYPE … ALTER ATTRIBUTE … TYPE … CASCADE` rewrites the attribute's column in every
/// table typed `OF` the composite type (and their children); without CASCADE Postgres refuses
/// while such a table exists. Each is locked as the ALTER will lock it.
fn typed_tables_rewritten(change: &TypeChange) -> Vec<(pg_sys::Oid, i32)> {
    if !change.cascade {
        return Vec::new();
    }
    locked_columns(
        include_str!("../sql/queries/typed_table_columns.sql"),
        change,
        "the tables of a type",
    )
}

/// The (table, column number) rows `query` finds for the change's relation and column name,
/// each table locked as the ALTER will lock it. Run under the safe search_path, where the
/// query's plain operators are pg_catalog's.
fn locked_columns(query: &str, change: &TypeChange, what: &str) -> Vec<(pg_sys::Oid, i32)> {
    let found: Vec<(pg_sys::Oid, i16)> = crate::extension::with_safe_search_path(|| {
        pgrx::spi::Spi::connect(|c| {
            c.select(
                query,
                None,
                &[change.relid.into(), change.raw_column.as_str().into()],
            )
            .map(|rows| {
                rows.filter_map(|r| Some((r.get::<pg_sys::Oid>(1).ok()??, r.get::<i16>(2).ok()??)))
                    .collect()
            })
        })
        .unwrap_or_else(|e| crate::report::failed(what, e))
    });
    found
        .into_iter()
        .map(|(relid, attnum)| {
            // SAFETY: the lock the ALTER itself takes on every table it rewrites.
            unsafe { pg_sys::LockRelationOid(relid, pg_sys::AccessExclusiveLock as i32) };
            (relid, i32::from(attnum))
        })
        .collect()
}

struct TypeChange {
    /// The table, or for ALTER TYPE the composite type's relation.
    relid: pg_sys::Oid,
    /// An ALTER TYPE of a composite type.
    of_type: bool,
    /// With CASCADE (ALTER TYPE: typed tables are rewritten too).
    cascade: bool,
    attnum: i32,
    /// Without ONLY: the change recurses into inheritance children and partitions.
    inh: bool,
    /// The column's name as the catalog spells it.
    raw_column: String,
    column: String,
    old: String,
    new: String,
    using: bool,
}

/// The `ALTER COLUMN … TYPE` subcommands of an ALTER TABLE, resolved. The table is locked as
/// the ALTER will lock it (AccessExclusiveLock) before anything is read.
fn type_changes(parsetree: *mut pg_sys::Node) -> Vec<TypeChange> {
    let mut out = Vec::new();
    // SAFETY: parsetree is the statement's raw parse tree; nodes are read as the structs their
    // tags name; the RangeVar lookup raises (as the ALTER would) for a missing table unless
    // IF EXISTS, where it returns InvalidOid.
    unsafe {
        if parsetree.is_null() || (*parsetree).type_ != pg_sys::NodeTag::T_AlterTableStmt {
            return out;
        }
        let stmt = &*(parsetree as *mut pg_sys::AlterTableStmt);
        let of_type = stmt.objtype == pg_sys::ObjectType::OBJECT_TYPE;
        if !(stmt.objtype == pg_sys::ObjectType::OBJECT_TABLE || of_type) || stmt.cmds.is_null() {
            return out;
        }
        let mut relid = pg_sys::InvalidOid;
        for cmd in crate::ffi::list_elements::<pg_sys::AlterTableCmd>(stmt.cmds) {
            let cmd = &*cmd;
            if cmd.subtype != pg_sys::AlterTableType::AT_AlterColumnType
                || cmd.def.is_null()
                || cmd.name.is_null()
            {
                continue;
            }
            if relid == pg_sys::InvalidOid {
                let flags = if stmt.missing_ok {
                    pg_sys::RVROption::RVR_MISSING_OK
                } else {
                    0
                };
                // Ownership first, as ALTER TABLE checks it: no lock for a role that may not
                // alter the table, and nothing said about its values.
                relid = pg_sys::RangeVarGetRelidExtended(
                    stmt.relation,
                    pg_sys::AccessExclusiveLock as i32,
                    flags,
                    Some(crate::extension::may_alter),
                    std::ptr::null_mut(),
                );
                if relid == pg_sys::InvalidOid {
                    return out;
                }
            }
            let attnum = pg_sys::get_attnum(relid, cmd.name) as i32;
            if attnum <= 0 {
                continue; // Postgres will report the missing column itself
            }
            let def = &*(cmd.def as *mut pg_sys::ColumnDef);
            let mut typid = pg_sys::InvalidOid;
            let mut typmod = -1;
            pg_sys::typenameTypeIdAndMod(
                std::ptr::null_mut(),
                def.typeName,
                &mut typid,
                &mut typmod,
            );
            let (mut old_type, mut old_typmod, mut collation) =
                (pg_sys::InvalidOid, -1, pg_sys::InvalidOid);
            pg_sys::get_atttypetypmodcoll(
                relid,
                attnum as i16,
                &mut old_type,
                &mut old_typmod,
                &mut collation,
            );
            let show = |oid, typmod| {
                CStr::from_ptr(pg_sys::format_type_with_typemod(oid, typmod))
                    .to_string_lossy()
                    .into_owned()
            };
            out.push(TypeChange {
                relid,
                of_type,
                cascade: cmd.behavior == pg_sys::DropBehavior::DROP_CASCADE,
                attnum,
                inh: (*stmt.relation).inh,
                raw_column: CStr::from_ptr(cmd.name).to_string_lossy().into_owned(),
                column: CStr::from_ptr(pg_sys::quote_identifier(cmd.name))
                    .to_string_lossy()
                    .into_owned(),
                old: show(old_type, old_typmod),
                new: show(typid, typmod),
                using: !def.raw_default.is_null(),
            });
        }
    }
    out
}
