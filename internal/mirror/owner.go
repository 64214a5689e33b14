package mirror

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// ErrConflict wraps observations for an Associate that another receiver owns: nothing is
// written, and the sender hears 409.
var ErrConflict = errors.New("the Associate belongs to another receiver")

// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// OwnedByAnother tells whether an Associate belongs to a receiver other than receiver
// that still writes there: it exists, targets the Associate's namespace and is allowed
// there. An Associate made by hand, or whose receiver is gone (or no longer writes its
// namespace), is adopted by the next receiver that writes it, so that a receiver can be
// renamed or replaced, and one that lost its opt-in keeps no veto. The owner is read from
// the cache; a miss is confirmed live before the Associate changes hands.
func (m *Mirror) OwnedByAnother(ctx context.Context, a *superofficev1alpha1.Associate, receiver types.NamespacedName) (bool, error) {
	owner, ok := a.OwningReceiver()
	if !ok || owner == receiver || receiver.Name == "" {
		return false, nil
	}
	var existing superofficev1alpha1.WebhookReceiver
	err := m.call(ctx, func(ctx context.Context) error { return m.client.Get(ctx, owner, &existing) })
	if apierrors.IsNotFound(err) {
		err = m.call(ctx, func(ctx context.Context) error { return m.apiReader.Get(ctx, owner, &existing) })
	}
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading receiver %s, which owns Associate %s/%s: %w", owner, a.Namespace, a.Name, err)
	case existing.TargetNamespace() != a.Namespace:
		return false, nil
	case existing.TargetNamespace() == existing.Namespace:
		return true, nil
	}
	var ns corev1.Namespace
	if err := m.call(ctx, func(ctx context.Context) error {
		return m.client.Get(ctx, types.NamespacedName{Name: a.Namespace}, &ns)
	}); err != nil {
		return false, fmt.Errorf("reading namespace %s, whose opt-in decides who owns Associate %s: %w", a.Namespace, a.Name, err)
	}
	return existing.TargetAllowed(ns.Annotations), nil
}

// refuseForeign is ErrConflict when another existing receiver owns a.
func (m *Mirror) refuseForeign(ctx context.Context, a *superofficev1alpha1.Associate, receiver types.NamespacedName) error {
	foreign, err := m.OwnedByAnother(ctx, a, receiver)
	if err != nil || !foreign {
		return err
	}
	owner, _ := a.OwningReceiver()
	return fmt.Errorf("%w: Associate %s/%s is written by receiver %s", ErrConflict, a.Namespace, a.Name, owner)
}
