package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/operator"
	"github.com/assocsync/associate-operator/internal/testenv"
)

const (
	waitTimeout = time.Minute
	otherOwner  = "example.com/keep" // someone else's finalizer: cleanup must leave it
)

type suite struct {
	c   client.Client
	ctx context.Context
}

func (s *suite) create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := s.c.Create(s.ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func associate(namespace string, id int64, finalizers ...string) *superofficev1alpha1.Associate {
	return &superofficev1alpha1.Associate{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("cust1234-%d", id), Finalizers: finalizers},
		Spec:       superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: id, PersonID: id + 1000, Type: superofficev1alpha1.AssociateTypeEmployee},
	}
}

// state is "gone", or the object's finalizers, and whether it is being deleted.
func (s *suite) state(t *testing.T, obj client.Object) string {
	t.Helper()
	current := obj.DeepCopyObject().(client.Object)
	err := s.c.Get(s.ctx, client.ObjectKeyFromObject(obj), current)
	switch {
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return "gone"
	case err != nil:
		t.Fatal(err)
	}
	deleting := ""
	if current.GetDeletionTimestamp() != nil {
		deleting = "deleting "
	}
	return deleting + fmt.Sprint(current.GetFinalizers())
}

func (s *suite) eventually(t *testing.T, obj client.Object, want string) {
	t.Helper()
	testenv.Eventually(t, waitTimeout, fmt.Sprintf("%T %s/%s", obj, obj.GetNamespace(), obj.GetName()), func() error {
		if got := s.state(t, obj); got != want {
			return fmt.Errorf("want %s, got %s", want, got)
		}
		return nil
	})
}

func (s *suite) run(t *testing.T, opts options) (string, error) {
	t.Helper()
	var out bytes.Buffer
	if opts.timeout == 0 {
		opts.timeout = waitTimeout
	}
	err := cleanup(s.ctx, s.c, opts, &out)
	return out.String(), err
}

func TestCleanupLetsTheObjectsOfANamespaceBeingDeletedGoAfterUninstall(t *testing.T) {
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{c: c, ctx: t.Context()}

	// What an uninstalled operator leaves: Associates and a receiver with its finalizers.
	for _, ns := range []string{"team-a", "team-b", "associate-operator-system"} {
		s.create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	plain := associate("team-a", 1, superofficev1alpha1.FinalizerDeprovision)
	shared := associate("team-a", 2, superofficev1alpha1.FinalizerDeprovision, otherOwner)
	receiver := &superofficev1alpha1.WebhookReceiver{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "so", Finalizers: []string{superofficev1alpha1.FinalizerWebhookRegistration}},
		Spec:       superofficev1alpha1.WebhookReceiverSpec{SecretRef: superofficev1alpha1.SecretKeysReference{Name: "so-secret"}},
	}
	policy := &superofficev1alpha1.ProvisioningPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "accounts"},
		Spec: superofficev1alpha1.ProvisioningPolicySpec{PolicyTemplate: superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{
			{Template: "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n"}}}},
	}
	elsewhere := associate("team-b", 3, superofficev1alpha1.FinalizerDeprovision)
	for _, obj := range []client.Object{plain, shared, receiver, policy, elsewhere} {
		s.create(t, obj)
	}
	// `kubectl delete namespace team-a`: envtest runs no namespace controller, so delete
	// its objects as that controller would. Without the operator they stay.
	if err := c.Delete(s.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{plain, shared, receiver} {
		if err := c.Delete(s.ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.state(t, plain); got != "deleting ["+superofficev1alpha1.FinalizerDeprovision+"]" {
		t.Fatalf("before the cleanup: want Associate 1 stuck on its finalizer, got %s", got)
	}

	t.Run("it refuses while a manager renews its Lease", func(t *testing.T) {
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: "associate-operator-system", Name: operator.LeaderElectionID},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("manager-1"), RenewTime: &metav1.MicroTime{Time: time.Now()}},
		}
		s.create(t, lease)
		_, err := s.run(t, options{})
		if err == nil || !strings.Contains(err.Error(), "a manager still runs") || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("want a refusal naming the running manager and --force, got %v", err)
		}
		if got := s.state(t, plain); !strings.Contains(got, superofficev1alpha1.FinalizerDeprovision) {
			t.Fatalf("a refused cleanup must change nothing, Associate 1 is %s", got)
		}
		// The manager stopped renewing long ago: no longer a reason to refuse.
		lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now().Add(-time.Hour)}
		if err := c.Update(s.ctx, lease); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a dry run changes nothing", func(t *testing.T) {
		out, err := s.run(t, options{dryRun: true, deleteCRDs: true})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "(dry run) removing finalizer "+superofficev1alpha1.FinalizerDeprovision+" from Associate team-a/cust1234-1") {
			t.Errorf("want the dry run to say what it would remove, got:\n%s", out)
		}
		for obj, want := range map[client.Object]string{
			plain:     "deleting [" + superofficev1alpha1.FinalizerDeprovision + "]",
			receiver:  "deleting [" + superofficev1alpha1.FinalizerWebhookRegistration + "]",
			elsewhere: "[" + superofficev1alpha1.FinalizerDeprovision + "]",
			policy:    "[]",
		} {
			if got := s.state(t, obj); got != want {
				t.Errorf("%s: a dry run must change nothing: want %s, got %s", obj.GetName(), want, got)
			}
		}
	})

	t.Run("only the operator's finalizers go, and the objects being deleted with them", func(t *testing.T) {
		out, err := s.run(t, options{})
		if err != nil {
			t.Fatalf("cleanup: %v\n%s", err, out)
		}
		s.eventually(t, plain, "gone")
		s.eventually(t, receiver, "gone")
		s.eventually(t, shared, "deleting ["+otherOwner+"]")
		s.eventually(t, elsewhere, "[]") // not being deleted: it stays, without the operator's finalizer
		s.eventually(t, policy, "[]")
		if !strings.Contains(out, "removing finalizer "+superofficev1alpha1.FinalizerWebhookRegistration+" from WebhookReceiver team-a/so") {
			t.Errorf("want the output to name each finalizer removed, got:\n%s", out)
		}
	})

	t.Run("--delete-crds deletes every object and the CRDs", func(t *testing.T) {
		// The other owner lets go of its finalizer too.
		if err := c.Patch(s.ctx, shared, client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
			t.Fatal(err)
		}
		cluster := &superofficev1alpha1.ClusterProvisioningPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "everyone"},
			Spec: superofficev1alpha1.ClusterProvisioningPolicySpec{PolicyTemplate: superofficev1alpha1.PolicyTemplate{Resources: []superofficev1alpha1.ResourceTemplate{
				{Template: "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n"}}}},
		}
		s.create(t, cluster)
		again := associate("team-b", 4, superofficev1alpha1.FinalizerDeprovision) // not being deleted, with the finalizer
		s.create(t, again)

		out, err := s.run(t, options{deleteCRDs: true})
		if err != nil {
			t.Fatalf("cleanup --delete-crds: %v\n%s", err, out)
		}
		for _, obj := range []client.Object{shared, elsewhere, again, policy, cluster} {
			if got := s.state(t, obj); got != "gone" {
				t.Errorf("%T %s: want it deleted, got %s", obj, obj.GetName(), got)
			}
		}
		crds := &metav1.PartialObjectMetadataList{}
		crds.SetGroupVersionKind(crdGVK.GroupVersion().WithKind("CustomResourceDefinitionList"))
		if err := c.List(s.ctx, crds); err != nil {
			t.Fatal(err)
		}
		for _, crd := range crds.Items {
			if strings.HasSuffix(crd.Name, crdSuffix) {
				t.Errorf("want CRD %s deleted, it exists", crd.Name)
			}
		}
		if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return strings.HasPrefix(l, "deleting CustomResourceDefinition associates.") }) {
			t.Errorf("want the output to name the CRDs deleted, got:\n%s", out)
		}
	})
}
