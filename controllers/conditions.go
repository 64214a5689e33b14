package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// truncateMessage keeps a condition message under the API's 32768-byte limit.
func truncateMessage(message string) string {
	const limit = 32 * 1024
	if len(message) <= limit {
		return message
	}
	return message[:limit-3] + "..."
}
