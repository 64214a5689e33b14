package e2e

import (
	"context"
	"path/filepath"
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
	if err := testenv.BuildBinary(ctx, pkg, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// managerBinary is the manager built as the Makefile builds it (see testenv.ManagerBinary).
func managerBinary(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	path, err := testenv.ManagerBinary(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// startManager runs the manager with the kubeconfig's identity and leader election in
// namespace; it is always stopped when the test ends.
func startManager(t *testing.T, binary, kubeconfig, namespace string) *testenv.ManagerProcess {
	t.Helper()
	return testenv.StartManager(t, binary, kubeconfig, "--leader-elect", "--leader-election-namespace", namespace)
}
