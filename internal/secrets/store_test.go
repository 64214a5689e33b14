package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/assocsync/associate-operator/internal/secrets"
	"github.com/assocsync/associate-operator/internal/testenv"
)

func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "secrets-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func startStore(t *testing.T) *secrets.Store {
	t.Helper()
	clients, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	store := secrets.New(clients, k8s, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = store.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return store
}

func TestTheStoreWatchesEachReferencedSecretOnceAndStopsWithTheLastReference(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	store := startStore(t)
	key := types.NamespacedName{Namespace: ns, Name: "shared"}
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shared"},
		Data: map[string][]byte{"secret": []byte("v1")}}); err != nil {
		t.Fatal(err)
	}
	store.SetReferences("WebhookReceiver/a", []types.NamespacedName{key})
	store.SetReferences("WebhookReceiver/b", []types.NamespacedName{key, key})
	if n := store.Watched(); n != 1 {
		t.Fatalf("two owners of one Secret: want 1 watch, got %d", n)
	}
	got, err := store.Get(ctx, ns, "shared")
	if err != nil || string(got.Data["secret"]) != "v1" {
		t.Fatalf("Get: want v1, got %v %v", got, err)
	}

	// A change arrives by watch, and subscribed controllers hear of it.
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	t.Cleanup(queue.ShutDown)
	srcCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	src := store.Source(handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: "receiver-of-" + o.GetName()}}}
	}))
	if err := src.Start(srcCtx, queue); err != nil {
		t.Fatal(err)
	}
	var secret corev1.Secret
	if err := k8s.Get(ctx, key, &secret); err != nil {
		t.Fatal(err)
	}
	secret.Data["secret"] = []byte("v2")
	if err := k8s.Update(ctx, &secret); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the rotated value", func() error {
		got, err := store.Get(ctx, ns, "shared")
		if err != nil {
			return err
		}
		if string(got.Data["secret"]) != "v2" {
			return fmt.Errorf("still %q", got.Data["secret"])
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "the change handed to the controller's queue", func() error {
		if queue.Len() == 0 {
			return errors.New("nothing queued")
		}
		return nil
	})

	store.SetReferences("WebhookReceiver/a", nil)
	if n := store.Watched(); n != 1 {
		t.Errorf("one owner left: want the watch kept, got %d watches", n)
	}
	store.SetReferences("WebhookReceiver/b", nil)
	if n := store.Watched(); n != 0 {
		t.Errorf("no owner left: want no watch, got %d", n)
	}
	// Not watched any more: read live, and a missing one is NotFound.
	if got, err := store.Get(ctx, ns, "shared"); err != nil || string(got.Data["secret"]) != "v2" {
		t.Errorf("an unwatched Secret: want it read live, got %v %v", got, err)
	}
	if _, err := store.Get(ctx, ns, "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("a missing Secret: want NotFound, got %v", err)
	}
}

func TestAWatchedSecretThatDoesNotExistYetIsNotFoundThenAppears(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	store := startStore(t)
	store.SetReferences("WebhookReceiver/late", []types.NamespacedName{{Namespace: ns, Name: "late"}})
	if _, err := store.Get(ctx, ns, "late"); !apierrors.IsNotFound(err) {
		t.Fatalf("a referenced Secret that does not exist: want NotFound, got %v", err)
	}
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "late"},
		Data: map[string][]byte{"secret": []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the created Secret", func() error {
		_, err := store.Get(ctx, ns, "late")
		return err
	})
}
