package mirror

import (
	"context"
	"fmt"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// Apply applies one observation: created/changed create or update the Associate, deleted
// deletes it behind a tombstone. It answers duplicate or stale without writing when the
// observation is already applied or older than what the API server holds. ErrInvalid means
// no retry can store it; another error means the outcome is unknown and the delivery must
// be retried.
func (m *Mirror) Apply(ctx context.Context, obs Observation) (Outcome, error) {
	name, err := superofficev1alpha1.AssociateName(obs.Tenant, obs.AssociateID)
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := validate(obs); err != nil {
		return Outcome{}, err
	}
	key := types.NamespacedName{Namespace: obs.Namespace, Name: name}
	outcome := Outcome{Associate: key.String()}
	switch obs.Event {
	case EventCreated, EventChanged:
		outcome.Result, err = m.upsert(ctx, key, obs)
	case EventDeleted:
		outcome.Result, err = m.delete(ctx, key, obs)
	default:
		return Outcome{}, fmt.Errorf("%w: event %q is not one of %s, %s, %s", ErrInvalid, obs.Event, EventCreated, EventChanged, EventDeleted)
	}
	return outcome, refusedAsInvalid(err)
}

// decide compares obs with what was last applied to an existing Associate.
func decide(existing *superofficev1alpha1.Associate, obs Observation) (Result, bool) {
	if existing.GetAnnotations()[superofficev1alpha1.AnnotationLastEventID] == obs.EventID {
		return Duplicate, true
	}
	if last, ok := lastEventTimestamp(existing); ok && obs.Timestamp.Before(last) {
		return Stale, true
	}
	return "", false
}

// lastEventTimestamp is the Timestamp of the event last applied to a; false for an
// Associate made by hand.
func lastEventTimestamp(a *superofficev1alpha1.Associate) (time.Time, bool) {
	last, err := time.Parse(time.RFC3339Nano, a.GetAnnotations()[superofficev1alpha1.AnnotationLastEventTimestamp])
	return last, err == nil
}

// upsert creates or updates the Associate in one write, re-reading live on a conflict.
func (m *Mirror) upsert(ctx context.Context, key types.NamespacedName, obs Observation) (Result, error) {
	// The cache answers the common late-event case without an API call.
	tomb, _, err := m.readTombstone(ctx, m.client, key)
	if err != nil {
		return "", err
	}
	if tomb != nil && obs.Timestamp.Before(tomb.Timestamp) {
		// An Associate older than the deletion is the orphan of a lost race: finish it.
		if err := m.deleteOlderThan(ctx, key, *tomb, nil, m.client); err != nil {
			return "", err
		}
		return Stale, nil
	}
	tombIsLive := false
	var reader client.Reader = m.client
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var existing superofficev1alpha1.Associate
		err := m.call(ctx, func(ctx context.Context) error { return reader.Get(ctx, key, &existing) })
		reader = m.apiReader // every retry decides on the live object
		switch {
		case apierrors.IsNotFound(err):
			// A deletion the cache has not seen yet must stop a late event before it
			// re-creates the Associate, even briefly (its provisioning would run).
			if !tombIsLive {
				if tomb, _, err = m.readTombstone(ctx, m.apiReader, key); err != nil {
					return "", err
				}
				tombIsLive = true
				if tomb != nil && obs.Timestamp.Before(tomb.Timestamp) {
					return Stale, nil
				}
			}
			created := desiredAssociate(nil, key, obs)
			err = m.call(ctx, func(ctx context.Context) error { return m.client.Create(ctx, created) })
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				if mayHaveCommitted(err) {
					// The create may be in the API server: undo it if a newer deletion missed it.
					_, _ = m.undoIfDeletedMeanwhile(ctx, key, nil, obs)
				}
				return "", err
			}
			return m.undoIfDeletedMeanwhile(ctx, key, created, obs)
		case err != nil:
			return "", err
		}
		if err := m.refuseForeign(ctx, &existing, obs.Receiver); err != nil {
			return "", err
		}
		if result, done := decide(&existing, obs); done {
			return result, nil
		}
		if existing.DeletionTimestamp != nil {
			// A stuck finalizer must not turn every late event into a 503.
			if !tombIsLive {
				if tomb, _, err = m.readTombstone(ctx, m.apiReader, key); err != nil {
					return "", err
				}
			}
			if tomb != nil && !obs.Timestamp.After(tomb.Timestamp) {
				return Stale, nil
			}
			// Newer than the deletion: kept in the API server and applied once it is gone
			// (DeferredApplier), never a 503 that a stuck deprovision would repeat forever.
			return m.deferUntilGone(ctx, key, &existing, obs)
		}
		if last, ok := lastEventTimestamp(&existing); ok && tomb != nil && last.Before(tomb.Timestamp) {
			// The orphan of a lost race: finish the deletion, then apply obs to what follows it.
			if err := m.deleteOlderThan(ctx, key, *tomb, &existing, m.apiReader); err != nil {
				return "", err
			}
			continue
		}
		updated := desiredAssociate(&existing, key, obs)
		err = m.call(ctx, func(ctx context.Context) error { return m.client.Update(ctx, updated) })
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		return Applied, nil
	}
	return "", errTooManyConflicts(key, "write")
}

// desiredAssociate is existing (or a new Associate) with obs applied: labels, provenance
// annotations, and the spec fields obs carries.
func desiredAssociate(existing *superofficev1alpha1.Associate, key types.NamespacedName, obs Observation) *superofficev1alpha1.Associate {
	a := &superofficev1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if existing != nil {
		a = existing.DeepCopy()
	}
	a.Spec.Tenant = obs.Tenant
	a.Spec.AssociateID = obs.AssociateID
	applyFields(&a.Spec, obs.Fields)

	if a.Labels == nil {
		a.Labels = map[string]string{}
	}
	a.Labels[superofficev1alpha1.LabelTenant] = superofficev1alpha1.TenantSlug(obs.Tenant)
	a.Labels[superofficev1alpha1.LabelAssociateID] = strconv.FormatInt(obs.AssociateID, 10)
	a.Labels[superofficev1alpha1.LabelPersonID] = strconv.FormatInt(a.Spec.PersonID, 10)
	if obs.Receiver.Name != "" {
		a.Labels[superofficev1alpha1.LabelReceiver] = obs.Receiver.Name
		a.Labels[superofficev1alpha1.LabelReceiverNamespace] = obs.Receiver.Namespace
	}
	if a.Annotations == nil {
		a.Annotations = map[string]string{}
	}
	a.Annotations[superofficev1alpha1.AnnotationLastEventID] = obs.EventID
	a.Annotations[superofficev1alpha1.AnnotationLastEvent] = obs.Event
	a.Annotations[superofficev1alpha1.AnnotationLastEventTimestamp] = obs.Timestamp.UTC().Format(time.RFC3339Nano)
	a.Annotations[superofficev1alpha1.AnnotationChangedByAssociateID] = strconv.FormatInt(obs.ChangedBy, 10)
	return a
}

func applyFields(spec *superofficev1alpha1.AssociateSpec, f *Fields) {
	if f == nil {
		return
	}
	if f.PersonID != nil {
		spec.PersonID = *f.PersonID
	}
	if f.GroupIdx != nil {
		spec.GroupIdx = *f.GroupIdx
	}
	if f.TypeCode != nil {
		code := *f.TypeCode
		spec.TypeCode = &code
		spec.Type = superofficev1alpha1.AssociateTypeFromCode(code)
	}
	if f.Retired != nil {
		spec.Retired = *f.Retired
	}
	if f.WaitingForApproval != nil {
		spec.WaitingForApproval = *f.WaitingForApproval
	}
	if f.RegisteredAssociateID != nil {
		spec.RegisteredAssociateID = *f.RegisteredAssociateID
	}
	if f.UpdatedAssociateID != nil {
		spec.UpdatedAssociateID = *f.UpdatedAssociateID
	}
	if f.Updated != nil {
		spec.Updated = *f.Updated
	}
}
