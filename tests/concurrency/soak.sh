#!/usr/bin/env bash
# Concurrency soak: 8 pgbench clients for SECONDS (default 60) mixing inserts, unguarded drops of
# tables holding rows (must fail), drops of empty tables, allow_drop + drop, and
# migrate_memory_notes() on a source that keeps growing. Loopback only, bounded in time.
# Afterwards: no table that held rows disappeared without a drop_log entry, no client aborted
# (no crash, no unexpected error or deadlock), and memories holds exactly one copy of every note.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SECONDS_RUN=${1:-60}
source "$here/../../scripts/cluster.sh"
cluster_start
work=$(mktemp -d)
trap 'cluster_stop; rm -rf "$work"' EXIT
export PGOPTIONS="-c client_min_messages=warning"
fail() { echo "soak FAILED: $*" >&2; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

q "CREATE EXTENSION memory_guard" >/dev/null 2>&1
q "CREATE EXTENSION vector"
psql -X -q -v ON_ERROR_STOP=1 -f "$here/../fixtures/memory_tables_small.sql"
# Every table that ever held committed rows is witnessed here, in the same transaction as its rows.
q "CREATE TABLE witness (name text PRIMARY KEY)"
# Table names come from a sequence: two clients drawing the same random number (it happened)
# made the witness insert fail, at random.
q "CREATE SEQUENCE soak_ids"

cat >"$work/churn.sql" <<'SQL'
SELECT nextval('soak_ids') AS n \gset
BEGIN;
CREATE TABLE w_:n (id int);
INSERT INTO w_:n SELECT generate_series(1, 5);
INSERT INTO witness VALUES ('w_:n');
COMMIT;
DO $$ BEGIN DROP TABLE w_:n; RAISE EXCEPTION 'unguarded drop of w_:n went through';
EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$;
BEGIN;
SELECT memory_guard.allow_drop('w_:n', 'soak test');
DROP TABLE w_:n;
COMMIT;
CREATE TABLE e_:n (id int);
DROP TABLE e_:n;
SQL
cat >"$work/notes.sql" <<'SQL'
INSERT INTO memory_notes (id, workspace_id, content, created_at, embedding, importance)
SELECT gen_random_uuid(), gen_random_uuid(), 'soak', now(), '[1,2,3]', 'low' FROM generate_series(1, 20);
SQL
cat >"$work/migrate.sql" <<'SQL'
SELECT memory_guard.migrate_memory_notes();
SQL
status=0
"$PGBIN/pgbench" -n -c 8 -j 2 -T "$SECONDS_RUN" -f "$work/churn.sql@6" -f "$work/notes.sql@3" -f "$work/migrate.sql@1" \
  >"$work/pgbench.log" 2>&1 || status=$?
grep -E "^(number of transactions actually processed|number of failed|tps)" "$work/pgbench.log" || true
[ "$status" -eq 0 ] || { cat "$work/pgbench.log"; fail "pgbench exited with $status"; }
grep -q "aborted" "$work/pgbench.log" && { grep -i "abort\|error" "$work/pgbench.log" | head; fail "a client aborted"; }

lost=$(q "SELECT count(*) FROM witness w WHERE to_regclass(w.name) IS NULL
          AND NOT EXISTS (SELECT 1 FROM memory_guard.drop_log d WHERE d.table_name = 'public.' || w.name AND d.guard = 'allow_drop')")
[ "$lost" = 0 ] || fail "$lost tables with rows vanished without a guarded drop_log entry"
q "SELECT memory_guard.migrate_memory_notes()" >/dev/null
read -r notes memories distinct < <(q "SELECT (SELECT count(*) FROM memory_notes), (SELECT count(*) FROM memories), (SELECT count(DISTINCT id) FROM memories)" | tr '|' ' ')
[ "$notes" = "$memories" ] && [ "$memories" = "$distinct" ] || fail "notes=$notes memories=$memories distinct=$distinct"
read -r tables logged < <(q "SELECT (SELECT count(*) FROM witness), (SELECT count(*) FROM memory_guard.drop_log)" | tr '|' ' ')
grep -q "server process .* was terminated" "$CLUSTER_DIR/server.log" && fail "a backend crashed"
echo "ok: ${SECONDS_RUN}s, 8 clients: $tables tables with rows, $logged guarded drops logged, none lost; $notes notes migrated exactly once"
