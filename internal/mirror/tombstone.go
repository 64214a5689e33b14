package mirror

import (
	"context"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// LabelTombstone marks the ConfigMaps that remember a deleted associate. The manager's
// cache holds only ConfigMaps with this label (cache.Options.ByObject).
const LabelTombstone = "superoffice.assocsync.io/tombstone"

// Keys of a tombstone ConfigMap's data.
const (
	tombstoneEventID   = "eventId"
	tombstoneTimestamp = "timestamp"
	tombstoneExpires   = "expires"
)

// tombstone is what a deletion leaves behind: the deleting event and until when it counts.
type tombstone struct {
	EventID   string
	Timestamp time.Time
	Expires   time.Time
}

// TombstoneName is the ConfigMap that remembers the deletion of the Associate named associate.
func TombstoneName(associate string) string {
	return associate + tombstoneSuffix
}

const tombstoneSuffix = ".tombstone"

// readTombstone returns the live (unexpired) tombstone of an Associate, or nil.
func (m *Mirror) readTombstone(ctx context.Context, reader client.Reader, key types.NamespacedName) (*tombstone, *corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	err := m.call(ctx, func(ctx context.Context) error {
		return reader.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: TombstoneName(key.Name)}, &cm)
	})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	t, ok := parseTombstone(&cm)
	if !ok || !m.now().Before(t.Expires) {
		return nil, &cm, nil
	}
	return &t, &cm, nil
}

// wroteTombstone reports whether the mirror wrote cm: it carries the operator's marker, or,
// written before the marker existed, it is named, labelled and filled as writeTombstone
// has always done. Anyone who may create ConfigMaps can add the tombstone label; the
// collector must not delete theirs.
func wroteTombstone(cm *corev1.ConfigMap) bool {
	if cm.Labels[LabelTombstone] != "true" {
		return false
	}
	if cm.Labels[superofficev1alpha1.LabelManagedBy] == superofficev1alpha1.LabelManagedByValue {
		return true
	}
	_, parses := parseTombstone(cm)
	return parses && strings.HasSuffix(cm.Name, tombstoneSuffix) && cm.Labels[superofficev1alpha1.LabelAssociateID] != ""
}

func parseTombstone(cm *corev1.ConfigMap) (tombstone, bool) {
	ts, err1 := time.Parse(time.RFC3339Nano, cm.Data[tombstoneTimestamp])
	exp, err2 := time.Parse(time.RFC3339Nano, cm.Data[tombstoneExpires])
	if err1 != nil || err2 != nil {
		return tombstone{}, false
	}
	return tombstone{EventID: cm.Data[tombstoneEventID], Timestamp: ts, Expires: exp}, true
}

// writeTombstone records obs's deletion, keeping the newest deletion when one is already
// recorded. Its first attempt decides on the cached tombstone, later ones on the live one;
// every write carries a precondition (a create fails when one exists, an update names the
// resourceVersion read), so a cache that lags only costs a retry, never a lost deletion.
// Nothing but the collector deletes a tombstone, and only an expired one, which no read
// counts: a cached live tombstone as new as obs is one the API server still holds.
func (m *Mirror) writeTombstone(ctx context.Context, key types.NamespacedName, obs Observation) error {
	var reader client.Reader = m.client
	for attempt := 0; attempt < maxAttempts; attempt++ {
		current, cm, err := m.readTombstone(ctx, reader, key)
		reader = m.apiReader
		if err != nil {
			return err
		}
		if current != nil && !obs.Timestamp.After(current.Timestamp) {
			return nil // a newer (or the same) deletion is already remembered
		}
		desired := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: TombstoneName(key.Name),
		}}
		if cm != nil {
			desired = cm.DeepCopy()
		}
		if desired.Labels == nil {
			desired.Labels = map[string]string{}
		}
		desired.Labels[LabelTombstone] = "true"
		desired.Labels[superofficev1alpha1.LabelManagedBy] = superofficev1alpha1.LabelManagedByValue
		desired.Labels[superofficev1alpha1.LabelTenant] = superofficev1alpha1.TenantSlug(obs.Tenant)
		desired.Labels[superofficev1alpha1.LabelAssociateID] = strconv.FormatInt(obs.AssociateID, 10)
		desired.Data = map[string]string{
			tombstoneEventID:   obs.EventID,
			tombstoneTimestamp: obs.Timestamp.UTC().Format(time.RFC3339Nano),
			tombstoneExpires:   m.now().Add(m.ttl).UTC().Format(time.RFC3339Nano),
		}
		if cm == nil {
			err = m.call(ctx, func(ctx context.Context) error { return m.client.Create(ctx, desired) })
		} else {
			err = m.call(ctx, func(ctx context.Context) error { return m.client.Update(ctx, desired) })
		}
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) {
			continue
		}
		return err
	}
	return errTooManyConflicts(key, "tombstone")
}
