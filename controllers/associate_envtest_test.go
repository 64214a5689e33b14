package controllers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/actionhttp"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/testenv"
)

const (
	eventuallyTimeout = 30 * time.Second
	pollInterval      = 50 * time.Millisecond
)

// samplePolicySpec is the sample policy's: a ServiceAccount and a RoleBinding per person.
func samplePolicySpec() superofficev1alpha1.ProvisioningPolicySpec {
	return superofficev1alpha1.ProvisioningPolicySpec{PolicyTemplate: superofficev1alpha1.PolicyTemplate{
		Types: []superofficev1alpha1.AssociateType{superofficev1alpha1.AssociateTypeEmployee},
		Resources: []superofficev1alpha1.ResourceTemplate{{Template: `apiVersion: v1
kind: ServiceAccount
metadata:
  name: person-{{ .PersonID }}
  namespace: {{ .Namespace }}
  labels:
    superofficeassocsync.io/tenant: {{ .Tenant | lower | quote }}
`}, {Template: `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: person-{{ .PersonID }}-view
  namespace: {{ .Namespace }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- kind: ServiceAccount
  name: person-{{ .PersonID }}
  namespace: {{ .Namespace }}
`}},
	}}
}

// suite is one envtest control plane with the manager running the reconcilers.
type suite struct {
	c        client.Client
	ctx      context.Context
	requests *requestCounter
}

// testDriftCheckInterval makes the periodic drift check observable in a test.
const testDriftCheckInterval = time.Second

// dryRun is the method under which requestCounter counts dry-run requests.
const dryRun = "DRYRUN"

// requestCounter counts the manager's API requests by method and path.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *requestCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		method := req.Method
		if req.URL.Query().Has("dryRun") {
			// A dry run is a question, not a write.
			method = dryRun
		}
		c.mu.Lock()
		c.counts[method+" "+req.URL.Path]++
		c.mu.Unlock()
		return next.RoundTrip(req)
	})
}

func (c *requestCounter) count(method, path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[method+" "+path]
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestAssociateReconciler runs the manager against envtest and checks the reconcilers'
// contract, one namespace per case.
func TestAssociateReconciler(t *testing.T) {
	cfg, _ := startControlPlane(t)

	// The manager's requests are counted, to see which writes a reconcile makes.
	requests := &requestCounter{counts: map[string]int{}}
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(requests.wrap)
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The HTTP actions' test endpoints listen on loopback, which actions may not call unless allowed.
	loopback, err := actionhttp.ParseNetworks("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	if err := Setup(mgr, Options{DriftCheckInterval: testDriftCheckInterval, ProvisionSummaryInterval: testSummaryInterval,
		AllowActionNetworks: loopback}); err != nil {
		t.Fatal(err)
	}
	ctx := runManager(t, mgr)
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{c: c, ctx: ctx, requests: requests}

	t.Run("an Employee is provisioned and listed in status", s.employeeProvisioned)
	t.Run("a Resource is not matched", s.resourceNotMatched)
	t.Run("retiring removes what was provisioned", s.retireRemoves)
	t.Run("deleting removes what was provisioned", s.deleteRemoves)
	t.Run("Retain keeps the objects without the ownerReference", s.retainKeeps)
	t.Run("Retain keeps the objects when the policy itself is deleted", s.retainSurvivesPolicyDeletion)
	t.Run("a shared person's objects stay until the last Associate goes", s.sharedPerson)
	t.Run("a policy edit is applied to existing Associates", s.policyEdit)
	t.Run("HTTP actions are called, signed, not repeated, and retried", s.httpActions)
	t.Run("a bad template is reported and not fatal", s.badTemplate)
	t.Run("a provisioned object edited or deleted by hand is repaired, and the check writes nothing otherwise", s.driftRepaired)
	t.Run("a finalizer patch from a stale copy keeps another controller's finalizer", s.staleFinalizerPatch)

	// Tenancy: what a namespace's policy may not do (tenancy_envtest_test.go).
	t.Run("a ProvisioningPolicy's RoleBinding into kube-system is refused", s.roleBindingIntoKubeSystemRefused)
	t.Run("a namespace taken from the Associate's data is checked at render time", s.namespaceFromAssociateDataRefused)
	t.Run("a ProvisioningPolicy's cluster-scoped object is refused", s.clusterScopedRefused)
	t.Run("a RoleBinding to a role outside --allowed-role-refs is refused", s.roleRefOutsideTheAllowListRefused)
	t.Run("a kind outside --namespaced-policy-kinds is refused", s.kindOutsideTheAllowListRefused)
	t.Run("a pre-existing object is neither adopted nor deleted", s.preExistingObjectNotAdopted)
	t.Run("status entries the operator did not write delete nothing", s.forgedStatusDeletesNothing)
	t.Run("a tenant's policy leaves a cluster policy's object alone", s.anotherPoliciesObjectUntouched)
	t.Run("objects applied before the markers are marked on upgrade, not conflicts", s.upgradeMarksObjectsAppliedBeforeTheMarkers)
	t.Run("skip-deprovision keeps only what the namespace's policies made", s.skipDeprovisionKeepsOnlyTheNamespacesObjects)
	t.Run("a ClusterProvisioningPolicy provisions across namespaces and cluster-wide", s.clusterPolicyProvisionsAcrossNamespaces)
	t.Run("a cluster policy's object shared across namespaces stays until the last Associate", s.clusterPolicySharesAcrossNamespaces)
	t.Run("kstatus reads every kind as InProgress, Current or Failed", s.kstatusForEveryKind)
	t.Run("first provisions are summed up per policy; changes and deprovisions keep their Events", s.firstProvisionsAreSummedUp)
}

func (s *suite) namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := s.c.Create(s.ctx, ns); err != nil {
		t.Fatal(err)
	}
	return name
}

func (s *suite) policy(t *testing.T, namespace, name string, spec superofficev1alpha1.ProvisioningPolicySpec) *superofficev1alpha1.ProvisioningPolicy {
	t.Helper()
	p := &superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: spec}
	if err := s.c.Create(s.ctx, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// associate creates an Associate by hand, the way kubectl apply would: no labels.
func (s *suite) associate(t *testing.T, namespace string, id, person int64, kind superofficev1alpha1.AssociateType) *superofficev1alpha1.Associate {
	t.Helper()
	a := &superofficev1alpha1.Associate{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("cust1234-%d", id)},
		Spec:       superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: id, PersonID: person, Type: kind},
	}
	if err := s.c.Create(s.ctx, a); err != nil {
		t.Fatal(err)
	}
	return a
}

func (s *suite) get(g gomega.Gomega, obj client.Object, namespace, name string) {
	g.Expect(s.c.Get(s.ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)).To(gomega.Succeed())
}

func (s *suite) gone(obj client.Object, namespace, name string) func(gomega.Gomega) {
	return func(g gomega.Gomega) {
		err := s.c.Get(s.ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
		g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "expected %s %s/%s to be gone, got %v", fmt.Sprintf("%T", obj), namespace, name, err)
	}
}

// ready waits for the Associate's Ready condition with the reason, for its current generation.
func (s *suite) ready(t *testing.T, a *superofficev1alpha1.Associate, status metav1.ConditionStatus, reason string) *superofficev1alpha1.Associate {
	t.Helper()
	got := &superofficev1alpha1.Associate{}
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		s.get(g, got, a.Namespace, a.Name)
		cond := meta.FindStatusCondition(got.Status.Conditions, superofficev1alpha1.ConditionReady)
		g.Expect(cond).NotTo(gomega.BeNil(), "expected a Ready condition")
		g.Expect(cond.Status).To(gomega.Equal(status), "Ready: %s %s", cond.Reason, cond.Message)
		g.Expect(cond.Reason).To(gomega.Equal(reason), "Ready: %s", cond.Message)
		g.Expect(cond.ObservedGeneration).To(gomega.Equal(got.Generation))
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
	return got
}

func (s *suite) update(t *testing.T, obj client.Object, mutate func()) {
	t.Helper()
	gomega.NewWithT(t).Eventually(func() error {
		if err := s.c.Get(s.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate()
		return s.c.Update(s.ctx, obj)
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
}

func hasOwner(obj client.Object, a *superofficev1alpha1.Associate) bool {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.UID == a.UID {
			return true
		}
	}
	return false
}

func (s *suite) employeeProvisioned(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "employee")
	s.policy(t, ns, "person-accounts", samplePolicySpec())
	a := s.associate(t, ns, 141424, 21, superofficev1alpha1.AssociateTypeEmployee)

	got := s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	g.Expect(got.Status.Provisioned).To(gomega.ConsistOf(
		superofficev1alpha1.ProvisionedObject{Policy: "person-accounts", APIVersion: "v1", Kind: "ServiceAccount", Namespace: ns, Name: "person-21"},
		superofficev1alpha1.ProvisionedObject{Policy: "person-accounts", APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding", Namespace: ns, Name: "person-21-view"},
	))
	g.Expect(got.Finalizers).To(gomega.ContainElement(superofficev1alpha1.FinalizerDeprovision))
	g.Expect(got.Labels).To(gomega.HaveKeyWithValue(superofficev1alpha1.LabelTenant, "cust1234"))
	g.Expect(got.Labels).To(gomega.HaveKeyWithValue(superofficev1alpha1.LabelAssociateID, "141424"))
	g.Expect(got.Labels).To(gomega.HaveKeyWithValue(superofficev1alpha1.LabelPersonID, "21"))
	g.Expect(got.Status.ObservedGeneration).To(gomega.Equal(got.Generation))

	sa := &corev1.ServiceAccount{}
	s.get(g, sa, ns, "person-21")
	g.Expect(hasOwner(sa, got)).To(gomega.BeTrue(), "expected the ServiceAccount to be owned by the Associate, got %v", sa.OwnerReferences)
	g.Expect(sa.OwnerReferences[0].Controller).To(gomega.BeNil(), "a shared object has no controller reference")
	rb := &rbacv1.RoleBinding{}
	s.get(g, rb, ns, "person-21-view")
	g.Expect(rb.RoleRef.Name).To(gomega.Equal("view"))

	policy := &superofficev1alpha1.ProvisioningPolicy{}
	g.Eventually(func(g gomega.Gomega) {
		s.get(g, policy, ns, "person-accounts")
		g.Expect(policy.Status.MatchedAssociates).To(gomega.BeEquivalentTo(1))
		g.Expect(meta.IsStatusConditionTrue(policy.Status.Conditions, superofficev1alpha1.ConditionReady)).To(gomega.BeTrue())
		g.Expect(policy.Status.ObservedGeneration).To(gomega.Equal(policy.Generation))
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
}

func (s *suite) resourceNotMatched(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "resource")
	s.policy(t, ns, "person-accounts", samplePolicySpec())
	a := s.associate(t, ns, 500, 31, superofficev1alpha1.AssociateTypeResource)

	got := s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched)
	g.Expect(got.Status.Provisioned).To(gomega.BeEmpty())
	g.Expect(s.c.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "person-31"}, &corev1.ServiceAccount{})).
		To(gomega.Satisfy(apierrors.IsNotFound), "a Resource gets no ServiceAccount")
}

func (s *suite) retireRemoves(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "retire")
	s.policy(t, ns, "person-accounts", samplePolicySpec())
	a := s.associate(t, ns, 600, 41, superofficev1alpha1.AssociateTypeEmployee)
	s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)

	s.update(t, a, func() { a.Spec.Retired = true })
	got := s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched)
	g.Expect(got.Status.Provisioned).To(gomega.BeEmpty())
	g.Eventually(s.gone(&corev1.ServiceAccount{}, ns, "person-41")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	g.Eventually(s.gone(&rbacv1.RoleBinding{}, ns, "person-41-view")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
}

func (s *suite) deleteRemoves(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "delete")
	s.policy(t, ns, "person-accounts", samplePolicySpec())
	a := s.associate(t, ns, 700, 51, superofficev1alpha1.AssociateTypeEmployee)
	s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)

	g.Expect(s.c.Delete(s.ctx, a)).To(gomega.Succeed())
	g.Eventually(s.gone(&superofficev1alpha1.Associate{}, ns, a.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	g.Expect(s.c.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "person-51"}, &corev1.ServiceAccount{})).
		To(gomega.Satisfy(apierrors.IsNotFound), "the finalizer deletes the ServiceAccount before the Associate goes")
	g.Expect(s.c.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "person-51-view"}, &rbacv1.RoleBinding{})).
		To(gomega.Satisfy(apierrors.IsNotFound))
}

func (s *suite) retainKeeps(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "retain")
	spec := samplePolicySpec()
	spec.DeletionPolicy = superofficev1alpha1.DeletionPolicyRetain
	s.policy(t, ns, "person-accounts", spec)
	a := s.associate(t, ns, 800, 61, superofficev1alpha1.AssociateTypeEmployee)
	a = s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)

	g.Expect(s.c.Delete(s.ctx, a)).To(gomega.Succeed())
	g.Eventually(s.gone(&superofficev1alpha1.Associate{}, ns, a.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	sa := &corev1.ServiceAccount{}
	s.get(g, sa, ns, "person-61")
	g.Expect(hasOwner(sa, a)).To(gomega.BeFalse(), "Retain removes the ownerReference, got %v", sa.OwnerReferences)
	rb := &rbacv1.RoleBinding{}
	s.get(g, rb, ns, "person-61-view")
	g.Expect(rb.OwnerReferences).To(gomega.BeEmpty())
}

func (s *suite) retainSurvivesPolicyDeletion(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "retain-policy-deleted")
	spec := samplePolicySpec()
	spec.DeletionPolicy = superofficev1alpha1.DeletionPolicyRetain
	policy := s.policy(t, ns, "person-accounts", spec)
	a := s.ready(t, s.associate(t, ns, 850, 63, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)

	g.Expect(s.c.Delete(s.ctx, policy)).To(gomega.Succeed())
	got := s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched)
	g.Expect(got.Status.Provisioned).To(gomega.BeEmpty(), "the deleted policy's objects are released")
	sa := &corev1.ServiceAccount{}
	s.get(g, sa, ns, "person-63")
	g.Expect(hasOwner(sa, a)).To(gomega.BeFalse(), "Retain removes the ownerReference, got %v", sa.OwnerReferences)
	s.get(g, &rbacv1.RoleBinding{}, ns, "person-63-view")
}

func (s *suite) sharedPerson(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "shared")
	s.policy(t, ns, "person-accounts", samplePolicySpec())
	first := s.ready(t, s.associate(t, ns, 901, 71, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	second := s.ready(t, s.associate(t, ns, 902, 71, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)

	sa := &corev1.ServiceAccount{}
	s.get(g, sa, ns, "person-71")
	g.Expect(hasOwner(sa, first) && hasOwner(sa, second)).To(gomega.BeTrue(), "expected both Associates to own the shared ServiceAccount, got %v", sa.OwnerReferences)

	s.update(t, first, func() { first.Spec.Retired = true })
	s.ready(t, first, metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched)
	s.get(g, sa, ns, "person-71")
	g.Expect(hasOwner(sa, first)).To(gomega.BeFalse(), "the retired Associate's ownerReference goes")
	g.Expect(hasOwner(sa, second)).To(gomega.BeTrue(), "the remaining Associate keeps the ServiceAccount")

	g.Expect(s.c.Delete(s.ctx, second)).To(gomega.Succeed())
	g.Eventually(s.gone(&corev1.ServiceAccount{}, ns, "person-71")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	g.Eventually(s.gone(&rbacv1.RoleBinding{}, ns, "person-71-view")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
}

func (s *suite) policyEdit(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "edit")
	policy := s.policy(t, ns, "person-accounts", samplePolicySpec())
	a := s.associate(t, ns, 1001, 81, superofficev1alpha1.AssociateTypeEmployee)
	s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)

	s.update(t, policy, func() {
		policy.Spec.Resources[0].Template = strings.Replace(policy.Spec.Resources[0].Template,
			"  labels:\n", "  labels:\n    edited: \"yes\"\n", 1)
		policy.Spec.Resources = policy.Spec.Resources[:1] // the RoleBinding is no longer provisioned
	})
	g.Eventually(func(g gomega.Gomega) {
		sa := &corev1.ServiceAccount{}
		s.get(g, sa, ns, "person-81")
		g.Expect(sa.Labels).To(gomega.HaveKeyWithValue("edited", "yes"))
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
	g.Eventually(s.gone(&rbacv1.RoleBinding{}, ns, "person-81-view")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	// Ready stays True (Provisioned) throughout, so wait for the status patch that follows
	// the RoleBinding's deletion rather than for the condition.
	g.Eventually(func(g gomega.Gomega) {
		got := &superofficev1alpha1.Associate{}
		s.get(g, got, ns, a.Name)
		g.Expect(got.Status.Provisioned).To(gomega.HaveLen(1))
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, superofficev1alpha1.ConditionReady)).To(gomega.BeTrue())
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
}

// recordedCall is one request the test's HTTP endpoint received.
type recordedCall struct {
	method, path, body, signature string
}

type httpEndpoint struct {
	mu       sync.Mutex
	calls    []recordedCall
	failures int // how many of the next calls answer 500
}

func (e *httpEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, recordedCall{r.Method, r.URL.Path, string(body), r.Header.Get("X-Signature")})
	if e.failures > 0 {
		e.failures--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (e *httpEndpoint) snapshot() []recordedCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recordedCall(nil), e.calls...)
}

func (s *suite) httpActions(t *testing.T) {
	g := gomega.NewWithT(t)
	endpoint := &httpEndpoint{failures: 1}
	server := httptest.NewServer(endpoint)
	t.Cleanup(server.Close)

	ns := s.namespace(t, "http")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook-secret"},
		Data: map[string][]byte{"key": []byte("s3cret")}}
	g.Expect(s.c.Create(s.ctx, secret)).To(gomega.Succeed())
	s.policy(t, ns, "hook", superofficev1alpha1.ProvisioningPolicySpec{HTTP: []superofficev1alpha1.HTTPAction{{
		HTTPCall: superofficev1alpha1.HTTPCall{
			Name:         "accounts",
			URL:          server.URL + "/people/{{ .PersonID }}",
			BodyTemplate: `{"action":"{{ .Action }}","associate":{{ .AssociateID }},"retired":{{ .Associate.spec.retired }}}`,
		},
		SigningSecretRef: &superofficev1alpha1.SecretKeyReference{Name: "hook-secret", Key: "key"},
	}}})
	a := s.associate(t, ns, 1101, 91, superofficev1alpha1.AssociateTypeEmployee)

	// The first call answers 500; the backoff retries it.
	got := s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	calls := endpoint.snapshot()
	g.Expect(calls).To(gomega.HaveLen(2), "expected one failed and one retried provision call")
	want := `{"action":"provision","associate":1101,"retired":false}`
	g.Expect(calls[1]).To(gomega.Equal(recordedCall{"POST", "/people/91", want, signature.Sign([]byte("s3cret"), []byte(want))}))
	g.Expect(got.Status.Actions).To(gomega.HaveLen(1))
	g.Expect(got.Status.Actions[0].LastAction).To(gomega.Equal(ActionProvision))
	g.Expect(got.Status.Actions[0].LastError).To(gomega.BeEmpty())
	g.Expect(got.Status.Actions[0].LastSucceeded).NotTo(gomega.BeNil())

	// A label change reconciles again; the rendered request is unchanged, so no call.
	s.update(t, a, func() { a.Labels["team"] = "sales" })
	g.Eventually(func(g gomega.Gomega) {
		s.get(g, got, ns, a.Name)
		g.Expect(got.Labels).To(gomega.HaveKey("team"))
	}).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	// Then a spec change that alters the body makes an update call: when it arrives, the
	// label change has certainly been reconciled (one worker key at a time), without a call.
	s.update(t, a, func() { a.Spec.GroupIdx = 3 })
	s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	g.Expect(endpoint.snapshot()).To(gomega.HaveLen(2), "an unchanged request is not repeated")

	s.update(t, a, func() { a.Spec.Retired = true })
	s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched)
	calls = endpoint.snapshot()
	g.Expect(calls).To(gomega.HaveLen(3))
	g.Expect(calls[2].body).To(gomega.Equal(`{"action":"deprovision","associate":1101,"retired":true}`))

	// Matching again provisions again; deleting calls deprovision and clears the status.
	s.update(t, a, func() { a.Spec.Retired = false })
	s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	g.Expect(s.c.Delete(s.ctx, a)).To(gomega.Succeed())
	g.Eventually(s.gone(&superofficev1alpha1.Associate{}, ns, a.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	calls = endpoint.snapshot()
	g.Expect(calls).To(gomega.HaveLen(5))
	g.Expect(calls[3].body).To(gomega.ContainSubstring(`"action":"provision"`))
	g.Expect(calls[4].body).To(gomega.ContainSubstring(`"action":"deprovision"`))
}

func (s *suite) badTemplate(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "bad")
	s.policy(t, ns, "broken", superofficev1alpha1.ProvisioningPolicySpec{PolicyTemplate: superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{
		{Template: "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: person-{{ .Nope }}\n"}}}})
	s.policy(t, ns, "person-accounts", samplePolicySpec())
	a := s.associate(t, ns, 1201, 95, superofficev1alpha1.AssociateTypeEmployee)

	got := s.ready(t, a, metav1.ConditionFalse, superofficev1alpha1.ReasonTemplateError)
	cond := meta.FindStatusCondition(got.Status.Conditions, superofficev1alpha1.ConditionReady)
	g.Expect(cond.Message).To(gomega.And(gomega.ContainSubstring("broken"), gomega.ContainSubstring("Nope")))
	// The good policy is still applied: the manager goes on.
	s.get(g, &corev1.ServiceAccount{}, ns, "person-95")

	policy := &superofficev1alpha1.ProvisioningPolicy{}
	g.Eventually(func(g gomega.Gomega) {
		s.get(g, policy, ns, "broken")
		cond := meta.FindStatusCondition(policy.Status.Conditions, superofficev1alpha1.ConditionReady)
		g.Expect(cond).NotTo(gomega.BeNil())
		g.Expect(cond.Status).To(gomega.Equal(metav1.ConditionFalse))
		g.Expect(cond.Message).To(gomega.ContainSubstring("Nope"))
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
	g.Eventually(func(g gomega.Gomega) {
		var events eventsv1.EventList
		g.Expect(s.c.List(s.ctx, &events, client.InNamespace(ns))).To(gomega.Succeed())
		var warnings []string
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == superofficev1alpha1.ReasonTemplateError {
				warnings = append(warnings, e.Regarding.Kind)
			}
		}
		g.Expect(warnings).To(gomega.ContainElements("Associate", "ProvisioningPolicy"))
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())

	// Fixing the template makes the Associate Ready.
	s.update(t, policy, func() {
		policy.Spec.Resources[0].Template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: person-{{ .PersonID }}\n"
	})
	s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
}

func (s *suite) staleFinalizerPatch(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "stale-finalizer")
	a := s.ready(t, s.associate(t, ns, 1301, 97, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched)

	// A cache that lags behind: our finalizer not seen yet, another controller's not either.
	stale := a.DeepCopy()
	stale.Finalizers = nil
	const other = "example.com/other"
	s.update(t, a, func() { a.Finalizers = append(a.Finalizers, other) })
	t.Cleanup(func() {
		s.update(t, a, func() { a.Finalizers = slices.DeleteFunc(a.Finalizers, func(f string) bool { return f == other }) })
	})

	r := &AssociateReconciler{Client: s.c}
	err := r.ensureMetadata(s.ctx, stale)
	g.Expect(apierrors.IsConflict(err)).To(gomega.BeTrue(), "expected a Conflict for a patch from a stale copy, got %v", err)
	got := &superofficev1alpha1.Associate{}
	s.get(g, got, ns, a.Name)
	g.Expect(got.Finalizers).To(gomega.ConsistOf(superofficev1alpha1.FinalizerDeprovision, other), "a finalizer patch must not drop finalizers it did not see")
}

func (s *suite) driftRepaired(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "drift")
	s.policy(t, ns, "person-accounts", samplePolicySpec())
	a := s.ready(t, s.associate(t, ns, 1401, 99, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	saPath := "/api/v1/namespaces/" + ns + "/serviceaccounts/person-99"
	associatePath := "/apis/superoffice.assocsync.io/v1alpha1/namespaces/" + ns + "/associates/" + a.Name

	// Two periodic checks read the object back and ask the API server with a dry run; as
	// nothing drifted, neither writes it, nor the Associate or its status.
	applies, associateWrites, statusWrites := s.requests.count(http.MethodPatch, saPath),
		s.requests.count(http.MethodPatch, associatePath), s.requests.count(http.MethodPatch, associatePath+"/status")
	checks := s.requests.count(dryRun, saPath)
	g.Eventually(func() int { return s.requests.count(dryRun, saPath) }).
		WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.BeNumerically(">=", checks+2),
		"expected the drift check to ask about the ServiceAccount every %s", testDriftCheckInterval)
	g.Expect(s.requests.count(http.MethodGet, saPath)).To(gomega.BeNumerically(">=", checks+2), "each drift check reads the live object first")
	g.Expect(s.requests.count(http.MethodPatch, saPath)).To(gomega.Equal(applies), "a drift check without drift must not apply")
	g.Expect(s.requests.count(http.MethodPatch, associatePath)).To(gomega.Equal(associateWrites), "a drift check without drift must not patch the Associate")
	g.Expect(s.requests.count(http.MethodPatch, associatePath+"/status")).To(gomega.Equal(statusWrites), "a drift check without drift must not patch the status")

	// A subject added to the RoleBinding by hand keeps every desired field in place, so a
	// "desired is contained in live" comparison saw no drift and let it keep the grant; an
	// apply replaces the atomic subjects list, so the dry run shows it and the check repairs it.
	binding := &rbacv1.RoleBinding{}
	s.get(g, binding, ns, "person-99-view")
	s.update(t, binding, func() {
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "intruder", Namespace: ns})
		binding.Labels["added-by"] = "someone"
	})
	g.Eventually(func(g gomega.Gomega) {
		repaired := &rbacv1.RoleBinding{}
		s.get(g, repaired, ns, "person-99-view")
		g.Expect(repaired.Subjects).To(gomega.HaveLen(1), "expected the drift check to remove the subject added by hand")
		g.Expect(repaired.Labels).To(gomega.HaveKeyWithValue("added-by", "someone"), "a label the policy does not set is not the policy's to remove")
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())

	sa := &corev1.ServiceAccount{}
	s.get(g, sa, ns, "person-99")
	g.Expect(s.c.Delete(s.ctx, sa)).To(gomega.Succeed())
	g.Eventually(func(g gomega.Gomega) {
		repaired := &corev1.ServiceAccount{}
		s.get(g, repaired, ns, "person-99")
		g.Expect(repaired.UID).NotTo(gomega.Equal(sa.UID), "expected a new ServiceAccount")
		g.Expect(hasOwner(repaired, a)).To(gomega.BeTrue(), "expected the repaired ServiceAccount to be owned by the Associate")
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
}
