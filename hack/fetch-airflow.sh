#!/usr/bin/env bash
# Builds Apache Airflow's virtual environment for the side-by-side benchmarks (bench --system
# airflow) into the user's cache, keyed by the pinned version and the lock file's digest:
# `pip install --require-hashes` of bench/peers/airflow-requirements.lock (hack/lock-airflow.sh
# made it), nothing else. Only `make bench` needs it; `make test` never installs Airflow.
#
#   hack/fetch-airflow.sh        # prints the virtual environment's directory on its last line
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
lock=$here/../bench/peers/airflow-requirements.lock

cache_root=${KUBEDAG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubedag}
digest=$(sha256sum "$lock" | cut -c1-12)
dest=$cache_root/airflow-$AIRFLOW_VERSION-$digest
if [[ -f $dest/.complete ]]; then echo "$dest"; exit 0; fi

python=${AIRFLOW_PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[[ $version == 3.11 ]] ||
  { echo "error: the Airflow lock is for Python 3.11; $python is $version (set AIRFLOW_PYTHON)" >&2; exit 1; }
mkdir -p "$cache_root"
exec 9>"$cache_root/.airflow.lock"
flock 9
if [[ -f $dest/.complete ]]; then echo "$dest"; exit 0; fi

echo "installing Airflow $AIRFLOW_VERSION (first time only; cached in $dest)" >&2
started=$(date +%s)
# Built in place: a virtual environment's scripts name its folder in their #! lines. Without
# the .complete mark (an interrupted install), the next run starts it again from nothing.
rm -rf "$dest"
"$python" -m venv "$dest"
"$dest/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes \
  --only-binary=:all: -r "$lock" >&2
"$dest/bin/airflow" version >&2
echo "$(($(date +%s) - started))" >"$dest/.install-seconds"
touch "$dest/.complete"
echo "$dest"
