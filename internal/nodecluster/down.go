package nodecluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Down takes the cluster in dir down and removes what it made: its processes, every Pod
// sandbox (through containerd, so that CNI releases their addresses and network
// namespaces), containerd's shims, the mounts under dir, the kubelet's cgroups,
// kube-proxy's and the kubelet's iptables chains, the bridge and its route, and the
// state itself (the logs stay, for reading). It goes on past failures and returns them
// all. A missing dir, or one an earlier Down left, is no error; a dir that Up did not
// make (no sentinel file) is refused, so that nothing else is ever removed.
func Down(dir, binDir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if resolved, err := filepath.EvalSymlinks(dir); err == nil && resolved != dir {
		return fmt.Errorf("%s is a symbolic link (to %s); Down takes the cluster's own directory", dir, resolved)
	}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return removeMarker(dir)
	}
	sentinel, err := os.ReadFile(filepath.Join(dir, sentinelFile))
	if os.IsNotExist(err) {
		if entries, _ := os.ReadDir(dir); onlyLogs(entries) {
			return removeMarker(dir) // what an earlier Down left
		}
		return fmt.Errorf("%s holds no cluster (no %s file): nothing there is removed", dir, sentinelFile)
	}
	if err != nil {
		return err
	}
	if recorded := strings.TrimSpace(string(sentinel)); recorded != "" {
		binDir = recorded
	}
	l := layout{dir}
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Nothing may start new containers while the sandboxes go.
	for _, name := range components[:4] {
		keep(l.stop(name, name))
	}
	keep(removeSandboxes(l))
	keep(l.stop("containerd", "containerd"))
	for _, pid := range processesWithArgument(l.containerdSocket()) {
		_ = syscall.Kill(pid, syscall.SIGKILL) // a shim whose containers are gone
	}
	keep(l.stop("kube-apiserver", "kube-apiserver"))
	keep(l.stop("etcd", "etcd"))

	if _, err := os.Stat(filepath.Join(binDir, "kube-proxy")); err == nil {
		_ = run(filepath.Join(binDir, "kube-proxy"), "--cleanup") // also fine when it made nothing
	}
	keep(removeChains())
	keep(unmountUnder(dir))
	keep(removeCgroups())
	if data, err := os.ReadFile(l.path("bridge")); err == nil {
		if err := run("ip", "link", "del", strings.TrimSpace(string(data))); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	if forward, err := os.ReadFile(l.path("ip_forward")); err == nil {
		keep(os.WriteFile("/proc/sys/net/ipv4/ip_forward", forward, 0o644))
	}
	if _, err := os.Stat(l.path("cni-cache-made")); err == nil {
		keep(os.RemoveAll(cniCacheDir))
	}
	if len(errs) == 0 {
		keep(removeAllBut(dir, "logs"))
		keep(removeMarker(dir))
	}
	return errors.Join(errs...)
}

// cniCacheDir is where containerd's CNI library caches results (not configurable in 1.6).
const cniCacheDir = "/var/lib/cni"

// removeMarker removes the host's marker when it names dir (no marker, or another
// cluster's, stays as it is).
func removeMarker(dir string) error {
	data, err := os.ReadFile(markerFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(data)) != dir {
		return nil
	}
	return os.Remove(markerFile)
}

// removeSandboxes stops and removes every Pod sandbox through CRI. When containerd is not
// running but its state is there (a crashed run), it is started again for this.
func removeSandboxes(l layout) error {
	if !exists(l.path("containerd", "config.toml")) {
		return nil // Up stopped before containerd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run("ctr", "--address", l.containerdSocket(), "version"); err != nil {
		if err := startContainerd(ctx, l); err != nil {
			return fmt.Errorf("starting containerd to remove the Pods: %w", err)
		}
	}
	conn, err := grpc.NewClient("unix://"+l.containerdSocket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	cri := runtimeapi.NewRuntimeServiceClient(conn)
	list, err := cri.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("listing Pod sandboxes: %w", err)
	}
	var errs []error
	for _, s := range list.Items {
		if _, err := cri.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stopping sandbox of %s/%s: %w", s.Metadata.GetNamespace(), s.Metadata.GetName(), err))
			continue
		}
		if _, err := cri.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			errs = append(errs, fmt.Errorf("removing sandbox of %s/%s: %w", s.Metadata.GetNamespace(), s.Metadata.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// removeChains deletes the iptables chains named KUBE-* (kube-proxy's, and the kubelet's
// canaries, which kube-proxy --cleanup leaves) and the rules that jump to them, for IPv4
// and IPv6.
func removeChains() error {
	var errs []error
	for _, cmd := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			rules, err := output(cmd, "-w", "-t", table, "-S")
			if err != nil {
				continue // a table the kernel lacks
			}
			var chains []string
			for _, line := range strings.Split(rules, "\n") {
				f := ruleFields(line)
				switch {
				case len(f) == 2 && f[0] == "-N" && strings.HasPrefix(f[1], "KUBE-"):
					chains = append(chains, f[1])
				case len(f) > 2 && f[0] == "-A" && !strings.HasPrefix(f[1], "KUBE-") && jumpsToKube(f):
					if err := run(cmd, append([]string{"-w", "-t", table, "-D"}, f[1:]...)...); err != nil {
						errs = append(errs, err)
					}
				}
			}
			for _, c := range chains {
				_ = run(cmd, "-w", "-t", table, "-F", c)
			}
			for _, c := range chains {
				if err := run(cmd, "-w", "-t", table, "-X", c); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// ruleFields splits a line of `iptables -S` into its arguments; iptables quotes those
// with spaces ("kubernetes service portals"), so that the rule can be given back to -D.
func ruleFields(line string) []string {
	var fields []string
	var b strings.Builder
	quoted, inField := false, false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && quoted && i+1 < len(line):
			i++
			b.WriteByte(line[i])
		case c == '"':
			quoted, inField = !quoted, true
		case c == ' ' && !quoted:
			if inField {
				fields = append(fields, b.String())
				b.Reset()
				inField = false
			}
		default:
			b.WriteByte(c)
			inField = true
		}
	}
	if inField {
		fields = append(fields, b.String())
	}
	return fields
}

func jumpsToKube(rule []string) bool {
	i := slices.Index(rule, "-j")
	return i >= 0 && i+1 < len(rule) && strings.HasPrefix(rule[i+1], "KUBE-")
}

// unmountUnder lazily unmounts every mount point below dir (the kubelet's volumes,
// containerd's rootfs and shm mounts), deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	var points []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMount(fields[4])
		if strings.HasPrefix(point, dir+"/") {
			points = append(points, point)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroups removes the kubelet's kubepods hierarchy from every cgroup v1 controller
// (and the v2 mount), children first; they are empty once the sandboxes are gone.
func removeCgroups() error {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	// Containers whose sandbox could not be removed still run in there.
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "cgroup.procs" {
				data, _ := os.ReadFile(p)
				for _, field := range strings.Fields(string(data)) {
					if pid, err := strconv.Atoi(field); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			return nil
		})
	}
	var errs []error
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range slices.Backward(dirs) {
			err := syscall.Rmdir(d)
			for try := 0; errors.Is(err, syscall.EBUSY) && try < 50; try++ {
				time.Sleep(100 * time.Millisecond) // killed processes leave it a moment later
				err = syscall.Rmdir(d)
			}
			if err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeAllBut removes dir's entries except keep.
func removeAllBut(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// exists tells whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
