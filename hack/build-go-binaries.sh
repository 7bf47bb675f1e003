#!/usr/bin/env bash
# Builds upstream Kubernetes components (and etcd) from their published Go modules at the
# pinned versions in hack/versions.env, into the user's cache folder keyed by version, so a
# second run and a fresh clone reuse them.
#
#   hack/build-go-binaries.sh kube-apiserver etcd ...
#
# Prints the directory holding the binaries on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"

cache_root=${KUBEDAG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubedag}
k8s_bin=$cache_root/kubernetes-$KUBERNETES_VERSION/bin
etcd_bin=$cache_root/etcd-$ETCD_VERSION/bin
command -v go >/dev/null || { echo "error: 'go' is required to build $*; install Go 1.24+" >&2; exit 1; }
# One build at a time per cache: two at once (a test run and a fresh clone's CI, say) would
# move each other's half-written binaries. A waiting build then finds the binaries made.
mkdir -p "$cache_root"
exec 9>"$cache_root/.go-build.lock"
flock 9

build_kubernetes() {  # $@: component names under k8s.io/kubernetes/cmd/
  local missing=() c
  for c in "$@"; do [[ -x $k8s_bin/$c ]] || missing+=("$c"); done
  ((${#missing[@]})) || return 0
  local staging_version=v0.${KUBERNETES_VERSION#v1.}
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # k8s.io/kubernetes replaces its staging modules with local paths, so `go install` of it
  # is refused; a wrapper module requires it and points each staging module at its
  # published twin (k8s.io/X v0.34.N), taken from upstream's own replace block.
  local upstream_mod
  upstream_mod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module kubedag.local/k8sbuild"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 '"$staging_version"'#p' "$upstream_mod"
  } >"$work/go.mod"
  local n_replaced; n_replaced=$(grep -c '^replace' "$work/go.mod")
  [[ $n_replaced -gt 20 ]] || { echo "error: found only $n_replaced staging replaces in $upstream_mod" >&2; exit 1; }
  local imports=""
  for c in "${missing[@]}"; do imports+="_ \"k8s.io/kubernetes/cmd/$c\""$'\n'; done
  printf 'package tools\n\nimport (\n%s)\n' "$imports" >"$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true)
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  mkdir -p "$k8s_bin"
  for c in "${missing[@]}"; do
    echo "building $c $KUBERNETES_VERSION (first time only; cached in $k8s_bin)" >&2
    (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" \
      -o "$k8s_bin/$c.tmp" "k8s.io/kubernetes/cmd/$c")
    mv "$k8s_bin/$c.tmp" "$k8s_bin/$c"
  done
}

build_etcd() {
  [[ -x $etcd_bin/etcd ]] && return 0
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local v=$ETCD_VERSION
  # The etcd server binary is the main package at the root of go.etcd.io/etcd/server/v3
  # (server/main.go). Its go.mod replaces the sibling etcd modules with ../ paths, so
  # `go install ...@version` is refused; as for Kubernetes, a wrapper module requires it and
  # pins each sibling to its published twin at the version upstream requires (client/v2 is
  # v2.305.N, the rest v3.5.N).
  local upstream_mod
  upstream_mod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "go.etcd.io/etcd/server/v3@$v" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module kubedag.local/etcdbuild"
    echo
    echo "go 1.23"
    echo
    echo "require go.etcd.io/etcd/server/v3 $v"
    echo
    local path ver
    while read -r path; do
      ver=$(awk -v p="$path" '$1 == p && $2 ~ /^v[0-9]/ {print $2; exit}' "$upstream_mod")
      [[ -n $ver ]] || { echo "error: no required version of $path in $upstream_mod" >&2; exit 1; }
      echo "replace $path => $path $ver"
    done < <(sed -n 's#^\s*\(go.etcd.io/etcd/[a-z0-9/]*\) => \.\./.*#\1#p' "$upstream_mod")
  } >"$work/go.mod"
  local n_replaced; n_replaced=$(grep -c '^replace' "$work/go.mod")
  [[ $n_replaced -ge 5 ]] || { echo "error: found only $n_replaced etcd replaces in $upstream_mod" >&2; exit 1; }
  # Build-tagged so it is never compiled (a program is not importable); it only keeps the
  # requirement for `go mod tidy`, which fills in go.sum and raises the go line as needed.
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >"$work/tidy.log" 2>&1) ||
    { cat "$work/tidy.log" >&2; echo "error: go mod tidy failed for etcd $v" >&2; exit 1; }
  mkdir -p "$etcd_bin"
  echo "building etcd $v (first time only; cached in $etcd_bin)" >&2
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" \
    -o "$etcd_bin/etcd.tmp" go.etcd.io/etcd/server/v3)
  "$etcd_bin/etcd.tmp" --version >/dev/null ||
    { echo "error: the etcd binary built from $v does not run" >&2; exit 1; }
  mv "$etcd_bin/etcd.tmp" "$etcd_bin/etcd"
}

build_helm() {
  local helm_bin=$cache_root/helm-$HELM_VERSION/bin
  [[ -x $helm_bin/helm ]] && return 0
  mkdir -p "$helm_bin"
  echo "building helm $HELM_VERSION (first time only; cached in $helm_bin)" >&2
  # helm's module has no replace directives, so `go install` of it at a version works.
  GOBIN=$helm_bin CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_kwok() {
  local kwok_bin=$cache_root/kwok-$KWOK_VERSION/bin
  [[ -x $kwok_bin/kwok ]] && return 0
  mkdir -p "$kwok_bin"
  echo "building kwok $KWOK_VERSION (first time only; cached in $kwok_bin)" >&2
  # kwok (sigs.k8s.io/kwok) simulates nodes and the pod lifecycle for the benchmarks; its
  # module has no replace directives, so `go install` of it at a version works.
  GOBIN=$kwok_bin CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

build_coredns() {
  local coredns_bin=$cache_root/coredns-$COREDNS_VERSION/bin
  [[ -x $coredns_bin/coredns ]] && return 0
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # CoreDNS's documented way to choose plugins: a main package that sets the directive order
  # and imports only those plugins, instead of core/plugin (which pulls in every plugin and the
  # cloud SDKs of route53/azure/clouddns). `bind` puts it on the cluster DNS address, and
  # `template` answers NXDOMAIN outside the cluster zones (there is no upstream). The cache is
  # keyed by version only: after changing this list, remove $coredns_bin.
  local plugins=(bind ready health errors cache template kubernetes loop) p imports="" directives=""
  for p in "${plugins[@]}"; do
    imports+=$'\t_ "github.com/coredns/coredns/plugin/'"$p"$'"\n'
    directives+="\"$p\", "
  done
  printf 'module kubedag.local/corednsbuild\n\ngo 1.24\n\nrequire github.com/coredns/coredns %s\n' \
    "$COREDNS_VERSION" >"$work/go.mod"
  printf '%s\n' 'package main' '' 'import (' \
    $'\t"github.com/coredns/coredns/core/dnsserver"' \
    $'\t"github.com/coredns/coredns/coremain"' \
    "$imports)" '' 'func main() {' \
    $'\t'"dnsserver.Directives = []string{${directives%, }}" \
    $'\tcoremain.Run()' '}' >"$work/main.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >"$work/tidy.log" 2>&1) ||
    { cat "$work/tidy.log" >&2; echo "error: go mod tidy failed for coredns $COREDNS_VERSION" >&2; exit 1; }
  mkdir -p "$coredns_bin"
  echo "building coredns $COREDNS_VERSION (first time only; cached in $coredns_bin)" >&2
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" \
    -o "$coredns_bin/coredns.tmp" .)
  "$coredns_bin/coredns.tmp" -plugins | grep -qx kubernetes ||
    { echo "error: the coredns binary built from $COREDNS_VERSION lacks the kubernetes plugin" >&2; exit 1; }
  mv "$coredns_bin/coredns.tmp" "$coredns_bin/coredns"
}

build_argo() {
  local argo_bin=$cache_root/argo-workflows-$ARGO_WORKFLOWS_VERSION/bin
  [[ -x $argo_bin/workflow-controller ]] && return 0
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local v=$ARGO_WORKFLOWS_VERSION mod=github.com/argoproj/argo-workflows/v3
  # Argo's go.mod pins a dependency with a replace directive, which `go install ...@version`
  # refuses; a wrapper module requires it and copies its (module-to-module) replaces.
  local upstream_mod
  upstream_mod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$mod@$v" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module kubedag.local/argobuild"
    echo
    echo "go 1.25"
    echo
    echo "require $mod $v"
    echo
    sed -n 's#^\(replace \)\?\s*\([^ ]*\) => \([^ .][^ ]*\) \(v[^ ]*\)$#replace \2 => \3 \4#p' "$upstream_mod"
  } >"$work/go.mod"
  grep -q '^replace' "$work/go.mod" ||
    { echo "error: found no replaces in $upstream_mod" >&2; exit 1; }
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/workflow-controller"\n' "$mod" >"$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >"$work/tidy.log" 2>&1) ||
    { cat "$work/tidy.log" >&2; echo "error: go mod tidy failed for argo-workflows $v" >&2; exit 1; }
  mkdir -p "$argo_bin"
  echo "building argo-workflows workflow-controller $v (first time only; cached in $argo_bin)" >&2
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X $mod.version=$v" -o "$argo_bin/workflow-controller.tmp" "$mod/cmd/workflow-controller")
  "$argo_bin/workflow-controller.tmp" version >/dev/null ||
    { echo "error: the workflow-controller built from $v does not run" >&2; exit 1; }
  mv "$argo_bin/workflow-controller.tmp" "$argo_bin/workflow-controller"
  # The CRDs the controller watches, from the same module source (the "minimal" set: no
  # OpenAPI schemas, as upstream installs them).
  local src; src=$(cd "$work" && go list -m -f '{{.Dir}}' "$mod")
  rm -rf "$argo_bin/../crds" && cp -r "$src/manifests/base/crds/minimal" "$argo_bin/../crds"
  chmod -R u+w "$argo_bin/../crds"
}

k8s_components=()
for c in "$@"; do
  case $c in
    etcd) build_etcd ;;
    helm) build_helm ;;
    kwok) build_kwok ;;
    coredns) build_coredns ;;
    workflow-controller) build_argo ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl) k8s_components+=("$c") ;;
    *) echo "error: unknown component '$c'" >&2; exit 2 ;;
  esac
done
((${#k8s_components[@]})) && build_kubernetes "${k8s_components[@]}"
echo "$k8s_bin"
