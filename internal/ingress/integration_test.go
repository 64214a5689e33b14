package ingress_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/ingress"
	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/mirror"
)

const secret = "s3cret"

func TestDocumentedPayloadsBecomeAssociatesFieldByField(t *testing.T) {
	r := startReplica(t, restConfig, time.Hour)
	ns := receiverSetup(t, "so", "Cust1234", nil, map[string]string{"secret": secret})
	url := r.url + path(ns, "so")
	waitReceiverServed(t, url, secret)

	if code, result := deliver(t, url, samples.MustPayload("test"), secret); code != 200 || result != "test" {
		t.Fatalf("the documented test event: want 200 test, got %d %q", code, result)
	}
	if code, result := deliver(t, url, samples.MustPayload("created"), secret); code != 200 || result != "applied" {
		t.Fatalf("the documented created event: want 200 applied, got %d %q", code, result)
	}
	a := getAssociate(t, ns, "cust1234-141424")
	if a == nil {
		t.Fatal("the created event answered 200 but Associate cust1234-141424 is not in the API server")
	}
	typeCode := int32(0)
	wantSpec := superofficev1alpha1.AssociateSpec{
		Tenant: "Cust1234", AssociateID: 141424, PersonID: 21, GroupIdx: 4,
		Type: superofficev1alpha1.AssociateTypeEmployee, TypeCode: &typeCode,
		Retired: false, WaitingForApproval: false, RegisteredAssociateID: 5, UpdatedAssociateID: 5,
		Updated: "2025-05-14T16:19:57.1436004+02:00",
	}
	gotSpec, _ := json.Marshal(a.Spec)
	wantJSON, _ := json.Marshal(wantSpec)
	if string(gotSpec) != string(wantJSON) {
		t.Errorf("spec: want %s, got %s", wantJSON, gotSpec)
	}
	for key, want := range map[string]string{
		superofficev1alpha1.LabelTenant:      "cust1234",
		superofficev1alpha1.LabelAssociateID: "141424",
		superofficev1alpha1.LabelPersonID:    "21",
		superofficev1alpha1.LabelReceiver:    "so",
	} {
		if got := a.Labels[key]; got != want {
			t.Errorf("label %s: want %q, got %q", key, want, got)
		}
	}
	for key, want := range map[string]string{
		superofficev1alpha1.AnnotationLastEventID:          "52b8311e-745b-49a0-83eb-a9159635a307",
		superofficev1alpha1.AnnotationLastEvent:            "associate.created",
		superofficev1alpha1.AnnotationLastEventTimestamp:   "2018-04-24T08:53:40.0597952Z",
		superofficev1alpha1.AnnotationChangedByAssociateID: "316",
	} {
		if got := a.Annotations[key]; got != want {
			t.Errorf("annotation %s: want %q, got %q", key, want, got)
		}
	}

	// The documented changed event has no FieldValues: it creates the Associate with what it carries.
	if code, result := deliver(t, url, samples.MustPayload("changed"), secret); code != 200 || result != "applied" {
		t.Fatalf("the documented changed event: want 200 applied, got %d %q", code, result)
	}
	changed := getAssociate(t, ns, "cust1234-141423")
	if changed == nil || changed.Spec.Tenant != "Cust1234" || changed.Spec.AssociateID != 141423 ||
		changed.Annotations[superofficev1alpha1.AnnotationLastEvent] != "associate.changed" {
		t.Fatalf("want cust1234-141423 created by the changed event, got %+v", changed)
	}

	// The documented deleted event is of tenant Default: a receiver without a tenant takes it.
	defaultNS := receiverSetup(t, "onsite", "", nil, map[string]string{"secret": secret})
	onsite := r.url + path(defaultNS, "onsite")
	waitReceiverServed(t, onsite, secret)
	before := event{ID: "create-4039840", Event: mirror.EventCreated, Associate: 4039840, Tenant: "Default",
		At: time.Date(2018, 4, 24, 8, 0, 0, 0, time.UTC), Fields: map[string]any{"person_id": 12345}}
	if code, result := deliver(t, onsite, before.body(), secret); code != 200 || result != "applied" {
		t.Fatalf("creating default-4039840: want 200 applied, got %d %q", code, result)
	}
	if code, result := deliver(t, onsite, samples.MustPayload("deleted"), secret); code != 200 || result != "applied" {
		t.Fatalf("the documented deleted event: want 200 applied, got %d %q", code, result)
	}
	if a := getAssociate(t, defaultNS, "default-4039840"); a != nil {
		t.Fatalf("the deleted event answered 200 but default-4039840 is still there")
	}
	var tomb corev1.ConfigMap
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: defaultNS, Name: mirror.TombstoneName("default-4039840")}, &tomb); err != nil {
		t.Fatalf("want a tombstone after the deletion: %v", err)
	}
	if code, result := deliver(t, onsite, samples.MustPayload("deleted"), secret); code != 200 || result != "duplicate" {
		t.Errorf("the deleted event again: want 200 duplicate, got %d %q", code, result)
	}

	// lastDeliveryTime is written off the request path.
	eventually(t, 10*time.Second, "status.lastDeliveryTime", func() error {
		var receiver superofficev1alpha1.WebhookReceiver
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "so"}, &receiver); err != nil {
			return err
		}
		if receiver.Status.LastDeliveryTime == nil {
			return errNotYet
		}
		return nil
	})
}

func TestDuplicatesAndOutOfOrderEventsEndInTimestampOrder(t *testing.T) {
	r := startReplica(t, restConfig, time.Hour)
	ns := receiverSetup(t, "so", "Cust1234", nil, map[string]string{"secret": secret})
	url := r.url + path(ns, "so")
	waitReceiverServed(t, url, secret)

	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(id string, kind string, at time.Duration, group int) event {
		return event{ID: id, Event: kind, Associate: 7, Tenant: "Cust1234", At: t0.Add(at), Fields: map[string]any{"group_idx": group, "person_id": 70}}
	}
	steps := []struct {
		ev         event
		wantResult string
		wantGroup  int32
	}{
		{ev("e3", mirror.EventChanged, 3*time.Second, 3), "applied", 3},
		{ev("e1", mirror.EventCreated, 1*time.Second, 1), "stale", 3},
		{ev("e2", mirror.EventChanged, 2*time.Second, 2), "stale", 3},
		{ev("e3", mirror.EventChanged, 3*time.Second, 3), "duplicate", 3},
		{ev("e3b", mirror.EventChanged, 3*time.Second, 33), "applied", 33}, // same Timestamp, other EventId
		{event{ID: "e4", Event: mirror.EventChanged, Associate: 7, Tenant: "Cust1234", At: t0.Add(4 * time.Second)}, "applied", 33},
	}
	for i, step := range steps {
		code, result := deliver(t, url, step.ev.body(), secret)
		if code != 200 || result != step.wantResult {
			t.Fatalf("step %d (%s at +%s): want 200 %s, got %d %q", i, step.ev.ID, step.ev.At.Sub(t0), step.wantResult, code, result)
		}
		a := getAssociate(t, ns, "cust1234-7")
		if a == nil || a.Spec.GroupIdx != step.wantGroup {
			t.Fatalf("step %d: want groupIdx %d, got %+v", i, step.wantGroup, a)
		}
	}
	if a := getAssociate(t, ns, "cust1234-7"); a.Spec.PersonID != 70 || a.Annotations[superofficev1alpha1.AnnotationLastEventID] != "e4" {
		t.Errorf("a changed event without FieldValues must keep the fields and record its EventId, got %+v", a)
	}
}

func TestALateEventDoesNotBringBackADeletedAssociateEvenAcrossARestart(t *testing.T) {
	r := startReplica(t, restConfig, time.Hour)
	ns := receiverSetup(t, "so", "Cust1234", nil, map[string]string{"secret": secret})
	url := r.url + path(ns, "so")
	waitReceiverServed(t, url, secret)

	t0 := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	send := func(url string, e event, want string) {
		t.Helper()
		if code, result := deliver(t, url, e.body(), secret); code != 200 || result != want {
			t.Fatalf("%s %s: want 200 %s, got %d %q", e.Event, e.ID, want, code, result)
		}
	}
	send(url, event{ID: "c1", Event: mirror.EventCreated, Associate: 9, Tenant: "Cust1234", At: t0.Add(time.Second)}, "applied")
	send(url, event{ID: "d3", Event: mirror.EventDeleted, Associate: 9, Tenant: "Cust1234", At: t0.Add(3 * time.Second)}, "applied")
	send(url, event{ID: "x2", Event: mirror.EventChanged, Associate: 9, Tenant: "Cust1234", At: t0.Add(2 * time.Second)}, "stale")
	send(url, event{ID: "d2", Event: mirror.EventDeleted, Associate: 9, Tenant: "Cust1234", At: t0.Add(2 * time.Second)}, "stale")
	if getAssociate(t, ns, "cust1234-9") != nil {
		t.Fatal("a late event brought back a deleted associate")
	}

	r.stop()
	restarted := startReplica(t, restConfig, time.Hour)
	url = restarted.url + path(ns, "so")
	waitReceiverServed(t, url, secret)
	send(url, event{ID: "x2b", Event: mirror.EventCreated, Associate: 9, Tenant: "Cust1234", At: t0.Add(2 * time.Second)}, "stale")
	if getAssociate(t, ns, "cust1234-9") != nil {
		t.Fatal("after a restart, a late event brought back a deleted associate")
	}
	send(url, event{ID: "c4", Event: mirror.EventCreated, Associate: 9, Tenant: "Cust1234", At: t0.Add(4 * time.Second)}, "applied")
	if getAssociate(t, ns, "cust1234-9") == nil {
		t.Fatal("an event newer than the deletion must create the associate again")
	}
}

func TestKeyRotationTakesEffectWithoutARestartAndRefusesNothingMeanwhile(t *testing.T) {
	r := startReplica(t, restConfig, time.Hour)
	ns := receiverSetup(t, "so", "Cust1234", []string{"old", "new"}, map[string]string{"old": "old-secret"})
	url := r.url + path(ns, "so")
	waitReceiverServed(t, url, "old-secret")
	ctx := context.Background()
	n := 0
	send := func(key string) int {
		n++
		e := event{ID: newEventID("rot", n), Event: mirror.EventChanged, Associate: 11, Tenant: "Cust1234",
			At: time.Date(2025, 3, 1, 0, 0, n, 0, time.UTC)}
		code, _ := deliver(t, url, e.body(), key)
		return code
	}

	var s corev1.Secret
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "so-secret"}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data["new"] = []byte("new-secret")
	if err := k8s.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the added key to be accepted", func() error {
		if code := send("old-secret"); code != http.StatusOK {
			t.Fatalf("the old key was refused with %d while both keys are listed", code)
		}
		if code := send("new-secret"); code != http.StatusOK {
			return errNotYet
		}
		return nil
	})
	if code := send("old-secret"); code != http.StatusOK {
		t.Fatalf("with both keys present, the old key got %d", code)
	}

	delete(s.Data, "old")
	if err := k8s.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the removed key to be refused", func() error {
		if code := send("new-secret"); code != http.StatusOK {
			t.Fatalf("the new key was refused with %d during the removal of the old one", code)
		}
		if code := send("old-secret"); code != http.StatusUnauthorized {
			return errNotYet
		}
		return nil
	})

	// The refusal left one Warning Event, however many deliveries were refused.
	for range 5 {
		send("old-secret")
	}
	eventually(t, 10*time.Second, "a BadSignature Warning Event on the receiver", func() error {
		var list eventsv1.EventList
		if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		count := 0
		for _, e := range list.Items {
			if e.Reason == "BadSignature" && e.Regarding.Name == "so" && e.Type == corev1.EventTypeWarning {
				count++
			}
		}
		if count != 1 {
			return errNotYetf("want exactly 1 BadSignature event, got %d", count)
		}
		return nil
	})
}

func TestExpiredTombstonesAreIgnoredAndCollected(t *testing.T) {
	r := startReplicaWith(t, restConfig, ingress.Options{TombstoneTTL: 2 * time.Second, TombstoneCollectInterval: 200 * time.Millisecond})
	ns := receiverSetup(t, "so", "Cust1234", nil, map[string]string{"secret": secret})
	url := r.url + path(ns, "so")
	waitReceiverServed(t, url, secret)

	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	if code, result := deliver(t, url, event{ID: "d2", Event: mirror.EventDeleted, Associate: 5, Tenant: "Cust1234", At: t0.Add(2 * time.Second)}.body(), secret); code != 200 || result != "applied" {
		t.Fatalf("deleting: want 200 applied, got %d %q", code, result)
	}
	late := event{ID: "c1", Event: mirror.EventCreated, Associate: 5, Tenant: "Cust1234", At: t0.Add(time.Second)}
	if code, result := deliver(t, url, late.body(), secret); code != 200 || result != "stale" {
		t.Fatalf("a late event while the tombstone lives: want 200 stale, got %d %q", code, result)
	}
	eventually(t, 20*time.Second, "the expired tombstone to be collected", func() error {
		var cm corev1.ConfigMap
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: mirror.TombstoneName("cust1234-5")}, &cm)
		if client.IgnoreNotFound(err) != nil {
			return err
		}
		if err == nil {
			return errNotYet
		}
		return nil
	})
	if code, result := deliver(t, url, late.body(), secret); code != 200 || result != "applied" {
		t.Fatalf("after --tombstone-ttl, a late event is no longer held back: want 200 applied, got %d %q", code, result)
	}
}

func TestAReplicaForgetsTheMetricSeriesOfADeletedReceiver(t *testing.T) {
	// A replica with the ingress only, as a non-leader runs it: no controller prunes here.
	r := startReplica(t, restConfig, time.Hour)
	ns := receiverSetup(t, "so", "Cust1234", nil, map[string]string{"secret": secret})
	url := r.url + path(ns, "so")
	waitReceiverServed(t, url, secret)
	if code, _ := deliver(t, url, []byte(`{}`), "not-the-secret"); code != http.StatusUnauthorized {
		t.Fatalf("a bad signature: want 401, got %d", code)
	}
	receiver := ns + "/so"
	if n := ingress.ReceiverSeries(t, receiver); n == 0 {
		t.Fatalf("want request series for %s after its deliveries, got none", receiver)
	}
	var whr superofficev1alpha1.WebhookReceiver
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "so"}, &whr); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(context.Background(), &whr); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the deleted receiver's metric series to be gone", func() error {
		if n := ingress.ReceiverSeries(t, receiver); n != 0 {
			return fmt.Errorf("%d series of %s left", n, receiver)
		}
		return nil
	})
}

func TestAnEventForAnAssociateBeingDeletedIsDeferredAndAppliedOnceItIsGoneAcrossARestart(t *testing.T) {
	ctx := context.Background()
	first := startReplica(t, restConfig, time.Hour)
	ns := receiverSetup(t, "so", "Cust1234", nil, map[string]string{"secret": secret})
	url := first.url + path(ns, "so")
	waitReceiverServed(t, url, secret)
	at := time.Now().Add(-time.Hour)
	created := event{ID: "c1", Event: "associate.created", Associate: 77, Tenant: "Cust1234", At: at, Fields: map[string]any{"person_id": 7}}
	if code, result := deliver(t, url, created.body(), secret); code != 200 || result != "applied" {
		t.Fatalf("created: want 200 applied, got %d %q", code, result)
	}
	// A deprovision that never finishes holds the Associate; `kubectl delete` leaves no tombstone.
	a := getAssociate(t, ns, "cust1234-77")
	a.Finalizers = append(a.Finalizers, "test.assocsync.io/hold")
	if err := k8s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	changed := event{ID: "ch1", Event: "associate.changed", Associate: 77, Tenant: "Cust1234", At: at.Add(time.Minute), Fields: map[string]any{"person_id": 8}}
	eventually(t, 30*time.Second, "the changed event to be deferred", func() error {
		if code, result := deliver(t, url, changed.body(), secret); code != 200 || result != "deferred" {
			return fmt.Errorf("want 200 deferred (never 503), got %d %q", code, result)
		}
		return nil
	})

	// The replica that acknowledged it stops; the Associate goes while no manager runs.
	first.stop()
	a = getAssociate(t, ns, "cust1234-77")
	a.Finalizers = nil
	if err := k8s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the held Associate to be gone", func() error {
		if getAssociate(t, ns, "cust1234-77") != nil {
			return errNotYet
		}
		return nil
	})
	startReplica(t, restConfig, time.Hour)
	eventually(t, 60*time.Second, "the acknowledged deferred event to be applied after the restart", func() error {
		got := getAssociate(t, ns, "cust1234-77")
		if got == nil || got.Annotations[superofficev1alpha1.AnnotationLastEventID] != "ch1" || got.Spec.PersonID != 8 {
			return fmt.Errorf("Associate %+v", got)
		}
		return nil
	})
}
