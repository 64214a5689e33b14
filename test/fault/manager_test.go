package fault

import (
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// readyTimeout bounds how long a manager may take to answer /readyz.
const readyTimeout = 90 * time.Second

// managerProcess is the manager binary running against the control plane.
type managerProcess struct{ *testenv.ManagerProcess }

// startManager runs the manager with extra flags; the kubeconfig's server may be a proxy.
func startManager(t *testing.T, kubeconfig string, extra ...string) *managerProcess {
	t.Helper()
	return &managerProcess{testenv.StartManager(t, managerBin, kubeconfig, extra...)}
}

// startServing starts a manager and waits until it serves the receiver of ns; it
// returns the manager and the receiver's URL.
func startServing(t *testing.T, kubeconfig, ns string) (*managerProcess, string) {
	t.Helper()
	m := startManager(t, kubeconfig)
	m.WaitReady(t, readyTimeout)
	url := m.url(ns, receiverName)
	waitServed(t, url)
	return m, url
}

func (m *managerProcess) url(ns, name string) string {
	return "http://" + m.WebhookAddr + "/webhooks/" + ns + "/" + name
}

// adminKubeconfig writes a kubeconfig for a system:masters user; server, when not
// empty, replaces the API server's address (a proxy's).
func adminKubeconfig(t *testing.T, server string) string {
	t.Helper()
	return env.AdminKubeconfig(t, "fault-admin", server)
}
