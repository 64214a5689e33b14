package mirror

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestADeleteResentAfterItsDeleteCallFailedStillDeletesTheAssociate(t *testing.T) {
	f := newFixture(t)
	f.apply(mirrorWith(nil), f.obs(EventCreated, "c1", 10))

	// The tombstone is written, then the Associate's delete fails: SuperOffice gets 503.
	failing := mirrorWith(&interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if _, ok := obj.(*superofficev1alpha1.Associate); ok {
				return apierrors.NewServiceUnavailable("etcd is slow")
			}
			return c.Delete(ctx, obj, opts...)
		},
	})
	if _, err := failing.Apply(context.Background(), f.obs(EventDeleted, "d1", 20)); err == nil {
		t.Fatal("want an error when the Associate's delete failed, got none")
	}
	if f.tombstoneCM() == nil {
		t.Fatal("want the tombstone written before the failed delete")
	}

	if got := f.apply(mirrorWith(nil), f.obs(EventDeleted, "d1", 20)); got != Applied {
		t.Errorf("the resent delete: want %q while the Associate still exists, got %q", Applied, got)
	}
	if f.associate() != nil {
		t.Fatal("want the Associate deleted by the resent delete, it still exists")
	}
	if got := f.apply(mirrorWith(nil), f.obs(EventDeleted, "d1", 20)); got != Duplicate {
		t.Errorf("the delete resent once more: want %q, got %q", Duplicate, got)
	}
}

func TestACreateThatCommittedButTimedOutIsUndoneWhenANewerDeletionMissedIt(t *testing.T) {
	f := newFixture(t)
	m := mirrorWith(&interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			if _, ok := obj.(*superofficev1alpha1.Associate); !ok {
				return nil
			}
			// A deletion on another replica read the Associate before this create committed.
			if err := mirrorWith(nil).writeTombstone(ctx, f.key, f.obs(EventDeleted, "d1", 30)); err != nil {
				return err
			}
			return context.DeadlineExceeded // committed, but the reply was lost
		},
	})
	if _, err := m.Apply(context.Background(), f.obs(EventCreated, "c1", 20)); err == nil {
		t.Fatal("want an error for a create whose outcome the client did not see, got none")
	}
	if a := f.associate(); a != nil && a.DeletionTimestamp == nil {
		t.Fatalf("want the Associate created at T=20 deleted behind the T=30 tombstone, it exists as %s", f.lastEventID())
	}
	if got := f.apply(mirrorWith(nil), f.obs(EventCreated, "c1", 20)); got != Stale {
		t.Errorf("the resent create: want %q, got %q", Stale, got)
	}
}

func TestAStaleEventFinishesTheDeletionOfAnAssociateOlderThanItsTombstone(t *testing.T) {
	f := newFixture(t)
	f.apply(mirrorWith(nil), f.obs(EventCreated, "c1", 20))
	// The orphan of a lost race: the deletion at T=30 is remembered, its delete never ran.
	if err := mirrorWith(nil).writeTombstone(context.Background(), f.key, f.obs(EventDeleted, "d1", 30)); err != nil {
		t.Fatal(err)
	}
	if got := f.apply(mirrorWith(nil), f.obs(EventCreated, "c1", 20)); got != Stale {
		t.Errorf("the resent create: want %q, got %q", Stale, got)
	}
	if f.associate() != nil {
		t.Fatal("want the Associate older than its tombstone deleted, it still exists")
	}
}

func TestTheUndoOfACreateKeepsANewerChangeAppliedMeanwhile(t *testing.T) {
	f := newFixture(t)
	m := mirrorWith(&interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			created, ok := obj.(*superofficev1alpha1.Associate)
			if !ok {
				return nil
			}
			// Another replica: a deletion at T=30 that read before this create committed,
			// then a change at T=40 applied over the created Associate.
			if err := mirrorWith(nil).writeTombstone(ctx, f.key, f.obs(EventDeleted, "d1", 30)); err != nil {
				return err
			}
			changed := desiredAssociate(created, f.key, f.obs(EventChanged, "ch1", 40))
			return c.Update(ctx, changed)
		},
	})
	if _, err := m.Apply(context.Background(), f.obs(EventCreated, "c1", 20)); err != nil {
		t.Fatalf("want no error, got %v", err)
	}
	if got := f.lastEventID(); got != "ch1" {
		t.Fatalf("want the change at T=40 (newer than the T=30 deletion) kept, the Associate's last event is %q", got)
	}
}

func TestALateEventAfterAFreshDeletionIsStaleWithoutRecreatingTheAssociate(t *testing.T) {
	f := newFixture(t)
	f.apply(mirrorWith(nil), f.obs(EventCreated, "c1", 10))
	f.apply(mirrorWith(nil), f.obs(EventDeleted, "d1", 30))

	var creates atomic.Int32
	m := mirrorWith(countCreates(laggingCache(), &creates))
	if got := f.apply(m, f.obs(EventChanged, "ch1", 20)); got != Stale {
		t.Errorf("want %q for an event older than the deletion, got %q", Stale, got)
	}
	if n := creates.Load(); n != 0 {
		t.Errorf("want no Associate created for an event older than the deletion (provisioning would fire), got %d creates", n)
	}
	if f.associate() != nil {
		t.Fatal("want no Associate after a late event, one exists")
	}
}

func TestAStaleEventForATerminatingAssociateIsStaleNotAnError(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.apply(mirrorWith(nil), f.obs(EventCreated, "c1", 10))
	const hold = "test.assocsync.io/hold"
	a := f.associate()
	a.Finalizers = append(a.Finalizers, hold)
	if err := k8s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a := f.associate(); a != nil {
			a.Finalizers = nil
			_ = k8s.Update(ctx, a)
		}
	})
	f.apply(mirrorWith(nil), f.obs(EventDeleted, "d1", 30))
	if a := f.associate(); a == nil || a.DeletionTimestamp == nil {
		t.Fatal("want the Associate held terminating by its finalizer")
	}

	// The cache has the terminating Associate but not yet the tombstone.
	m := mirrorWith(&interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.ConfigMap); ok {
				return apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	if got := f.apply(m, f.obs(EventChanged, "ch1", 20)); got != Stale {
		t.Errorf("want %q for an event older than the deletion of a terminating Associate, got %q", Stale, got)
	}
	if got := f.apply(m, f.obs(EventChanged, "ch2", 40)); got != Deferred {
		t.Errorf("want %q (never a 503) for an event newer than the deletion of a terminating Associate, got %q", Deferred, got)
	}
}

func TestAStaleDeleteWritesNoTombstone(t *testing.T) {
	f := newFixture(t)
	f.apply(mirrorWith(nil), f.obs(EventCreated, "c1", 20))
	if got := f.apply(mirrorWith(laggingCache()), f.obs(EventDeleted, "d1", 10)); got != Stale {
		t.Errorf("want %q for a delete older than the last change, got %q", Stale, got)
	}
	if f.tombstoneCM() != nil {
		t.Error("want no tombstone for a stale delete, one was written")
	}
	if f.associate() == nil {
		t.Error("want the Associate kept, it was deleted")
	}
}

func TestInvalidObservationsAreRefusedAsInvalidBeforeAnyWrite(t *testing.T) {
	minus, long := int64(-1), strings.Repeat("x", 65)
	minus32 := int32(-1)
	tests := []struct {
		name   string
		mutate func(*Observation)
	}{
		{"a negative person_id", func(o *Observation) { o.Fields.PersonID = &minus }},
		{"a negative group_idx", func(o *Observation) { o.Fields.GroupIdx = &minus32 }},
		{"a negative registered_associate_id", func(o *Observation) { o.Fields.RegisteredAssociateID = &minus }},
		{"a negative updated_associate_id", func(o *Observation) { o.Fields.UpdatedAssociateID = &minus }},
		{"an updated over 64 characters", func(o *Observation) { o.Fields.Updated = &long }},
		{"an EventId over the limit", func(o *Observation) { o.EventID = strings.Repeat("e", MaxEventIDLength+1) }},
		{"a tenant over 253 characters", func(o *Observation) { o.Tenant = "C" + strings.Repeat("-", 253) + "1" }},
		{"a receiver name that is no label value", func(o *Observation) { o.Receiver.Name = strings.Repeat("r", 64) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			obs := f.obs(EventCreated, "c1", 10)
			tt.mutate(&obs)
			_, err := mirrorWith(nil).Apply(context.Background(), obs)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid (400), got %v", err)
			}
		})
	}
}

func TestAnObjectTheAPIServerRefusesAsInvalidIsInvalid(t *testing.T) {
	f := newFixture(t)
	m := mirrorWith(&interceptor.Funcs{
		Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error {
			return apierrors.NewInvalid(schema.GroupKind{Group: superofficev1alpha1.GroupVersion.Group, Kind: "Associate"}, f.key.Name,
				field.ErrorList{field.Invalid(field.NewPath("spec", "personId"), -1, "must be >= 0")})
		},
	})
	if _, err := m.Apply(context.Background(), f.obs(EventCreated, "c1", 10)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid (400) when the API server answers 422, got %v", err)
	}
}
