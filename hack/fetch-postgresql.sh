#!/usr/bin/env bash
# Unpacks Debian's PostgreSQL server at the pinned version (hack/versions.env) into the user's
# cache, keyed by version, for the task toolkit's tests and load benchmark: `apt-get download`
# of the .debs and `dpkg -x`, nothing installed on the host. Shared libraries the server needs
# and the host lacks (libicu72 on a minimal machine, say) are unpacked beside it; the tests run
# it with LD_LIBRARY_PATH pointing there (devcluster/postgres.py).
#
#   hack/fetch-postgresql.sh        # prints the directory of initdb and postgres on its last line
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"

cache_root=${KUBEDAG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubedag}
dest=$cache_root/postgresql-$POSTGRESQL_VERSION
bin=$dest/usr/lib/postgresql/$POSTGRESQL_MAJOR/bin
if [[ -f $dest/.complete ]]; then echo "$bin"; exit 0; fi

for tool in apt-get dpkg dpkg-deb dpkg-query ldd; do
  command -v "$tool" >/dev/null ||
    { echo "error: '$tool' not found: PostgreSQL comes from Debian (bookworm) packages" >&2; exit 1; }
done
mkdir -p "$cache_root"
exec 9>"$cache_root/.postgresql.lock"
flock 9
if [[ -f $dest/.complete ]]; then echo "$bin"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"  # apt-get download drops privileges to _apt where it can

updated=false
download() {  # $@: package[=version] ...
  if (cd "$work" && apt-get download -q "$@" >&2); then return 0; fi
  if ! $updated && [[ $(id -u) -eq 0 ]]; then
    echo "apt-get download failed; refreshing the package lists once (apt-get update)" >&2
    apt-get -q -o DPkg::Lock::Timeout=600 update >&2
    updated=true
    (cd "$work" && apt-get download -q "$@" >&2) && return 0
  fi
  echo "error: could not download $*; is $POSTGRESQL_VERSION still on the Debian mirror?" \
    "(apt-cache policy postgresql-$POSTGRESQL_MAJOR; change the pin in hack/versions.env)" >&2
  exit 1
}

echo "fetching PostgreSQL $POSTGRESQL_VERSION (first time only; cached in $dest)" >&2
download "postgresql-$POSTGRESQL_MAJOR=$POSTGRESQL_VERSION" "libpq5=$POSTGRESQL_VERSION"
# The server's library dependencies (from the .deb's own Depends) that this host lacks.
depends=$(dpkg-deb -f "$work"/postgresql-"$POSTGRESQL_MAJOR"_*.deb Depends)
missing=()
for dep in ${depends//,/ }; do
  name=${dep%%[ (]*}
  [[ $name == lib* && $name != libpq5 ]] || continue
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$name" 2>/dev/null) == installed ]] || missing+=("$name")
done
if ((${#missing[@]})); then download "${missing[@]}"; fi

rm -rf "$dest.partial"
mkdir -p "$dest.partial"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$dest.partial"; done
unresolved=$(LD_LIBRARY_PATH=$dest.partial/usr/lib/x86_64-linux-gnu \
  ldd "$dest.partial/usr/lib/postgresql/$POSTGRESQL_MAJOR/bin/postgres" \
  "$dest.partial/usr/lib/postgresql/$POSTGRESQL_MAJOR/bin/initdb" | grep 'not found' || true)
if [[ -n $unresolved ]]; then
  echo "error: PostgreSQL's binaries still miss shared libraries:" >&2
  echo "$unresolved" >&2
  exit 1
fi
rm -rf "$dest"
mv "$dest.partial" "$dest"
touch "$dest/.complete"
echo "$bin"
