package controllers

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// TestMain stops the package's control plane once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if controlPlane.env != nil {
		if err := controlPlane.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.Exit(code)
}

// controlPlane is the package's one envtest control plane, started by the first test
// that needs it. Each test runs its own manager against it, in namespaces of its own,
// and removes the cluster-scoped objects it made.
var controlPlane struct {
	once sync.Once
	env  *testenv.Environment
	cfg  *rest.Config
	err  error
}

// startControlPlane returns the package's control plane, starting it on first use.
func startControlPlane(t *testing.T) (*rest.Config, *testenv.Environment) {
	t.Helper()
	controlPlane.once.Do(func() {
		if controlPlane.env, controlPlane.err = testenv.New(); controlPlane.err != nil {
			return
		}
		controlPlane.cfg, controlPlane.err = controlPlane.env.Start()
	})
	if controlPlane.err != nil {
		t.Fatal(controlPlane.err)
	}
	return controlPlane.cfg, controlPlane.env
}

// runManager starts mgr until the test ends and returns the context it runs under; a
// manager that stops with an error fails the test.
func runManager(t *testing.T, mgr ctrl.Manager) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager stopped with %v", err)
		}
	})
	return ctx
}
