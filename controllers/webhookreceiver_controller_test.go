package controllers

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// TestWebhookReceiverReadyFollowsItsSecret runs the receiver reconciler alone against
// envtest: Ready and its reason follow the Secret and its keys, with no restart.
func TestWebhookReceiverReadyFollowsItsSecret(t *testing.T) {
	cfg, _ := startControlPlane(t)
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := Options{}.complete(mgr)
	if err != nil {
		t.Fatal(err)
	}
	if err := setupWebhookReceiverReconciler(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx := runManager(t, mgr)

	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acc"}}
	receiver := &superofficev1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "so"},
		Spec:       superofficev1alpha1.WebhookReceiverSpec{SecretRef: superofficev1alpha1.SecretKeysReference{Name: "so-secret"}},
	}
	for _, obj := range []client.Object{ns, receiver} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	expectReady := func(status metav1.ConditionStatus, reason, message string) {
		t.Helper()
		testenv.Eventually(t, 20*time.Second, fmt.Sprintf("receiver acc/so Ready %s/%s", status, reason), func() error {
			var got superofficev1alpha1.WebhookReceiver
			err := c.Get(ctx, client.ObjectKeyFromObject(receiver), &got)
			cond := meta.FindStatusCondition(got.Status.Conditions, superofficev1alpha1.ConditionReady)
			switch {
			case err != nil:
				return err
			case got.Status.WebhookPath != "/webhooks/acc/so":
				return fmt.Errorf("webhookPath %q, want /webhooks/acc/so", got.Status.WebhookPath)
			case cond == nil:
				return fmt.Errorf("no Ready condition")
			case cond.Status != status || cond.Reason != reason || (message != "" && cond.Message != message):
				return fmt.Errorf("Ready %s/%s %q, want %s/%s %q", cond.Status, cond.Reason, cond.Message, status, reason, message)
			case cond.ObservedGeneration != got.Generation:
				return fmt.Errorf("Ready observedGeneration %d, want %d", cond.ObservedGeneration, got.Generation)
			}
			return nil
		})
	}

	expectReady(metav1.ConditionFalse, superofficev1alpha1.ReasonSecretNotFound, "Secret so-secret not found in namespace acc")

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "so-secret"}, Data: map[string][]byte{"other": []byte("x")}}
	if err := c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	expectReady(metav1.ConditionFalse, superofficev1alpha1.ReasonNoKeysFound, "Secret so-secret has none of the keys [secret]")

	secret.Data["secret"] = []byte("s3cret")
	if err := c.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	expectReady(metav1.ConditionTrue, superofficev1alpha1.ReasonReady, "")

	if err := c.Delete(ctx, secret); err != nil {
		t.Fatal(err)
	}
	expectReady(metav1.ConditionFalse, superofficev1alpha1.ReasonSecretNotFound, "")
}
