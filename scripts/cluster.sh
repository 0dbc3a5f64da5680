# Throwaway Postgres clusters for the demo and the tests. Source this file, then:
#   cluster_start [postgresql.conf line ...]   # exports PGHOST, PGPORT, PGUSER, CLUSTER_DIR
#   cluster_stop
# Postgres refuses to run as root, so the server runs as the postgres OS user; it listens only on
# a Unix socket inside its own directory, and is removed by cluster_stop.

PG_MAJOR=${PG_MAJOR:-15}
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin

cluster_start() {
  CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/memory_guard_pg.XXXXXX")
  chown postgres "$CLUSTER_DIR"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  sudo -u postgres "$PGBIN/initdb" -D "$CLUSTER_DIR/data" -A trust -U postgres --no-sync \
    >"$CLUSTER_DIR/initdb.log" 2>&1 || { cat "$CLUSTER_DIR/initdb.log" >&2; return 1; }
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$CLUSTER_DIR'"
    echo "port = $port"
    echo "fsync = off"
    echo "log_line_prefix = '%m [%p] '"
    for line in "$@"; do echo "$line"; done
  } >>"$CLUSTER_DIR/data/postgresql.conf"
  sudo -u postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start \
    >/dev/null || { cat "$CLUSTER_DIR/server.log" >&2; return 1; }
  export PGHOST=$CLUSTER_DIR PGPORT=$port PGUSER=postgres
}

cluster_stop() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR" ] || return 0
  sudo -u postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$CLUSTER_DIR"
  unset CLUSTER_DIR
}
