package controllers

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/apiclient"
	"github.com/assocsync/associate-operator/internal/secrets"
	"github.com/assocsync/associate-operator/internal/testenv"
)

func newSyncReconcilerForState(objects ...*superofficev1alpha1.WebhookReceiver) *webhookReceiverSyncReconciler {
	builder := fake.NewClientBuilder().WithScheme(testenv.Scheme())
	for _, obj := range objects {
		builder = builder.WithObjects(obj)
	}
	c := builder.Build()
	return &webhookReceiverSyncReconciler{
		client:  c,
		clients: apiclient.NewCache(secrets.FromClient(c)),
		now:     time.Now,
		state:   map[types.UID]*syncState{},
		names:   map[types.NamespacedName]types.UID{},
	}
}

func apiReceiver(uid types.UID) *superofficev1alpha1.WebhookReceiver {
	return &superofficev1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: "crm", Name: "so", UID: uid},
		Spec: superofficev1alpha1.WebhookReceiverSpec{Tenant: "Cust1234", API: &superofficev1alpha1.SuperOfficeAPI{
			CredentialsSecretRef: superofficev1alpha1.LocalSecretReference{Name: "so-api"}}},
	}
}

// A receiver without the registration finalizer is gone before any reconcile sees its
// deletionTimestamp: the NotFound must drop what was remembered of it.
func TestSyncStateIsForgottenWhenTheReceiverIsGone(t *testing.T) {
	receiver := apiReceiver("uid-1")
	r := newSyncReconcilerForState()
	r.schedule(receiver, time.Now())
	if len(r.state) != 1 {
		t.Fatalf("expected the scheduled receiver to be remembered, got %d entries", len(r.state))
	}

	key := types.NamespacedName{Namespace: "crm", Name: "so"}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatalf("expected a gone receiver to reconcile without error, got %v", err)
	}
	if len(r.state) != 0 || len(r.names) != 0 {
		t.Fatalf("expected nothing remembered of a gone receiver, got state %v names %v", r.state, r.names)
	}
}

// A receiver deleted and created again under the same name between two reconciles has a
// new UID: the old one's state goes when the new one is scheduled.
func TestSyncStateOfAReplacedReceiverIsForgotten(t *testing.T) {
	r := newSyncReconcilerForState()
	r.schedule(apiReceiver("uid-old"), time.Now())
	r.schedule(apiReceiver("uid-new"), time.Now())
	if _, ok := r.state["uid-old"]; ok || len(r.state) != 1 {
		t.Fatalf("expected only the new receiver's state, got %v", r.state)
	}
}

// Every receiver update (each lastDeliveryTime, each Ready patch) reconciles the sync
// controller: a receiver without spec.api whose status has nothing of it must cost no write.
func TestSyncStatusIsNotReappliedWhenItWouldNotChange(t *testing.T) {
	plain := &superofficev1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: "crm", Name: "plain", UID: "uid-plain"},
		Spec:       superofficev1alpha1.WebhookReceiverSpec{Tenant: "Cust1234"},
	}
	formerAPI := plain.DeepCopy()
	formerAPI.Name, formerAPI.UID = "former-api", "uid-former"
	formerAPI.Status.Conditions = []metav1.Condition{{Type: superofficev1alpha1.ConditionSynced, Status: metav1.ConditionTrue,
		Reason: superofficev1alpha1.ReasonResyncPending, LastTransitionTime: metav1.Now()}}

	var applied []string
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).
		WithObjects(plain, formerAPI).WithStatusSubresource(plain).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourceApply: func(_ context.Context, _ client.Client, _ string, obj runtime.ApplyConfiguration, _ ...client.SubResourceApplyOption) error {
				applied = append(applied, obj.(interface{ GetName() string }).GetName())
				return nil
			},
		}).Build()
	r := &webhookReceiverSyncReconciler{client: c, clients: apiclient.NewCache(secrets.FromClient(c)), now: time.Now,
		state: map[types.UID]*syncState{}, names: map[types.NamespacedName]types.UID{}}

	for range 3 {
		for _, name := range []string{"plain", "former-api"} {
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "crm", Name: name}}); err != nil {
				t.Fatalf("reconciling %s: %v", name, err)
			}
		}
	}
	// former-api's Synced is released on every pass here only because the interceptor
	// stores nothing; what matters is that plain is never written.
	for _, name := range applied {
		if name == "plain" {
			t.Fatalf("a receiver with no sync status was written: applies %v", applied)
		}
	}
	if len(applied) == 0 {
		t.Fatalf("a receiver whose Synced condition is left over from spec.api was never released")
	}
}
