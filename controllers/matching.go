package controllers

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// defaultPolicyTypes is what a policy without spec.types applies to.
var defaultPolicyTypes = []superofficev1alpha1.AssociateType{superofficev1alpha1.AssociateTypeEmployee}

// policyMatches tells whether a policy applies to an Associate: same namespace, selected
// labels, one of the policy's types, and neither retired nor waiting for approval unless
// the policy includes those. An Associate being deleted matches nothing. The error is an
// invalid associateSelector, which only the policy's author can fix.
func policyMatches(policy *superofficev1alpha1.ProvisioningPolicy, assoc *superofficev1alpha1.Associate) (bool, error) {
	if policy.Namespace != assoc.Namespace || !assoc.DeletionTimestamp.IsZero() {
		return false, nil
	}
	types := policy.Spec.Types
	if len(types) == 0 {
		types = defaultPolicyTypes
	}
	if !slices.Contains(types, assoc.Spec.Type) {
		return false, nil
	}
	if assoc.Spec.Retired && !policy.Spec.IncludeRetired {
		return false, nil
	}
	if assoc.Spec.WaitingForApproval && !policy.Spec.IncludeWaitingForApproval {
		return false, nil
	}
	selector, err := policySelector(policy)
	if err != nil {
		return false, err
	}
	return selector.Matches(labels.Set(assoc.Labels)), nil
}

// policySelector turns spec.associateSelector into a selector; absent selects everything.
func policySelector(policy *superofficev1alpha1.ProvisioningPolicy) (labels.Selector, error) {
	if policy.Spec.AssociateSelector == nil {
		return labels.Everything(), nil
	}
	selector, err := metav1.LabelSelectorAsSelector(policy.Spec.AssociateSelector)
	if err != nil {
		return nil, fmt.Errorf("policy %s: spec.associateSelector is not a valid label selector: %w", policy.Name, err)
	}
	return selector, nil
}
