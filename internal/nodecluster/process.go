package nodecluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one component: its binary and arguments, its log and pid files.
type process struct {
	name string
	argv []string
}

// start runs p in its own session, so that it outlives `hack/cluster up` and is not hit
// by a terminal's Ctrl-C, with its output in logs/<name>.log and its pid in pids/<name>.
// exited is closed when it ends while this process still runs.
func (l layout) start(p process) (exited <-chan struct{}, err error) {
	for _, d := range []string{"logs", "pids"} {
		if err := os.MkdirAll(l.path(d), 0o755); err != nil {
			return nil, err
		}
	}
	log, err := os.OpenFile(l.logFile(p.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = log.Close() }()
	// A daemon that outlives this call (and `hack/cluster up`): no context ends it; stop does.
	cmd := exec.CommandContext(context.Background(), p.argv[0], p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", p.name, err)
	}
	if err := os.WriteFile(l.pidFile(p.name), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return done, nil
}

// stop ends the process of a pid file: SIGTERM, then SIGKILL after grace. A pid whose
// command line is not the component's binary any more is left alone.
// stopGrace is how long a component has to exit on SIGTERM.
const stopGrace = 15 * time.Second

func (l layout) stop(name, binary string) error {
	data, err := os.ReadFile(l.pidFile(name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("pid file %s: %w", l.pidFile(name), err)
	}
	if l.running(pid, binary) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(stopGrace)
		for l.running(pid, binary) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if l.running(pid, binary) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(10 * time.Second)
			for l.running(pid, binary) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			if l.running(pid, binary) {
				return fmt.Errorf("%s (pid %d) survives SIGKILL", name, pid)
			}
		}
	}
	return os.Remove(l.pidFile(name))
}

// running tells whether pid is alive (not a zombie), runs binary, and has the state
// directory in its command line (every component's flags name files in it), so that a
// pid reused by another process since is never signalled.
func (l layout) running(pid int, binary string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	return filepath.Base(string(argv0)) == filepath.Base(binary) && bytes.Contains(cmdline, []byte(l.dir+"/"))
}

// components are the processes Up starts, in the order Down stops them.
var components = []string{"kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager", "containerd", "kube-apiserver", "etcd"}

// runningProcesses names the components of the cluster in l that still run.
func (l layout) runningProcesses() []string {
	var names []string
	for _, name := range components {
		data, err := os.ReadFile(l.pidFile(name))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && l.running(pid, name) {
			names = append(names, name)
		}
	}
	return names
}

// processesWithArgument lists the pids with an argument exactly arg (containerd's shims
// carry its socket as -address).
func processesWithArgument(arg string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && slices.ContainsFunc(bytes.Split(cmdline, []byte{0}), func(a []byte) bool { return string(a) == arg }) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// tail is the end of a component's log, for error messages.
func (l layout) tail(name string, lines int) string {
	data, err := os.ReadFile(l.logFile(name))
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// hostCommandTimeout bounds each host command (ip, iptables, ctr, kube-proxy --cleanup).
const hostCommandTimeout = 2 * time.Minute

// run runs a host command and returns its error with its output.
func run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), hostCommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hostCommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}
