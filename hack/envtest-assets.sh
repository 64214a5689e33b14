#!/usr/bin/env bash
# Makes sure etcd and kube-apiserver exist for envtest and prints their directory.
# KUBEBUILDER_ASSETS wins when it holds both; otherwise they are built from Go modules
# (hack/envtest) into bin/k8s, stamped with their real version, and reused afterwards.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
k8s_version=v1.37.2

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/etcd" && -x "$KUBEBUILDER_ASSETS/kube-apiserver" ]]; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

out="$root/bin/k8s"
stamp="$out/.version"
if [[ -x "$out/etcd" && -x "$out/kube-apiserver" && "$(cat "$stamp" 2>/dev/null)" == "$k8s_version" ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out"
echo "building etcd and kube-apiserver $k8s_version from Go modules into $out (about 4 minutes the first time)" >&2
minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
  -X k8s.io/component-base/version.gitTreeState=clean"
cd "$root/hack/envtest"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3 >&2
echo "$k8s_version" > "$stamp"
echo "$out"
