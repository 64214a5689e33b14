package apiclient

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/secrets"
	"github.com/assocsync/associate-operator/internal/superoffice"
	"github.com/assocsync/associate-operator/internal/superoffice/fake"
)

func receiverFor(envURL, tenant string) *superofficev1alpha1.WebhookReceiver {
	return &superofficev1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "so", UID: "uid-1"},
		Spec: superofficev1alpha1.WebhookReceiverSpec{
			Tenant: tenant,
			API: &superofficev1alpha1.SuperOfficeAPI{
				EnvironmentURL:       envURL,
				CredentialsSecretRef: superofficev1alpha1.LocalSecretReference{Name: "creds"},
			},
		},
	}
}

func TestCacheReusesAClientUntilItsCredentialsChangeAndEnrichFetchesTheRecord(t *testing.T) {
	so, err := fake.New(fake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	so.PutAssociate(fake.Associate{ID: 7, PersonID: 70, GroupID: 3, TypeCode: 1, Retired: true})
	srv := httptest.NewServer(so)
	t.Cleanup(srv.Close)

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	creds := so.Credentials()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "creds"}, Data: map[string][]byte{
		KeyApplicationToken: []byte(creds.ApplicationToken), KeySystemUserToken: []byte(creds.SystemUserToken), KeyPrivateKey: creds.PrivateKeyPEM,
	}}
	reader := clientfake.NewClientBuilder().WithScheme(scheme).Build()
	cache := NewCache(secrets.FromClient(reader))
	ctx := context.Background()
	receiver := receiverFor(srv.URL, so.Tenant())

	if _, err := cache.For(ctx, receiver); !errors.Is(err, ErrCredentialsNotFound) {
		t.Fatalf("without the Secret: want ErrCredentialsNotFound, got %v", err)
	}
	if err := reader.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	first, err := cache.For(ctx, receiver)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := cache.For(ctx, receiver); again != first {
		t.Error("unchanged inputs: want the same client (and its ticket) again, got a new one")
	}
	f, err := cache.Enrich(ctx, receiver, 7)
	if err != nil {
		t.Fatal(err)
	}
	if *f.PersonID != 70 || *f.GroupIdx != 3 || f.TypeCode == nil || *f.TypeCode != 1 || !*f.Retired {
		t.Errorf("Enrich: want person 70, group 3, type 1, retired; got %+v", f)
	}

	secret.Data[KeyTicket] = []byte("rotated")
	if err := reader.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if next, _ := cache.For(ctx, receiver); next == first {
		t.Error("a changed credentials Secret: want a new client, got the old one")
	}
	if err := reader.Delete(ctx, secret, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.For(ctx, receiver); !errors.Is(err, ErrCredentialsNotFound) {
		t.Errorf("after the Secret is deleted: want ErrCredentialsNotFound, got %v", err)
	}
}

func TestAPlainHTTPEnvironmentIsRefusedAsAnEndpointNotAsCredentials(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "creds"}, Data: map[string][]byte{KeyTicket: []byte("7T:x")}}
	cache := NewCache(secrets.FromClient(clientfake.NewClientBuilder().WithScheme(scheme).WithObjects(secret).Build()))
	_, err := cache.For(context.Background(), receiverFor("http://online.superoffice.com", "Cust1"))
	if !superoffice.IsEndpointNotAllowed(err) || errors.Is(err, ErrInvalidCredentials) || !strings.Contains(err.Error(), "environmentURL") {
		t.Fatalf("want an endpoint refusal naming environmentURL (not ErrInvalidCredentials), got %v", err)
	}
}
