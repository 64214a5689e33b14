package controllers

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/superoffice"
	"github.com/assocsync/associate-operator/internal/superoffice/fake"
)

// withRegistration turns registration on, with the manager's ingress as the target.
func (s *syncSuite) withRegistration(r *superofficev1alpha1.WebhookReceiver) {
	r.Spec.Registration = &superofficev1alpha1.WebhookRegistration{
		Enabled:   true,
		TargetURL: fmt.Sprintf("http://%s/webhooks/%s/%s", s.ingressAddr, r.Namespace, r.Name),
	}
}

// waitRegistered waits for the Registered condition with reason and returns the receiver.
func (s *syncSuite) waitRegistered(t *testing.T, key types.NamespacedName, reason string) *superofficev1alpha1.WebhookReceiver {
	t.Helper()
	var r superofficev1alpha1.WebhookReceiver
	gomega.NewWithT(t).Eventually(func() string {
		if err := s.c.Get(s.ctx, key, &r); err != nil {
			return err.Error()
		}
		if c := meta.FindStatusCondition(r.Status.Conditions, superofficev1alpha1.ConditionRegistered); c != nil {
			return c.Reason
		}
		return "<no Registered condition>"
	}, eventuallyTimeout, pollInterval).Should(gomega.Equal(reason), "Registered condition of %s", key)
	return &r
}

func (s *syncSuite) webhookOf(t *testing.T, tn *tenant, id int32) superoffice.Webhook {
	t.Helper()
	h, ok := tn.Webhook(int64(id))
	if !ok {
		t.Fatalf("expected webhook %d in SuperOffice, found none", id)
	}
	return h
}

func (s *syncSuite) registration(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "registration")
	tn := s.tenant(t)
	tn.Seed(1, 2)
	key := s.receiver(t, ns, tn, s.withRegistration)
	target := fmt.Sprintf("http://%s/webhooks/%s/so", s.ingressAddr, ns)

	// Creates: SuperOffice's test event on save was answered by the ingress.
	r := s.waitRegistered(t, key, superofficev1alpha1.ReasonRegistered)
	if !controllerutil.ContainsFinalizer(r, superofficev1alpha1.FinalizerWebhookRegistration) {
		t.Errorf("want finalizer %s on a receiver with registration, got %v", superofficev1alpha1.FinalizerWebhookRegistration, r.Finalizers)
	}
	if r.Status.Registration == nil || r.Status.Registration.WebhookID == 0 || r.Status.Registration.State != superoffice.WebhookStateActive {
		t.Fatalf("want status.registration with a webhookId and state Active, got %+v", r.Status.Registration)
	}
	id := r.Status.Registration.WebhookID
	h := s.webhookOf(t, tn, id)
	if h.Name != ns+"-so" || h.TargetURL != target || h.Secret != signingKeyValue || h.State != superoffice.WebhookStateActive ||
		!slices.Equal(h.Events, defaultWebhookEvents) {
		t.Fatalf("want webhook %s-so to %s with the first key, Active, events %v; got %v (secret matches: %v)", ns, target, defaultWebhookEvents, h, h.Secret == signingKeyValue)
	}

	// Corrects drift: someone changed the URL in SuperOffice.
	if err := tn.ChangeWebhook(int64(id), func(w *superoffice.Webhook) { w.TargetURL = "https://elsewhere.example.com/hook" }); err != nil {
		t.Fatal(err)
	}
	s.requestResync(t, key)
	g.Eventually(func() string { return s.webhookOf(t, tn, id).TargetURL }, eventuallyTimeout, pollInterval).Should(gomega.Equal(target))

	// Surfaces TooManyErrors with SuperOffice's last error, found on the next pass (here a
	// Secret change), and reactivates only on request.
	if err := tn.SetWebhookState(int64(id), superoffice.WebhookStateTooManyErrors, "delivery of 42 answered HTTP 503"); err != nil {
		t.Fatal(err)
	}
	s.patchSecret(t, ns, "hook-secret", map[string]string{"unrelated": "x"})
	r = s.waitRegistered(t, key, superofficev1alpha1.ReasonWebhookTooManyErrors)
	if c := meta.FindStatusCondition(r.Status.Conditions, superofficev1alpha1.ConditionRegistered); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "HTTP 503") {
		t.Errorf("want Registered False naming the last error, got %s %q", c.Status, c.Message)
	}
	if reg := r.Status.Registration; reg.State != superoffice.WebhookStateTooManyErrors || !strings.Contains(reg.LastError, "HTTP 503") {
		t.Errorf("want status.registration state TooManyErrors with the last error, got %+v", *reg)
	}
	s.requestResync(t, key)
	s.waitRegistered(t, key, superofficev1alpha1.ReasonRegistered)
	if st := s.webhookOf(t, tn, id).State; st != superoffice.WebhookStateActive {
		t.Errorf("a requested resync reactivates the webhook: want Active, got %s", st)
	}

	// A lost delivery is repaired by the next resync.
	tn.PutAssociate(fake.Associate{ID: 9, PersonID: 1009, GroupID: 1})
	tn.DropNextDeliveries(1)
	ds, err := tn.SendEvent(s.ctx, fake.Event{Name: fake.EventCreated, AssociateID: 9})
	if err != nil || len(ds) != 1 || !ds[0].Dropped {
		t.Fatalf("want one dropped delivery, got %+v, %v", ds, err)
	}
	if _, ok := s.associate(t, ns, tn.Tenant(), 9); ok {
		t.Fatal("a dropped delivery must not have created the Associate")
	}
	s.requestResync(t, key)
	if a, ok := s.associate(t, ns, tn.Tenant(), 9); !ok || a.Spec.PersonID != 1009 {
		t.Fatalf("the resync after a lost delivery: want associate 9 with person 1009, got %+v", a)
	}

	// Rotates: a new key first in keys becomes the webhook's Secret; no delivery is refused.
	s.rotateUnderLoad(t, tn, key, id)

	// Deletes the webhook with the receiver.
	if err := s.c.Delete(s.ctx, r); err != nil {
		t.Fatal(err)
	}
	g.Eventually(func() bool {
		return apierrors.IsNotFound(s.c.Get(s.ctx, key, &superofficev1alpha1.WebhookReceiver{}))
	}, eventuallyTimeout, pollInterval).Should(gomega.BeTrue(), "the receiver goes once its webhook is deleted")
	if hooks := tn.Webhooks(); len(hooks) != 0 {
		t.Errorf("want no webhook left in SuperOffice, got %v", hooks)
	}
}

func (s *syncSuite) patchSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	secret := &corev1.Secret{}
	if err := s.c.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: name}, secret); err != nil {
		t.Fatal(err)
	}
	before := secret.DeepCopy()
	for k, v := range data {
		secret.Data[k] = []byte(v)
	}
	if err := s.c.Patch(s.ctx, secret, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
}

// rotateUnderLoad rotates the signing key while deliveries keep coming, and checks that
// every one of them was answered 200.
func (s *syncSuite) rotateUnderLoad(t *testing.T, tn *tenant, key types.NamespacedName, id int32) {
	t.Helper()
	const nextKey = "second-signing-secret"
	var (
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		delivered atomic.Int64
		mu        sync.Mutex
		refused   []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ { // bounded; stopped long before
			select {
			case <-stop:
				return
			default:
			}
			ds, err := tn.SendEvent(s.ctx, fake.Event{Name: fake.EventChanged, AssociateID: 1})
			mu.Lock()
			if err != nil {
				refused = append(refused, err.Error())
			}
			for _, d := range ds {
				if d.Err != nil || d.StatusCode != 200 {
					refused = append(refused, fmt.Sprintf("HTTP %d %v", d.StatusCode, d.Err))
				}
			}
			mu.Unlock()
			delivered.Add(1)
		}
	}()
	g := gomega.NewWithT(t)
	g.Eventually(delivered.Load, eventuallyTimeout, pollInterval).Should(gomega.BeNumerically(">=", 3))

	s.patchSecret(t, key.Namespace, "hook-secret", map[string]string{"next": nextKey})
	var r superofficev1alpha1.WebhookReceiver
	if err := s.c.Get(s.ctx, key, &r); err != nil {
		t.Fatal(err)
	}
	before := r.DeepCopy()
	r.Spec.SecretRef.Keys = []string{"next", "secret"}
	if err := s.c.Patch(s.ctx, &r, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	g.Eventually(func() bool { return s.webhookOf(t, tn, id).Secret == nextKey }, eventuallyTimeout, pollInterval).
		Should(gomega.BeTrue(), "the new first key becomes the webhook's Secret")
	rotated := delivered.Load()
	g.Eventually(delivered.Load, eventuallyTimeout, pollInterval).Should(gomega.BeNumerically(">=", rotated+3))
	close(stop)
	wg.Wait()
	if len(refused) > 0 {
		t.Fatalf("rotation must refuse no delivery; %d of %d were: %v", len(refused), delivered.Load(), refused[:min(len(refused), 3)])
	}
}

func (s *syncSuite) resyncDuringDeliveries(t *testing.T) {
	ns := s.namespace(t, "resync-during-deliveries")
	tn := s.tenant(t)
	for _, id := range []int64{10, 11, 12, 13} {
		tn.PutAssociate(fake.Associate{ID: id, PersonID: 1000 + id, GroupID: 1})
	}
	key := s.receiver(t, ns, tn, s.withRegistration)
	s.waitRegistered(t, key, superofficev1alpha1.ReasonRegistered)
	s.waitResyncs(t, key, 1)

	// The listing reads page 1 (10, 11, 12), then waits while deliveries newer than its
	// start change 10, delete 11 and create 5; page 2 then holds 13 only.
	gate := tn.holdLaterPages()
	pages := tn.Calls(fake.RouteAllUsers)
	before := resyncs(key)
	s.annotate(t, key, superofficev1alpha1.AnnotationResyncRequestedAt, "during-deliveries")
	g := gomega.NewWithT(t)
	g.Eventually(func() int { return tn.Calls(fake.RouteAllUsers) }, eventuallyTimeout, pollInterval).Should(gomega.Equal(pages + 1))

	send := func(ev fake.Event) {
		ds, err := tn.SendEvent(s.ctx, ev)
		if err != nil || len(ds) != 1 || ds[0].StatusCode != 200 {
			close(gate)
			t.Fatalf("delivery %s of %d: want 200, got %+v, %v", ev.Name, ev.AssociateID, ds, err)
		}
	}
	tn.PutAssociate(fake.Associate{ID: 10, PersonID: 5555, GroupID: 1})
	send(fake.Event{Name: fake.EventChanged, AssociateID: 10})
	tn.RemoveAssociate(11)
	send(fake.Event{Name: fake.EventDeleted, AssociateID: 11})
	tn.PutAssociate(fake.Associate{ID: 5, PersonID: 1005, GroupID: 1})
	send(fake.Event{Name: fake.EventCreated, AssociateID: 5})
	close(gate)

	status := s.waitResyncs(t, key, before+1)
	if rs := status.LastResync; rs.Result != superofficev1alpha1.ResyncSucceeded || rs.Created+rs.Updated+rs.Deleted != 0 {
		t.Errorf("every listed difference was older than a delivery: want a resync that changed nothing, got %+v", *rs)
	}
	if a, ok := s.associate(t, ns, tn.Tenant(), 10); !ok || a.Spec.PersonID != 5555 {
		t.Errorf("a delivery newer than the listing wins: want associate 10 with person 5555, got %+v", a)
	}
	if _, ok := s.associate(t, ns, tn.Tenant(), 11); ok {
		t.Error("a deletion the listing did not see must not be undone: associate 11 is back")
	}
	for _, id := range []int64{5, 12, 13} {
		if _, ok := s.associate(t, ns, tn.Tenant(), id); !ok {
			t.Errorf("associate %d: want it kept, it is gone", id)
		}
	}
}
