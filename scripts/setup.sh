#!/usr/bin/env bash
# Provision a fresh Debian (bookworm) machine, as root, for building and testing memory_guard.
# Idempotent: each step checks first and skips what is already there, so the demo and the test
# command can both call it on every run.
#
#   PG_MAJOR=N bash scripts/setup.sh   # N = 15 (default; Debian's packages), 17 or 18 (built from
#                                      # Debian's source packages into /usr/lib/postgresql/N)
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
# Bookworm's own Postgres 15 always (its packages bring the postgres user, the client and the
# libraries); other majors are built from source below, with the headers they need.
PKGS=(postgresql-15 postgresql-server-dev-15 postgresql-client-15
      clang libclang-dev build-essential pkg-config sudo dpkg-dev sqitch libdbd-pg-perl curl)
[ "$PG_MAJOR" = 15 ] || PKGS+=(zlib1g-dev libreadline-dev libssl-dev bison flex)
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
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q "^15 main .* online"; then
  pg_ctlcluster 15 main stop || true
fi

# A private apt configuration with deb-src lines of later Debian releases, from the mirror apt
# already uses: the system's own sources stay untouched. Sets APT_OPTS and MIRROR.
private_apt_sources() { # DIR
  MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$MIRROR" ] || MIRROR=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  if [ -z "$MIRROR" ]; then echo "cannot find the Debian mirror apt uses" >&2; exit 1; fi
  mkdir -p "$1/lists/partial"
  {
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR sid main"
  } > "$1/sources.list"
  APT_OPTS=(-o "Dir::Etc::sourcelist=$1/sources.list" -o "Dir::Etc::sourceparts=-"
            -o "Dir::State::Lists=$1/lists" -o "APT::Get::List-Cleanup=0"
            -o "APT::Sandbox::User=root")
  apt-get "${APT_OPTS[@]}" update -qq
}

# --- Postgres majors other than 15 --------------------------------------------------------------
# Built from Debian's source package (trixie's 17, sid's 18) into /usr/lib/postgresql/N, the
# layout Debian's packages use, with contrib and the isolation tester. The lists may name a
# version whose tarball is not in the pool yet: then earlier minors are tried, newest first, and
# the one used is said.
# A build that did not finish (no marker) is done again.
BUILT_MARK=/usr/lib/postgresql/$PG_MAJOR/.memory_guard-built
if [ "$PG_MAJOR" != 15 ] && [ ! -f "$BUILT_MARK" ]; then
  pgwork=$(mktemp -d)
  private_apt_sources "$pgwork"
  listed=$(apt-cache "${APT_OPTS[@]}" showsrc "postgresql-$PG_MAJOR" | awk '/^Version:/ {print $2}' | sort -urV | head -n1)
  upstream=${listed%%-*}
  minor=${upstream#*.}
  tarball=""
  while [ "$minor" -ge 0 ]; do
    candidate="postgresql-${PG_MAJOR}_$PG_MAJOR.$minor.orig.tar.bz2"
    if curl -sfL -o "$pgwork/$candidate" "$MIRROR/pool/main/p/postgresql-$PG_MAJOR/$candidate"; then
      tarball=$candidate; break
    fi
    minor=$((minor - 1))
  done
  if [ -z "$tarball" ]; then echo "no postgresql-$PG_MAJOR source tarball found on $MIRROR" >&2; exit 1; fi
  log "building PostgreSQL $PG_MAJOR.$minor from Debian's source (the lists name $listed; a few minutes)"
  tar -xjf "$pgwork/$tarball" -C "$pgwork"
  src="$pgwork/postgresql-$PG_MAJOR.$minor"
  (cd "$src" && ./configure --prefix="/usr/lib/postgresql/$PG_MAJOR" --without-icu >"$pgwork/configure.log" 2>&1) \
    || { tail -n 30 "$pgwork/configure.log" >&2; exit 1; }
  make -s -j"$(nproc)" -C "$src" >"$pgwork/make.log" 2>&1 || { tail -n 30 "$pgwork/make.log" >&2; exit 1; }
  make -s -C "$src" install >/dev/null
  make -s -j"$(nproc)" -C "$src/contrib" >"$pgwork/contrib.log" 2>&1 || { tail -n 30 "$pgwork/contrib.log" >&2; exit 1; }
  make -s -C "$src/contrib" install >/dev/null
  make -s -C "$src/src/test/isolation" install >/dev/null
  echo "PostgreSQL $PG_MAJOR.$minor" >"$BUILT_MARK"
  rm -rf "$pgwork"
  log "PostgreSQL $PG_MAJOR.$minor installed in /usr/lib/postgresql/$PG_MAJOR"
else
  [ "$PG_MAJOR" = 15 ] || log "PostgreSQL $PG_MAJOR present"
fi

# --- cargo-pgrx -------------------------------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if cargo pgrx --version 2>/dev/null | grep -q ' 0\.18\.'; then
  log "cargo-pgrx $(cargo pgrx --version | awk '{print $2}') present"
else
  log "installing cargo-pgrx $PGRX_CLI_VERSION (takes a few minutes)"
  cargo install cargo-pgrx --version "$PGRX_CLI_VERSION" --locked --quiet
fi
# Point pgrx at the system's Postgres majors rather than letting it download any: every major
# installed is named at once (an init names the whole list).
if ! grep -qs "pg$PG_MAJOR" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
  init=()
  for config in /usr/lib/postgresql/*/bin/pg_config; do
    major=$(basename "$(dirname "$(dirname "$config")")")
    init+=("--pg$major=$config")
  done
  log "cargo pgrx init ${init[*]} (system Postgres)"
  cargo pgrx init "${init[@]}" >/dev/null
fi

# --- pgvector ---------------------------------------------------------------------------------
# Not packaged as a binary for bookworm; Debian's source package from a later release builds
# against our Postgres in seconds. A private apt configuration keeps the system's sources
# untouched. The lists may name a version not in the pool yet, and trixie's 0.8.0 does not build
# against 18: so the newest version that downloads through apt (checksums checked) and builds is
# used, and failing that the newest upstream tarball in the pool (not listed, so not checked).
SHAREDIR=$("$PG_CONFIG" --sharedir)
build_pgvector() { # DIR: an unpacked pgvector source tree
  make -s -C "$1" PG_CONFIG="$PG_CONFIG" >"$work/pgvector.log" 2>&1 \
    && make -s -C "$1" PG_CONFIG="$PG_CONFIG" install >/dev/null
}
if [ -f "$SHAREDIR/extension/vector.control" ]; then
  log "pgvector present"
else
  log "building pgvector from Debian's source package"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  private_apt_sources "$work"
  built=""
  listed=$(apt-cache "${APT_OPTS[@]}" showsrc pgvector | awk '/^Version:/ {print $2}' | sort -urV)
  for v in $listed; do
    rm -rf "$work/src"; mkdir -p "$work/src"
    (cd "$work/src" && apt-get "${APT_OPTS[@]}" source --download-only -qq "pgvector=$v" >/dev/null 2>&1) || continue
    dsc=$(ls "$work"/src/pgvector_*.dsc | head -n1)
    (cd "$work/src" && dpkg-source --no-check -x "$dsc" pgvector >/dev/null)
    if build_pgvector "$work/src/pgvector"; then built=$v; break; fi
  done
  if [ -z "$built" ]; then
    newest=$(echo "$listed" | head -n1); newest=${newest%%-*}
    patch=${newest##*.}
    while [ -z "$built" ] && [ "$patch" -ge 0 ]; do
      v=${newest%.*}.$patch
      rm -rf "$work/src"; mkdir -p "$work/src"
      if curl -sfL -o "$work/src/pgvector.tar.gz" "$MIRROR/pool/main/p/pgvector/pgvector_$v.orig.tar.gz"; then
        tar -xzf "$work/src/pgvector.tar.gz" -C "$work/src"
        tree=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d | head -n1)
        build_pgvector "$tree" && built="$v (upstream tarball from the pool)"
      fi
      patch=$((patch - 1))
    done
  fi
  if [ -z "$built" ]; then tail -n 20 "$work/pgvector.log" >&2; echo "no pgvector builds against Postgres $PG_MAJOR" >&2; exit 1; fi
  log "pgvector $built installed"
fi
