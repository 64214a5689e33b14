package v1alpha1_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// One HTTP action may hold a worker (and an action slot) for at most 30 seconds.
func TestHTTPActionTimeoutIsAtMost30Seconds(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	policy := func(name string, seconds int32) *v1alpha1.ProvisioningPolicy {
		return &v1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.ProvisioningPolicySpec{HTTP: []v1alpha1.HTTPAction{{HTTPCall: v1alpha1.HTTPCall{Name: "hook", URL: "https://example.test/", TimeoutSeconds: seconds}}}}}
	}
	if err := k8s.Create(ctx, policy("thirty", 30)); err != nil {
		t.Fatalf("expected timeoutSeconds 30 to be accepted, got %v", err)
	}
	expectInvalid(t, k8s.Create(ctx, policy("thirty-one", 31)), "timeoutSeconds")
}
