// Package controllers holds the operator's reconcilers.
package controllers

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Options configures the reconcilers.
type Options struct {
	// TombstoneTTL is how long a deleted associate's tombstone lives before it is collected.
	TombstoneTTL time.Duration
}

// Setup registers every reconciler with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	return nil
}
