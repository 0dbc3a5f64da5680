#!/usr/bin/env bash
# The Debian package (scripts/package.sh), installed with apt-get on this machine, serves a clean
# cluster: CREATE EXTENSION from it, a populated DROP refused, a guarded one let through and
# logged; then the package is removed and its files with it. Prints "ok <check>" per check;
# "FAILED <check>: <details>" and exit 1 on the first failure. Reinstall the source build after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/cluster.sh"
log=$(mktemp)
name="postgresql-$PG_MAJOR-memory-guard"
# Whatever happens, the package does not stay installed.
cleanup() {
  cluster_stop
  dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed' && dpkg -r "$name" >/dev/null 2>&1
  rm -f "$log"
}
trap cleanup EXIT
ok() { echo "ok $1"; }
fail() { echo "FAILED $1: $2"; tail -n 20 "$log" | sed 's/^/  | /' >&2; exit 1; }

deb=$(PG_MAJOR=$PG_MAJOR bash "$here/../../scripts/package.sh" 2>>"$log") || fail "build the package" "see the log"
ok "built $(basename "$deb")"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --reinstall "$here/../../$deb" >>"$log" 2>&1 || fail "apt-get install ./$(basename "$deb")" "see the log"
so=$("$PGBIN/pg_config" --pkglibdir)/memory_guard.so
owner=$(dpkg -S "$so" 2>/dev/null | cut -d: -f1 || true)
[ "$owner" = "$name" ] && ok "installed with apt-get; $so belongs to $name" || fail "the library comes from the package" "dpkg -S says '$owner'"

cluster_start >>"$log" 2>&1
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1" 2>>"$log"; }
q "CREATE EXTENSION memory_guard" >/dev/null || fail "CREATE EXTENSION memory_guard" "see the log"
[ "$(q "SELECT extversion FROM pg_extension WHERE extname = 'memory_guard'")" = "$(awk -F'"' '/^version = / {print $2; exit}' "$here/../../Cargo.toml")" ] \
  && ok "CREATE EXTENSION memory_guard from the package" || fail "the packaged version is installed" "see the log"
q "CREATE TABLE notes AS SELECT g AS id FROM generate_series(1, 10) g" >/dev/null
if q "DROP TABLE notes" >/dev/null 2>&1; then fail "a populated DROP is refused" "the table was dropped"; fi
grep -q "memory_guard: DROP TABLE would delete table public.notes, which holds rows" "$log" \
  && ok "a populated DROP is refused" || fail "a populated DROP is refused" "no refusal in the log"
psql -X -q -At -v ON_ERROR_STOP=1 >>"$log" 2>&1 <<'SQL' || fail "a guarded DROP goes through" "see the log"
BEGIN;
SELECT memory_guard.allow_drop('notes', reason => 'package test');
DROP TABLE notes;
COMMIT;
SQL
[ "$(q "SELECT guard FROM memory_guard.drop_log WHERE table_name = 'public.notes'")" = "allow_drop" ] \
  && ok "a guarded DROP goes through, logged" || fail "a guarded DROP is logged" "see the log"
cluster_stop

dpkg -r "$name" >>"$log" 2>&1 || fail "dpkg -r $name" "see the log"
[ ! -e "$so" ] && ok "removed with dpkg -r, its files with it" || fail "dpkg -r removes the library" "$so is still there"
