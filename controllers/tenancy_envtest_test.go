package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// The tenancy cases run in TestAssociateReconciler's control plane: a namespace's
// ProvisioningPolicy is its tenant's code, and whatever it renders must stay inside that
// namespace and within the kinds and roles the operator allows tenants.

func templatePolicy(templates ...string) superofficev1alpha1.ProvisioningPolicySpec {
	spec := superofficev1alpha1.ProvisioningPolicySpec{}
	for _, text := range templates {
		spec.Resources = append(spec.Resources, superofficev1alpha1.ResourceTemplate{Template: text})
	}
	return spec
}

const personServiceAccount = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: person-{{ .PersonID }}
`

// policyReady waits for a (Cluster)ProvisioningPolicy's Ready condition with the reason.
func (s *suite) policyReady(t *testing.T, obj client.Object, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var cond *metav1.Condition
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		g.Expect(s.c.Get(s.ctx, client.ObjectKeyFromObject(obj), obj)).To(gomega.Succeed())
		var conditions []metav1.Condition
		switch p := obj.(type) {
		case *superofficev1alpha1.ProvisioningPolicy:
			conditions = p.Status.Conditions
		case *superofficev1alpha1.ClusterProvisioningPolicy:
			conditions = p.Status.Conditions
		}
		cond = meta.FindStatusCondition(conditions, superofficev1alpha1.ConditionReady)
		g.Expect(cond).NotTo(gomega.BeNil(), "expected a Ready condition")
		g.Expect(cond.Status).To(gomega.Equal(status), "Ready: %s %s", cond.Reason, cond.Message)
		g.Expect(cond.Reason).To(gomega.Equal(reason), "Ready: %s", cond.Message)
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())
	return cond
}

// refused checks the contract for an object a ProvisioningPolicy may not render: the
// Associate's and the policy's Ready are False with TargetNotAllowed naming the object,
// and nothing of the policy is applied (the ServiceAccount it also renders is not there).
func (s *suite) refused(t *testing.T, ns, object string, template string) {
	t.Helper()
	g := gomega.NewWithT(t)
	policy := s.policy(t, ns, "hostile", templatePolicy(personServiceAccount, template))
	a := s.associate(t, ns, 2001, 201, superofficev1alpha1.AssociateTypeEmployee)
	got := s.ready(t, a, metav1.ConditionFalse, superofficev1alpha1.ReasonTargetNotAllowed)
	cond := meta.FindStatusCondition(got.Status.Conditions, superofficev1alpha1.ConditionReady)
	g.Expect(cond.Message).To(gomega.ContainSubstring(object), "the message names the refused object")
	g.Expect(got.Status.Provisioned).To(gomega.BeEmpty(), "nothing of the policy is applied")
	g.Expect(s.c.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "person-201"}, &corev1.ServiceAccount{})).
		To(gomega.Satisfy(apierrors.IsNotFound), "a refused object stops the whole policy for the Associate")
	policyCond := s.policyReady(t, policy, metav1.ConditionFalse, superofficev1alpha1.ReasonTargetNotAllowed)
	g.Expect(policyCond.Message).To(gomega.ContainSubstring("not allowed"))

	// Fixed, the policy applies.
	s.update(t, policy, func() { policy.Spec = templatePolicy(personServiceAccount) })
	s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	s.policyReady(t, policy, metav1.ConditionTrue, superofficev1alpha1.ReasonTemplatesRendered)
}

func (s *suite) roleBindingIntoKubeSystemRefused(t *testing.T) {
	ns := s.namespace(t, "tenant-kube-system")
	s.refused(t, ns, "RoleBinding kube-system/steal-secrets", `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: steal-secrets
  namespace: kube-system
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: person-{{ .PersonID }}, namespace: {{ .Namespace }}}
`)
	g := gomega.NewWithT(t)
	g.Expect(s.c.Get(s.ctx, types.NamespacedName{Namespace: "kube-system", Name: "steal-secrets"}, &rbacv1.RoleBinding{})).
		To(gomega.Satisfy(apierrors.IsNotFound), "nothing is written into kube-system")
}

func (s *suite) namespaceFromAssociateDataRefused(t *testing.T) {
	// The namespace depends on the Associate's data: the check at render time stops it.
	ns := s.namespace(t, "tenant-data-namespace")
	s.refused(t, ns, "ConfigMap person-201/leak", `apiVersion: v1
kind: ConfigMap
metadata:
  name: leak
  namespace: person-{{ .PersonID }}
`)
}

func (s *suite) clusterScopedRefused(t *testing.T) {
	ns := s.namespace(t, "tenant-cluster-scoped")
	s.refused(t, ns, "ClusterRoleBinding tenant-admin", `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: tenant-admin
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: ServiceAccount, name: person-{{ .PersonID }}, namespace: {{ .Namespace }}}
`)
	gomega.NewWithT(t).Expect(s.c.Get(s.ctx, types.NamespacedName{Name: "tenant-admin"}, &rbacv1.ClusterRoleBinding{})).
		To(gomega.Satisfy(apierrors.IsNotFound))
}

func (s *suite) roleRefOutsideTheAllowListRefused(t *testing.T) {
	for _, role := range []string{"admin", "manager-role"} {
		t.Run("ClusterRole "+role, func(t *testing.T) {
			ns := s.namespace(t, "tenant-roleref-"+role)
			s.refused(t, ns, "RoleBinding "+ns+"/grab", fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: grab
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %s}
subjects:
- {kind: ServiceAccount, name: person-{{ .PersonID }}, namespace: {{ .Namespace }}}
`, role))
			gomega.NewWithT(t).Expect(s.c.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "grab"}, &rbacv1.RoleBinding{})).
				To(gomega.Satisfy(apierrors.IsNotFound))
		})
	}
}

func (s *suite) kindOutsideTheAllowListRefused(t *testing.T) {
	// The operator may hold rights on Secrets for cluster policies; tenants never get them.
	ns := s.namespace(t, "tenant-kind")
	s.refused(t, ns, "Secret token", `apiVersion: v1
kind: Secret
metadata:
  name: token
stringData: {token: x}
`)
}

// preExistingObjectNotAdopted: a ServiceAccount the operator did not create is never
// changed, and never deleted when the Associate goes.
func (s *suite) preExistingObjectNotAdopted(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "tenant-adopt")
	existing := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "person-202",
		Labels: map[string]string{"owner": "platform"}}}
	g.Expect(s.c.Create(s.ctx, existing)).To(gomega.Succeed())
	s.policy(t, ns, "adopter", templatePolicy(personServiceAccount))
	a := s.associate(t, ns, 2002, 202, superofficev1alpha1.AssociateTypeEmployee)

	got := s.ready(t, a, metav1.ConditionFalse, superofficev1alpha1.ReasonObjectConflict)
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, superofficev1alpha1.ConditionReady).Message).
		To(gomega.ContainSubstring("ServiceAccount " + ns + "/person-202"))
	sa := &corev1.ServiceAccount{}
	s.get(g, sa, ns, "person-202")
	g.Expect(sa.ResourceVersion).To(gomega.Equal(existing.ResourceVersion), "the existing ServiceAccount is not changed")
	g.Expect(sa.OwnerReferences).To(gomega.BeEmpty())

	g.Expect(s.c.Delete(s.ctx, got)).To(gomega.Succeed())
	g.Eventually(s.gone(&superofficev1alpha1.Associate{}, ns, a.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	s.get(g, sa, ns, "person-202")
	g.Expect(sa.UID).To(gomega.Equal(existing.UID), "the ServiceAccount the operator did not create survives the Associate")
}

// forgedStatusDeletesNothing: status.provisioned names what the finalizer deletes. Entries
// the operator did not write (another namespace, an object without its markers) are
// forgotten, never deleted.
func (s *suite) forgedStatusDeletesNothing(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "tenant-forged")
	victims := []*corev1.ServiceAccount{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "forged-victim"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "forged-local"}},
	}
	for _, sa := range victims {
		g.Expect(s.c.Create(s.ctx, sa)).To(gomega.Succeed())
	}
	s.policy(t, ns, "forger", templatePolicy(personServiceAccount))
	a := s.ready(t, s.associate(t, ns, 2003, 203, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)

	before := a.DeepCopy()
	for _, sa := range victims {
		a.Status.Provisioned = append(a.Status.Provisioned, superofficev1alpha1.ProvisionedObject{
			Policy: "forger", APIVersion: "v1", Kind: "ServiceAccount", Namespace: sa.Namespace, Name: sa.Name})
	}
	g.Expect(s.c.Status().Patch(s.ctx, a, client.MergeFrom(before))).To(gomega.Succeed())
	g.Expect(s.c.Delete(s.ctx, a)).To(gomega.Succeed())
	g.Eventually(s.gone(&superofficev1alpha1.Associate{}, ns, a.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	for _, sa := range victims {
		got := &corev1.ServiceAccount{}
		s.get(g, got, sa.Namespace, sa.Name)
		g.Expect(got.UID).To(gomega.Equal(sa.UID), "ServiceAccount %s/%s named by a forged status entry must survive", sa.Namespace, sa.Name)
	}
	g.Eventually(s.gone(&corev1.ServiceAccount{}, ns, "person-203")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed(),
		"what the policy did make is still deprovisioned")
}

// anotherPoliciesObjectUntouched: a tenant's policy does not overwrite or delete what a
// cluster admin's policy made in the tenant's namespace.
func (s *suite) anotherPoliciesObjectUntouched(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "tenant-other-policy")
	admin := s.clusterPolicy(t, "audit-"+ns, superofficev1alpha1.ClusterProvisioningPolicySpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
		PolicyTemplate: superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{{Template: `apiVersion: v1
kind: ConfigMap
metadata:
  name: audit-{{ .PersonID }}
data: {owner: platform}
`}}}})
	a := s.ready(t, s.associate(t, ns, 2004, 204, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	audit := &corev1.ConfigMap{}
	s.get(g, audit, ns, "audit-204")
	g.Expect(audit.Annotations).To(gomega.HaveKeyWithValue(superofficev1alpha1.AnnotationPolicy, "ClusterProvisioningPolicy/"+admin.Name))

	s.policy(t, ns, "overwrite", templatePolicy(`apiVersion: v1
kind: ConfigMap
metadata:
  name: audit-{{ .PersonID }}
data: {owner: tenant}
`))
	got := s.ready(t, a, metav1.ConditionFalse, superofficev1alpha1.ReasonObjectConflict)
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, superofficev1alpha1.ConditionReady).Message).
		To(gomega.ContainSubstring("ClusterProvisioningPolicy/" + admin.Name))
	s.get(g, audit, ns, "audit-204")
	g.Expect(audit.Data).To(gomega.HaveKeyWithValue("owner", "platform"), "the cluster policy's ConfigMap is not overwritten")
	g.Expect(s.c.Delete(s.ctx, admin)).To(gomega.Succeed())
}

// upgradeMarksObjectsAppliedBeforeTheMarkers: objects applied by an operator release
// without the markers, and status entries without policyKind, are recognised by the
// operator's field manager: the next apply marks them, nothing turns into a conflict,
// and deprovisioning still deletes them.
func (s *suite) upgradeMarksObjectsAppliedBeforeTheMarkers(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "upgrade")
	a := s.associate(t, ns, 2005, 205, superofficev1alpha1.AssociateTypeEmployee)
	s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched)
	g.Expect(s.c.Get(s.ctx, client.ObjectKeyFromObject(a), a)).To(gomega.Succeed())

	// What the previous release wrote: the object applied under the Associate's field
	// manager with an ownerReference and no markers, and the status entry.
	old := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount",
		"metadata": map[string]any{"name": "person-205", "namespace": ns,
			"ownerReferences": []any{map[string]any{"apiVersion": superofficev1alpha1.GroupVersion.String(),
				"kind": "Associate", "name": a.Name, "uid": string(a.UID)}}},
	}}
	g.Expect(s.c.Apply(s.ctx, client.ApplyConfigurationFromUnstructured(old),
		client.FieldOwner(superofficev1alpha1.FieldManager+"/"+a.Name), client.ForceOwnership)).To(gomega.Succeed())
	before := a.DeepCopy()
	a.Status.Provisioned = []superofficev1alpha1.ProvisionedObject{
		{Policy: "person-accounts", APIVersion: "v1", Kind: "ServiceAccount", Namespace: ns, Name: "person-205"}}
	g.Expect(s.c.Status().Patch(s.ctx, a, client.MergeFrom(before))).To(gomega.Succeed())

	s.policy(t, ns, "person-accounts", templatePolicy(personServiceAccount))
	got := s.ready(t, a, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	g.Expect(got.Status.Provisioned).To(gomega.ConsistOf(
		superofficev1alpha1.ProvisionedObject{Policy: "person-accounts", APIVersion: "v1", Kind: "ServiceAccount", Namespace: ns, Name: "person-205"}))
	sa := &corev1.ServiceAccount{}
	g.Eventually(func(g gomega.Gomega) {
		s.get(g, sa, ns, "person-205")
		g.Expect(sa.Labels).To(gomega.HaveKeyWithValue(superofficev1alpha1.LabelManagedBy, superofficev1alpha1.LabelManagedByValue))
		g.Expect(sa.Annotations).To(gomega.HaveKeyWithValue(superofficev1alpha1.AnnotationPolicy, "ProvisioningPolicy/"+ns+"/person-accounts"))
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed(), "the upgrade marks the object on its next apply")

	g.Expect(s.c.Delete(s.ctx, got)).To(gomega.Succeed())
	g.Eventually(s.gone(&corev1.ServiceAccount{}, ns, "person-205")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
}

// skipDeprovisionKeepsOnlyTheNamespacesObjects: the annotation lets the finalizer go
// without deleting what the namespace's policies made; what a cluster policy made is
// deprovisioned all the same.
func (s *suite) skipDeprovisionKeepsOnlyTheNamespacesObjects(t *testing.T) {
	g := gomega.NewWithT(t)
	ns := s.namespace(t, "skip-deprovision")
	s.policy(t, ns, "person-accounts", templatePolicy(personServiceAccount))
	admin := s.clusterPolicy(t, "grant-"+ns, superofficev1alpha1.ClusterProvisioningPolicySpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
		PolicyTemplate: superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{{Template: `apiVersion: v1
kind: ConfigMap
metadata:
  name: grant-{{ .PersonID }}
`}}}})
	t.Cleanup(func() { _ = s.c.Delete(s.ctx, admin) })
	a := s.ready(t, s.associate(t, ns, 2006, 206, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	g.Expect(a.Status.Provisioned).To(gomega.HaveLen(2))

	s.update(t, a, func() {
		a.Annotations = map[string]string{superofficev1alpha1.AnnotationSkipDeprovision: "true"}
	})
	g.Expect(s.c.Delete(s.ctx, a)).To(gomega.Succeed())
	g.Eventually(s.gone(&superofficev1alpha1.Associate{}, ns, a.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	sa := &corev1.ServiceAccount{}
	s.get(g, sa, ns, "person-206")
	g.Expect(hasOwner(sa, a)).To(gomega.BeFalse(), "the kept ServiceAccount is released: no ownerReference")
	g.Expect(s.c.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: "grant-206"}, &corev1.ConfigMap{})).
		To(gomega.Satisfy(apierrors.IsNotFound), "what a ClusterProvisioningPolicy made is always deprovisioned")
}

func (s *suite) clusterPolicy(t *testing.T, name string, spec superofficev1alpha1.ClusterProvisioningPolicySpec) *superofficev1alpha1.ClusterProvisioningPolicy {
	t.Helper()
	p := &superofficev1alpha1.ClusterProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := s.c.Create(s.ctx, p); err != nil {
		t.Fatal(err)
	}
	// Cluster-scoped: the package's later tests share the control plane.
	t.Cleanup(func() { _ = client.IgnoreNotFound(s.c.Delete(context.Background(), p)) })
	return p
}

// clusterPolicyProvisionsAcrossNamespaces: a cluster admin's policy writes into another
// namespace and cluster-scoped objects for the Associates of the namespaces it selects,
// records policyKind, and takes it all away again.
func (s *suite) clusterPolicyProvisionsAcrossNamespaces(t *testing.T) {
	g := gomega.NewWithT(t)
	selected := s.namespace(t, "cluster-selected")
	other := s.namespace(t, "cluster-other")
	central := s.namespace(t, "cluster-central")
	ns := &corev1.Namespace{}
	s.get(g, ns, "", selected)
	s.update(t, ns, func() { ns.Labels["crm"] = "true" })

	policy := s.clusterPolicy(t, "central-accounts", superofficev1alpha1.ClusterProvisioningPolicySpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"crm": "true"}},
		PolicyTemplate: superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{
			{Template: `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Namespace }}-person-{{ .PersonID }}
  namespace: ` + central + `
data: {associate: "{{ .AssociateID }}"}
`},
			{Template: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .Namespace }}-person-{{ .PersonID }}-view
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: person-{{ .PersonID }}, namespace: {{ .Namespace }}}
`},
			{Template: personServiceAccount},
		}}})
	t.Cleanup(func() { _ = s.c.Delete(s.ctx, policy) })

	in := s.ready(t, s.associate(t, selected, 2101, 301, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	out := s.ready(t, s.associate(t, other, 2102, 302, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched)
	cluster := superofficev1alpha1.PolicyKindCluster
	g.Expect(in.Status.Provisioned).To(gomega.ConsistOf(
		superofficev1alpha1.ProvisionedObject{Policy: policy.Name, PolicyKind: cluster, APIVersion: "v1", Kind: "ConfigMap", Namespace: central, Name: selected + "-person-301"},
		superofficev1alpha1.ProvisionedObject{Policy: policy.Name, PolicyKind: cluster, APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding", Name: selected + "-person-301-view"},
		superofficev1alpha1.ProvisionedObject{Policy: policy.Name, PolicyKind: cluster, APIVersion: "v1", Kind: "ServiceAccount", Namespace: selected, Name: "person-301"},
	))
	g.Expect(out.Status.Provisioned).To(gomega.BeEmpty(), "namespaceSelector leaves the unlabelled namespace out")
	crb := &rbacv1.ClusterRoleBinding{}
	s.get(g, crb, "", selected+"-person-301-view")
	g.Expect(crb.Annotations).To(gomega.HaveKeyWithValue(superofficev1alpha1.AnnotationPolicy, "ClusterProvisioningPolicy/central-accounts"))
	g.Expect(crb.Labels).To(gomega.HaveKeyWithValue(superofficev1alpha1.LabelManagedBy, superofficev1alpha1.LabelManagedByValue))
	s.get(g, &corev1.ConfigMap{}, central, selected+"-person-301")

	g.Eventually(func(g gomega.Gomega) {
		s.get(g, policy, "", policy.Name)
		g.Expect(policy.Status.MatchedAssociates).To(gomega.BeEquivalentTo(1))
		g.Expect(policy.Status.ObservedGeneration).To(gomega.Equal(policy.Generation))
		g.Expect(meta.IsStatusConditionTrue(policy.Status.Conditions, superofficev1alpha1.ConditionReady)).To(gomega.BeTrue())
	}).WithTimeout(eventuallyTimeout).WithPolling(pollInterval).Should(gomega.Succeed())

	// The namespace's label goes: its Associates are deprovisioned.
	s.update(t, ns, func() { delete(ns.Labels, "crm") })
	s.ready(t, in, metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched)
	g.Eventually(s.gone(&rbacv1.ClusterRoleBinding{}, "", selected+"-person-301-view")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	g.Eventually(s.gone(&corev1.ConfigMap{}, central, selected+"-person-301")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())

	// Back again, then the Associate is deleted: its finalizer deprovisions across namespaces.
	s.update(t, ns, func() { ns.Labels["crm"] = "true" })
	s.ready(t, in, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	s.get(g, &corev1.ConfigMap{}, central, selected+"-person-301")
	g.Expect(s.c.Delete(s.ctx, in)).To(gomega.Succeed())
	g.Eventually(s.gone(&superofficev1alpha1.Associate{}, selected, in.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	for _, check := range []func(gomega.Gomega){
		s.gone(&rbacv1.ClusterRoleBinding{}, "", selected+"-person-301-view"),
		s.gone(&corev1.ConfigMap{}, central, selected+"-person-301"),
		s.gone(&corev1.ServiceAccount{}, selected, "person-301"),
	} {
		g.Eventually(check).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	}
}

// clusterPolicySharesAcrossNamespaces: an object outside the Associates' namespaces that
// two Associates of different namespaces render stays until the last of them goes.
func (s *suite) clusterPolicySharesAcrossNamespaces(t *testing.T) {
	g := gomega.NewWithT(t)
	first, second := s.namespace(t, "share-first"), s.namespace(t, "share-second")
	policy := s.clusterPolicy(t, "shared-group", superofficev1alpha1.ClusterProvisioningPolicySpec{
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{first, second}}}},
		PolicyTemplate: superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{{Template: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: tenant-{{ .Tenant | lower }}-readers
rules: []
`}}}})
	t.Cleanup(func() { _ = s.c.Delete(s.ctx, policy) })
	a := s.ready(t, s.associate(t, first, 2201, 311, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)
	b := s.ready(t, s.associate(t, second, 2202, 312, superofficev1alpha1.AssociateTypeEmployee), metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned)

	g.Expect(s.c.Delete(s.ctx, a)).To(gomega.Succeed())
	g.Eventually(s.gone(&superofficev1alpha1.Associate{}, first, a.Name)).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
	s.get(g, &rbacv1.ClusterRole{}, "", "tenant-cust1234-readers")
	g.Expect(s.c.Delete(s.ctx, b)).To(gomega.Succeed())
	g.Eventually(s.gone(&rbacv1.ClusterRole{}, "", "tenant-cust1234-readers")).WithTimeout(eventuallyTimeout).Should(gomega.Succeed())
}

func TestTenancyFlagsParse(t *testing.T) {
	kinds, err := ParseNamespacedKinds(DefaultNamespacedPolicyKinds)
	if err != nil || len(kinds) != 3 || kinds[2].Group != rbacv1.GroupName || kinds[0].Group != "" {
		t.Fatalf("the default kinds parse to ServiceAccount, ConfigMap and RoleBinding.rbac.authorization.k8s.io, got %v, %v", kinds, err)
	}
	refs, err := ParseAllowedRoleRefs("ClusterRole/view, Role/reader")
	if err != nil || len(refs) != 2 || refs[1] != (RoleRef{Kind: "Role", Name: "reader"}) {
		t.Fatalf("got %v, %v", refs, err)
	}
	for _, bad := range []string{"view", "ClusterRoleBinding/x", "Role/"} {
		if _, err := ParseAllowedRoleRefs(bad); err == nil || !strings.Contains(err.Error(), "ClusterRole/<name>") {
			t.Errorf("--allowed-role-refs=%s: expected an error saying what is expected, got %v", bad, err)
		}
	}
	if _, err := ParseNamespacedKinds("apps/v1/Deployment"); err == nil {
		t.Error("--namespaced-policy-kinds=apps/v1/Deployment: expected an error")
	}
}
