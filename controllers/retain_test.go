package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestRetained(t *testing.T) {
	policyWith := func(p superofficev1alpha1.DeletionPolicy) *policy {
		return namespacedPolicy(&superofficev1alpha1.ProvisioningPolicy{Spec: superofficev1alpha1.ProvisioningPolicySpec{
			PolicyTemplate: superofficev1alpha1.PolicyTemplate{DeletionPolicy: p}}})
	}
	object := func(annotation string) *unstructured.Unstructured {
		obj := &unstructured.Unstructured{Object: map[string]any{}}
		if annotation != "" {
			obj.SetAnnotations(map[string]string{superofficev1alpha1.AnnotationDeletionPolicy: annotation})
		}
		return obj
	}
	tests := []struct {
		name   string
		policy *policy
		obj    *unstructured.Unstructured
		want   bool
	}{
		{"a Retain policy retains", policyWith(superofficev1alpha1.DeletionPolicyRetain), object(""), true},
		{"a Delete policy deletes, whatever the object says", policyWith(superofficev1alpha1.DeletionPolicyDelete), object("Retain"), false},
		{"the default policy deletes", policyWith(""), object(""), false},
		{"a deleted policy's object applied under Retain is retained", nil, object("Retain"), true},
		{"a deleted policy's object without the annotation is deleted", nil, object(""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retained(tt.policy, tt.obj); got != tt.want {
				t.Fatalf("expected retained = %v, got %v", tt.want, got)
			}
		})
	}
}
