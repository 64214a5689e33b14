package ingress

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/secrets"
)

// defaultMaxBodyBytes applies when a receiver does not set spec.maxBodyBytes.
const defaultMaxBodyBytes = 1 << 20

// readyReceiver is a receiver that can take deliveries: it exists and has signing keys.
type readyReceiver struct {
	receiver *superofficev1alpha1.WebhookReceiver
	secrets  [][]byte
}

// errNotReady: the receiver exists but cannot verify anything yet.
type errNotReady struct{ reason string }

func (e errNotReady) Error() string { return e.reason }

// lookupReceiver reads a receiver and its Secret from the cache. It returns a NotFound
// error or errNotReady when deliveries must get 404, another error when the cache failed.
func lookupReceiver(ctx context.Context, reader client.Reader, keyReader secrets.Reader, key types.NamespacedName) (*readyReceiver, error) {
	var receiver superofficev1alpha1.WebhookReceiver
	if err := reader.Get(ctx, key, &receiver); err != nil {
		return nil, err
	}
	if receiver.DeletionTimestamp != nil {
		return nil, errNotReady{fmt.Sprintf("receiver %s is being deleted", key)}
	}
	if target := receiver.TargetNamespace(); target != receiver.Namespace {
		var ns corev1.Namespace
		err := reader.Get(ctx, types.NamespacedName{Name: target}, &ns)
		if client.IgnoreNotFound(err) != nil {
			return nil, err
		}
		if err != nil || !receiver.TargetAllowed(ns.Annotations) {
			return nil, errNotReady{fmt.Sprintf("receiver %s: namespace %s does not allow receivers of namespace %s", key, target, key.Namespace)}
		}
	}
	keys, err := secrets.SigningKeys(ctx, keyReader, &receiver)
	if keysErr, ok := errors.AsType[*secrets.KeysError](err); ok {
		return nil, errNotReady{fmt.Sprintf("receiver %s: %s", key, keysErr.Message)}
	}
	if err != nil {
		return nil, err
	}
	return &readyReceiver{receiver: &receiver, secrets: keys}, nil
}

func (r *readyReceiver) maxBodyBytes() int64 {
	if r.receiver.Spec.MaxBodyBytes != nil && *r.receiver.Spec.MaxBodyBytes > 0 {
		return *r.receiver.Spec.MaxBodyBytes
	}
	return defaultMaxBodyBytes
}

// tenantOf is the tenant an event belongs to: its ContextIdentifier, else the receiver's
// tenant, else Default.
func (r *readyReceiver) tenantOf(ev *Event) string {
	switch {
	case ev.ContextIdentifier != "":
		return ev.ContextIdentifier
	case r.receiver.Spec.Tenant != "":
		return r.receiver.Spec.Tenant
	default:
		return superofficev1alpha1.DefaultTenant
	}
}

// observation is what an applicable associate event of this receiver tells the mirror.
func (r *readyReceiver) observation(key types.NamespacedName, ev *Event) mirror.Observation {
	return mirror.Observation{
		Receiver:    key,
		Namespace:   r.receiver.TargetNamespace(),
		Tenant:      r.tenantOf(ev),
		AssociateID: int64(*ev.PrimaryKey),
		EventID:     ev.EventID,
		Event:       ev.Event,
		Timestamp:   ev.at,
		ChangedBy:   int64(ev.ChangedByAssociateID),
		Fields:      ev.fields(),
	}
}
