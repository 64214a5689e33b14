package mirror

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// LabelValueDeferred is the value of LabelTombstone on the ConfigMap that holds the event
// deferred until a terminating Associate is gone. It shares the tombstones' label key so
// that the one label selector of the manager's ConfigMap cache holds both.
const LabelValueDeferred = "deferred"

// deferredKey is the data key of a deferred event's ConfigMap.
const deferredKey = "event"

// DeferredName is the ConfigMap that holds the event deferred for the Associate named
// associate.
func DeferredName(associate string) string {
	return associate + ".deferred"
}

// deferredEvent is what a deferred event's ConfigMap keeps: the observation, and the UID
// of the terminating Associate it waits for.
type deferredEvent struct {
	AssociateUID types.UID `json:"associateUID"`
	Receiver     string    `json:"receiver"` // namespace/name, or "" for a resync of no receiver
	Tenant       string    `json:"tenant"`
	AssociateID  int64     `json:"associateId"`
	EventID      string    `json:"eventId"`
	Event        string    `json:"event"`
	Timestamp    time.Time `json:"timestamp"`
	ChangedBy    int64     `json:"changedBy"`
	Fields       *Fields   `json:"fields,omitempty"`
}

func deferredFrom(obs Observation, uid types.UID) deferredEvent {
	receiver := ""
	if obs.Receiver.Name != "" {
		receiver = obs.Receiver.String()
	}
	return deferredEvent{
		AssociateUID: uid, Receiver: receiver, Tenant: obs.Tenant, AssociateID: obs.AssociateID,
		EventID: obs.EventID, Event: obs.Event, Timestamp: obs.Timestamp, ChangedBy: obs.ChangedBy,
		Fields: obs.Fields,
	}
}

// observation is the deferred event as Apply takes it, for the Associate's namespace.
func (d deferredEvent) observation(namespace string) Observation {
	var receiver types.NamespacedName
	if ns, name, ok := cutReceiver(d.Receiver); ok {
		receiver = types.NamespacedName{Namespace: ns, Name: name}
	}
	return Observation{
		Receiver: receiver, Namespace: namespace, Tenant: d.Tenant, AssociateID: d.AssociateID,
		EventID: d.EventID, Event: d.Event, Timestamp: d.Timestamp, ChangedBy: d.ChangedBy, Fields: d.Fields,
	}
}

func cutReceiver(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// mergeDeferred keeps one event per Associate: the newest (by Timestamp; the same
// Timestamp counts as newer, as Apply applies it too), carrying the columns of the older
// one that it does not carry itself, so that applying it once equals applying both in
// Timestamp order (a changed event without a column keeps the column's value).
func mergeDeferred(stored *deferredEvent, incoming deferredEvent) deferredEvent {
	if stored == nil {
		return incoming
	}
	newer, older := incoming, *stored
	if incoming.Timestamp.Before(stored.Timestamp) {
		newer, older = *stored, incoming
	}
	newer.Fields = mergeFields(older.Fields, newer.Fields)
	newer.AssociateUID = incoming.AssociateUID
	return newer
}

// mergeFields is base with every column that over carries set from over.
func mergeFields(base, over *Fields) *Fields {
	switch {
	case base == nil:
		return over
	case over == nil:
		return base
	}
	merged := *base
	if over.PersonID != nil {
		merged.PersonID = over.PersonID
	}
	if over.GroupIdx != nil {
		merged.GroupIdx = over.GroupIdx
	}
	if over.TypeCode != nil {
		merged.TypeCode = over.TypeCode
	}
	if over.Retired != nil {
		merged.Retired = over.Retired
	}
	if over.WaitingForApproval != nil {
		merged.WaitingForApproval = over.WaitingForApproval
	}
	if over.RegisteredAssociateID != nil {
		merged.RegisteredAssociateID = over.RegisteredAssociateID
	}
	if over.UpdatedAssociateID != nil {
		merged.UpdatedAssociateID = over.UpdatedAssociateID
	}
	if over.Updated != nil {
		merged.Updated = over.Updated
	}
	return &merged
}

// readDeferred returns the deferred event of an Associate and its ConfigMap; nil, nil
// when there is none. A ConfigMap whose data does not parse is returned with a nil event.
func (m *Mirror) readDeferred(ctx context.Context, reader client.Reader, key types.NamespacedName) (*deferredEvent, *corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	err := m.call(ctx, func(ctx context.Context) error {
		return reader.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: DeferredName(key.Name)}, &cm)
	})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	ev, ok := parseDeferred(&cm)
	if !ok {
		return nil, &cm, nil
	}
	return &ev, &cm, nil
}

func parseDeferred(cm *corev1.ConfigMap) (deferredEvent, bool) {
	var ev deferredEvent
	if cm.Labels[LabelTombstone] != LabelValueDeferred || json.Unmarshal([]byte(cm.Data[deferredKey]), &ev) != nil || ev.EventID == "" {
		return deferredEvent{}, false
	}
	return ev, true
}

// deferUntilGone keeps obs in the API server until the terminating Associate (existing)
// is gone; the DeferredApplier applies it then. Only the newest event per Associate is
// kept (mergeDeferred). It reads live and writes with a resourceVersion precondition, so
// that concurrent deliveries on several replicas each leave their event in the merge.
func (m *Mirror) deferUntilGone(ctx context.Context, key types.NamespacedName, existing *superofficev1alpha1.Associate, obs Observation) (Result, error) {
	incoming := deferredFrom(obs, existing.UID)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		stored, cm, err := m.readDeferred(ctx, m.apiReader, key)
		if err != nil {
			return "", err
		}
		if stored != nil && stored.EventID == obs.EventID && stored.AssociateUID == existing.UID {
			return Deferred, nil // sent again: already kept
		}
		merged := mergeDeferred(stored, incoming)
		data, err := json.Marshal(merged)
		if err != nil {
			return "", err
		}
		desired := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: DeferredName(key.Name)}}
		if cm != nil {
			desired = cm.DeepCopy()
		}
		if desired.Labels == nil {
			desired.Labels = map[string]string{}
		}
		desired.Labels[LabelTombstone] = LabelValueDeferred
		desired.Labels[superofficev1alpha1.LabelManagedBy] = superofficev1alpha1.LabelManagedByValue
		desired.Labels[superofficev1alpha1.LabelTenant] = superofficev1alpha1.TenantSlug(obs.Tenant)
		desired.Labels[superofficev1alpha1.LabelAssociateID] = strconv.FormatInt(obs.AssociateID, 10)
		desired.Data = map[string]string{deferredKey: string(data)}
		if cm == nil {
			err = m.call(ctx, func(ctx context.Context) error { return m.client.Create(ctx, desired) })
		} else {
			err = m.call(ctx, func(ctx context.Context) error { return m.client.Update(ctx, desired) })
		}
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		return Deferred, nil
	}
	return "", errTooManyConflicts(key, "deferred event")
}
