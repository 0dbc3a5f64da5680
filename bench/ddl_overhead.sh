#!/usr/bin/env bash
# DDL overhead: a DDL-heavy pgbench workload (create/alter/drop empty tables, indexes and
# functions, several statements per transaction) against three databases of one cluster:
# no extension, memory_guard, and a naive PL/pgSQL event trigger that runs SELECT EXISTS on the
# table a DROP TABLE names. Rounds alternate between them; prints median tps and ratios, and
# the server's CPU time per transaction (the backends' user+system time, read from the
# postmaster's reaped-children counters), which other load on a shared machine disturbs far
# less than wall-clock tps.
#   bash bench/ddl_overhead.sh [transactions per run] [rounds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
TXNS=${1:-3000}
ROUNDS=${2:-5}
source scripts/cluster.sh
cluster_start "autovacuum = off"
work=$(mktemp -d)
trap 'cluster_stop; rm -rf "$work"' EXIT
for db in none guard plpgsql; do "$PGBIN/createdb" "bench_$db"; done
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
cat >"$work/ddl.sql" <<'SQL'
\set n random(1, 1000000000)
BEGIN;
CREATE TABLE t_:n (id int PRIMARY KEY, label text);
CREATE INDEX i_:n ON t_:n (label);
ALTER TABLE t_:n ADD COLUMN extra int;
ALTER TABLE t_:n DROP COLUMN extra;
CREATE FUNCTION f_:n() RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION f_:n();
DROP TABLE t_:n;
COMMIT;
SQL
postmaster=$(head -n1 "$CLUSTER_DIR/data/postmaster.pid")
# CPU ticks of the postmaster's reaped children (fields 16 and 17 of /proc/PID/stat).
child_ticks() { awk '{print $16 + $17}' "/proc/$postmaster/stat"; }
tick_ms=$(awk -v hz="$(getconf CLK_TCK)" 'BEGIN {print 1000 / hz}')
for r in $(seq 1 "$ROUNDS"); do
  # Rotate the order each round, so no setting always runs first.
  order=(none guard plpgsql none guard plpgsql)
  for db in "${order[@]:$(( (r - 1) % 3 )):3}"; do
    # The workload leaves dead catalog rows behind; without autovacuum (whose workers would
    # count as CPU here) every run would start from a more bloated catalog than the last.
    psql -X -q -d "bench_$db" -c "VACUUM" >/dev/null 2>&1
    sleep 0.3
    before=$(child_ticks)
    tps=$("$PGBIN/pgbench" -n -f "$work/ddl.sql" -t "$TXNS" -c 1 "bench_$db" 2>/dev/null | awk '/^tps/ {print $3; exit}')
    sleep 0.3  # let the postmaster reap the backend
    echo "$r $db $tps $(( $(child_ticks) - before ))" >>"$work/results"
  done
done
python3 - "$work/results" "$TXNS" "$ROUNDS" "$tick_ms" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
txns, tick_ms = int(sys.argv[2]), float(sys.argv[4])
dbs = ("none", "guard", "plpgsql")
tps = {db: [float(r[2]) for r in rows if r[1] == db] for db in dbs}
cpu = {db: [int(r[3]) * tick_ms * 1000 / txns for r in rows if r[1] == db] for db in dbs}
med = {db: statistics.median(v) for db, v in tps.items()}
mcpu = {db: statistics.median(v) for db, v in cpu.items()}
print(f"{sys.argv[3]} rounds of {txns} transactions, 1 client, 8 DDL statements per transaction")
for db in dbs:
    print(f"  {db:8} median {med[db]:8.1f} tps, {mcpu[db]:7.1f} us server CPU per transaction"
          f"  (tps runs: {', '.join(f'{t:.0f}' for t in tps[db])})")
print(f"ratio memory_guard / no extension: tps {med['guard'] / med['none']:.3f}, "
      f"CPU {mcpu['guard'] / mcpu['none']:.3f} (overhead {100 * (mcpu['guard'] / mcpu['none'] - 1):.1f}%)")
print(f"ratio memory_guard / PL/pgSQL trigger: tps {med['guard'] / med['plpgsql']:.3f}, "
      f"CPU {mcpu['guard'] / mcpu['plpgsql']:.3f}")
PY
