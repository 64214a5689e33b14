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
	// A resent deletion finds its own tombstone, but the delete after it may have failed:
	// it is a duplicate only once the Associate is gone.
	resent := tomb != nil && tomb.EventID == obs.EventID
	if !resent && tomb != nil && obs.Timestamp.Before(tomb.Timestamp) {
		if err := m.deleteOlderThan(ctx, key, *tomb, nil, m.client); err != nil {
			return "", err
		}
		return Stale, nil
	}
	// Decide on the live Associate before writing: a stale deletion leaves no tombstone.
	existing, err := m.getLive(ctx, key)
	if err != nil {
		return "", err
	}
	if existing == nil && resent {
		return Duplicate, nil
	}
	if existing != nil {
		if err := m.refuseForeign(ctx, existing, obs.Receiver); err != nil {
			return "", err
		}
		if result, done := decide(existing, obs); done {
			return result, nil
		}
	}
	if !resent {
		if err := m.writeTombstone(ctx, key, obs); err != nil {
			return "", err
		}
		// Read live again after writing the tombstone: a concurrent create either is seen
		// here or sees the tombstone itself.
		if existing, err = m.getLive(ctx, key); err != nil {
			return "", err
		}
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if existing == nil {
			return Applied, nil
		}
		if err := m.refuseForeign(ctx, existing, obs.Receiver); err != nil {
			return "", err
		}
		if result, done := decide(existing, obs); done {
			return result, nil
		}
		uid, rv := existing.UID, existing.ResourceVersion
		err = m.call(ctx, func(ctx context.Context) error {
			return m.client.Delete(ctx, existing, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		})
		if apierrors.IsNotFound(err) || err == nil {
			return Applied, nil
		}
		if !apierrors.IsConflict(err) {
			return "", err
		}
		if existing, err = m.getLive(ctx, key); err != nil {
			return "", err
		}
	}
	return "", errTooManyConflicts(key, "delete")
}

// getLive reads the Associate from the API server; nil when it does not exist.
func (m *Mirror) getLive(ctx context.Context, key types.NamespacedName) (*superofficev1alpha1.Associate, error) {
	var a superofficev1alpha1.Associate
	err := m.call(ctx, func(ctx context.Context) error { return m.apiReader.Get(ctx, key, &a) })
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}
