package mirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// maxAttempts bounds the re-read-and-decide loop on conflicts.
const maxAttempts = 8

// DefaultCallTimeout bounds every API call: with etcd down, writes hang until a deadline,
// and the ingress must still answer 503 in time.
const DefaultCallTimeout = 10 * time.Second

// ErrInvalid wraps observations that can never be applied (no name can be made of them).
var ErrInvalid = errors.New("invalid observation")

// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=associates,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;delete

// Mirror writes Associates and their tombstones.
type Mirror struct {
	client    client.Client // reads from the cache, writes to the API server
	apiReader client.Reader // live reads, after a conflict and around deletions
	ttl       time.Duration
	// CallTimeout bounds each API call; DefaultCallTimeout when zero.
	CallTimeout time.Duration
	// Now is the clock, for tombstone expiry.
	Now func() time.Time
}

// New makes a Mirror from a manager's cached client and API reader.
func New(mgr manager.Manager, tombstoneTTL time.Duration) *Mirror {
	return NewWithClients(mgr.GetClient(), mgr.GetAPIReader(), tombstoneTTL)
}

// NewWithClients makes a Mirror from a (cached) client and a live reader.
func NewWithClients(c client.Client, apiReader client.Reader, tombstoneTTL time.Duration) *Mirror {
	return &Mirror{client: c, apiReader: apiReader, ttl: tombstoneTTL}
}

func (m *Mirror) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// call runs one API call under its own deadline.
func (m *Mirror) call(ctx context.Context, fn func(context.Context) error) error {
	timeout := m.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return fn(ctx)
}

func errTooManyConflicts(key types.NamespacedName, what string) error {
	return fmt.Errorf("%s of associate %s: still conflicting after %d attempts", what, key, maxAttempts)
}
