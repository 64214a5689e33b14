package controllers

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// Tenancy is what a namespace's ProvisioningPolicy may render: a tenant with edit rights
// in one namespace must not reach anything outside it through the operator's cluster-wide
// identity. ClusterProvisioningPolicies, made by cluster admins, are not confined.
type Tenancy struct {
	// NamespacedKinds are the only kinds a ProvisioningPolicy may render
	// (--namespaced-policy-kinds), so that kinds an admin grants the operator for cluster
	// policies do not become a tenant's.
	NamespacedKinds []schema.GroupKind
	// AllowedRoleRefs are the only roles a ProvisioningPolicy's RoleBinding may reference
	// (--allowed-role-refs): ClusterRole/<name>, or Role/<name> of the policy's namespace.
	AllowedRoleRefs []RoleRef
}

// RoleRef is one entry of --allowed-role-refs.
type RoleRef struct {
	Kind string // ClusterRole or Role
	Name string
}

func (r RoleRef) String() string { return r.Kind + "/" + r.Name }

// Defaults of the tenancy flags.
const (
	DefaultNamespacedPolicyKinds = "ServiceAccount,ConfigMap,RoleBinding.rbac.authorization.k8s.io"
	DefaultAllowedRoleRefs       = "ClusterRole/view"
)

// DefaultTenancy is the flags' defaults.
func DefaultTenancy() Tenancy {
	kinds, _ := ParseNamespacedKinds(DefaultNamespacedPolicyKinds)
	refs, _ := ParseAllowedRoleRefs(DefaultAllowedRoleRefs)
	return Tenancy{NamespacedKinds: kinds, AllowedRoleRefs: refs}
}

// ParseNamespacedKinds reads `Kind.group` entries (core kinds as `Kind`), comma-separated.
func ParseNamespacedKinds(value string) ([]schema.GroupKind, error) {
	var kinds []schema.GroupKind
	for entry := range strings.SplitSeq(value, ",") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		gk := schema.ParseGroupKind(entry)
		if gk.Kind == "" || strings.ContainsAny(entry, "/ ") {
			return nil, fmt.Errorf("%q is not a kind: expected Kind.group, or Kind for the core group (ServiceAccount, RoleBinding.rbac.authorization.k8s.io)", entry)
		}
		kinds = append(kinds, gk)
	}
	return kinds, nil
}

// ParseAllowedRoleRefs reads `ClusterRole/<name>` and `Role/<name>` entries, comma-separated.
func ParseAllowedRoleRefs(value string) ([]RoleRef, error) {
	var refs []RoleRef
	for entry := range strings.SplitSeq(value, ",") {
		if entry = strings.TrimSpace(entry); entry == "" {
			continue
		}
		kind, name, ok := strings.Cut(entry, "/")
		if !ok || name == "" || (kind != "ClusterRole" && kind != "Role") {
			return nil, fmt.Errorf("%q is not a role: expected ClusterRole/<name> or Role/<name>", entry)
		}
		refs = append(refs, RoleRef{Kind: kind, Name: name})
	}
	return refs, nil
}

// errTargetNotAllowed marks an object a policy may not render; only its author can fix it.
var errTargetNotAllowed = errors.New("not allowed")

// targetNotAllowed is a refusal naming the object and the rule it breaks.
func targetNotAllowed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errTargetNotAllowed, fmt.Sprintf(format, args...))
}

var roleBindingKind = schema.GroupKind{Group: rbacv1.GroupName, Kind: "RoleBinding"}

// placeObject sets a rendered object's namespace as its policy's scope says, or refuses
// it. A ProvisioningPolicy's objects go into its own namespace and must be of an allowed
// kind (and role); a cluster policy's go where they say, else into the Associate's
// namespace. A kind that the API server does not serve is an error a retry may fix.
func (s objectScope) place(p *policy, obj *unstructured.Unstructured, associateNamespace string) error {
	gvk := obj.GroupVersionKind()
	describe := describeObject(obj)
	if !p.id.cluster() {
		if !slices.Contains(s.Tenancy.NamespacedKinds, gvk.GroupKind()) {
			return targetNotAllowed("%s: a ProvisioningPolicy may render only the kinds %s (--namespaced-policy-kinds); other kinds take a ClusterProvisioningPolicy",
				describe, formatGroupKinds(s.Tenancy.NamespacedKinds))
		}
	}
	mapping, err := s.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("the API server serves no kind %s in %s: %w", gvk.Kind, gvk.GroupVersion(), err)
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		if !p.id.cluster() {
			return targetNotAllowed("%s is cluster-scoped: only a ClusterProvisioningPolicy renders cluster-scoped objects", describe)
		}
		obj.SetNamespace("")
		return nil
	}
	home := associateNamespace
	if !p.id.cluster() {
		home = p.id.namespace
	}
	switch ns := obj.GetNamespace(); {
	case ns == "":
		obj.SetNamespace(home)
	case ns != home && !p.id.cluster():
		return targetNotAllowed("%s is in namespace %s: a ProvisioningPolicy renders only into its own namespace %s", describe, ns, home)
	}
	if !p.id.cluster() && gvk.GroupKind() == roleBindingKind {
		return s.checkRoleRef(obj)
	}
	return nil
}

// checkRoleRef refuses a ProvisioningPolicy's RoleBinding to a role not in --allowed-role-refs:
// the API server lets the operator bind any role whose permissions it holds, and it holds
// far more than any tenant should be handed.
func (s objectScope) checkRoleRef(obj *unstructured.Unstructured) error {
	group, _, _ := unstructured.NestedString(obj.Object, "roleRef", "apiGroup")
	kind, _, _ := unstructured.NestedString(obj.Object, "roleRef", "kind")
	name, _, _ := unstructured.NestedString(obj.Object, "roleRef", "name")
	ref := RoleRef{Kind: kind, Name: name}
	if group == rbacv1.GroupName && slices.Contains(s.Tenancy.AllowedRoleRefs, ref) {
		return nil
	}
	allowed := make([]string, 0, len(s.Tenancy.AllowedRoleRefs))
	for _, a := range s.Tenancy.AllowedRoleRefs {
		allowed = append(allowed, a.String())
	}
	return targetNotAllowed("%s binds %s: a ProvisioningPolicy may bind only %s (--allowed-role-refs)",
		describeObject(obj), ref, strings.Join(allowed, ", "))
}

func formatGroupKinds(kinds []schema.GroupKind) string {
	names := make([]string, 0, len(kinds))
	for _, gk := range kinds {
		names = append(names, gk.String())
	}
	return strings.Join(names, ", ")
}

// describeObject names a rendered object in messages: `RoleBinding kube-system/name`.
func describeObject(obj *unstructured.Unstructured) string {
	return describeEntry(superofficev1alpha1.ProvisionedObject{Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()})
}
