package testenv

import (
	"fmt"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WaitAllowed waits until the API server lets user (in groups) create each of resources
// of group in namespace: its RBAC cache follows new bindings a moment later, so a test
// that acts as the user right after binding it may otherwise be refused. admin asks, with
// a SubjectAccessReview.
func WaitAllowed(t testing.TB, admin client.Client, user string, groups []string, namespace, group string, resources ...string) {
	t.Helper()
	Eventually(t, time.Minute, fmt.Sprintf("%s's grants in effect in %s", user, namespace), func() error {
		for _, resource := range resources {
			review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "create", Group: group, Resource: resource},
			}}
			if err := admin.Create(t.Context(), review); err != nil {
				return err
			}
			if !review.Status.Allowed {
				return fmt.Errorf("%s may not yet create %s", user, resource)
			}
		}
		return nil
	})
}
