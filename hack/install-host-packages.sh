#!/usr/bin/env bash
# Installs the Debian packages listed in hack/host-packages.txt that are not installed yet:
# one `apt-get update`, then one `apt-get install` of the missing ones. Does nothing (and
# needs neither root nor the network) when all are present, so it is cheap to call every time.
#
#   hack/install-host-packages.sh            # install what is missing
#   hack/install-host-packages.sh --check    # only list what is missing; exit 1 if anything is
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list=$here/host-packages.txt

packages=()
while read -r line; do
  line=${line%%#*}
  line=${line//[[:space:]]/}
  [[ -n $line ]] && packages+=("$line")
done <"$list"

installed() {  # $1: package name
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

command -v dpkg-query >/dev/null ||
  { echo "error: dpkg-query not found: the host packages are Debian (bookworm) packages" >&2; exit 1; }

missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]} == 0)); then
  echo "host packages: all ${#packages[@]} present"
  exit 0
fi
if [[ ${1:-} == --check ]]; then
  echo "host packages missing: ${missing[*]}"
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "error: host packages missing (${missing[*]}) and installing them needs root:" \
    "run sudo $0" >&2
  exit 1
fi
command -v apt-get >/dev/null ||
  { echo "error: apt-get not found; install by hand: ${missing[*]}" >&2; exit 1; }

echo "host packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg run instead of failing on its lock.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
apt-get "${apt_opts[@]}" update -q
apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
if ((${#still[@]})); then
  echo "error: apt-get finished but these packages are still not installed: ${still[*]}" >&2
  exit 1
fi
echo "host packages: installed ${missing[*]}"
