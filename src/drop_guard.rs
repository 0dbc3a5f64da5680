//! The drop guard: no statement deletes a table holding rows unless the drop was guarded.
//!
//! How the pieces meet, for one statement:
//! 1. The object-access hook (`entry/hooks.rs`) calls [`before_drop`] for each object Postgres'
//!    dependency walk deletes, while it still exists and is locked: tables and columns are
//!    probed there, and every object is noted with what is needed to tell later what CASCADE
//!    took (a description while it can still be given; its dependencies, read then or, for
//!    relations and what belongs to one table, only if a report needs them).
//! 2. When the statement ends (`entry/hooks.rs`), [`judge_statement`] hands the facts to the core
//!    policy and raises, warns, or writes `memory_guard.drop_log`. Raising rolls the whole
//!    statement back: nothing is dropped.
//! 3. In the one statement that loads the library, which no hook of ours wraps, each table is
//!    judged as it is met instead.

use crate::extension::{
    as_extension_owner, current_role, current_user_acts_as, with_safe_search_path,
};
use crate::frames;
use crate::session::{self, Scoped, SessionLocal};
use crate::{gucs, probe, report};
use memory_guard_core::drop_policy::{
    blocked_error, cascaded, decide, log_line, may_be_cascaded, unreadable_error, Ancestor,
    DeletedObject, DropContext, DropMode, DroppedTable, Guard, InternalOwners, ObjectRef, Permit,
    VerifiedCopy,
};
use memory_guard_core::{GuardError, Reaction, SqlState};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;
use std::cell::RefCell;

/// A table (or column) about to lose data, with what is needed to judge it later.
struct Pending {
    table: DroppedTable,
    /// For a column drop, its attribute number and catalog name.
    attnum: Option<(i32, String)>,
    /// Catalog names of the ancestors, for finding function bodies that name them.
    ancestor_names: Vec<(u32, String, String)>,
    /// The statement's tag when it was met, for a judgement at commit (see before_commit).
    tag: pg_sys::CommandTag::Type,
}

/// An object the running statements deleted, for the refusal's CASCADE list. For relations,
/// columns, what belongs to one table, and functions nothing deleted took along, what the list
/// needs is read only when a statement is judged, and only if it is refused or reported: most
/// statements delete nothing that holds
/// rows, and a `pg_depend` scan and a description per deleted object were most of what the guard
/// cost an ordinary DROP (bench/ddl_overhead.sh, instructions).
#[derive(Clone)]
struct Seen {
    object: ObjectRef,
    /// The command that deleted it: its dependencies are read as that command saw them.
    deleted_by: pg_sys::CommandId,
    depends_on: Option<Vec<(ObjectRef, bool)>>,
    described: Description,
}

/// How a deleted object will be named in a report.
#[derive(Clone)]
enum Description {
    /// Named when met, or `None`: it cannot be listed.
    Given(Option<(String, String)>),
    /// A relation, column, or what belongs to one table, named only if a report asks, from the
    /// catalog as the command that deleted it saw it.
    AsOf,
}

impl Seen {
    fn into_deleted(self) -> DeletedObject {
        DeletedObject {
            depends_on: self
                .depends_on
                .unwrap_or_else(|| probe::dependencies(self.object, Some(self.deleted_by))),
            object: self.object,
            described: match self.described {
                Description::Given(described) => described,
                Description::AsOf => probe::describe_as_of(self.object, self.deleted_by),
            },
        }
    }
}

fn deleted_objects(seen: Vec<Seen>) -> Vec<DeletedObject> {
    seen.into_iter().map(Seen::into_deleted).collect()
}

/// Tables with a ledger copy verified exact, by OID.
type VerifiedCopies = Vec<(u32, VerifiedCopy)>;

static PENDING: SessionLocal<RefCell<Scoped<Pending>>> =
    SessionLocal::new(RefCell::new(Scoped::new()));
/// Every object deleted by the running statements.
static DELETED: SessionLocal<RefCell<Scoped<Seen>>> =
    SessionLocal::new(RefCell::new(Scoped::new()));
/// Owners of the internal parts deleted in this transaction (a superset is harmless: it only
/// decides which objects are described).
static INTERNAL_OWNERS: SessionLocal<RefCell<Option<InternalOwners>>> =
    SessionLocal::new(RefCell::new(None));
/// Ledger copies verified at the statement's first deletion; `None` until then.
static VERIFIED: SessionLocal<RefCell<Option<VerifiedCopies>>> =
    SessionLocal::new(RefCell::new(None));
static PERMITS: SessionLocal<RefCell<Scoped<Permit>>> =
    SessionLocal::new(RefCell::new(Scoped::new()));

/// Permits and facts are for the current transaction only.
/// Called outside any Rust guard (`entry/xact.rs`): it only resets this backend's own state.
/// `pushed`: anything was pushed to a per-statement list during the transaction (otherwise
/// they are all empty already).
/// Returns whether every list could be reset (see `session::reset`).
pub fn transaction_end(pushed: bool) -> bool {
    let lists_reset = !pushed
        || (PENDING.with(session::reset)
            & DELETED.with(session::reset)
            & PERMITS.with(session::reset));
    INTERNAL_OWNERS.with(session::reset);
    VERIFIED.with(session::reset);
    lists_reset
}

/// A permit given inside a savepoint that is rolled back was never given; facts from work that
/// was rolled back describe nothing that happened.
pub fn subtransaction_end(
    aborted: bool,
    sub: pg_sys::SubTransactionId,
    parent: pg_sys::SubTransactionId,
) {
    PERMITS.with(|p| p.borrow_mut().settle(aborted, sub, parent));
    PENDING.with(|p| p.borrow_mut().settle(aborted, sub, parent));
    DELETED.with(|d| d.borrow_mut().settle(aborted, sub, parent));
}

/// Whether the guard applies here and now: on, not inside an extension script, and installed in
/// this database.
pub fn guard_active() -> bool {
    (gucs::drop_mode() != DropMode::Off || crate::findings::active())
        // SAFETY: reading a backend-global flag set by CREATE/ALTER EXTENSION.
        && !unsafe { pg_sys::creating_extension }
        && crate::extension::installed_here()
}

/// The first deletion of a statement comes before anything is deleted: that is when copies
/// recorded in the ledger can still be read whole.
fn before_first_drop() {
    if VERIFIED.with(|v| v.borrow().is_some()) {
        return;
    }
    let verified = crate::ledger::verified_copies_of_locked_tables();
    VERIFIED.with(|v| *v.borrow_mut() = Some(verified));
}

/// Called by the object-access hook for every object a statement deletes (internal deletions
/// aside), before its deletion.
pub fn before_drop(class_id: pg_sys::Oid, object_id: pg_sys::Oid, sub_id: i32) {
    // Off, an extension's own install or upgrade script, or loaded (e.g. preloaded) in a
    // database where memory_guard is not installed.
    if !guard_active() {
        return;
    }
    // A toast table and its index go with their table: they hold none of its rows of their own,
    // are never cascaded to, and are never listed.
    if class_id == pg_sys::RelationRelationId
        // SAFETY: a syscache lookup by OID, InvalidOid when not found.
        && unsafe { crate::ffi::get_rel_namespace(object_id) }
            == pg_sys::Oid::from_u32(pg_sys::PG_TOAST_NAMESPACE)
    {
        return;
    }
    before_first_drop();
    let object = (class_id.to_u32(), object_id.to_u32(), sub_id);
    let seen = if probe::described_without_types(object) {
        // Relations, columns, and what belongs to one table: nothing is read now. They are
        // named, and their dependencies read, only if a report needs them, from the catalog as
        // this command sees it.
        Seen {
            object,
            // SAFETY: reads the transaction's command counter; inside a statement.
            deleted_by: unsafe { crate::ffi::GetCurrentCommandId(false) },
            depends_on: None,
            described: Description::AsOf,
        }
    } else if class_id == pg_sys::ProcedureRelationId
        && !INTERNAL_OWNERS.with(|o| {
            o.borrow()
                .as_ref()
                .is_some_and(|owners| owners.contains(&(object.0, object.1)))
        })
        && probe::function_depends_on_nothing_deleted(object_id)
    {
        // A function nothing deleted took along (DROP FUNCTION itself, most often): never
        // listed, and its dependencies are read, like a relation's, only if a report needs them.
        Seen {
            object,
            // SAFETY: reads the transaction's command counter; inside a statement.
            deleted_by: unsafe { crate::ffi::GetCurrentCommandId(false) },
            depends_on: None,
            described: Description::Given(None),
        }
    } else {
        // A relation's row type and an array type are internal parts of what they belong to,
        // with no other dependency of their own: noted (others may depend on them), not looked
        // into.
        let depends_on =
            if class_id == pg_sys::TypeRelationId && probe::is_dependent_type(object_id) {
                Vec::new()
            } else {
                probe::dependencies(object, None)
            };
        let may_be_listed = INTERNAL_OWNERS.with(|o| {
            let mut owners = o.borrow_mut();
            may_be_cascaded(
                &depends_on,
                object,
                owners.get_or_insert_with(InternalOwners::new),
                probe::may_be_deleted,
            )
        });
        Seen {
            object,
            deleted_by: pg_sys::InvalidCommandId,
            described: Description::Given(
                may_be_listed
                    .then(|| probe::describe(object, &depends_on))
                    .flatten(),
            ),
            depends_on: Some(depends_on),
        }
    };
    DELETED.with(|d| d.borrow_mut().push(seen));
    if class_id == crate::ffi::LARGE_OBJECT_RELATION_ID {
        large_object_at_stake(object_id);
        return;
    }
    if class_id != pg_sys::RelationRelationId || sub_id < 0 {
        return;
    }
    if sub_id == 0 && crate::findings::active() {
        if let Some((schema, table)) = probe::permanent_table_name(object_id) {
            crate::findings::record_dropped_table(schema, table);
        }
    }
    let attnum = (sub_id != 0).then_some(sub_id);
    if refused_unread(|| frames::tag_name(frames::last_tag()), object_id, attnum) {
        return;
    }
    let found = match attnum {
        None => table_at_stake(object_id),
        Some(attnum) => column_at_stake(object_id, attnum),
    };
    if found && !frames::wrapped() {
        let pending = PENDING.with(|p| p.borrow_mut().take_all());
        let deleted: Vec<Seen> = DELETED.with(|d| d.borrow().iter().cloned().collect());
        with_safe_search_path(|| {
            judge_pending(
                &frames::tag_name(frames::last_tag()),
                pending,
                deleted,
                false,
            )
        });
    }
}

/// A large object is about to be deleted. `lo_unlink` deletes one on purpose (a function call,
/// like DELETE, not a migration's DDL); `DROP OWNED BY` deletes every large object of the role
/// along with its other objects, and one that holds data is refused (or reported) there. Only
/// DROP OWNED is judged: the running statement's, or in the statement that loads the library,
/// which no hook of ours wraps, the portal's.
fn large_object_at_stake(loid: pg_sys::Oid) {
    let drop_owned = pg_sys::CommandTag::CMDTAG_DROP_OWNED;
    // SAFETY: ActivePortal is NULL or the portal running the current top-level statement.
    let portal_tag = unsafe { pg_sys::ActivePortal.as_ref().map(|p| p.commandTag) };
    if frames::last_tag() != drop_owned || !(frames::wrapped() || portal_tag == Some(drop_owned)) {
        return;
    }
    // pg_largeobject is readable by superusers only: read as the extension's owner, which only
    // learns whether the object has a page and who owns it.
    let found = as_extension_owner(|| {
        Spi::get_two_with_args::<String, bool>(
            "SELECT m.lomowner::pg_catalog.regrole::pg_catalog.text, \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_largeobject d WHERE d.loid OPERATOR(pg_catalog.=) m.oid) \
             FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid OPERATOR(pg_catalog.=) $1",
            &[loid.into()],
        )
    });
    let Ok((Some(owner), Some(true))) = found else {
        return; // empty, or already gone
    };
    let mode = effective_mode();
    let tag = frames::tag_name(drop_owned);
    let err = memory_guard_core::drop_policy::large_object_error(&tag, loid.to_u32(), &owner, mode);
    if crate::findings::active() {
        crate::findings::record(|seq, stmt| memory_guard_core::audit::Finding {
            seq,
            severity: memory_guard_core::audit::Severity::Critical,
            category: memory_guard_core::audit::Category::DataLoss,
            object: format!("large object {loid}"),
            message: format!(
                "{}. {}",
                err.message,
                err.detail.clone().unwrap_or_default()
            ),
            fix: err.hint.clone().unwrap_or_default(),
            statement: stmt.to_string(),
        });
        return;
    }
    let verdict = match mode.reaction() {
        Some(Reaction::Refuse) => "blocked",
        Some(Reaction::Log) => "logged",
        _ => "warned about",
    };
    report::server_log(&format!(
        "memory_guard: {verdict} {tag} of large object {loid} (owner {owner}) role={}",
        current_role()
    ));
    report::emit(&err, mode.reaction(), "drop_guard");
}

/// A statement our ProcessUtility hook does not wrap begins: what earlier such statements
/// left is theirs, not its.
pub fn unwrapped_statement_start() {
    DELETED.with(|d| d.borrow_mut().clear());
    VERIFIED.with(|v| *v.borrow_mut() = None);
}

/// The statement marked `mark` ended: unless it met a table (or column) at stake, what it
/// deleted is forgotten here, outside any Rust guard (it cannot raise or panic), and true
/// returned; otherwise false, and [`statement_end`] judges it. A busy list counts as at stake.
pub fn forget_unless_at_stake(mark: u64) -> bool {
    let at_stake = PENDING.with(|p| p.try_borrow().map_or(true, |p| p.has_since(mark)));
    if at_stake {
        return false;
    }
    DELETED.with(|d| match d.try_borrow_mut() {
        Ok(mut d) => {
            d.discard_since(mark);
            VERIFIED.with(session::reset);
            true
        }
        Err(_) => false,
    })
}

/// Whether no table at stake waits to be judged (see [`before_commit`]).
pub fn nothing_pending() -> bool {
    PENDING.with(|p| p.try_borrow().is_ok_and(|p| p.is_empty()))
}

/// A complete query ended: judge the tables it deleted that held rows.
pub fn judge_statement(mark: u64, tag: pg_sys::CommandTag::Type) {
    VERIFIED.with(|v| *v.borrow_mut() = None);
    if DELETED.with(|d| d.borrow().is_empty()) {
        return; // most statements delete nothing
    }
    let deleted = DELETED.with(|d| d.borrow_mut().take_since(mark));
    let pending = PENDING.with(|p| p.borrow_mut().take_since(mark));
    if pending.is_empty() {
        return;
    }
    with_safe_search_path(|| judge_pending(&frames::tag_name(tag), pending, deleted, true));
}

/// Nothing reported may commit unjudged, whatever path the statement took.
pub fn before_commit() {
    let pending = PENDING.with(|p| p.borrow_mut().take_all());
    let Some(tag) = pending.first().map(|p| p.tag) else {
        return;
    };
    let deleted = DELETED.with(|d| d.borrow_mut().take_all());
    with_safe_search_path(|| judge_pending(&frames::tag_name(tag), pending, deleted, true));
}

/// Whether `relid` (or its column `attnum`) is one the role deleting it may not read, and so was
/// refused (or, under the mode, reported) without a look inside, whatever it holds (see
/// `unreadable_error`); then it is not probed. In log mode nothing reaches the client: the
/// guard looks, and records, as for any table. Shared with the TRUNCATE guard.
/// `tag` names the statement, asked only for a report.
pub fn refused_unread(
    tag: impl FnOnce() -> String,
    relid: pg_sys::Oid,
    attnum: Option<i32>,
) -> bool {
    let mode = effective_mode();
    if mode.reaction() == Some(Reaction::Log)
        || probe::readable_by_current_user(relid, attnum)
        || is_own_table(relid)
    {
        return false;
    }
    let table = probe::relation_name(relid).unwrap_or_default();
    let column = attnum.and_then(|a| {
        // SAFETY: a syscache lookup of a column of a locked relation; copied at once.
        let name = unsafe { pg_sys::get_attname(relid, a as i16, true) };
        // SAFETY: NULL or a palloc'd C string.
        (!name.is_null()).then(|| unsafe {
            probe::quote_identifier(&std::ffi::CStr::from_ptr(name).to_string_lossy())
        })
    });
    let err = unreadable_error(&tag(), &table, column.as_deref(), &current_role(), mode);
    report::emit(&err, mode.reaction(), "drop_guard");
    true
}

/// A relation about to be deleted, under its lock: pending if it is a table holding rows.
fn table_at_stake(relid: pg_sys::Oid) -> bool {
    let Some(facts) = probe::probe_locked_table(relid) else {
        return false;
    };
    if is_own_table(relid) {
        return false; // memory_guard's own tables go with DROP EXTENSION memory_guard
    }
    let (table, ancestor_names) = dropped_table(relid, facts);
    push_pending(table, None, ancestor_names);
    true
}

/// A column about to be deleted (ALTER TABLE … DROP COLUMN, or a cascade from DROP
/// TYPE/DOMAIN/EXTENSION), under its table's lock: pending if a visible row holds a value in it.
fn column_at_stake(relid: pg_sys::Oid, attnum: i32) -> bool {
    let Some((facts, column, raw_name)) = probe::probe_locked_column(relid, attnum) else {
        return false;
    };
    if is_own_table(relid) {
        return false;
    }
    let (mut table, ancestor_names) = dropped_table(relid, facts);
    table.column = Some(column);
    push_pending(table, Some((attnum, raw_name)), ancestor_names);
    true
}

fn is_own_table(relid: pg_sys::Oid) -> bool {
    crate::extension::is_own_record_table(relid)
}

fn push_pending(
    table: DroppedTable,
    attnum: Option<(i32, String)>,
    ancestor_names: Vec<(u32, String, String)>,
) {
    PENDING.with(|p| {
        p.borrow_mut().push(Pending {
            table,
            attnum,
            ancestor_names,
            tag: frames::last_tag(),
        })
    });
}

/// The facts of a table (or of the table of a column) about to lose data, with its ancestors.
pub fn dropped_table(
    relid: pg_sys::Oid,
    facts: probe::TableFacts,
) -> (DroppedTable, Vec<(u32, String, String)>) {
    let mut ancestors = Vec::new();
    let mut ancestor_names = Vec::new();
    for a in probe::ancestors(relid) {
        let (schema, relname) = probe::relation_catalog_name(a).unwrap_or_default();
        ancestors.push(Ancestor {
            relid: a.to_u32(),
            name: probe::qualified_name(&schema, &relname),
            dropped: false,
        });
        ancestor_names.push((a.to_u32(), schema, relname));
    }
    let table = DroppedTable {
        relid: relid.to_u32(),
        name: facts.name,
        schema: facts.schema,
        relname: facts.relname,
        owner: facts.owner.to_u32(),
        ancestors,
        is_partition: facts.is_partition,
        has_rows: true,
        estimate: facts.estimate,
        created_in_transaction: facts.created_in_transaction,
        verified_copy: VERIFIED.with(|v| {
            v.borrow().as_ref().and_then(|l| {
                l.iter()
                    .find(|(r, _)| *r == relid.to_u32())
                    .map(|(_, c)| *c)
            })
        }),
        column: None,
    };
    (table, ancestor_names)
}

/// Judges the tables a statement deleted that held rows. `ended`: the statement is over, so
/// what still exists was not deleted after all, and ancestors that are gone went with it;
/// otherwise (judged as met) everything still exists.
fn judge_pending(tag: &str, pending: Vec<Pending>, deleted: Vec<Seen>, ended: bool) {
    let mode = effective_mode();
    if mode == DropMode::Off {
        return;
    }
    let mut catalog_names = Vec::new();
    let tables: Vec<DroppedTable> = pending
        .into_iter()
        .filter(|p| {
            !ended
                || match &p.attnum {
                    None => !crate::catalog::relation_exists(pg_sys::Oid::from_u32(p.table.relid)),
                    Some((attnum, _)) => column_gone(p.table.relid, *attnum),
                }
        })
        .map(|mut p| {
            for a in p.table.ancestors.iter_mut() {
                a.dropped = ended
                    && match &p.attnum {
                        None => !crate::catalog::relation_exists(pg_sys::Oid::from_u32(a.relid)),
                        // The parent's column of the same name went too (ALTER on the parent).
                        Some((_, name)) => column_named_gone(a.relid, name),
                    };
            }
            catalog_names.extend(
                p.ancestor_names
                    .iter()
                    .filter(|(relid, _, _)| {
                        p.table
                            .ancestors
                            .iter()
                            .any(|a| a.relid == *relid && a.dropped)
                    })
                    .map(|(_, s, r)| (s.clone(), r.clone())),
            );
            // A column drop leaves the table in place: its callers need not break.
            if p.attnum.is_none() {
                catalog_names.push((p.table.schema.clone(), p.table.relname.clone()));
            }
            p.table
        })
        .collect();
    let cascade_list = || cascaded(&deleted_objects(deleted));
    if let Some(passed) = judge(
        tag,
        mode,
        tables,
        &catalog_names,
        cascade_list,
        "drop_guard",
    ) {
        write_drop_log(tag, &passed);
    }
}

/// Decides for the data a statement is about to delete: raises (enforce), warns (warn), or
/// records an audit finding; returns what passed, for drop_log (`None` during an audit, which
/// is rolled back). Shared by the drop guard and the TRUNCATE hook; `cascaded` gives what the
/// statement dropped through CASCADE (`type identity`), asked only for a report.
pub fn judge(
    tag: &str,
    mode: DropMode,
    tables: Vec<DroppedTable>,
    catalog_names: &[(String, String)],
    cascaded: impl FnOnce() -> Vec<String>,
    function: &'static str,
) -> Option<Vec<(DroppedTable, Guard)>> {
    let auditing = crate::findings::active();
    let mut permits: Vec<Permit> = PERMITS.with(|p| p.borrow().iter().cloned().collect());
    let mut tables = tables;
    // Shards of a Citus table: the coordinator judged the table as a whole.
    tables.retain(|t| {
        match crate::shards::covered(pg_sys::Oid::from_u32(t.relid), &t.schema, &t.relname) {
            Some(crate::shards::Covered::JudgedHere) => false,
            // No more than allow_drop would grant here: its rule, the table's owner (or a member).
            Some(crate::shards::Covered::Permit(p))
                if current_user_acts_as(pg_sys::Oid::from_u32(t.owner)) =>
            {
                permits.push(Permit {
                    relid: t.relid,
                    column: None,
                    reason: format!(
                        "{} (permit of the Citus coordinator for {}, claimed by {})",
                        p.reason,
                        probe::qualified_name(&p.schema, &p.table),
                        p.by
                    ),
                    // Who set the permit on this node is the role running the statement here.
                    granted_by: current_role(),
                });
                true
            }
            _ => true,
        }
    });
    let decision = decide(mode, tables, &permits);
    if !decision.unguarded.is_empty() {
        let mut ctx = gather_context(tag, &decision.unguarded, catalog_names, &cascaded());
        if !auditing && mode.reaction() != Some(Reaction::Refuse) {
            ctx.goes_ahead_under = Some(mode);
        }
        let err = blocked_error(&decision.unguarded, &ctx);
        if auditing {
            let mut object: Vec<String> = decision
                .unguarded
                .iter()
                .map(|t| format!("table {}", t.root().1))
                .collect();
            object.dedup();
            crate::findings::record(|seq, stmt| memory_guard_core::audit::Finding {
                seq,
                severity: memory_guard_core::audit::Severity::Critical,
                category: memory_guard_core::audit::Category::DataLoss,
                object: object.join(", "),
                message: format!(
                    "{}. {}",
                    err.message,
                    err.detail.clone().unwrap_or_default().replace('\n', " ")
                ),
                fix: err.hint.clone().unwrap_or_default(),
                statement: stmt.to_string(),
            });
            return None;
        }
        let role = current_role();
        let verdict = match mode.reaction() {
            Some(Reaction::Refuse) => "blocked",
            Some(Reaction::Log) => "logged",
            _ => "warned about",
        };
        for t in &decision.unguarded {
            report::server_log(&log_line(verdict, t, tag, &role));
        }
        report::emit(&err, mode.reaction(), function);
    }
    Some(decision.passed)
}

/// The mode in force: an audit reports what enforce mode would refuse, whatever the setting.
pub fn effective_mode() -> DropMode {
    if crate::findings::active() {
        DropMode::Enforce
    } else {
        gucs::drop_mode()
    }
}

/// Whether a column is dropped (or its table gone), as seen by the current command.
fn column_gone(relid: u32, attnum: i32) -> bool {
    Spi::get_one_with_args::<bool>(
        "SELECT coalesce((SELECT attisdropped FROM pg_catalog.pg_attribute WHERE attrelid = $1 AND attnum = $2), true)",
        &[pg_sys::Oid::from_u32(relid).into(), (attnum as i16).into()],
    )
    .ok()
    .flatten()
    .unwrap_or(true)
}

fn column_named_gone(relid: u32, name: &str) -> bool {
    Spi::get_one_with_args::<bool>(
        "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = $1 AND attname = $2 AND NOT attisdropped)",
        &[pg_sys::Oid::from_u32(relid).into(), name.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(true)
}

const USER_OBJECT_PREFIXES: &[&str] = &[
    "table ",
    "table column ",
    "view ",
    "materialized view ",
    "index ",
    "table constraint ",
    "trigger ",
    "policy ",
];

/// What the refusal's DETAIL needs: what CASCADE took along, and which functions still name
/// the tables. Only run when about to refuse or warn.
fn gather_context(
    tag: &str,
    unguarded: &[DroppedTable],
    catalog_names: &[(String, String)],
    cascaded: &[String],
) -> DropContext {
    let at_stake: Vec<String> = unguarded
        .iter()
        .flat_map(|t| {
            let mut v = vec![format!("table {}", t.name), format!("table {}", t.root().1)];
            if let Some(c) = &t.column {
                v.push(format!("table column {}.{c}", t.name));
            }
            v
        })
        .collect();
    let cascaded: Vec<String> = cascaded
        .iter()
        .filter(|d| !at_stake.contains(d))
        // DROP EXTENSION takes its own members along (hundreds for pgvector): list what is the
        // user's, the tables and their parts.
        .filter(|d| {
            tag != "DROP EXTENSION" || USER_OBJECT_PREFIXES.iter().any(|p| d.starts_with(p))
        })
        .cloned()
        .collect();

    let mut referencing_functions: Vec<(String, Vec<String>)> = Vec::new();
    let mut seen: Vec<&(String, String)> = Vec::new();
    for name @ (schema, relname) in catalog_names {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let fns = crate::references::functions_naming(schema, relname);
        if !fns.is_empty() {
            referencing_functions.push((probe::qualified_name(schema, relname), fns));
        }
    }
    DropContext {
        command_tag: tag.to_string(),
        cascaded,
        referencing_functions,
        goes_ahead_under: None,
    }
}

/// Records each guarded drop. drop_log is writable only by the extension's owner, so that no
/// role can forge or erase entries; the insert runs as that owner. A drop that cannot be
/// recorded does not happen: any failure here raises, and the statement with it.
pub fn write_drop_log(tag: &str, passed: &[(DroppedTable, Guard)]) {
    if passed.is_empty() {
        return;
    }
    let role = current_role();
    if crate::extension::drop_log_relid() == pg_sys::InvalidOid {
        // DROP EXTENSION memory_guard took drop_log with it, and with a permit the side table
        // too: the server log is the one record left.
        for (t, guard) in passed {
            report::server_log(&format!(
                "memory_guard: {tag} of table {} let through by {} (reason: {}; allowed by {}; estimated_rows={}); drop_log went with the extension",
                t.name,
                guard.as_str(),
                guard.reason().unwrap_or("none"),
                guard.granted_by().unwrap_or("none"),
                t.estimate,
            ));
        }
        return;
    }
    as_extension_owner(|| {
        for (t, guard) in passed {
            let details = serde_json::json!({
                "root": t.root().1,
                "is_partition": t.is_partition,
                "estimate": t.estimate.to_string(),
                "ledger_id": guard.ledger_id(),
            });
            let args: Vec<DatumWithOid> = vec![
                pg_sys::Oid::from_u32(t.relid).into(),
                t.name.as_str().into(),
                t.column.as_deref().into(),
                tag.into(),
                t.estimate.rows().map(|n| n as i64).into(),
                guard.as_str().into(),
                guard.reason().into(),
                role.as_str().into(),
                JsonB(details).into(),
                guard.granted_by().into(),
                pg_sys::Oid::from_u32(t.owner).into(),
            ];
            Spi::run_with_args(include_str!("../sql/queries/insert_drop_log.sql"), &args)
                .unwrap_or_else(|e| crate::report::failed("writing drop_log", e));
        }
    });
}

/// `memory_guard.allow_drop(target, reason)`: acknowledges, for the current transaction only,
/// that the rows of `target` (and of its partitions or inheritance children) may be dropped.
#[pg_extern(volatile, parallel_unsafe)]
fn allow_drop(target: Option<&str>, reason: Option<&str>) -> String {
    let permit = report::ok_or_raise(resolve_permit(target, reason), "allow_drop");
    let relid = pg_sys::Oid::from_u32(permit.relid);
    let table = probe::relation_name(relid).unwrap_or_default();
    let name = match &permit.column {
        Some(c) => format!("column {table}.{c}"),
        None => table.clone(),
    };
    // Only a role that may drop the table may say its rows may go: a permit from anyone else
    // would arm another role's drop (a SECURITY DEFINER function's, say) in the same transaction.
    let owner = crate::extension::relation_owner(relid);
    if !owner.is_some_and(current_user_acts_as) {
        report::raise(
            &GuardError::new(
                SqlState::InsufficientPrivilege,
                format!("allow_drop: must be the owner of {table} to allow its drop"),
            )
            .detail(format!("{} may not drop {table}, so it may not acknowledge that its rows may go.", current_role()))
            .hint(format!("Call allow_drop as the owner of {table} (or a member of its owning role), in the transaction that drops it.")),
            "allow_drop",
        );
    }
    PERMITS.with(|p| p.borrow_mut().push(permit));
    format!("drop of {name} allowed until the end of this transaction")
}

fn resolve_permit(target: Option<&str>, reason: Option<&str>) -> Result<Permit, GuardError> {
    let usage = "SELECT memory_guard.allow_drop('schema.table', reason => 'why the rows may go');";
    let target = target.ok_or_else(|| {
        GuardError::new(
            SqlState::NullValueNotAllowed,
            "allow_drop: target must not be NULL",
        )
        .hint(format!("Name the table to drop, as in {usage}"))
    })?;
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(GuardError::new(
            SqlState::InvalidParameterValue,
            format!("allow_drop: a reason is required to drop {target}"),
        )
        .detail("drop_log keeps the reason next to the dropped table, for whoever looks for the rows later.")
        .hint(format!("Say why the rows may go, as in {usage}")));
    }
    let permit = |relid: pg_sys::Oid, column: Option<String>| Permit {
        relid: relid.to_u32(),
        column,
        reason: reason.to_string(),
        granted_by: current_role(),
    };
    // Bad syntax gets parse_ident's error, which names the string; the lookup below would only
    // say "invalid name syntax".
    with_safe_search_path(|| {
        Spi::run_with_args("SELECT pg_catalog.parse_ident($1)", &[target.into()])
    })
    .map_err(|e| GuardError::new(SqlState::InvalidParameterValue, format!("allow_drop: {e}")))?;
    match resolve_target(target) {
        // A foreign table's rows are deleted on its server by TRUNCATE.
        Target::Table(relid, kind) if kind == pg_sys::RELKIND_RELATION || kind == pg_sys::RELKIND_PARTITIONED_TABLE || kind == pg_sys::RELKIND_FOREIGN_TABLE => {
            Ok(permit(relid, None))
        }
        Target::Column(relid, column) => Ok(permit(relid, Some(column))),
        Target::Table(..) => Err(GuardError::new(
            SqlState::WrongObjectType,
            format!("allow_drop: {target} is not a table"),
        )
        .detail("memory_guard guards tables, partitioned tables and (for TRUNCATE) foreign tables; other relations hold no rows of their own.")),
        Target::Missing => Err(GuardError::new(
            SqlState::UndefinedTable,
            format!("allow_drop: table {target} does not exist"),
        )
        .hint("Name the table as the DROP statement will find it, schema-qualified if it is not on search_path; a column as table.column.")),
    }
}

enum Target {
    Table(pg_sys::Oid, u8),
    /// A column of a table, and its quoted name.
    Column(pg_sys::Oid, String),
    Missing,
}

/// Reads `target` as DROP would find it, through the caller's search_path, in Postgres' own
/// name lookup (no SQL, so no operator or type of the caller's can bend it): `[schema.]table`,
/// or else `[schema.]table.column` of a table.
fn resolve_target(target: &str) -> Target {
    let Ok(text) = std::ffi::CString::new(target) else {
        return Target::Missing;
    };
    // SAFETY: stringToQualifiedNameList parses a C string (raising 42602 on bad syntax) into a
    // List of String nodes, read as such; the RangeVar lookups take no lock and return
    // InvalidOid when missing; get_attnum and get_rel_relkind are syscache lookups.
    unsafe {
        let names = crate::ffi::qualified_name_list(text.as_ptr());
        let parts: Vec<*mut pg_sys::Node> =
            crate::ffi::list_elements::<pg_sys::Node>(names).collect();
        let lookup = |list: *mut pg_sys::List| {
            pg_sys::RangeVarGetRelidExtended(
                pg_sys::makeRangeVarFromNameList(list),
                pg_sys::NoLock as i32,
                pg_sys::RVROption::RVR_MISSING_OK,
                None,
                std::ptr::null_mut(),
            )
        };
        if parts.len() <= 2 {
            let relid = lookup(names);
            if relid != pg_sys::InvalidOid {
                return Target::Table(relid, pg_sys::get_rel_relkind(relid) as u8);
            }
        }
        if parts.len() == 2 || parts.len() == 3 {
            let table = pg_sys::list_truncate(pg_sys::list_copy(names), parts.len() as i32 - 1);
            let relid = lookup(table);
            let column = (*parts
                .last()
                .expect("two or three parts")
                .cast::<pg_sys::String>())
            .sval;
            let kind = pg_sys::get_rel_relkind(relid) as u8;
            if relid != pg_sys::InvalidOid
                && (kind == pg_sys::RELKIND_RELATION || kind == pg_sys::RELKIND_PARTITIONED_TABLE)
                && pg_sys::get_attnum(relid, column) > 0
            {
                let quoted = std::ffi::CStr::from_ptr(pg_sys::quote_identifier(column));
                return Target::Column(relid, quoted.to_string_lossy().into_owned());
            }
        }
        Target::Missing
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn allow_drop_names_the_resolved_table() {
        Spi::run("CREATE TABLE t_allow (x int)").unwrap();
        let msg = Spi::get_one::<String>("SELECT memory_guard.allow_drop('t_allow', 'test')")
            .unwrap()
            .unwrap();
        assert_eq!(
            msg,
            "drop of public.t_allow allowed until the end of this transaction"
        );
    }

    #[pg_test(error = "memory_guard: allow_drop: a reason is required to drop t_allow2")]
    fn allow_drop_rejects_a_blank_reason() {
        Spi::run("CREATE TABLE t_allow2 (x int)").unwrap();
        Spi::run("SELECT memory_guard.allow_drop('t_allow2', '   ')").unwrap();
    }

    #[pg_test]
    fn a_table_created_and_filled_in_the_transaction_passes_and_is_logged() {
        // A #[pg_test] runs inside one transaction, so the table is new to it: nothing committed
        // can be lost. Drops of older tables are covered by the SQL scenarios under tests/sql.
        Spi::run("CREATE TABLE t_rows AS SELECT 1 AS x").unwrap();
        Spi::run("DROP TABLE t_rows").unwrap();
        let logged = Spi::get_one::<String>(
            "SELECT guard FROM memory_guard.drop_log WHERE table_name = 'public.t_rows'",
        )
        .unwrap();
        assert_eq!(logged.as_deref(), Some("created_in_transaction"));
    }
}
