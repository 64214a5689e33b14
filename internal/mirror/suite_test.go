package mirror

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// k8s is a direct client of the package's one control plane; every test has its namespace.
var k8s client.WithWatch

func TestMain(m *testing.M) {
	logf.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	env, err := testenv.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// t0 is the base of every test's event timestamps.
var t0 = time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC)

// fixture is one namespace and one associate in it.
type fixture struct {
	t   *testing.T
	ns  string
	key types.NamespacedName
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "mirror-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ns: ns.Name, key: types.NamespacedName{Namespace: ns.Name, Name: "cust1234-42"}}
}

// obs is an observation of associate 42 of tenant Cust1234, at t0 plus seconds.
func (f *fixture) obs(event, id string, seconds int) Observation {
	person := int64(7)
	return Observation{
		Receiver: types.NamespacedName{Namespace: f.ns, Name: "so"}, Namespace: f.ns,
		Tenant: "Cust1234", AssociateID: 42, EventID: id, Event: event,
		Timestamp: t0.Add(time.Duration(seconds) * time.Second), ChangedBy: 1,
		Fields: &Fields{PersonID: &person},
	}
}

// mirrorWith is a Mirror whose "cache" is the direct client behind funcs (nil: none), and
// whose live reader is the direct client itself.
func mirrorWith(funcs *interceptor.Funcs) *Mirror {
	var c client.Client = k8s
	if funcs != nil {
		c = interceptor.NewClient(k8s, *funcs)
	}
	m := NewWithClients(c, k8s, time.Hour)
	m.CallTimeout = 5 * time.Second
	return m
}

// apply applies obs and fails the test on an error.
func (f *fixture) apply(m *Mirror, obs Observation) Result {
	f.t.Helper()
	outcome, err := m.Apply(context.Background(), obs)
	if err != nil {
		f.t.Fatalf("applying %s %s: want no error, got %v", obs.Event, obs.EventID, err)
	}
	return outcome.Result
}

// associate reads the Associate live; nil when it does not exist.
func (f *fixture) associate() *superofficev1alpha1.Associate {
	f.t.Helper()
	var a superofficev1alpha1.Associate
	err := k8s.Get(context.Background(), f.key, &a)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return &a
}

// tombstoneCM reads the tombstone ConfigMap live; nil when there is none.
func (f *fixture) tombstoneCM() *corev1.ConfigMap {
	f.t.Helper()
	var cm corev1.ConfigMap
	err := k8s.Get(context.Background(), types.NamespacedName{Namespace: f.ns, Name: TombstoneName(f.key.Name)}, &cm)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return &cm
}

// lastEventID is the Associate's last-event-id annotation, or "" when it does not exist.
func (f *fixture) lastEventID() string {
	f.t.Helper()
	if a := f.associate(); a != nil {
		return a.Annotations[superofficev1alpha1.AnnotationLastEventID]
	}
	return ""
}

// laggingCache is a "cache" that has seen neither the Associate nor its tombstone yet:
// every Get answers NotFound, as an informer does right after another replica's write.
func laggingCache() *interceptor.Funcs {
	return &interceptor.Funcs{
		Get: func(_ context.Context, _ client.WithWatch, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
			return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", obj)}, key.Name)
		},
	}
}

// countCreates counts the Associate creates made through funcs.
func countCreates(funcs *interceptor.Funcs, n *atomic.Int32) *interceptor.Funcs {
	funcs.Create = func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if _, ok := obj.(*superofficev1alpha1.Associate); ok {
			n.Add(1)
		}
		return c.Create(ctx, obj, opts...)
	}
	return funcs
}
