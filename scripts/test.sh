#!/usr/bin/env bash
# Runs every memory_guard test on this machine, provisioning what is missing first:
#   0. style:           cargo fmt --check, cargo clippy -D warnings, scripts/check_layers.py
#   1. pure logic:      cargo test -p memory_guard_core
#   2. SQL scenarios:   tests/run_regress.sh (pg_regress + pg_isolation_regress, throwaway cluster)
#   3. a real client:   tests/clients/sqitch.sh (sqitch deploy against the guard)
#      moving:          tests/clients/dump_restore.sh (pg_dump/pg_restore, pg_upgrade)
#      updating:        tests/clients/update.sh (ALTER EXTENSION memory_guard UPDATE from 0.1.0)
#   4. crash safety:    tests/crash/kill_backend.sh (kill -9 midway, all or nothing after recovery)
#   5. concurrency:     tests/concurrency/soak.sh 30 (8 pgbench clients)
#   6. Postgres' suite: tests/postgres_suite/run.sh (installcheck with and without memory_guard)
#   7. in Postgres:     cargo pgrx test pg15 --runas postgres
#      packaging:       tests/clients/package.sh (the .deb, installed with apt-get)
#   8. Postgres 17, 18:  provisioning, then 2 and 7 against each (MEMORY_GUARD_OTHER_MAJORS)
# Ends with one summary line: "N passed, N failed".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# Every build, install and test names the Postgres major it means: with several installed,
# Debian's pg_config wrapper would pick the newest.
PG_MAJOR=${PG_MAJOR:-15}
export PG_MAJOR

passed=0
failed=0
logdir=$(mktemp -d "${TMPDIR:-/tmp}/memory_guard_test.XXXXXX")
chmod 755 "$logdir"; chown postgres "$logdir"
trap 'rm -rf "$logdir"' EXIT
step() { printf '\n\033[1;34m== %s ==\033[0m\n' "$*"; }

# Adds the counts from a cargo test log ("test result: ok. N passed; M failed; ...").
count_cargo() {
  local p f
  p=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$6} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
}

step "style: cargo fmt --check, cargo clippy (warnings are errors; every unsafe block documented), layers"
if cargo fmt --all -- --check >"$logdir/fmt.log" 2>&1 && cargo clippy --all-targets -- -D warnings >"$logdir/clippy.log" 2>&1; then
  echo "fmt and clippy clean"; passed=$((passed + 1))
else
  cat "$logdir/fmt.log" "$logdir/clippy.log" | tail -40; failed=$((failed + 1))
fi
# src/ in layers: entry points, capabilities that never import each other, services, foundation.
if python3 scripts/check_layers.py; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

step "pure logic: cargo test -p memory_guard_core"
if cargo test -p memory_guard_core 2>&1 | tee "$logdir/core.log"; then :; else failed=$((failed + 1)); fi
count_cargo "$logdir/core.log"

# install_for MAJOR: builds and installs memory_guard for that major; a failure ends the run
# for 15 (nothing after it could pass) and counts as one failed test for the others.
install_for() {
  cargo pgrx install --pg-config "/usr/lib/postgresql/$1/bin/pg_config" --no-default-features \
    --features "pg$1" >"$logdir/install.log" 2>&1 && return 0
  cat "$logdir/install.log"
  [ "$1" = "$PG_MAJOR" ] && exit 1
  failed=$((failed + 1)); return 1
}
# regress_for MAJOR: the SQL scenarios and isolation specs against that major, counted.
regress_for() {
  local log="$logdir/regress$1.log" r_ok r_bad r_total
  if PG_MAJOR=$1 bash tests/run_regress.sh 2>&1 | tee "$log"; then :; fi
  # pg_regress prints one line per scenario or spec, ending in ok or FAILED (15) / "ok N - name"
  # and "not ok N - name" (17 and later).
  r_ok=$(grep -Ec '^(test |     )?[a-z0-9_]+ +\.\.\. ok|^ok [0-9]+ ' "$log" || true)
  r_bad=$(grep -Ec '^(test |     )?[a-z0-9_]+ +\.\.\. (FAILED|failed)|^not ok [0-9]+ ' "$log" || true)
  # ...plus the server-log checks run_regress.sh makes after the scenarios.
  r_total=$(( $(ls tests/sql/*.sql | wc -l) + $(ls tests/isolation/specs/*.spec | wc -l) + 3 ))
  # A scenario that never ran (a crash, a missing expected file) counts as failed.
  [ $((r_ok + r_bad)) -eq "$r_total" ] || r_bad=$((r_total - r_ok))
  passed=$((passed + r_ok)); failed=$((failed + r_bad))
}
# pgrx_tests_for MAJOR: the #[pg_test]s inside that major, counted; the plain build put back.
pgrx_tests_for() {
  local log="$logdir/pgrx$1.log"
  rm -rf "$logdir/pgrx-data$1"
  if cargo pgrx test "pg$1" --no-default-features --features "pg$1" --runas postgres \
       --pgdata "$logdir/pgrx-data$1" 2>&1 | tee "$log"; then :; else
    grep -q 'test result' "$log" || failed=$((failed + 1))
  fi
  count_cargo "$log"
  # cargo pgrx test leaves its debug build with test functions installed.
  install_for "$1" || true
}

# one_test NAME SHOW CMD...: a test script counted as one test; its log goes to $logdir/NAME.log,
# and is shown whole on failure, or through SHOW (a filter) on success.
one_test() {
  local name=$1 show=$2
  shift 2
  if "$@" >"$logdir/$name.log" 2>&1; then
    $show "$logdir/$name.log"; passed=$((passed + 1))
  else
    cat "$logdir/$name.log"; failed=$((failed + 1))
  fi
}
oks() { grep -E '^(ok|\[postgres_suite\])' "$1"; }
last_line() { tail -n 1 "$1"; }

step "SQL scenarios and isolation specs (pg_regress), Postgres $PG_MAJOR"
install_for "$PG_MAJOR"
regress_for "$PG_MAJOR"

step "a real migration client: sqitch (tests/clients/sqitch.sh)"
one_test sqitch oks bash tests/clients/sqitch.sh

step "moving a database: pg_dump/pg_restore and pg_upgrade (tests/clients/dump_restore.sh)"
one_test dump cat bash tests/clients/dump_restore.sh

step "updating in place: ALTER EXTENSION memory_guard UPDATE from 0.1.0 (tests/clients/update.sh)"
one_test update cat bash tests/clients/update.sh

step "crash safety: kill -9 midway (tests/crash/kill_backend.sh)"
one_test crash cat bash tests/crash/kill_backend.sh

step "concurrency: 8 clients for 30 s (tests/concurrency/soak.sh; 60 s on demand)"
one_test soak last_line bash tests/concurrency/soak.sh 30

step "Postgres' own regression suite, with and without memory_guard (tests/postgres_suite/run.sh)"
one_test suite oks bash tests/postgres_suite/run.sh

step "in Postgres: cargo pgrx test pg$PG_MAJOR --runas postgres"
pgrx_tests_for "$PG_MAJOR"

step "the Debian package: built, installed with apt-get, used, removed (tests/clients/package.sh)"
one_test package cat env PG_MAJOR="$PG_MAJOR" bash tests/clients/package.sh
# The package took its files with it: the source build goes back.
install_for "$PG_MAJOR"

# scenarios_from LOG PREFIX: counts the "PREFIX: test NAME ... ok|FAILED" lines of a runner's log;
# a log with none counts as one failure, unless it says the run was skipped.
scenarios_from() {
  local ok all
  ok=$(grep -Ec "^$2: test [a-z0-9_]+ +\.\.\. ok" "$1" || true)
  all=$(grep -Ec "^$2: test [a-z0-9_]+ +\.\.\. " "$1" || true)
  if [ "$all" -eq 0 ] && ! grep -q '^skipped: ' "$1"; then all=1; fi
  passed=$((passed + ok)); failed=$((failed + all - ok))
}
step "the managed edition (managed/memory_guard_managed.sql): scenarios without the native library (tests/managed/run.sh)"
bash tests/managed/run.sh 2>&1 | tee "$logdir/managed.log" || true
scenarios_from "$logdir/managed.log" managed

step "Citus: a coordinator and two workers (tests/citus/run.sh; skipped without a Citus build)"
bash tests/citus/run.sh 2>&1 | tee "$logdir/citus.log" || true
scenarios_from "$logdir/citus.log" citus

# The other current majors: provisioned (built from Debian's source packages the first time),
# then the scenarios, isolation specs, #[pg_test]s and the package against each. MEMORY_GUARD_OTHER_MAJORS
# names them (default "17 18"; empty to skip).
for major in ${MEMORY_GUARD_OTHER_MAJORS-17 18}; do
  [ "$major" = "$PG_MAJOR" ] && continue
  step "Postgres $major: provisioning, SQL scenarios and isolation specs, the managed edition, cargo pgrx test, package"
  PG_MAJOR=$major bash scripts/setup.sh || { echo "cannot provision Postgres $major"; failed=$((failed + 1)); continue; }
  install_for "$major" || continue
  regress_for "$major"
  PG_MAJOR=$major bash tests/managed/run.sh 2>&1 | sed "s/^managed: /managed$major: /" | tee "$logdir/managed$major.log" || true
  scenarios_from "$logdir/managed$major.log" "managed$major"
  pgrx_tests_for "$major"
  one_test "package$major" cat env PG_MAJOR="$major" bash tests/clients/package.sh
  install_for "$major" || true
done

echo
echo "memory_guard tests: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
