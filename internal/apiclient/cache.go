// Package apiclient keeps one SuperOffice REST client per WebhookReceiver with spec.api,
// built from the receiver's credentials Secret, so that tickets are reused across
// resyncs, registrations and deliveries. The resync controller and the ingress share it.
package apiclient

import (
	"context"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/secrets"
	"github.com/assocsync/associate-operator/internal/superoffice"
)

// Keys of the credentials Secret (spec.api.credentialsSecretRef).
const (
	KeyApplicationToken = "applicationToken"
	KeySystemUserToken  = "systemUserToken"
	KeyPrivateKey       = "privateKey"
	KeyTicket           = "ticket"
)

var (
	// ErrNoAPI: the receiver has no spec.api.
	ErrNoAPI = errors.New("the receiver has no spec.api")
	// ErrCredentialsNotFound: the credentials Secret does not exist.
	ErrCredentialsNotFound = errors.New("credentials Secret not found")
	// ErrInvalidCredentials: the Secret exists but its keys make no client.
	ErrInvalidCredentials = errors.New("credentials Secret unusable")
)

// Cache holds one client per receiver UID, rebuilt when spec.api, the tenant or the
// credentials Secret (its resourceVersion) change.
type Cache struct {
	secrets secrets.Reader
	// Configure, when set, adjusts every client's configuration (tests: page size, backoff).
	Configure func(*superoffice.Config)

	mu      sync.Mutex
	clients map[types.UID]entry
}

type entry struct {
	fingerprint string
	client      *superoffice.Client
}

// NewCache reads credentials Secrets through secrets (the manager's referenced Secrets).
func NewCache(secrets secrets.Reader) *Cache {
	return &Cache{secrets: secrets, clients: map[types.UID]entry{}}
}

// For is the receiver's client, built on first use or after its inputs changed.
func (c *Cache) For(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver) (*superoffice.Client, error) {
	api := receiver.Spec.API
	if api == nil {
		return nil, ErrNoAPI
	}
	key := types.NamespacedName{Namespace: receiver.Namespace, Name: api.CredentialsSecretRef.Name}
	secret, err := c.secrets.Get(ctx, key.Namespace, key.Name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: Secret %s in namespace %s", ErrCredentialsNotFound, key.Name, key.Namespace)
		}
		return nil, fmt.Errorf("reading credentials Secret %s: %w", key, err)
	}
	fingerprint := fmt.Sprintf("%s|%s|%s|%s|%s", secret.UID, secret.ResourceVersion, api.EnvironmentURL, api.URL, receiver.Spec.Tenant)

	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.clients[receiver.UID]; ok && e.fingerprint == fingerprint {
		return e.client, nil
	}
	cfg := superoffice.Config{
		EnvironmentURL: api.EnvironmentURL,
		APIURL:         api.URL,
		Tenant:         receiver.Spec.Tenant,
		Credentials: superoffice.Credentials{
			ApplicationToken: string(secret.Data[KeyApplicationToken]),
			SystemUserToken:  string(secret.Data[KeySystemUserToken]),
			PrivateKeyPEM:    secret.Data[KeyPrivateKey],
			Ticket:           string(secret.Data[KeyTicket]),
		},
	}
	if c.Configure != nil {
		c.Configure(&cfg)
	}
	so, err := superoffice.New(cfg)
	if superoffice.IsEndpointNotAllowed(err) {
		return nil, fmt.Errorf("spec.api: %w", err) // not the Secret's fault
	}
	if err != nil {
		return nil, fmt.Errorf("%w: Secret %s: %w", ErrInvalidCredentials, key.Name, err)
	}
	c.clients[receiver.UID] = entry{fingerprint: fingerprint, client: so}
	return so, nil
}

// Forget drops the client of a receiver that is gone.
func (c *Cache) Forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.clients, uid)
}
