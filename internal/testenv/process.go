package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopTimeout is how long Stop waits after SIGTERM: the manager's graceful shutdown is
// 30 s, so a manager still running after this hangs.
const stopTimeout = 40 * time.Second

// ManagerProcess is the manager binary running against a test's control plane, its
// servers on free loopback ports.
type ManagerProcess struct {
	WebhookAddr string
	MetricsAddr string
	ProbeAddr   string

	cmd      *exec.Cmd
	log      *LogBuffer
	exited   chan struct{}
	stopOnce sync.Once
}

// StartManager runs binary with the kubeconfig's identity (and no ambient one) and the
// extra args; it is always stopped when the test ends, its log shown if the test failed.
func StartManager(t testing.TB, binary, kubeconfig string, args ...string) *ManagerProcess {
	t.Helper()
	m := &ManagerProcess{
		WebhookAddr: FreeAddress(t),
		MetricsAddr: FreeAddress(t),
		ProbeAddr:   FreeAddress(t),
		log:         &LogBuffer{},
		exited:      make(chan struct{}),
	}
	args = append([]string{
		"--kubeconfig", kubeconfig,
		"--webhook-bind-address", m.WebhookAddr,
		"--metrics-bind-address", m.MetricsAddr,
		"--health-probe-bind-address", m.ProbeAddr,
	}, args...)
	// Not the test's context: that is cancelled before the cleanups, and Stop wants to
	// send SIGTERM and see a graceful shutdown.
	m.cmd = exec.CommandContext(context.Background(), binary, args...)
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
		m.Stop(t)
		if t.Failed() {
			t.Logf("manager %s log (last 60 lines):\n%s", m.WebhookAddr, LastLines(m.Log(), 60))
		}
	})
	return m
}

// Pid is the manager process's id.
func (m *ManagerProcess) Pid() int { return m.cmd.Process.Pid }

// Log is everything the manager has written to stdout and stderr so far.
func (m *ManagerProcess) Log() string { return m.log.String() }

// Stop asks the manager to shut down and kills it if it does not within stopTimeout.
func (m *ManagerProcess) Stop(t testing.TB) {
	m.stopOnce.Do(func() {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(stopTimeout):
			t.Errorf("the manager did not stop within %s of SIGTERM (its graceful shutdown is 30 s); killing it", stopTimeout)
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	})
}

// Kill SIGKILLs the manager and waits for it to be gone.
func (m *ManagerProcess) Kill(t testing.TB) {
	t.Helper()
	_ = m.cmd.Process.Kill()
	<-m.exited
}

// WaitReady waits until /readyz answers 200, failing early if the process exits.
func (m *ManagerProcess) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, "the manager's /readyz", func() error {
		select {
		case <-m.exited:
			t.Fatalf("the manager exited before it was ready: %v\n%s", m.cmd.ProcessState, LastLines(m.Log(), 40))
		default:
		}
		code, body, err := HTTPGet(t.Context(), "http://"+m.ProbeAddr+"/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("/readyz answered %d: %s", code, body)
		}
		return nil
	})
}
