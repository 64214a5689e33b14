package nodecluster

import (
	"fmt"
	"os"
	"path/filepath"
)

const (
	// NodeName is the one Node's name.
	NodeName = "assoc-node"
	// Bridge is the CNI bridge; its address is the Pods' gateway, the node's InternalIP and
	// the API server's address.
	Bridge    = "cni0"
	GatewayIP = "10.244.0.1"
	PodCIDR   = "10.244.0.0/24"
	// ServiceCIDR holds the Services' ClusterIPs; APIServiceIP is the kubernetes Service's.
	ServiceCIDR  = "10.96.0.0/16"
	APIServiceIP = "10.96.0.1"
	// APIServerPort is the API server's port on GatewayIP.
	APIServerPort = 6443
	// PauseImage is the sandbox image, built here and imported (nothing is pulled).
	PauseImage = "localhost/associate-operator/pause:node-suite"
	// cniNetwork names the CNI network (and its host-local IPAM store).
	cniNetwork = "assoc-node"
)

// layout is where each part keeps its files under the state directory.
type layout struct{ dir string }

func (l layout) path(parts ...string) string {
	return filepath.Join(append([]string{l.dir}, parts...)...)
}
func (l layout) pki(name string) string        { return l.path("pki", name) }
func (l layout) containerdSocket() string      { return l.path("containerd", "containerd.sock") }
func (l layout) kubeconfig(id string) string   { return l.pki(id + ".kubeconfig") }
func (l layout) logFile(process string) string { return l.path("logs", process+".log") }
func (l layout) pidFile(process string) string { return l.path("pids", process) }

// ports are the loopback ports of the parts that serve only the host.
type ports struct {
	etcdClient, etcdPeer               int
	controllerManager, scheduler       int
	kubeletHealthz                     int
	kubeProxyHealthz, kubeProxyMetrics int
}

func writeConfigs(l layout, p ports) error {
	files := map[string]string{
		l.path("containerd", "config.toml"):              containerdConfig(l),
		l.path("cni", "net.d", "10-assoc-node.conflist"): cniConfig(l),
		l.path("kubelet", "config.yaml"):                 kubeletConfig(l, p),
		l.path("kube-proxy", "config.yaml"):              kubeProxyConfig(l, p),
		l.path("scheduler", "config.yaml"):               schedulerConfig(l),
	}
	for path, text := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// containerdConfig keeps all of containerd's state under the state directory.
// restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so a sandbox that asks to
// lower its oom_score_adj would fail to start (runc: "can't get final child's PID").
func containerdConfig(l layout) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, l.path("containerd", "root"), l.path("containerd", "state"), l.containerdSocket(),
		l.path("containerd", "opt"), PauseImage, l.path("cni", "net.d"))
}

// cniConfig: one bridge, host-local addresses, no masquerading (Pods talk only to the
// node and to each other here).
func cniConfig(l layout) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": %q,
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}],
      "dataDir": %q
    }
  }]
}
`, cniNetwork, Bridge, PodCIDR, GatewayIP, l.path("cni", "ipam"))
}

// kubeletConfig: cgroups are v1 here (failCgroupV1: false) with no systemd
// (cgroupfs); the kubelet serves on the bridge address only, authenticates the API server
// by the cluster CA and authorizes through it; eviction thresholds are low so that a busy
// disk does not evict the suite's Pods.
func kubeletConfig(l layout, p ports) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
resolvConf: /etc/resolv.conf
serializeImagePulls: false
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
shutdownGracePeriod: 0s
`, GatewayIP, p.kubeletHealthz, l.pki("ca.crt"), l.containerdSocket(), l.path("pod-logs"))
}

// kubeProxyConfig: iptables mode; it leaves the host's conntrack and route_localnet
// sysctls alone, and serves NodePorts only on the bridge.
func kubeProxyConfig(l layout, p ports) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
nodePortAddresses: [%q]
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, l.kubeconfig("kube-proxy"), PodCIDR, NodeName, p.kubeProxyHealthz, p.kubeProxyMetrics, PodCIDR)
}

func schedulerConfig(l layout) string {
	return fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %s
leaderElection:
  leaderElect: false
`, l.kubeconfig("scheduler"))
}
