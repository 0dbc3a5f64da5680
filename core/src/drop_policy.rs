//! Which drops of tables holding rows may proceed, and how a refusal is worded.
//!
//! The extension's object-access hook probes every table a statement deletes, under the lock the
//! statement holds, and hands the facts here as [`DroppedTable`]s; [`decide`] sorts them into the
//! guarded and the unguarded, and [`blocked_error`] words the refusal.

use crate::error::{GuardError, Reaction, SqlState};
use crate::sql_text::quote_literal;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

/// `memory_guard.drop_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropMode {
    /// Unguarded drops of tables holding rows fail.
    Enforce,
    /// They proceed with a WARNING and are logged in drop_log as unguarded.
    Warn,
    /// They proceed silently: the report goes to the server log only, and drop_log records them
    /// as unguarded. For rolling the guard out, and for suites whose client output must not change.
    Log,
    /// The guard does nothing.
    Off,
}

impl DropMode {
    /// What an unguarded drop of data meets; `None` when the guard is off.
    pub const fn reaction(self) -> Option<Reaction> {
        match self {
            DropMode::Enforce => Some(Reaction::Refuse),
            DropMode::Warn => Some(Reaction::Warn),
            DropMode::Log => Some(Reaction::Log),
            DropMode::Off => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            DropMode::Enforce => "enforce",
            DropMode::Warn => "warn",
            DropMode::Log => "log",
            DropMode::Off => "off",
        }
    }
}

impl FromStr for DropMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "enforce" => Ok(DropMode::Enforce),
            "warn" => Ok(DropMode::Warn),
            "log" => Ok(DropMode::Log),
            "off" => Ok(DropMode::Off),
            other => Err(format!(
                "unknown drop mode \"{other}\" (enforce, warn, log or off)"
            )),
        }
    }
}

/// The path, relative to the data directory and NUL-terminated, of the first segment of a
/// permanent relation's main fork in the database's default tablespace, as Postgres'
/// `GetRelationPath` spells it (`base/<database>/<relfilenode>`): built on the stack, because
/// the probe asks the file system about it on every DROP.
pub struct RelationPath {
    bytes: [u8; 32],
    len: usize,
}

impl RelationPath {
    pub fn in_default_tablespace(database: u32, relfilenode: u32) -> Self {
        let mut path = RelationPath {
            bytes: [0; 32],
            len: 0,
        };
        path.push(b"base/");
        path.push_number(database);
        path.push(b"/");
        path.push_number(relfilenode);
        path
    }

    /// The path with its terminating NUL (at most 5 + 10 + 1 + 10 bytes are written into the
    /// zeroed buffer, so one is always there).
    pub fn as_bytes_with_nul(&self) -> &[u8] {
        &self.bytes[..=self.len]
    }

    fn push(&mut self, part: &[u8]) {
        self.bytes[self.len..self.len + part.len()].copy_from_slice(part);
        self.len += part.len();
    }

    fn push_number(&mut self, mut n: u32) {
        let mut digits = [0u8; 10];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[at..]);
    }
}

/// What is known of a table's size without counting it: the probe says whether a row exists, the
/// planner statistics say roughly how many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowEstimate {
    /// Statistics scaled to the table's current size, as the planner does.
    About(u64),
    /// No usable statistics (never analyzed, or analyzed while empty).
    Unknown { pages: u64 },
    /// A foreign table: its rows are on its foreign server, which memory_guard does not read,
    /// and TRUNCATE deletes them there (postgres_fdw does). Never assumed empty.
    Remote,
    /// A Citus table: its rows are in its shards, on the workers. The planner's estimates of
    /// the shards summed, or unknown with the shards' pages when one was never analyzed.
    Sharded { rows: Option<u64>, pages: u64 },
}

impl RowEstimate {
    /// `reltuples`/`relpages` are pg_class's; `current_pages` is the table's size now. A table the
    /// probe found a row in holds at least one, whatever stale statistics say.
    pub fn from_stats(reltuples: f64, relpages: i64, current_pages: u64) -> RowEstimate {
        if reltuples < 0.0 || relpages <= 0 {
            return RowEstimate::Unknown {
                pages: current_pages,
            };
        }
        let density = reltuples / relpages as f64;
        let rows = (density * current_pages as f64).round();
        RowEstimate::About((rows as u64).max(1))
    }

    /// The number for drop_log; `None` when unknown.
    pub fn rows(self) -> Option<u64> {
        match self {
            RowEstimate::About(n) => Some(n),
            RowEstimate::Sharded { rows, .. } => rows,
            RowEstimate::Unknown { .. } | RowEstimate::Remote => None,
        }
    }

    /// For lists: `about 10 rows`, `no statistics, 3 pages`.
    fn short(self) -> String {
        match self {
            RowEstimate::About(_) => self.to_string(),
            RowEstimate::Unknown { pages: 1 } => "no statistics, 1 page".to_string(),
            RowEstimate::Unknown { pages } => format!("no statistics, {pages} pages"),
            RowEstimate::Remote => "foreign table, not counted".to_string(),
            RowEstimate::Sharded { rows: Some(n), .. } => format!("about {n} rows in its shards"),
            RowEstimate::Sharded { pages, .. } => {
                format!("no statistics, {pages} pages in its shards")
            }
        }
    }
}

impl fmt::Display for RowEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowEstimate::About(1) => write!(f, "about 1 row"),
            RowEstimate::About(n) => write!(f, "about {n} rows"),
            RowEstimate::Unknown { pages: 1 } => {
                write!(
                    f,
                    "an unknown number of rows (no statistics; 1 page on disk)"
                )
            }
            RowEstimate::Unknown { pages } => {
                write!(
                    f,
                    "an unknown number of rows (no statistics; {pages} pages on disk)"
                )
            }
            RowEstimate::Remote => write!(
                f,
                "rows on its foreign server, which memory_guard cannot count, and TRUNCATE deletes them there"
            ),
            RowEstimate::Sharded { rows: Some(n), .. } => {
                write!(f, "about {n} rows in its Citus shards")
            }
            RowEstimate::Sharded { pages, .. } => write!(
                f,
                "an unknown number of rows in its Citus shards (no statistics; {pages} {} on disk)",
                if *pages == 1 { "page" } else { "pages" }
            ),
        }
    }
}

/// A parent of a dropped table (partitioned table or inheritance parent), nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Ancestor {
    pub relid: u32,
    /// Qualified and quoted as Postgres prints it.
    pub name: String,
    /// Whether the same statement drops it too.
    pub dropped: bool,
}

/// One table (with storage) that a statement deletes, as probed before its deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedTable {
    pub relid: u32,
    /// Qualified and quoted as Postgres prints it.
    pub name: String,
    /// Catalog spelling, for finding function bodies that name it.
    pub schema: String,
    pub relname: String,
    /// The owning role's OID: drop_log shows a row to the roles that own the table.
    pub owner: u32,
    pub ancestors: Vec<Ancestor>,
    pub is_partition: bool,
    /// The probe found a visible row.
    pub has_rows: bool,
    pub estimate: RowEstimate,
    /// Created by the current transaction: nothing committed can be lost with it.
    pub created_in_transaction: bool,
    /// Its latest backup or migration (ledger) still matches it, checked under the drop's lock.
    pub verified_copy: Option<VerifiedCopy>,
    /// For a column drop (`ALTER TABLE … DROP COLUMN`, or a cascade from DROP TYPE/EXTENSION):
    /// the column, quoted, which holds a value in at least one visible row. `None`: the table.
    pub column: Option<String>,
}

/// A ledger entry whose row count and checksum still match the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedCopy {
    pub kind: CopyKind,
    pub ledger_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    Backup,
    Migration,
}

impl CopyKind {
    pub fn from_ledger(kind: &str) -> Option<CopyKind> {
        match kind {
            "backup" => Some(CopyKind::Backup),
            "migration" => Some(CopyKind::Migration),
            _ => None,
        }
    }
}

impl DroppedTable {
    /// The table a person thinks of as dropped: the top-most ancestor dropped by the same
    /// statement (a partitioned table, an inheritance parent), or the table itself.
    pub fn root(&self) -> (u32, &str) {
        self.ancestors
            .iter()
            .rev()
            .find(|a| a.dropped)
            .map(|a| (a.relid, a.name.as_str()))
            .unwrap_or((self.relid, self.name.as_str()))
    }
}

/// An acknowledgement made with `memory_guard.allow_drop()` in the current transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Permit {
    pub relid: u32,
    /// `None` acknowledges the whole table (its columns included); `Some` one column only.
    pub column: Option<String>,
    pub reason: String,
    /// The role that gave it (drop_log's `allowed_by`).
    pub granted_by: String,
}

impl Permit {
    fn covers(&self, t: &DroppedTable) -> bool {
        let table = self.relid == t.relid || t.ancestors.iter().any(|a| a.relid == self.relid);
        table && (self.column.is_none() || self.column == t.column)
    }
}

/// Why a drop of a table holding rows was let through. `as_str` is what drop_log stores.
#[derive(Debug, Clone, PartialEq)]
pub enum Guard {
    AllowDrop {
        reason: String,
        granted_by: String,
    },
    /// `memory_guard.backup_table()` copied it and it has not changed since.
    Backup {
        ledger_id: i64,
    },
    /// `memory_guard.migrate_memory_notes()` carried its rows and it has not changed since.
    Migration {
        ledger_id: i64,
    },
    CreatedInTransaction,
    /// `drop_mode = warn`: not guarded at all, only warned about.
    WarnMode,
    /// `drop_mode = log`: not guarded at all, only written to the server log.
    LogMode,
}

impl Guard {
    pub fn as_str(&self) -> &'static str {
        match self {
            Guard::AllowDrop { .. } => "allow_drop",
            Guard::Backup { .. } => "backup",
            Guard::Migration { .. } => "migration",
            Guard::CreatedInTransaction => "created_in_transaction",
            Guard::WarnMode => "warn_mode",
            Guard::LogMode => "log_mode",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Guard::AllowDrop { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The role whose `allow_drop` let it through.
    pub fn granted_by(&self) -> Option<&str> {
        match self {
            Guard::AllowDrop { granted_by, .. } => Some(granted_by),
            _ => None,
        }
    }

    /// The ledger entry behind a backup or migration guard.
    pub fn ledger_id(&self) -> Option<i64> {
        match self {
            Guard::Backup { ledger_id } | Guard::Migration { ledger_id } => Some(*ledger_id),
            _ => None,
        }
    }
}

/// The outcome for one statement.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// Tables holding rows that may go, each with its guard; each is logged in drop_log.
    pub passed: Vec<(DroppedTable, Guard)>,
    /// Tables holding rows with no guard: an error in enforce mode, a warning in warn mode (then
    /// they are in `passed` too, guarded by `WarnMode`).
    pub unguarded: Vec<DroppedTable>,
}

impl Decision {
    pub fn blocks(&self, mode: DropMode) -> bool {
        mode.reaction() == Some(Reaction::Refuse) && !self.unguarded.is_empty()
    }
}

/// Sorts the tables a statement deletes. Empty tables need no guard. A permit for a table covers
/// its partitions and inheritance children: dropping the parent is what the author acknowledged.
pub fn decide(mode: DropMode, tables: Vec<DroppedTable>, permits: &[Permit]) -> Decision {
    let mut decision = Decision::default();
    if mode == DropMode::Off {
        return decision;
    }
    for t in tables.into_iter().filter(|t| t.has_rows) {
        let permit = permits.iter().rev().find(|p| p.covers(&t));
        if t.created_in_transaction {
            decision.passed.push((t, Guard::CreatedInTransaction));
        } else if let Some(p) = permit {
            let guard = Guard::AllowDrop {
                reason: p.reason.clone(),
                granted_by: p.granted_by.clone(),
            };
            decision.passed.push((t, guard));
        } else if let Some(copy) = t.verified_copy {
            let guard = match copy.kind {
                CopyKind::Backup => Guard::Backup {
                    ledger_id: copy.ledger_id,
                },
                CopyKind::Migration => Guard::Migration {
                    ledger_id: copy.ledger_id,
                },
            };
            decision.passed.push((t, guard));
        } else {
            match mode {
                DropMode::Warn => decision.passed.push((t.clone(), Guard::WarnMode)),
                DropMode::Log => decision.passed.push((t.clone(), Guard::LogMode)),
                DropMode::Enforce | DropMode::Off => {}
            }
            decision.unguarded.push(t);
        }
    }
    decision
}

/// A catalog object by (class OID, object OID, sub-id), as `pg_depend` names it; sub-id 0 is
/// the whole object, n > 0 its column n.
pub type ObjectRef = (u32, u32, i32);

/// One object a statement deleted, as the object-access hook saw it just before its deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedObject {
    pub object: ObjectRef,
    /// Its `pg_depend` rows of kind normal (`true`) or internal (`false`).
    pub depends_on: Vec<(ObjectRef, bool)>,
    /// `(type, identity)` as `pg_identify_object` gives them; `None` when it could not be listed.
    pub described: Option<(String, String)>,
}

/// Whether deleting `deleted` takes `reference` with it: a whole object takes its columns.
fn covers(deleted: ObjectRef, reference: ObjectRef) -> bool {
    deleted.0 == reference.0
        && deleted.1 == reference.1
        && (deleted.2 == 0 || deleted.2 == reference.2)
}

/// `(class, object)` of every object that an object met earlier is an internal part of: a
/// view (its `_RETURN` rule's owner), a table (its row type's), a constraint (its index's).
pub type InternalOwners = HashSet<(u32, u32)>;

/// Whether the object needs a description in case it is listed: it has a normal dependency
/// (the only way to be cascaded to) on an object that may be deleted too, or an object met
/// earlier that may be listed is an internal part of it (a view's `_RETURN` rule, cascaded to,
/// takes its view along). Then, if it may be listed itself, notes the owners of its own internal
/// dependencies, for the objects met after it.
///
/// `may_be_deleted` need not be exact, only never false for an object the statement deletes:
/// the guard answers it from the locks Postgres' dependency walk takes on everything it
/// deletes. Most objects depend normally only on their schema, which no DROP of a table or
/// function locks, and a description is the costliest thing the guard does per object.
pub fn may_be_cascaded(
    depends_on: &[(ObjectRef, bool)],
    object: ObjectRef,
    owners: &mut InternalOwners,
    may_be_deleted: impl Fn(ObjectRef) -> bool,
) -> bool {
    let may = owners.contains(&(object.0, object.1))
        || depends_on
            .iter()
            .any(|(r, normal)| *normal && may_be_deleted(*r));
    if may {
        owners.extend(
            depends_on
                .iter()
                .filter(|(_, normal)| !normal)
                .map(|((class, oid, _), _)| (*class, *oid)),
        );
    }
    may
}

/// A relation (or one of its columns) as it was when it was deleted: what `pg_identify_object`
/// needs to name it, kept raw because naming it costs more than keeping it, and most deleted
/// relations are never named.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationName {
    /// `pg_class.relkind`.
    pub relkind: u8,
    /// Schema and relation, and the column for a column, as spelt in the catalog.
    pub schema: String,
    pub relname: String,
    pub column: Option<String>,
}

impl RelationName {
    /// `(type, identity)` as `pg_identify_object` gives them (`table`, `s.t`; `view column`,
    /// `s.v.c`), with `quote` quoting one identifier as Postgres does; `None` for a relkind
    /// Postgres has no name of its own for.
    pub fn describe(&self, quote: impl Fn(&str) -> String) -> Option<(String, String)> {
        let kind = match self.relkind {
            b'r' | b'p' => "table",
            b'i' | b'I' => "index",
            b'S' => "sequence",
            b't' => "toast table",
            b'v' => "view",
            b'm' => "materialized view",
            b'c' => "composite type",
            b'f' => "foreign table",
            _ => return None,
        };
        let mut identity = self.qualified(&quote);
        let kind = match &self.column {
            Some(column) => {
                identity = format!("{identity}.{}", quote(column));
                format!("{kind} column")
            }
            None => kind.to_string(),
        };
        Some((kind, identity))
    }

    /// `schema.relation`, each part quoted as Postgres would.
    fn qualified(&self, quote: impl Fn(&str) -> String) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.relname))
    }
}

/// What belongs to one table and is named after it, as `pg_identify_object` names it: a table
/// constraint, trigger, policy or rule is `name on schema.table`, a column default `for
/// schema.table.column`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TablePart {
    Constraint,
    Trigger,
    Policy,
    Rule,
    Default,
}

impl TablePart {
    /// `(type, identity)` of the part called `name` (unused for a default) of `table` (for a
    /// default, the column it belongs to); `None` for a default without its column.
    pub fn describe(
        self,
        name: &str,
        table: &RelationName,
        quote: impl Fn(&str) -> String,
    ) -> Option<(String, String)> {
        let on = |kind: &str| {
            let identity = format!("{} on {}", quote(name), table.qualified(&quote));
            Some((kind.to_string(), identity))
        };
        match self {
            TablePart::Constraint => on("table constraint"),
            TablePart::Trigger => on("trigger"),
            TablePart::Policy => on("policy"),
            TablePart::Rule => on("rule"),
            TablePart::Default => {
                let column = table.column.as_deref()?;
                let identity = format!("for {}.{}", table.qualified(&quote), quote(column));
                Some(("default value".to_string(), identity))
            }
        }
    }
}

/// What a statement dropped because of CASCADE, as `pg_event_trigger_dropped_objects()` marks
/// it `normal`: objects with a normal dependency on another deleted object, and the owners of
/// such objects' internal parts. Listed as `type identity`, sorted, without views' `_RETURN`
/// rules (their view is listed).
pub fn cascaded(deleted: &[DeletedObject]) -> Vec<String> {
    // Deleted objects by (class, object), so each dependency is looked up, not searched for.
    let mut by_object: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
    for (i, d) in deleted.iter().enumerate() {
        by_object
            .entry((d.object.0, d.object.1))
            .or_default()
            .push(i);
    }
    let taking = |reference: ObjectRef| {
        by_object
            .get(&(reference.0, reference.1))
            .into_iter()
            .flatten()
            .copied()
            .filter(move |&j| covers(deleted[j].object, reference))
    };
    let mut normal: Vec<bool> = deleted
        .iter()
        .map(|d| {
            d.depends_on.iter().any(|(r, is_normal)| {
                *is_normal && taking(*r).any(|j| deleted[j].object != d.object)
            })
        })
        .collect();
    // An internal part reached by CASCADE takes its owner with it, transitively.
    let mut work: Vec<usize> = (0..deleted.len()).filter(|&i| normal[i]).collect();
    while let Some(i) = work.pop() {
        for (r, is_normal) in &deleted[i].depends_on {
            if *is_normal {
                continue;
            }
            for j in taking(*r) {
                if !normal[j] {
                    normal[j] = true;
                    work.push(j);
                }
            }
        }
    }
    let mut listed: Vec<(&str, &str)> = deleted
        .iter()
        .zip(&normal)
        .filter(|(_, n)| **n)
        .filter_map(|(d, _)| d.described.as_ref())
        .filter(|(kind, identity)| !(kind == "rule" && identity.starts_with("\"_RETURN\" on ")))
        .map(|(k, i)| (k.as_str(), i.as_str()))
        .collect();
    listed.sort();
    listed.dedup();
    listed
        .into_iter()
        .map(|(k, i)| format!("{k} {i}"))
        .collect()
}

/// What else the statement takes down and who still depends on the tables, gathered by the
/// extension only when it is about to refuse (it costs catalog queries).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DropContext {
    /// The command tag, e.g. `DROP TABLE`.
    pub command_tag: String,
    /// Objects the statement drops through CASCADE, described as Postgres describes them.
    pub cascaded: Vec<String>,
    /// Per root table name: functions (regprocedure) whose bodies still name it.
    pub referencing_functions: Vec<(String, Vec<String>)>,
    /// The mode under which the statement goes ahead anyway (warn, log); `None`: it is refused.
    pub goes_ahead_under: Option<DropMode>,
}

/// Data at stake, grouped under the table a person dropped (root first, then members), and by
/// column for column drops.
struct Group<'a> {
    root_relid: u32,
    root_name: &'a str,
    column: Option<&'a str>,
    members: Vec<&'a DroppedTable>,
}

impl Group<'_> {
    /// `schema.table` or `schema.table.column`, as allow_drop takes it.
    fn target(&self) -> String {
        match self.column {
            Some(c) => format!("{}.{c}", self.root_name),
            None => self.root_name.to_string(),
        }
    }

    fn noun(&self) -> String {
        match self.column {
            Some(_) => format!("column {}", self.target()),
            None if self.is_sharded() => format!("distributed table {}", self.root_name),
            None if self.is_foreign() => format!("foreign table {}", self.root_name),
            None => format!("table {}", self.root_name),
        }
    }

    /// A Citus table, whose rows are in its shards.
    fn is_sharded(&self) -> bool {
        self.members.iter().any(|m| {
            m.relid == self.root_relid && matches!(m.estimate, RowEstimate::Sharded { .. })
        })
    }

    /// A foreign or Citus table, whose rows live elsewhere: backup_table cannot vouch for them.
    fn is_foreign(&self) -> bool {
        self.members.iter().any(|m| {
            m.relid == self.root_relid
                && matches!(
                    m.estimate,
                    RowEstimate::Remote | RowEstimate::Sharded { .. }
                )
        })
    }
}

fn group(tables: &[DroppedTable]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for t in tables {
        let (relid, name) = t.root();
        let column = t.column.as_deref();
        match groups
            .iter_mut()
            .find(|g| g.root_relid == relid && g.column == column)
        {
            Some(g) => g.members.push(t),
            None => groups.push(Group {
                root_relid: relid,
                root_name: name,
                column,
                members: vec![t],
            }),
        }
    }
    groups
}

fn describe_group(g: &Group<'_>) -> String {
    let own = g.members.iter().find(|m| m.relid == g.root_relid);
    let mut others: Vec<&&DroppedTable> = g
        .members
        .iter()
        .filter(|m| m.relid != g.root_relid)
        .collect();
    others.sort_by(|a, b| a.name.cmp(&b.name));
    let others: Vec<String> = others
        .iter()
        .map(|m| {
            let kind = if m.is_partition {
                "partition"
            } else {
                "inheritance child"
            };
            format!("{kind} {} ({})", m.name, m.estimate.short())
        })
        .collect();
    let (noun, what) = match g.column {
        Some(_) => (format!("Column {}", g.target()), "values"),
        None if g.is_sharded() => (format!("Distributed table {}", g.root_name), "rows"),
        None if g.is_foreign() => (format!("Foreign table {}", g.root_name), "rows"),
        None => (format!("Table {}", g.root_name), "rows"),
    };
    match (own, others.is_empty(), g.column) {
        (Some(t), true, None) => format!("{noun} holds {}.", t.estimate),
        (Some(t), true, Some(_)) => format!("{noun} holds values (table: {}).", t.estimate.short()),
        (Some(t), false, _) => format!(
            "{noun} holds {what} itself ({}) and in {}.",
            t.estimate.short(),
            others.join(", ")
        ),
        (None, _, _) => format!("{noun} holds {what} in {}.", others.join(", ")),
    }
}

const LIST_LIMIT: usize = 10;

fn short_list(items: &[String]) -> String {
    if items.len() <= LIST_LIMIT {
        items.join(", ")
    } else {
        format!(
            "{} and {} more",
            items[..LIST_LIMIT].join(", "),
            items.len() - LIST_LIMIT
        )
    }
}

/// The error for a statement that would delete rows without a guard. `unguarded` is non-empty.
pub fn blocked_error(unguarded: &[DroppedTable], ctx: &DropContext) -> GuardError {
    let groups = group(unguarded);
    let names: Vec<&str> = groups.iter().map(|g| g.root_name).collect();
    let message = match groups.as_slice() {
        [one] if one.column.is_some() => {
            format!(
                "{} would delete {}, which holds values",
                ctx.command_tag,
                one.noun()
            )
        }
        [one] if one.is_foreign() && !one.is_sharded() => format!(
            "{} would delete the rows of {}, which memory_guard cannot see",
            ctx.command_tag,
            one.noun()
        ),
        [one] => format!(
            "{} would delete {}, which holds rows",
            ctx.command_tag,
            one.noun()
        ),
        many if many.iter().all(|g| g.column.is_some()) => format!(
            "{} would delete {} columns holding values: {}",
            ctx.command_tag,
            many.len(),
            many.iter()
                .map(|g| g.target())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        many if many.iter().all(|g| g.column.is_none()) => format!(
            "{} would delete {} tables holding rows: {}",
            ctx.command_tag,
            many.len(),
            names.join(", ")
        ),
        many => format!(
            "{} would delete stored data in {} places: {}",
            ctx.command_tag,
            many.len(),
            many.iter().map(|g| g.noun()).collect::<Vec<_>>().join(", ")
        ),
    };

    let mut detail: Vec<String> = groups.iter().map(describe_group).collect();
    if !ctx.cascaded.is_empty() {
        detail.push(format!(
            "CASCADE would also drop: {}.",
            short_list(&ctx.cascaded)
        ));
    }
    for (table, fns) in &ctx.referencing_functions {
        if !fns.is_empty() {
            detail.push(format!(
                "Functions whose bodies still use {table} and would break: {}.",
                short_list(fns)
            ));
        }
    }
    detail.push(match ctx.goes_ahead_under {
        // A WARNING (or log line) comes before the statement completes: it is not refused.
        Some(mode) => format!(
            "The statement goes ahead (memory_guard.drop_mode = {}), and drop_log records it.",
            mode.as_str()
        ),
        None if ctx.command_tag.starts_with("TRUNCATE") => "Nothing was truncated.".to_string(),
        None => "Nothing was dropped.".to_string(),
    });

    let mut keep = String::new();
    let mut backed: Vec<&str> = Vec::new();
    for g in &groups {
        // backup_table copies tables: a foreign table's rows stay on its server, a Citus table's
        // in its shards.
        if backed.contains(&g.root_name) || g.is_foreign() {
            continue;
        }
        backed.push(g.root_name);
        if g.root_name.ends_with("memory_notes") && g.column.is_none() {
            keep.push_str(
                "\n  SELECT memory_guard.migrate_memory_notes();  -- carries them into memories",
            );
        }
        keep.push_str(&format!(
            "\n  SELECT memory_guard.backup_table({});",
            quote_literal(g.root_name)
        ));
    }
    let mut hint = if keep.is_empty() {
        String::from("If it may go, acknowledge it in the same transaction before the statement:")
    } else {
        format!(
            "Keep the data first, then run the statement again:{keep}\nOr, if it may go, acknowledge it in the same transaction before the statement:"
        )
    };
    for g in &groups {
        hint.push_str(&format!(
            "\n  SELECT memory_guard.allow_drop({}, reason => 'why this data may go');",
            quote_literal(&g.target())
        ));
    }

    GuardError::new(SqlState::DataStillExists, message)
        .detail(detail.join("\n"))
        .hint(hint)
}

/// The server-log line for a refused or warned-about drop: the same fields drop_log keeps.
/// A statement would delete a table (or a column, `column`) that the role running it may not
/// read: memory_guard does not look into it on that role's behalf, since whether it refused
/// would then tell the role whether the table holds rows. It refuses (or warns, under
/// `mode`) without looking.
pub fn unreadable_error(
    command_tag: &str,
    table: &str,
    column: Option<&str>,
    role: &str,
    mode: DropMode,
) -> GuardError {
    let what = match column {
        Some(c) => format!("column {table}.{c}"),
        None => format!("table {table}"),
    };
    let outcome = match mode.reaction() {
        Some(Reaction::Refuse) | None if command_tag.starts_with("TRUNCATE") => {
            "Nothing was truncated.".to_string()
        }
        Some(Reaction::Refuse) | None => "Nothing was dropped.".to_string(),
        Some(_) => format!(
            "The statement goes ahead (memory_guard.drop_mode = {}), unchecked.",
            mode.as_str()
        ),
    };
    GuardError::new(
        SqlState::InsufficientPrivilege,
        format!("{command_tag} would delete {what}, which {role} may not read"),
    )
    .detail(format!(
        "memory_guard does not look into a table for a role that may not read it, so it cannot tell whether anything would be lost. {outcome}"
    ))
    .hint(format!(
        "Ask the owner of {table} to drop or change it first, or run the statement as a role that may read {table}."
    ))
}

/// `DROP OWNED BY` deletes the large objects the role owns along with its other objects, data
/// and all, and no DROP names them. `owner` is the role's name as Postgres prints it.
pub fn large_object_error(command_tag: &str, loid: u32, owner: &str, mode: DropMode) -> GuardError {
    let outcome = match mode.reaction() {
        Some(Reaction::Refuse) | None => "Nothing was dropped.".to_string(),
        Some(_) => format!(
            "The statement goes ahead (memory_guard.drop_mode = {}).",
            mode.as_str()
        ),
    };
    GuardError::new(
        SqlState::DataStillExists,
        format!("{command_tag} would delete large object {loid}, which holds data"),
    )
    .detail(format!(
        "Large object {loid} belongs to {owner}, and {command_tag} deletes a role's large objects with its other objects. {outcome}"
    ))
    .hint(format!(
        "Keep them: REASSIGN OWNED BY {owner} TO another role before {command_tag}, or export them first (lo_export, or pg_dump with large objects). If they may go, delete them on purpose first:\n  SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE lomowner = {}::pg_catalog.regrole;",
        quote_literal(owner)
    ))
}

/// A permanent table (or one of its columns) would depend on a temporary type: Postgres drops
/// what depends on a session's temporary objects, with internal cascading deletes, when the
/// session ends or runs DISCARD TEMP, and the table or column would go with them, rows and all.
pub fn temporary_dependency_error(
    command_tag: &str,
    table: &str,
    column: Option<&str>,
    temp_type: &str,
) -> GuardError {
    let what = match column {
        Some(c) => format!("column {table}.{c}"),
        None => format!("table {table}"),
    };
    GuardError::new(
        SqlState::InvalidTableDefinition,
        format!("{command_tag} would make permanent {what} depend on temporary type {temp_type}"),
    )
    .detail(format!(
        "Temporary objects are dropped when their session ends (or at DISCARD TEMP), and {what} would be dropped with {temp_type}, whatever it holds."
    ))
    .hint("Use a permanent type (create it outside pg_temp), or make the table temporary too.")
}

pub fn log_line(verdict: &str, t: &DroppedTable, command_tag: &str, role: &str) -> String {
    let rows = t
        .estimate
        .rows()
        .map(|n| n.to_string())
        .unwrap_or_else(|| "unknown".into());
    let what = match &t.column {
        Some(c) => format!("column {}.{c}", t.name),
        None => format!("table {}", t.name),
    };
    format!(
        "memory_guard: {verdict} {command_tag} of {what}: estimated_rows={rows} guard=none reason=none role={role}"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn relation_paths_are_spelt_as_postgres_spells_them() {
        let path = |db, rel| RelationPath::in_default_tablespace(db, rel);
        assert_eq!(
            path(16384, 24576).as_bytes_with_nul(),
            b"base/16384/24576\0"
        );
        assert_eq!(path(1, 0).as_bytes_with_nul(), b"base/1/0\0");
        assert_eq!(
            path(u32::MAX, u32::MAX).as_bytes_with_nul(),
            b"base/4294967295/4294967295\0"
        );
    }

    use super::*;

    fn table(relid: u32, name: &str, has_rows: bool) -> DroppedTable {
        DroppedTable {
            relid,
            name: format!("public.{name}"),
            schema: "public".into(),
            relname: name.into(),
            owner: 10,
            ancestors: vec![],
            is_partition: false,
            has_rows,
            estimate: RowEstimate::About(10),
            created_in_transaction: false,
            verified_copy: None,
            column: None,
        }
    }

    fn partition(relid: u32, name: &str, parent: u32, parent_dropped: bool) -> DroppedTable {
        DroppedTable {
            ancestors: vec![Ancestor {
                relid: parent,
                name: "public.events".into(),
                dropped: parent_dropped,
            }],
            is_partition: true,
            ..table(relid, name, true)
        }
    }

    #[test]
    fn modes_parse_and_print() {
        for m in [
            DropMode::Enforce,
            DropMode::Warn,
            DropMode::Log,
            DropMode::Off,
        ] {
            assert_eq!(m.as_str().parse::<DropMode>().unwrap(), m);
        }
        assert_eq!(" WARN ".parse::<DropMode>().unwrap(), DropMode::Warn);
        assert!("block".parse::<DropMode>().is_err());
    }

    #[test]
    fn empty_tables_need_no_guard() {
        let d = decide(DropMode::Enforce, vec![table(1, "a", false)], &[]);
        assert!(d.passed.is_empty() && d.unguarded.is_empty());
        assert!(!d.blocks(DropMode::Enforce));
    }

    #[test]
    fn one_table_with_rows_blocks_the_whole_statement() {
        let d = decide(
            DropMode::Enforce,
            vec![table(1, "empty", false), table(2, "full", true)],
            &[],
        );
        assert!(d.blocks(DropMode::Enforce));
        assert_eq!(d.unguarded.len(), 1);
        assert_eq!(d.unguarded[0].relid, 2);
    }

    #[test]
    fn a_permit_guards_its_table_only() {
        let permits = [Permit {
            relid: 2,
            column: None,
            reason: "replaced by memories".into(),
            granted_by: "app".into(),
        }];
        let d = decide(
            DropMode::Enforce,
            vec![table(2, "a", true), table(3, "b", true)],
            &permits,
        );
        assert_eq!(d.passed.len(), 1);
        assert_eq!(
            d.passed[0].1,
            Guard::AllowDrop {
                reason: "replaced by memories".into(),
                granted_by: "app".into(),
            }
        );
        assert_eq!(
            d.unguarded.iter().map(|t| t.relid).collect::<Vec<_>>(),
            vec![3]
        );
    }

    #[test]
    fn a_permit_on_the_parent_covers_its_partitions() {
        let permits = [Permit {
            relid: 10,
            column: None,
            reason: "r".into(),
            granted_by: "app".into(),
        }];
        let d = decide(
            DropMode::Enforce,
            vec![partition(11, "events_2024", 10, true)],
            &permits,
        );
        assert!(!d.blocks(DropMode::Enforce));
        assert_eq!(d.passed[0].1.as_str(), "allow_drop");
    }

    #[test]
    fn the_latest_permit_wins() {
        let permits = [
            Permit {
                relid: 2,
                column: None,
                reason: "first".into(),
                granted_by: "app".into(),
            },
            Permit {
                relid: 2,
                column: None,
                reason: "second".into(),
                granted_by: "app".into(),
            },
        ];
        let d = decide(DropMode::Enforce, vec![table(2, "a", true)], &permits);
        assert_eq!(d.passed[0].1.reason(), Some("second"));
    }

    #[test]
    fn a_verified_backup_or_migration_guards_the_drop() {
        let mut t = table(2, "memory_notes", true);
        t.verified_copy = Some(VerifiedCopy {
            kind: CopyKind::Migration,
            ledger_id: 7,
        });
        let d = decide(DropMode::Enforce, vec![t.clone()], &[]);
        assert_eq!(d.passed[0].1, Guard::Migration { ledger_id: 7 });
        assert_eq!(d.passed[0].1.as_str(), "migration");
        t.verified_copy = Some(VerifiedCopy {
            kind: CopyKind::Backup,
            ledger_id: 8,
        });
        let d = decide(DropMode::Enforce, vec![t.clone()], &[]);
        assert_eq!(d.passed[0].1.ledger_id(), Some(8));
        // An explicit permit is what the author said last: it wins.
        let d = decide(
            DropMode::Enforce,
            vec![t],
            &[Permit {
                relid: 2,
                column: None,
                reason: "r".into(),
                granted_by: "app".into(),
            }],
        );
        assert_eq!(d.passed[0].1.as_str(), "allow_drop");
        assert_eq!(CopyKind::from_ledger("backup"), Some(CopyKind::Backup));
        assert_eq!(CopyKind::from_ledger("other"), None);
    }

    fn column(relid: u32, table: &str, col: &str) -> DroppedTable {
        DroppedTable {
            column: Some(col.into()),
            ..table_fixture(relid, table)
        }
    }

    fn table_fixture(relid: u32, name: &str) -> DroppedTable {
        table(relid, name, true)
    }

    #[test]
    fn column_permits_cover_their_column_and_table_permits_cover_all() {
        let col_permit = [Permit {
            relid: 2,
            column: Some("embedding".into()),
            reason: "re-embedding".into(),
            granted_by: "app".into(),
        }];
        let d = decide(
            DropMode::Enforce,
            vec![column(2, "books", "embedding"), column(2, "books", "title")],
            &col_permit,
        );
        assert_eq!(d.passed.len(), 1);
        assert_eq!(d.unguarded[0].column.as_deref(), Some("title"));
        let table_permit = [Permit {
            relid: 2,
            column: None,
            reason: "all of it".into(),
            granted_by: "app".into(),
        }];
        let d = decide(
            DropMode::Enforce,
            vec![column(2, "books", "embedding")],
            &table_permit,
        );
        assert!(!d.blocks(DropMode::Enforce));
        // A column permit does not let the table go.
        let d = decide(
            DropMode::Enforce,
            vec![table(2, "books", true)],
            &col_permit,
        );
        assert!(d.blocks(DropMode::Enforce));
    }

    #[test]
    fn column_errors_name_the_column_and_the_column_permit() {
        let ctx = DropContext {
            command_tag: "ALTER TABLE".into(),
            ..Default::default()
        };
        let e = blocked_error(&[column(2, "books", "embedding")], &ctx);
        assert_eq!(
            e.message,
            "ALTER TABLE would delete column public.books.embedding, which holds values"
        );
        assert!(e
            .detail
            .unwrap()
            .starts_with("Column public.books.embedding holds values (table: about 10 rows)."));
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("allow_drop('public.books.embedding', reason =>"),
            "{hint}"
        );
        assert!(hint.contains("backup_table('public.books')"), "{hint}");
        let ctx = DropContext {
            command_tag: "DROP EXTENSION".into(),
            ..Default::default()
        };
        let e = blocked_error(
            &[
                column(2, "memory_notes", "embedding"),
                column(3, "memories", "embedding"),
            ],
            &ctx,
        );
        assert_eq!(
            e.message,
            "DROP EXTENSION would delete 2 columns holding values: public.memory_notes.embedding, public.memories.embedding"
        );
    }

    #[test]
    fn tables_created_in_the_transaction_pass() {
        let mut t = table(2, "scratch", true);
        t.created_in_transaction = true;
        let d = decide(DropMode::Enforce, vec![t], &[]);
        assert_eq!(d.passed[0].1, Guard::CreatedInTransaction);
        assert!(!d.blocks(DropMode::Enforce));
    }

    #[test]
    fn warn_mode_lets_through_and_still_reports() {
        let d = decide(DropMode::Warn, vec![table(2, "a", true)], &[]);
        assert!(!d.blocks(DropMode::Warn));
        assert_eq!(d.unguarded.len(), 1);
        assert_eq!(d.passed[0].1, Guard::WarnMode);
    }

    #[test]
    fn each_drop_mode_has_its_reaction() {
        assert_eq!(DropMode::Enforce.reaction(), Some(Reaction::Refuse));
        assert_eq!(DropMode::Warn.reaction(), Some(Reaction::Warn));
        assert_eq!(DropMode::Log.reaction(), Some(Reaction::Log));
        assert_eq!(DropMode::Off.reaction(), None);
    }

    #[test]
    fn log_mode_lets_through_records_and_reports_as_unguarded() {
        let d = decide(
            DropMode::Log,
            vec![table(2, "a", true), table(3, "b", false)],
            &[],
        );
        assert!(!d.blocks(DropMode::Log));
        assert_eq!(d.unguarded.len(), 1);
        assert_eq!(d.passed.len(), 1);
        assert_eq!(d.passed[0].1, Guard::LogMode);
        assert_eq!(d.passed[0].1.as_str(), "log_mode");
        // A guarded drop is still recorded under its own guard, not as log_mode.
        let permit = Permit {
            relid: 2,
            column: None,
            reason: "moved".into(),
            granted_by: "app".into(),
        };
        let d = decide(DropMode::Log, vec![table(2, "a", true)], &[permit]);
        assert!(d.unguarded.is_empty());
        assert_eq!(d.passed[0].1.as_str(), "allow_drop");
    }

    #[test]
    fn off_mode_decides_nothing() {
        let d = decide(DropMode::Off, vec![table(2, "a", true)], &[]);
        assert_eq!(d, Decision::default());
    }

    #[test]
    fn estimates_scale_statistics_to_the_current_size() {
        assert_eq!(
            RowEstimate::from_stats(100.0, 10, 20),
            RowEstimate::About(200)
        );
        assert_eq!(
            RowEstimate::from_stats(-1.0, 0, 3),
            RowEstimate::Unknown { pages: 3 }
        );
        // Analyzed while empty, rows since: statistics say nothing useful.
        assert_eq!(
            RowEstimate::from_stats(0.0, 0, 5),
            RowEstimate::Unknown { pages: 5 }
        );
        // The probe saw a row, so never report zero.
        assert_eq!(RowEstimate::from_stats(0.0, 4, 4), RowEstimate::About(1));
        assert_eq!(RowEstimate::About(7).rows(), Some(7));
        assert_eq!(RowEstimate::Unknown { pages: 1 }.rows(), None);
        assert_eq!(
            RowEstimate::Unknown { pages: 1 }.to_string(),
            "an unknown number of rows (no statistics; 1 page on disk)"
        );
        assert_eq!(
            RowEstimate::Unknown { pages: 2 }.to_string(),
            "an unknown number of rows (no statistics; 2 pages on disk)"
        );
        assert_eq!(RowEstimate::About(1).to_string(), "about 1 row");
    }

    #[test]
    fn a_citus_table_is_estimated_over_its_shards_and_offered_no_backup() {
        let mut t = table(2, "events", true);
        t.estimate = RowEstimate::Sharded {
            rows: Some(1000),
            pages: 32,
        };
        assert_eq!(
            t.estimate.to_string(),
            "about 1000 rows in its Citus shards"
        );
        assert_eq!(t.estimate.rows(), Some(1000));
        let unknown = RowEstimate::Sharded {
            rows: None,
            pages: 32,
        };
        assert_eq!(
            unknown.to_string(),
            "an unknown number of rows in its Citus shards (no statistics; 32 pages on disk)"
        );
        assert_eq!(unknown.rows(), None);
        let ctx = DropContext {
            command_tag: "DROP TABLE".into(),
            cascaded: vec![],
            referencing_functions: vec![],
            goes_ahead_under: None,
        };
        let e = blocked_error(&[t], &ctx);
        assert_eq!(
            e.message,
            "DROP TABLE would delete distributed table public.events, which holds rows"
        );
        let hint = e.hint.unwrap_or_default();
        assert!(!hint.contains("backup_table"), "{hint}");
        assert!(hint.contains("allow_drop('public.events'"), "{hint}");
        assert!(e
            .detail
            .unwrap_or_default()
            .contains("about 1000 rows in its Citus shards"));
    }

    #[test]
    fn error_names_the_table_and_says_how_to_guard_it() {
        let ctx = DropContext {
            command_tag: "DROP TABLE".into(),
            cascaded: vec!["view public.recent_notes".into()],
            referencing_functions: vec![(
                "public.memory_notes".into(),
                vec!["public.search_memory_notes(vector,uuid,double precision,integer)".into()],
            )],
            goes_ahead_under: None,
        };
        let e = blocked_error(&[table(2, "memory_notes", true)], &ctx);
        assert_eq!(e.sqlstate.code(), "2BP01");
        assert_eq!(
            e.message,
            "DROP TABLE would delete table public.memory_notes, which holds rows"
        );
        let detail = e.detail.unwrap();
        assert!(
            detail.contains("Table public.memory_notes holds about 10 rows."),
            "{detail}"
        );
        assert!(
            detail.contains("CASCADE would also drop: view public.recent_notes."),
            "{detail}"
        );
        assert!(detail.contains("public.search_memory_notes(vector,uuid,double precision,integer)"));
        assert!(detail.ends_with("Nothing was dropped."));
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("SELECT memory_guard.allow_drop('public.memory_notes', reason => "),
            "{hint}"
        );
        assert!(
            hint.contains("SELECT memory_guard.backup_table('public.memory_notes');"),
            "{hint}"
        );
        assert!(
            hint.contains("SELECT memory_guard.migrate_memory_notes();"),
            "{hint}"
        );
    }

    #[test]
    fn error_groups_partitions_under_their_parent() {
        let ctx = DropContext {
            command_tag: "DROP TABLE".into(),
            ..Default::default()
        };
        let e = blocked_error(
            &[
                partition(11, "events_2024", 10, true),
                partition(12, "events_2025", 10, true),
            ],
            &ctx,
        );
        assert_eq!(
            e.message,
            "DROP TABLE would delete table public.events, which holds rows"
        );
        let detail = e.detail.unwrap();
        assert!(
            detail.starts_with("Table public.events holds rows in partition public.events_2024 (about 10 rows), partition public.events_2025 (about 10 rows)."),
            "{detail}"
        );
        assert_eq!(e.hint.unwrap().matches("allow_drop(").count(), 1);
    }

    #[test]
    fn an_inheritance_parent_with_rows_of_its_own_says_so() {
        let ctx = DropContext {
            command_tag: "DROP TABLE".into(),
            ..Default::default()
        };
        let mut child = partition(11, "dogs", 1, true);
        child.is_partition = false;
        child.estimate = RowEstimate::Unknown { pages: 3 };
        let mut parent = table(1, "animals", true);
        parent.name = "public.events".into();
        let e = blocked_error(&[parent, child], &ctx);
        assert_eq!(
            e.detail.unwrap().lines().next().unwrap(),
            "Table public.events holds rows itself (about 10 rows) and in inheritance child public.dogs (no statistics, 3 pages)."
        );
    }

    #[test]
    fn a_foreign_table_is_never_taken_for_empty_and_has_no_backup_remedy() {
        let ctx = DropContext {
            command_tag: "TRUNCATE TABLE".into(),
            ..Default::default()
        };
        let mut remote = table(7, "remote_notes", true);
        remote.estimate = RowEstimate::Remote;
        let e = blocked_error(&[remote.clone()], &ctx);
        assert_eq!(
            e.message,
            "TRUNCATE TABLE would delete the rows of foreign table public.remote_notes, which memory_guard cannot see"
        );
        assert!(e.detail.unwrap().starts_with(
            "Foreign table public.remote_notes holds rows on its foreign server, which memory_guard cannot count"
        ));
        let hint = e.hint.unwrap();
        assert!(!hint.contains("backup_table"), "{hint}");
        assert!(hint.starts_with("If it may go, acknowledge it"), "{hint}");
        assert!(hint.contains("allow_drop('public.remote_notes'"), "{hint}");
        assert_eq!(remote.estimate.rows(), None);
        // With a local table beside it, the local one keeps its backup remedy.
        let e = blocked_error(&[remote, table(8, "local_notes", true)], &ctx);
        let hint = e.hint.unwrap();
        assert!(
            hint.contains("backup_table('public.local_notes')"),
            "{hint}"
        );
        assert!(
            !hint.contains("backup_table('public.remote_notes')"),
            "{hint}"
        );
    }

    #[test]
    fn a_large_object_error_names_it_and_says_how_to_keep_it() {
        let e = large_object_error("DROP OWNED", 16401, "app_writer", DropMode::Enforce);
        assert_eq!(e.sqlstate, SqlState::DataStillExists);
        assert_eq!(
            e.message,
            "DROP OWNED would delete large object 16401, which holds data"
        );
        assert!(e
            .detail
            .as_deref()
            .unwrap()
            .ends_with("Nothing was dropped."));
        let hint = e.hint.unwrap();
        assert!(hint.contains("REASSIGN OWNED BY app_writer TO"), "{hint}");
        assert!(
            hint.contains("lomowner = 'app_writer'::pg_catalog.regrole"),
            "{hint}"
        );
        let warned = large_object_error("DROP OWNED", 1, "r", DropMode::Warn);
        assert!(warned
            .detail
            .unwrap()
            .ends_with("(memory_guard.drop_mode = warn)."));
    }

    #[test]
    fn a_partition_dropped_alone_is_named_itself() {
        let ctx = DropContext {
            command_tag: "DROP TABLE".into(),
            ..Default::default()
        };
        let e = blocked_error(&[partition(11, "events_2024", 10, false)], &ctx);
        assert_eq!(
            e.message,
            "DROP TABLE would delete table public.events_2024, which holds rows"
        );
    }

    #[test]
    fn error_lists_every_table_of_a_multi_table_statement() {
        let ctx = DropContext {
            command_tag: "DROP SCHEMA".into(),
            ..Default::default()
        };
        let e = blocked_error(&[table(1, "a", true), table(2, "b", true)], &ctx);
        assert_eq!(
            e.message,
            "DROP SCHEMA would delete 2 tables holding rows: public.a, public.b"
        );
        assert_eq!(e.hint.unwrap().matches("allow_drop(").count(), 2);
    }

    #[test]
    fn long_cascade_lists_are_cut() {
        let cascaded: Vec<String> = (0..15).map(|i| format!("view v{i}")).collect();
        let ctx = DropContext {
            command_tag: "DROP TABLE".into(),
            cascaded,
            ..Default::default()
        };
        let e = blocked_error(&[table(1, "a", true)], &ctx);
        assert!(e.detail.unwrap().contains("view v9 and 5 more."));
    }

    #[test]
    fn quoted_names_are_quoted_again_in_the_hint() {
        let mut t = table(1, "x", true);
        t.name = "public.\"Memory Notes\"".into();
        let ctx = DropContext {
            command_tag: "DROP TABLE".into(),
            ..Default::default()
        };
        let hint = blocked_error(&[t], &ctx).hint.unwrap();
        assert!(
            hint.contains("allow_drop('public.\"Memory Notes\"', reason =>"),
            "{hint}"
        );
    }

    #[test]
    fn a_table_the_role_may_not_read_is_refused_without_a_word_about_its_rows() {
        let e = unreadable_error(
            "DROP DOMAIN",
            "alice.dcol",
            Some("b"),
            "mallory",
            DropMode::Enforce,
        );
        assert_eq!(e.sqlstate, SqlState::InsufficientPrivilege);
        assert_eq!(
            e.message,
            "DROP DOMAIN would delete column alice.dcol.b, which mallory may not read"
        );
        let detail = e.detail.unwrap();
        assert!(detail.ends_with("Nothing was dropped."), "{detail}");
        assert!(
            !detail.contains("rows ") && !detail.contains("values"),
            "{detail}"
        );
        let truncated = unreadable_error(
            "TRUNCATE TABLE",
            "alice.t",
            None,
            "mallory",
            DropMode::Enforce,
        );
        assert!(truncated
            .detail
            .unwrap()
            .ends_with("Nothing was truncated."));
        let warned = unreadable_error("DROP TYPE", "alice.t", None, "mallory", DropMode::Warn);
        assert!(warned.message.contains("table alice.t"));
        assert!(warned.detail.unwrap().contains("drop_mode = warn"));
    }

    #[test]
    fn a_permanent_table_on_a_temporary_type_is_refused_with_why() {
        let e = temporary_dependency_error("ALTER TABLE", "app.notes", None, "pg_temp_3.shape");
        assert_eq!(e.sqlstate, SqlState::InvalidTableDefinition);
        assert_eq!(
            e.message,
            "ALTER TABLE would make permanent table app.notes depend on temporary type pg_temp_3.shape"
        );
        let col = temporary_dependency_error("ALTER TABLE", "app.notes", Some("body"), "pg_temp.d");
        assert!(col.message.contains("column app.notes.body"));
        assert!(col.detail.unwrap().contains("DISCARD TEMP"));
    }

    #[test]
    fn log_line_has_the_drop_log_fields() {
        let line = log_line("blocked", &table(1, "a", true), "DROP TABLE", "app");
        assert_eq!(
            line,
            "memory_guard: blocked DROP TABLE of table public.a: estimated_rows=10 guard=none reason=none role=app"
        );
    }

    fn deleted(object: ObjectRef, deps: &[(ObjectRef, bool)], what: &str) -> DeletedObject {
        let (kind, identity) = what.split_once(' ').unwrap();
        DeletedObject {
            object,
            depends_on: deps.to_vec(),
            described: Some((kind.to_string(), identity.to_string())),
        }
    }

    #[test]
    fn cascaded_lists_what_depends_normally_on_a_deleted_object_and_not_the_originals() {
        const CLASS: u32 = 1259;
        const SCHEMA: (u32, u32, i32) = (2615, 2200, 0);
        let table = (CLASS, 10, 0);
        let objects = vec![
            // the policy's USING clause names a column of the table (its own tie to the table
            // is automatic, not recorded here)
            deleted(
                (3256, 20, 0),
                &[((CLASS, 10, 2), true)],
                "policy p on public.t",
            ),
            // an index only depends automatically: it goes with its table, unlisted
            deleted((CLASS, 30, 0), &[], "index public.t_idx"),
            // the table itself depends normally on its schema, which stays
            deleted(table, &[(SCHEMA, true)], "table public.t"),
        ];
        assert_eq!(cascaded(&objects), vec!["policy p on public.t"]);
    }

    #[test]
    fn a_view_goes_with_its_return_rule_which_is_not_listed() {
        const CLASS: u32 = 1259;
        const RULE: u32 = 2618;
        let (table, view) = ((CLASS, 10, 0), (CLASS, 11, 0));
        let objects = vec![
            deleted(
                (RULE, 12, 0),
                &[(view, false), ((CLASS, 10, 1), true)],
                "rule \"_RETURN\" on public.v",
            ),
            deleted(view, &[((2615, 2200, 0), true)], "view public.v"),
            deleted(table, &[], "table public.t"),
        ];
        assert_eq!(cascaded(&objects), vec!["view public.v"]);
        // A dependency on one column is no dependency on another column of the table.
        let column_only = vec![
            deleted((CLASS, 10, 2), &[], "table column public.t.b"),
            deleted(
                (RULE, 12, 0),
                &[(view, false), ((CLASS, 10, 1), true)],
                "rule \"_RETURN\" on public.v",
            ),
        ];
        assert!(cascaded(&column_only).is_empty());
    }

    #[test]
    fn may_be_cascaded_asks_for_descriptions_only_where_they_can_be_needed() {
        let (table, view, schema) = ((1259, 10, 0), (1259, 11, 0), (2615, 2200, 0));
        let deleted = |r: ObjectRef| r.1 == table.1 || r.1 == view.1;
        let rule = DeletedObject {
            object: (2618, 12, 0),
            depends_on: vec![(view, false), ((1259, 10, 1), true)],
            described: None,
        };
        let mut owners = InternalOwners::new();
        assert!(may_be_cascaded(
            &rule.depends_on,
            rule.object,
            &mut owners,
            deleted
        ));
        // the rule is an internal part of the view, met before it
        assert!(may_be_cascaded(&[], view, &mut owners, deleted));
        assert!(!may_be_cascaded(&[], (1259, 30, 0), &mut owners, deleted));
        // a normal dependency on what stays (the schema) cannot make it cascaded
        assert!(!may_be_cascaded(
            &[(schema, true)],
            (1255, 40, 0),
            &mut owners,
            deleted
        ));
    }

    /// Quotes as Postgres' quote_identifier does for the names these tests use.
    fn quote(s: &str) -> String {
        if s.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            s.to_string()
        } else {
            format!("\"{s}\"")
        }
    }

    #[test]
    fn relations_are_named_as_pg_identify_object_names_them() {
        let name = |relkind: u8, column: Option<&str>| RelationName {
            relkind,
            schema: "app".into(),
            relname: "Notes".into(),
            column: column.map(str::to_string),
        };
        let described = |n: RelationName| n.describe(quote);
        assert_eq!(
            described(name(b'r', None)),
            Some(("table".into(), "app.\"Notes\"".into()))
        );
        assert_eq!(described(name(b'p', None)).unwrap().0, "table");
        assert_eq!(described(name(b'I', None)).unwrap().0, "index");
        assert_eq!(described(name(b'm', None)).unwrap().0, "materialized view");
        assert_eq!(
            described(name(b'v', Some("body"))),
            Some(("view column".into(), "app.\"Notes\".body".into()))
        );
        assert_eq!(described(name(b'x', None)), None);
    }

    #[test]
    fn table_parts_are_named_after_their_table_as_pg_identify_object_names_them() {
        let table = RelationName {
            relkind: b'r',
            schema: "app".into(),
            relname: "Notes".into(),
            column: None,
        };
        let part = |kind: TablePart, name: &str| kind.describe(name, &table, quote);
        assert_eq!(
            part(TablePart::Constraint, "notes_pkey"),
            Some((
                "table constraint".into(),
                "notes_pkey on app.\"Notes\"".into()
            ))
        );
        assert_eq!(
            part(TablePart::Trigger, "Audit"),
            Some(("trigger".into(), "\"Audit\" on app.\"Notes\"".into()))
        );
        assert_eq!(part(TablePart::Policy, "p").unwrap().0, "policy");
        // A view's rule keeps the name cascaded() recognises.
        assert_eq!(
            part(TablePart::Rule, "_RETURN").unwrap().1,
            "\"_RETURN\" on app.\"Notes\""
        );
        // A default is named by its column; without one there is nothing to name.
        assert_eq!(part(TablePart::Default, ""), None);
        let column = RelationName {
            column: Some("body".into()),
            ..table.clone()
        };
        assert_eq!(
            TablePart::Default.describe("", &column, quote),
            Some(("default value".into(), "for app.\"Notes\".body".into()))
        );
    }

    #[test]
    fn only_parts_that_may_be_listed_take_their_owner_along() {
        let deleted = |r: ObjectRef| r == (1259, 10, 0);
        let mut owners = InternalOwners::new();
        // an index (internal part of its constraint) that nothing cascades to
        let index = [((2606, 50, 0), false), ((1259, 10, 1), false)];
        assert!(!may_be_cascaded(
            &index,
            (1259, 51, 0),
            &mut owners,
            deleted
        ));
        assert!(!may_be_cascaded(&[], (2606, 50, 0), &mut owners, deleted));
        // the same index on a function being dropped: its constraint goes along
        let index = [((2606, 60, 0), false), ((1259, 10, 0), true)];
        assert!(may_be_cascaded(&index, (1259, 61, 0), &mut owners, deleted));
        assert!(may_be_cascaded(&[], (2606, 60, 0), &mut owners, deleted));
    }

    #[test]
    fn a_drop_that_goes_ahead_does_not_say_nothing_was_dropped() {
        let ctx = DropContext {
            command_tag: "DROP TABLE".into(),
            goes_ahead_under: Some(DropMode::Warn),
            ..Default::default()
        };
        let detail = blocked_error(&[table(1, "a", true)], &ctx).detail.unwrap();
        assert!(!detail.contains("Nothing was dropped"), "{detail}");
        assert!(
            detail.ends_with("The statement goes ahead (memory_guard.drop_mode = warn), and drop_log records it."),
            "{detail}"
        );
    }

    #[test]
    fn cascaded_scales_to_a_schema_of_many_objects() {
        // DROP SCHEMA of 20,000 views on 20,000 tables: each lookup is by object, not a search.
        let mut objects = Vec::new();
        for n in 0..20_000u32 {
            let (table, view) = ((1259, 100_000 + n, 0), (1259, 200_000 + n, 0));
            objects.push(DeletedObject {
                object: (2618, 300_000 + n, 0),
                depends_on: vec![(view, false), ((1259, 100_000 + n, 1), true)],
                described: Some(("rule".into(), format!("\"_RETURN\" on s.v{n}"))),
            });
            objects.push(DeletedObject {
                object: view,
                depends_on: vec![],
                described: Some(("view".into(), format!("s.v{n}"))),
            });
            objects.push(DeletedObject {
                object: table,
                depends_on: vec![],
                described: Some(("table".into(), format!("s.t{n}"))),
            });
        }
        let listed = cascaded(&objects);
        assert_eq!(listed.len(), 20_000);
        assert!(listed.iter().all(|l| l.starts_with("view s.v")));
    }
}
