#!/usr/bin/env bash
# Resolves apache-airflow[postgres] at the pinned version (hack/versions.env) for Python 3.11 on
# x86-64 Linux from PyPI into bench/peers/airflow-requirements.lock: every package pinned with
# its hashes. Airflow's own constraints files live in its source repository, which the bench
# machine cannot reach, so uv's resolver stands in for them (newest versions that satisfy
# Airflow's declared ranges); `make bench` then installs exactly this file.
#
#   hack/lock-airflow.sh        # after changing AIRFLOW_VERSION
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
UV_VERSION=0.13.8

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
echo "apache-airflow[postgres]==$AIRFLOW_VERSION" >"$tools/airflow.in"
cd "$here/.."
"$tools/venv/bin/uv" pip compile --quiet --no-header --generate-hashes --python-version 3.11 \
  --python-platform x86_64-unknown-linux-gnu "$tools/airflow.in" -o "$tools/airflow.lock"
{
  echo "# apache-airflow[postgres]==$AIRFLOW_VERSION for Python 3.11, x86-64 Linux, resolved from"
  echo "# PyPI by uv $UV_VERSION; regenerate with hack/lock-airflow.sh, install with"
  echo "# hack/fetch-airflow.sh."
  sed "s|$tools/airflow.in|apache-airflow[postgres]==$AIRFLOW_VERSION|" "$tools/airflow.lock"
} >bench/peers/airflow-requirements.lock
echo "bench/peers/airflow-requirements.lock: $(grep -c '^[a-z0-9]' bench/peers/airflow-requirements.lock) packages"
