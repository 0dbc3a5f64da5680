//! Where a DDL statement begins and ends, as memory_guard sees it.
//!
//! The object-access hook (`hooks.rs`) reports objects as Postgres deletes, creates or alters
//! them; the drop guard and the lint collect those reports and judge them when the statement
//! that caused them ends, at the exit of memory_guard's ProcessUtility hook. Event triggers on
//! `sql_drop` or `ddl_command_end` would give the same moment, but while any such trigger exists
//! Postgres tracks every dropped object and copies every parse tree of every DDL statement in
//! the database, which is most of what a guard costs (bench/ddl_overhead.sh).
//!
//! So the only event trigger is `ddl_command_start`, and it is there to load the library. The
//! statement during which the library is loaded is the one our ProcessUtility hook cannot wrap:
//! its reports are judged as they arrive (see [`wrapped`]).

use crate::ffi;
use crate::report;
use memory_guard_core::{GuardError, SqlState};
use pgrx::pg_sys;
use std::cell::{Cell, RefCell};

/// State of this session. Postgres runs each session in a process of its own, on one thread,
/// and memory_guard starts no thread (pgrx refuses calls into Postgres from any other): so a
/// plain static holds per-session state, as a `thread_local!` would, without the thread-local
/// storage lookup each access costs from a shared library, on a path every statement takes.
pub struct SessionLocal<T>(std::cell::UnsafeCell<T>);

// SAFETY: only the backend's one thread ever runs memory_guard's code (see above), so the value
// is never reached from two threads.
unsafe impl<T> Sync for SessionLocal<T> {}

impl<T> SessionLocal<T> {
    pub const fn new(value: T) -> Self {
        SessionLocal(std::cell::UnsafeCell::new(value))
    }

    /// `f` on the value, as `LocalKey::with`; changes go through the Cell or RefCell inside.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: only shared references to the value are ever made (one thread, see above).
        f(unsafe { &*self.0.get() })
    }
}

/// One report, kept until the statement that made it ends or its subtransaction does.
struct Entry<T> {
    subid: pg_sys::SubTransactionId,
    seq: u64,
    value: T,
}

/// Reports (or permits) that belong to a (sub)transaction: gone when it aborts, handed to the
/// parent when it commits, and numbered so a statement can take back what it caused.
pub struct Scoped<T> {
    items: Vec<Entry<T>>,
}

/// Per-transaction state that can be emptied for the next transaction.
pub trait Reset {
    /// Empties it, keeping any allocation (the next transaction fills it again).
    fn reset(&mut self);
}

// Each checks first: emptying what is empty already (the usual case) would still run the
// value's drop code, on a path every transaction takes.
impl<T> Reset for Scoped<T> {
    fn reset(&mut self) {
        if !self.items.is_empty() {
            self.items.clear();
        }
    }
}

impl<T> Reset for Vec<T> {
    fn reset(&mut self) {
        if !self.is_empty() {
            self.clear();
        }
    }
}

impl<T> Reset for Option<T> {
    fn reset(&mut self) {
        if self.is_some() {
            *self = None;
        }
    }
}

/// Resets per-transaction state from code that runs outside any Rust guard, where a panic would
/// take the backend down: a value that is borrowed (never, between statements) is left as is,
/// and false returned.
pub fn reset<T: Reset>(cell: &RefCell<T>) -> bool {
    cell.try_borrow_mut().map(|mut value| value.reset()).is_ok()
}

impl<T> Scoped<T> {
    pub const fn new() -> Self {
        Scoped { items: Vec::new() }
    }

    pub fn push(&mut self, value: T) {
        let seq = SEQ.with(|s| {
            let n = s.get();
            s.set(n + 1);
            n
        });
        self.items.push(Entry {
            subid: current_subid(),
            seq,
            value,
        });
    }

    /// Removes and returns what was pushed since `mark` (see [`begin`]).
    pub fn take_since(&mut self, mark: u64) -> Vec<T> {
        let at = self.items.partition_point(|e| e.seq < mark);
        self.items.drain(at..).map(|e| e.value).collect()
    }

    pub fn take_all(&mut self) -> Vec<T> {
        self.take_since(0)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether anything was pushed since `mark`.
    pub fn has_since(&self, mark: u64) -> bool {
        self.items.last().is_some_and(|e| e.seq >= mark)
    }

    /// Drops what was pushed since `mark`.
    pub fn discard_since(&mut self, mark: u64) {
        let at = self.items.partition_point(|e| e.seq < mark);
        self.items.truncate(at);
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|e| &e.value)
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// A subtransaction ended: what it made goes with it (abort) or to its parent (commit).
    pub fn subxact_end(
        &mut self,
        aborted: bool,
        sub: pg_sys::SubTransactionId,
        parent: pg_sys::SubTransactionId,
    ) {
        if aborted {
            self.items.retain(|e| e.subid != sub);
        } else {
            self.items
                .iter_mut()
                .filter(|e| e.subid == sub)
                .for_each(|e| e.subid = parent);
        }
    }
}

static SEQ: SessionLocal<Cell<u64>> = SessionLocal::new(Cell::new(0));
/// SEQ when the last transaction ended: lists nothing was pushed to since need no reset.
static SEQ_AT_END: SessionLocal<Cell<u64>> = SessionLocal::new(Cell::new(0));
/// The complete queries our ProcessUtility hook is running, innermost last.
static FRAMES: SessionLocal<RefCell<Vec<Frame>>> = SessionLocal::new(RefCell::new(Vec::new()));
/// The command tag of the latest complete query (or, in the statement that loaded the
/// library, of its ddl_command_start), for reports judged as they arrive or at commit.
static LAST_TAG: SessionLocal<Cell<pg_sys::CommandTag::Type>> =
    SessionLocal::new(Cell::new(pg_sys::CommandTag::CMDTAG_UNKNOWN));

fn current_subid() -> pg_sys::SubTransactionId {
    // SAFETY: only called inside a transaction (hooks during a statement, SQL functions); it
    // reads a field of the transaction state and cannot raise.
    unsafe { ffi::GetCurrentSubTransactionId() }
}

struct Frame {
    /// The subtransaction it began in.
    subid: pg_sys::SubTransactionId,
    /// What a CREATE FUNCTION or PROCEDURE without OR REPLACE says of the function it writes.
    new_function: Option<NewFunction>,
    /// The tag of the statement around it, if any, for when it ends.
    outer_tag: pg_sys::CommandTag::Type,
}

/// A function a CREATE FUNCTION or PROCEDURE without OR REPLACE writes: it had no earlier
/// version, and its statement may already show that the lint has nothing to say of it.
#[derive(Clone, Copy, PartialEq)]
pub enum NewFunction {
    /// Not SECURITY DEFINER, no `SET search_path`, not a trigger function.
    Plain,
    Other,
}

/// A complete query begins (called by the ProcessUtility hook, outside any Rust guard, so it
/// does nothing that can raise). Returns its mark, for [`Scoped::take_since`].
pub fn begin(node: *mut pg_sys::Node, tag: pg_sys::CommandTag::Type) -> u64 {
    let outer_tag = LAST_TAG.with(|t| t.replace(tag));
    let mark = SEQ.with(|s| s.get());
    // SAFETY: node is NULL or the utility statement Postgres is about to run; it is read as a
    // CreateFunctionStmt only when its tag says it is one.
    let new_function = unsafe {
        (!node.is_null()
            && (*node).type_ == pg_sys::NodeTag::T_CreateFunctionStmt
            && !(*node.cast::<pg_sys::CreateFunctionStmt>()).replace)
            .then(|| crate::search_path_lint::new_function_as_written(node.cast()))
    };
    let frame = Frame {
        subid: current_subid(),
        new_function,
        outer_tag,
    };
    // Never borrowed between statements; a panic here would take the backend down.
    FRAMES.with(|f| f.try_borrow_mut().map(|mut f| f.push(frame)).ok());
    mark
}

/// What the running statement says of a function it writes, if it is a CREATE FUNCTION or
/// PROCEDURE without OR REPLACE.
pub fn new_function() -> Option<NewFunction> {
    FRAMES.with(|f| f.borrow().last().and_then(|fr| fr.new_function))
}

/// The query begun with [`begin`] ended without an error.
pub fn end() {
    let frame = FRAMES.with(|f| f.try_borrow_mut().ok().and_then(|mut f| f.pop()));
    if let Some(frame) = frame {
        LAST_TAG.with(|t| t.set(frame.outer_tag));
    }
}

/// Ends the query begun with [`begin`] (and marked `mark`) if it left nothing to judge: no
/// table at stake and no function written (most statements), and says whether it did. Called
/// outside any Rust guard: it only reads and trims this backend's own lists, and cannot raise.
pub fn end_if_nothing_to_judge(mark: u64) -> bool {
    if !crate::search_path_lint::nothing_written_since(mark)
        || !crate::drop_guard::forget_unless_at_stake(mark)
    {
        return false;
    }
    end();
    true
}

/// Whether a running ProcessUtility hook call will judge what is reported now. False only in
/// the statement that loaded the library (and in deletions outside any utility statement):
/// there, reports are judged as they arrive.
pub fn wrapped() -> bool {
    FRAMES.with(|f| !f.borrow().is_empty())
}

pub fn last_tag() -> pg_sys::CommandTag::Type {
    LAST_TAG.with(|t| t.get())
}

pub fn tag_name(tag: pg_sys::CommandTag::Type) -> String {
    // SAFETY: GetCommandTagName returns a static C string for every tag value.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::GetCommandTagName(tag)) }
        .to_string_lossy()
        .into_owned()
}

/// The tag of a statement's parse tree.
pub fn tag_of(node: *mut pg_sys::Node) -> pg_sys::CommandTag::Type {
    if node.is_null() {
        return pg_sys::CommandTag::CMDTAG_UNKNOWN;
    }
    // SAFETY: node is the utility statement of a PlannedStmt Postgres is executing.
    unsafe { ffi::CreateCommandTag(node) }
}

pub fn init() {
    // SAFETY: called once from _PG_init; the callbacks are plain functions that live as long as
    // the library, which Postgres never unloads.
    unsafe {
        pg_sys::RegisterXactCallback(Some(xact_callback), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(subxact_callback), std::ptr::null_mut());
    }
}

/// Called for every transaction of a session that loaded the library, most of which did nothing
/// memory_guard looks at: so a Rust guard is set up only to judge what is still pending, and
/// the end of a transaction only resets this backend's own state (it cannot raise or panic).
unsafe extern "C-unwind" fn xact_callback(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::XactEvent::*;
    match event {
        // Whatever a statement reported and nothing judged yet is judged before it can commit.
        XACT_EVENT_PRE_COMMIT | XACT_EVENT_PRE_PREPARE if !crate::drop_guard::nothing_pending() => {
            // SAFETY: a guarded Rust function without arguments.
            unsafe { judge_before_commit() }
        }
        XACT_EVENT_COMMIT
        | XACT_EVENT_ABORT
        | XACT_EVENT_PREPARE
        | XACT_EVENT_PARALLEL_COMMIT
        | XACT_EVENT_PARALLEL_ABORT => {
            FRAMES.with(reset);
            let seq = SEQ.with(|s| s.get());
            let pushed = SEQ_AT_END.with(|at| at.get()) != seq;
            let all_reset = crate::drop_guard::transaction_end(pushed)
                & (!pushed || crate::search_path_lint::transaction_end());
            if all_reset {
                SEQ_AT_END.with(|at| at.set(seq));
            }
        }
        _ => {}
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn judge_before_commit() {
    crate::drop_guard::before_commit();
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn subxact_callback(
    event: pg_sys::SubXactEvent::Type,
    sub: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::SubXactEvent::*;
    let aborted = match event {
        SUBXACT_EVENT_ABORT_SUB => true,
        SUBXACT_EVENT_COMMIT_SUB => false,
        _ => return,
    };
    if aborted {
        // A query that raised inside the subtransaction never reached its end().
        FRAMES.with(|f| f.borrow_mut().retain(|fr| fr.subid != sub));
    }
    crate::drop_guard::subxact_end(aborted, sub, parent);
    crate::search_path_lint::subxact_end(aborted, sub, parent);
}

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
    if wrapped() {
        // The library was loaded before: our ProcessUtility hook has begun this statement, and
        // checks an ALTER TABLE there.
        return;
    }
    LAST_TAG.with(|t| t.set(tag));
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
    let enabled = crate::probe::catalog_row(
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
                pgrx::PgMemoryContexts::TopMemoryContext.switch_to(|_| {
                    pg_sys::bms_make_singleton(pg_sys::CommandTag::COMMAND_TAG_NEXTTAG as i32)
                })
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
