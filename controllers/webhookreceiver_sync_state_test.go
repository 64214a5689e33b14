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

// planResync decides from the receiver alone, so a restart or a new leader decides the
// same: these cases are what any replica reads off the status.
func TestPlanResyncFollowsFromTheReceiversStatus(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	receiver := func(edit func(*superofficev1alpha1.WebhookReceiver)) *superofficev1alpha1.WebhookReceiver {
		r := &superofficev1alpha1.WebhookReceiver{
			ObjectMeta: metav1.ObjectMeta{Namespace: "crm", Name: "so", UID: "uid-1", Generation: 3},
			Spec: superofficev1alpha1.WebhookReceiverSpec{Tenant: "Cust1234", API: &superofficev1alpha1.SuperOfficeAPI{
				ResyncInterval: &metav1.Duration{Duration: time.Hour}}},
			Status: superofficev1alpha1.WebhookReceiverStatus{
				Conditions: []metav1.Condition{{Type: superofficev1alpha1.ConditionSynced, Status: metav1.ConditionTrue, ObservedGeneration: 3}},
				LastResync: &superofficev1alpha1.ResyncStatus{Time: metav1.NewTime(now.Add(-30 * time.Minute)),
					Result: superofficev1alpha1.ResyncSucceeded, RequestedAt: "1"},
			},
		}
		r.Annotations = map[string]string{superofficev1alpha1.AnnotationResyncRequestedAt: "1"}
		if edit != nil {
			edit(r)
		}
		return r
	}
	tests := []struct {
		name           string
		receiver       *superofficev1alpha1.WebhookReceiver
		due, requested bool
		scheduled      bool
	}{
		{"within the interval since the last resync: not due, scheduled", receiver(nil), false, false, true},
		{"never resynced: due", receiver(func(r *superofficev1alpha1.WebhookReceiver) {
			r.Status.LastResync, r.Annotations = nil, nil
		}), true, false, false},
		{"never resynced, with resync-requested-at: due and requested", receiver(func(r *superofficev1alpha1.WebhookReceiver) {
			r.Status.LastResync = nil
		}), true, true, false},
		{"the spec changed since Synced was written: due", receiver(func(r *superofficev1alpha1.WebhookReceiver) { r.Generation = 4 }), true, false, false},
		{"a new resync-requested-at: due and requested", receiver(func(r *superofficev1alpha1.WebhookReceiver) {
			r.Annotations[superofficev1alpha1.AnnotationResyncRequestedAt] = "2"
		}), true, true, false},
		{"the interval has passed: due", receiver(func(r *superofficev1alpha1.WebhookReceiver) {
			r.Status.LastResync.Time = metav1.NewTime(now.Add(-2 * time.Hour))
		}), true, false, false},
		{"a failed resync is retried within 5 minutes", receiver(func(r *superofficev1alpha1.WebhookReceiver) {
			r.Status.LastResync.Time = metav1.NewTime(now.Add(-6 * time.Minute))
			r.Status.LastResync.Result = superofficev1alpha1.ResyncFailed
		}), true, false, false},
		{"resyncInterval 0s: no periodic resync", receiver(func(r *superofficev1alpha1.WebhookReceiver) {
			r.Spec.API.ResyncInterval = &metav1.Duration{}
			r.Status.LastResync.Time = metav1.NewTime(now.Add(-24 * time.Hour))
		}), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planResync(tt.receiver, now)
			if plan.due != tt.due || plan.requested != tt.requested || (plan.after > 0) != tt.scheduled {
				t.Fatalf("planResync = %+v, want due %v, requested %v, scheduled %v", plan, tt.due, tt.requested, tt.scheduled)
			}
			if tt.scheduled && (plan.after < 30*time.Minute || plan.after > 36*time.Minute) {
				t.Fatalf("the next resync is in %s: want the hour's remaining 30 minutes plus at most a tenth of jitter", plan.after)
			}
		})
	}
}

// Every receiver update (each lastDeliveryTime, each Ready write) reconciles the sync
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
				applied = append(applied, *obj.(interface{ GetName() *string }).GetName())
				return nil
			},
		}).Build()
	r := &webhookReceiverSyncReconciler{client: c, live: c, clients: apiclient.NewCache(secrets.FromClient(c)), now: time.Now}

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
