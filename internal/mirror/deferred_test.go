package mirror

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/testenv"
)

const holdFinalizer = "test.assocsync.io/hold"

// terminating creates the Associate with a finalizer that holds it, and deletes it the way
// `kubectl delete` does: no tombstone. release lets it go.
func (f *fixture) terminating() (release func()) {
	f.t.Helper()
	ctx := context.Background()
	receiver := &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "so"},
		Spec: superofficev1alpha1.WebhookReceiverSpec{SecretRef: superofficev1alpha1.SecretKeysReference{Name: "so-secret"}}}
	if err := k8s.Create(ctx, receiver); err != nil && !apierrors.IsAlreadyExists(err) {
		f.t.Fatal(err)
	}
	f.apply(mirrorWith(nil), f.obs(EventCreated, "c1", 10))
	a := f.associate()
	a.Finalizers = append(a.Finalizers, holdFinalizer)
	if err := k8s.Update(ctx, a); err != nil {
		f.t.Fatal(err)
	}
	if err := k8s.Delete(ctx, a); err != nil {
		f.t.Fatal(err)
	}
	release = func() {
		f.t.Helper()
		if a := f.associate(); a != nil {
			a.Finalizers = nil
			if err := k8s.Update(ctx, a); err != nil && !apierrors.IsNotFound(err) {
				f.t.Fatal(err)
			}
		}
	}
	f.t.Cleanup(release)
	return release
}

func (f *fixture) deferredCM() *corev1.ConfigMap {
	f.t.Helper()
	var cm corev1.ConfigMap
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: DeferredName(f.key.Name)}, &cm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return &cm
}

func (f *fixture) applier() *DeferredApplier {
	return &DeferredApplier{Mirror: mirrorWith(nil), Client: k8s, APIReader: k8s, Log: logr.Discard()}
}

func (f *fixture) reconcileDeferred(d *DeferredApplier) ctrl.Result {
	f.t.Helper()
	res, err := d.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: f.ns, Name: DeferredName(f.key.Name)}})
	if err != nil {
		f.t.Fatalf("reconciling the deferred event: %v", err)
	}
	return res
}

func TestAnEventNewerThanAKubectlDeleteIsDeferredThenAppliedOnceTheAssociateIsGone(t *testing.T) {
	f := newFixture(t)
	release := f.terminating()
	person := int64(99)
	obs := f.obs(EventChanged, "ch1", 20)
	obs.Fields = &Fields{PersonID: &person}
	if got := f.apply(mirrorWith(nil), obs); got != Deferred {
		t.Fatalf("an event for an Associate being deleted (no tombstone): want %q, got %q", Deferred, got)
	}
	if f.deferredCM() == nil {
		t.Fatal("want the deferred event kept in a ConfigMap, there is none")
	}
	if got := f.apply(mirrorWith(nil), obs); got != Deferred {
		t.Errorf("the same event sent again: want %q, got %q", Deferred, got)
	}

	d := f.applier()
	if res := f.reconcileDeferred(d); res.RequeueAfter == 0 {
		t.Error("while the Associate still terminates: want the applier to look again later")
	}
	if a := f.associate(); a == nil || a.Annotations[superofficev1alpha1.AnnotationLastEventID] != "c1" {
		t.Fatal("while the Associate still terminates: want it left as it is")
	}

	release()
	f.reconcileDeferred(d)
	a := f.associate()
	if a == nil || a.DeletionTimestamp != nil {
		t.Fatalf("once the Associate is gone: want the deferred event to create it again, got %+v", a)
	}
	if got := a.Annotations[superofficev1alpha1.AnnotationLastEventID]; got != "ch1" || a.Spec.PersonID != 99 {
		t.Errorf("want the Associate of event ch1 (person 99), got event %q person %d", got, a.Spec.PersonID)
	}
	if f.deferredCM() != nil {
		t.Error("want the deferred event's ConfigMap deleted once applied")
	}
}

func TestOnlyTheNewestDeferredEventIsKeptWithTheColumnsOfOlderOnes(t *testing.T) {
	f := newFixture(t)
	release := f.terminating()
	m := mirrorWith(nil)
	person, group, oldPerson := int64(9), int32(3), int64(1)
	newest := f.obs(EventChanged, "ch-newest", 40)
	newest.Fields = &Fields{PersonID: &person}
	older := f.obs(EventChanged, "ch-older", 35)
	older.Fields = &Fields{GroupIdx: &group, PersonID: &oldPerson}
	for _, obs := range []Observation{newest, older} {
		if got := f.apply(m, obs); got != Deferred {
			t.Fatalf("%s: want %q, got %q", obs.EventID, Deferred, got)
		}
	}
	release()
	f.reconcileDeferred(f.applier())
	a := f.associate()
	if a == nil {
		t.Fatal("want the Associate created from the deferred events")
	}
	if id := a.Annotations[superofficev1alpha1.AnnotationLastEventID]; id != "ch-newest" {
		t.Errorf("want the newest event last applied, got %q", id)
	}
	if a.Spec.PersonID != 9 || a.Spec.GroupIdx != 3 {
		t.Errorf("in Timestamp order: want person 9 (newest) and group 3 (older, not in the newest), got person %d group %d",
			a.Spec.PersonID, a.Spec.GroupIdx)
	}
}

func TestADeletionWrittenWhileAnEventWaitsMakesItStale(t *testing.T) {
	f := newFixture(t)
	release := f.terminating()
	m := mirrorWith(nil)
	if got := f.apply(m, f.obs(EventChanged, "ch1", 20)); got != Deferred {
		t.Fatalf("want %q, got %q", Deferred, got)
	}
	if got := f.apply(m, f.obs(EventDeleted, "d1", 30)); got != Applied {
		t.Fatalf("a newer deletion: want %q, got %q", Applied, got)
	}
	release()
	f.gone()
	f.reconcileDeferred(f.applier())
	if f.associate() != nil {
		t.Error("the deferred event is older than a deletion that came after it: want no Associate")
	}
	if f.deferredCM() != nil {
		t.Error("want the stale deferred event's ConfigMap deleted")
	}
}

func TestAnEventDeferredAfterTheAssociateVanishedIsStillApplied(t *testing.T) {
	// The applier reconciles the ConfigMap when it is written: an Associate that was gone
	// before the event was stored (so its delete notification found nothing) is caught.
	f := newFixture(t)
	release := f.terminating()
	existing := f.associate()
	release()
	f.gone()
	if _, err := mirrorWith(nil).deferUntilGone(context.Background(), f.key, existing, f.obs(EventChanged, "ch1", 20)); err != nil {
		t.Fatal(err)
	}
	f.reconcileDeferred(f.applier())
	if got := f.lastEventID(); got != "ch1" {
		t.Errorf("want the deferred event applied, the Associate has event %q", got)
	}
}

// gone waits until the Associate no longer exists.
func (f *fixture) gone() {
	f.t.Helper()
	testenv.Eventually(f.t, 30*time.Second, "the Associate to be gone", func() error {
		if f.associate() != nil {
			return errors.New("it still exists")
		}
		return nil
	})
}

func TestADeferredEventOfAReceiverThatDoesNotWriteHereIsDropped(t *testing.T) {
	// Whoever may write ConfigMaps in the namespace can write one that looks deferred.
	f := newFixture(t)
	release := f.terminating()
	other := &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "other"},
		Spec: superofficev1alpha1.WebhookReceiverSpec{SecretRef: superofficev1alpha1.SecretKeysReference{Name: "s"}, TargetNamespace: "elsewhere"}}
	if err := k8s.Create(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	for _, receiver := range []types.NamespacedName{{Namespace: "elsewhere", Name: "so"}, {Namespace: f.ns, Name: "other"}} {
		obs := f.obs(EventChanged, "forged-"+receiver.Name, 20)
		obs.Receiver = receiver
		if _, err := mirrorWith(nil).deferUntilGone(context.Background(), f.key, f.associate(), obs); err != nil {
			t.Fatal(err)
		}
	}
	release()
	f.gone()
	f.reconcileDeferred(f.applier())
	if f.associate() != nil {
		t.Error("a deferred event naming a receiver that does not write into the namespace created the Associate")
	}
	if f.deferredCM() != nil {
		t.Error("want the dropped event's ConfigMap deleted")
	}
}
