#!/usr/bin/env bash
# DDL overhead: a DDL-heavy workload (create/alter/drop empty tables, indexes and functions,
# 8 statements per transaction) against three databases of one cluster: no extension,
# memory_guard, a naive PL/pgSQL event trigger that runs SELECT EXISTS on the table a DROP
# TABLE names, and a second database without the extension (the noise floor). Transactions go to the three in turn, one at a time, and each backend's CPU time
# is read from /proc: on this shared, noisy machine, runs taken one after another (or side by
# side, competing for two cores) differed by more than the 3% being measured. The cluster lives
# on tmpfs when /dev/shm exists: most of a CREATE TABLE's time is the file system's, and ext4's
# varies from run to run. Prints the median CPU per transaction and of the per-round ratios.
#   bash bench/ddl_overhead.sh [transactions per database and round] [rounds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
TXNS=${1:-1000}
ROUNDS=${2:-7}
source scripts/cluster.sh
[ -d /dev/shm ] && export TMPDIR=/dev/shm
cluster_start "autovacuum = off"
trap cluster_stop EXIT
for db in none guard plpgsql control; do "$PGBIN/createdb" "bench_$db"; done
psql -X -q -d bench_guard -c "CREATE EXTENSION memory_guard" 2>/dev/null
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
python3 - "$TXNS" "$ROUNDS" <<'PY'
# One psql session per database, fed one transaction at a time in turn (none, guard, plpgsql,
# control, none, ...): all four meet the same machine at the same moments, and never compete for it.
# Each backend's CPU time (user + system, from /proc) over its transactions is the work its DDL
# cost; the driver's own time and psql's are outside it.
import os, statistics, subprocess, sys, time
txns, rounds = int(sys.argv[1]), int(sys.argv[2])
dbs = ("none", "guard", "plpgsql", "control")
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
def cpu(pid):
    # schedstat's first field is the time the task has run, in nanoseconds; stat's utime and
    # stime count clock ticks (10 ms), about 1% of a round, the size of what is measured.
    try:
        return int(open(f"/proc/{pid}/schedstat").read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
def until_done(p):
    while (line := p.stdout.readline()) and line.strip() != "done":
        if not line:
            raise SystemExit("psql ended early")
sessions = {}
for db in dbs:
    p = subprocess.Popen(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", f"bench_{db}"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    p.stdin.write("SELECT pg_backend_pid();\n")
    sessions[db] = (p, int(p.stdout.readline()))
results = {db: [] for db in dbs}
n = 0
for r in range(rounds):
    for db, (p, _) in sessions.items():
        p.stdin.write("VACUUM;\n\\echo done\n")  # the workload leaves dead catalog rows behind
        until_done(p)
    start = {db: cpu(pid) for db, (_, pid) in sessions.items()}
    for i in range(txns):
        order = dbs[i % 4:] + dbs[:i % 4]  # nobody always goes first
        for db in order:
            p, _ = sessions[db]
            n += 1
            p.stdin.write(ddl.format(n=n))
            until_done(p)
    for db, (_, pid) in sessions.items():
        results[db].append((cpu(pid) - start[db]) * 1e6 / txns)
for p, _ in sessions.values():
    p.stdin.close()
    p.wait()
med = {db: statistics.median(v) for db, v in results.items()}
print(f"{rounds} rounds of {txns} transactions per database, interleaved one transaction at a time, "
      "8 DDL statements per transaction")
for db in dbs:
    print(f"  {db:8} median {med[db]:7.1f} us backend CPU per transaction"
          f"  (rounds: {', '.join(f'{c:.0f}' for c in results[db])})")
def ratio(a, b):
    return statistics.median(x / y for x, y in zip(results[a], results[b]))
for other, label in (("none", "no extension"), ("plpgsql", "PL/pgSQL trigger")):
    r = ratio("guard", other)
    print(f"ratio memory_guard / {label}: {r:.3f} ({100 * (r - 1):+.1f}%, median of per-round ratios)")
# The same workload on a second database without the extension: how far apart two identical
# settings land on this machine, the floor under the figures above.
print(f"noise floor, no extension / no extension (control): {ratio('none', 'control'):.3f}")
PY
