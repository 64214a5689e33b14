package mirror

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// undoIfDeletedMeanwhile closes the race of a create on one replica with a newer delete
// on another: both write first and read live after, so one of them sees the other.
// created is what the create returned, or nil when its outcome is unknown.
func (m *Mirror) undoIfDeletedMeanwhile(ctx context.Context, key types.NamespacedName, created *superofficev1alpha1.Associate, obs Observation) (Result, error) {
	tomb, _, err := m.readTombstone(ctx, m.apiReader, key)
	if err != nil {
		return "", err
	}
	if tomb == nil || !tomb.Timestamp.After(obs.Timestamp) {
		return Applied, nil
	}
	if err := m.deleteOlderThan(ctx, key, *tomb, created, m.apiReader); err != nil {
		return "", err
	}
	return Stale, nil
}

// deleteOlderThan deletes the Associate while its last applied event is older than tomb:
// the deletion that a create raced with, finished. It deletes with UID and
// resourceVersion preconditions, so a change newer than the deletion, applied meanwhile by
// another replica, is kept. candidate is the Associate as last seen (nil: read it through
// first, later reads are live).
func (m *Mirror) deleteOlderThan(ctx context.Context, key types.NamespacedName, tomb tombstone, candidate *superofficev1alpha1.Associate, first client.Reader) error {
	reader := first
	for attempt := 0; attempt < maxAttempts; attempt++ {
		current := candidate
		if current == nil {
			current = &superofficev1alpha1.Associate{}
			err := m.call(ctx, func(ctx context.Context) error { return reader.Get(ctx, key, current) })
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		last, ok := lastEventTimestamp(current)
		if current.DeletionTimestamp != nil || !ok || !last.Before(tomb.Timestamp) {
			return nil
		}
		uid, rv := current.UID, current.ResourceVersion
		err := m.call(ctx, func(ctx context.Context) error {
			return m.client.Delete(ctx, current, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		})
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) {
			return err
		}
		candidate, reader = nil, m.apiReader
	}
	return errTooManyConflicts(key, "deletion behind the tombstone")
}

// mayHaveCommitted: after a timeout, a lost connection or a 5xx the write may still be in
// the API server; a 4xx is its definite refusal.
func mayHaveCommitted(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code < 400 || code >= 500
	}
	return true
}
