package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/actionhttp"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// conditionSeries returns the receiver's associate_operator_receiver_condition series by type.
func conditionSeries(t *testing.T, receiver string) map[string]float64 {
	t.Helper()
	return seriesOf(t, receiverCondition, receiver, "type")
}

// seriesOf collects the receiver's series of a vector by the value of one label.
func seriesOf(t *testing.T, vector prometheus.Collector, receiver, by string) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { vector.Collect(ch); close(ch) }()
	series := map[string]float64{}
	for metric := range ch {
		var m dto.Metric
		if err := metric.Write(&m); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{}
		for _, pair := range m.GetLabel() {
			labels[pair.GetName()] = pair.GetValue()
		}
		if labels["receiver"] == receiver {
			series[labels[by]] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return series
}

func TestReceiverConditionSeriesFollowTheConditionsEachReconcilerOwns(t *testing.T) {
	key := types.NamespacedName{Namespace: "unit", Name: "conditions"}
	condition := func(conditionType string, status metav1.ConditionStatus) metav1.Condition {
		return metav1.Condition{Type: conditionType, Status: status, Reason: "Test"}
	}
	sync := []string{superofficev1alpha1.ConditionSynced, superofficev1alpha1.ConditionRegistered}
	steps := []struct {
		name string
		do   func()
		want map[string]float64
	}{
		{"Ready True is 1", func() {
			recordReceiverConditions(key, []metav1.Condition{condition(superofficev1alpha1.ConditionReady, metav1.ConditionTrue)}, superofficev1alpha1.ConditionReady)
		}, map[string]float64{"Ready": 1}},
		{"the sync reconciler's Synced False and Registered Unknown are 0, and leave Ready alone", func() {
			recordReceiverConditions(key, []metav1.Condition{
				condition(superofficev1alpha1.ConditionSynced, metav1.ConditionFalse),
				condition(superofficev1alpha1.ConditionRegistered, metav1.ConditionUnknown),
			}, sync...)
		}, map[string]float64{"Ready": 1, "Synced": 0, "Registered": 0}},
		{"a receiver with Synced has its resync counters, at 0 until a resync counts", func() {
			if got := seriesOf(t, resyncTotal, key.String(), "result"); fmt.Sprint(got) != "map[failed:0 mass_deletion_refused:0 succeeded:0]" {
				t.Errorf("resync_total of a receiver with Synced: %v, want every result at 0", got)
			}
		}, map[string]float64{"Ready": 1, "Synced": 0, "Registered": 0}},
		{"registration turned off drops Registered", func() {
			recordReceiverConditions(key, []metav1.Condition{condition(superofficev1alpha1.ConditionSynced, metav1.ConditionTrue)}, sync...)
		}, map[string]float64{"Ready": 1, "Synced": 1}},
		{"an error other than NotFound forgets nothing", func() {
			forgetReceiverConditions(key, errors.New("connection refused"), superofficev1alpha1.ConditionReady)
		}, map[string]float64{"Ready": 1, "Synced": 1}},
		{"a receiver gone drops each reconciler's own series", func() {
			gone := apierrors.NewNotFound(schema.GroupResource{Group: superofficev1alpha1.GroupVersion.Group, Resource: "webhookreceivers"}, key.Name)
			forgetReceiverConditions(key, gone, superofficev1alpha1.ConditionReady)
			forgetReceiverConditions(key, gone, sync...)
		}, map[string]float64{}},
	}
	for _, step := range steps {
		step.do()
		if got := conditionSeries(t, key.String()); fmt.Sprint(got) != fmt.Sprint(step.want) {
			t.Errorf("%s: series %v, want %v", step.name, got, step.want)
		}
	}
	if got := seriesOf(t, resyncTotal, key.String(), "result"); len(got) != 0 {
		t.Errorf("resync_total of a receiver gone: %v, want no series", got)
	}
}

// TestReceiverConditionSeriesFollowTheReceiver runs the receiver reconciler against envtest:
// Ready's series follows the Secret and goes with the receiver.
func TestReceiverConditionSeriesFollowTheReceiver(t *testing.T) {
	cfg, _ := startControlPlane(t)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
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
	receiver := &superofficev1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: "metrics", Name: "so"},
		Spec:       superofficev1alpha1.WebhookReceiverSpec{SecretRef: superofficev1alpha1.SecretKeysReference{Name: "so-secret"}},
	}
	for _, obj := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metrics"}}, receiver} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	expectSeries := func(want map[string]float64) {
		t.Helper()
		testenv.Eventually(t, 20*time.Second, fmt.Sprintf("associate_operator_receiver_condition{receiver=\"metrics/so\"} %v", want), func() error {
			if got := conditionSeries(t, "metrics/so"); fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("series by type %v, want %v", got, want)
			}
			return nil
		})
	}
	expectSeries(map[string]float64{"Ready": 0})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "metrics", Name: "so-secret"}, Data: map[string][]byte{"secret": []byte("s3cret")}}
	if err := c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	expectSeries(map[string]float64{"Ready": 1})
	if err := c.Delete(ctx, receiver); err != nil {
		t.Fatal(err)
	}
	expectSeries(map[string]float64{})
}

func TestDeprovisionFailuresAreCountedPerPolicy(t *testing.T) {
	unavailable := errors.New("the API server is unavailable")
	r := &AssociateReconciler{
		Client: fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithInterceptorFuncs(interceptor.Funcs{
			Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
				return unavailable
			},
		}).Build(),
		templates: newTemplateCache(),
		httpClient: &http.Client{Transport: roundTripperFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("connection refused")
		})},
		applied: newAppliedMemory(),
		actions: actionhttp.NewLimiter(0, 0),
	}
	assoc := &superofficev1alpha1.Associate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "deprov", Name: "cust1234-7"},
		Spec:       superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: 7, PersonID: 70},
	}
	policy := namespacedPolicy(&superofficev1alpha1.ProvisioningPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "deprov", Name: "accounts"},
		Spec: superofficev1alpha1.ProvisioningPolicySpec{HTTP: []superofficev1alpha1.HTTPAction{{
			HTTPCall: superofficev1alpha1.HTTPCall{Name: "hook", URL: "https://accounts.example.test/people/{{ .PersonID }}"},
		}}},
	})
	data, err := newTemplateData(assoc, ActionDeprovision)
	if err != nil {
		t.Fatal(err)
	}
	before := policyEntries{
		provisioned: []superofficev1alpha1.ProvisionedObject{{Policy: "accounts", APIVersion: "v1", Kind: "ServiceAccount", Namespace: "deprov", Name: "person-70"}},
		actions:     []superofficev1alpha1.ActionStatus{{Policy: "accounts", Name: "hook", LastAction: ActionProvision, LastSucceeded: &metav1.Time{Time: time.Now()}}},
	}
	counted := func() float64 {
		var m dto.Metric
		if err := deprovisionFailures.WithLabelValues("deprov/accounts").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	was := counted()
	step := r.deprovision(t.Context(), assoc, policy.id, policy, data, before, false)
	if step.failure == nil || len(step.after.provisioned) != 1 || len(step.after.actions) != 1 {
		t.Fatalf("want the object and the call kept for a retry, got failure %v and %+v", step.failure, step.after)
	}
	if got := counted() - was; got != 2 {
		t.Errorf("associate_operator_deprovision_failures_total{policy=\"deprov/accounts\"} grew by %v, want 2 (the object and the HTTP call)", got)
	}
}
