#!/usr/bin/env bash
# Builds a Debian package of memory_guard for one Postgres major, from `cargo pgrx package`:
#   PG_MAJOR=15 bash scripts/package.sh   # -> target/packages/postgresql-15-memory-guard_<version>_amd64.deb
# Install it with `apt-get install ./target/packages/postgresql-15-memory-guard_…_amd64.deb`
# (or dpkg -i), then CREATE EXTENSION memory_guard in a database. Prints the package's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
version=$(awk -F'"' '/^version = / {print $2; exit}' Cargo.toml)
arch=$(dpkg --print-architecture)
name="postgresql-$PG_MAJOR-memory-guard"
stage="target/packages/$name"
rm -rf "$stage"
mkdir -p target/packages
cargo pgrx package --pg-config "$PG_CONFIG" --no-default-features --features "pg$PG_MAJOR" \
  --out-dir "$stage" >target/packages/"$name".build.log 2>&1 \
  || { tail -n 30 target/packages/"$name".build.log >&2; exit 1; }
# Debian's own Postgres is a package to depend on; a major built from source here is not.
depends=""
# The library was built against this minor's headers, and may use what earlier minors lack.
if dpkg-query -W -f='${Status}' "postgresql-$PG_MAJOR" 2>/dev/null | grep -q 'install ok installed'; then
  depends="Depends: postgresql-$PG_MAJOR (>= $(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR"))"
fi
mkdir -p "$stage/DEBIAN"
{
  echo "Package: $name"
  echo "Version: $version"
  echo "Architecture: $arch"
  echo "Maintainer: memory_guard <memory_guard@localhost>"
  [ -n "$depends" ] && echo "$depends"
  echo "Section: database"
  echo "Priority: optional"
  echo "Description: memory_guard for PostgreSQL $PG_MAJOR: no migration can silently destroy stored data"
  echo " A Postgres extension that refuses DDL deleting tables or columns that hold rows unless"
  echo " the drop is guarded, lints search_path pinning, and offers verified backups and audits."
} >"$stage/DEBIAN/control"
deb="target/packages/${name}_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
