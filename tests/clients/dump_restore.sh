#!/usr/bin/env bash
# Real clients carrying a database that uses memory_guard to a new home, and what must survive:
#   A. pg_dump -Fc + pg_restore -d into a new database of the same cluster: drop_log, the ledger
#      and search_path_history are kept, drop_log's ids go on, and a table whose backup vouched
#      for it before still may be dropped (the backup still matches it).
#   B. pg_restore into a database with memory_guard.search_path_mode = error: a legacy
#      SECURITY DEFINER function without a pinned search_path is restored, not left out.
#   C. pg_upgrade 15 -> 15, the library preloaded in both clusters and the new one strict
#      (search_path_mode = error, drop_mode = enforce): it succeeds, data and records are kept.
# Prints "ok <check>" per passed check; on the first failure "FAILED <check>: <details>" (and the
# tail of the tools' log on stderr), and exits 1. KEEP_GOING=1 runs every check anyway and exits 1
# at the end if any failed. Needs the installed extension and pgvector; runs as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/cluster.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/memory_guard_dump.XXXXXX")
chmod 755 "$work"
chown postgres "$work"
log="$work/tools.log"
err="$work/last.err"
: >"$log"

# The two pg_upgrade clusters live in $work; stop whichever is running, then remove everything.
cleanup() {
  local d
  for d in "$work/old" "$work/new"; do
    [ -f "$d/postmaster.pid" ] && sudo -u postgres "$PGBIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1
  done
  cluster_stop
  rm -rf "$work"
}
trap cleanup EXIT

KEEP_GOING=${KEEP_GOING:-0}
failures=0
ok() { echo "ok $1"; }
fail() {
  echo "FAILED $1: $2"
  { echo "--- last lines of $log:"; tail -n 12 "$log" | sed 's/^/  | /'; } >&2
  failures=$((failures + 1))
  [ "$KEEP_GOING" = 1 ] || exit 1
}
# check NAME EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }
# The first error a tool reported in its last run.
last_error() { grep -m1 -E 'ERROR|FATAL|error:|failed' "$err" | tr -s ' ' || tail -n1 "$err"; }

# sql DB [psql options]: runs the SQL on stdin, prints the rows; messages go to the log.
sql() {
  local db=$1 rc=0
  shift
  echo "--- psql -d $db $*" >>"$log"
  psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@" -f - 2>"$err" || rc=$?
  cat "$err" >>"$log"
  return $rc
}
# tool CMD ARGS...: a client or server tool, its output to the log.
tool() {
  local rc=0
  echo "--- $*" >>"$log"
  "$@" >"$err" 2>&1 || rc=$?
  cat "$err" >>"$log"
  return $rc
}

# What the checks compare, before and after.
Q_DROP_LOG="SELECT coalesce(string_agg(id || ':' || table_name || ':' || guard, ',' ORDER BY id), '-') FROM memory_guard.drop_log"
Q_LEDGER="SELECT coalesce(string_agg(id || ':' || kind || ':' || source_name || ':' || copy_name || ':' || row_count || ':' || checksum, ',' ORDER BY id), '-') FROM memory_guard.ledger"
Q_DATA="SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM app.notes t)
          || '/' || (SELECT count(*) || ':' || md5(string_agg(m::text, ',' ORDER BY id)) FROM public.memories m)"
Q_HISTORY="SELECT coalesce(string_agg(signature || '=' || search_path, ',' ORDER BY signature), '-') FROM memory_guard.search_path_history WHERE signature LIKE 'app.%'"
Q_REGRESSION="SELECT coalesce(string_agg(function::text, ',' ORDER BY function::text), '-') FROM memory_guard.lint_functions(ARRAY['app']::name[]) WHERE rule = 'search_path_regression'"
Q_CARRYOVER="SELECT count(*) || ':' || count(*) FILTER (WHERE target_oid = 'public.memories'::regclass) FROM memory_guard.memory_notes_carryover"

# The database every part starts from: memory_guard with something in each of its records.
populate() { # DB
  sql "$1" -v fixture="$here/../fixtures/memory_tables_small.sql" >>"$log" <<'SQL'
CREATE EXTENSION vector;
CREATE EXTENSION memory_guard;
CREATE SCHEMA app;
CREATE TABLE app.notes (id int PRIMARY KEY, body text NOT NULL, embedding vector(3));
INSERT INTO app.notes SELECT g, 'note ' || g, '[1,2,3]' FROM generate_series(1, 50) g;
SELECT memory_guard.backup_table('app.notes') IS NOT NULL;
-- Two guarded drops in drop_log.
CREATE TABLE app.gone (id int);
INSERT INTO app.gone SELECT generate_series(1, 10);
CREATE TABLE app.gone_too (id int);
INSERT INTO app.gone_too VALUES (1);
BEGIN;
SELECT memory_guard.allow_drop('app.gone', reason => 'r');
DROP TABLE app.gone;
COMMIT;
BEGIN;
SELECT memory_guard.allow_drop('app.gone_too', reason => 'r');
DROP TABLE app.gone_too;
COMMIT;
-- A migration: its ledger entry and the side table memory_notes_carryover.
\i :fixture
INSERT INTO public.memory_notes (id, workspace_id, content, created_at, embedding, importance, metadata)
SELECT md5('n' || g)::uuid, md5('w')::uuid, 'note ' || g, '2025-01-01', '[1,2,3]', 'high', '{"k": 1}'
FROM generate_series(1, 20) g;
SELECT memory_guard.migrate_memory_notes()->>'verified';
-- search_path_history: a pinned SECURITY DEFINER function, and one that lost its pin since.
CREATE FUNCTION app.pinned() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = app, pg_temp
    AS 'SELECT count(*)::int FROM notes';
CREATE FUNCTION app.lost() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = app, pg_temp
    AS 'SELECT count(*)::int FROM app.notes';
ALTER FUNCTION app.lost() RESET search_path;
-- A legacy SECURITY DEFINER function that never had a search_path.
CREATE FUNCTION app.legacy() RETURNS int LANGUAGE sql SECURITY DEFINER
    AS 'SELECT count(*)::int FROM app.notes';
SQL
}

# guarded_drop_id DB: a table holding rows dropped with allow_drop; prints its drop_log id.
guarded_drop_id() {
  sql "$1" <<'SQL'
CREATE TABLE app.later (id int);
INSERT INTO app.later VALUES (1);
BEGIN;
SELECT memory_guard.allow_drop('app.later', reason => 'after the move') AS permit \gset
DROP TABLE app.later;
COMMIT;
SELECT max(id) FROM memory_guard.drop_log WHERE table_name = 'app.later';
SQL
}
# dropped_guard DB TABLE: drops TABLE without allow_drop and rolls back; prints drop_log's guard.
dropped_guard() {
  sql "$1" -v tbl="$2" <<'SQL'
BEGIN;
DROP TABLE :tbl;
SELECT guard FROM memory_guard.drop_log WHERE table_name = :'tbl' ORDER BY id DESC LIMIT 1;
ROLLBACK;
SQL
}
# expect_drop_guard NAME DB TABLE GUARD
expect_drop_guard() {
  local got
  if got=$(dropped_guard "$2" "$3"); then check "$1" "$4" "$got"; else fail "$1" "$(last_error)"; fi
}
# expect_query NAME DB EXPECTED QUERY
expect_query() {
  local got
  if got=$(sql "$2" <<<"$4"); then check "$1" "$3" "$got"; else fail "$1" "$(last_error)"; fi
}

# ---------------------------------------------------------------------------------------------
# A and B: one cluster (the library preloaded, as recommended), dumps restored into new databases.
cluster_start "shared_preload_libraries = 'memory_guard'" >>"$log" 2>&1 || fail "start a cluster" "see the log"
export PGOPTIONS="-c client_min_messages=warning"

tool "$PGBIN/createdb" src || fail "createdb src" "$(last_error)"
populate src || fail "populate the source database" "$(last_error)"
src_drop_log=$(sql src <<<"$Q_DROP_LOG")
src_ledger=$(sql src <<<"$Q_LEDGER")
src_data=$(sql src <<<"$Q_DATA")
src_history=$(sql src <<<"$Q_HISTORY")
src_max_id=$(sql src <<<"SELECT max(id) FROM memory_guard.drop_log")
check "A0 source: drop_log holds the two guarded drops" "1:app.gone:allow_drop,2:app.gone_too:allow_drop" "$src_drop_log"
check "A0 source: search_path_history holds app.lost() and app.pinned()" \
  "app.lost()=app, pg_temp,app.pinned()=app, pg_temp" "$src_history"
expect_query "A0 source: lint_functions() reports app.lost()'s lost search_path" src "app.lost()" "$Q_REGRESSION"
expect_drop_guard "A0 source: DROP TABLE app.notes passes, guarded by its backup" src app.notes backup
expect_drop_guard "A0 source: DROP TABLE memory_notes passes, guarded by its migration" src public.memory_notes migration

# D (set up here, checked after the restore): a role that takes over a name gains nothing. Both
# roles may create in public, as in databases created before Postgres 15. The victim's table is
# backed up and dropped; mallory then creates a table of the same name. A function of mallory's
# pinned a search_path and went with a type it used: its history row names a type that is gone.
sql src >>"$log" <<'SQL' || fail "D set up the takeovers" "$(last_error)"
CREATE ROLE victim LOGIN;
CREATE ROLE mallory LOGIN;
GRANT CREATE ON SCHEMA public TO victim, mallory;
SET ROLE victim;
CREATE TABLE public.secrets (id int, secret text);
INSERT INTO public.secrets VALUES (1, 'hunter2');
SELECT memory_guard.backup_table('public.secrets') IS NOT NULL;
DROP TABLE public.secrets;
SET ROLE mallory;
CREATE TABLE public.secrets (id int, secret text);
CREATE TYPE public.shape AS (a int);
CREATE FUNCTION public.uses_shape(public.shape) RETURNS int LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp AS 'SELECT 1';
DROP TYPE public.shape CASCADE;
RESET ROLE;
SQL

# What the dump holds, the takeovers' records included.
src_drop_log=$(sql src <<<"$Q_DROP_LOG")
src_ledger=$(sql src <<<"$Q_LEDGER")
src_max_id=$(sql src <<<"SELECT max(id) FROM memory_guard.drop_log")

# A1: the round trip.
if tool "$PGBIN/pg_dump" -Fc -d src -f "$work/src.dump"; then ok "A1 pg_dump -Fc of the source"
else fail "A1 pg_dump -Fc of the source" "$(last_error)"; fi
tool "$PGBIN/createdb" restored || fail "createdb restored" "$(last_error)"
if tool "$PGBIN/pg_restore" -d restored "$work/src.dump"; then ok "A1 pg_restore -d restored (a new database)"
else fail "A1 pg_restore -d restored (a new database)" "$(last_error)"; fi

# A2
expect_query "A2 restored: app.notes and memories hold the same rows" restored "$src_data" "$Q_DATA"
expect_query "A2 restored: drop_log rows kept" restored "$src_drop_log" "$Q_DROP_LOG"
if new_id=$(guarded_drop_id restored); then
  if [ -n "$new_id" ] && [ "$new_id" -gt "$src_max_id" ]; then ok "A2 restored: a new guarded drop gets drop_log id $new_id > $src_max_id"
  else fail "A2 restored: a new guarded drop continues drop_log's ids" "id '$new_id', not > $src_max_id"; fi
else
  fail "A2 restored: a new guarded drop continues drop_log's ids" "$(last_error)"
fi
expect_query "A2 restored: ledger rows kept" restored "$src_ledger" "$Q_LEDGER"
expect_query "A2 restored: memory_notes_carryover rows still point at public.memories" restored "20:20" "$Q_CARRYOVER"
expect_drop_guard "A2 restored: DROP TABLE app.notes passes, guarded by its backup" restored app.notes backup
expect_drop_guard "A2 restored: DROP TABLE memory_notes passes, guarded by its migration" restored public.memory_notes migration

# A3
expect_query "A3 restored: search_path_history rows kept" restored "$src_history" "$Q_HISTORY"
expect_query "A3 restored: lint_functions() still reports app.lost()'s lost search_path" restored "app.lost()" "$Q_REGRESSION"

# D: after the restore, the victim's backup is still the victim's alone.
if sql restored <<<"SET ROLE mallory; SELECT memory_guard.restore_table('public.secrets', 'public.loot')" >>"$log"; then
  fail "D restored: mallory cannot restore the victim's backup through a table of the same name" "the restore went through"
elif grep -q "no backup of public.secrets" "$err"; then ok "D restored: mallory cannot restore the victim's backup through a table of the same name"
else fail "D restored: mallory cannot restore the victim's backup through a table of the same name" "$(last_error)"; fi
expect_query "D restored: the victim still can" restored "hunter2" \
  "SET ROLE victim;
SELECT memory_guard.restore_table('public.secrets', 'public.secrets_again') \\g /dev/null
SELECT secret FROM public.secrets_again"
expect_query "D restored: a history row naming a type that is gone does not stop lint_functions()" restored "0" \
  "SELECT count(*) FROM memory_guard.lint_functions(ARRAY['public']::name[]) WHERE function::text LIKE 'uses_shape%'"

# D: a keying that its transaction rolls back is not remembered by the session (it was, and the
# session then read records still keyed to the old database).
tool "$PGBIN/createdb" restored_again || fail "createdb restored_again" "$(last_error)"
tool "$PGBIN/pg_restore" -d restored_again "$work/src.dump" || fail "pg_restore -d restored_again" "$(last_error)"
expect_query "D restored: a keying rolled back is not remembered" restored_again "f" \
  "BEGIN;
SELECT count(*) FROM memory_guard.lint_functions() \\g /dev/null
ROLLBACK;
SELECT memory_guard.records_keyed_here()"

# B: a strict target database. The setting is in force there (a new legacy function is refused),
# and the restore of the same dump, legacy functions included, still succeeds.
tool "$PGBIN/createdb" strict || fail "createdb strict" "$(last_error)"
sql postgres >>"$log" <<<"ALTER DATABASE strict SET memory_guard.search_path_mode = 'error'" \
  || fail "B ALTER DATABASE strict SET memory_guard.search_path_mode = 'error'" "$(last_error)"
if tool "$PGBIN/pg_restore" -d strict "$work/src.dump"; then ok "B pg_restore into a database with search_path_mode = error"
else fail "B pg_restore into a database with search_path_mode = error" "$(last_error)"; fi
expect_query "B strict: the legacy SECURITY DEFINER functions exist, without search_path" strict "app.legacy():,app.lost():" \
  "SELECT string_agg(oid::regprocedure || ':' || coalesce(array_to_string(proconfig, ';'), ''), ',' ORDER BY oid::regprocedure::text)
   FROM pg_proc WHERE oid IN (to_regprocedure('app.legacy()'), to_regprocedure('app.lost()')) AND prosecdef"
expect_query "B strict: the data is restored" strict "$src_data" "$Q_DATA"
if sql strict >>"$log" <<<"CREATE FUNCTION app.new_legacy() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'"; then
  fail "B strict: search_path_mode = error is in force there" "a new legacy SECURITY DEFINER function was created"
elif grep -q "42P17\|memory_guard" "$err"; then ok "B strict: search_path_mode = error is in force there (a new legacy function is refused)"
else fail "B strict: search_path_mode = error is in force there" "$(last_error)"; fi
cluster_stop

# ---------------------------------------------------------------------------------------------
# C: pg_upgrade between two throwaway clusters in $work (owned by postgres, so pg_upgrade can
# write its files there).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
old_port=$(free_port)
new_port=$(free_port)
init_cluster() { # DIR PORT [postgresql.conf line ...]
  local dir=$1 port=$2
  shift 2
  tool sudo -u postgres "$PGBIN/initdb" -D "$dir" -A trust -U postgres --no-sync || return 1
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$work'"
    echo "port = $port"
    echo "fsync = off"
    echo "shared_preload_libraries = 'memory_guard'"
    for line in "$@"; do echo "$line"; done
  } >>"$dir/postgresql.conf"
}
pg_ctl_as_postgres() { tool sudo -u postgres "$PGBIN/pg_ctl" -D "$1" -l "$work/$(basename "$1").log" -w "$2"; }

init_cluster "$work/old" "$old_port" || fail "C initdb of the old cluster" "$(last_error)"
init_cluster "$work/new" "$new_port" "memory_guard.search_path_mode = error" "memory_guard.drop_mode = enforce" \
  || fail "C initdb of the new cluster" "$(last_error)"
pg_ctl_as_postgres "$work/old" start || fail "C start the old cluster" "$(last_error)"
export PGHOST=$work PGPORT=$old_port PGUSER=postgres
tool "$PGBIN/createdb" app || fail "C createdb app in the old cluster" "$(last_error)"
populate app || fail "C populate the old cluster" "$(last_error)"
old_drop_log=$(sql app <<<"$Q_DROP_LOG")
old_ledger=$(sql app <<<"$Q_LEDGER")
old_data=$(sql app <<<"$Q_DATA")
old_max_id=$(sql app <<<"SELECT max(id) FROM memory_guard.drop_log")
pg_ctl_as_postgres "$work/old" stop || fail "C stop the old cluster" "$(last_error)"

if (cd "$work" && tool sudo -u postgres "$PGBIN/pg_upgrade" -b "$PGBIN" -B "$PGBIN" -d "$work/old" -D "$work/new" \
      -p "$old_port" -P "$new_port" -s "$work" -U postgres); then
  ok "C pg_upgrade to a cluster with search_path_mode = error, drop_mode = enforce"
else
  fail "C pg_upgrade to a cluster with search_path_mode = error, drop_mode = enforce" "$(last_error)"
fi
pg_ctl_as_postgres "$work/new" start || fail "C start the upgraded cluster" "$(last_error)"
export PGPORT=$new_port
expect_query "C upgraded: the strict settings are in force" app "error:enforce" \
  "SELECT current_setting('memory_guard.search_path_mode') || ':' || current_setting('memory_guard.drop_mode')"
expect_query "C upgraded: app.notes and memories hold the same rows" app "$old_data" "$Q_DATA"
expect_query "C upgraded: drop_log rows kept" app "$old_drop_log" "$Q_DROP_LOG"
expect_query "C upgraded: ledger rows kept" app "$old_ledger" "$Q_LEDGER"
expect_query "C upgraded: the legacy SECURITY DEFINER function exists" app "app.legacy()" \
  "SELECT oid::regprocedure FROM pg_proc WHERE oid = to_regprocedure('app.legacy()') AND prosecdef AND proconfig IS NULL"
if new_id=$(guarded_drop_id app); then
  if [ -n "$new_id" ] && [ "$new_id" -gt "$old_max_id" ]; then ok "C upgraded: a new guarded drop gets drop_log id $new_id > $old_max_id"
  else fail "C upgraded: a new guarded drop continues drop_log's ids" "id '$new_id', not > $old_max_id"; fi
else
  fail "C upgraded: a new guarded drop continues drop_log's ids" "$(last_error)"
fi
expect_drop_guard "C upgraded: DROP TABLE app.notes passes, guarded by its backup" app app.notes backup
expect_query "C upgraded: lint_functions() still reports app.lost()'s lost search_path" app "app.lost()" "$Q_REGRESSION"
pg_ctl_as_postgres "$work/new" stop || fail "C stop the upgraded cluster" "$(last_error)"

[ "$failures" -eq 0 ] || exit 1
