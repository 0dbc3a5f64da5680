#!/usr/bin/env bash
# Provision a fresh Debian (bookworm) machine, as root, for building and testing memory_guard.
# Idempotent: each step checks first and skips what is already there, so the demo and the test
# command can both call it on every run.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
PGRX_CLI_VERSION=0.18.0
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh must run as root (it installs Debian packages)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

# --- Debian packages --------------------------------------------------------------------------
# sudo: pgrx and our cluster scripts run Postgres as the postgres user (Postgres refuses root).
# sqitch: a real migration client for the client tests.
PKGS=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-client-$PG_MAJOR
      clang libclang-dev build-essential pkg-config sudo dpkg-dev sqitch libdbd-pg-perl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi
# Debian's postgresql package starts a main cluster; it is not ours and we never need it.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q "^$PG_MAJOR main .* online"; then
  pg_ctlcluster "$PG_MAJOR" main stop || true
fi

# --- cargo-pgrx -------------------------------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if cargo pgrx --version 2>/dev/null | grep -q ' 0\.18\.'; then
  log "cargo-pgrx $(cargo pgrx --version | awk '{print $2}') present"
else
  log "installing cargo-pgrx $PGRX_CLI_VERSION (takes a few minutes)"
  cargo install cargo-pgrx --version "$PGRX_CLI_VERSION" --locked --quiet
fi
# Point pgrx at the system Postgres rather than letting it download one.
if ! grep -qs "pg$PG_MAJOR" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
  log "cargo pgrx init --pg$PG_MAJOR (system Postgres)"
  cargo pgrx init "--pg$PG_MAJOR=$PG_CONFIG" >/dev/null
fi

# --- pgvector ---------------------------------------------------------------------------------
# Not packaged as a binary for bookworm; Debian's source package from the next release builds
# against our Postgres in seconds. A private apt configuration keeps the system's sources untouched.
SHAREDIR=$("$PG_CONFIG" --sharedir)
if [ -f "$SHAREDIR/extension/vector.control" ]; then
  log "pgvector present"
else
  log "building pgvector from Debian's source package"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  if [ -z "$mirror" ]; then echo "cannot find the Debian mirror apt uses" >&2; exit 1; fi
  mkdir -p "$work/lists/partial" "$work/src"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$work/sources.list"
  APT_OPTS=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
            -o "Dir::State::Lists=$work/lists" -o "APT::Get::List-Cleanup=0"
            -o "APT::Sandbox::User=root")
  apt-get "${APT_OPTS[@]}" update -qq
  (cd "$work/src" && apt-get "${APT_OPTS[@]}" source --download-only -qq pgvector >/dev/null)
  dsc=$(ls "$work"/src/pgvector_*.dsc | head -n1)
  (cd "$work/src" && dpkg-source --no-check -x "$dsc" pgvector >/dev/null)
  make -s -C "$work/src/pgvector" PG_CONFIG="$PG_CONFIG" >/dev/null
  make -s -C "$work/src/pgvector" PG_CONFIG="$PG_CONFIG" install >/dev/null
  log "pgvector $(awk -F"'" '/default_version/ {print $2}' "$SHAREDIR/extension/vector.control") installed"
fi
