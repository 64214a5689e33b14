package mirror

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// receiverIn creates a WebhookReceiver, so that it "still exists" for the ownership rule.
func receiverIn(t *testing.T, namespace, name string) types.NamespacedName {
	t.Helper()
	r := &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: superofficev1alpha1.WebhookReceiverSpec{SecretRef: superofficev1alpha1.SecretKeysReference{Name: "s"}}}
	if err := k8s.Create(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return types.NamespacedName{Namespace: namespace, Name: name}
}

func (f *fixture) via(obs Observation, receiver types.NamespacedName) Observation {
	obs.Receiver = receiver
	return obs
}

func TestAnAssociateOfAnotherReceiverIsNeitherChangedNorDeleted(t *testing.T) {
	f := newFixture(t)
	m := mirrorWith(nil)
	owner := receiverIn(t, f.ns, "so")
	f.apply(m, f.via(f.obs(EventCreated, "e1", 0), owner))
	written := f.associate()
	if written.Labels[superofficev1alpha1.LabelReceiver] != "so" || written.Labels[superofficev1alpha1.LabelReceiverNamespace] != f.ns {
		t.Fatalf("an Associate a receiver writes carries its name and namespace, got labels %v", written.Labels)
	}

	// A receiver of the same name in another namespace, allowed to write here, is another receiver.
	other := newFixture(t)
	intruder := receiverIn(t, other.ns, "so")
	for _, obs := range []Observation{f.obs(EventChanged, "e2", 10), f.obs(EventDeleted, "e3", 20)} {
		_, err := m.Apply(context.Background(), f.via(obs, intruder))
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("%s from receiver %s: want ErrConflict, got %v", obs.Event, intruder, err)
		}
	}
	if got := f.associate(); got == nil || got.ResourceVersion != written.ResourceVersion {
		t.Fatalf("another receiver's events must change nothing, got %+v", got)
	}
	if f.tombstoneCM() != nil {
		t.Fatal("a refused deletion must not leave a tombstone")
	}
}

func TestAnAssociateWithoutReceiverLabelsIsAdopted(t *testing.T) {
	f := newFixture(t)
	m := mirrorWith(nil)
	handMade := &superofficev1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.key.Name},
		Spec: superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: 42}}
	if err := k8s.Create(context.Background(), handMade); err != nil {
		t.Fatal(err)
	}
	receiver := receiverIn(t, f.ns, "so")
	if got := f.apply(m, f.via(f.obs(EventChanged, "e1", 0), receiver)); got != Applied {
		t.Fatalf("want applied, got %s", got)
	}
	if owner, _ := f.associate().OwningReceiver(); owner != receiver {
		t.Fatalf("the first receiver that writes a hand-made Associate adopts it, got owner %v", owner)
	}
}

func TestAnAssociateWrittenBeforeTheNamespaceLabelBelongsToTheReceiverOfItsNamespace(t *testing.T) {
	f := newFixture(t)
	m := mirrorWith(nil)
	local := receiverIn(t, f.ns, "superoffice")
	legacy := &superofficev1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: f.key.Name,
		Labels: map[string]string{superofficev1alpha1.LabelReceiver: "superoffice"}},
		Spec: superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: 42}}
	if err := k8s.Create(context.Background(), legacy); err != nil {
		t.Fatal(err)
	}
	elsewhere := newFixture(t)
	sameName := receiverIn(t, elsewhere.ns, "superoffice")
	if _, err := m.Apply(context.Background(), f.via(f.obs(EventDeleted, "e1", 0), sameName)); !errors.Is(err, ErrConflict) {
		t.Fatalf("a same-named receiver of another namespace: want ErrConflict, got %v", err)
	}
	if got := f.apply(m, f.via(f.obs(EventChanged, "e2", 10), local)); got != Applied {
		t.Fatalf("the receiver of the Associate's own namespace: want applied, got %s", got)
	}
	if got := f.associate().Labels[superofficev1alpha1.LabelReceiverNamespace]; got != f.ns {
		t.Fatalf("the next write adds the receiver-namespace label, got %q", got)
	}
}

func TestAnAssociateWhoseReceiverIsGoneIsAdoptedSoAReceiverCanBeRenamed(t *testing.T) {
	f := newFixture(t)
	m := mirrorWith(nil)
	old := receiverIn(t, f.ns, "old-name")
	f.apply(m, f.via(f.obs(EventCreated, "e1", 0), old))
	renamed := receiverIn(t, f.ns, "new-name")
	if _, err := m.Apply(context.Background(), f.via(f.obs(EventChanged, "e2", 10), renamed)); !errors.Is(err, ErrConflict) {
		t.Fatalf("while the old receiver exists: want ErrConflict, got %v", err)
	}
	if err := k8s.Delete(context.Background(), &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: old.Namespace, Name: old.Name}}); err != nil {
		t.Fatal(err)
	}
	if got := f.apply(m, f.via(f.obs(EventChanged, "e3", 20), renamed)); got != Applied {
		t.Fatalf("once the old receiver is gone: want applied, got %s", got)
	}
	if owner, _ := f.associate().OwningReceiver(); owner != renamed {
		t.Fatalf("the new receiver adopts the Associate, got owner %v", owner)
	}
}
