package controllers

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// kstatusOf is what kstatus-based tools (Flux's health checks, Helm's --wait, cli-utils)
// make of an object as the API server holds it, read as they read it: unstructured (a
// typed round trip would drop the zero observedGeneration that the CRDs default).
func (s *suite) kstatusOf(g gomega.Gomega, obj client.Object) *status.Result {
	u := unstructuredFor(g, obj)
	g.Expect(s.c.Get(s.ctx, client.ObjectKeyFromObject(obj), u)).To(gomega.Succeed())
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj)).To(gomega.Succeed())
	return compute(g, u)
}

// createdKStatus creates obj and computes kstatus on the API server's answer, before any
// controller can have seen it.
func (s *suite) createdKStatus(g gomega.Gomega, obj client.Object) *status.Result {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	u := unstructuredFor(g, obj)
	u.Object = content
	gvk, _ := apiutil.GVKForObject(obj, testenv.Scheme())
	u.SetGroupVersionKind(gvk)
	g.Expect(s.c.Create(s.ctx, u)).To(gomega.Succeed())
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj)).To(gomega.Succeed())
	return compute(g, u)
}

func unstructuredFor(g gomega.Gomega, obj client.Object) *unstructured.Unstructured {
	gvk, err := apiutil.GVKForObject(obj, testenv.Scheme())
	g.Expect(err).NotTo(gomega.HaveOccurred())
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}

func compute(g gomega.Gomega, u *unstructured.Unstructured) *status.Result {
	result, err := status.Compute(u)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	return result
}

// eventuallyKStatus waits until kstatus computes want for obj.
func (s *suite) eventuallyKStatus(t *testing.T, obj client.Object, want status.Status) {
	t.Helper()
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		result := s.kstatusOf(g, obj)
		g.Expect(result.Status).To(gomega.Equal(want), "kstatus of %T %s: %s (%s)", obj, obj.GetName(), result.Status, result.Message)
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
}

// kstatusForEveryKind: each of the four kinds reads InProgress before the operator has
// seen it (and while it retries), Current when healthy and Failed on a terminal error.
func (s *suite) kstatusForEveryKind(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "kstatus")

	t.Run("ProvisioningPolicy", func(t *testing.T) {
		healthy := &superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "healthy"}, Spec: templatePolicy(personServiceAccount)}
		g.Expect(s.createdKStatus(g, healthy).Status).To(gomega.Equal(status.InProgressStatus), "a policy the operator has not seen yet is InProgress")
		s.eventuallyKStatus(t, healthy, status.CurrentStatus)
		broken := s.policy(t, ns, "broken", templatePolicy("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Nope }}\n"))
		s.eventuallyKStatus(t, broken, status.FailedStatus)
		g.Expect(s.c.Delete(s.ctx, broken)).To(gomega.Succeed())
	})

	t.Run("ClusterProvisioningPolicy", func(t *testing.T) {
		spec := superofficev1alpha1.ClusterProvisioningPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			PolicyTemplate:    superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{{Template: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kstatus-{{ .PersonID }}\n"}}},
		}
		healthy := &superofficev1alpha1.ClusterProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "kstatus-healthy"}, Spec: *spec.DeepCopy()}
		g.Expect(s.createdKStatus(g, healthy).Status).To(gomega.Equal(status.InProgressStatus))
		t.Cleanup(func() { _ = s.c.Delete(s.ctx, healthy) })
		s.eventuallyKStatus(t, healthy, status.CurrentStatus)
		spec.Resources = []superofficev1alpha1.ResourceTemplate{{Template: "{{ .Nope }}"}}
		broken := s.clusterPolicy(t, "kstatus-broken", spec)
		t.Cleanup(func() { _ = s.c.Delete(s.ctx, broken) })
		s.eventuallyKStatus(t, broken, status.FailedStatus)
	})

	t.Run("Associate", func(t *testing.T) {
		healthy := &superofficev1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cust1234-3001"},
			Spec: superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: 3001, PersonID: 401, Type: superofficev1alpha1.AssociateTypeEmployee}}
		g.Expect(s.createdKStatus(g, healthy).Status).To(gomega.Equal(status.InProgressStatus), "an Associate the operator has not seen yet is InProgress")
		s.eventuallyKStatus(t, healthy, status.CurrentStatus)

		// An HTTP action that keeps failing is retried: InProgress, with Reconciling.
		failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
		t.Cleanup(failing.Close)
		retried := s.namespace(t, "kstatus-retried")
		s.policy(t, retried, "hook", superofficev1alpha1.ProvisioningPolicySpec{HTTP: []superofficev1alpha1.HTTPAction{{
			HTTPCall: superofficev1alpha1.HTTPCall{Name: "accounts", URL: failing.URL + "/{{ .PersonID }}"}}}})
		a := s.associate(t, retried, 3002, 402, superofficev1alpha1.AssociateTypeEmployee)
		s.ready(t, a, metav1.ConditionFalse, superofficev1alpha1.ReasonHTTPActionFailed)
		s.eventuallyKStatus(t, a, status.InProgressStatus)

		// A refused object waits for the policy's author: Failed, with Stalled.
		stalled := s.namespace(t, "kstatus-stalled")
		s.policy(t, stalled, "hostile", templatePolicy("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: kube-system\n"))
		b := s.associate(t, stalled, 3003, 403, superofficev1alpha1.AssociateTypeEmployee)
		s.ready(t, b, metav1.ConditionFalse, superofficev1alpha1.ReasonTargetNotAllowed)
		s.eventuallyKStatus(t, b, status.FailedStatus)
	})

	t.Run("WebhookReceiver", func(t *testing.T) {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}, StringData: map[string]string{"secret": "s3cret"}}
		g.Expect(s.c.Create(s.ctx, secret)).To(gomega.Succeed())
		newReceiver := func(name, secretName string, api *superofficev1alpha1.SuperOfficeAPI) *superofficev1alpha1.WebhookReceiver {
			return &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: superofficev1alpha1.WebhookReceiverSpec{SecretRef: superofficev1alpha1.SecretKeysReference{Name: secretName}, Tenant: "Cust1234", API: api}}
		}
		receiver := func(name, secretName string, api *superofficev1alpha1.SuperOfficeAPI) *superofficev1alpha1.WebhookReceiver {
			r := newReceiver(name, secretName, api)
			g.Expect(s.c.Create(s.ctx, r)).To(gomega.Succeed())
			return r
		}
		healthy := newReceiver("healthy", "hook", nil)
		g.Expect(s.createdKStatus(g, healthy).Status).To(gomega.Equal(status.InProgressStatus))
		s.eventuallyKStatus(t, healthy, status.CurrentStatus)
		s.eventuallyKStatus(t, receiver("no-secret", "missing", nil), status.FailedStatus)

		// A resync against a SuperOffice that does not answer is retried: InProgress.
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			StringData: map[string]string{"ticket": "7T:abc", "applicationToken": "app"}}
		g.Expect(s.c.Create(s.ctx, creds)).To(gomega.Succeed())
		unreachable := receiver("unreachable", "hook", &superofficev1alpha1.SuperOfficeAPI{
			EnvironmentURL: closed.URL, URL: closed.URL + "/Cust1234/api",
			CredentialsSecretRef: superofficev1alpha1.LocalSecretReference{Name: creds.Name}})
		s.eventuallyKStatus(t, unreachable, status.InProgressStatus)
		gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
			result := s.kstatusOf(g, unreachable)
			g.Expect(result.Message).NotTo(gomega.BeEmpty())
			g.Expect(unreachable.Status.LastResync).NotTo(gomega.BeNil(), "the resync has run (and failed)")
			g.Expect(result.Status).To(gomega.Equal(status.InProgressStatus), "a failed resync is retried: %s", result.Message)
		}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
	})
}
