#!/usr/bin/env bash
# The demo: provisions everything, starts a throwaway Postgres 15, installs memory_guard, replays
# the seed's migration history (tests/fixtures) with psql -v ON_ERROR_STOP=1 as a migration tool
# would, and shows the guard stopping 20251123000000's DROP TABLE IF EXISTS memory_notes CASCADE,
# then the same migration passing once the drop is acknowledged, and the drop log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\n\033[1;36m### %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

# bash scripts/demo.sh --managed: the same story with the managed edition (one SQL file, no
# native library), installed by a superuser and the migrations applied by a plain role.
if [ "${1:-}" = --managed ]; then
  PG_MAJOR=${PG_MAJOR:-15}
  export PG_MAJOR
  # shellcheck source=cluster.sh
  source scripts/cluster.sh
  cluster_start
  trap cluster_stop EXIT
  PSQL=(psql -X -q -v ON_ERROR_STOP=1)
  export PGOPTIONS="-c client_min_messages=warning"
  mapfile -t migrations < <(ls tests/fixtures/2025*.sql | sort)
  problem=${migrations[-1]}
  "$PGBIN/createdb" memory
  export PGDATABASE=memory
  say "Installing the managed edition as the platform's admin role would: psql -f, no CREATE EXTENSION"
  "${PSQL[@]}" -c "CREATE EXTENSION vector" -c "CREATE ROLE app_owner LOGIN" \
    -c "GRANT CREATE ON SCHEMA public TO app_owner"
  run "${PSQL[@]}" --single-transaction -f managed/memory_guard_managed.sql
  say "Replaying the migration history as app_owner, a plain role (one transaction per file)"
  for f in "${migrations[@]::${#migrations[@]}-1}"; do
    printf '  applying %s\n' "$(basename "$f")"
    "${PSQL[@]}" -U app_owner --single-transaction -f "$f"
  done
  "${PSQL[@]}" -U app_owner -f tests/fixtures/seed_data.sql
  run "${PSQL[@]}" -c "SELECT count(*) AS memory_notes, count(embedding) AS with_embeddings FROM memory_notes"
  say "Applying $(basename "$problem") as written, as app_owner: the guard stops it"
  status=0
  "${PSQL[@]}" -U app_owner --single-transaction -f "$problem" || status=$?
  [ "$status" -ne 0 ] || { echo "UNEXPECTED: the migration went through" >&2; exit 1; }
  echo "(psql exited with status $status; the whole migration was rolled back)"
  run "${PSQL[@]}" -U app_owner -c "TRUNCATE memory_notes CASCADE" || true
  run "${PSQL[@]}" -c "SELECT count(*) AS memory_notes_still_there FROM memory_notes"
  say "Acknowledged with a reason, in the same transaction: it goes through, recorded"
  run "${PSQL[@]}" -U app_owner --single-transaction \
    -c "SELECT memory_guard.allow_drop('public.memory_notes', reason => 'memory_notes replaced by memories; rows exported beforehand')" \
    -f "$problem"
  run "${PSQL[@]}" -x -c "SELECT dropped_at::date, role_name, table_name, command_tag, estimated_rows, guard, reason FROM memory_guard.drop_log"
  run "${PSQL[@]}" -c "SELECT function, rule, fix FROM memory_guard.lint_functions(ARRAY['public']) WHERE severity = 'warning'"
  say "Removing it again: managed/memory_guard_managed_uninstall.sql"
  run "${PSQL[@]}" --single-transaction -f managed/memory_guard_managed_uninstall.sql
  run "${PSQL[@]}" -c "SELECT to_regnamespace('memory_guard') AS schema_left, (SELECT count(*) FROM pg_event_trigger) AS event_triggers_left"
  say "Done; the cluster is removed."
  exit 0
fi

say "Building and installing memory_guard (release)"
PG_MAJOR=${PG_MAJOR:-15}
export PG_MAJOR
cargo pgrx install --release --pg-config "/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" \
  --no-default-features --features "pg$PG_MAJOR" 2>&1 | tail -n 1

# shellcheck source=cluster.sh
source scripts/cluster.sh
cluster_start
trap cluster_stop EXIT
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
export PGOPTIONS="-c client_min_messages=warning"  # NOTICEs of IF [NOT] EXISTS are noise here
mapfile -t migrations < <(ls tests/fixtures/2025*.sql | sort)
problem=${migrations[-1]}

# A database with memory_guard installed first, then the history up to the problem migration.
replay_history() {
  "$PGBIN/createdb" "$1"
  "${PSQL[@]}" -d "$1" -c "CREATE EXTENSION memory_guard"
  for f in "${migrations[@]::${#migrations[@]}-1}"; do
    [ "$1" = memory ] && printf '  applying %s\n' "$(basename "$f")"
    "${PSQL[@]}" -d "$1" --single-transaction -f "$f"
  done
  "${PSQL[@]}" -d "$1" -f tests/fixtures/seed_data.sql
}

say "Installing memory_guard, then replaying the migration history (one transaction per file)"
replay_history memory
export PGDATABASE=memory
run "${PSQL[@]}" -c "SELECT count(*) AS memory_notes, count(embedding) AS with_embeddings FROM memory_notes"

say "Applying $(basename "$problem") as written: the guard stops it"
status=0
"${PSQL[@]}" --single-transaction -f "$problem" || status=$?
if [ "$status" -eq 0 ]; then
  echo "UNEXPECTED: the migration went through" >&2
  exit 1
fi
echo "(psql exited with status $status; the whole migration was rolled back)"
run "${PSQL[@]}" -c "SELECT count(*) AS memory_notes_still_there FROM memory_notes"

say "The safe path: the same migration with its DROP moved after migrate_memory_notes()"
guarded="$CLUSTER_DIR/20251123000000_enhance_memory_system_guarded.sql"
{
  grep -v '^DROP TABLE IF EXISTS memory_notes' "$problem"
  echo "SELECT memory_guard.migrate_memory_notes();"
  echo "DROP TABLE IF EXISTS memory_notes CASCADE;"
  echo "SELECT memory_guard.install_search_memory_notes_shim();"
} >"$guarded"
diff -u "$problem" "$guarded" | sed -n '1,2d; /^[-+]/p' || true
run "${PSQL[@]}" --single-transaction -x -f "$guarded"
say "Existing callers of search_memory_notes() keep working, answered from memories"
run "${PSQL[@]}" -c "SELECT id, left(content, 50) AS content, importance, round(similarity::numeric, 4) AS similarity FROM search_memory_notes((SELECT embedding FROM memories WHERE id = md5('memory_note_20')::uuid), '00000000-0000-4000-8000-000000000003', 0.5, 3)"
run "${PSQL[@]}" -x -c "SELECT dropped_at::date, role_name, table_name, command_tag, estimated_rows, guard, details->>'ledger_id' AS ledger_id FROM memory_guard.drop_log"

say "The other way through: the drop acknowledged with a reason (in a second database)"
PGOPTIONS="-c client_min_messages=error" replay_history memory_ack  # its warnings were shown above
export PGDATABASE=memory_ack
run "${PSQL[@]}" --single-transaction \
  -c "SELECT memory_guard.allow_drop('public.memory_notes', reason => 'memory_notes replaced by memories; rows exported beforehand')" \
  -f "$problem"
run "${PSQL[@]}" -c "SELECT to_regclass('public.memory_notes') AS memory_notes, to_regclass('public.memories') AS memories"
run "${PSQL[@]}" -x -c "SELECT dropped_at::date, role_name, table_name, command_tag, estimated_rows, guard, reason FROM memory_guard.drop_log"

say "Done; the cluster is removed."
