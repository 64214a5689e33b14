#!/usr/bin/env bash
# Makes sure the Kubernetes binaries exist and prints their directory.
#   hack/envtest-assets.sh          etcd and kube-apiserver, for envtest
#   hack/envtest-assets.sh --node   those plus kube-controller-manager, kube-scheduler, kubelet
#                                   and kube-proxy, for the single-node cluster (hack/cluster)
# KUBEBUILDER_ASSETS wins when it holds what is asked for; otherwise they are built from Go
# modules (hack/envtest) into bin/k8s, in one `go build` so that they share compiled
# packages, stamped with their real version, and reused afterwards.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
k8s_version=v1.37.2

want=(etcd kube-apiserver)
if [[ "${1:-}" == "--node" ]]; then
  want+=(kube-controller-manager kube-scheduler kubelet kube-proxy)
fi

have_all() {
  local dir=$1 b
  for b in "${want[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]] && have_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

out="$root/bin/k8s"
stamp="$out/.version"
if have_all "$out" && [[ "$(cat "$stamp" 2>/dev/null)" == "$k8s_version" ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out"
# The stamp speaks for every binary in $out: none of another version may stay beside it.
rm -f "$stamp" "$out"/etcd "$out"/kube-* "$out"/kubelet
echo "building ${want[*]} $k8s_version from Go modules into $out (4 to 8 minutes the first time)" >&2
minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
  -X k8s.io/component-base/version.gitTreeState=clean"
pkgs=()
for b in "${want[@]}"; do [[ $b == etcd ]] || pkgs+=("k8s.io/kubernetes/cmd/$b"); done
cd "$root/hack/envtest"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3 >&2
echo "$k8s_version" > "$stamp"
echo "$out"
