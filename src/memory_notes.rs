//! `memory_guard.migrate_memory_notes()`: the lossless memory_notes → memories migration of the
//! seed's history (Option A), with the fields memories cannot hold carried into
//! `memory_guard.memory_notes_carryover`, recorded in the ledger so the old table may then be
//! dropped; and `legacy_note_fields()`, which the search_memory_notes shim reads them through.

use crate::checksum::{checksum_of, count_and_sum, row_sum, with_toast_memo};
use crate::extension::{
    as_extension_owner, as_relation_owner_under_policies, relation_owner, with_safe_search_path,
};
use crate::ledger::{carried_rows_sum, ledger_insert};
use crate::tables::{is_table, one, rel_name, relkind, require_owner, run};
use crate::{probe, report};
use memory_guard_core::checksum::{checksum_sql, digest_sum_sql, RowSum};
use memory_guard_core::migration::{
    check_columns, check_embedding_dims, importance_score_sql, rebuilt_legacy_terms, Column,
    MigrationReport, LEGACY_ROW_COLUMNS, SOURCE_COLUMNS, TARGET_COLUMNS,
};
use memory_guard_core::{GuardError, SqlState};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::JsonB;
use std::time::Instant;

/// Rows per INSERT batch; a progress NOTICE follows each batch of a large migration.
const BATCH: i64 = 10_000;

/// A relation's columns, in order, each type said to be trusted when it is pg_catalog's or a
/// member of the vector extension (by OID, not by name).
fn columns(relid: pg_sys::Oid) -> Vec<Column> {
    Spi::connect(|c| {
        c.select(
            "SELECT a.attname::pg_catalog.text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    t.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace \
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                               JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid \
                               WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass \
                                 AND d.objid OPERATOR(pg_catalog.=) t.oid AND d.deptype OPERATOR(pg_catalog.=) 'e' \
                                 AND e.extname OPERATOR(pg_catalog.=) 'vector') \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid \
             WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            None,
            &[relid.into()],
        )
        .map(|rows| {
            rows.filter_map(|r| {
                Some(Column {
                    name: r.get::<String>(1).ok()??,
                    type_name: r.get::<String>(2).ok()??,
                    trusted_type: r.get::<bool>(3).ok()??,
                })
            })
            .collect()
        })
    })
    .unwrap_or_default()
}

/// Copies the source rows not carried yet into the target and the side table, a range of heap
/// blocks at a time (a progress NOTICE after each), and returns what the verification compares:
/// the digest sum of every source row, and that of the rows it carried.
///
/// Each batch is one statement that reads its source rows once: it digests them all, inserts the
/// new ones, and digests the legacy rows rebuilt from what the two inserts returned, which is
/// what they stored after defaults, coercions and BEFORE triggers. The caller checks rows
/// carried by earlier calls by reading them back (before the copy, or after it when a trigger
/// or rule could change rows behind RETURNING).
#[allow(clippy::too_many_arguments)]
fn copy_in_batches(
    src: &str,
    tgt: &str,
    source: pg_sys::Oid,
    target: pg_sys::Oid,
    source_rows: i64,
    already: i64,
    source_terms: &[String],
    rebuilt_terms: &[String],
    migrated: &mut i64,
) -> (RowSum, RowSum) {
    // The source and its inheritance children are locked against writers: their sizes hold.
    let blocks = one::<i64>(
        "WITH RECURSIVE tree(relid) AS (SELECT $1::pg_catalog.oid UNION \
           SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.relid) \
         SELECT coalesce(max(pg_catalog.pg_relation_size(relid)), 0) / pg_catalog.current_setting('block_size')::bigint FROM tree",
        &[source.into()],
    )
    .unwrap_or(0);
    let step = if source_rows > 0 {
        (blocks * BATCH / source_rows).max(1)
    } else {
        blocks.max(1)
    };
    let batch_sql = format!(
        "WITH batch AS (SELECT s.*, memory_guard.row_digest({src_terms}) AS mg_digest, \
             {fresh} AS mg_fresh \
           FROM {src} s \
           WHERE s.ctid >= pg_catalog.format('(%s,0)', $1::bigint)::pg_catalog.tid \
             AND s.ctid < pg_catalog.format('(%s,0)', $2::bigint)::pg_catalog.tid), \
         i AS (INSERT INTO {tgt} (id, workspace_id, session_id, content, summary, embedding, importance_score, \
           memory_type, category, symbols, strategies, created_at, updated_at, archived, source, confidence) \
           SELECT id, workspace_id, NULL, content, content, embedding, {score}, coalesce(memory_type, 'observation'), \
           NULL, tags, '{{}}', created_at, coalesce(updated_at, created_at), coalesce(archived, false), source, 1.0 \
           FROM batch WHERE mg_fresh RETURNING id, workspace_id, content, source, symbols, created_at, embedding), \
         x AS (INSERT INTO memory_guard.memory_notes_carryover (legacy_id, source_oid, target_oid, memory_type, \
           importance, updated_at, archived, run_id, metadata) \
           SELECT id, $3, $4, memory_type, importance, updated_at, archived, run_id, metadata FROM batch WHERE mg_fresh \
           RETURNING legacy_id, memory_type, importance, updated_at, archived, run_id, metadata) \
         SELECT (SELECT count(*) FROM batch)::bigint, (SELECT coalesce(sum(mg_digest), 0) FROM batch)::text, \
           count(*)::bigint, {carried} \
         FROM i JOIN x ON x.legacy_id = i.id",
        src_terms = source_terms.join(", "),
        score = importance_score_sql("importance"),
        carried = digest_sum_sql(rebuilt_terms),
        // A first migration spares each row the look-up: none of them has been carried.
        fresh = if already == 0 {
            "true"
        } else {
            "NOT EXISTS (SELECT 1 FROM memory_guard.memory_notes_carryover c WHERE c.target_oid = $4 AND c.legacy_id = s.id)"
        },
    );
    let (mut source_sum, mut carried) = (RowSum::default(), RowSum::default());
    let mut lo = 0i64;
    while lo < blocks {
        let args: Vec<DatumWithOid> =
            vec![lo.into(), (lo + step).into(), source.into(), target.into()];
        let (batch, new) = with_toast_memo(|| {
            with_safe_search_path(|| {
                Spi::connect(|c| {
                    let row = c.select(&batch_sql, Some(1), &args)?.first();
                    Ok::<_, pgrx::spi::Error>((
                        row_sum(row.get::<i64>(1)?, row.get::<String>(2)?),
                        row_sum(row.get::<i64>(3)?, row.get::<String>(4)?),
                    ))
                })
            })
        })
        .unwrap_or_else(|e| crate::report::failed("migrate_memory_notes", e));
        source_sum = source_sum + batch;
        carried = carried + new;
        *migrated += new.rows;
        lo += step;
        if source_rows > BATCH {
            pgrx::notice!(
                "memory_guard: migrate_memory_notes: {} of {} rows carried",
                already + *migrated,
                source_rows
            );
        }
    }
    (source_sum, carried)
}

/// Whether what `INSERT ... RETURNING` returned may not be what the target holds once a batch
/// is done: a user trigger on INSERT (an AFTER trigger runs after RETURNING; any trigger's code
/// may change other rows) or a rule, on the target, any of its partitions, or the side table.
/// Internal triggers (foreign-key checks) change no rows.
fn target_can_change_rows_behind_returning(target: pg_sys::Oid) -> bool {
    one::<bool>(
        "WITH rels AS (SELECT $1::pg_catalog.regclass AS relid UNION SELECT relid FROM pg_catalog.pg_partition_tree($1) \
                       UNION SELECT 'memory_guard.memory_notes_carryover'::pg_catalog.regclass) \
         SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid IN (SELECT relid FROM rels) \
                          AND NOT t.tgisinternal AND (t.tgtype & 4) <> 0) \
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.ev_class IN (SELECT relid FROM rels))",
        &[target.into()],
    )
    .unwrap_or(true)
}

/// `memory_guard.migrate_memory_notes(source, target, dry_run)`.
#[pg_extern(volatile, parallel_unsafe, name = "_migrate_memory_notes")]
#[search_path(pg_catalog, pg_temp)]
fn migrate_memory_notes(
    source: Option<pg_sys::Oid>,
    target: Option<pg_sys::Oid>,
    dry_run: Option<bool>,
) -> JsonB {
    const F: &str = "migrate_memory_notes";
    crate::moved::require_keyed(F);
    let (Some(source), Some(target)) = (source, target) else {
        report::raise(
            &GuardError::new(
                SqlState::NullValueNotAllowed,
                "migrate_memory_notes: source and target must not be NULL",
            ),
            F,
        )
    };
    let dry_run = dry_run.unwrap_or(false);
    let started = Instant::now();
    let src = rel_name(source);
    let tgt = rel_name(target);
    let src_cols = columns(source);
    let tgt_cols = columns(target);
    report::ok_or_raise(check_columns(&src, &src_cols, SOURCE_COLUMNS), F);
    report::ok_or_raise(check_columns(&tgt, &tgt_cols, TARGET_COLUMNS), F);
    let emb = |cols: &[Column]| {
        cols.iter()
            .find(|c| c.name == "embedding")
            .cloned()
            .expect("checked above")
    };
    report::ok_or_raise(check_embedding_dims(&emb(&src_cols), &emb(&tgt_cols)), F);
    let not_a_table = |relid: pg_sys::Oid, name: &str, role: &str| {
        if !is_table(relkind(relid).0) {
            report::raise(
                &GuardError::new(SqlState::WrongObjectType, format!("migrate_memory_notes: {name} is not a table"))
                    .detail(format!("The {role} must be an ordinary or partitioned table: rows written through a view or a foreign table cannot be verified where they land."))
                    .hint("Name the table itself."),
                F,
            );
        }
    };
    not_a_table(source, &src, "source");
    not_a_table(target, &tgt, "target");
    require_owner(source, "migrate from it", F);
    require_owner(target, "migrate into it", F);
    let owner = relation_owner(target).expect("checked above");
    for (relid, name) in [(source, &src), (target, &tgt)] {
        if probe::rls_hides_rows_from(relid, owner) {
            report::raise(
                &GuardError::new(SqlState::InsufficientPrivilege, format!("migrate_memory_notes: row-level security hides rows of {name} from the owner of {tgt}"))
                    .detail("The migration reads and verifies as the target's owner: rows a policy hides from it would be left behind unnoticed.")
                    .hint(format!("ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY; for the migration, in the same transaction, or give the owner BYPASSRLS.")),
                F,
            );
        }
    }

    // As the target's owner, restricted: its triggers, defaults, CHECKs and index expressions
    // run with that owner's rights, as they would for any INSERT the owner made. The side table
    // takes the carried fields under its row-level security (rows of targets the writer owns).
    let report = as_relation_owner_under_policies(target, || {
        // One migration of a source at a time; writers of the source wait until we commit, so
        // what we verify is what stays.
        run("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('memory_guard.migrate_memory_notes'), $1::int)", &[(source.to_u32() as i32).into()]);
        run(&format!("LOCK TABLE {src} IN SHARE MODE"), &[]);
        run(
            &format!("LOCK TABLE {tgt} IN SHARE ROW EXCLUSIVE MODE"),
            &[],
        );
        // What each is now, under the locks, is what will be read and written.
        not_a_table(source, &src, "source");
        not_a_table(target, &tgt, "target");
        let source_rows =
            one::<i64>(&format!("SELECT count(*)::bigint FROM {src}"), &[]).unwrap_or(0);
        let already = one::<i64>(
            &format!(
                "SELECT count(*)::bigint FROM {src} s JOIN memory_guard.memory_notes_carryover c \
                 ON c.target_oid = {} AND c.legacy_id = s.id",
                target.to_u32()
            ),
            &[],
        )
        .unwrap_or(0);
        // The legacy row, as the source holds it and as it is rebuilt from the target (m) and
        // the side table (c). The two must digest alike, row for row.
        let source_terms: Vec<String> = LEGACY_ROW_COLUMNS
            .iter()
            .map(|c| format!("s.{c}"))
            .collect();
        let held = || carried_rows_sum(&src, &tgt, target);
        let mut migrated = 0i64;
        let carried_terms = rebuilt_legacy_terms("i", "x");
        let mut copy = || {
            copy_in_batches(
                &src,
                &tgt,
                source,
                target,
                source_rows,
                already,
                &source_terms,
                &carried_terms,
                &mut migrated,
            )
        };
        let (source_sum, carried) = if dry_run {
            (
                count_and_sum(&checksum_sql(&source_terms, &format!("{src} s"))),
                held(),
            )
        } else if target_can_change_rows_behind_returning(target) {
            // A trigger or rule may change rows after RETURNING saw them (or rows of earlier
            // batches): read every carried row back once the copy is done.
            let (source_sum, _) = copy();
            (source_sum, held())
        } else {
            // Rows carried by earlier calls are read back before the copy, the new ones as the
            // inserts returned them.
            let present = held();
            let (source_sum, new) = copy();
            (source_sum, present + new)
        };
        let src_n = source_sum.rows;
        let src_k = source_sum.checksum();
        let verified = source_sum == carried && src_n == source_rows;
        if !dry_run && !verified {
            report::raise(
                &GuardError::new(SqlState::DataCorrupted, format!("migrate_memory_notes: {tgt} does not hold an exact copy of {src}"))
                    .detail(format!(
                        "{} source rows (checksum {}), {} rebuilt from {tgt} and memory_guard.memory_notes_carryover (checksum {}). Nothing was migrated.",
                        src_n, src_k, carried.rows, carried.checksum()
                    ))
                    .hint("Carried rows were changed in the target (since an earlier call, or by a trigger on it), or the target holds rows with the same ids."),
                F,
            );
        }
        if !dry_run {
            // The drop guard compares checksum_of(source) with the ledger. When the source is
            // exactly the legacy columns in order, with no children, that is the sum just taken:
            // spare the table another pass.
            let legacy_only = src_cols
                .iter()
                .map(|c| c.name.as_str())
                .eq(LEGACY_ROW_COLUMNS.iter().copied())
                && !one::<bool>(
                    "SELECT relhassubclass FROM pg_catalog.pg_class WHERE oid = $1",
                    &[source.into()],
                )
                .unwrap_or(true);
            let (n, k) = if legacy_only {
                (src_n, src_k.clone())
            } else {
                checksum_of(&src, true)
            };
            ledger_insert(
                "migration",
                source,
                &tgt,
                Some(target),
                n,
                &k,
                // What the target and side table hold of the source: checked again before
                // this entry may vouch for the source's drop.
                serde_json::json!({ "legacy_checksum": src_k, "copy_rows": src_n, "copy_checksum": src_k }),
            );
        }
        MigrationReport {
            source: src.clone(),
            target: tgt.clone(),
            dry_run,
            source_rows,
            newly_migrated: if dry_run {
                source_rows - already
            } else {
                migrated
            },
            already_present: already,
            checksum: src_k,
            verified,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    });
    JsonB(serde_json::to_value(report).expect("the report serialises"))
}

/// `memory_guard.legacy_note_fields(legacy_ids, memories)`: the legacy memory_type and
/// importance of migrated notes, which memories cannot hold, for the ids among `legacy_ids` that
/// the caller can see in `memories` (its privileges and row-level security decide, read as the
/// caller). The side table itself is private and is read as the extension's owner, for rows
/// carried into that very table only.
// Parallel unsafe: it switches to the extension's owner to read the side table. Volatile: after
// a dump and restore it keys memory_guard's records to the new database first (moved.rs).
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn legacy_note_fields(
    legacy_ids: Option<Vec<Option<pgrx::Uuid>>>,
    memories: Option<pg_sys::Oid>,
) -> TableIterator<
    'static,
    (
        name!(legacy_id, Option<pgrx::Uuid>),
        name!(memory_type, Option<String>),
        name!(importance, Option<String>),
    ),
> {
    let (Some(ids), Some(memories)) = (legacy_ids, memories) else {
        return TableIterator::new(Vec::new());
    };
    crate::moved::require_keyed("legacy_note_fields");
    if !is_table(relkind(memories).0) {
        report::raise(
            &GuardError::new(
                SqlState::WrongObjectType,
                format!("legacy_note_fields: {} is not a table", rel_name(memories)),
            )
            .hint("Pass the memories table the notes were migrated into."),
            "legacy_note_fields",
        );
    }
    // The whole table, not a column grant on its ids: the fields belong to its rows.
    // SAFETY: an ACL check of the current user by OIDs; the relation exists (checked above).
    let may_read = unsafe {
        pg_sys::pg_class_aclcheck(
            memories,
            pg_sys::GetUserId(),
            pg_sys::ACL_SELECT as pg_sys::AclMode,
        )
    } == pg_sys::AclResult::ACLCHECK_OK;
    if !may_read {
        report::raise(
            &GuardError::new(
                SqlState::InsufficientPrivilege,
                format!("legacy_note_fields: permission denied for table {}", rel_name(memories)),
            )
            .hint("The carried fields of a note are shown to roles that may read its row of memories (SELECT on the table)."),
            "legacy_note_fields",
        );
    }
    let ids: Vec<pgrx::Uuid> = ids.into_iter().flatten().collect();
    if ids.is_empty() {
        return TableIterator::new(Vec::new());
    }
    let visible = one::<Vec<Option<pgrx::Uuid>>>(
        &format!(
            "SELECT pg_catalog.array_agg(m.id) FROM {} m WHERE m.id OPERATOR(pg_catalog.=) ANY ($1)",
            rel_name(memories)
        ),
        &[ids.into()],
    )
    .unwrap_or_default();
    let visible: Vec<pgrx::Uuid> = visible.into_iter().flatten().collect();
    if visible.is_empty() {
        return TableIterator::new(Vec::new());
    }
    let rows = as_extension_owner(|| {
        Spi::connect(|c| {
            c.select(
                "SELECT c.legacy_id, c.memory_type, c.importance FROM memory_guard.memory_notes_carryover c \
                 WHERE c.target_oid OPERATOR(pg_catalog.=) $2 AND c.legacy_id OPERATOR(pg_catalog.=) ANY ($1)",
                None,
                &[visible.into(), memories.into()],
            )
            .map(|rows| {
                rows.map(|r| {
                    (
                        r.get::<pgrx::Uuid>(1).ok().flatten(),
                        r.get::<String>(2).ok().flatten(),
                        r.get::<String>(3).ok().flatten(),
                    )
                })
                .collect::<Vec<_>>()
            })
        })
        .unwrap_or_else(|e| crate::report::failed("legacy_note_fields", e))
    });
    TableIterator::new(rows)
}
