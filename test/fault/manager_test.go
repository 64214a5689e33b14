package fault

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// managerProcess is the manager binary running against the control plane (copied in
// small from test/e2e, which another suite owns).
type managerProcess struct {
	cmd         *exec.Cmd
	log         *lockedBuffer
	exited      chan struct{}
	webhookAddr string
	metricsAddr string
	probeAddr   string
	stopOnce    sync.Once
}

// startManager runs the manager with extra flags; the kubeconfig's server may be a proxy.
func startManager(t *testing.T, kubeconfig string, extra ...string) *managerProcess {
	t.Helper()
	m := &managerProcess{
		log:         &lockedBuffer{},
		exited:      make(chan struct{}),
		webhookAddr: freeAddress(t),
		metricsAddr: freeAddress(t),
		probeAddr:   freeAddress(t),
	}
	args := append([]string{
		"--kubeconfig", kubeconfig,
		"--webhook-bind-address", m.webhookAddr,
		"--metrics-bind-address", m.metricsAddr,
		"--health-probe-bind-address", m.probeAddr,
	}, extra...)
	m.cmd = exec.Command(managerBin, args...)
	m.cmd.Env = append(os.Environ(), "KUBECONFIG=")
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting the manager: %v", err)
	}
	go func() {
		_ = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() {
		m.stop(t)
		if t.Failed() {
			t.Logf("manager %s log (last 40 lines):\n%s", m.webhookAddr, lastLines(m.log.String(), 40))
		}
	})
	return m
}

func (m *managerProcess) url(ns, name string) string {
	return "http://" + m.webhookAddr + "/webhooks/" + ns + "/" + name
}

// kill SIGKILLs the manager and waits for it to be gone.
func (m *managerProcess) kill(t *testing.T) {
	t.Helper()
	_ = m.cmd.Process.Kill()
	<-m.exited
}

func (m *managerProcess) stop(t *testing.T) {
	m.stopOnce.Do(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(40 * time.Second):
			t.Errorf("the manager did not stop within 40 s of SIGTERM; killing it")
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	})
}

// waitReady waits until /readyz answers 200, failing early if the process exits.
func (m *managerProcess) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 90*time.Second, "the manager's /readyz", func() error {
		select {
		case <-m.exited:
			t.Fatalf("the manager exited before it was ready: %v\n%s", m.cmd.ProcessState, lastLines(m.log.String(), 40))
		default:
		}
		code, body, err := httpGet("http://" + m.probeAddr + "/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("/readyz answered %d: %s", code, body)
		}
		return nil
	})
}

// adminKubeconfig writes a kubeconfig for a system:masters user; server, when not
// empty, replaces the API server's address (a proxy's).
func adminKubeconfig(t *testing.T, server string) string {
	t.Helper()
	user, err := env.Env.AddUser(envtest.User{Name: "fault-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("adding the admin user: %v", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	if server != "" {
		cfg, err := clientcmd.Load(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, cluster := range cfg.Clusters {
			cluster.Server = "https://" + server
		}
		if data, err = clientcmd.Write(*cfg); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddress(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = listener.Close() }()
	return listener.Addr().String()
}

func httpGet(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var body bytes.Buffer
	_, err = body.ReadFrom(resp.Body)
	return resp.StatusCode, body.String(), err
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// eventually polls check until it returns nil, failing with its last error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: test cancelled: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
