#!/usr/bin/env bash
# ALTER EXTENSION memory_guard UPDATE from the last released version (0.1.0, whose install script
# is kept in tests/fixtures) to this one, on a database that uses it: every record is kept, the
# guard goes on working with them, and the updated extension is the same as a fresh install
# (compared object by object: columns, keys, indexes, policies, functions, grants, what is dumped).
# Prints "ok <check>" per check, "FAILED <check>: <details>" and exits 1 on the first failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/cluster.sh"
log=$(mktemp)
released="$("$PGBIN/pg_config" --sharedir)/extension/memory_guard--0.1.0.sql"
# The released script is put where CREATE EXTENSION finds it, for this test only.
cleanup() { cluster_stop; rm -f "$log" "$released"; }
trap cleanup EXIT
ok() { echo "ok $1"; }
fail() { echo "FAILED $1: $2"; tail -n 20 "$log" | sed 's/^/  | /' >&2; exit 1; }
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -f - 2>>"$log"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }

# The released install script, where CREATE EXTENSION ... VERSION '0.1.0' finds it.
cp "$here/../fixtures/memory_guard--0.1.0.sql" "$released"
cluster_start "shared_preload_libraries = 'memory_guard'" >>"$log" 2>&1
export PGOPTIONS="-c client_min_messages=warning"
"$PGBIN/createdb" updated
"$PGBIN/createdb" fresh

sql updated >>"$log" <<SQL || fail "populate 0.1.0" "see the log"
CREATE EXTENSION vector;
CREATE EXTENSION memory_guard VERSION '0.1.0';
CREATE SCHEMA app;
CREATE TABLE app.notes AS SELECT g AS id, 'note ' || g AS body FROM generate_series(1, 30) g;
SELECT memory_guard.backup_table('app.notes') IS NOT NULL;
CREATE TABLE app.gone AS SELECT 1 AS id;
BEGIN;
SELECT memory_guard.allow_drop('app.gone', reason => 'before the update') IS NOT NULL;
DROP TABLE app.gone;
COMMIT;
\i $here/../fixtures/memory_tables_small.sql
INSERT INTO memory_notes (id, workspace_id, content, created_at, embedding, importance, metadata)
SELECT md5('n' || g)::uuid, md5('w')::uuid, 'note ' || g, '2025-01-01', '[1,2,3]', 'high', '{"k": 1}'
FROM generate_series(1, 12) g;
SELECT memory_guard.migrate_memory_notes()->>'verified';
CREATE FUNCTION app.lost() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = app, pg_temp AS 'SELECT 1';
ALTER FUNCTION app.lost() RESET search_path;
SQL
check "0.1.0 installed and in use" "0.1.0" "$(sql updated <<<"SELECT extversion FROM pg_extension WHERE extname = 'memory_guard'")"

if sql updated >>"$log" <<<"ALTER EXTENSION memory_guard UPDATE"; then ok "ALTER EXTENSION memory_guard UPDATE"
else fail "ALTER EXTENSION memory_guard UPDATE" "see the log"; fi
check "updated to 0.2.0" "0.2.0" "$(sql updated <<<"SELECT extversion FROM pg_extension WHERE extname = 'memory_guard'")"
check "drop_log kept" "1:app.gone:allow_drop" \
  "$(sql updated <<<"SELECT string_agg(id || ':' || table_name || ':' || guard, ',') FROM memory_guard.drop_log")"
check "the ledger kept, owners named" "backup:postgres:postgres,migration:postgres:postgres" \
  "$(sql updated <<<"SELECT string_agg(kind || ':' || source_owner_name || ':' || coalesce(copy_owner_name, ''), ',' ORDER BY id) FROM memory_guard.ledger")"
check "the backup still vouches for its table" "backup" \
  "$(sql updated <<<"BEGIN; DROP TABLE app.notes; SELECT guard FROM memory_guard.drop_log WHERE table_name = 'app.notes'; ROLLBACK;")"
check "the migration still vouches for memory_notes" "migration" \
  "$(sql updated <<<"BEGIN; DROP TABLE memory_notes; SELECT guard FROM memory_guard.drop_log WHERE table_name = 'public.memory_notes'; ROLLBACK;")"
check "the carried fields still answer" "12" \
  "$(sql updated <<<"SELECT count(*) FROM memory_guard.legacy_note_fields(ARRAY(SELECT id FROM memories), 'memories'::regclass) WHERE importance = 'high'")"
check "the lint still remembers the lost search_path" "app.lost()" \
  "$(sql updated <<<"SELECT string_agg(function::text, ',') FROM memory_guard.lint_functions(ARRAY['app']::name[]) WHERE rule = 'search_path_regression'")"
check "drop_log's ids go on after the old ones" "t" \
  "$(sql updated <<<"CREATE TABLE app.later AS SELECT 1 AS id; BEGIN; SELECT memory_guard.allow_drop('app.later', reason => 'after') \\g /dev/null
DROP TABLE app.later; COMMIT; SELECT min(id) FILTER (WHERE table_name = 'app.later') > max(id) FILTER (WHERE table_name = 'app.gone') FROM memory_guard.drop_log")"

# The updated extension against a fresh install, object by object.
sql fresh >>"$log" <<<"CREATE EXTENSION vector; CREATE EXTENSION memory_guard" || fail "a fresh install" "see the log"
sql updated <"$here/extension_objects.sql" >"$log.updated" || fail "describe the updated extension" "see the log"
sql fresh <"$here/extension_objects.sql" >"$log.fresh" || fail "describe a fresh install" "see the log"
if diff "$log.fresh" "$log.updated" >"$log.diff"; then ok "the updated extension is the same as a fresh install ($(wc -l <"$log.fresh") objects compared)"
else cat "$log.diff" >>"$log"; rm -f "$log.updated" "$log.fresh" "$log.diff"; fail "the updated extension is the same as a fresh install" "differences above"; fi
rm -f "$log.updated" "$log.fresh" "$log.diff"
