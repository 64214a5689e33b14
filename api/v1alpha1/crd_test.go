package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/testenv"
)

var k8s client.Client

func TestMain(m *testing.M) {
	env, err := testenv.New()
	if err != nil {
		panic(err)
	}
	cfg, err := env.Start()
	if err != nil {
		panic(err)
	}
	k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crd-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func TestSamplesAreAccepted(t *testing.T) {
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	created := 0
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		objects, err := testenv.DecodeFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range objects {
			if obj.GetKind() == "Ingress" {
				continue // needs no CRD; checked by kubectl kustomize
			}
			if err := k8s.Create(ctx, obj); err != nil {
				t.Errorf("the API server refused %s %s from %s: %v", obj.GetKind(), obj.GetName(), filepath.Base(file), err)
				continue
			}
			created++
		}
	}
	if created < 4 {
		t.Errorf("created %d sample objects, want at least a Secret, WebhookReceiver, ProvisioningPolicy and Associate", created)
	}
}

func validAssociate(ns string) *v1alpha1.Associate {
	return &v1alpha1.Associate{
		ObjectMeta: metav1.ObjectMeta{Name: "cust1234-141424", Namespace: ns},
		Spec: v1alpha1.AssociateSpec{
			Tenant: "Cust1234", AssociateID: 141424, PersonID: 21, Type: v1alpha1.AssociateTypeEmployee,
		},
	}
}

func expectInvalid(t *testing.T, err error, wantInMessage string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the API server accepted the object; want it refused with %q", wantInMessage)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid error mentioning %q, got %v", wantInMessage, err)
	}
	if !strings.Contains(err.Error(), wantInMessage) {
		t.Fatalf("error %q does not say %q", err.Error(), wantInMessage)
	}
}

func TestAssociateValidation(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)

	t.Run("associateId 0 is refused", func(t *testing.T) {
		a := validAssociate(ns)
		a.Name, a.Spec.AssociateID = "cust1234-0", 0
		expectInvalid(t, k8s.Create(ctx, a), "spec.associateId")
	})
	t.Run("a type outside the enum is refused", func(t *testing.T) {
		a := validAssociate(ns)
		a.Name, a.Spec.Type = "cust1234-2", "Manager"
		expectInvalid(t, k8s.Create(ctx, a), `spec.type: Unsupported value: "Manager"`)
	})
	t.Run("associateId cannot change", func(t *testing.T) {
		a := validAssociate(ns)
		if err := k8s.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
		a.Spec.AssociateID = 141425
		expectInvalid(t, k8s.Update(ctx, a), "associateId is immutable")
	})
	t.Run("other fields can change", func(t *testing.T) {
		a := &v1alpha1.Associate{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cust1234-141424"}, a); err != nil {
			t.Fatal(err)
		}
		a.Spec.Retired, a.Spec.GroupIdx = true, 9
		if err := k8s.Update(ctx, a); err != nil {
			t.Fatalf("updating retired and groupIdx: %v", err)
		}
	})
}

func TestWebhookReceiverDefaultsAndRules(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	r := &v1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Name: "so", Namespace: ns},
		Spec:       v1alpha1.WebhookReceiverSpec{SecretRef: v1alpha1.SecretKeysReference{Name: "so-secret"}},
	}
	if err := k8s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := r.Spec.SecretRef.Keys; len(got) != 1 || got[0] != "secret" {
		t.Errorf("secretRef.keys defaulted to %v, want [secret]", got)
	}
	if r.Spec.MaxBodyBytes == nil || *r.Spec.MaxBodyBytes != 1<<20 {
		t.Errorf("maxBodyBytes defaulted to %v, want 1048576", r.Spec.MaxBodyBytes)
	}

	withAPI := &v1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Name: "so-api", Namespace: ns},
		Spec: v1alpha1.WebhookReceiverSpec{
			SecretRef: v1alpha1.SecretKeysReference{Name: "so-secret"},
			API:       &v1alpha1.SuperOfficeAPI{CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "creds"}},
		},
	}
	expectInvalid(t, k8s.Create(ctx, withAPI), "spec.tenant is required when spec.api is set")

	long := r.DeepCopy()
	long.ResourceVersion, long.Name = "", strings.Repeat("r", 64)
	expectInvalid(t, k8s.Create(ctx, long), "must be at most 63 characters")

	withAPI.Spec.Tenant = "Cust1234"
	if err := k8s.Create(ctx, withAPI); err != nil {
		t.Fatal(err)
	}
	if got := withAPI.Spec.API; got.EnvironmentURL != "https://online.superoffice.com" ||
		got.ResyncInterval == nil || got.ResyncInterval.Duration.String() != "1h0m0s" ||
		got.MaxDeletePercent == nil || *got.MaxDeletePercent != 10 {
		t.Errorf("spec.api defaults are %+v, want online.superoffice.com, 1h and 10%%", got)
	}
}

func TestProvisioningPolicyNeedsResourcesOrHTTP(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	p := &v1alpha1.ProvisioningPolicy{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: ns}}
	expectInvalid(t, k8s.Create(ctx, p), "at least one of spec.resources and spec.http")

	p.Spec.Resources = []v1alpha1.ResourceTemplate{{Template: "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n"}}
	if err := k8s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if len(p.Spec.Types) != 1 || p.Spec.Types[0] != v1alpha1.AssociateTypeEmployee || p.Spec.DeletionPolicy != v1alpha1.DeletionPolicyDelete {
		t.Errorf("defaults are types=%v deletionPolicy=%q, want [Employee] and Delete", p.Spec.Types, p.Spec.DeletionPolicy)
	}
	bad := p.DeepCopy()
	bad.ResourceVersion, bad.Name, bad.Spec.DeletionPolicy = "", "bad", "Orphan"
	expectInvalid(t, k8s.Create(ctx, bad), "spec.deletionPolicy")
}
