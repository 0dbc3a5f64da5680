//! Postgres hooks, each chained to the hook installed before ours.
//!
//! The object-access hook sees every object a statement deletes, after Postgres' own dependency
//! walk has locked it and before it is gone: the one place every DROP form (IF EXISTS, CASCADE,
//! DROP SCHEMA, DROP OWNED, DROP EXTENSION, …) passes through, so memory_guard never has to guess
//! the cascade from the statement's text. It also sees each function as its pg_proc row is
//! written, for the search_path lint.

use pgrx::pg_sys;

static mut PREV_OBJECT_ACCESS_HOOK: pg_sys::object_access_hook_type = None;
static mut PREV_EMIT_LOG_HOOK: pg_sys::emit_log_hook_type = None;
static mut PREV_PROCESS_UTILITY_HOOK: pg_sys::ProcessUtility_hook_type = None;

/// Called once from `_PG_init`.
pub fn install() {
    // SAFETY: _PG_init runs once per backend, single-threaded, before any statement can reach
    // the hook; we save the previous hook so ours always chains to it.
    unsafe {
        PREV_OBJECT_ACCESS_HOOK = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(object_access);
        PREV_EMIT_LOG_HOOK = pg_sys::emit_log_hook;
        pg_sys::emit_log_hook = Some(emit_log);
        PREV_PROCESS_UTILITY_HOOK = pg_sys::ProcessUtility_hook;
        pg_sys::ProcessUtility_hook = Some(process_utility);
    }
}

/// Guards TRUNCATE before it runs (event triggers never see it), and marks where each complete
/// query begins and ends: at its end, what the object-access hook reported during it is judged
/// (`frames.rs`). A query that raises never reaches its end; its subtransaction's abort
/// discards what it reported.
///
/// Deliberately not `#[pg_guard]`: an error raised by the statement must reach the client as
/// Postgres raised it. pgrx's guard, like its wrapped bindings, catches a Postgres error and
/// raises a copy without the error position, CONTEXT and schema/table/constraint fields (Postgres'
/// own regression suite, run with the library loaded, lost every `LINE n: …^` of a failing DDL).
/// So this frame owns nothing that needs dropping, the Rust work runs in the guarded
/// `guard_truncate` and `statement_end`, and Postgres' longjmp crosses this frame as it would a C
/// one.
#[allow(clippy::too_many_arguments)]
unsafe extern "C-unwind" fn process_utility(
    pstmt: *mut pg_sys::PlannedStmt,
    query_string: *const std::ffi::c_char,
    read_only_tree: bool,
    context: pg_sys::ProcessUtilityContext::Type,
    params: pg_sys::ParamListInfo,
    query_env: *mut pg_sys::QueryEnvironment,
    dest: *mut pg_sys::DestReceiver,
    qc: *mut pg_sys::QueryCompletion,
) {
    // SAFETY: Postgres passes a valid PlannedStmt whose utilityStmt is the statement's node; a
    // TruncateStmt is handed on only when the node tag says so.
    let node = unsafe { (*pstmt).utilityStmt };
    // Postgres refuses every statement checked below in a read-only transaction (a standby's
    // included) and in parallel mode, with its own error, which comes first: nothing is locked
    // or probed for a statement that cannot run.
    // SAFETY: a backend global set by SET TRANSACTION / BEGIN, and a plain state query.
    let runnable = unsafe { !pg_sys::XactReadOnly && !pg_sys::IsInParallelMode() };
    // A Citus table is judged as the distributed table before Citus runs the statement on its
    // shards (`distributed.rs`).
    if runnable && crate::distributed::concerns(node) {
        // SAFETY: the node is the statement Postgres is about to run, accepted by concerns().
        unsafe { crate::distributed::before_statement(node) };
    }
    // SAFETY: the node's tag is read from the valid utilityStmt (see above).
    if runnable && !node.is_null() && unsafe { (*node).type_ } == pg_sys::NodeTag::T_TruncateStmt {
        // SAFETY: the node is a TruncateStmt (checked above).
        unsafe { guard_truncate(node.cast()) };
    }
    // SAFETY: the node is the statement Postgres is about to execute; it is read as the struct
    // its tag names.
    if runnable && unsafe { crate::temp_dependency::may_add_a_type(node) } {
        // SAFETY: as above.
        unsafe { check_temp_dependency(node) };
    }
    // What a subcommand (ALTER TABLE's own CREATE INDEX, say) deletes belongs to its statement.
    let complete = context != pg_sys::ProcessUtilityContext::PROCESS_UTILITY_SUBCOMMAND;
    // The tag is read before the statement runs, which may scribble on its parse tree.
    let mark = complete.then(|| {
        let tag = crate::frames::tag_of(node);
        // SAFETY: node is NULL or the utility statement Postgres is about to run; it is read as
        // a CreateFunctionStmt only when its tag says it is one.
        let new_function = unsafe {
            (!node.is_null()
                && (*node).type_ == pg_sys::NodeTag::T_CreateFunctionStmt
                && !(*node.cast::<pg_sys::CreateFunctionStmt>()).replace)
                .then(|| crate::search_path_lint::new_function_as_written(node.cast()))
        };
        (crate::frames::begin(tag, new_function), tag)
    });
    if matches!(
        mark,
        Some((
            _,
            pg_sys::CommandTag::CMDTAG_ALTER_TABLE | pg_sys::CommandTag::CMDTAG_ALTER_TYPE
        ))
    )
        // SAFETY: the node is the statement Postgres is about to execute; the function reads its
        // node tag before anything else (ALTER TYPE comes as several node types).
        && unsafe { crate::type_change::changes_a_column_type(node) }
    {
        // Where the ddl_command_start trigger would check it, before the ALTER looks anything
        // up; the trigger stays quiet once this hook exists (`event_trigger.rs`).
        // SAFETY: the node is the AlterTableStmt Postgres is about to execute (checked above).
        unsafe { check_alter_table(node) };
    }
    // SAFETY: the static is written only once, in init(); the previous hook (or the standard
    // implementation, unwrapped) gets exactly the arguments Postgres gave us.
    unsafe {
        let next = PREV_PROCESS_UTILITY_HOOK.unwrap_or(standard_process_utility);
        next(
            pstmt,
            query_string,
            read_only_tree,
            context,
            params,
            query_env,
            dest,
            qc,
        )
    }
    if let Some((mark, tag)) = mark {
        // Most statements leave nothing to judge, and end here without a Rust guard.
        if !end_if_nothing_to_judge(mark) {
            // SAFETY: a guarded Rust function called with plain values.
            unsafe { statement_end(tag, mark) };
        }
    }
}

/// A complete query ended without an error: judge what it deleted and the functions it
/// created or changed. (If it raised, its subtransaction's abort discarded all of that.)
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn statement_end(tag: pg_sys::CommandTag::Type, mark: u64) {
    crate::frames::end();
    crate::drop_guard::judge_statement(mark, tag);
    crate::search_path_lint::lint_statement(mark, tag);
}

/// Ends the query begun at `mark` if it left nothing to judge: no table at stake and no
/// function written (most statements), and says whether it did. Called outside any Rust guard:
/// it only reads and trims this backend's own lists, and cannot raise.
fn end_if_nothing_to_judge(mark: u64) -> bool {
    if !crate::search_path_lint::nothing_written_since(mark)
        || !crate::drop_guard::forget_unless_at_stake(mark)
    {
        return false;
    }
    crate::frames::end();
    true
}

/// Refuses a permanent table's dependency on a temporary type before the statement makes it
/// (`temp_dependency.rs`).
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_temp_dependency(node: *mut pg_sys::Node) {
    // SAFETY: the node is the CreateStmt or AlterTableStmt Postgres is about to execute.
    unsafe { crate::temp_dependency::before_statement(node) };
}

/// Reports a lossy ALTER COLUMN ... TYPE before the ALTER rewrites anything (`type_change.rs`).
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_alter_table(node: *mut pg_sys::Node) {
    if super::event_trigger::ddl_command_start_would_fire() {
        crate::type_change::before_alter_table(node);
    }
}

/// Refuses an unguarded TRUNCATE of tables holding rows, and records what passed in drop_log now,
/// before the TRUNCATE: both are in the statement's (sub)transaction, so a TRUNCATE that fails
/// takes its drop_log rows with it, and nothing has to survive the call in between.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn guard_truncate(stmt: *mut pg_sys::TruncateStmt) {
    // SAFETY: stmt is the TruncateStmt Postgres is about to execute (checked by the caller).
    if let Some(passed) = unsafe { crate::truncate_guard::before_truncate(stmt) } {
        crate::drop_guard::write_drop_log("TRUNCATE TABLE", &passed);
    }
}

extern "C-unwind" {
    // The plain symbol rather than pgrx's binding, which would catch the statement's errors.
    #[link_name = "standard_ProcessUtility"]
    fn standard_process_utility(
        pstmt: *mut pg_sys::PlannedStmt,
        query_string: *const std::ffi::c_char,
        read_only_tree: bool,
        context: pg_sys::ProcessUtilityContext::Type,
        params: pg_sys::ParamListInfo,
        query_env: *mut pg_sys::QueryEnvironment,
        dest: *mut pg_sys::DestReceiver,
        qc: *mut pg_sys::QueryCompletion,
    );
}

/// During `memory_guard.audit()` only: NOTICEs become findings (an IF NOT EXISTS that did
/// nothing) instead of client messages. Inert otherwise.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn emit_log(edata: *mut pg_sys::ErrorData) {
    // SAFETY: Postgres passes the ErrorData being emitted, valid for the call.
    unsafe { crate::audit::notice_from_hook(edata) };
    // SAFETY: the static is written only once, in init(), before this hook can run.
    if let Some(prev) = unsafe { PREV_EMIT_LOG_HOOK } {
        // SAFETY: the saved hook was valid when we replaced it; called with Postgres' argument.
        unsafe { prev(edata) };
    }
}

/// Postgres calls this for every object created or altered, every schema searched and every
/// function an executor initialises, in every query: so the few events memory_guard wants are
/// picked out here, before any Rust guard is set up, and the rest return at once. Not
/// `#[pg_guard]` for the same reason as `process_utility`: it owns nothing that needs dropping.
unsafe extern "C-unwind" fn object_access(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: i32,
    arg: *mut std::ffi::c_void,
) {
    // SAFETY: the static is written only once, in init(), before this hook can run.
    if let Some(prev) = unsafe { PREV_OBJECT_ACCESS_HOOK } {
        // SAFETY: the saved hook was a valid hook when we replaced it, and is called with the
        // very arguments Postgres gave us.
        unsafe { prev(access, class_id, object_id, sub_id, arg) };
    }
    use pg_sys::ObjectAccessType::*;
    let wanted = match access {
        OAT_DROP => true,
        OAT_POST_CREATE | OAT_POST_ALTER => {
            class_id == pg_sys::ProcedureRelationId || class_id == pg_sys::ExtensionRelationId
        }
        _ => false,
    };
    if wanted {
        // SAFETY: the arguments are Postgres' own, handed on unchanged.
        unsafe { object_access_event(access, class_id, object_id, sub_id, arg) };
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn object_access_event(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: i32,
    arg: *mut std::ffi::c_void,
) {
    use pg_sys::ObjectAccessType::*;
    // CREATE, ALTER or DROP EXTENSION: which extension is memory_guard may have changed.
    if class_id == pg_sys::ExtensionRelationId {
        crate::extension::forget_extension_oid();
    }
    match access {
        OAT_DROP => {
            // SAFETY: for OAT_DROP, Postgres passes a pointer to an ObjectAccessDrop
            // (objectaccess.h), valid for the duration of the call.
            let flags = unsafe { arg.cast::<pg_sys::ObjectAccessDrop>().as_ref() }
                .map_or(0, |d| d.dropflags);
            // Internal deletions (the transient heap of a table rewrite, a toast table) are not
            // a drop anyone asked for and lose nothing.
            if flags & pg_sys::PERFORM_DELETION_INTERNAL as i32 != 0 {
                return;
            }
            crate::drop_guard::before_drop(class_id, object_id, sub_id);
        }
        OAT_POST_CREATE | OAT_POST_ALTER => {
            if class_id != pg_sys::ProcedureRelationId || sub_id != 0 {
                return;
            }
            // SAFETY: Postgres passes an ObjectAccessPostCreate for OAT_POST_CREATE and an
            // ObjectAccessPostAlter for OAT_POST_ALTER (objectaccess.h), or NULL; each is valid
            // for the duration of the call.
            let internal = unsafe {
                if access == OAT_POST_CREATE {
                    arg.cast::<pg_sys::ObjectAccessPostCreate>()
                        .as_ref()
                        .is_some_and(|a| a.is_internal)
                } else {
                    arg.cast::<pg_sys::ObjectAccessPostAlter>()
                        .as_ref()
                        .is_some_and(|a| a.is_internal)
                }
            };
            if !internal {
                crate::search_path_lint::function_changed(object_id);
            }
        }
        _ => {}
    }
}
