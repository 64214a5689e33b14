package controllers

// Red-team cases against the tenancy change: each one is an attack by a tenant that holds
// edit (system:aggregate-to-edit + system:aggregate-to-view) and the operator's
// namespaced kinds in its own namespace, and each asserts what the contract promises.
// They fail while the attack works.

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// redteam is a control plane, the manager, and a tenant user.
type redteam struct {
	*suite
	env    *testenv.Environment
	cfg    *rest.Config
	tenant client.Client
	// tenantName is the tenant's user name; grantTenant binds it in each namespace.
	tenantName string
}

func TestTenancyRedTeam(t *testing.T) {
	cfg, env := startControlPlane(t)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testenv.Scheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Setup(mgr, Options{DriftCheckInterval: testDriftCheckInterval}); err != nil {
		t.Fatal(err)
	}
	ctx := runManager(t, mgr)
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	rt := &redteam{suite: &suite{c: c, ctx: ctx, requests: &requestCounter{counts: map[string]int{}}}, env: env, cfg: cfg,
		tenantName: "redteam-tenant"}
	rt.tenant = env.UserClient(t, envtest.User{Name: rt.tenantName, Groups: []string{"system:authenticated"}})

	t.Run("a tenant who strips the finalizer must not keep a cluster policy's objects alive", rt.finalizerStripOrphansClusterPolicyObjects)
	t.Run("a legacy object of another namespace's policy is neither taken over nor deleted by a tenant's policy", rt.legacyObjectOfAnotherNamespaceTakenOver)
	t.Run("the sample ClusterProvisioningPolicy does not hand a tenant with edit cluster-wide read", rt.sampleClusterPolicyHandsTenantClusterWideView)
	t.Run("a tenant's HTTP action cannot reach the manager's loopback", rt.httpActionToLoopbackRefused)
}

// grantTenant binds the tenant, in namespace, to what a team commonly holds there: edit
// (its aggregated parts: envtest runs no aggregation controller) and the operator's
// namespaced kinds, not their status.
func (rt *redteam) grantTenant(t *testing.T, namespace string) {
	t.Helper()
	kinds := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "superoffice-editor"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{superofficev1alpha1.GroupVersion.Group},
		Resources: []string{"associates", "webhookreceivers", "provisioningpolicies"},
		Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
	}}}
	objects := []client.Object{kinds}
	for _, role := range []struct{ kind, name string }{
		{"ClusterRole", "system:aggregate-to-edit"}, {"ClusterRole", "system:aggregate-to-view"}, {"Role", kinds.Name},
	} {
		objects = append(objects, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "tenant-" + strings.TrimPrefix(role.name, "system:")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: role.kind, Name: role.name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: rt.tenantName}}})
	}
	for _, obj := range objects {
		if err := rt.c.Create(rt.ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitAllowed(t, rt.c, rt.tenantName, []string{"system:authenticated"}, namespace,
		superofficev1alpha1.GroupVersion.Group, kinds.Rules[0].Resources...)
}

// settled waits until the Associate's Ready condition for its generation has one of the
// reasons, and returns the Associate.
func (rt *redteam) settled(t *testing.T, a *superofficev1alpha1.Associate, reasons ...string) *superofficev1alpha1.Associate {
	t.Helper()
	got := &superofficev1alpha1.Associate{}
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		rt.get(g, got, a.Namespace, a.Name)
		cond := meta.FindStatusCondition(got.Status.Conditions, superofficev1alpha1.ConditionReady)
		g.Expect(cond).NotTo(gomega.BeNil())
		g.Expect(cond.ObservedGeneration).To(gomega.Equal(got.Generation))
		g.Expect(reasons).To(gomega.ContainElement(cond.Reason), "Ready: %s %s", cond.Reason, cond.Message)
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
	return got
}

// finalizerStripOrphansClusterPolicyObjects: "What ClusterProvisioningPolicies made is
// always deprovisioned" (SPEC, Limits and hardening). skip-deprovision honours that, but a
// tenant with update on Associates removes the operator's finalizer itself (a finalizer-only
// update changes neither generation nor labels, so no reconcile puts it back) and deletes
// the Associate: the cluster policy's ClusterRoleBinding and its object in another
// namespace are never deprovisioned, and nothing ever notices they are orphans.
func (rt *redteam) finalizerStripOrphansClusterPolicyObjects(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := rt.namespace(t, "rt-finalizer")
	central := rt.namespace(t, "rt-finalizer-central")
	rt.grantTenant(t, ns)
	admin := rt.clusterPolicy(t, "rt-finalizer-grants", superofficev1alpha1.ClusterProvisioningPolicySpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
		PolicyTemplate: superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{
			{Template: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .Namespace }}-person-{{ .PersonID }}-view
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: "{{ .Namespace }}-person-{{ .PersonID }}", namespace: ` + central + `}
`},
			{Template: `apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Namespace }}-person-{{ .PersonID }}
  namespace: ` + central + `
`},
		}}})
	t.Cleanup(func() { _ = rt.c.Delete(rt.ctx, admin) })

	// The Associate as a receiver writes it (made here by the admin, not the tenant).
	a := rt.ready(t, rt.associate(t, ns, 7101, 71, superofficev1alpha1.AssociateTypeEmployee),
		metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	crb := types.NamespacedName{Name: ns + "-person-71-view"}
	sa := types.NamespacedName{Namespace: central, Name: ns + "-person-71"}
	rt.get(g, &rbacv1.ClusterRoleBinding{}, "", crb.Name)
	rt.get(g, &corev1.ServiceAccount{}, sa.Namespace, sa.Name)

	// The tenant: drop the finalizer, then delete.
	mine := &superofficev1alpha1.Associate{}
	g.Expect(rt.tenant.Get(rt.ctx, client.ObjectKeyFromObject(a), mine)).To(gomega.Succeed())
	before := mine.DeepCopy()
	mine.Finalizers = nil
	g.Expect(rt.tenant.Patch(rt.ctx, mine, client.MergeFrom(before))).To(gomega.Succeed(), "the tenant may remove the finalizer")
	g.Expect(rt.tenant.Delete(rt.ctx, mine)).To(gomega.Succeed())
	g.Eventually(rt.gone(&superofficev1alpha1.Associate{}, ns, a.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())

	g.Eventually(rt.gone(&rbacv1.ClusterRoleBinding{}, "", crb.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed(),
		"the cluster policy's ClusterRoleBinding outlived its Associate: the tenant kept a grant alive by removing the finalizer")
	g.Eventually(rt.gone(&corev1.ServiceAccount{}, sa.Namespace, sa.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed(),
		"the cluster policy's ServiceAccount in another namespace outlived its Associate")
}

// legacyObjectOfAnotherNamespaceTakenOver: the upgrade rule recognises "objects applied
// before the markers" by any associate-operator/* Apply manager. Before the change any
// namespace's policy could write anywhere, so a platform team's policy (namespace
// rt-legacy-platform) applied RoleBindings into the team's namespace. After the upgrade
// the team's own ProvisioningPolicy claims such a RoleBinding (it renders the same name),
// rewrites its subjects, and deletes it when the policy goes: a RoleBinding the tenant
// could neither change nor delete with edit, made by another namespace's policy.
func (rt *redteam) legacyObjectOfAnotherNamespaceTakenOver(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := rt.namespace(t, "rt-legacy")
	platform := rt.namespace(t, "rt-legacy-platform")
	rt.grantTenant(t, ns)

	// What the previous release left: the platform policy's RoleBinding in the team's
	// namespace, applied under the manager of the platform's Associate (no ownerReference:
	// the old code set one only in the Associate's own namespace), no markers.
	platformAssoc := rt.associate(t, platform, 7201, 72, superofficev1alpha1.AssociateTypeResource)
	legacy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": map[string]any{"name": "audit-72", "namespace": ns},
		"roleRef":  map[string]any{"apiGroup": rbacv1.GroupName, "kind": "ClusterRole", "name": "view"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "auditor", "namespace": platform}},
	}}
	g.Expect(rt.c.Apply(rt.ctx, client.ApplyConfigurationFromUnstructured(legacy),
		client.FieldOwner(superofficev1alpha1.FieldManager+"/"+platformAssoc.Name), client.ForceOwnership)).To(gomega.Succeed())
	original := &rbacv1.RoleBinding{}
	rt.get(g, original, ns, "audit-72")
	g.Expect(rt.tenant.Delete(rt.ctx, original.DeepCopy())).To(gomega.Satisfy(apierrors.IsForbidden),
		"with edit the tenant cannot delete the RoleBinding itself")

	// The tenant's policy renders the same name, bound to its own ServiceAccount.
	policy := &superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "claim"},
		Spec: templatePolicy(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: audit-{{ .PersonID }}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: tenant-bot, namespace: ` + ns + `}
`)}
	g.Expect(rt.tenant.Create(rt.ctx, policy)).To(gomega.Succeed())
	mine := &superofficev1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cust1234-7202"},
		Spec: superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: 7202, PersonID: 72, Type: superofficev1alpha1.AssociateTypeEmployee}}
	g.Expect(rt.tenant.Create(rt.ctx, mine)).To(gomega.Succeed())
	got := rt.settled(t, mine, superofficev1alpha1.ReasonProvisioned, superofficev1alpha1.ReasonObjectConflict)
	cond := meta.FindStatusCondition(got.Status.Conditions, superofficev1alpha1.ConditionReady)
	if cond.Reason != superofficev1alpha1.ReasonObjectConflict {
		t.Errorf("the tenant's policy claimed another namespace's legacy RoleBinding: Ready %s %q, want ObjectConflict", cond.Reason, cond.Message)
	}
	after := &rbacv1.RoleBinding{}
	rt.get(g, after, ns, "audit-72")
	if after.Subjects[0].Namespace != platform {
		t.Errorf("the legacy RoleBinding's subjects were rewritten by the tenant's policy: %+v", after.Subjects)
	}

	// The policy goes: what it "made" is deprovisioned.
	g.Expect(rt.tenant.Delete(rt.ctx, policy)).To(gomega.Succeed())
	rt.settled(t, mine, superofficev1alpha1.ReasonNoPolicyMatched)
	err := rt.c.Get(rt.ctx, types.NamespacedName{Namespace: ns, Name: "audit-72"}, after)
	if err != nil || after.UID != original.UID {
		t.Errorf("the platform's legacy RoleBinding was deleted through the tenant's policy: %v", err)
	}
}

// sampleClusterPolicyHandsTenantClusterWideView: config/samples' ClusterProvisioningPolicy
// binds ClusterRole view cluster-wide to a ServiceAccount in the Associate's namespace.
// edit in that namespace lets its holder act as any ServiceAccount there (impersonate,
// serviceaccounts/token): every team with edit in a selected namespace reads every
// namespace of the cluster, hand-made Associates or not. The README and the sample warn
// only about namespaces whose tenants make Associates by hand.
func (rt *redteam) sampleClusterPolicyHandsTenantClusterWideView(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := rt.namespace(t, "rt-sample")
	other := rt.namespace(t, "rt-sample-other-team")
	rt.grantTenant(t, ns)
	namespace := &corev1.Namespace{}
	rt.get(g, namespace, "", ns)
	rt.update(t, namespace, func() { namespace.Labels["crm.example.com/tenant"] = "cust1234" })

	// The sample's admin-only namespace for the ServiceAccounts it grants.
	g.Expect(client.IgnoreAlreadyExists(rt.c.Create(rt.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "crm-accounts"}}))).To(gomega.Succeed())
	objects, err := testenv.DecodeFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "superoffice_v1alpha1_clusterprovisioningpolicy.yaml"))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(objects).To(gomega.HaveLen(1))
	sample := objects[0]
	g.Expect(rt.c.Create(rt.ctx, sample)).To(gomega.Succeed())
	t.Cleanup(func() { _ = rt.c.Delete(rt.ctx, sample) })

	// Associates as the team's receiver writes them, none by hand.
	rt.ready(t, rt.associate(t, ns, 7401, 74, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	secretsOfOthers := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "other-teams-config"}, Data: map[string]string{"k": "v"}}
	g.Expect(rt.c.Create(rt.ctx, secretsOfOthers)).To(gomega.Succeed())

	// envtest runs no aggregation controller: give ClusterRole view the rules a real
	// cluster aggregates into it.
	parts := &rbacv1.ClusterRole{}
	rt.get(g, parts, "", "system:aggregate-to-view")
	view := &rbacv1.ClusterRole{}
	rt.get(g, view, "", "view")
	rt.update(t, view, func() { view.Rules = parts.Rules })

	// The tenant acts as the person's ServiceAccount, which edit allows.
	cfg := rest.CopyConfig(rt.tenantConfig(t))
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":person-74"}
	asSA, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	var list corev1.ConfigMapList
	err = asSA.List(rt.ctx, &list, client.InNamespace(other))
	if err == nil {
		t.Errorf("a tenant with edit in %s read %d ConfigMaps of namespace %s through the sample ClusterProvisioningPolicy's ClusterRoleBinding (impersonating %s/person-74)",
			ns, len(list.Items), other, ns)
	} else if !apierrors.IsForbidden(err) {
		t.Fatalf("listing as the ServiceAccount: %v", err)
	}
}

// tenantConfig is a rest.Config for the tenant (a client certificate).
func (rt *redteam) tenantConfig(t *testing.T) *rest.Config {
	t.Helper()
	user, err := rt.env.Env.AddUser(envtest.User{Name: rt.tenantName, Groups: []string{"system:authenticated"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return user.Config()
}

// httpActionToLoopbackRefused: a policy is the tenant's code, and an HTTP action the manager
// makes for it must not reach what only the manager can reach (its own ports, sidecars,
// the metadata service). Without --allow-action-networks, loopback is refused after DNS.
func (rt *redteam) httpActionToLoopbackRefused(t *testing.T) {
	g := gomega.NewWithT(t)
	var calls atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { calls.Add(1) }))
	t.Cleanup(internal.Close)
	ns := rt.namespace(t, "rt-ssrf")
	rt.grantTenant(t, ns)
	policy := &superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
		Spec: superofficev1alpha1.ProvisioningPolicySpec{HTTP: []superofficev1alpha1.HTTPAction{{
			HTTPCall: superofficev1alpha1.HTTPCall{Name: "probe", URL: strings.Replace(internal.URL, "127.0.0.1", "localhost", 1) + "/{{ .PersonID }}"}}}}}
	g.Expect(rt.tenant.Create(rt.ctx, policy)).To(gomega.Succeed())
	a := &superofficev1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cust1234-7501"},
		Spec: superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: 7501, PersonID: 75, Type: superofficev1alpha1.AssociateTypeEmployee}}
	g.Expect(rt.tenant.Create(rt.ctx, a)).To(gomega.Succeed())
	got := rt.settled(t, a, superofficev1alpha1.ReasonHTTPActionFailed)
	g.Expect(got.Status.Actions).To(gomega.HaveLen(1))
	g.Expect(got.Status.Actions[0].LastError).To(gomega.ContainSubstring("is not allowed for HTTP actions"))
	g.Expect(calls.Load()).To(gomega.BeZero(), "the loopback endpoint must never be called")
}
