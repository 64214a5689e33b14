package apiclient

import (
	"context"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/manager"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/secrets"
)

// Enrich fetches an associate's record (GetAssociate) for a delivery that carries no
// FieldValues, so that the Associate it creates or touches is complete.
func (c *Cache) Enrich(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, associateID int64) (*mirror.Fields, error) {
	so, err := c.For(ctx, receiver)
	if err != nil {
		return nil, err
	}
	record, err := so.GetAssociate(ctx, associateID)
	if err != nil {
		return nil, err
	}
	person, group, retired := record.PersonID, int32(record.GroupIdx), record.Deleted
	f := &mirror.Fields{PersonID: &person, GroupIdx: &group, Retired: &retired}
	if record.HasType {
		code := record.TypeCode
		f.TypeCode = &code
	}
	return f, nil
}

var (
	sharedMu sync.Mutex
	shared   = map[manager.Manager]*Cache{}
)

// Shared is the one Cache of a manager, so that the ingress and the sync controller reuse
// the same clients and tickets; the first caller's secrets reader is the one it keeps.
func Shared(mgr manager.Manager, secrets secrets.Reader) *Cache {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if c, ok := shared[mgr]; ok {
		return c
	}
	c := NewCache(secrets)
	shared[mgr] = c
	return c
}
