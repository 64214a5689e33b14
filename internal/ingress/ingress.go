// Package ingress serves SuperOffice webhook deliveries inside the manager, on every replica.
package ingress

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/apiclient"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/secrets"
)

// Options configures the ingress.
type Options struct {
	// BindAddress is where the webhook server listens, for example ":8082".
	BindAddress string
	// TombstoneTTL is how long a deleted associate's tombstone lives.
	TombstoneTTL time.Duration
	// MaxBodyBytes, when positive, caps every receiver's spec.maxBodyBytes; zero turns the
	// ceiling off (receivers' own limits, and the in-flight budget, still hold).
	MaxBodyBytes int64
	// MaxInflightBodyBytes bounds the body bytes read at once, over all requests;
	// DefaultMaxInflightBodyBytes when zero. It must not be below MaxBodyBytes.
	MaxInflightBodyBytes int64
	// Listener, when set, is used instead of listening on BindAddress (tests).
	Listener net.Listener
	// APICallTimeout bounds each API call of an apply; mirror.DefaultCallTimeout when zero.
	APICallTimeout time.Duration
	// TombstoneCollectInterval is how often expired tombstones are deleted; by default a
	// tenth of the TTL, between 10 s and 10 min.
	TombstoneCollectInterval time.Duration

	// The services the manager shares, made once by the composition root
	// (internal/operator); Add makes what is nil, for tests that run the ingress alone.
	Mirror  *mirror.Mirror
	Secrets *secrets.Store
	Clients *apiclient.Cache
}

// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers,verbs=get;list;watch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers/status,verbs=get;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Add registers the webhook ingress with the manager: the HTTP server on every replica,
// and, leader-elected, the applier of deferred events and the collector of expired
// tombstones.
func Add(mgr manager.Manager, opts Options) error {
	budget := opts.MaxInflightBodyBytes
	if budget == 0 {
		budget = DefaultMaxInflightBodyBytes
	}
	if err := CheckBodyLimits(opts.MaxBodyBytes, budget); err != nil {
		return err
	}
	listener := opts.Listener
	if listener == nil {
		var err error
		if listener, err = listen(opts.BindAddress); err != nil {
			return err
		}
	}
	log := mgr.GetLogger().WithName("webhook-ingress")
	m, store, clients := opts.Mirror, opts.Secrets, opts.Clients
	if m == nil {
		m = mirror.New(mgr, opts.TombstoneTTL)
		m.CallTimeout = opts.APICallTimeout
	}
	if store == nil {
		var err error
		if store, err = secrets.NewForManager(mgr); err != nil {
			return fmt.Errorf("webhook ingress: %w", err)
		}
	}
	if clients == nil {
		clients = apiclient.NewCache(store)
	}
	deliveries := newDeliveryRecorder(mgr.GetClient(), log)
	h := &handler{
		reader:         mgr.GetClient(),
		secrets:        store,
		mirror:         m,
		warnings:       newWarningRecorder(mgr.GetEventRecorder("associate-operator-webhook")),
		deliveries:     deliveries,
		log:            log,
		maxBodyCeiling: opts.MaxBodyBytes,
		budget:         newBodyBudget(budget),
		refusals:       newLogSampler(nil),
		enricher:       clients,
	}
	// What the handler reads from the cache. Registered now, before the manager starts, so
	// that the manager's cache-sync readiness covers them on every replica, including
	// replicas that run no controller; Start then waits for their sync before serving.
	// Secrets are not among them: the secrets Store holds only the referenced ones.
	reads := []client.Object{
		&superofficev1alpha1.WebhookReceiver{}, &superofficev1alpha1.Associate{},
		&corev1.ConfigMap{}, &corev1.Namespace{},
	}
	for _, obj := range reads {
		if _, err := mgr.GetCache().GetInformer(context.Background(), obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("webhook ingress: registering the cache informer for %T: %w", obj, err)
		}
	}
	receivers, err := mgr.GetCache().GetInformer(context.Background(), &superofficev1alpha1.WebhookReceiver{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("webhook ingress: registering the cache informer for receivers: %w", err)
	}
	if _, err := receivers.AddEventHandler(&pruner{warnings: h.warnings, deliveries: deliveries, clients: clients}); err != nil {
		return fmt.Errorf("webhook ingress: watching receivers' deletion: %w", err)
	}
	shutdown := 30 * time.Second
	srv := &server{
		http: manager.Server{
			Name:            "webhook-ingress",
			Server:          newHTTPServer(newMux(h), defaultTimeouts),
			Listener:        listener,
			ShutdownTimeout: &shutdown,
		},
		cache:      informerGetter{mgr},
		warm:       reads,
		deliveries: deliveries,
	}
	if err := mgr.Add(srv); err != nil {
		return err
	}
	applier := &mirror.DeferredApplier{
		Mirror: m, Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Log: log.WithName("deferred"),
	}
	if err := applier.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("webhook ingress: the applier of deferred events: %w", err)
	}
	return mgr.Add(&mirror.TombstoneCollector{
		Client:   mgr.GetClient(),
		Interval: collectInterval(opts),
		Log:      log.WithName("tombstones"),
	})
}

// CheckBodyLimits refuses a body ceiling (--max-body-bytes) above the in-flight budget
// (--max-inflight-body-bytes): a body of the largest allowed size could never be read.
func CheckBodyLimits(maxBodyBytes, maxInflightBodyBytes int64) error {
	switch {
	case maxBodyBytes < 0:
		return fmt.Errorf("--max-body-bytes is %d; want 0 (no ceiling) or more", maxBodyBytes)
	case maxInflightBodyBytes <= 0:
		return fmt.Errorf("--max-inflight-body-bytes is %d; want a positive number of bytes", maxInflightBodyBytes)
	case maxBodyBytes > maxInflightBodyBytes:
		return fmt.Errorf("--max-body-bytes (%d) is above --max-inflight-body-bytes (%d): a body of the allowed size could never be read; "+
			"raise the budget or lower the ceiling", maxBodyBytes, maxInflightBodyBytes)
	}
	return nil
}

func collectInterval(opts Options) time.Duration {
	if opts.TombstoneCollectInterval > 0 {
		return opts.TombstoneCollectInterval
	}
	return min(max(opts.TombstoneTTL/10, 10*time.Second), 10*time.Minute)
}

// informerGetter starts (and waits for) the manager cache's informer of a kind.
type informerGetter struct{ mgr manager.Manager }

func (g informerGetter) GetInformer(ctx context.Context, obj client.Object) error {
	_, err := g.mgr.GetCache().GetInformer(ctx, obj)
	return err
}
