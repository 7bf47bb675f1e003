#!/usr/bin/env bash
# `make demo`: bring up the local single-node cluster, build and import the images, install
# kubedag with Helm (hack/install-kubedag.sh), apply the example DAG and show its runs reaching
# success.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
paths=$($PY -m devcluster paths)
path_of() { sed -n "s/^$1: //p" <<<"$paths"; }
KUBECTL=$(path_of kubernetes-bin)/kubectl
HELM=$(path_of helm-bin)/helm
export KUBECONFIG=$(path_of kubeconfig)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

hack/install-kubedag.sh

step "kubectl apply -f examples/hello-dag.yaml (startDate two days ago: two runs of catchup; podGC Never, to show a log)"
start=$(date -u -d '2 days ago' +%F)
sed -e "s/^  startDate: .*/  startDate: \"$start\"\n  podGC: Never/" examples/hello-dag.yaml | $KUBECTL apply -f -

step "Waiting for the runs to succeed"
for _ in $(seq 1 150); do
  states=$($KUBECTL get dagruns -l kubedag.io/dag=hello -o jsonpath='{range .items[*]}{.status.state}{"\n"}{end}')
  total=$(grep -c . <<<"$states" || true)
  done_ok=$(grep -c '^success$' <<<"$states" || true)
  if [[ $total -ge 2 && $done_ok -eq $total ]]; then break; fi
  if grep -q '^failed$' <<<"$states"; then echo "a run failed:" >&2; break; fi
  sleep 2
done
$KUBECTL get dags
$KUBECTL get dagruns
run=$($KUBECTL get dagruns -l kubedag.io/dag=hello -o jsonpath='{.items[0].metadata.name}')
echo
echo "kubedag logs $run --task report:"
.venv/bin/kubedag logs "$run" --task report
[[ $total -ge 2 && $done_ok -eq $total ]] || { echo "demo: runs did not all succeed" >&2; exit 1; }

cat <<EOT

The cluster keeps running. Go on with kubectl:

  export KUBECONFIG=$KUBECONFIG
  export PATH=$(dirname "$KUBECTL"):$(dirname "$HELM"):\$PATH
  kubectl get dagruns -w
  kubectl create -f examples/manual-run.yaml

Remove everything with: make down
EOT
