package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestPolicyMatches(t *testing.T) {
	employee := func(mutate func(*superofficev1alpha1.Associate)) *superofficev1alpha1.Associate {
		a := &superofficev1alpha1.Associate{
			ObjectMeta: metav1.ObjectMeta{Name: "cust1-7", Namespace: "crm", Labels: map[string]string{"team": "sales"}},
			Spec:       superofficev1alpha1.AssociateSpec{Tenant: "Cust1", AssociateID: 7, PersonID: 3, Type: superofficev1alpha1.AssociateTypeEmployee},
		}
		if mutate != nil {
			mutate(a)
		}
		return a
	}
	policy := func(mutate func(*superofficev1alpha1.ProvisioningPolicySpec)) *superofficev1alpha1.ProvisioningPolicy {
		p := &superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "crm"}}
		if mutate != nil {
			mutate(&p.Spec)
		}
		return p
	}
	now := metav1.Now()
	tests := []struct {
		name    string
		policy  *superofficev1alpha1.ProvisioningPolicy
		assoc   *superofficev1alpha1.Associate
		want    bool
		wantErr bool
	}{
		{"an Employee matches a policy without types", policy(nil), employee(nil), true, false},
		{"a Resource does not match the default types", policy(nil),
			employee(func(a *superofficev1alpha1.Associate) { a.Spec.Type = superofficev1alpha1.AssociateTypeResource }), false, false},
		{"a Resource matches a policy listing Resource",
			policy(func(s *superofficev1alpha1.ProvisioningPolicySpec) {
				s.Types = []superofficev1alpha1.AssociateType{superofficev1alpha1.AssociateTypeResource}
			}),
			employee(func(a *superofficev1alpha1.Associate) { a.Spec.Type = superofficev1alpha1.AssociateTypeResource }), true, false},
		{"an Associate without a type matches nothing by default", policy(nil),
			employee(func(a *superofficev1alpha1.Associate) { a.Spec.Type = "" }), false, false},
		{"another namespace never matches", policy(nil),
			employee(func(a *superofficev1alpha1.Associate) { a.Namespace = "other" }), false, false},
		{"a retired Associate does not match", policy(nil),
			employee(func(a *superofficev1alpha1.Associate) { a.Spec.Retired = true }), false, false},
		{"a retired Associate matches with includeRetired",
			policy(func(s *superofficev1alpha1.ProvisioningPolicySpec) { s.IncludeRetired = true }),
			employee(func(a *superofficev1alpha1.Associate) { a.Spec.Retired = true }), true, false},
		{"an Associate waiting for approval does not match", policy(nil),
			employee(func(a *superofficev1alpha1.Associate) { a.Spec.WaitingForApproval = true }), false, false},
		{"an Associate waiting for approval matches with includeWaitingForApproval",
			policy(func(s *superofficev1alpha1.ProvisioningPolicySpec) { s.IncludeWaitingForApproval = true }),
			employee(func(a *superofficev1alpha1.Associate) { a.Spec.WaitingForApproval = true }), true, false},
		{"an Associate being deleted matches nothing", policy(nil),
			employee(func(a *superofficev1alpha1.Associate) { a.DeletionTimestamp = &now }), false, false},
		{"the selector selects by label",
			policy(func(s *superofficev1alpha1.ProvisioningPolicySpec) {
				s.AssociateSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "sales"}}
			}), employee(nil), true, false},
		{"the selector leaves out other labels",
			policy(func(s *superofficev1alpha1.ProvisioningPolicySpec) {
				s.AssociateSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "support"}}
			}), employee(nil), false, false},
		{"an empty selector selects all",
			policy(func(s *superofficev1alpha1.ProvisioningPolicySpec) { s.AssociateSelector = &metav1.LabelSelector{} }),
			employee(nil), true, false},
		{"an invalid selector is an error",
			policy(func(s *superofficev1alpha1.ProvisioningPolicySpec) {
				s.AssociateSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}}
			}), employee(nil), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := policyMatches(namespacedPolicy(tt.policy), tt.assoc, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("policyMatches error = %v, expected an error: %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("policyMatches = %v, expected %v", got, tt.want)
			}
		})
	}
}

func TestClusterPolicyMatchesTheNamespacesItSelects(t *testing.T) {
	assoc := &superofficev1alpha1.Associate{
		ObjectMeta: metav1.ObjectMeta{Name: "cust1-7", Namespace: "team-a"},
		Spec:       superofficev1alpha1.AssociateSpec{Tenant: "Cust1", AssociateID: 7, Type: superofficev1alpha1.AssociateTypeEmployee},
	}
	policy := func(selector *metav1.LabelSelector) *policy {
		return clusterPolicy(&superofficev1alpha1.ClusterProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "accounts"},
			Spec: superofficev1alpha1.ClusterProvisioningPolicySpec{NamespaceSelector: selector}})
	}
	crm := map[string]string{"crm": "true"}
	tests := []struct {
		name            string
		selector        *metav1.LabelSelector
		namespaceLabels map[string]string
		want, wantErr   bool
	}{
		{"no namespaceSelector selects every namespace", nil, nil, true, false},
		{"an empty namespaceSelector selects every namespace", &metav1.LabelSelector{}, nil, true, false},
		{"a namespace with the label is selected", &metav1.LabelSelector{MatchLabels: crm}, crm, true, false},
		{"a namespace without the label is not", &metav1.LabelSelector{MatchLabels: crm}, map[string]string{"other": "x"}, false, false},
		{"an invalid namespaceSelector is an error",
			&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "crm", Operator: "Near"}}}, crm, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := policyMatches(policy(tt.selector), assoc, tt.namespaceLabels)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("policyMatches = %v, %v; expected %v and an error: %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
