package v1alpha1_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestSuperOfficeEndpointsMustBeHTTPSExceptOnLoopback(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	receiver := func(i int, env, url, target string) *v1alpha1.WebhookReceiver {
		r := &v1alpha1.WebhookReceiver{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("so-%d", i), Namespace: ns},
			Spec: v1alpha1.WebhookReceiverSpec{
				SecretRef: v1alpha1.SecretKeysReference{Name: "so-secret"},
				Tenant:    "Cust1234",
				API:       &v1alpha1.SuperOfficeAPI{EnvironmentURL: env, URL: url, CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "creds"}},
			},
		}
		if target != "" {
			r.Spec.Registration = &v1alpha1.WebhookRegistration{Enabled: true, TargetURL: target}
		}
		return r
	}
	tests := []struct {
		name             string
		env, url, target string
		refused          string // "" when the API server must accept it
	}{
		{"https everywhere", "https://sod.superoffice.com", "https://sod2.superoffice.com/Cust1234/api", "https://hooks.example.com/webhooks/a/b", ""},
		{"plain http on loopback hosts", "http://127.0.0.1:8090", "http://localhost:8090/Cust1234/api", "http://[::1]:8082/webhooks/a/b", ""},
		{"plain http environment", "http://online.superoffice.com", "", "", "environmentURL must be an https URL"},
		{"plain http url", "", "http://online3.superoffice.com/Cust1234/api", "", "url must be an https URL"},
		{"plain http target", "", "", "http://hooks.example.com/webhooks/a/b", "targetURL must be an https URL"},
		{"plain http on a private address", "http://10.0.0.7:8090", "", "", "environmentURL must be an https URL"},
		{"not a URL", "online.superoffice.com", "", "", "environmentURL must be an https URL"},
		{"another scheme", "", "", "ftp://hooks.example.com/x", "targetURL must be an https URL"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k8s.Create(ctx, receiver(i, tt.env, tt.url, tt.target))
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("want the receiver accepted, got %v", err)
				}
				return
			}
			expectInvalid(t, err, tt.refused)
		})
	}
}
