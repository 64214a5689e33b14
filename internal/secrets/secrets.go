// Package secrets holds the Secrets that WebhookReceivers and policies reference, and no
// other: one informer per referenced Secret, scoped to its name (fieldSelector
// metadata.name), started with the first reference and stopped with the last. The
// manager's own cache never holds Secrets, so a tenant's large Secrets, Helm's release
// Secrets and every other Secret of the cluster cost the manager nothing, and a change to
// a referenced Secret still arrives by watch (no restart, no polling).
//
// The references come from the manager's informers of WebhookReceivers
// (spec.secretRef, spec.api.credentialsSecretRef), ProvisioningPolicies and
// ClusterProvisioningPolicies (HTTP actions' signingSecretRef and headersFrom), on every
// replica. Controllers that reconcile on Secret changes watch Source instead of a Secret
// informer.
package secrets

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Reader reads a Secret that a receiver or policy references.
type Reader interface {
	Get(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// syncWait bounds how long Get waits for a just-referenced Secret's first list.
const syncWait = 5 * time.Second

// Store keeps one name-scoped informer per referenced Secret, counted by reference.
type Store struct {
	clients kubernetes.Interface
	// live reads a Secret that is not watched (yet): a reference that the informers
	// have not delivered, for example.
	live client.Reader
	log  logr.Logger

	mu      sync.Mutex
	ctx     context.Context // the Store's run context; nil until Start
	watches map[types.NamespacedName]*secretWatch
	owners  map[string][]types.NamespacedName // owner (kind/namespace/name) -> its Secrets
	subs    map[int]func(*corev1.Secret)
	nextSub int
}

type secretWatch struct {
	refs     int
	informer toolscache.SharedIndexInformer
	stop     context.CancelFunc // nil until started
}

// New makes a Store that lists and watches through clients and reads live through live.
func New(clients kubernetes.Interface, live client.Reader, log logr.Logger) *Store {
	return &Store{
		clients: clients, live: live, log: log,
		watches: map[types.NamespacedName]*secretWatch{},
		owners:  map[string][]types.NamespacedName{},
		subs:    map[int]func(*corev1.Secret){},
	}
}

var (
	_ manager.Runnable               = (*Store)(nil)
	_ manager.LeaderElectionRunnable = (*Store)(nil)
	_ Reader                         = (*Store)(nil)
)

// NeedLeaderElection is false: every replica's ingress reads receivers' Secrets.
func (s *Store) NeedLeaderElection() bool { return false }

// Start runs the informers of the Secrets referenced so far and of those referenced
// later, until ctx ends.
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	for key, w := range s.watches {
		s.run(key, w)
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.watches {
		if w.stop != nil {
			w.stop()
		}
	}
	s.ctx = nil
	return nil
}

// SetReferences records the Secrets that owner (for example "WebhookReceiver/ns/name")
// references; nil drops all of them. Secrets no longer referenced by anyone stop being
// watched, and their data is dropped.
func (s *Store) SetReferences(owner string, secrets []types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.owners[owner]
	if len(secrets) == 0 {
		delete(s.owners, owner)
	} else {
		s.owners[owner] = dedupe(secrets)
	}
	for _, key := range s.owners[owner] {
		s.acquire(key)
	}
	for _, key := range before {
		s.release(key)
	}
}

func dedupe(keys []types.NamespacedName) []types.NamespacedName {
	seen := make(map[types.NamespacedName]bool, len(keys))
	out := make([]types.NamespacedName, 0, len(keys))
	for _, k := range keys {
		if k.Name != "" && k.Namespace != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// acquire counts one reference, starting the Secret's informer on the first. s.mu is held.
func (s *Store) acquire(key types.NamespacedName) {
	w := s.watches[key]
	if w == nil {
		w = &secretWatch{informer: s.newInformer(key)}
		s.watches[key] = w
		if s.ctx != nil {
			s.run(key, w)
		}
	}
	w.refs++
}

// release drops one reference, stopping the informer with the last. s.mu is held.
func (s *Store) release(key types.NamespacedName) {
	w := s.watches[key]
	if w == nil {
		return
	}
	if w.refs--; w.refs > 0 {
		return
	}
	if w.stop != nil {
		w.stop()
	}
	delete(s.watches, key)
}

// run starts an informer. s.mu is held and s.ctx is set.
func (s *Store) run(key types.NamespacedName, w *secretWatch) {
	if w.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	w.stop = cancel
	go w.informer.RunWithContext(ctx)
	s.log.V(1).Info("watching a referenced Secret", "secret", key.String())
}

func (s *Store) newInformer(key types.NamespacedName) toolscache.SharedIndexInformer {
	selector := fields.OneTermEqualSelector("metadata.name", key.Name).String()
	secrets := s.clients.CoreV1().Secrets(key.Namespace)
	lw := &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return secrets.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return secrets.Watch(ctx, opts)
		},
	}
	informer := toolscache.NewSharedIndexInformer(lw, &corev1.Secret{}, 0, toolscache.Indexers{})
	_ = informer.SetTransform(func(obj any) (any, error) {
		if secret, ok := obj.(*corev1.Secret); ok {
			secret.ManagedFields = nil
		}
		return obj, nil
	})
	// The first list of a new watch is no change: whoever just referenced the Secret is
	// reconciled for that already. A Secret created later, an update and a deletion are.
	_, _ = informer.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initialList bool) {
			if !initialList {
				s.notify(obj)
			}
		},
		UpdateFunc: func(_, obj any) { s.notify(obj) },
		DeleteFunc: func(obj any) { s.notify(obj) },
	})
	return informer
}

// notify tells every subscribed controller that a watched Secret changed.
func (s *Store) notify(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	s.mu.Lock()
	subs := make([]func(*corev1.Secret), 0, len(s.subs))
	for _, sub := range s.subs {
		subs = append(subs, sub)
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub(secret)
	}
}

// Get returns a referenced Secret from its informer, waiting briefly for the informer's
// first list when the reference is new; a Secret that is not watched is read live.
func (s *Store) Get(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	s.mu.Lock()
	w := s.watches[key]
	started := w != nil && w.stop != nil
	s.mu.Unlock()
	if started {
		if !w.informer.HasSynced() {
			waitCtx, cancel := context.WithTimeout(ctx, syncWait)
			toolscache.WaitForCacheSync(waitCtx.Done(), w.informer.HasSynced)
			cancel()
		}
		if w.informer.HasSynced() {
			obj, exists, err := w.informer.GetStore().GetByKey(key.String())
			if err != nil {
				return nil, err
			}
			if !exists {
				return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
			}
			return obj.(*corev1.Secret).DeepCopy(), nil
		}
	}
	var secret corev1.Secret
	if err := s.live.Get(ctx, key, &secret); err != nil {
		return nil, err
	}
	return &secret, nil
}

// Watched tells how many Secrets are watched (tests, and a sanity check).
func (s *Store) Watched() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watches)
}

// Source is a controller source of the watched Secrets' changes (not the first list of a
// new watch), handed to h as generic events; use it in place of a Secret informer:
// WatchesRawSource(store.Source(handler.EnqueueRequestsFromMapFunc(...))).
func (s *Store) Source(h handler.EventHandler) source.Source {
	return source.Func(func(ctx context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		s.mu.Lock()
		id := s.nextSub
		s.nextSub++
		s.subs[id] = func(secret *corev1.Secret) {
			h.Generic(ctx, event.GenericEvent{Object: secret}, queue)
		}
		s.mu.Unlock()
		go func() {
			<-ctx.Done()
			s.mu.Lock()
			delete(s.subs, id)
			s.mu.Unlock()
		}()
		return nil
	})
}

// clientReader reads Secrets through a controller-runtime reader (tests, fakes).
type clientReader struct{ reader client.Reader }

// FromClient is a Reader over a client.Reader, for tests and fakes.
func FromClient(reader client.Reader) Reader { return clientReader{reader} }

func (c clientReader) Get(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	var secret corev1.Secret
	if err := c.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &secret); err != nil {
		return nil, err
	}
	return &secret, nil
}

// String names the source in controller logs.
func (s *Store) String() string { return fmt.Sprintf("referenced Secrets (%d watched)", s.Watched()) }
