// Package nodecluster runs a single-node Kubernetes cluster from host processes, for the
// node suite (test/node) and `make cluster-up`: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet and kube-proxy built from
// k8s.io/kubernetes (hack/envtest-assets.sh --node), Debian's containerd, runc and CNI
// plugins, a bridge network and a pause image built here.
//
// Everything it makes lives under one state directory or is listed in it (processes by
// pid file, the bridge, the route to the Service range, kube-proxy's iptables chains), so
// Down removes it all, also after a failed Up or a crashed test. It needs root.
//
// Addresses: the node and the API server are on the bridge's gateway, 10.244.0.1; Pods get
// 10.244.0.0/24; Services 10.96.0.0/16; etcd and the components' own ports are on loopback.
package nodecluster
