package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	acv1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
)

// syncStatus is the part of the receiver's status the sync controller owns.
type syncStatus struct {
	conditions   []metav1.Condition
	lastResync   *superofficev1alpha1.ResyncStatus
	registration *superofficev1alpha1.RegistrationStatus
}

// currentSyncStatus reads this controller's fields from the receiver, so that
// lastTransitionTime is kept unless a condition flips.
func currentSyncStatus(receiver *superofficev1alpha1.WebhookReceiver) syncStatus {
	return syncStatus{
		conditions:   ownedConditions(receiver.Status.Conditions, superofficev1alpha1.ConditionSynced, superofficev1alpha1.ConditionRegistered),
		lastResync:   receiver.Status.LastResync.DeepCopy(),
		registration: receiver.Status.Registration.DeepCopy(),
	}
}

// equal compares field by field: Semantic.DeepEqual cannot reach into unexported fields.
func (s syncStatus) equal(other syncStatus) bool {
	return equality.Semantic.DeepEqual(s.conditions, other.conditions) &&
		equality.Semantic.DeepEqual(s.lastResync, other.lastResync) &&
		equality.Semantic.DeepEqual(s.registration, other.registration)
}

func (s *syncStatus) set(receiver *superofficev1alpha1.WebhookReceiver, conditionType string, status metav1.ConditionStatus, reason, message string) {
	setCondition(&s.conditions, receiver.Generation, conditionType, status, reason, message)
}

func (s *syncStatus) condition(conditionType string) *metav1.Condition {
	for i := range s.conditions {
		if s.conditions[i].Type == conditionType {
			return &s.conditions[i]
		}
	}
	return nil
}

func (s *syncStatus) dropRegistration() {
	s.registration = nil
	s.conditions = ownedConditions(s.conditions, superofficev1alpha1.ConditionSynced)
}

// applyStatus writes exactly this controller's fields with server-side apply: conditions
// merge per type, and a field left out is released (and removed when nobody else owns it).
// Status that already reads as s is not written again: every receiver update reconciles,
// and a no-op apply is still a write.
func (r *webhookReceiverSyncReconciler) applyStatus(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, s syncStatus) error {
	recordReceiverConditions(client.ObjectKeyFromObject(receiver), s.conditions, superofficev1alpha1.ConditionSynced, superofficev1alpha1.ConditionRegistered)
	if s.equal(currentSyncStatus(receiver)) {
		return nil
	}
	status := acv1alpha1.WebhookReceiverStatus().WithConditions(conditionApplyConfigurations(s.conditions)...)
	if l := s.lastResync; l != nil {
		status.WithLastResync(acv1alpha1.ResyncStatus().WithTime(l.Time).WithResult(l.Result).WithListed(l.Listed).
			WithCreated(l.Created).WithUpdated(l.Updated).WithDeleted(l.Deleted).WithUnchanged(l.Unchanged).
			WithRequestedAt(l.RequestedAt))
	}
	if reg := s.registration; reg != nil {
		status.WithRegistration(acv1alpha1.RegistrationStatus().WithWebhookID(reg.WebhookID).WithState(reg.State).WithLastError(reg.LastError))
	}
	return r.client.Status().Apply(ctx, acv1alpha1.WebhookReceiver(receiver.Name, receiver.Namespace).WithStatus(status),
		client.FieldOwner(superofficev1alpha1.FieldManagerSync), client.ForceOwnership)
}
