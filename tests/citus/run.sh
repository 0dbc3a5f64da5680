#!/usr/bin/env bash
# memory_guard under Citus: a coordinator and two workers (throwaway clusters, removed afterwards),
# SQL scenarios (tests/citus/sql/*.sql) run against the coordinator with psql, output compared
# with tests/citus/expected/*.out. The installed memory_guard and Citus builds are used; without
# Citus the run is skipped.
#
#   tests/citus/run.sh                    # every scenario
#   tests/citus/run.sh distributed_drop   # one scenario (or several) by name
#   KEEP_CLUSTERS=1 tests/citus/run.sh    # leave the clusters running for a look (prints how)
#
# On a difference the diff is printed; to accept new output after checking it by eye:
#   cp tests/citus/results/NAME.out tests/citus/expected/NAME.out
# Ports and socket paths are replaced by <host>:<port> in the output (workers' messages name them),
# and shard ids in shard names (events_102013 -> events_<shard>): multi-shard TRUNCATE and ALTER
# run on the shards in parallel, so which shard reports first varies from run to run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PG_MAJOR=${PG_MAJOR:-15}
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
PGLIB=/usr/lib/postgresql/$PG_MAJOR/lib

if [ ! -f "$PGLIB/citus.so" ]; then
  echo "skipped: Citus not installed"
  exit 0
fi

# One directory for the three clusters; their Unix sockets all live in it (distinct ports).
CITUS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/memory_guard_citus.XXXXXX")
chown postgres "$CITUS_DIR"
nodes=(coordinator worker1 worker2)
declare -A port

stop_all() {
  if [ -n "${KEEP_CLUSTERS:-}" ]; then
    echo "clusters kept in $CITUS_DIR: psql -h $CITUS_DIR -p ${port[coordinator]:-?} -U postgres" \
         "(stop with pg_ctl -D $CITUS_DIR/<node>/data stop as postgres)" >&2
    return 0
  fi
  local n
  for n in "${nodes[@]}"; do
    [ -d "$CITUS_DIR/$n/data" ] &&
      sudo -u postgres "$PGBIN/pg_ctl" -D "$CITUS_DIR/$n/data" -m fast -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$CITUS_DIR"
}
trap stop_all EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

node_start() {
  local n=$1 p
  p=$(free_port)
  port[$n]=$p
  mkdir -p "$CITUS_DIR/$n"
  chown postgres "$CITUS_DIR/$n"
  sudo -u postgres "$PGBIN/initdb" -D "$CITUS_DIR/$n/data" -A trust -U postgres --no-sync \
    >"$CITUS_DIR/$n/initdb.log" 2>&1 || { cat "$CITUS_DIR/$n/initdb.log" >&2; return 1; }
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$CITUS_DIR'"
    echo "port = $p"
    echo "fsync = off"
    echo "log_line_prefix = '%m [%p] %a '"
    echo "shared_preload_libraries = 'citus,memory_guard'"
    echo "max_prepared_transactions = 100"
    echo "citus.node_conninfo = 'sslmode=disable'"
    echo "citus.shard_count = 32"
  } >>"$CITUS_DIR/$n/data/postgresql.conf"
  sudo -u postgres "$PGBIN/pg_ctl" -D "$CITUS_DIR/$n/data" -l "$CITUS_DIR/$n/server.log" -w start \
    >/dev/null || { cat "$CITUS_DIR/$n/server.log" >&2; return 1; }
}

# psql_on NODE [psql args...]: a quiet psql as postgres on NODE's database postgres.
psql_on() {
  local n=$1; shift
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CITUS_DIR" -p "${port[$n]}" -U postgres -d postgres "$@"
}

for n in "${nodes[@]}"; do node_start "$n"; done
for n in "${nodes[@]}"; do psql_on "$n" -c 'CREATE EXTENSION citus' >/dev/null; done
psql_on coordinator >/dev/null <<SQL
SELECT citus_set_coordinator_host('$CITUS_DIR', ${port[coordinator]});
SELECT citus_add_node('$CITUS_DIR', ${port[worker1]});
SELECT citus_add_node('$CITUS_DIR', ${port[worker2]});
CREATE EXTENSION memory_guard;
SQL

if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  mapfile -t scenarios < <(cd "$here/sql" && ls -- *.sql | sed 's/\.sql$//' | sort)
fi

# Node addresses as messages print them ("<dir>:<port>", "host=<dir> port=<port>"), and the bare dir.
filter=(-e "s#$CITUS_DIR:[0-9][0-9]*#<host>:<port>#g"
        -e "s#host=$CITUS_DIR port=[0-9][0-9]*#host=<host> port=<port>#g"
        -e "s#$CITUS_DIR#<host>#g"
        -e 's#\b\([A-Za-z0-9_]*[A-Za-z]\)_1[0-9]\{5\}\b#\1_<shard>#g')
for n in "${nodes[@]}"; do
  filter+=(-e "s#port[= ]\"\\{0,1\\}${port[$n]}\\b#port=<port>#g" -e "s#:${port[$n]}\\b#:<port>#g")
done

status=0
rm -rf "$here/results"
mkdir -p "$here/results"
for s in "${scenarios[@]}"; do
  # Scenarios may \i files relative to tests/citus/ and reach the workers through :worker1 /
  # :worker2 (psql \connect arguments), which never appear in the echoed output.
  (cd "$here" && psql_on coordinator -a -v ON_ERROR_STOP=0 \
     -v worker1="host=$CITUS_DIR port=${port[worker1]} user=postgres dbname=postgres" \
     -v worker2="host=$CITUS_DIR port=${port[worker2]} user=postgres dbname=postgres" \
     -v coordinator="host=$CITUS_DIR port=${port[coordinator]} user=postgres dbname=postgres" \
     -f "sql/$s.sql" 2>&1) | sed "${filter[@]}" >"$here/results/$s.out" || true
  if diff -u "$here/expected/$s.out" "$here/results/$s.out" >"$here/results/$s.diff" 2>&1; then
    echo "citus: test $s ... ok"
    rm -f "$here/results/$s.diff"
  else
    echo "citus: test $s ... FAILED"
    cat "$here/results/$s.diff"
    status=1
  fi
done
exit $status
