//go:build tools

// Package envtest pins the Kubernetes binaries that hack/envtest-assets.sh builds: etcd and
// kube-apiserver for envtest, and the rest of a single-node cluster for test/node.
package envtest

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
