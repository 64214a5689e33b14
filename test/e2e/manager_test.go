package e2e

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

	"github.com/assocsync/associate-operator/internal/testenv"
)

// buildBinary builds a main package of the repository the way the Makefile's `build`
// target (and so the Dockerfile) does.
func buildBinary(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, output)
	}
	return out
}

// freeAddress is a loopback address with a port nobody listens on right now.
func freeAddress(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().String()
}

// lockedBuffer collects a process's output while the test reads it.
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

// managerProcess is the manager binary running against the test's control plane.
type managerProcess struct {
	cmd         *exec.Cmd
	log         *lockedBuffer
	exited      chan struct{}
	webhookAddr string
	metricsAddr string
	probeAddr   string
	stopOnce    sync.Once
}

// startManager runs the manager with the kubeconfig's identity and leader election in
// namespace; it is always stopped when the test ends.
func startManager(t *testing.T, binary, kubeconfig, namespace string) *managerProcess {
	t.Helper()
	m := &managerProcess{
		log:         &lockedBuffer{},
		exited:      make(chan struct{}),
		webhookAddr: freeAddress(t),
		metricsAddr: freeAddress(t),
		probeAddr:   freeAddress(t),
	}
	m.cmd = exec.Command(binary,
		"--kubeconfig", kubeconfig,
		"--leader-elect", "--leader-election-namespace", namespace,
		"--webhook-bind-address", m.webhookAddr,
		"--metrics-bind-address", m.metricsAddr,
		"--health-probe-bind-address", m.probeAddr,
	)
	// No ambient cluster: only the kubeconfig given here.
	m.cmd.Env = append(os.Environ(), "KUBECONFIG=")
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	m.cmd.SysProcAttr = dieWithParent()
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
			t.Logf("manager log (last 60 lines):\n%s", lastLines(m.log.String(), 60))
		}
	})
	return m
}

// stop asks the manager to shut down and kills it if it does not within 40 s.
func (m *managerProcess) stop(t *testing.T) {
	m.stopOnce.Do(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(40 * time.Second):
			t.Errorf("the manager did not stop within 40 s of SIGTERM (its graceful shutdown is 30 s); killing it")
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	})
}

// waitReady waits until /readyz answers 200, failing early if the process exits.
func (m *managerProcess) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "the manager's /readyz", func() error {
		select {
		case <-m.exited:
			t.Fatalf("the manager exited before it was ready: %v\n%s", m.cmd.ProcessState, lastLines(m.log.String(), 40))
		default:
		}
		body, code, err := httpGet(t, "http://"+m.probeAddr+"/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("/readyz answered %d: %s", code, body)
		}
		return nil
	})
}

func httpGet(t *testing.T, url string) (string, int, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, err = body.ReadFrom(resp.Body)
	return body.String(), resp.StatusCode, err
}

func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
