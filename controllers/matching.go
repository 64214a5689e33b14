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

// policyMatches tells whether a policy applies to an Associate: a namespace it selects
// (a ProvisioningPolicy: its own), selected labels, one of the policy's types, and neither
// retired nor waiting for approval unless the policy includes those. An Associate being
// deleted matches nothing. The error is an invalid selector, which only the policy's
// author can fix.
func policyMatches(p *policy, assoc *superofficev1alpha1.Associate, namespaceLabels map[string]string) (bool, error) {
	if !assoc.DeletionTimestamp.IsZero() {
		return false, nil
	}
	if selected, err := p.selectsNamespace(assoc.Namespace, namespaceLabels); err != nil || !selected {
		return false, err
	}
	types := p.spec.Types
	if len(types) == 0 {
		types = defaultPolicyTypes
	}
	if !slices.Contains(types, assoc.Spec.Type) {
		return false, nil
	}
	if assoc.Spec.Retired && !p.spec.IncludeRetired {
		return false, nil
	}
	if assoc.Spec.WaitingForApproval && !p.spec.IncludeWaitingForApproval {
		return false, nil
	}
	selector, err := policySelector(p)
	if err != nil {
		return false, err
	}
	return selector.Matches(labels.Set(assoc.Labels)), nil
}

// policySelector turns spec.associateSelector into a selector; absent selects everything.
func policySelector(p *policy) (labels.Selector, error) {
	if p.spec.AssociateSelector == nil {
		return labels.Everything(), nil
	}
	selector, err := metav1.LabelSelectorAsSelector(p.spec.AssociateSelector)
	if err != nil {
		return nil, fmt.Errorf("%s: spec.associateSelector is not a valid label selector: %w", p.id.describe(), err)
	}
	return selector, nil
}

// checkSelectors reports the first invalid selector of a policy.
func checkSelectors(p *policy) error {
	if _, err := policySelector(p); err != nil {
		return err
	}
	_, err := p.selectsNamespace("", nil)
	return err
}
