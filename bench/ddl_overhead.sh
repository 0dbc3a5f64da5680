#!/usr/bin/env bash
# DDL overhead: a DDL-heavy workload (create/alter/drop empty tables, indexes and functions,
# 8 statements per transaction) against five databases of one cluster: no extension,
# memory_guard, its managed edition (managed/memory_guard_managed.sql, PL/pgSQL event triggers),
# a naive PL/pgSQL event trigger that runs SELECT EXISTS on the table a DROP TABLE names, and a
# second database without the extension (the noise floor). Transactions go
# to the four in turn, one at a time, in a new shuffled order each turn. The cluster lives on tmpfs when /dev/shm exists: most of a
# CREATE TABLE's time is the file system's, and ext4's varies from run to run.
#
# Two ways to count the work of each database's backend:
#   cpu (default)  its CPU time, user and system, from /proc/PID/schedstat in nanoseconds. On
#                  this shared 2-core machine, runs taken one after another (or side by side)
#                  differed by more than the 3% being measured; interleaving gives every database
#                  the same machine, pinning (below) the same core, and a round's ratio of two
#                  identical databases still moves by a couple of percent.
#   instructions   the instructions it executed, counted by valgrind's callgrind with the whole
#                  server running under it: the same on every run, whatever else the machine is
#                  doing, but blind to time spent in the kernel (file creation and removal, the
#                  same in all four databases), so the ratio is of user-space work only.
# Prints the median per transaction and of the per-round ratios; "no extension" is the mean of the
# two databases without it.
#   bash bench/ddl_overhead.sh [transactions per database and round (200)] [rounds (21)] [cpu|instructions]
#   bash bench/ddl_overhead.sh 40 3 instructions     # about 2 minutes
# ALT_LIB=dir adds a fifth database whose sessions load memory_guard.so from dir instead (its
# dynamic_library_path), to compare two builds side by side in one run, e.g. one made with
# `cargo pgrx package` from an earlier commit (its .../lib/postgresql/15/lib directory). Both
# use the installed extension SQL, so the builds must define the same SQL functions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
TXNS=${1:-200}
ROUNDS=${2:-21}
COUNT=${3:-cpu}
case "$COUNT" in
  cpu) ;;
  instructions) command -v valgrind >/dev/null || { echo "instructions needs valgrind" >&2; exit 1; } ;;
  *) echo "count cpu or instructions, not $COUNT" >&2; exit 1 ;;
esac
source scripts/cluster.sh
[ -d /dev/shm ] && export TMPDIR=/dev/shm
cluster_start "autovacuum = off"
keep_callgrind() {
  if [ -n "${KEEP_CALLGRIND:-}" ] && [ -d "${CALLGRIND_DIR:-}" ]; then
    mkdir -p "$KEEP_CALLGRIND" && cp "$CALLGRIND_DIR"/cg.* "$KEEP_CALLGRIND"/
  fi
  cluster_stop
}
trap keep_callgrind EXIT
if [ "$COUNT" = instructions ]; then
  # The same server again, under callgrind: backends are forked, not executed, so each is
  # counted in its own output file, written when it exits.
  sudo -u postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -w stop >/dev/null
  export CALLGRIND_DIR=$CLUSTER_DIR/callgrind
  mkdir -p "$CALLGRIND_DIR" && chown postgres "$CALLGRIND_DIR"
  printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s/cg.%%p --dump-instr=no "%s" "$@"\n' \
    "$CALLGRIND_DIR" "$PGBIN/postgres" >"$CLUSTER_DIR/postgres-under-callgrind"
  chmod 755 "$CLUSTER_DIR/postgres-under-callgrind"
  sudo -u postgres "$PGBIN/pg_ctl" -p "$CLUSTER_DIR/postgres-under-callgrind" -D "$CLUSTER_DIR/data" \
    -l "$CLUSTER_DIR/server.log" -w -t 300 start >/dev/null
fi
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -gt 1 ] && command -v taskset >/dev/null; then
  # Every backend on the last core, this script and psql on the others: the four databases then
  # take turns on one core and its caches. Unpinned, the kernel moved them between cores and a
  # round's ratio of two identical databases ranged over 0.93-1.14; pinned, over 0.97-1.04.
  # PIN=0 turns it off.
  last=$(( $(nproc) - 1 ))
  taskset -a -p -c "$last" "$(head -1 "$CLUSTER_DIR/data/postmaster.pid")" >/dev/null
  taskset -p -c "0-$((last - 1))" $$ >/dev/null
fi
for db in none guard managed plpgsql control; do "$PGBIN/createdb" "bench_$db"; done
psql -X -q -d bench_guard -c "CREATE EXTENSION memory_guard" 2>/dev/null
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 --single-transaction \
  -d bench_managed -f managed/memory_guard_managed.sql
if [ -n "${ALT_LIB:-}" ]; then
  [ -r "$ALT_LIB/memory_guard.so" ] || { echo "ALT_LIB: no memory_guard.so in $ALT_LIB" >&2; exit 1; }
  "$PGBIN/createdb" bench_alt
  psql -X -q -d bench_alt -c "ALTER DATABASE bench_alt SET dynamic_library_path = '$ALT_LIB:\$libdir'"
  psql -X -q -d bench_alt -c "CREATE EXTENSION memory_guard" 2>/dev/null
fi
psql -X -q -d bench_plpgsql <<'SQL'
CREATE FUNCTION naive_drop_guard() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE m text[]; has_rows boolean;
BEGIN
  IF tg_tag <> 'DROP TABLE' THEN RETURN; END IF;
  FOR m IN SELECT regexp_matches(current_query(), 'DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([\w."]+)', 'gi') LOOP
    IF to_regclass(m[1]) IS NOT NULL THEN
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', m[1]) INTO has_rows;
      IF has_rows THEN RAISE EXCEPTION 'table % holds rows', m[1]; END IF;
    END IF;
  END LOOP;
END $$;
CREATE EVENT TRIGGER naive_drop_guard ON ddl_command_start EXECUTE FUNCTION naive_drop_guard();
SQL
python3 - "$TXNS" "$ROUNDS" "$COUNT" <<'PY'
# One psql session per database, fed one transaction at a time, each of the four once per turn:
# all four meet the same machine at the same moments, and never compete for it.
# Each backend's work over its transactions (CPU time or instructions) is what its DDL cost; the
# driver's own work and psql's are outside it.
import os, random, statistics, subprocess, sys, time
txns, rounds, count = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dbs = ("none", "guard", "managed", "plpgsql", "control") + (("alt",) if os.environ.get("ALT_LIB") else ())
ddl = """BEGIN;
CREATE TABLE t_{n} (id int PRIMARY KEY, label text);
CREATE INDEX i_{n} ON t_{n} (label);
ALTER TABLE t_{n} ADD COLUMN extra int;
ALTER TABLE t_{n} DROP COLUMN extra;
CREATE FUNCTION f_{n}() RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION f_{n}();
DROP TABLE t_{n};
COMMIT;
\\echo done
"""
tick = os.sysconf("SC_CLK_TCK")
def user_system(pid):
    # User and system seconds, and minor page faults (memory first touched: kernel time that
    # the instruction count does not see).
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / tick, int(fields[12]) / tick, int(fields[7])
def cpu(pid):
    # schedstat's first field is the time the task has run, in nanoseconds; stat's utime and
    # stime count clock ticks (10 ms), about 1% of a round, the size of what is measured.
    try:
        return int(open(f"/proc/{pid}/schedstat").read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
def instructions_at_exit(pid):
    # callgrind writes a backend's totals to cg.PID when it exits, shortly after psql does.
    path = f"{os.environ['CALLGRIND_DIR']}/cg.{pid}"
    for _ in range(600):
        if os.path.exists(path):
            for line in open(path):
                if line.startswith("totals:"):
                    return int(line.split()[1])
        time.sleep(0.1)
    raise SystemExit(f"callgrind wrote no totals for backend {pid}")
def until_done(p):
    while (line := p.stdout.readline()) and line.strip() != "done":
        if not line:
            raise SystemExit("psql ended early")
def open_session(db):
    p = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", f"bench_{db}"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    p.stdin.write("SELECT pg_backend_pid();\n")
    return p, int(p.stdout.readline())
n = 0
def transaction(p):
    global n
    n += 1
    p.stdin.write(ddl.format(n=n))
    until_done(p)
shuffle = random.Random(20261202)
results = {db: [] for db in dbs}
split = {db: [0.0, 0.0, 0] for db in dbs}  # user, system seconds, faults over all rounds (cpu only)
if count == "cpu":
    sessions = {db: open_session(db) for db in dbs}
    for r in range(rounds):
        for db, (p, _) in sessions.items():
            p.stdin.write("VACUUM;\n\\echo done\n")  # the workload leaves dead catalog rows behind
            until_done(p)
        start = {db: cpu(pid) for db, (_, pid) in sessions.items()}
        ticks = {db: user_system(pid) for db, (_, pid) in sessions.items()}
        for i in range(txns):
            # A new order for each turn, from a fixed seed: nobody always goes first, and nobody
            # always follows the same database. With a fixed rotation, control always ran right
            # after the PL/pgSQL database, whose larger code had just left the caches, and came
            # out about 1% slower than its identical twin (noise floor 0.988-0.991).
            order = list(dbs)
            shuffle.shuffle(order)
            for db in order:
                transaction(sessions[db][0])
        for db, (_, pid) in sessions.items():
            results[db].append((cpu(pid) - start[db]) * 1e6 / txns)
            now = user_system(pid)
            split[db] = [t + n - b for t, n, b in zip(split[db], now, ticks[db])]
    for db in ("guard", "alt"):
        if db in sessions:  # which build each backend runs
            maps = open(f"/proc/{sessions[db][1]}/maps").read().split()
            print(f"  {db}: {sorted(set(m for m in maps if m.endswith('memory_guard.so')))}")
    for p, _ in sessions.values():
        p.stdin.close()
        p.wait()
else:
    # Counts are the same whenever they are taken, so databases need not take turns. A backend's
    # count is read when it exits, and includes its start and its first statements (loading
    # memory_guard, filling caches): each round runs a short session and a long one per database
    # and keeps the difference, the cost of `txns` transactions in a warm session.
    warm = 20
    for r in range(rounds):
        for db in dbs:
            totals = []
            for k in (warm, warm + txns):
                subprocess.run(["psql", "-X", "-q", "-d", f"bench_{db}", "-c", "VACUUM"], check=True)
                p, pid = open_session(db)
                for _ in range(k):
                    transaction(p)
                p.stdin.close()
                p.wait()
                totals.append(instructions_at_exit(pid))
            results[db].append((totals[1] - totals[0]) / txns)
med = {db: statistics.median(v) for db, v in results.items()}
unit = "us backend CPU" if count == "cpu" else "backend instructions"
how = ("interleaved one transaction at a time" if count == "cpu"
       else "counted under callgrind, a long session less a short one")
print(f"{rounds} rounds of {txns} transactions per database, {how}, 8 DDL statements per transaction")
if count == "instructions":
    print(f"  (user-space instructions of the backend; callgrind_annotate reads the per-backend files "
          f"kept with KEEP_CALLGRIND=dir)")
for db in dbs:
    print(f"  {db:8} median {med[db]:9.1f} {unit} per transaction"
          f"  (rounds: {', '.join(f'{c:.0f}' for c in results[db])})")
# The baseline of each round is the mean of the two databases without the extension: either
# alone lands a percent or so from the other in some runs (the noise floor below).
results["without"] = [(x + y) / 2 for x, y in zip(results["none"], results["control"])]
def ratio(a, b):
    return statistics.median(x / y for x, y in zip(results[a], results[b]))
for db, other, label in (("guard", "without", "memory_guard / no extension"),
                         ("guard", "plpgsql", "memory_guard / PL/pgSQL trigger"),
                         ("managed", "without", "managed edition / no extension"),
                         ("managed", "guard", "managed edition / memory_guard")):
    r = ratio(db, other)
    print(f"ratio {label}: {r:.3f} ({100 * (r - 1):+.1f}%, median of per-round ratios)")
if count == "cpu":
    # Where the time went, in 10 ms ticks summed over all rounds: user space (what the
    # instruction count sees) and the kernel (file creation and removal, and any system call).
    for db in dbs:
        print(f"  {db:8} user {split[db][0]:7.2f} s, system {split[db][1]:7.2f} s over all rounds,"
              f" {split[db][2] / (rounds * txns):.1f} minor page faults per transaction")
# The same workload on a second database without the extension: how far apart two identical
# settings land on this machine, the floor under the figures above.
print(f"noise floor, no extension / no extension (control): {ratio('none', 'control'):.3f}")
if "alt" in dbs:
    print(f"ALT_LIB build / no extension: {ratio('alt', 'without'):.3f}; "
          f"installed build / ALT_LIB build: {ratio('guard', 'alt'):.3f}")
PY
