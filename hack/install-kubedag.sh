#!/usr/bin/env bash
# The first half of `make demo` and `make demo-warehouse`: bring up the local single-node
# cluster, build and import kubedag's images, install kubedag with Helm.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
paths=$($PY -m devcluster paths)
path_of() { sed -n "s/^$1: //p" <<<"$paths"; }
KUBECTL=$(path_of kubernetes-bin)/kubectl
HELM=$(path_of helm-bin)/helm
export KUBECONFIG=$(path_of kubeconfig)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Local cluster (etcd, kube-apiserver, controller-manager, scheduler, kubelet, containerd)"
$PY -m devcluster up
hack/build-go-binaries.sh kubectl helm >/dev/null

step "Images (the Dockerfiles in task-images/, built with buildah: no Docker, no registry)"
$PY task-images/build.py --import all

step "helm install kubedag"
$HELM upgrade --install kubedag charts/kubedag --namespace kubedag-system --create-namespace \
  --set image.pullPolicy=Never --wait --timeout 5m
# The image tag stays the same while its content follows the code: run what was just built.
$KUBECTL -n kubedag-system rollout restart deployment/kubedag
$KUBECTL -n kubedag-system rollout status deployment/kubedag --timeout=180s
$KUBECTL -n kubedag-system get pods -o wide
