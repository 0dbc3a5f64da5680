#!/usr/bin/env bash
# A real migration client: sqitch deploys the seed's history (one transaction per change). The
# problem migration fails as a deploy with the guard's message and leaves the database exactly as
# before; its guarded version (migrate first, then DROP, then the shim) deploys.
# Exits non-zero when any of that does not hold. Needs the installed extension and sqitch.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures="$here/../fixtures"
source "$here/../../scripts/cluster.sh"
cluster_start
work=$(mktemp -d)
trap 'cluster_stop; rm -rf "$work"' EXIT
export SQITCH_FULLNAME="memory_guard tests" SQITCH_EMAIL="tests@memory-guard.invalid"
export PGOPTIONS="-c client_min_messages=warning" PGDATABASE=sqitch_app
fail() { echo "sqitch client test FAILED: $*" >&2; exit 1; }

"$PGBIN/createdb" sqitch_app
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION memory_guard" 2>/dev/null
cd "$work"
sqitch init memory --engine pg --target db:pg:sqitch_app >/dev/null
add_change() { # name, deploy file
  sqitch add "$1" -n "$1" >/dev/null
  cp "$2" "deploy/$1.sql"
  echo "-- not revertible in this test" >"revert/$1.sql"
}
for f in "$fixtures"/20251119*.sql; do
  add_change "m$(basename "$f" .sql | cut -d_ -f1)" "$f"
done
sqitch deploy >/dev/null || fail "the history did not deploy"
psql -X -q -v ON_ERROR_STOP=1 -f "$fixtures/seed_data.sql" >/dev/null
before=$(psql -X -At -c "SELECT count(*) || ':' || coalesce(to_regclass('memories')::text, '-') FROM memory_notes")

add_change m20251123000000 "$fixtures/20251123000000_enhance_memory_system.sql"
status=0
sqitch deploy >"$work/deploy.log" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "the unguarded DROP deployed"
grep -q "memory_guard: DROP TABLE would delete table public.memory_notes, which holds rows" "$work/deploy.log" \
  || { cat "$work/deploy.log"; fail "the deploy failed without the guard's message"; }
after=$(psql -X -At -c "SELECT count(*) || ':' || coalesce(to_regclass('memories')::text, '-') FROM memory_notes")
[ "$before" = "$after" ] || fail "the database changed: $before -> $after"
sqitch status 2>/dev/null | grep -q "m20251123000000" || fail "sqitch does not list the change as undeployed"
echo "ok: sqitch deploy of 20251123000000 refused, database unchanged ($after)"

# The change never deployed, so its script may still be fixed: the guarded version deploys.
{
  grep -v '^DROP TABLE IF EXISTS memory_notes' "$fixtures/20251123000000_enhance_memory_system.sql"
  echo "SELECT memory_guard.migrate_memory_notes();"
  echo "DROP TABLE IF EXISTS memory_notes CASCADE;"
  echo "SELECT memory_guard.install_search_memory_notes_shim();"
} >deploy/m20251123000000.sql
sqitch deploy >"$work/deploy2.log" 2>&1 || { cat "$work/deploy2.log"; fail "the guarded migration did not deploy"; }
guard=$(psql -X -At -c "SELECT guard FROM memory_guard.drop_log WHERE table_name = 'public.memory_notes'")
[ "$guard" = "migration" ] || fail "drop_log says '$guard', not migration"
rows=$(psql -X -At -c "SELECT count(*) FROM search_memory_notes((SELECT embedding FROM memories WHERE id = md5('memory_note_20')::uuid), '00000000-0000-4000-8000-000000000003', 0.5, 3)")
[ "$rows" = 3 ] || fail "search_memory_notes answered $rows rows, not 3"
echo "ok: the guarded migration deployed with sqitch; drop_log guard = migration; search_memory_notes answers"
