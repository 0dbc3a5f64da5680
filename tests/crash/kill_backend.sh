#!/usr/bin/env bash
# Crash safety: kill -9 the backend in the middle of migrate_memory_notes() and of backup_table()
# (Postgres then restarts every backend and replays its WAL). Afterwards memories, the side table,
# the ledger and the backup schema are consistent: all or nothing. Exits non-zero otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/cluster.sh"
cluster_start
trap cluster_stop EXIT
export PGOPTIONS="-c client_min_messages=warning"
fail() { echo "crash test FAILED: $*" >&2; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
ROWS=${ROWS:-300000}

q "CREATE EXTENSION memory_guard" >/dev/null 2>&1
q "CREATE EXTENSION vector"
psql -X -q -v ON_ERROR_STOP=1 -f "$here/../fixtures/memory_tables_small.sql"
q "INSERT INTO memory_notes (id, workspace_id, content, created_at, embedding, importance, metadata)
   SELECT md5('n' || g)::uuid, md5('w')::uuid, repeat('note ', 20) || g, '2025-01-01', '[1,2,3]', 'high', '{\"k\": 1}'
   FROM generate_series(1, $ROWS) g"

# Kill the backend running $1 after $2 seconds, once it is running.
kill_midway() {
  local sql=$1 delay=$2
  psql -X -q -c "$sql" >/dev/null 2>&1 &
  local client=$!
  local pid=""
  for _ in $(seq 1 100); do
    pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%memory_guard.%' AND pid <> pg_backend_pid() AND state = 'active' LIMIT 1" || true)
    [ -n "$pid" ] && break
    sleep 0.05
  done
  [ -n "$pid" ] || fail "the statement did not start: $sql"
  sleep "$delay"
  kill -9 "$pid"
  wait "$client" || true
  for _ in $(seq 1 100); do q "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "the server did not come back after the crash"
}

kill_midway "SELECT memory_guard.migrate_memory_notes()" 0.5
read -r memories carried ledger < <(q "SELECT (SELECT count(*) FROM memories), (SELECT count(*) FROM memory_guard.memory_notes_carryover), (SELECT count(*) FROM memory_guard.ledger)" | tr '|' ' ')
echo "after kill -9 in migrate_memory_notes: memories=$memories carryover=$carried ledger=$ledger"
{ [ "$memories" = 0 ] && [ "$carried" = 0 ] && [ "$ledger" = 0 ]; } || { [ "$memories" = "$ROWS" ] && [ "$carried" = "$ROWS" ] && [ "$ledger" = 1 ]; } \
  || fail "migration left a partial state"
# The next call finishes the job and verifies.
[ "$(q "SELECT memory_guard.migrate_memory_notes()->>'verified'")" = true ] || fail "the migration does not verify after recovery"

kill_midway "SELECT memory_guard.backup_table('memory_notes')" 0.3
read -r tables ledger < <(q "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'memory_guard_backup'), (SELECT count(*) FROM memory_guard.ledger WHERE kind = 'backup')" | tr '|' ' ')
echo "after kill -9 in backup_table: backup tables=$tables ledger entries=$ledger"
[ "$tables" = "$ledger" ] || fail "backup tables and ledger disagree"

# A guarded drop killed midway: the table and its rows are all there, or the drop is complete and logged.
q "SELECT 1" >/dev/null
kill_midway "BEGIN; SELECT memory_guard.allow_drop('memory_notes', 'crash test'); DROP TABLE memory_notes; SELECT pg_sleep(2); COMMIT;" 0.5
read -r exists logged < <(q "SELECT to_regclass('memory_notes') IS NOT NULL, (SELECT count(*) FROM memory_guard.drop_log)" | tr '|' ' ')
echo "after kill -9 in a guarded drop: table exists=$exists drop_log rows=$logged"
{ [ "$exists" = t ] && [ "$logged" = 0 ] && [ "$(q "SELECT count(*) FROM memory_notes")" = "$ROWS" ]; } \
  || { [ "$exists" = f ] && [ "$logged" = 1 ]; } || fail "the drop left a partial state"
echo "ok: kill -9 midway leaves all-or-nothing states"
