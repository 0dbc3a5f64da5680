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
run() { printf '\033[2m$'; printf ' %q' "$@"; printf '\033[0m\n'; "$@"; }

say "Building and installing memory_guard (release)"
cargo pgrx install --release 2>&1 | tail -n 1

# shellcheck source=cluster.sh
source scripts/cluster.sh
cluster_start
trap cluster_stop EXIT
export PGDATABASE=memory
createdb_out=$("$PGBIN/createdb" "$PGDATABASE" 2>&1) || { echo "$createdb_out"; exit 1; }
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
export PGOPTIONS="-c client_min_messages=warning"  # NOTICEs of IF [NOT] EXISTS are noise here

say "Installing the guard first, as every project should"
run "${PSQL[@]}" -c "CREATE EXTENSION memory_guard" -c "SELECT extname, extversion FROM pg_extension WHERE extname = 'memory_guard'"

mapfile -t migrations < <(ls tests/fixtures/2025*.sql | sort)
problem=${migrations[-1]}
say "Replaying the migration history up to the problem migration (one transaction per file)"
for f in "${migrations[@]::${#migrations[@]}-1}"; do
  printf '  applying %s\n' "$(basename "$f")"
  "${PSQL[@]}" --single-transaction -f "$f"
done
say "Filling memory_notes with the seed's data"
"${PSQL[@]}" -f tests/fixtures/seed_data.sql
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

say "Applying it again with the drop acknowledged, in the same transaction"
run "${PSQL[@]}" --single-transaction \
  -c "SELECT memory_guard.allow_drop('public.memory_notes', reason => 'memory_notes replaced by memories; rows exported beforehand')" \
  -f "$problem"
run "${PSQL[@]}" -c "SELECT to_regclass('public.memory_notes') AS memory_notes, to_regclass('public.memories') AS memories"

say "The drop log"
run "${PSQL[@]}" -x -c "SELECT dropped_at::date, role_name, table_name, command_tag, estimated_rows, guard, reason FROM memory_guard.drop_log"

say "Done; the cluster is removed."
