package secrets

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestReferencesAreEverySecretAReceiverOrPolicyReads(t *testing.T) {
	key := func(ns, name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }
	receiver := &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "so"},
		Spec: superofficev1alpha1.WebhookReceiverSpec{
			SecretRef: superofficev1alpha1.SecretKeysReference{Name: "hook"},
			API:       &superofficev1alpha1.SuperOfficeAPI{CredentialsSecretRef: superofficev1alpha1.LocalSecretReference{Name: "creds"}},
		}}
	policy := &superofficev1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "p"}}
	policy.Spec.HTTP = []superofficev1alpha1.HTTPAction{{
		SigningSecretRef: &superofficev1alpha1.SecretKeyReference{Name: "sign", Key: "k"},
		HeadersFrom:      []superofficev1alpha1.HeaderFromSecret{{Name: "Authorization", SecretKeyRef: superofficev1alpha1.SecretKeyReference{Name: "token", Key: "t"}}},
	}}
	cluster := &superofficev1alpha1.ClusterProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "c"}}
	cluster.Spec.HTTP = []superofficev1alpha1.ClusterHTTPAction{{
		SigningSecretRef: &superofficev1alpha1.NamespacedSecretKeyReference{Name: "sign", Key: "k", Namespace: "ops"},
		HeadersFrom: []superofficev1alpha1.ClusterHeaderFromSecret{{Name: "Authorization",
			SecretKeyRef: superofficev1alpha1.NamespacedSecretKeyReference{Name: "token", Key: "t", Namespace: "vault"}}},
	}}
	for _, tt := range []struct {
		name      string
		got, want []types.NamespacedName
	}{
		{"a receiver: signing keys and API credentials", ReceiverSecrets(receiver), []types.NamespacedName{key("acc", "hook"), key("acc", "creds")}},
		{"a policy: signingSecretRef and headersFrom, in its namespace", PolicySecrets(policy), []types.NamespacedName{key("acc", "sign"), key("acc", "token")}},
		{"a cluster policy: the namespaces its refs name", ClusterPolicySecrets(cluster), []types.NamespacedName{key("ops", "sign"), key("vault", "token")}},
	} {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s: want %v, got %v", tt.name, tt.want, tt.got)
		}
	}
}
