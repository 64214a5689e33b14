package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/apiclient"
	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/superoffice/fake"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// The namespaces of the tenancy suite: the tenant holds edit rights (and the operator's
// kinds) in teamA only; teamB is another team's; central is the cluster admin's.
const (
	teamA   = "team-a"
	teamB   = "team-b"
	central = "central"
	tenant  = "tenant-a"
)

// tenancy is the cluster of the tenancy suite, the manager running as the chart's
// ServiceAccount, and a client as the tenant.
type tenancy struct {
	*cluster
	manager *testenv.ManagerProcess
	tenant  client.Client
	// operatorRole is the chart's ClusterRole: everything the manager may do.
	operatorRole string
}

// A tenant with edit rights in one namespace, plus the operator's kinds there, makes the
// operator reach nothing outside that namespace; a cluster admin's ClusterProvisioningPolicy
// does reach across namespaces and cluster-scoped kinds.
func TestATenantOfOneNamespaceReachesNothingOutsideIt(t *testing.T) {
	requireTools(t)
	if testing.Short() {
		t.Skip("installs the chart and runs the manager: not in -short")
	}
	binary := managerBinary(t)
	c := startCluster(t)
	// Rules a cluster admin adds for cluster policies: ClusterRoleBindings, and Secrets.
	// Neither may become a tenant's.
	extraRules := `[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterrolebindings"],"verbs":["get","list","watch","create","update","patch","delete"]},` +
		`{"apiGroups":[""],"resources":["secrets"],"verbs":["create","update","patch","delete"]}]`
	if _, err := c.helm(t, "install", releaseName, chartDir(), "--namespace", releaseNamespace, "--create-namespace",
		"--wait=false", "--timeout", "2m", "--set-json", "rbac.extraRules="+extraRules); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	serviceAccount := "system:serviceaccount:" + releaseNamespace + ":" + releaseName
	saGroups := []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNamespace, "system:authenticated"}
	kubeconfig := c.env.UserKubeconfig(t, envtest.User{Name: serviceAccount, Groups: saGroups}, "")
	m := startManager(t, binary, kubeconfig, releaseNamespace)
	m.WaitReady(t, waitTimeout)

	s := &tenancy{cluster: c, manager: m, operatorRole: releaseName}
	for _, ns := range []string{teamA, teamB, central} {
		if err := c.client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	s.grantTenant(t)
	s.tenant = c.env.UserClient(t, envtest.User{Name: tenant, Groups: []string{"system:authenticated"}})

	t.Run("a RoleBinding into kube-system to the operator's own ClusterRole is refused", s.roleBindingIntoKubeSystem)
	t.Run("a cluster-scoped object the operator may write for cluster policies is refused", s.clusterScoped)
	t.Run("a Secret, a kind the operator may write for cluster policies, is refused", s.secretKind)
	t.Run("RoleBindings to ClusterRole admin and to the operator's ClusterRole are refused", s.roleRefs)
	t.Run("a pre-existing ServiceAccount is neither adopted nor deleted", s.adoption)
	t.Run("the tenant cannot remove the operator's finalizer from its Associate", s.finalizerKept)
	t.Run("a receiver targets another namespace only with its opt-in", s.receiverTarget)
	t.Run("a cluster admin's ClusterProvisioningPolicy provisions across namespaces", s.clusterPolicy)

	m.Stop(t)
	for _, line := range strings.Split(m.Log(), "\n") {
		if strings.Contains(line, "is forbidden: User") {
			t.Errorf("the manager was refused by RBAC: a tenant's object made it try something it may not:\n%s", line)
		}
	}
}

// grantTenant gives the tenant what a namespace's team commonly holds: edit in teamA, and
// the operator's namespaced kinds there.
func (s *tenancy) grantTenant(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	kinds := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "superoffice-editor"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{superofficev1alpha1.GroupVersion.Group},
		Resources: []string{"associates", "webhookreceivers", "provisioningpolicies"},
		Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
	}}}
	// ClusterRole edit aggregates these two; envtest runs no aggregation controller, so
	// edit itself is empty here and its parts are bound instead.
	objects := []client.Object{kinds}
	for _, part := range []string{"system:aggregate-to-edit", "system:aggregate-to-view"} {
		objects = append(objects, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "tenant-" + strings.TrimPrefix(part, "system:")},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: part},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: tenant}}})
	}
	objects = append(objects,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "tenant-superoffice"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: kinds.Name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: tenant}}},
	)
	for _, obj := range objects {
		if err := s.client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitAllowed(t, s.client, tenant, []string{"system:authenticated"}, teamA,
		superofficev1alpha1.GroupVersion.Group, kinds.Rules[0].Resources...)
}

// attack creates, as the tenant, a ProvisioningPolicy rendering the sample ServiceAccount
// and template, and an Associate it matches; it returns once the contract's answer is
// there: both not Ready with TargetNotAllowed naming the object, the ServiceAccount not
// applied either. It deletes both at the end.
func (s *tenancy) attack(t *testing.T, name string, person int64, object, template string) {
	t.Helper()
	ctx := t.Context()
	policy := &superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: name},
		Spec: superofficev1alpha1.ProvisioningPolicySpec{PolicyTemplate: superofficev1alpha1.PolicyTemplate{
			Resources: []superofficev1alpha1.ResourceTemplate{{Template: "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: person-{{ .PersonID }}\n"}, {Template: template}},
		}}}
	if err := s.tenant.Create(ctx, policy); err != nil {
		t.Fatalf("the tenant creates a ProvisioningPolicy in its namespace: %v", err)
	}
	assoc := s.tenantAssociate(t, 9000+person, person)
	testenv.Eventually(t, waitTimeout, "Associate "+assoc.Name+" Ready=False TargetNotAllowed", func() error {
		return readyReason(ctx, s.tenant, assoc, superofficev1alpha1.ReasonTargetNotAllowed, object)
	})
	testenv.Eventually(t, waitTimeout, "ProvisioningPolicy "+name+" Ready=False TargetNotAllowed", func() error {
		got := &superofficev1alpha1.ProvisioningPolicy{}
		if err := s.tenant.Get(ctx, client.ObjectKeyFromObject(policy), got); err != nil {
			return err
		}
		return conditionIs(got.Status.Conditions, metav1.ConditionFalse, superofficev1alpha1.ReasonTargetNotAllowed, object)
	})
	err := s.client.Get(ctx, client.ObjectKey{Namespace: teamA, Name: fmt.Sprintf("person-%d", person)}, &corev1.ServiceAccount{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("nothing of a policy with a refused object is applied, but ServiceAccount person-%d: %v", person, err)
	}
	for _, obj := range []client.Object{assoc, policy} {
		if err := s.tenant.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *tenancy) tenantAssociate(t *testing.T, id, person int64) *superofficev1alpha1.Associate {
	t.Helper()
	a := &superofficev1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: fmt.Sprintf("cust1234-%d", id)},
		Spec: superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: id, PersonID: person, Type: superofficev1alpha1.AssociateTypeEmployee}}
	if err := s.tenant.Create(t.Context(), a); err != nil {
		t.Fatalf("the tenant creates an Associate by hand: %v", err)
	}
	return a
}

func readyReason(ctx context.Context, c client.Client, a *superofficev1alpha1.Associate, reason, inMessage string) error {
	got := &superofficev1alpha1.Associate{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(a), got); err != nil {
		return err
	}
	status := metav1.ConditionFalse
	if reason == superofficev1alpha1.ReasonProvisioned || reason == superofficev1alpha1.ReasonNoPolicyMatched {
		status = metav1.ConditionTrue
	}
	return conditionIs(got.Status.Conditions, status, reason, inMessage)
}

func conditionIs(conditions []metav1.Condition, status metav1.ConditionStatus, reason, inMessage string) error {
	cond := meta.FindStatusCondition(conditions, superofficev1alpha1.ConditionReady)
	switch {
	case cond == nil:
		return fmt.Errorf("no Ready condition yet")
	case cond.Status != status || cond.Reason != reason:
		return fmt.Errorf("Ready is %s %s (%s), want %s %s", cond.Status, cond.Reason, cond.Message, status, reason)
	case !strings.Contains(cond.Message, inMessage):
		return fmt.Errorf("the Ready message %q does not name %q", cond.Message, inMessage)
	}
	return nil
}

func (s *tenancy) roleBindingIntoKubeSystem(t *testing.T) {
	// The API server would allow this bind: the operator holds every permission of its own
	// ClusterRole, secrets get/list/watch included.
	s.attack(t, "steal", 1, "RoleBinding kube-system/steal", fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: steal
  namespace: kube-system
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %s}
subjects:
- {kind: ServiceAccount, name: default, namespace: %s}
`, s.operatorRole, teamA))
	if err := s.client.Get(t.Context(), client.ObjectKey{Namespace: "kube-system", Name: "steal"}, &rbacv1.RoleBinding{}); !apierrors.IsNotFound(err) {
		t.Errorf("RoleBinding kube-system/steal must not exist: %v", err)
	}
}

func (s *tenancy) clusterScoped(t *testing.T) {
	s.attack(t, "cluster-wide", 2, "ClusterRoleBinding team-a-reads-all", `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: team-a-reads-all
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: default, namespace: team-a}
`)
	if err := s.client.Get(t.Context(), client.ObjectKey{Name: "team-a-reads-all"}, &rbacv1.ClusterRoleBinding{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRoleBinding team-a-reads-all must not exist: %v", err)
	}
}

func (s *tenancy) secretKind(t *testing.T) {
	s.attack(t, "secret", 3, "Secret planted", `apiVersion: v1
kind: Secret
metadata:
  name: planted
  annotations: {kubernetes.io/service-account.name: default}
type: kubernetes.io/service-account-token
`)
}

func (s *tenancy) roleRefs(t *testing.T) {
	for i, role := range []string{"admin", s.operatorRole} {
		name := fmt.Sprintf("grab-%d", i)
		s.attack(t, name, int64(4+i), "RoleBinding team-a/"+name, fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: %s
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %s}
subjects:
- {kind: ServiceAccount, name: default, namespace: team-a}
`, name, role))
		if err := s.client.Get(t.Context(), client.ObjectKey{Namespace: teamA, Name: name}, &rbacv1.RoleBinding{}); !apierrors.IsNotFound(err) {
			t.Errorf("RoleBinding team-a/%s to ClusterRole %s must not exist: %v", name, role, err)
		}
	}
}

func (s *tenancy) adoption(t *testing.T) {
	ctx := t.Context()
	// The platform team's ServiceAccount, made without the operator.
	existing := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "person-10"}}
	if err := s.client.Create(ctx, existing); err != nil {
		t.Fatal(err)
	}
	policy := &superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "adopt"},
		Spec: superofficev1alpha1.ProvisioningPolicySpec{PolicyTemplate: superofficev1alpha1.PolicyTemplate{
			Resources: []superofficev1alpha1.ResourceTemplate{{Template: "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: person-{{ .PersonID }}\n"}},
		}}}
	if err := s.tenant.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	assoc := s.tenantAssociate(t, 9010, 10)
	testenv.Eventually(t, waitTimeout, "Associate Ready=False ObjectConflict", func() error {
		return readyReason(ctx, s.tenant, assoc, superofficev1alpha1.ReasonObjectConflict, "ServiceAccount team-a/person-10")
	})
	if err := s.tenant.Delete(ctx, assoc); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "the Associate is gone", func() error {
		if err := s.client.Get(ctx, client.ObjectKeyFromObject(assoc), &superofficev1alpha1.Associate{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("Associate %s still there: %v", assoc.Name, err)
		}
		return nil
	})
	got := &corev1.ServiceAccount{}
	if err := s.client.Get(ctx, client.ObjectKeyFromObject(existing), got); err != nil || got.UID != existing.UID {
		t.Fatalf("the pre-existing ServiceAccount must survive the Associate unchanged: %v", err)
	}
	if got.ResourceVersion != existing.ResourceVersion || len(got.OwnerReferences) > 0 {
		t.Errorf("the pre-existing ServiceAccount was changed: %+v", got.ObjectMeta)
	}
	if err := s.tenant.Delete(ctx, policy); err != nil {
		t.Fatal(err)
	}
}

// delivery is the documented created event for another associate, with its own EventId.
func delivery(t *testing.T, associateID int64, eventID string) []byte {
	t.Helper()
	var payload map[string]any
	if err := json.Unmarshal(samples.MustPayload("created"), &payload); err != nil {
		t.Fatal(err)
	}
	payload["PrimaryKey"], payload["EventId"] = associateID, eventID
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// receiverWithSecret creates a signing Secret and a receiver for tenant Cust1234 as c.
func receiverWithSecret(t *testing.T, c client.Client, namespace, name, target string) {
	t.Helper()
	ctx := t.Context()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-hook"},
		StringData: map[string]string{"secret": namespace + "-secret"}}
	receiver := &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: superofficev1alpha1.WebhookReceiverSpec{SecretRef: superofficev1alpha1.SecretKeysReference{Name: secret.Name},
			Tenant: "Cust1234", TargetNamespace: target}}
	for _, obj := range []client.Object{secret, receiver} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *tenancy) send(t *testing.T, namespace, name string, body []byte) int {
	t.Helper()
	url := "http://" + s.manager.WebhookAddr + "/webhooks/" + namespace + "/" + name
	return post(t, url, body, signature.Sign([]byte(namespace+"-secret"), body))
}

func (s *tenancy) receiverReady(t *testing.T, namespace, name string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	testenv.Eventually(t, waitTimeout, fmt.Sprintf("receiver %s/%s Ready=%s %s", namespace, name, status, reason), func() error {
		got := &superofficev1alpha1.WebhookReceiver{}
		if err := s.client.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, got); err != nil {
			return err
		}
		return conditionIs(got.Status.Conditions, status, reason, "")
	})
}

// deliverUntil resends a delivery until it gets code: the ingress's cache may still be
// catching up with a change just made.
func (s *tenancy) deliverUntil(t *testing.T, namespace, name string, body []byte, code int) {
	t.Helper()
	testenv.Eventually(t, waitTimeout, fmt.Sprintf("a delivery to %s/%s answered %d", namespace, name, code), func() error {
		if got := s.send(t, namespace, name, body); got != code {
			return fmt.Errorf("answered %d", got)
		}
		return nil
	})
}

func (s *tenancy) receiverTarget(t *testing.T) {
	ctx := t.Context()
	// teamB's own receiver writes its Associates.
	receiverWithSecret(t, s.client, teamB, "superoffice", "")
	s.receiverReady(t, teamB, "superoffice", metav1.ConditionTrue, superofficev1alpha1.ReasonReady)
	for _, id := range []int64{501, 502} {
		s.deliverUntil(t, teamB, "superoffice", delivery(t, id, fmt.Sprintf("b-%d", id)), http.StatusOK)
	}

	// The tenant's receiver, named like every sample, aims at teamB.
	receiverWithSecret(t, s.tenant, teamA, "superoffice", teamB)
	s.receiverReady(t, teamA, "superoffice", metav1.ConditionFalse, superofficev1alpha1.ReasonTargetNamespaceNotAllowed)
	if code := s.send(t, teamA, "superoffice", delivery(t, 503, "a-503")); code != http.StatusNotFound {
		t.Errorf("a delivery to a receiver whose target namespace does not allow it answered %d, want 404", code)
	}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: teamB, Name: "cust1234-503"}, &superofficev1alpha1.Associate{}); !apierrors.IsNotFound(err) {
		t.Errorf("nothing may be written into team-b without its opt-in: %v", err)
	}

	// teamB opts in: the tenant's receiver writes there, but never teamB's own Associates.
	s.annotateNamespace(t, teamB, teamA)
	s.receiverReady(t, teamA, "superoffice", metav1.ConditionTrue, superofficev1alpha1.ReasonReady)
	s.deliverUntil(t, teamA, "superoffice", delivery(t, 503, "a-503"), http.StatusOK)
	written := &superofficev1alpha1.Associate{}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: teamB, Name: "cust1234-503"}, written); err != nil {
		t.Fatal(err)
	}
	if owner, _ := written.OwningReceiver(); owner != (client.ObjectKey{Namespace: teamA, Name: "superoffice"}) {
		t.Errorf("the Associate written through team-a's receiver is labelled with it, got %v", owner)
	}
	before := &superofficev1alpha1.Associate{}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: teamB, Name: "cust1234-501"}, before); err != nil {
		t.Fatal(err)
	}
	if code := s.send(t, teamA, "superoffice", delivery(t, 501, "a-501")); code != http.StatusConflict {
		t.Errorf("a delivery for team-b's own Associate through team-a's receiver answered %d, want 409", code)
	}
	after := &superofficev1alpha1.Associate{}
	if err := s.client.Get(ctx, client.ObjectKeyFromObject(before), after); err != nil || after.ResourceVersion != before.ResourceVersion {
		t.Errorf("another receiver's Associate must stay unchanged: %v", err)
	}

	// A resync of the tenant's receiver, against its own SuperOffice that lists nothing of
	// teamB's and allows deleting everything, deletes nothing of teamB's receiver.
	s.resyncFromTheTenantsOwnSuperOffice(t)
	for _, id := range []int64{501, 502} {
		if err := s.client.Get(ctx, client.ObjectKey{Namespace: teamB, Name: fmt.Sprintf("cust1234-%d", id)}, &superofficev1alpha1.Associate{}); err != nil {
			t.Errorf("team-b's Associate %d after the tenant's resync: %v", id, err)
		}
	}

	// The opt-in withdrawn: the receiver is refused again.
	s.annotateNamespace(t, teamB, "")
	s.receiverReady(t, teamA, "superoffice", metav1.ConditionFalse, superofficev1alpha1.ReasonTargetNamespaceNotAllowed)
	s.deliverUntil(t, teamA, "superoffice", delivery(t, 504, "a-504"), http.StatusNotFound)
}

func (s *tenancy) annotateNamespace(t *testing.T, namespace, allowed string) {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := s.client.Get(t.Context(), client.ObjectKey{Name: namespace}, ns); err != nil {
		t.Fatal(err)
	}
	before := ns.DeepCopy()
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	if allowed == "" {
		delete(ns.Annotations, superofficev1alpha1.AnnotationAllowedReceiverNamespaces)
	} else {
		ns.Annotations[superofficev1alpha1.AnnotationAllowedReceiverNamespaces] = allowed
	}
	if err := s.client.Patch(t.Context(), ns, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
}

// resyncFromTheTenantsOwnSuperOffice points the tenant's receiver at a SuperOffice of its
// own (tenant Cust1234, listing only associate 503) with maxDeletePercent 100, and waits
// for the resync to have run.
func (s *tenancy) resyncFromTheTenantsOwnSuperOffice(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	so, err := fake.New(fake.Options{Tenant: "Cust1234"})
	if err != nil {
		t.Fatal(err)
	}
	so.PutAssociate(fake.Associate{ID: 503, PersonID: 21, GroupID: 4})
	server := httptest.NewServer(so)
	t.Cleanup(server.Close)
	creds := so.Credentials()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: teamA, Name: "own-superoffice"}, Data: map[string][]byte{
		apiclient.KeyApplicationToken: []byte(creds.ApplicationToken),
		apiclient.KeySystemUserToken:  []byte(creds.SystemUserToken),
		apiclient.KeyPrivateKey:       creds.PrivateKeyPEM,
	}}
	if err := s.tenant.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	receiver := &superofficev1alpha1.WebhookReceiver{}
	if err := s.tenant.Get(ctx, client.ObjectKey{Namespace: teamA, Name: "superoffice"}, receiver); err != nil {
		t.Fatal(err)
	}
	before := receiver.DeepCopy()
	receiver.Spec.API = &superofficev1alpha1.SuperOfficeAPI{EnvironmentURL: server.URL,
		CredentialsSecretRef: superofficev1alpha1.LocalSecretReference{Name: secret.Name},
		ResyncInterval:       &metav1.Duration{Duration: time.Hour}, MaxDeletePercent: ptr.To[int32](100)}
	if err := s.tenant.Patch(ctx, receiver, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "the tenant's receiver resynced", func() error {
		got := &superofficev1alpha1.WebhookReceiver{}
		if err := s.client.Get(ctx, client.ObjectKeyFromObject(receiver), got); err != nil {
			return err
		}
		last := got.Status.LastResync
		if last == nil || last.Result != superofficev1alpha1.ResyncSucceeded {
			return fmt.Errorf("lastResync = %+v", last)
		}
		if last.Deleted != 0 {
			return fmt.Errorf("the tenant's resync deleted %d Associates", last.Deleted)
		}
		return nil
	})
}

// clusterPolicy: the cluster admin's policy selects teamB by label, writes into central
// and a cluster-scoped ClusterRoleBinding, leaves teamA alone, and deprovisions it all.
func (s *tenancy) clusterPolicy(t *testing.T) {
	ctx := t.Context()
	ns := &corev1.Namespace{}
	if err := s.client.Get(ctx, client.ObjectKey{Name: teamB}, ns); err != nil {
		t.Fatal(err)
	}
	before := ns.DeepCopy()
	ns.Labels["crm.example.com/tenant"] = "cust1234"
	if err := s.client.Patch(ctx, ns, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	policy := &superofficev1alpha1.ClusterProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "central-accounts"},
		Spec: superofficev1alpha1.ClusterProvisioningPolicySpec{
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "crm.example.com/tenant", Operator: metav1.LabelSelectorOpExists}}},
			PolicyTemplate: superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{
				{Template: "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Namespace }}-person-{{ .PersonID }}\n  namespace: " + central + "\n"},
				{Template: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .Namespace }}-person-{{ .PersonID }}-view
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: ServiceAccount, name: "{{ .Namespace }}-person-{{ .PersonID }}", namespace: ` + central + `}
`},
			}}}}
	if err := s.client.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	// teamB's Associates 501 and 502 (person 21) share both objects.
	saKey := client.ObjectKey{Namespace: central, Name: teamB + "-person-21"}
	crbKey := client.ObjectKey{Name: teamB + "-person-21-view"}
	testenv.Eventually(t, waitTimeout, "the cluster policy's objects for team-b", func() error {
		if err := s.client.Get(ctx, saKey, &corev1.ServiceAccount{}); err != nil {
			return err
		}
		return s.client.Get(ctx, crbKey, &rbacv1.ClusterRoleBinding{})
	})
	testenv.Eventually(t, waitTimeout, "the policy's status", func() error {
		got := &superofficev1alpha1.ClusterProvisioningPolicy{}
		if err := s.client.Get(ctx, client.ObjectKeyFromObject(policy), got); err != nil {
			return err
		}
		if err := conditionIs(got.Status.Conditions, metav1.ConditionTrue, superofficev1alpha1.ReasonTemplatesRendered, ""); err != nil {
			return err
		}
		if got.Status.MatchedAssociates != 3 || got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("matchedAssociates %d (want team-b's 3), observedGeneration %d of %d",
				got.Status.MatchedAssociates, got.Status.ObservedGeneration, got.Generation)
		}
		return nil
	})
	var teamAs superofficev1alpha1.AssociateList
	if err := s.client.List(ctx, &teamAs, client.InNamespace(teamA)); err != nil {
		t.Fatal(err)
	}
	for _, a := range teamAs.Items {
		if len(a.Status.Provisioned) > 0 {
			t.Errorf("team-a is not selected, yet %s got %v", a.Name, a.Status.Provisioned)
		}
	}

	for _, id := range []string{"cust1234-501", "cust1234-502", "cust1234-503"} {
		if err := s.client.Delete(ctx, &superofficev1alpha1.Associate{ObjectMeta: metav1.ObjectMeta{Namespace: teamB, Name: id}}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, waitTimeout, "the cluster policy's objects deprovisioned", func() error {
		if err := s.client.Get(ctx, saKey, &corev1.ServiceAccount{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("ServiceAccount %s: %v", saKey, err)
		}
		if err := s.client.Get(ctx, crbKey, &rbacv1.ClusterRoleBinding{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("ClusterRoleBinding %s: %v", crbKey.Name, err)
		}
		return nil
	})
}

// finalizerKept: the chart's ValidatingAdmissionPolicy refuses the tenant's removal of the
// deprovision finalizer, which would let cluster policies' objects outlive the Associate.
func (s *tenancy) finalizerKept(t *testing.T) {
	ctx := t.Context()
	a := s.tenantAssociate(t, 9020, 20)
	testenv.Eventually(t, waitTimeout, "the operator's finalizer on "+a.Name, func() error {
		if err := s.tenant.Get(ctx, client.ObjectKeyFromObject(a), a); err != nil {
			return err
		}
		if len(a.Finalizers) == 0 {
			return fmt.Errorf("no finalizer yet")
		}
		return nil
	})
	before := a.DeepCopy()
	a.Finalizers = nil
	err := s.tenant.Patch(ctx, a, client.MergeFrom(before))
	if err == nil || !strings.Contains(err.Error(), "only the associate-operator removes") {
		t.Errorf("the tenant removed the deprovision finalizer (err %v); the chart's ValidatingAdmissionPolicy must refuse it", err)
	}
	if err := s.tenant.Delete(ctx, before); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitTimeout, "the operator lets its own finalizer go", func() error {
		if err := s.client.Get(ctx, client.ObjectKeyFromObject(a), &superofficev1alpha1.Associate{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("Associate %s still there: %v", a.Name, err)
		}
		return nil
	})
}
