package controllers

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestCheckOwnerTouchesOnlyThePoliciesOwnObjects(t *testing.T) {
	id := policyID{kind: superofficev1alpha1.PolicyKindNamespaced, namespace: "team-a", name: "accounts"}
	associateRef := metav1.OwnerReference{APIVersion: superofficev1alpha1.GroupVersion.String(), Kind: "Associate", Name: "cust1-1", UID: "u"}
	applied := metav1.ManagedFieldsEntry{Manager: superofficev1alpha1.FieldManager + "/cust1-1", Operation: metav1.ManagedFieldsOperationApply}
	object := func(labels, annotations map[string]string, refs []metav1.OwnerReference, managers ...metav1.ManagedFieldsEntry) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetKind("ServiceAccount")
		u.SetNamespace("team-a")
		u.SetName("person-1")
		u.SetLabels(labels)
		u.SetAnnotations(annotations)
		u.SetOwnerReferences(refs)
		u.SetManagedFields(managers)
		return u
	}
	ours := map[string]string{superofficev1alpha1.LabelManagedBy: superofficev1alpha1.LabelManagedByValue}
	tests := []struct {
		name string
		live *unstructured.Unstructured
		ok   bool
	}{
		{"both markers name the policy", object(ours, map[string]string{superofficev1alpha1.AnnotationPolicy: id.String()}, nil), true},
		{"another policy's object", object(ours, map[string]string{superofficev1alpha1.AnnotationPolicy: "ClusterProvisioningPolicy/audit"}, nil), false},
		{"the annotation without the label", object(nil, map[string]string{superofficev1alpha1.AnnotationPolicy: id.String()}, nil), false},
		{"no markers: not the operator's", object(nil, nil, nil), false},
		{"applied by the operator before the markers existed", object(nil, nil, []metav1.OwnerReference{associateRef}, applied), true},
		{"the operator's field manager written by someone, without an Associate owning it", object(nil, nil, nil, applied), false},
		{"an Associate's ownerReference without the operator's field manager", object(nil, nil, []metav1.OwnerReference{associateRef},
			metav1.ManagedFieldsEntry{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOwner(tt.live, id)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, errObjectConflict)) {
				t.Fatalf("checkOwner = %v, want the object taken for the policy's: %v", err, tt.ok)
			}
		})
	}
}
