#!/usr/bin/env bash
# The native extension's scenarios (tests/sql), and the managed edition's own (tests/managed/sql),
# run against the managed edition (managed/memory_guard_managed.sql) on a cluster where the
# native library is neither preloaded nor created: each scenario gets a fresh database with
# pgvector and the managed edition installed by a superuser with psql, as a user would.
# Expected outputs: tests/managed/expected; why they differ from the native ones:
# managed/DIFFERENCES.md.
#
#   tests/managed/run.sh                  # every scenario listed below
#   tests/managed/run.sh drop_guard_basic # some of them
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../../scripts/cluster.sh
source "$root/scripts/cluster.sh"
PGXS_TEST=/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test

# Native scenarios that apply to what the managed edition offers (the others test the toolkit,
# the audit, type changes or library loading, which it does not have: managed/DIFFERENCES.md).
native=(drop_guard_basic drop_guard_cascade drop_guard_columns drop_guard_partitions
        drop_guard_nested drop_guard_own_deletes drop_guard_probe truncate_guard
        search_path_lint acknowledge_anywhere seed_history bypass_attempts)
mapfile -t own < <(cd "$here/sql" && ls -- *.sql 2>/dev/null | sed "s/\.sql$//" | sort)
if [ $# -gt 0 ]; then scenarios=("$@"); else scenarios=("${native[@]}" "${own[@]}"); fi

cluster_start
work=$(mktemp -d)
trap 'cluster_stop; rm -rf "$work"' EXIT
mkdir -p "$work/sql"
mkdir -p "$work/expected"
for f in "$root"/tests/sql/*.sql "$here"/sql/*.sql; do ln -sf "$f" "$work/sql/"; done

status=0
rm -rf "$here/results" "$here/regression.diffs" "$here/regression.out"
for s in "${scenarios[@]}"; do
  # The native runner's database name: some scenarios \connect back to it.
  db=memory_guard_regress
  "$PGBIN/dropdb" --if-exists "$db" >/dev/null 2>&1 || true
  "$PGBIN/createdb" "$db"
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION vector" >/dev/null
  PGOPTIONS="-c client_min_messages=warning" \
    psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$db" \
    -f "$root/managed/memory_guard_managed.sql" >/dev/null
  # Scenarios \i the fixtures with paths relative to tests/. pg_regress runs them; the comparison
  # is made here, after dropping the line numbers of PL/pgSQL CONTEXT lines (they name lines of
  # managed/memory_guard_managed.sql, and would change with every edit of it).
  (cd "$root/tests" && "$PGXS_TEST/regress/pg_regress" --use-existing --host="$PGHOST" --port="$PGPORT" \
     --user=postgres --dbname="$db" --inputdir="$work" --outputdir="$here" "$s" >"$work/$s.log" 2>&1) || true
  if [ ! -f "$here/results/$s.out" ]; then
    cat "$work/$s.log"; echo "managed: test $s ... FAILED (no output)"; status=1; continue
  fi
  sed -E -i 's/^(CONTEXT:  PL\/pgSQL function [^ ]+) line [0-9]+ at /\1 at /' "$here/results/$s.out"
  # Where a major changes Postgres' own output, an alternative expected file (NAME_1.out, …).
  matched=
  for e in "$here/expected/$s.out" "$here/expected/${s}"_[0-9].out; do
    [ -f "$e" ] && diff -q "$e" "$here/results/$s.out" >/dev/null 2>&1 && matched=$e && break
  done
  diff -u "$here/expected/$s.out" "$here/results/$s.out" >"$here/results/$s.diff" 2>&1 || true
  if [ -n "$matched" ]; then
    echo "managed: test $s ... ok"
    rm -f "$here/results/$s.diff"
  else
    cat "$here/results/$s.diff"
    echo "managed: test $s ... FAILED"
    status=1
  fi
done
exit $status
