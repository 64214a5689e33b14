package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestRetained(t *testing.T) {
	policy := func(p superofficev1alpha1.DeletionPolicy) *superofficev1alpha1.ProvisioningPolicy {
		return &superofficev1alpha1.ProvisioningPolicy{Spec: superofficev1alpha1.ProvisioningPolicySpec{DeletionPolicy: p}}
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
		policy *superofficev1alpha1.ProvisioningPolicy
		obj    *unstructured.Unstructured
		want   bool
	}{
		{"a Retain policy retains", policy(superofficev1alpha1.DeletionPolicyRetain), object(""), true},
		{"a Delete policy deletes, whatever the object says", policy(superofficev1alpha1.DeletionPolicyDelete), object("Retain"), false},
		{"the default policy deletes", policy(""), object(""), false},
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
