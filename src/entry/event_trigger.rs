//! The one event trigger, `ddl_command_start`: it loads the library in a session's first DDL
//! statement, does in that statement what the ProcessUtility hook does in later ones, and then
//! quiets itself for the session (see [`quiet_for_this_session`]).

use crate::session::SessionLocal;
use crate::{ffi, frames, report};
use memory_guard_core::{GuardError, SqlState};
use pgrx::pg_sys;
use std::cell::Cell;

/// The event's command tag and raw parse tree. Raises 39P01 when `fcinfo` is not an event
/// trigger call (someone ran the function by hand).
fn event_data(
    fcinfo: pg_sys::FunctionCallInfo,
    function: &'static str,
) -> (pg_sys::CommandTag::Type, *mut pg_sys::Node) {
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
        (data.tag, data.parsetree)
    }
}

// Not pinned to a search_path: the ALTER TABLE check it runs in the statement that loads the
// library resolves the table through the caller's search_path, exactly as the ALTER will.
#[pgrx::pg_extern(sql = "
CREATE FUNCTION memory_guard.on_ddl_command_start() RETURNS event_trigger
LANGUAGE c AS 'MODULE_PATHNAME', '@FUNCTION_NAME@';
COMMENT ON FUNCTION memory_guard.on_ddl_command_start() IS
  'Loads memory_guard (and its hooks) before the first DDL of a session runs.';
")]
fn on_ddl_command_start(fcinfo: pg_sys::FunctionCallInfo) {
    let (tag, parsetree) = event_data(fcinfo, "on_ddl_command_start");
    // SAFETY: fcinfo is this event trigger call's (checked by event_data).
    unsafe { quiet_for_this_session((*(*fcinfo).flinfo).fn_oid) };
    if frames::wrapped() {
        // The library was loaded before: our ProcessUtility hook has begun this statement, and
        // checks an ALTER TABLE there.
        return;
    }
    frames::unwrapped_statement_begins(tag);
    crate::drop_guard::unwrapped_statement_start();
    if tag == pg_sys::CommandTag::CMDTAG_ALTER_TABLE || tag == pg_sys::CommandTag::CMDTAG_ALTER_TYPE
    {
        crate::type_change::before_alter_table(parsetree);
    }
    // SAFETY: the event's raw parse tree, read as the struct its tag names.
    if unsafe { crate::temp_dependency::may_add_a_type(parsetree) } {
        // SAFETY: as above.
        unsafe { crate::temp_dependency::before_statement(parsetree) };
    }
}

/// Whether Postgres would fire memory_guard's ddl_command_start trigger for a DDL statement now,
/// were it not quiet. The ProcessUtility hook checks an ALTER TABLE where the trigger used to,
/// and only where the trigger would have: so `ALTER EVENT TRIGGER memory_guard_ddl_command_start
/// DISABLE` and `session_replication_role = replica` still switch the check off, and nothing is
/// locked for a statement Postgres is about to refuse (a read-only transaction, a standby) or in
/// single-user mode, where no event trigger fires.
pub fn ddl_command_start_would_fire() -> bool {
    // SAFETY: backend globals, set at start and by SET.
    let (under_postmaster, read_only, replica) = unsafe {
        (
            pg_sys::IsUnderPostmaster,
            pg_sys::XactReadOnly,
            pg_sys::SessionReplicationRole == pg_sys::SESSION_REPLICATION_ROLE_REPLICA as i32,
        )
    };
    if !under_postmaster || read_only {
        return false;
    }
    let enabled = crate::catalog::catalog_row(
        pg_sys::SysCacheIdentifier::EVENTTRIGGERNAME,
        c"memory_guard_ddl_command_start".as_ptr(),
        |form: &pg_sys::FormData_pg_event_trigger, _| form.evtenabled as u8,
    );
    // As filter_event_trigger decides ('D', disabled, and a dropped trigger never fire).
    match enabled {
        Some(b'A') => true,
        Some(b'O') => !replica,
        Some(b'R') => replica,
        _ => false,
    }
}

/// One past the last command tag (cmdtaglist.h is in alphabetical order, VACUUM last): the tag
/// of no statement. pgrx binds COMMAND_TAG_NEXTTAG for 15 only.
const NO_COMMAND_TAG: i32 = pg_sys::CommandTag::CMDTAG_VACUUM as i32 + 1;

/// A tag set no statement's tag is in, allocated once for the session.
static NO_TAG: SessionLocal<Cell<*mut pg_sys::Bitmapset>> =
    SessionLocal::new(Cell::new(std::ptr::null_mut()));

/// Once the library is loaded, its ProcessUtility hook sees every statement before Postgres
/// fires ddl_command_start, and does all the trigger did: the trigger's only remaining work
/// would be its call, which Postgres makes for every DDL statement with a memory context, a
/// function lookup and a command counter increment (half of what memory_guard added to a DDL
/// workload, bench/ddl_overhead.sh). So this session's copy of the event trigger cache is told
/// that the trigger fires for no command tag. Nothing else changes: the catalog still holds the
/// trigger, every other session loads the library through it, and when this session's cache is
/// rebuilt (any change to an event trigger invalidates it) the trigger fires once more and is
/// quieted again.
///
/// # Safety
/// Inside a transaction; `fnoid` is this trigger's function.
unsafe fn quiet_for_this_session(fnoid: pg_sys::Oid) {
    let none = NO_TAG.with(|n| {
        if n.get().is_null() {
            // SAFETY: allocates one Bitmapset in TopMemoryContext, which lives as long as the
            // backend; it is never freed or changed (Postgres only reads a cache item's tagset,
            // and frees the cache's own memory context, not this one, on a rebuild).
            n.set(unsafe {
                pgrx::PgMemoryContexts::TopMemoryContext
                    .switch_to(|_| pg_sys::bms_make_singleton(NO_COMMAND_TAG))
            });
        }
        n.get()
    });
    // SAFETY: EventCacheLookup (utils/evtcache.h) returns this backend's cached list of
    // EventTriggerCacheItem pointers for the event, valid until the cache is invalidated,
    // which cannot happen during this loop (no catalog access). Setting the tagset of our own
    // items is the only change, and Postgres reads it only to decide whether to fire them;
    // the trigger being fired now was already copied into Postgres' list of functions to call.
    unsafe {
        let list = ffi::EventCacheLookup(ffi::EVT_DDL_COMMAND_START);
        // The item is declared by hand (ffi.rs): if this server's items do not look like it (an
        // `enabled` that is no trigger state), nothing is written, and the trigger keeps firing.
        let items = || ffi::list_elements::<ffi::EventTriggerCacheItem>(list);
        if !items().all(|item| ffi::looks_like_a_cache_item(&*item)) {
            report::server_log(
                "memory_guard: the event trigger cache does not match the EventTriggerCacheItem memory_guard was built for; its ddl_command_start trigger keeps firing in this session",
            );
            return;
        }
        for item in items() {
            if (*item).fnoid == fnoid {
                (*item).tagset = none;
            }
        }
    }
}

// 17 and 18 have the same list, with VACUUM last; pgrx binds the end marker for 15 only.
#[cfg(all(any(test, feature = "pg_test"), feature = "pg15"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn no_command_tag_is_one_past_the_last() {
        assert_eq!(
            super::NO_COMMAND_TAG,
            pg_sys::CommandTag::COMMAND_TAG_NEXTTAG as i32
        );
    }
}
