package controllers

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// setCondition is the one way conditions are written: it always stamps the object's
// generation as observedGeneration, and meta.SetStatusCondition keeps lastTransitionTime
// unless the status flips. It reports whether anything changed.
func setCondition(conditions *[]metav1.Condition, generation int64, conditionType string,
	status metav1.ConditionStatus, reason, message string) bool {
	return meta.SetStatusCondition(conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		ObservedGeneration: generation,
		Reason:             reason,
		Message:            truncateMessage(message),
	})
}

// progress is what kstatus-based tools (Flux, Helm's --wait, cli-utils) read besides
// observedGeneration: whether the operator is still retrying, or stuck until someone acts.
type progress int

const (
	progressDone progress = iota
	progressReconciling
	progressStalled
)

// setProgress sets Reconciling or Stalled (True, with the reason and message of what holds
// the object up) and removes the other; done removes both, as they are abnormal-true
// conditions.
func setProgress(conditions *[]metav1.Condition, generation int64, p progress, reason, message string) {
	set, drop := "", []string{superofficev1alpha1.ConditionReconciling, superofficev1alpha1.ConditionStalled}
	switch p {
	case progressReconciling:
		set, drop = superofficev1alpha1.ConditionReconciling, drop[1:]
	case progressStalled:
		set, drop = superofficev1alpha1.ConditionStalled, drop[:1]
	}
	for _, conditionType := range drop {
		meta.RemoveStatusCondition(conditions, conditionType)
	}
	if set != "" {
		setCondition(conditions, generation, set, metav1.ConditionTrue, reason, message)
	}
}

// ownedConditions are the conditions of the given types, copied: what one status writer
// applies of a list that several writers share.
func ownedConditions(conditions []metav1.Condition, types ...string) []metav1.Condition {
	var owned []metav1.Condition
	for _, c := range conditions {
		if slices.Contains(types, c.Type) {
			owned = append(owned, c)
		}
	}
	return owned
}

// conditionApplyConfigurations turns conditions into what server-side apply sends.
func conditionApplyConfigurations(conditions []metav1.Condition) []*metav1ac.ConditionApplyConfiguration {
	out := make([]*metav1ac.ConditionApplyConfiguration, 0, len(conditions))
	for _, c := range conditions {
		out = append(out, metav1ac.Condition().WithType(c.Type).WithStatus(c.Status).
			WithObservedGeneration(c.ObservedGeneration).WithLastTransitionTime(c.LastTransitionTime).
			WithReason(c.Reason).WithMessage(c.Message))
	}
	return out
}

// truncateMessage keeps a condition message under the API's 32768-byte limit.
func truncateMessage(message string) string {
	const limit = 32 * 1024
	if len(message) <= limit {
		return message
	}
	return message[:limit-3] + "..."
}
