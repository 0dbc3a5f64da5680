#!/usr/bin/env bash
# DDL overhead: a DDL-heavy pgbench workload (create/alter/drop empty tables, indexes and
# functions, several statements per transaction) against three databases of one cluster:
# no extension, memory_guard, and a naive PL/pgSQL event trigger that runs SELECT EXISTS on the
# table a DROP TABLE names. Rounds alternate between them; prints median tps and ratios.
#   bash bench/ddl_overhead.sh [seconds per run] [rounds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SECS=${1:-8}
ROUNDS=${2:-3}
source scripts/cluster.sh
cluster_start
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
for r in $(seq 1 "$ROUNDS"); do
  for db in none guard plpgsql; do
    tps=$("$PGBIN/pgbench" -n -f "$work/ddl.sql" -T "$SECS" -c 1 "bench_$db" 2>/dev/null | awk '/^tps/ {print $3; exit}')
    echo "$r $db $tps" >>"$work/results"
  done
done
python3 - "$work/results" "$SECS" "$ROUNDS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
tps = {db: [float(t) for _, d, t in rows if d == db] for db in ("none", "guard", "plpgsql")}
med = {db: statistics.median(v) for db, v in tps.items()}
print(f"{sys.argv[3]} rounds of {sys.argv[2]} s each, 1 client, 8 DDL statements per transaction")
for db in ("none", "guard", "plpgsql"):
    print(f"  {db:8} median {med[db]:8.1f} tps  (runs: {', '.join(f'{t:.1f}' for t in tps[db])})")
print(f"ratio memory_guard / no extension: {med['guard'] / med['none']:.3f}  (overhead {100 * (1 - med['guard'] / med['none']):.1f}%)")
print(f"ratio memory_guard / PL/pgSQL trigger: {med['guard'] / med['plpgsql']:.3f}")
PY
