package controllers

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// The operator never takes over or deletes an object it did not create, and one policy
// never changes or deletes another's: every applied object carries the markers, and an
// existing object is touched only when its markers name the same policy.

// errObjectConflict marks an existing object that is not this policy's.
var errObjectConflict = errors.New("object conflict")

// setMarkers labels an object as the operator's and annotates it with its policy.
func setMarkers(obj *unstructured.Unstructured, id policyID) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[superofficev1alpha1.LabelManagedBy] = superofficev1alpha1.LabelManagedByValue
	obj.SetLabels(labels)
	setAnnotation(obj, superofficev1alpha1.AnnotationPolicy, id.String())
}

// checkOwner tells whether the live object is the policy's to change and delete. Objects
// applied before the markers existed carry none, but the operator's field managers in
// their managedFields tell them apart; the next apply marks them.
func checkOwner(live *unstructured.Unstructured, id policyID) error {
	madeBy := live.GetAnnotations()[superofficev1alpha1.AnnotationPolicy]
	managedBy := live.GetLabels()[superofficev1alpha1.LabelManagedBy]
	switch {
	case madeBy == id.String() && managedBy == superofficev1alpha1.LabelManagedByValue:
		return nil
	case madeBy == "" && appliedByOperator(live):
		return nil
	case madeBy != "" && madeBy != id.String():
		return fmt.Errorf("%w: %s exists and was made by %s; %s leaves it alone",
			errObjectConflict, describeObject(live), madeBy, id.describe())
	default:
		return fmt.Errorf("%w: %s exists and was not made by the operator (no %s: %s label); it is never changed or deleted",
			errObjectConflict, describeObject(live), superofficev1alpha1.LabelManagedBy, superofficev1alpha1.LabelManagedByValue)
	}
}

// appliedByOperator: one of the operator's per-Associate field managers applied the
// object, and it is owned by an Associate, as everything was that releases before the
// markers provisioned (they wrote only into the Associate's namespace). Both are needed:
// a client can write managedFields, but an object it did so on without an Associate's
// ownerReference is still not taken for the operator's.
func appliedByOperator(live *unstructured.Unstructured) bool {
	owned := false
	for _, ref := range live.GetOwnerReferences() {
		if ref.Kind == "Associate" && ref.APIVersion == superofficev1alpha1.GroupVersion.String() {
			owned = true
		}
	}
	if !owned {
		return false
	}
	for _, entry := range live.GetManagedFields() {
		if entry.Operation == "Apply" && strings.HasPrefix(entry.Manager, superofficev1alpha1.FieldManager+"/") {
			return true
		}
	}
	return false
}
