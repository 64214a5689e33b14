package mirror

// Red-team cases against the receiver ownership rule (internal/mirror/owner.go). They fail
// while the attack works.

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// An owning receiver the cache does not hold yet (just created, or a replica's informer
// behind) is taken for "gone", and its Associates are adopted by whichever receiver writes
// next: the ownership decision trusts a cache miss. A NotFound from the cache must be
// confirmed live before an Associate changes hands.
func TestAnAssociateIsNotAdoptedOnACacheMissOfItsLiveOwner(t *testing.T) {
	f := newFixture(t)
	owner := receiverIn(t, f.ns, "so")
	f.apply(mirrorWith(nil), f.via(f.obs(EventCreated, "e1", 0), owner))
	written := f.associate()

	// The "cache" has not seen the owning receiver yet.
	lagging := mirrorWith(&interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if _, ok := obj.(*superofficev1alpha1.WebhookReceiver); ok && key == owner {
			return apierrors.NewNotFound(schema.GroupResource{Group: superofficev1alpha1.GroupVersion.Group, Resource: "webhookreceivers"}, key.Name)
		}
		return c.Get(ctx, key, obj, opts...)
	}})
	other := newFixture(t)
	intruder := receiverIn(t, other.ns, "so")
	_, err := lagging.Apply(context.Background(), f.via(f.obs(EventDeleted, "e2", 10), intruder))
	if !errors.Is(err, ErrConflict) {
		t.Errorf("a delivery through %s for an Associate of the existing receiver %s: want ErrConflict, got %v", intruder, owner, err)
	}
	if got := f.associate(); got == nil || got.UID != written.UID {
		t.Fatalf("the Associate of an existing receiver was deleted by another receiver during a cache miss: %+v", got)
	}
}

// A receiver that once wrote Associates into another namespace (its opt-in since
// withdrawn, or its spec.targetNamespace changed) keeps owning them as long as the receiver
// object exists: the namespace's own receiver gets 409 for them forever, although the old
// owner may no longer write there. A tenant once allowed into a namespace can so squat
// Associate names there (associate ids are sequential, so future ones too) and keep a veto
// after the opt-in is gone. Ownership should lapse when the owner no longer targets, or
// may no longer write, the Associate's namespace.
func TestAnAssociateOfAReceiverThatNoLongerTargetsItsNamespaceIsAdopted(t *testing.T) {
	f := newFixture(t)
	m := mirrorWith(nil)
	other := newFixture(t)
	// The intruder, in another namespace, wrote into f.ns while f.ns allowed it...
	intruder := receiverIn(t, other.ns, "squatter")
	retarget := func(namespace string) {
		t.Helper()
		var r superofficev1alpha1.WebhookReceiver
		if err := k8s.Get(context.Background(), intruder, &r); err != nil {
			t.Fatal(err)
		}
		r.Spec.TargetNamespace = namespace
		if err := k8s.Update(context.Background(), &r); err != nil {
			t.Fatal(err)
		}
	}
	retarget(f.ns)
	f.apply(m, f.via(f.obs(EventCreated, "e1", 0), intruder))
	// ...and now targets its own namespace again (or f.ns withdrew its opt-in).
	retarget(other.ns)

	own := receiverIn(t, f.ns, "superoffice")
	_, err := m.Apply(context.Background(), f.via(f.obs(EventChanged, "e2", 10), own))
	if err != nil {
		t.Fatalf("the namespace's own receiver, for an Associate whose writer no longer targets the namespace: want applied, got %v", err)
	}
	if owner, _ := f.associate().OwningReceiver(); owner != own {
		t.Errorf("want the Associate adopted by %s, owner is %v", own, owner)
	}
}
