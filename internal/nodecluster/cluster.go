package nodecluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sentinelFile, in a state directory, says Up made it (and holds the bin dir).
const sentinelFile = "nodecluster"

// markerFile names the state directory of the cluster this machine runs, so that a
// new Up first takes down one that a crashed run left (there can be only one: the
// bridge, its address and the API server's port are fixed).
const markerFile = "/run/associate-operator-node-cluster"

// Options say where the cluster lives and what it runs.
type Options struct {
	// Dir holds all the cluster's state; it is made if missing.
	Dir string
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
	// kubelet and kube-proxy (hack/envtest-assets.sh --node).
	BinDir string
	// PauseBinary is the sandbox image's process (hack/cluster/pause, static).
	PauseBinary string
	// Images are image tarballs (OCI layout or docker archive) to import, e.g. make image's.
	Images []string
	// Log gets progress lines; nil: none.
	Log io.Writer
}

// Cluster is a running cluster.
type Cluster struct {
	// Dir is its state directory.
	Dir string
	// Kubeconfig is the admin's (system:masters) kubeconfig.
	Kubeconfig string
	// Server is the API server's URL.
	Server string
}

// binaries are the Kubernetes programs Up runs from Options.BinDir.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"}

// hostCommands are what Up needs from the machine, and the Debian package of each.
var hostCommands = map[string]string{
	"containerd":              "containerd",
	"containerd-shim-runc-v2": "containerd",
	"ctr":                     "containerd",
	"runc":                    "runc",
	"iptables":                "iptables",
	"ip6tables":               "iptables",
	"ip":                      "iproute2",
	"/usr/lib/cni/bridge":     "containernetworking-plugins",
	"/usr/lib/cni/host-local": "containernetworking-plugins",
	"/usr/lib/cni/loopback":   "containernetworking-plugins",
}

// Preflight says what this machine lacks to run the cluster; nil when nothing.
func Preflight(binDir string) error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the kubelet, containerd and the bridge need it; run as root)")
	}
	packages := map[string]bool{}
	for cmd, pkg := range hostCommands {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, cmd)
			packages[pkg] = true
		}
	}
	var install []string
	for pkg := range packages {
		install = append(install, pkg)
	}
	if len(install) > 0 {
		slices.Sort(install)
		missing = append(missing, "(apt-get install -y --no-install-recommends "+strings.Join(install, " ")+")")
	}
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			missing = append(missing, filepath.Join(binDir, b)+" (hack/envtest-assets.sh --node builds it)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot run a node cluster here; missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

// onlyLogs tells whether a directory holds just what Down leaves: logs/.
func onlyLogs(entries []os.DirEntry) bool {
	return len(entries) == 1 && entries[0].Name() == "logs"
}

// hostConflicts refuses a host where another cluster's parts are: the bridge, iptables
// chains of a kube-proxy or kubelet, a kubepods cgroup, or the API server's or kubelet's
// port on the gateway. Down removes such things by name, so it must be ours alone.
func hostConflicts() error {
	var found []string
	if run("ip", "link", "show", Bridge) == nil {
		found = append(found, "network interface "+Bridge)
	}
	for _, table := range []string{"filter", "nat", "mangle"} {
		if rules, err := output("iptables", "-w", "-t", table, "-S"); err == nil && strings.Contains(rules, "-N KUBE-") {
			found = append(found, "KUBE-* chains in iptables' "+table+" table")
		}
	}
	if roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods"); len(roots) > 0 {
		found = append(found, "cgroup "+roots[0])
	}
	if len(found) > 0 {
		return fmt.Errorf("another cluster (or a kubelet) seems to run on this host: %s; stop it first", strings.Join(found, ", "))
	}
	return nil
}

// Up starts the cluster and returns when its Node is Ready and its default
// ServiceAccount exists. A cluster that a crashed run left is taken down first; a failed
// Up takes down what it made.
func Up(ctx context.Context, o Options) (c *Cluster, err error) {
	if err := Preflight(o.BinDir); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if previous, err := os.ReadFile(markerFile); err == nil {
		l := layout{strings.TrimSpace(string(previous))}
		if running := l.runningProcesses(); len(running) > 0 {
			return nil, fmt.Errorf("a cluster runs in %s (%s); take it down first (make cluster-down CLUSTER_DIR=%s)",
				l.dir, strings.Join(running, ", "), l.dir)
		}
		fmt.Fprintf(o.Log, "taking down the cluster a previous run left in %s\n", l.dir)
		if err := Down(l.dir, o.BinDir); err != nil {
			return nil, fmt.Errorf("taking down the previous cluster: %w", err)
		}
	}
	if err := hostConflicts(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 && !onlyLogs(entries) {
		return nil, fmt.Errorf("%s is not empty: Up makes a cluster only in a new or empty directory (one Down left holds only logs/)", dir)
	}
	// The sentinel marks dir as a cluster's, so that Down removes nothing else; the bin
	// dir lets Down find kube-proxy for its cleanup.
	if err := os.WriteFile(filepath.Join(dir, sentinelFile), []byte(o.BinDir), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(markerFile, []byte(dir), 0o644); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if downErr := Down(dir, o.BinDir); downErr != nil {
				err = fmt.Errorf("%w (and taking it down: %w)", err, downErr)
			}
		}
	}()
	u := &starter{l: layout{dir}, o: o, ctx: ctx}
	return u.up()
}

type starter struct {
	l   layout
	o   Options
	ctx context.Context
	p   ports
}

func (u *starter) bin(name string) string { return filepath.Join(u.o.BinDir, name) }

func (u *starter) step(format string, args ...any) {
	fmt.Fprintf(u.o.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (u *starter) up() (*Cluster, error) {
	server := "https://" + net.JoinHostPort(GatewayIP, strconv.Itoa(APIServerPort))
	if err := u.freePorts(u.ctx); err != nil {
		return nil, err
	}
	u.step("writing certificates and configuration to %s", u.l.dir)
	if err := writePKI(u.l.path("pki"), server); err != nil {
		return nil, err
	}
	if err := writeConfigs(u.l, u.p); err != nil {
		return nil, err
	}
	if err := u.network(); err != nil {
		return nil, err
	}
	if err := u.controlPlane(); err != nil {
		return nil, err
	}
	if err := u.runtime(); err != nil {
		return nil, err
	}
	if err := u.node(); err != nil {
		return nil, err
	}
	u.step("cluster ready: KUBECONFIG=%s", u.l.kubeconfig("admin"))
	return &Cluster{Dir: u.l.dir, Kubeconfig: u.l.kubeconfig("admin"), Server: server}, nil
}

// freePorts picks the loopback ports of the parts that serve only the host.
func (u *starter) freePorts(ctx context.Context) error {
	targets := []*int{&u.p.etcdClient, &u.p.etcdPeer, &u.p.controllerManager, &u.p.scheduler,
		&u.p.kubeletHealthz, &u.p.kubeProxyHealthz, &u.p.kubeProxyMetrics}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for _, t := range targets {
		l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		*t = l.Addr().(*net.TCPAddr).Port
	}
	return nil
}

// network makes the bridge with the gateway address before anything binds to it, and
// routes the Service range through it so that the host reaches ClusterIPs (kube-proxy
// rewrites them) without a default route.
func (u *starter) network() error {
	u.step("bridge %s %s/24, route %s", Bridge, GatewayIP, ServiceCIDR)
	forward, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return err
	}
	// containerd's CNI library keeps its cache in /var/lib/cni; Down removes it if Up made it.
	if _, err := os.Stat(cniCacheDir); os.IsNotExist(err) {
		if err := os.WriteFile(u.l.path("cni-cache-made"), nil, 0o644); err != nil {
			return err
		}
	}
	// The bridge plugin turns forwarding on; Down puts back what was there.
	if err := os.WriteFile(u.l.path("ip_forward"), forward, 0o644); err != nil {
		return err
	}
	if err := run("ip", "link", "add", Bridge, "type", "bridge"); err != nil {
		return err
	}
	// Recorded only once made: Down never deletes a bridge it did not make.
	if err := os.WriteFile(u.l.path("bridge"), []byte(Bridge), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"addr", "add", GatewayIP + "/24", "dev", Bridge},
		{"link", "set", Bridge, "up"},
		{"route", "add", ServiceCIDR, "dev", Bridge, "src", GatewayIP},
	} {
		if err := run("ip", args...); err != nil {
			return err
		}
	}
	return nil
}

func (u *starter) controlPlane() error {
	etcdURL := "https://127.0.0.1:" + strconv.Itoa(u.p.etcdClient)
	peerURL := "https://127.0.0.1:" + strconv.Itoa(u.p.etcdPeer)
	pki := u.l.pki
	etcdClient, err := tlsClient(pki("ca.crt"), pki("apiserver-etcd-client.crt"), pki("apiserver-etcd-client.key"))
	if err != nil {
		return err
	}
	u.step("etcd on %s", etcdURL)
	if err := u.startAndWait(process{name: "etcd", argv: []string{u.bin("etcd"),
		"--name", "node-suite", "--data-dir", u.l.path("etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "node-suite=" + peerURL, "--unsafe-no-fsync",
		"--cert-file", pki("etcd.crt"), "--key-file", pki("etcd.key"),
		"--client-cert-auth", "--trusted-ca-file", pki("ca.crt"),
		"--peer-cert-file", pki("etcd.crt"), "--peer-key-file", pki("etcd.key"),
		"--peer-client-cert-auth", "--peer-trusted-ca-file", pki("ca.crt"),
	}}, func() error { return httpOK(u.ctx, etcdClient, etcdURL+"/health") }); err != nil {
		return err
	}

	u.step("kube-apiserver on https://%s:%d", GatewayIP, APIServerPort)
	admin, err := tlsClient(pki("ca.crt"), pki("admin.crt"), pki("admin.key"))
	if err != nil {
		return err
	}
	server := "https://" + net.JoinHostPort(GatewayIP, strconv.Itoa(APIServerPort))
	if err := u.startAndWait(process{name: "kube-apiserver", argv: []string{u.bin("kube-apiserver"),
		"--etcd-servers", etcdURL, "--etcd-cafile", pki("ca.crt"),
		"--etcd-certfile", pki("apiserver-etcd-client.crt"), "--etcd-keyfile", pki("apiserver-etcd-client.key"),
		"--bind-address", GatewayIP, "--advertise-address", GatewayIP, "--secure-port", strconv.Itoa(APIServerPort),
		"--tls-cert-file", pki("apiserver.crt"), "--tls-private-key-file", pki("apiserver.key"),
		"--client-ca-file", pki("ca.crt"),
		"--kubelet-client-certificate", pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key", pki("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types", "InternalIP",
		"--service-cluster-ip-range", ServiceCIDR,
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", pki("sa.pub"), "--service-account-signing-key-file", pki("sa.key"),
		"--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--anonymous-auth=false",
		"--profiling=false",
	}}, func() error { return httpOK(u.ctx, admin, server+"/readyz") }); err != nil {
		return err
	}

	u.step("kube-controller-manager and kube-scheduler")
	kcm := u.l.kubeconfig("controller-manager")
	if _, err := u.l.start(process{name: "kube-controller-manager", argv: []string{u.bin("kube-controller-manager"),
		"--kubeconfig", kcm, "--authentication-kubeconfig", kcm, "--authorization-kubeconfig", kcm,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(u.p.controllerManager),
		"--leader-elect=false", "--use-service-account-credentials=true",
		"--root-ca-file", pki("ca.crt"), "--service-account-private-key-file", pki("sa.key"),
		"--cluster-name", "node-suite", "--profiling=false",
	}}); err != nil {
		return err
	}
	sched := u.l.kubeconfig("scheduler")
	_, err = u.l.start(process{name: "kube-scheduler", argv: []string{u.bin("kube-scheduler"),
		"--config", u.l.path("scheduler", "config.yaml"),
		"--authentication-kubeconfig", sched, "--authorization-kubeconfig", sched,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(u.p.scheduler),
	}})
	return err
}

// runtime starts containerd and imports the pause image and Options.Images.
func (u *starter) runtime() error {
	u.step("containerd on %s", u.l.containerdSocket())
	if err := u.startContainerd(); err != nil {
		return err
	}
	pause := u.l.path("images", "pause.tar")
	u.step("pause image %s", PauseImage)
	if err := writePauseImage(u.o.PauseBinary, pause); err != nil {
		return err
	}
	for _, image := range append([]string{pause}, u.o.Images...) {
		u.step("importing %s", image)
		if err := u.importImage(image); err != nil {
			return err
		}
	}
	return nil
}

func (u *starter) startContainerd() error {
	return startContainerd(u.ctx, u.l)
}

func startContainerd(ctx context.Context, l layout) error {
	exited, err := l.start(process{name: "containerd", argv: []string{"containerd", "--config", l.path("containerd", "config.toml")}})
	if err != nil {
		return err
	}
	return waitFor(ctx, "containerd", l, exited, 30*time.Second, func() error {
		return run("ctr", "--address", l.containerdSocket(), "version")
	})
}

func (u *starter) importImage(path string) error {
	return run("ctr", "--address", u.l.containerdSocket(), "--namespace", "k8s.io", "images", "import", "--no-unpack=false", path)
}

// node starts the kubelet and kube-proxy and waits for the Node to be Ready and the
// default ServiceAccount to exist (Pods are refused until it does).
func (u *starter) node() error {
	u.step("kubelet and kube-proxy")
	if _, err := u.l.start(process{name: "kubelet", argv: []string{u.bin("kubelet"),
		"--config", u.l.path("kubelet", "config.yaml"), "--kubeconfig", u.l.kubeconfig("kubelet"),
		"--root-dir", u.l.path("kubelet", "root"), "--cert-dir", u.l.path("kubelet", "pki"),
		"--hostname-override", NodeName, "--node-ip", GatewayIP,
	}}); err != nil {
		return err
	}
	if _, err := u.l.start(process{name: "kube-proxy", argv: []string{u.bin("kube-proxy"),
		"--config", u.l.path("kube-proxy", "config.yaml"),
	}}); err != nil {
		return err
	}
	u.step("waiting for Node %s to be Ready", NodeName)
	return u.waitNodeReady()
}

// startAndWait starts p and polls ready until it answers, p exits, or a minute passes.
func (u *starter) startAndWait(p process, ready func() error) error {
	exited, err := u.l.start(p)
	if err != nil {
		return err
	}
	return waitFor(u.ctx, p.name, u.l, exited, time.Minute, ready)
}

func waitFor(ctx context.Context, name string, l layout, exited <-chan struct{}, timeout time.Duration, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited; the end of its log:\n%s", name, l.tail(name, 30))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w; the end of its log:\n%s", name, timeout, err, l.tail(name, 30))
		case <-tick.C:
		}
	}
}
