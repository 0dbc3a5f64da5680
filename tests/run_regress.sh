#!/usr/bin/env bash
# SQL scenarios (tests/sql/*.sql against tests/expected/*.out) and isolation specs
# (tests/isolation/specs/*.spec) with Postgres' own pg_regress and pg_isolation_regress, against a
# throwaway cluster that is removed afterwards. The installed memory_guard build is used.
#
#   tests/run_regress.sh                 # everything
#   tests/run_regress.sh drop_guard_basic # one scenario (or several) by name
#
# On a difference the diffs are printed; to accept new output after checking it by eye:
#   cp tests/results/NAME.out tests/expected/NAME.out
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../scripts/cluster.sh
source "$here/../scripts/cluster.sh"
PGXS_TEST=/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test

cluster_start
trap cluster_stop EXIT

common=(--host="$PGHOST" --port="$PGPORT" --user=postgres
        --load-extension=memory_guard --load-extension=vector --dbname=memory_guard_regress)

if [ $# -gt 0 ]; then
  scenarios=("$@"); specs=()
else
  mapfile -t scenarios < <(cd "$here/sql" && ls -- *.sql | sed 's/\.sql$//' | sort)
  mapfile -t specs < <(cd "$here/isolation/specs" && ls -- *.spec 2>/dev/null | sed 's/\.spec$//' | sort)
fi

status=0
rm -rf "$here/results" "$here/regression.diffs" "$here/regression.out"
# Scenarios \i the fixtures with paths relative to tests/.
(cd "$here" && "$PGXS_TEST/regress/pg_regress" "${common[@]}" --inputdir="$here" --outputdir="$here" \
   "${scenarios[@]}") || status=$?
if [ $status -ne 0 ] && [ -f "$here/regression.diffs" ]; then cat "$here/regression.diffs"; fi

if [ ${#specs[@]} -gt 0 ]; then
  iso="$here/isolation"
  rm -rf "$iso/results" "$iso/output_iso" "$iso/regression.diffs" "$iso/regression.out"
  iso_status=0
  (cd "$iso" && "$PGXS_TEST/isolation/pg_isolation_regress" "${common[@]}" --inputdir="$iso" \
     --outputdir="$iso" "${specs[@]}") || iso_status=$?
  if [ $iso_status -ne 0 ] && [ -f "$iso/regression.diffs" ]; then cat "$iso/regression.diffs"; fi
  [ $iso_status -eq 0 ] || status=$iso_status
fi
# Blocked drops are also written to the server log, with the fields drop_log keeps.
# check NAME SCENARIO LINE...: every LINE is in the server log once SCENARIO has run.
server_log_check() {
  local name=$1 scenario=$2; shift 2
  printf '%s\n' "${scenarios[@]}" | grep -qx "$scenario" || return 0
  local line
  for line in "$@"; do
    if ! grep -qF "$line" "$CLUSTER_DIR/server.log"; then
      echo "test $name ... FAILED (no line: $line)"; status=1; return
    fi
  done
  echo "test $name ... ok"
}
server_log_check server_log_records_blocked_drops drop_guard_basic \
  'LOG:  memory_guard: blocked DROP TABLE of table basic.notes: estimated_rows=unknown guard=none reason=none role=postgres'
# Log modes: what the client did not see is in the server log, report and all.
server_log_check server_log_holds_log_mode_reports drop_guard_settings \
  'LOG:  memory_guard: logged DROP TABLE of table settings.t4: estimated_rows=unknown guard=none reason=none role=postgres' \
  'LOG:  memory_guard: DROP TABLE would delete table settings.t4, which holds rows' \
  'LOG:  memory_guard: function settings.touch() has no pinned search_path' \
  'LOG:  memory_guard: ALTER TABLE converts column settings.t3.x from integer to smallint, which can lose information'
# A permitted DROP EXTENSION memory_guard takes drop_log along: the server log keeps the record.
server_log_check server_log_records_drops_drop_log_went_with drop_guard_extension \
  'LOG:  memory_guard: DROP EXTENSION of table memory_guard.memory_notes_carryover let through by allow_drop (reason: carried fields exported; allowed by postgres; estimated_rows='
exit $status
