#!/usr/bin/env bash
# `make demo-warehouse`: the example warehouse and its three pipelines on the local cluster.
# Brings the cluster up and installs kubedag (as `make demo` does), builds the warehouse's
# PostgreSQL image, applies examples/warehouse/ and the three example DAGs into the namespace
# $NAMESPACE (default warehouse-demo), waits for their runs and shows the tables they made.
set -euo pipefail
cd "$(dirname "$0")/.."
NAMESPACE=${NAMESPACE:-warehouse-demo}
PY=.venv/bin/python
paths=$($PY -m devcluster paths)
path_of() { sed -n "s/^$1: //p" <<<"$paths"; }
KUBECTL=$(path_of kubernetes-bin)/kubectl
export KUBECONFIG=$(path_of kubeconfig)
k() { $KUBECTL -n "$NAMESPACE" "$@"; }

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

hack/install-kubedag.sh

step "The warehouse's PostgreSQL image (Debian's postgresql-15 at the pinned version, built with buildah)"
$PY task-images/build.py --import warehouse-postgres

step "kubectl apply -k examples/warehouse -n $NAMESPACE (PostgreSQL StatefulSet + volume, sample server, connection)"
$KUBECTL create namespace "$NAMESPACE" --dry-run=client -o yaml | $KUBECTL apply -f -
k apply -k examples/warehouse
k rollout status statefulset/warehouse-postgres --timeout=180s
k rollout status deployment/warehouse-samples --timeout=120s
k get statefulset,pods,pvc,svc

step "The three example DAGs (events-incremental from three days ago: three runs of catchup)"
# The summary first: it runs when both raw tables have been updated after it exists.
k apply -f examples/daily-summary.yaml
k apply -f examples/name-gender-etl.yaml
start=$(date -u -d '3 days ago' +%F)
sed -e "s/^  startDate: .*/  startDate: \"$start\"/" examples/events-incremental.yaml | k apply -f -
k get dags -o wide

step "Waiting for the runs: name-gender-etl (1), events-incremental (3), then daily-summary on its datasets (1)"
want() { case $1 in events-incremental) echo 3 ;; *) echo 1 ;; esac; }
finished=false
for _ in $(seq 1 150); do
  finished=true
  for dag in name-gender-etl events-incremental daily-summary; do
    states=$(k get dagruns -l "kubedag.io/dag=$dag" -o jsonpath='{range .items[*]}{.status.state}{"\n"}{end}')
    ok=$(grep -c '^success$' <<<"$states" || true)
    if grep -q '^failed$' <<<"$states"; then echo "a run of $dag failed" >&2; finished=failed; break 2; fi
    [[ $ok -ge $(want "$dag") ]] || finished=false
  done
  $finished && break
  sleep 2
done
k get dagruns
psql() {
  k exec warehouse-postgres-0 -c postgres -- sh -c \
    'PGPASSWORD="$POSTGRES_PASSWORD" psql -X -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"' "$1"
}
step "The tables"
psql "SELECT gender, count(*) AS names, min(name) AS first, max(name) AS last FROM raw_data.name_gender GROUP BY 1 ORDER BY 1"
psql "SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, count(*) AS events, sum(amount) AS amount FROM raw_data.events GROUP BY 1 ORDER BY 1"
psql "SELECT * FROM mart.daily_summary ORDER BY day, kind"
summary=$(k get dagruns -l kubedag.io/dag=daily-summary -o jsonpath='{.items[0].metadata.name}' || true)
if [[ -n $summary ]]; then
  echo "daily-summary's run $summary was triggered by:"
  k get dagrun "$summary" -o jsonpath='{range .spec.triggeredBy.events[*]}  {.dataset} <- {.dag}/{.run}{"\n"}{end}'
  echo
  echo "kubedag outputs $summary -n $NAMESPACE (its check's results; the pods are gone):"
  .venv/bin/kubedag outputs "$summary" --task check -n "$NAMESPACE" || true
fi
[[ $finished == true ]] || { echo "demo-warehouse: the runs did not all succeed" >&2; exit 1; }

cat <<EOT

The warehouse keeps running in namespace $NAMESPACE. Go on with kubectl:

  export KUBECONFIG=$KUBECONFIG
  export PATH=$(dirname "$KUBECTL"):\$PATH
  kubectl -n $NAMESPACE get dagruns
  .venv/bin/kubedag clear <run> -n $NAMESPACE      # re-run a date: the same table afterwards
  kubectl -n $NAMESPACE exec -it warehouse-postgres-0 -- psql -h 127.0.0.1 -U etl warehouse

Remove everything with: make down
EOT
