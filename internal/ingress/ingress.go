// Package ingress serves SuperOffice webhook deliveries inside the manager, on every replica.
package ingress

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Options configures the ingress.
type Options struct {
	// BindAddress is where the webhook server listens, for example ":8082".
	BindAddress string
	// TombstoneTTL is how long a deleted associate's tombstone lives.
	TombstoneTTL time.Duration
}

// Add registers the webhook ingress with the manager.
func Add(mgr manager.Manager, opts Options) error {
	return nil
}
