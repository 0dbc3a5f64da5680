//! Reading the EventTriggerData Postgres hands to an event-trigger function.

use crate::report;
use memory_guard_core::{GuardError, SqlState};
use pgrx::pg_sys;
use std::ffi::CStr;

/// The event's command tag and raw parse tree. Raises 39P01 when `fcinfo` is not an event
/// trigger call (someone ran the function by hand).
pub fn event_data(
    fcinfo: pg_sys::FunctionCallInfo,
    function: &'static str,
) -> (String, *mut pg_sys::Node) {
    // SAFETY: fcinfo comes from the function manager; its context is either NULL or a Node, and
    // is an EventTriggerData exactly when the node tag says so.
    unsafe {
        let ctx = (*fcinfo).context;
        if ctx.is_null() || (*ctx).type_ != pg_sys::NodeTag::T_EventTriggerData {
            let e = GuardError::new(
                SqlState::TriggerProtocolViolated,
                format!("{function}() must be called as an event trigger"),
            )
            .hint("CREATE EXTENSION memory_guard installs it as one; do not call it directly.");
            report::raise(&e, function);
        }
        let data = &*(ctx as *const pg_sys::EventTriggerData);
        let tag = CStr::from_ptr(pg_sys::GetCommandTagName(data.tag))
            .to_string_lossy()
            .into_owned();
        (tag, data.parsetree)
    }
}

/// The unqualified name of the function a CREATE/ALTER FUNCTION or PROCEDURE statement targets.
pub fn target_function_name(parsetree: *mut pg_sys::Node) -> Option<String> {
    if parsetree.is_null() {
        return None;
    }
    // SAFETY: parsetree is the statement's raw parse tree, valid during the event; each node is
    // read as the struct its tag names, and the name lists hold String nodes (gram.y: any_name).
    unsafe {
        let names = match (*parsetree).type_ {
            pg_sys::NodeTag::T_CreateFunctionStmt => {
                (*(parsetree as *mut pg_sys::CreateFunctionStmt)).funcname
            }
            pg_sys::NodeTag::T_AlterFunctionStmt => {
                let func = (*(parsetree as *mut pg_sys::AlterFunctionStmt)).func;
                if func.is_null() {
                    return None;
                }
                (*func).objname
            }
            _ => return None,
        };
        last_string(names)
    }
}

/// # Safety
/// `list` must be NULL or a valid List of String nodes.
unsafe fn last_string(list: *mut pg_sys::List) -> Option<String> {
    // SAFETY: per the contract; length bounds the elements array.
    unsafe {
        if list.is_null() || (*list).length == 0 {
            return None;
        }
        let cell = (*list).elements.add((*list).length as usize - 1);
        let node = (*cell).ptr_value as *mut pg_sys::Node;
        if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_String {
            return None;
        }
        let sval = (*(node as *mut pg_sys::String)).sval;
        (!sval.is_null()).then(|| CStr::from_ptr(sval).to_string_lossy().into_owned())
    }
}

/// Whether a CREATE FUNCTION/PROCEDURE can produce a warning by itself: SECURITY DEFINER, a
/// `SET` clause, or a `trigger`/`event_trigger` result. ALTER FUNCTION always can. (Losing an
/// earlier setting is the other way, checked against the catalog.)
pub fn may_be_security_relevant(parsetree: *mut pg_sys::Node) -> bool {
    if parsetree.is_null() {
        return false;
    }
    // SAFETY: nodes are read as the structs their tags name; option lists hold DefElems and the
    // result type's name list holds String nodes (gram.y).
    unsafe {
        if (*parsetree).type_ != pg_sys::NodeTag::T_CreateFunctionStmt {
            return true;
        }
        let stmt = &*(parsetree as *mut pg_sys::CreateFunctionStmt);
        let options = stmt.options;
        for i in 0..(if options.is_null() {
            0
        } else {
            (*options).length as usize
        }) {
            let def = (*(*options).elements.add(i)).ptr_value as *mut pg_sys::DefElem;
            if def.is_null() || (*def).defname.is_null() {
                continue;
            }
            let name = CStr::from_ptr((*def).defname).to_bytes();
            if name == b"security" || name == b"set" {
                return true;
            }
        }
        if stmt.returnType.is_null() {
            return false;
        }
        matches!(
            last_string((*stmt.returnType).names).as_deref(),
            Some("trigger" | "event_trigger")
        )
    }
}

/// Runs `f` with `search_path = pg_catalog`, exactly as `SET search_path` on the function would,
/// but only around the SQL an event trigger actually runs. A setting on the function itself is
/// applied and undone on every call, with a search-path recomputation each way, and these
/// triggers fire for every DROP and every CREATE FUNCTION while almost all of them return at
/// once (the overhead benchmark measures the difference).
pub fn with_catalog_search_path<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: what fmgr does for a function with a SET clause: a new GUC nest level, a setting
    // saved for that level, and its restore. If `f` raises, the (sub)transaction abort pops the
    // level itself, as it does for fmgr.
    let level = unsafe {
        let level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        level
    };
    let r = f();
    // SAFETY: pops the level pushed above, restoring the caller's search_path.
    unsafe { pg_sys::AtEOXact_GUC(true, level) };
    r
}
