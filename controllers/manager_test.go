package controllers

import (
	"context"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
)

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
