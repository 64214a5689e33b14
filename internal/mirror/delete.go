package mirror

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// delete writes the tombstone first, then deletes the Associate with UID and
// resourceVersion preconditions; the Associate's finalizer deprovisions.
func (m *Mirror) delete(ctx context.Context, key types.NamespacedName, obs Observation) (Result, error) {
	tomb, _, err := m.readTombstone(ctx, m.client, key)
	if err != nil {
		return "", err
	}
	if tomb != nil && tomb.EventID == obs.EventID {
		return Duplicate, nil
	}
	if tomb != nil && obs.Timestamp.Before(tomb.Timestamp) {
		return Stale, nil
	}
	// Cheap pre-check: a deletion older than the last applied change is stale.
	var cached superofficev1alpha1.Associate
	err = m.call(ctx, func(ctx context.Context) error { return m.client.Get(ctx, key, &cached) })
	if err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	if err == nil {
		if result, done := decide(&cached, obs); done {
			return result, nil
		}
	}
	if err := m.writeTombstone(ctx, key, obs); err != nil {
		return "", err
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		// Read live after writing the tombstone: a concurrent create either is seen here
		// or sees the tombstone itself.
		var existing superofficev1alpha1.Associate
		err := m.call(ctx, func(ctx context.Context) error { return m.apiReader.Get(ctx, key, &existing) })
		if apierrors.IsNotFound(err) {
			return Applied, nil
		}
		if err != nil {
			return "", err
		}
		if result, done := decide(&existing, obs); done {
			return result, nil
		}
		uid, rv := existing.UID, existing.ResourceVersion
		err = m.call(ctx, func(ctx context.Context) error {
			return m.client.Delete(ctx, &existing, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		})
		if apierrors.IsNotFound(err) || err == nil {
			return Applied, nil
		}
		if !apierrors.IsConflict(err) {
			return "", err
		}
	}
	return "", errTooManyConflicts(key, "delete")
}
